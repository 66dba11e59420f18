build-asan/src/lint_instead.o: src/lint_instead.c include/prestart/lint.h \
 include/prestart/analysis.h include/prestart/util.h
include/prestart/lint.h:
include/prestart/analysis.h:
include/prestart/util.h:
