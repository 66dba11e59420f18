build-asan/src/status.o: src/status.c include/prestart/status.h \
 include/prestart/util.h
include/prestart/status.h:
include/prestart/util.h:
