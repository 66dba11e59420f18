build-asan/src/pgscan.o: src/pgscan.c include/prestart/pgscan.h \
 include/prestart/util.h
include/prestart/pgscan.h:
include/prestart/util.h:
