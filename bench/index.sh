#!/usr/bin/env bash
# index.sh BEFORE_BUILD AFTER_BUILD — the log + unsynced index design against
# the single synced environment, alternating the two builds on the same
# machine state (noisy machine: A B A B ...). Each round: a fresh data
# directory, a daemon, `ingest --workload batch` (BENCH_EVENTS events in
# requests of 1000 over 4 connections, seed 42), the daemon stopped; then for
# the AFTER build only, the index replay rate: DATA/index removed and the
# daemon started again (its log names the rate).
# Settings: BENCH_ROUNDS (3) BENCH_EVENTS (200000) BENCH_TMPDIR (/var/tmp)
set -euo pipefail
A=$(cd "${1:?usage: bench/index.sh BEFORE_BUILD AFTER_BUILD}" && pwd)
B=$(cd "${2:?}" && pwd)
ROUNDS=${BENCH_ROUNDS:-3}
EVENTS=${BENCH_EVENTS:-200000}
TMP=$(mktemp -d "${BENCH_TMPDIR:-/var/tmp}/ldindex.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
PORT=$(python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')
URL=tcp://127.0.0.1:$PORT

start() { # build data log
	"$1/ledgerd" --data "$2" --listen "$URL" >>"$3" 2>&1 &
	PID=$!
	for _ in $(seq 600); do
		"$1/bench/ingest" --url "$URL" --workload head --timeout 500 >/dev/null 2>&1 && return 0
		kill -0 $PID 2>/dev/null || { tail "$3" >&2; return 1; }
		sleep 0.05
	done
	return 1
}
stop() { kill -TERM $PID; wait $PID || true; }

echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
for r in $(seq "$ROUNDS"); do
	for side in before after; do
		[ $side = before ] && BIN=$A || BIN=$B
		D=$TMP/$side-$r
		start "$BIN" "$D" "$TMP/$side-$r.log"
		out=$("$BIN/bench/ingest" --url "$URL" --workload batch --events "$EVENTS" --runs 1 \
			--seed 42 --pid $PID 2>&1)
		stop
		echo "round $r $side: $(grep -o 'events in.*writes [0-9]* bytes/event' <<<"$out") (load $(cut -d' ' -f1 /proc/loadavg))"
		echo "$out" >>"$TMP/$side.out"
		if [ $side = after ]; then
			echo "round $r sizes: log $(du -sh "$D/data.mdb" | cut -f1), index $(du -sh "$D/index" | cut -f1)"
			rm -rf "$D/index"
			t0=$(date +%s.%N)
			start "$BIN" "$D" "$TMP/replay-$r.log"
			t1=$(date +%s.%N)
			stop
			echo "round $r replay: $(grep -o 'index replayed.*' "$TMP/replay-$r.log" | tail -n1); start to ready $(echo "$t1 - $t0" | bc) s"
		fi
		rm -rf "$D"
	done
done
cp "$TMP"/before.out "$TMP"/after.out /tmp/ 2>/dev/null || true
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
