build-asan/src/http.o: src/http.c include/prestart/http.h
include/prestart/http.h:
