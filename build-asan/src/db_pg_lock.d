build-asan/src/db_pg_lock.o: src/db_pg_lock.c src/db_pg_int.h \
 /usr/include/postgresql/libpq-fe.h \
 /usr/include/postgresql/postgres_ext.h \
 /usr/include/postgresql/pg_config_ext.h include/prestart/db.h \
 include/prestart/dburl.h include/prestart/util.h include/prestart/plan.h \
 include/prestart/worker.h
src/db_pg_int.h:
/usr/include/postgresql/libpq-fe.h:
/usr/include/postgresql/postgres_ext.h:
/usr/include/postgresql/pg_config_ext.h:
include/prestart/db.h:
include/prestart/dburl.h:
include/prestart/util.h:
include/prestart/plan.h:
include/prestart/worker.h:
