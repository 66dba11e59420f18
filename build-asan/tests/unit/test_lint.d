build-asan/tests/unit/test_lint: tests/unit/test_lint.c \
 include/prestart/lint.h include/prestart/analysis.h \
 include/prestart/util.h
include/prestart/lint.h:
include/prestart/analysis.h:
include/prestart/util.h:
