build-asan/src/observer.o: src/observer.c include/prestart/observer.h \
 include/prestart/db.h include/prestart/dburl.h include/prestart/util.h \
 include/prestart/plan.h include/prestart/status.h \
 include/prestart/blockers.h include/prestart/log.h \
 include/prestart/worker.h
include/prestart/observer.h:
include/prestart/db.h:
include/prestart/dburl.h:
include/prestart/util.h:
include/prestart/plan.h:
include/prestart/status.h:
include/prestart/blockers.h:
include/prestart/log.h:
include/prestart/worker.h:
