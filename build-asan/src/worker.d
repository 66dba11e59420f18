build-asan/src/worker.o: src/worker.c include/prestart/worker.h \
 include/prestart/util.h
include/prestart/worker.h:
include/prestart/util.h:
