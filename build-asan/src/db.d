build-asan/src/db.o: src/db.c include/prestart/db.h \
 include/prestart/dburl.h include/prestart/util.h include/prestart/plan.h
include/prestart/db.h:
include/prestart/dburl.h:
include/prestart/util.h:
include/prestart/plan.h:
