build-asan/src/plan.o: src/plan.c include/prestart/plan.h \
 include/prestart/util.h
include/prestart/plan.h:
include/prestart/util.h:
