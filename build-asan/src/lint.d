build-asan/src/lint.o: src/lint.c include/prestart/lint.h \
 include/prestart/analysis.h include/prestart/util.h \
 include/prestart/revision.h
include/prestart/lint.h:
include/prestart/analysis.h:
include/prestart/util.h:
include/prestart/revision.h:
