build-asan/src/wait.o: src/wait.c include/prestart/wait.h \
 include/prestart/status.h include/prestart/util.h \
 include/prestart/wait_target.h include/prestart/dburl.h \
 include/prestart/db.h include/prestart/plan.h include/prestart/log.h
include/prestart/wait.h:
include/prestart/status.h:
include/prestart/util.h:
include/prestart/wait_target.h:
include/prestart/dburl.h:
include/prestart/db.h:
include/prestart/plan.h:
include/prestart/log.h:
