#!/bin/sh
# The official image's contract, reduced to what docker-compose.yml uses:
# the first start creates the cluster with POSTGRES_USER (superuser, password
# POSTGRES_PASSWORD) and the database POSTGRES_DB, listening on every
# address with password authentication; then the server runs as postgres.
set -eu
: "${POSTGRES_PASSWORD:?POSTGRES_PASSWORD is not set}"
user=${POSTGRES_USER:-postgres}
db=${POSTGRES_DB:-$user}

if [ "$(id -u)" = 0 ]; then
	mkdir -p "$PGDATA" /run/postgresql
	chown postgres:postgres "$PGDATA" /run/postgresql
	chmod 700 "$PGDATA"
	exec setpriv --reuid=postgres --regid=postgres --init-groups "$0" "$@"
fi

if [ ! -s "$PGDATA/PG_VERSION" ]; then
	pwfile=$(mktemp)
	printf '%s\n' "$POSTGRES_PASSWORD" >"$pwfile"
	initdb -D "$PGDATA" -U "$user" --pwfile="$pwfile" \
		--auth-local=trust --auth-host=scram-sha-256 >/dev/null
	rm -f "$pwfile"
	printf 'host all all all scram-sha-256\n' >>"$PGDATA/pg_hba.conf"
	printf "listen_addresses = '*'\n" >>"$PGDATA/postgresql.conf"
	if [ "$db" != postgres ]; then
		# the temporary server listens on no TCP address: clients see the
		# database only once it exists
		pg_ctl -D "$PGDATA" -o "-c listen_addresses=''" -w start >/dev/null
		createdb -U "$user" -- "$db"
		pg_ctl -D "$PGDATA" -m fast -w stop >/dev/null
	fi
	echo "docker-entrypoint.sh: created database $db owned by $user"
fi
exec "$@"
