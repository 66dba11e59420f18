build-asan/src/buildinfo.o: src/buildinfo.c include/prestart/buildinfo.h \
 /usr/include/postgresql/libpq-fe.h \
 /usr/include/postgresql/postgres_ext.h \
 /usr/include/postgresql/pg_config_ext.h include/prestart/util.h
include/prestart/buildinfo.h:
/usr/include/postgresql/libpq-fe.h:
/usr/include/postgresql/postgres_ext.h:
/usr/include/postgresql/pg_config_ext.h:
include/prestart/util.h:
