#!/usr/bin/env bash
# datadir_lock_test.sh — one daemon per data directory. A second ledgerd
# started on a directory a running one uses would lead and take writes beside
# it (two writers of one log, two writers of raft's segments: C-Raft then
# refuses to load the log), so it is refused before it reads anything:
#   - the second start exits 1 at once, naming the directory and the pid of
#     the daemon that holds it; --rebuild is refused the same way; neither
#     touches the log, the projections or raft's directory (no line of theirs
#     in its output);
#   - the first daemon still answers and records;
#   - killed (-9), the first lets go of the directory: the next start runs,
#     with every event recorded before.
set -euo pipefail
: "${LEDGERD:?} ${LEDGERCTL:?} ${TMPDIR:?}"
. "$ROOT/tests/lib.sh"
need_ledgerctl

start_ledgerd --tree-head-key "$TMPDIR/tree-head.key"
FIRST=$LEDGERD_PID
ok --url "$URL" org add JS --name "Jiangsu" --kind federation-province --region 320000 --at 2026-01-01
ok --url "$URL" head
HEAD=$OUT

# second ARGS...: another ledgerd on the same directory; its exit status in RC,
# its output in $TMPDIR/second.log.
second() {
	RC=0
	timeout 20 "$LEDGERD" --data "$TMPDIR/data" --listen "tcp://127.0.0.1:$(free_port)" \
		--tree-head-key "$TMPDIR/tree-head.key" "$@" >"$TMPDIR/second.log" 2>&1 || RC=$?
}
for args in "" "--rebuild"; do
	second $args
	[ "$RC" -eq 1 ] || fail "a second ledgerd $args on the directory exited $RC, not 1: $(cat "$TMPDIR/second.log")"
	grep -q "the data directory '$TMPDIR/data' is in use by another ledgerd (pid $FIRST," \
		"$TMPDIR/second.log" || fail "the refusal does not name the directory and pid $FIRST: $(cat "$TMPDIR/second.log")"
	if grep -E 'writer:|cluster:|projection|verify:|removing' "$TMPDIR/second.log"; then
		fail "the refused ledgerd $args went on to open the directory (above)"
	fi
done
[ -d "$TMPDIR/data/projections" ] || fail "--rebuild, refused, removed the projections"

ok --url "$URL" head
expect_eq "$OUT" "$HEAD" "the first daemon's head after the refused starts"
ok --url "$URL" org add NJ --name "Nanjing" --kind federation-city --region 320100 --parent JS \
	--at 2026-01-02
recorded

# --- the lock goes with the process ------------------------------------------
kill -9 "$FIRST"
wait "$FIRST" 2>/dev/null || true
start_ledgerd --tree-head-key "$TMPDIR/tree-head.key"
ok --url "$URL" head
out_has "seq $SEQ" "the head after kill -9 and a restart"
echo "datadir_lock_test: ok"
