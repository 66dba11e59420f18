build-asan/src/blockers.o: src/blockers.c include/prestart/blockers.h \
 include/prestart/util.h
include/prestart/blockers.h:
include/prestart/util.h:
