build-asan/src/ctx_guard.o: src/ctx_guard.c include/prestart/ctx.h \
 include/prestart/compiled.h include/prestart/dburl.h \
 include/prestart/util.h include/prestart/graph.h include/prestart/plan.h \
 include/prestart/script.h include/prestart/revision.h \
 include/prestart/config.h include/prestart/log.h include/prestart/db.h \
 include/prestart/health.h include/prestart/status.h \
 include/prestart/phase.h include/prestart/analysis.h \
 include/prestart/wait.h include/prestart/wait_target.h \
 include/prestart/guard.h include/prestart/lint.h \
 include/prestart/migrate.h include/prestart/ddl.h \
 include/prestart/delegate.h include/prestart/observer.h
include/prestart/ctx.h:
include/prestart/compiled.h:
include/prestart/dburl.h:
include/prestart/util.h:
include/prestart/graph.h:
include/prestart/plan.h:
include/prestart/script.h:
include/prestart/revision.h:
include/prestart/config.h:
include/prestart/log.h:
include/prestart/db.h:
include/prestart/health.h:
include/prestart/status.h:
include/prestart/phase.h:
include/prestart/analysis.h:
include/prestart/wait.h:
include/prestart/wait_target.h:
include/prestart/guard.h:
include/prestart/lint.h:
include/prestart/migrate.h:
include/prestart/ddl.h:
include/prestart/delegate.h:
include/prestart/observer.h:
