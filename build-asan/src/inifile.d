build-asan/src/inifile.o: src/inifile.c include/prestart/inifile.h \
 include/prestart/util.h
include/prestart/inifile.h:
include/prestart/util.h:
