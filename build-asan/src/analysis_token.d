build-asan/src/analysis_token.o: src/analysis_token.c \
 include/prestart/util.h src/analysis_int.h include/prestart/analysis.h
include/prestart/util.h:
src/analysis_int.h:
include/prestart/analysis.h:
