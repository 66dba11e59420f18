build-asan/src/offline.o: src/offline.c include/prestart/offline.h \
 include/prestart/dburl.h include/prestart/util.h include/prestart/plan.h \
 include/prestart/analysis.h include/prestart/db.h \
 include/prestart/migrate.h include/prestart/ddl.h \
 include/prestart/delegate.h include/prestart/observer.h \
 include/prestart/status.h include/prestart/script.h \
 include/prestart/revision.h include/prestart/sqlsplit.h
include/prestart/offline.h:
include/prestart/dburl.h:
include/prestart/util.h:
include/prestart/plan.h:
include/prestart/analysis.h:
include/prestart/db.h:
include/prestart/migrate.h:
include/prestart/ddl.h:
include/prestart/delegate.h:
include/prestart/observer.h:
include/prestart/status.h:
include/prestart/script.h:
include/prestart/revision.h:
include/prestart/sqlsplit.h:
