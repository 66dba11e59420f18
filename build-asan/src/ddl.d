build-asan/src/ddl.o: src/ddl.c include/prestart/ddl.h \
 include/prestart/db.h include/prestart/dburl.h include/prestart/util.h \
 include/prestart/plan.h include/prestart/delegate.h \
 include/prestart/observer.h include/prestart/status.h \
 include/prestart/log.h
include/prestart/ddl.h:
include/prestart/db.h:
include/prestart/dburl.h:
include/prestart/util.h:
include/prestart/plan.h:
include/prestart/delegate.h:
include/prestart/observer.h:
include/prestart/status.h:
include/prestart/log.h:
