build-asan/src/pyrev.o: src/pyrev.c include/prestart/pyrev.h \
 include/prestart/revision.h include/prestart/util.h
include/prestart/pyrev.h:
include/prestart/revision.h:
include/prestart/util.h:
