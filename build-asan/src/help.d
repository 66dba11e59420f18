build-asan/src/help.o: src/help.c include/prestart/help.h
include/prestart/help.h:
