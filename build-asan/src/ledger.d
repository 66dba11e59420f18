build-asan/src/ledger.o: src/ledger.c include/prestart/ledger.h \
 include/prestart/db.h include/prestart/dburl.h include/prestart/util.h \
 include/prestart/plan.h include/prestart/graph.h \
 include/prestart/script.h include/prestart/revision.h \
 include/prestart/phase.h include/prestart/analysis.h \
 include/prestart/buildinfo.h include/prestart/log.h \
 include/prestart/pgscan.h include/prestart/sha256.h
include/prestart/ledger.h:
include/prestart/db.h:
include/prestart/dburl.h:
include/prestart/util.h:
include/prestart/plan.h:
include/prestart/graph.h:
include/prestart/script.h:
include/prestart/revision.h:
include/prestart/phase.h:
include/prestart/analysis.h:
include/prestart/buildinfo.h:
include/prestart/log.h:
include/prestart/pgscan.h:
include/prestart/sha256.h:
