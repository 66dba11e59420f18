build-asan/src/delegate.o: src/delegate.c include/prestart/delegate.h \
 include/prestart/plan.h include/prestart/util.h \
 include/prestart/alembic_ini.h include/prestart/child.h \
 include/prestart/exec.h include/prestart/log.h include/prestart/script.h \
 include/prestart/revision.h
include/prestart/delegate.h:
include/prestart/plan.h:
include/prestart/util.h:
include/prestart/alembic_ini.h:
include/prestart/child.h:
include/prestart/exec.h:
include/prestart/log.h:
include/prestart/script.h:
include/prestart/revision.h:
