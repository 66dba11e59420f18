build-asan/src/compiled_renderer.o: src/compiled_renderer.c \
 include/prestart/compiled.h include/prestart/dburl.h \
 include/prestart/util.h include/prestart/graph.h include/prestart/plan.h \
 include/prestart/script.h include/prestart/revision.h
include/prestart/compiled.h:
include/prestart/dburl.h:
include/prestart/util.h:
include/prestart/graph.h:
include/prestart/plan.h:
include/prestart/script.h:
include/prestart/revision.h:
