build-asan/tests/unit/test_offline: tests/unit/test_offline.c \
 include/prestart/graph.h include/prestart/plan.h include/prestart/util.h \
 include/prestart/script.h include/prestart/revision.h \
 include/prestart/offline.h include/prestart/dburl.h
include/prestart/graph.h:
include/prestart/plan.h:
include/prestart/util.h:
include/prestart/script.h:
include/prestart/revision.h:
include/prestart/offline.h:
include/prestart/dburl.h:
