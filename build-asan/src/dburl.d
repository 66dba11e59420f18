build-asan/src/dburl.o: src/dburl.c include/prestart/dburl.h \
 include/prestart/util.h include/prestart/hostport.h
include/prestart/dburl.h:
include/prestart/util.h:
include/prestart/hostport.h:
