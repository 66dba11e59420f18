/* The observer (observer.h) without a server: what it refuses to start.
 * Watching a real backend is tests/integration/test_ddl_lock.py's and
 * test_health.py's. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "prestart/observer.h"

/* Without the engine's bits, or with nothing asked, no thread starts and
 * no connection is made; a NULL observer answers "". */
static void test_observer_without_capabilities(void **state)
{
	struct db db = { 0 };
	struct dburl u = { 0 };
	struct status st;
	struct observer_opts o = { 250, 500, 5 };
	char *who;

	(void)state;
	status_init(&st);
	db.ops = &db_sqlite_ops;
	db.kind = DB_SQLITE;
	assert_null(observer_start(&db, &u, &o, &st));
	db.ops = &db_pg_ops;
	db.kind = DB_PG;
	o.blockers_ms = o.progress_ms = 0;
	assert_null(observer_start(&db, &u, &o, &st));
	who = observer_blockers_take(NULL);
	assert_string_equal(who, "");
	free(who);
	observer_stop(NULL);
	status_release(&st);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_observer_without_capabilities),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
