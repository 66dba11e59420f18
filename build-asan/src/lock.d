build-asan/src/lock.o: src/lock.c include/prestart/lock.h \
 include/prestart/db.h include/prestart/dburl.h include/prestart/util.h \
 include/prestart/plan.h include/prestart/log.h
include/prestart/lock.h:
include/prestart/db.h:
include/prestart/dburl.h:
include/prestart/util.h:
include/prestart/plan.h:
include/prestart/log.h:
