build-asan/src/log.o: src/log.c include/prestart/log.h \
 include/prestart/util.h
include/prestart/log.h:
include/prestart/util.h:
