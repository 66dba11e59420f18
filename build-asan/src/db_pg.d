build-asan/src/db_pg.o: src/db_pg.c include/prestart/db.h \
 include/prestart/dburl.h include/prestart/util.h include/prestart/plan.h \
 include/prestart/sqlsplit.h /usr/include/postgresql/libpq-fe.h \
 /usr/include/postgresql/postgres_ext.h \
 /usr/include/postgresql/pg_config_ext.h src/db_pg_int.h
include/prestart/db.h:
include/prestart/dburl.h:
include/prestart/util.h:
include/prestart/plan.h:
include/prestart/sqlsplit.h:
/usr/include/postgresql/libpq-fe.h:
/usr/include/postgresql/postgres_ext.h:
/usr/include/postgresql/pg_config_ext.h:
src/db_pg_int.h:
