build-asan/src/health.o: src/health.c include/prestart/health.h \
 include/prestart/status.h include/prestart/util.h \
 include/prestart/hostport.h include/prestart/http.h
include/prestart/health.h:
include/prestart/status.h:
include/prestart/util.h:
include/prestart/hostport.h:
include/prestart/http.h:
