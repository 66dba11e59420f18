build-asan/src/termlog.o: src/termlog.c include/prestart/termlog.h \
 include/prestart/util.h
include/prestart/termlog.h:
include/prestart/util.h:
