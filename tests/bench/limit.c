/*
 * limit - the floor for a no-op start: what any tool must at least do to
 * learn that the database is at head and hand over to the application.
 *
 *   limit pg CONNINFO [-- APP [ARG...]]
 *   limit sqlite PATH [-- APP [ARG...]]
 *
 * One connection, one SELECT on alembic_version, then exec APP (or exit 0).
 * No configuration, no revision files, no lock: prestart's no-op start is
 * measured against this.  Built twice, with -DLIMIT_PG and with
 * -DLIMIT_SQLITE, so that each links only the library its engine needs.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define QUERY "SELECT version_num FROM alembic_version"

#ifdef LIMIT_PG
#include <libpq-fe.h>

static int limit_open(const char *conninfo)
{
	PGconn *c = PQconnectdb(conninfo);
	if (PQstatus(c) != CONNECTION_OK) {
		fprintf(stderr, "limit: %s", PQerrorMessage(c));
		PQfinish(c);
		return -1;
	}
	PGresult *r = PQexec(c, QUERY);
	int ok = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) > 0;
	if (!ok)
		fprintf(stderr, "limit: %s", PQerrorMessage(c));
	PQclear(r);
	PQfinish(c);
	return ok ? 0 : -1;
}
#else
#include <sqlite3.h>

static int limit_open(const char *path)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	int ok = 0;
	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
	    sqlite3_prepare_v2(db, QUERY, -1, &st, NULL) == SQLITE_OK)
		ok = sqlite3_step(st) == SQLITE_ROW;
	if (!ok)
		fprintf(stderr, "limit: %s: %s\n", path, db ? sqlite3_errmsg(db) : "out of memory");
	sqlite3_finalize(st);
	sqlite3_close(db);
	return ok ? 0 : -1;
}
#endif

int main(int argc, char **argv)
{
	if (argc < 3 || (argc > 3 && strcmp(argv[3], "--") != 0)) {
		fprintf(stderr, "usage: limit pg|sqlite CONNINFO|PATH [-- APP [ARG...]]\n");
		return 2;
	}
#ifdef LIMIT_PG
	const char *engine = "pg";
#else
	const char *engine = "sqlite";
#endif
	if (strcmp(argv[1], engine) != 0) {
		fprintf(stderr, "limit: built for %s\n", engine);
		return 2;
	}
	if (limit_open(argv[2]) != 0)
		return 1;
	if (argc > 4) {
		execvp(argv[4], argv + 4);
		perror("limit: exec");
		return 127;
	}
	return 0;
}
