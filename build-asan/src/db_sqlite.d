build-asan/src/db_sqlite.o: src/db_sqlite.c include/prestart/db.h \
 include/prestart/dburl.h include/prestart/util.h include/prestart/plan.h \
 include/prestart/sqlsplit.h
include/prestart/db.h:
include/prestart/dburl.h:
include/prestart/util.h:
include/prestart/plan.h:
include/prestart/sqlsplit.h:
