build-asan/src/config.o: src/config.c include/prestart/config.h \
 include/prestart/dburl.h include/prestart/util.h include/prestart/log.h \
 include/prestart/inifile.h include/prestart/tenants.h \
 include/prestart/termlog.h
include/prestart/config.h:
include/prestart/dburl.h:
include/prestart/util.h:
include/prestart/log.h:
include/prestart/inifile.h:
include/prestart/tenants.h:
include/prestart/termlog.h:
