build-asan/src/hostport.o: src/hostport.c include/prestart/hostport.h
include/prestart/hostport.h:
