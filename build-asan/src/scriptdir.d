build-asan/src/scriptdir.o: src/scriptdir.c include/prestart/scriptdir.h \
 include/prestart/revision.h include/prestart/util.h \
 include/prestart/pyrev.h include/prestart/script.h
include/prestart/scriptdir.h:
include/prestart/revision.h:
include/prestart/util.h:
include/prestart/pyrev.h:
include/prestart/script.h:
