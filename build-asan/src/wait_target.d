build-asan/src/wait_target.o: src/wait_target.c \
 include/prestart/wait_target.h include/prestart/dburl.h \
 include/prestart/util.h include/prestart/hostport.h
include/prestart/wait_target.h:
include/prestart/dburl.h:
include/prestart/util.h:
include/prestart/hostport.h:
