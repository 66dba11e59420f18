build-asan/src/graph_stretch.o: src/graph_stretch.c \
 include/prestart/graph.h include/prestart/plan.h include/prestart/util.h \
 include/prestart/script.h include/prestart/revision.h
include/prestart/graph.h:
include/prestart/plan.h:
include/prestart/util.h:
include/prestart/script.h:
include/prestart/revision.h:
