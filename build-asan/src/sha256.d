build-asan/src/sha256.o: src/sha256.c include/prestart/sha256.h
include/prestart/sha256.h:
