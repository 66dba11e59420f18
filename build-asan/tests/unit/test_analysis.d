build-asan/tests/unit/test_analysis: tests/unit/test_analysis.c \
 include/prestart/analysis.h include/prestart/util.h
include/prestart/analysis.h:
include/prestart/util.h:
