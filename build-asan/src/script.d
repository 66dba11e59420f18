build-asan/src/script.o: src/script.c include/prestart/script.h \
 include/prestart/revision.h include/prestart/util.h
include/prestart/script.h:
include/prestart/revision.h:
include/prestart/util.h:
