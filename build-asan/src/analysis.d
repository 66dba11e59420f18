build-asan/src/analysis.o: src/analysis.c include/prestart/analysis.h \
 include/prestart/util.h include/prestart/db.h include/prestart/dburl.h \
 include/prestart/plan.h include/prestart/pgscan.h \
 include/prestart/sqlsplit.h src/analysis_int.h
include/prestart/analysis.h:
include/prestart/util.h:
include/prestart/db.h:
include/prestart/dburl.h:
include/prestart/plan.h:
include/prestart/pgscan.h:
include/prestart/sqlsplit.h:
src/analysis_int.h:
