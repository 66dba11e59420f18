build-asan/src/exec.o: src/exec.c include/prestart/exec.h \
 include/prestart/util.h
include/prestart/exec.h:
include/prestart/util.h:
