build-asan/src/revision.o: src/revision.c include/prestart/revision.h \
 include/prestart/util.h
include/prestart/revision.h:
include/prestart/util.h:
