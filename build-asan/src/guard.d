build-asan/src/guard.o: src/guard.c include/prestart/guard.h \
 include/prestart/analysis.h include/prestart/util.h \
 include/prestart/lint.h include/prestart/revision.h
include/prestart/guard.h:
include/prestart/analysis.h:
include/prestart/util.h:
include/prestart/lint.h:
include/prestart/revision.h:
