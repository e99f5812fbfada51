# pg.sh — PostgreSQL 15 as the benchmarks' peer, sourced by bench/run.sh and
# bench/cluster.sh: a private data directory ($TMP/pgdata) and a free
# loopback port, owned by user postgres when we are root (initdb refuses
# root), trust auth on loopback only, durable (fsync, synchronous_commit on:
# the defaults, set explicitly); shared_buffers 256 MB, everything else
# default.
#
# The sourcing script sets TMP, LOG, PG_BIN and defines free_port; pg_start
# sets PG_PID, PG_PORT, PGDATA_DIR and PG_CONN (a libpq conninfo), or
# returns 1 with the server's log appended to $LOG; pg_stop stops it (fast,
# else kill -9) and is a no-op when none runs.
# shellcheck shell=bash
PG_PID=
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
pg_start() {
	PGDATA_DIR=$TMP/pgdata
	PG_PORT=$(free_port)
	mkdir -p "$PGDATA_DIR" "$TMP/pgsock"
	[ "$(id -u)" = 0 ] && chown postgres: "$PGDATA_DIR" "$TMP/pgsock" && chmod o+x "$TMP"
	as_pg "$PG_BIN/initdb" -D "$PGDATA_DIR" -A trust -U postgres -E UTF8 --no-locale >>"$LOG" 2>&1 || return 1
	as_pg "$PG_BIN/pg_ctl" -D "$PGDATA_DIR" -l "$TMP/pgsock/postgres.log" -w -t 60 \
		-o "-c listen_addresses=127.0.0.1 -p $PG_PORT -k $TMP/pgsock -c fsync=on -c synchronous_commit=on -c shared_buffers=256MB -c max_connections=64" \
		start >>"$LOG" 2>&1 || { cat "$TMP/pgsock/postgres.log" >>"$LOG" 2>/dev/null; return 1; }
	PG_PID=$(head -n 1 "$PGDATA_DIR/postmaster.pid")
	# shellcheck disable=SC2034 # read by the sourcing script
	PG_CONN="host=127.0.0.1 port=$PG_PORT user=postgres dbname=postgres"
}
pg_stop() {
	[ -n "$PG_PID" ] || return 0
	as_pg "$PG_BIN/pg_ctl" -D "$PGDATA_DIR" -m fast -w stop >>"$LOG" 2>&1 || kill -9 "$PG_PID" 2>/dev/null || true
	PG_PID=""
}
