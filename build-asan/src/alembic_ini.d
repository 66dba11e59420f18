build-asan/src/alembic_ini.o: src/alembic_ini.c \
 include/prestart/alembic_ini.h include/prestart/util.h
include/prestart/alembic_ini.h:
include/prestart/util.h:
