build-asan/src/compiled.o: src/compiled.c include/prestart/compiled.h \
 include/prestart/dburl.h include/prestart/util.h \
 include/prestart/graph.h include/prestart/plan.h \
 include/prestart/script.h include/prestart/revision.h \
 include/prestart/sha256.h
include/prestart/compiled.h:
include/prestart/dburl.h:
include/prestart/util.h:
include/prestart/graph.h:
include/prestart/plan.h:
include/prestart/script.h:
include/prestart/revision.h:
include/prestart/sha256.h:
