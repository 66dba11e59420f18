build-asan/src/sqlsplit.o: src/sqlsplit.c include/prestart/sqlsplit.h \
 include/prestart/util.h include/prestart/pgscan.h
include/prestart/sqlsplit.h:
include/prestart/util.h:
include/prestart/pgscan.h:
