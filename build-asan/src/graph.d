build-asan/src/graph.o: src/graph.c src/graph_int.h \
 include/prestart/graph.h include/prestart/plan.h include/prestart/util.h \
 include/prestart/script.h include/prestart/revision.h
src/graph_int.h:
include/prestart/graph.h:
include/prestart/plan.h:
include/prestart/util.h:
include/prestart/script.h:
include/prestart/revision.h:
