build-asan/src/phase.o: src/phase.c include/prestart/phase.h \
 include/prestart/analysis.h include/prestart/util.h \
 include/prestart/graph.h include/prestart/plan.h \
 include/prestart/script.h include/prestart/revision.h
include/prestart/phase.h:
include/prestart/analysis.h:
include/prestart/util.h:
include/prestart/graph.h:
include/prestart/plan.h:
include/prestart/script.h:
include/prestart/revision.h:
