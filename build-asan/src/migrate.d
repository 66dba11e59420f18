build-asan/src/migrate.o: src/migrate.c include/prestart/migrate.h \
 include/prestart/db.h include/prestart/dburl.h include/prestart/util.h \
 include/prestart/plan.h include/prestart/ddl.h \
 include/prestart/delegate.h include/prestart/observer.h \
 include/prestart/status.h include/prestart/analysis.h \
 include/prestart/ledger.h include/prestart/graph.h \
 include/prestart/script.h include/prestart/revision.h \
 include/prestart/log.h include/prestart/sqlsplit.h
include/prestart/migrate.h:
include/prestart/db.h:
include/prestart/dburl.h:
include/prestart/util.h:
include/prestart/plan.h:
include/prestart/ddl.h:
include/prestart/delegate.h:
include/prestart/observer.h:
include/prestart/status.h:
include/prestart/analysis.h:
include/prestart/ledger.h:
include/prestart/graph.h:
include/prestart/script.h:
include/prestart/revision.h:
include/prestart/log.h:
include/prestart/sqlsplit.h:
