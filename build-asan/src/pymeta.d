build-asan/src/pymeta.o: src/pymeta.c include/prestart/pymeta.h \
 include/prestart/script.h include/prestart/revision.h \
 include/prestart/util.h include/prestart/child.h include/prestart/exec.h \
 include/prestart/log.h include/prestart/pyrev.h
include/prestart/pymeta.h:
include/prestart/script.h:
include/prestart/revision.h:
include/prestart/util.h:
include/prestart/child.h:
include/prestart/exec.h:
include/prestart/log.h:
include/prestart/pyrev.h:
