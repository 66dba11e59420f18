build-asan/src/tenants.o: src/tenants.c include/prestart/tenants.h \
 include/prestart/util.h
include/prestart/tenants.h:
include/prestart/util.h:
