build-asan/src/child.o: src/child.c include/prestart/child.h \
 include/prestart/util.h include/prestart/exec.h include/prestart/log.h
include/prestart/child.h:
include/prestart/util.h:
include/prestart/exec.h:
include/prestart/log.h:
