#!/usr/bin/env bash
# ops_test.sh — operating the daemon: --version, the config file and flag
# precedence, the Prometheus endpoint (checked by tests/promtext.py, itself
# checked against broken texts first), and hot backup: refused and repeated
# requests, then a backup taken under write load, restored by starting a
# daemon on it, whose log is a prefix of the original with its hash chain
# intact and whose projections match a rebuild.
set -euo pipefail
. "$ROOT/tests/lib.sh"
need_ledgerctl
command -v curl >/dev/null || fail "'curl' is not installed (scripts/install-deps.sh)"
GEN="$BUILD/ledger-gen"
PROM="$ROOT/tests/promtext.py"

# --- --version ------------------------------------------------------------
V=$("$LEDGERD" --version)
echo "$V" | grep -Eqx 'ledgerd [0-9]+\.[0-9]+\.[0-9]+' || fail "--version printed '$V'"

# --- the metrics checker is strict -------------------------------------------
good='# HELP a_total A.\n# TYPE a_total counter\na_total{x="1"} 3\n'
printf "$good" >"$TMPDIR/p.txt"
python3 "$PROM" "$TMPDIR/p.txt" 'a_total{x="1"}=3' >/dev/null || fail "promtext refuses good text"
bad=(
	'a_total 3\n'                                                   # no HELP/TYPE
	'# HELP a_total A.\n# TYPE a_total counter\na_total 3'          # no final newline
	'# HELP a_total A.\n# TYPE a_total counter\na_total{x=1} 3\n'   # unquoted label
	'# HELP a_total A.\n# TYPE a_total counter\na_total 3\na_total 4\n' # series twice
	'# HELP a_total A.\n# TYPE a_total counter\na_total -1\n'       # negative counter
	'# HELP a_total A.\n# TYPE a_total counter\na_total three\n'    # not a number
	'# HELP h A.\n# TYPE h histogram\nh_bucket{le="1"} 2\nh_bucket{le="+Inf"} 1\nh_sum 1\nh_count 1\n'
	'# HELP h A.\n# TYPE h histogram\nh_bucket{le="1"} 1\nh_sum 1\nh_count 1\n' # no +Inf
	'# HELP a A.\n# TYPE a gauge\n# HELP b B.\n# TYPE b gauge\nb 1\na 1\n' # not contiguous
)
for t in "${bad[@]}"; do
	printf "$t" >"$TMPDIR/p.txt"
	if python3 "$PROM" "$TMPDIR/p.txt" >/dev/null 2>&1; then fail "promtext accepted: $t"; fi
done

# --- a daemon of our own (config files, restarts) -----------------------------
MY_PID=
stop_mine() {
	[ -z "$MY_PID" ] || stop_pid "$MY_PID"
	MY_PID=
}
trap 'stop_mine; stop_ledgerd' EXIT
# waits until URL answers a head request
wait_ready() {
	echo 'head {}' | pb_encode Request >"$TMPDIR/ready.bin"
	for _ in $(seq 100); do
		kill -0 "$MY_PID" 2>/dev/null || fail "ledgerd exited at start: $(tail -n 5 "$TMPDIR/my.log")"
		if nng_call "$TMPDIR/ready.bin" "$TMPDIR/ready.out" 1 2>/dev/null && [ -s "$TMPDIR/ready.out" ]; then
			return 0
		fi
		sleep 0.1
	done
	fail "ledgerd does not answer on $URL"
}
start_mine() { # ARGS...
	"$LEDGERD" "$@" 2>>"$TMPDIR/my.log" &
	MY_PID=$!
	wait_ready
}

# --- config file and flag precedence --------------------------------------------
P1=$(free_port) P2=$(free_port) M1=$(free_port) M2=$(free_port)
cat >"$TMPDIR/ledgerd.conf" <<EOF
# a comment
; another
[ledgerd]
data = $TMPDIR/cfgdata
listen = tcp://127.0.0.1:$P1
map_size = 2M           ; inline comment
workers = 8
max-msg = 1M
log-level = debug
metrics = 127.0.0.1:$M1
EOF
URL="tcp://127.0.0.1:$P1"
start_mine --config "$TMPDIR/ledgerd.conf"
[ -f "$TMPDIR/cfgdata/data.mdb" ] || fail "the config's data directory was not used"
ok --url "$URL" org add CFG --name cfg --kind federation-province --region 320000 # a commit: debug lines
grep -q "DEBUG writer:" "$TMPDIR/my.log" || fail "log-level = debug from the config file had no effect"
grep -q "with config $TMPDIR/ledgerd.conf" "$TMPDIR/my.log" || fail "start-up line does not name the config"
curl -sf "http://127.0.0.1:$M1/metrics" >"$TMPDIR/m.txt" || fail "no metrics on the config's address"
stop_mine
# Flags override: --listen replaces the file's listen, --metrics and --log-level too.
: >"$TMPDIR/my.log"
URL="tcp://127.0.0.1:$P2"
start_mine --config "$TMPDIR/ledgerd.conf" --listen "$URL" --metrics "127.0.0.1:$M2" --log-level warn
ok --url "$URL" org add CFG2 --name cfg --kind federation-province --region 320000
if URL="tcp://127.0.0.1:$P1" nng_call "$TMPDIR/ready.bin" "$TMPDIR/p1.out" 1 2>/dev/null &&
	[ -s "$TMPDIR/p1.out" ]; then
	fail "the config file's listen address still answers after --listen"
fi
curl -sf "http://127.0.0.1:$M2/metrics" >/dev/null || fail "--metrics did not override the file"
if curl -sf "http://127.0.0.1:$M1/metrics" >/dev/null 2>&1; then fail "the file's metrics address still answers"; fi
if grep -q "INFO\|DEBUG" "$TMPDIR/my.log"; then fail "--log-level warn did not override the file"; fi
stop_mine
# Bad files and values are refused, naming the file, the line and the setting.
conf_refused() { # RE, then the config text on stdin
	cat >"$TMPDIR/bad.conf"
	set +e
	"$LEDGERD" --config "$TMPDIR/bad.conf" --data "$TMPDIR/never" >/dev/null 2>"$TMPDIR/bad.err"
	local rc=$?
	set -e
	[ $rc -eq 2 ] || fail "bad config: exit $rc, wanted 2"
	grep -Eq "$1" "$TMPDIR/bad.err" || fail "bad config: stderr lacks /$1/: $(cat "$TMPDIR/bad.err")"
}
printf '[ledgerd]\nworkers = 8\nmap-size = lots\n' | conf_refused "bad.conf', line 3: 'map-size' must be a size"
printf 'nonsense here\n' | conf_refused "line 1: not a 'name = value' line"
printf '[ledgerd]\ncolour = blue\n' | conf_refused "line 2: unknown setting 'colour'"
printf '[server]\nworkers = 8\n' | conf_refused "unknown section \[server\]"
printf 'listen = http://x\n' | conf_refused "'listen' must be tcp://"
printf 'log_level = loud\n' | conf_refused "'log-level' must be error, warn, info or debug"
set +e
"$LEDGERD" --config "$TMPDIR/absent.conf" 2>"$TMPDIR/bad.err"
rc=$?
set -e
[ $rc -eq 2 ] && grep -q "unable to read config file" "$TMPDIR/bad.err" || fail "absent config file: exit $rc"
set +e
"$LEDGERD" --workers 0 2>"$TMPDIR/bad.err"
rc=$?
set -e
[ $rc -eq 2 ] && grep -q -- "--workers: 'workers' must be 1 to 4096" "$TMPDIR/bad.err" || fail "--workers 0: exit $rc"
[ ! -e "$TMPDIR/never" ] || fail "a refused start created its data directory"
[ -f "$ROOT/etc/ledgerd.conf" ] || fail "no etc/ledgerd.conf"
# The shipped example is all comments and loads as the defaults.
"$LEDGERD" --config "$ROOT/etc/ledgerd.conf" --version >/dev/null || fail "etc/ledgerd.conf"
cp "$ROOT/etc/ledgerd.conf" "$TMPDIR/example.conf"
sed -i 's/^# *\([a-z_-]* =\)/\1/' "$TMPDIR/example.conf" # uncomment every default
grep -q '^data = ' "$TMPDIR/example.conf" || fail "etc/ledgerd.conf has no commented default for data"
sed -i "s|^data = .*|data = $TMPDIR/exdata|; s|^listen = .*|listen = tcp://127.0.0.1:$P1|; s|^metrics = .*|metrics = 127.0.0.1:$M1|" \
	"$TMPDIR/example.conf"
URL="tcp://127.0.0.1:$P1"
start_mine --config "$TMPDIR/example.conf"
stop_mine

# --- make install into a staging root -------------------------------------------------
flock "$BUILD/.install.lock" make -s -C "$ROOT" BUILD="$BUILD" BUILT=1 install DESTDIR="$TMPDIR/stage" PREFIX=/usr SYSCONFDIR=/etc \
	>"$TMPDIR/install.out" 2>&1 || { cat "$TMPDIR/install.out" >&2; fail "make install failed"; }
for f in usr/bin/ledgerd usr/bin/ledgerctl usr/bin/ledger-gen etc/ledgerd/ledgerd.conf \
	usr/lib/systemd/system/ledgerd.service usr/share/doc/ledgerd/OPERATIONS.md \
	usr/share/doc/ledgerd/CONFIG.md usr/share/doc/ledgerd/ledgerd.conf.example \
	usr/share/doc/ledgerd/ledger.proto; do
	[ -e "$TMPDIR/stage/$f" ] || fail "make install did not install $f"
done
# The protocol itself, not the repository's pointer to proto/PROTOCOL.md.
cmp -s "$ROOT/proto/PROTOCOL.md" "$TMPDIR/stage/usr/share/doc/ledgerd/PROTOCOL.md" ||
	fail "make install did not install proto/PROTOCOL.md as the docs' PROTOCOL.md"
grep -q '^ExecStart=/usr/bin/ledgerd --config /etc/ledgerd/ledgerd.conf ' \
	"$TMPDIR/stage/usr/lib/systemd/system/ledgerd.service" || fail "the unit's paths were not filled in"
# Placeholders are @NAME@ (system-call sets such as @system-service are not).
if grep -q '@[A-Z]*@' "$TMPDIR/stage/usr/lib/systemd/system/ledgerd.service"; then fail "a placeholder is left in the unit"; fi
"$TMPDIR/stage/usr/bin/ledgerd" --config "$TMPDIR/stage/etc/ledgerd/ledgerd.conf" --version >/dev/null ||
	fail "the installed daemon does not take the installed config"
echo "# local" >"$TMPDIR/stage/etc/ledgerd/ledgerd.conf"
flock "$BUILD/.install.lock" make -s -C "$ROOT" BUILD="$BUILD" BUILT=1 install DESTDIR="$TMPDIR/stage" PREFIX=/usr SYSCONFDIR=/etc >/dev/null 2>&1
expect_eq "$(cat "$TMPDIR/stage/etc/ledgerd/ledgerd.conf")" "# local" "a second install kept the local config"
if command -v systemd-analyze >/dev/null; then
	systemd-analyze verify "$TMPDIR/stage/usr/lib/systemd/system/ledgerd.service" 2>&1 |
		grep -v 'not executable\|No such file\|Failed to\|Unit .* not found\|ledgerd.service:.*Command' |
		grep -i 'unknown\|invalid' && fail "systemd-analyze finds the unit invalid"
fi

# --- metrics under use --------------------------------------------------------------
start_ledgerd --metrics "127.0.0.1:$M2"
export LEDGER_URL=$URL
ok org add JS --name "江苏" --kind federation-province --region 320000
ok join M1 --org JS --path platform-work --channel online --group rider --employment partial \
	--region 320102 --national-id 320102199001011232
refused 1 "ERR_NOT_FOUND" join M2 --org NOPE --path platform-work --channel online --group rider \
	--employment partial --region 320102 --national-id 320502198505120018
settled # the member view and the projection's lag below read the flushed state
ok member M1
curl -sf "http://127.0.0.1:$M2/metrics" >"$TMPDIR/m.txt" || fail "scrape failed"
# Three appends, two commits: the rejected join writes nothing.
python3 "$PROM" "$TMPDIR/m.txt" \
	'ledgerd_log_head_seq=2' \
	'ledgerd_events_total{outcome="recorded"}=2' \
	'ledgerd_events_total{outcome="rejected"}=1' \
	'ledgerd_errors_total{code="ERR_NOT_FOUND"}=1' \
	'ledgerd_requests_total{command="append"}=3' \
	'ledgerd_commits_total{result="ok"}=2' \
	'ledgerd_commit_seconds_count=2' \
	'ledgerd_commit_events_sum=2' \
	'ledgerd_append_request_events_count=3' \
	'ledgerd_projection_lag_events{projection="members"}=0' \
	>"$TMPDIR/m.json" || { cat "$TMPDIR/m.txt" >&2; fail "the metrics are not valid Prometheus text with the expected values"; }
for fam in ledgerd_map_size_bytes ledgerd_map_used_bytes ledgerd_projection_lag_seconds \
	ledgerd_backups_total ledgerd_log_head_recorded_seconds; do
	grep -q "^# TYPE $fam " "$TMPDIR/m.txt" || fail "no family $fam"
done
code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$M2/%41")
expect_eq "$code" 404 "GET /%41 (the path NNG 1.5.2's HTTP server over-reads on)"
code=$(curl -s -o /dev/null -w '%{http_code}' -X POST -d x "http://127.0.0.1:$M2/metrics")
expect_eq "$code" 405 "POST /metrics"
curl -sI -o "$TMPDIR/head.txt" "http://127.0.0.1:$M2/metrics"
grep -qi '^content-type: text/plain; version=0.0.4' "$TMPDIR/head.txt" ||
	fail "wrong content type"

# --- backup: refusals and repeats ----------------------------------------------------
refused 1 "is not empty \(ERR_ALREADY_EXISTS" backup "$TMPDIR/data"
mkdir -p "$TMPDIR/b0"
ok backup "$TMPDIR/b0"
out_has "^backup in $TMPDIR/b0: seq 2 and before" "backup answer"
ok backup "$TMPDIR/b0/" # the same backup asked again: its answer, no copy
out_has "^backup in $TMPDIR/b0: seq 2 and before" "repeated backup answer"
printf 'backup { dir: "relative/dir" }' | pb_encode Request >"$TMPDIR/rel.bin"
nng_call "$TMPDIR/rel.bin" "$TMPDIR/rel.out"
pb_decode Response <"$TMPDIR/rel.out" | grep -q "ERR_INVALID_VALUE" || fail "a relative backup dir was not refused"
printf 'backup { }' | pb_encode Request >"$TMPDIR/rel.bin"
nng_call "$TMPDIR/rel.bin" "$TMPDIR/rel.out"
pb_decode Response <"$TMPDIR/rel.out" | grep -q "ERR_MISSING_FIELD" || fail "a backup without dir was not refused"
curl -sf "http://127.0.0.1:$M2/metrics" >"$TMPDIR/m.txt"
python3 "$PROM" "$TMPDIR/m.txt" 'ledgerd_backups_total{result="ok"}=1' \
	'ledgerd_backups_total{result="failed"}=1' >/dev/null || fail "backup counters"

# --- backup under write load, restore, verify ----------------------------------------------
# The load is larger than the test needs and is stopped once the log has moved past the
# backup, so that the backup is taken under load however fast or slow the machine is
# (1,500 members once ended before the backup began on a loaded machine).
"$GEN" --url "$URL" --members 50000 --seed 7 --batch 50 --conns 2 --quiet >"$TMPDIR/gen.out" 2>&1 &
GEN_PID=$!
# Wait until the load is well under way, then back up while it goes on.
for _ in $(seq 200); do
	ok --json head
	[ "$(json 'j.get("seq", 0)')" -gt 3000 ] && break
	sleep 0.05
done
ok backup "$TMPDIR/b1"
BSEQ=$(echo "$OUT" | sed -n 's/^backup in .*: seq \([0-9]*\) and before.*/\1/p')
[ -n "$BSEQ" ] || fail "no seq in the backup answer: $OUT"
for _ in $(seq 400); do
	kill -0 "$GEN_PID" 2>/dev/null || break
	ok --json head
	[ "$(json 'j["seq"]')" -gt $((BSEQ + 500)) ] && break
	sleep 0.05
done
if kill -0 "$GEN_PID" 2>/dev/null; then
	stop_pid "$GEN_PID" # its own end, by the signal
else
	wait "$GEN_PID" || { cat "$TMPDIR/gen.out" >&2; fail "ledger-gen failed"; }
fi
ok --json head
FINAL=$(json 'j["seq"]')
[ "$FINAL" -gt "$BSEQ" ] || fail "the load ended before the backup (final $FINAL, backup $BSEQ): not a test under load"
ORIG_URL=$URL

cp -a "$TMPDIR/b1" "$TMPDIR/restored"
: >"$TMPDIR/my.log"
URL="tcp://127.0.0.1:$P2"
start_mine --data "$TMPDIR/restored" --listen "$URL"
ok --url "$URL" --json head
RSEQ=$(json 'j["seq"]')
[ "$RSEQ" -ge "$BSEQ" ] && [ "$RSEQ" -le "$FINAL" ] || fail "restored head $RSEQ not in [$BSEQ, $FINAL]"
# The restored log is the original's first RSEQ events, byte for byte (as JSON).
from=1
while [ "$from" -le "$RSEQ" ]; do
	n=$((RSEQ - from + 1))
	[ $n -gt 5000 ] && n=5000
	ok --url "$URL" --json log --from "$from" --limit "$n"
	echo "$OUT" >"$TMPDIR/r.json"
	ok --url "$ORIG_URL" --json log --from "$from" --limit "$n"
	echo "$OUT" >"$TMPDIR/o.json"
	python3 - "$TMPDIR/r.json" "$TMPDIR/o.json" <<'EOF' || fail "the restored log differs from the original"
import json, sys
r = json.load(open(sys.argv[1]))["events"]
o = json.load(open(sys.argv[2]))["events"]
assert r == o[:len(r)] and len(r) == len(o), (len(r), len(o))
EOF
	from=$((from + n))
done
# Its hash chain verifies: each member's history, every hash recomputed.
ok --url "$URL" --json log --from 1 --limit 10000 --type member-joined
MEMBERS=$(json '" ".join(sorted(set(e["member_joined"]["member_id"] for e in j["events"]))[:25])')
[ -n "$MEMBERS" ] || fail "no members in the restored log"
for m in $MEMBERS; do
	ok --url "$URL" history "$m" --all --verify-chain
	if echo "$OUT" | grep -q "HASH MISMATCH"; then fail "hash chain broken for $m"; fi
done
# Its projections (built from the log at start) match a rebuild.
snapshot() { # FILE: coverage of the root and some members, as JSON
	ctl --url "$URL" --json coverage JS-320000 --depth 2 --wait-seq "$RSEQ" --wait-ms 10000
	[ "$RC" -eq 0 ] || { show coverage; fail "coverage on the restored ledger"; }
	echo "$OUT" | python3 -c 'import json,sys; j=json.load(sys.stdin); j.pop("as_of_seq", None); j.pop("at", None); j.pop("at_rfc3339", None); print(json.dumps(j, sort_keys=True))' >"$1"
	for m in $MEMBERS; do
		ok --url "$URL" --json member "$m"
		echo "$OUT" | python3 -c 'import json,sys; j=json.load(sys.stdin); j.pop("as_of_seq", None); print(json.dumps(j, sort_keys=True))' >>"$1"
	done
}
snapshot "$TMPDIR/restored.snap"
stop_mine
start_mine --data "$TMPDIR/restored" --listen "$URL" --rebuild
snapshot "$TMPDIR/rebuilt.snap"
stop_mine
cmp -s "$TMPDIR/restored.snap" "$TMPDIR/rebuilt.snap" || {
	diff "$TMPDIR/restored.snap" "$TMPDIR/rebuilt.snap" | head -20 >&2
	fail "the restored ledger's projections differ from a rebuild"
}
[ "$(wc -c <"$TMPDIR/restored.snap")" -gt 1000 ] || fail "the projections compared are empty"
echo "ops_test: ok (backup at seq $BSEQ of $FINAL under load)"
