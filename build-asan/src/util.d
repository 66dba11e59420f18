build-asan/src/util.o: src/util.c include/prestart/util.h
include/prestart/util.h:
