#!/usr/bin/env bash
# dashboard_test.sh — ledger-dashboard, the browser dashboard's gateway,
# against a real daemon with its PUB feed: the page and the JSON API (figures
# equal to `ledgerctl --json progress`), the SSE stream (a new event arrives
# with its seq and prev_seq), hostile requests (/%41, path traversal, NUL and
# junk in queries, long URLs and headers, other methods, a foreign Host,
# garbage, a flood of connections, too many streams) answered with a 4xx and
# no crash; a stalled stream skips (resync) without holding up another; the
# polling fallback when the daemon has no feed; then headless
# Chromium (tests/browser/dashboard.js, playwright-core): the page shows the
# seeded figures and updates without a reload after an append; it speaks
# Chinese drawn with a CJK font (English to an English browser) and shows no
# internal reference; a click on a city shows that city's figures; the CSV,
# SVG and PNG exports; the layout at 1400 and 420 px; a plain sentence when
# the daemon is down. The gateway must stop cleanly on SIGTERM (exit 0: no
# leak or sanitizer report).
# Exits 77 (skipped) only when Chromium cannot be launched, after the rest ran.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
need_ledgerctl
DASH="$BUILD/ledger-dashboard"
[ -x "$DASH" ] || fail "no gateway at '$DASH' (make programs)"
command -v curl >/dev/null || fail "'curl' is not installed (scripts/install-deps.sh)"

PLAN=jiangsu-2024-2026
YEAR=2025 # a year of the plan that is over: figures do not depend on today
PUB="tcp://127.0.0.1:$(free_port)"
start_ledgerd --pub "$PUB" --plans "$ROOT/plans"
export LEDGER_URL="$URL"

DASH_PID=
DASH_LOG="$TMPDIR/dashboard.log"
STREAM_PIDS=()
cleanup() {
	for p in "${STREAM_PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	[ -n "$DASH_PID" ] && kill -KILL "$DASH_PID" 2>/dev/null || true
	stop_ledgerd
	wait 2>/dev/null || true
}
trap cleanup EXIT

# start_dashboard ARG...: the gateway on a free loopback port; sets HTTP.
start_dashboard() {
	local port
	port=$(free_port)
	HTTP="http://127.0.0.1:$port"
	"$DASH" --url "$URL" --listen "127.0.0.1:$port" "$@" 2>>"$DASH_LOG" &
	DASH_PID=$!
	for _ in $(seq 100); do
		kill -0 "$DASH_PID" 2>/dev/null || { cat "$DASH_LOG" >&2; fail "ledger-dashboard exited at start"; }
		[ "$(curl -s -o /dev/null -w '%{http_code}' "$HTTP/api/plans")" = 200 ] && return 0
		sleep 0.1
	done
	fail "ledger-dashboard does not answer on $HTTP after 10 s"
}

# stop_dashboard: SIGTERM; it must exit 0 within 10 s (ASan: no leak).
stop_dashboard() {
	kill -TERM "$DASH_PID"
	local rc=0
	for _ in $(seq 100); do kill -0 "$DASH_PID" 2>/dev/null || break; sleep 0.1; done
	kill -0 "$DASH_PID" 2>/dev/null && fail "ledger-dashboard does not stop within 10 s of SIGTERM"
	wait "$DASH_PID" || rc=$?
	DASH_PID=
	[ "$rc" -eq 0 ] || { cat "$DASH_LOG" >&2; fail "ledger-dashboard exited $rc on SIGTERM"; }
	if grep -Eq 'AddressSanitizer|LeakSanitizer|runtime error' "$DASH_LOG"; then
		cat "$DASH_LOG" >&2
		fail "sanitizer report in the gateway's log"
	fi
}

# get PATH [CURL_ARG...]: status in $CODE, Content-Type in $TYPE, body in $BODY.
get() {
	local path=$1
	shift
	local meta
	meta=$(curl -s --path-as-is --max-time 10 -o "$TMPDIR/body" -w '%{http_code} %{content_type}' \
		"$@" "$HTTP$path") || true
	CODE=${meta%% *}
	TYPE=${meta#* }
	BODY=$(cat "$TMPDIR/body" 2>/dev/null || true)
}
expect_status() { # WANT PATH [CURL_ARG...]
	local want=$1
	shift
	get "$@"
	[ "$CODE" = "$want" ] || fail "GET $1: status $CODE, wanted $want; body: ${BODY:0:300}"
}
# An error answer: the status, JSON with a message, and nothing of /etc/passwd.
expect_error() { # WANT PATH [CURL_ARG...]
	expect_status "$@"
	case "$TYPE" in application/json*) ;; *) fail "GET $2: error answered as '$TYPE', not JSON" ;; esac
	[ -n "$(OUT=$BODY json 'j["error"]')" ] || fail "GET $2: no error message in $BODY"
	case "$BODY" in *root:*) fail "GET $2: the answer holds /etc/passwd" ;; esac
}
# alive WHEN: the gateway still runs and answers (within 5 s: closed connections
# free their places in the cap as it notices them).
alive() {
	for _ in $(seq 50); do
		kill -0 "$DASH_PID" 2>/dev/null || { cat "$DASH_LOG" >&2; fail "ledger-dashboard died ($1)"; }
		get /api/plans
		[ "$CODE" = 200 ] && return 0
		sleep 0.1
	done
	fail "ledger-dashboard does not answer $1 (status $CODE)"
}

# province_figure TARGET [REGION]: the actual of TARGET in $YEAR per ledgerctl.
province_figure() {
	settled # progress without --wait-seq reads the flushed state
	ok --json progress "$PLAN" --year "$YEAR" --region "${2:-320000}"
	json "[r['actual'] for r in j['rows'] if r['target_id'] == '$1'][0]"
}

join_member() { # ID ORG REGION DAY
	ok join "$1" --org "$2" --path platform-work --channel online --group delivery-rider \
		--employment self-employed --region "$3" --national-id "$(national_id 320102 "${1#M}")" --at "$YEAR-$4"
}

# --- a small province -----------------------------------------------------
ok org add JS --name "Jiangsu federation" --kind federation-province --region 320000 --at 2024-01-01
ok org add NJ --name "Nanjing federation" --kind federation-city --region 320100 --parent JS --at 2024-01-02
ok org add SZ --name "Suzhou federation" --kind federation-city --region 320500 --parent JS --at 2024-01-02
join_member M1001 NJ 320102 02-01
join_member M1002 NJ 320102 03-01
join_member M1003 NJ 320104 04-01
join_member M1004 SZ 320505 05-01
ok activity themed-activity --org NJ --participants 120 --title "rider safety day" --at "$YEAR-06-01"
NEW_MEMBERS=$(province_figure new-members-yearly)
expect_eq "$NEW_MEMBERS" 4 "new members in $YEAR per ledgerctl"
NJ_MEMBERS=$(province_figure new-members-yearly 320100)

start_dashboard --plan "$PLAN" --max-conn 16

# --- the page and the API -------------------------------------------------
expect_status 200 /
case "$TYPE" in text/html*) ;; *) fail "/ is '$TYPE', not HTML" ;; esac
case "$BODY" in *'src="app.js"'*) ;; *) fail "/ does not load app.js" ;; esac
expect_status 200 /index.html
expect_status 200 /app.js
case "$TYPE" in text/javascript*) ;; *) fail "/app.js is '$TYPE'" ;; esac
expect_status 200 /style.css
curl -s -D "$TMPDIR/headers" -o /dev/null "$HTTP/"
grep -qi '^Content-Security-Policy:' "$TMPDIR/headers" || fail "no Content-Security-Policy header"
grep -qi '^X-Content-Type-Options: nosniff' "$TMPDIR/headers" || fail "no nosniff header"

expect_status 200 /api/plans
OUT=$BODY
expect_eq "$(json "[p['id'] for p in j['plans']].count('$PLAN')")" 1 "/api/plans lists $PLAN"
expect_eq "$(json 'j["feed_url"]')" "$PUB" "/api/plans feed_url"
expect_eq "$(json 'j["default_plan"]')" "$PLAN" "/api/plans default_plan (--plan)"
for _ in $(seq 50); do
	get /api/plans
	[ "$(OUT=$BODY json 'j["live"]')" = feed ] && break
	sleep 0.1
done
expect_eq "$(OUT=$BODY json 'j["live"]')" feed "the gateway follows the daemon's feed"

expect_status 200 "/api/progress?plan=$PLAN&year=$YEAR&region=320000"
case "$TYPE" in application/json*) ;; *) fail "/api/progress is '$TYPE'" ;; esac
OUT=$BODY
expect_eq "$(json "[r['actual'] for r in j['rows'] if r['target_id'] == 'new-members-yearly'][0]")" \
	"$NEW_MEMBERS" "/api/progress new-members-yearly = ledgerctl's"
expect_eq "$(json "[r['actual'] for r in j['rows'] if r['target_id'] == 'themed-activities'][0]")" 1 \
	"/api/progress themed-activities"
expect_eq "$(json 'j["seq"]')" 8 "/api/progress seq (8 events recorded)"
expect_eq "$(json "sorted(set(r['region'] for r in j['rows']))")" "[320000]" "/api/progress region filter"
expect_status 200 "/api/progress?plan=$PLAN"
OUT=$BODY
expect_eq "$(json "len(set(r['region'] for r in j['rows']))")" 14 "/api/progress: the province and 13 cities"
expect_status 200 "/api/series?plan=$PLAN&target=new-members-yearly&year=$YEAR"
OUT=$BODY
expect_eq "$(json "[(p['day'], p['value']) for p in j['points']]")" \
	"[(${YEAR}0201, 1), (${YEAR}0301, 1), (${YEAR}0401, 1), (${YEAR}0501, 1)]" "/api/series: the days of the joins"
expect_eq "$(json "(j['value'], j['seq'], j['kinds'][0]['kind'], j['kinds'][0]['count'])")" \
	"($NEW_MEMBERS, 8, 'member_joined', $NEW_MEMBERS)" "/api/series: the figure, its seq and its events"
expect_status 200 "/api/series?plan=$PLAN&target=new-members-total&region=320500&from=$YEAR-03-01&to=$YEAR-12-31&step=week"
OUT=$BODY
expect_eq "$(json "[(p['day'], p['value']) for p in j['points']]")" "[(${YEAR}0428, 1)]" "/api/series: Suzhou by week"

# --- hostile and wrong requests: clear 4xx, never a crash -----------------
expect_error 404 /%41
expect_error 404 /A
expect_error 404 /../../../../etc/passwd
expect_error 404 /..%2f..%2f..%2fetc%2fpasswd
expect_error 404 /%2e%2e/%2e%2e/etc/passwd
expect_error 404 /api/../../etc/passwd
expect_error 404 '/app.js%00.html'
expect_error 404 /api/progress/x
expect_error 400 /api/progress
expect_error 400 "/api/progress?plan=../../etc/passwd"
expect_error 400 "/api/progress?plan=$PLAN%00x"
expect_error 400 "/api/progress?plan=%ff%fe"
expect_error 400 "/api/progress?plan=$PLAN&plan=guangdong-2021-2022"
expect_error 400 "/api/progress?plan=$PLAN&region=abc"
expect_error 400 "/api/progress?plan=$PLAN&region=-1"
expect_error 400 "/api/progress?plan=$PLAN&region=99999999999999999999"
expect_error 400 "/api/progress?plan=$PLAN&region=999999"
expect_error 400 "/api/progress?plan=$PLAN&year=1999"
expect_error 400 "/api/progress?plan=$PLAN&evil=1"
expect_error 400 "/api/progress?%zz=%%&&&=="
expect_error 400 "/api/progress?plan=$(head -c 100 /dev/zero | tr '\0' a)"
expect_error 404 "/api/progress?plan=no-such-plan"
expect_error 404 "/api/events?plan=no-such-plan"
expect_error 400 "/api/events"
expect_error 400 "/api/plans?x=1"
expect_error 400 "/api/series?plan=$PLAN"
expect_error 400 "/api/series?plan=$PLAN&target=../x"
expect_error 400 "/api/series?plan=$PLAN&target=new-members-total&from=2025-02-30"
expect_error 400 "/api/series?plan=$PLAN&target=new-members-total&from=2025-2-3"
expect_error 400 "/api/series?plan=$PLAN&target=new-members-total&step=month"
expect_error 400 "/api/series?plan=$PLAN&target=new-members-total&to=2025-01-01&to=2025-01-02"
expect_error 400 "/api/series?plan=$PLAN&target=new-members-total&from=2020-01-01"
expect_error 400 "/api/series?plan=$PLAN&target=new-members-total&region=999999"
expect_error 404 "/api/series?plan=$PLAN&target=no-such-target"
expect_error 404 "/api/series?plan=no-such-plan&target=x"
expect_error 414 "/$(head -c 2000 /dev/zero | tr '\0' a)"
get "/$(head -c 100000 /dev/zero | tr '\0' a)"
case "$CODE" in 4??) ;; *) fail "a 100 KB URL: status $CODE, wanted 4xx" ;; esac
get / -H "X-Junk: $(head -c 100000 /dev/zero | tr '\0' a)"
case "$CODE" in 4??) ;; *) fail "a 100 KB header: status $CODE, wanted 4xx" ;; esac
expect_error 405 /api/plans -X POST -d 'x=1'
expect_error 405 / -X DELETE
expect_error 421 /api/plans -H 'Host: attacker.example'
python3 - "$HTTP" <<'EOF' || fail "garbage on the socket is not answered with 400"
import socket, sys
host, port = sys.argv[1][len("http://"):].split(":")
for junk in (b"GARBAGE\r\n\r\n", b"GET / HTTP/9.9\r\n\r\n", b"\x00\xff\x16\x03\x01" * 50 + b"\r\n\r\n"):
    s = socket.create_connection((host, int(port)), timeout=2)
    s.sendall(junk)
    try:
        answer = s.recv(200)  # a 4xx, or the connection closed
    except socket.timeout:
        answer = b""  # or held until the gateway's idle timeout: not an answer, not a crash
    s.close()
    if answer and not (answer.startswith(b"HTTP/1.1 4") or answer.startswith(b"HTTP/1.0 4")
                       or answer.startswith(b"HTTP/1.1 505")):
        sys.exit("junk %r answered %r" % (junk[:20], answer[:40]))
EOF
alive "after the hostile requests"

# A flood of idle connections (4x --max-conn) is capped; the gateway answers again after.
python3 - "$HTTP" <<'EOF' || fail "connection flood"
import socket, sys, time
host, port = sys.argv[1][len("http://"):].split(":")
socks = []
for _ in range(64):
    try:
        socks.append(socket.create_connection((host, int(port)), timeout=2))
    except OSError:
        pass
time.sleep(0.5)
for s in socks:
    s.close()
EOF
alive "after a connection flood"

# --- the live stream ------------------------------------------------------
curl -sN --max-time 20 "$HTTP/api/events?plan=$PLAN" >"$TMPDIR/sse.out" 2>/dev/null &
STREAM_PIDS+=($!)
for _ in $(seq 50); do grep -q '^event: hello' "$TMPDIR/sse.out" && break; sleep 0.1; done
grep -q '^event: hello' "$TMPDIR/sse.out" || fail "no hello on the event stream"
join_member M1005 SZ 320505 07-01
recorded
cat >"$TMPDIR/sse_check.py" <<'EOF'
import json, sys
seq = int(sys.argv[2])
events, cur = [], {}
for line in open(sys.argv[1], encoding="utf-8"):
    line = line.rstrip("\n")
    if not line:
        if cur: events.append(cur)
        cur = {}
    elif not line.startswith(":"):
        k, _, v = line.partition(": ")
        cur[k] = v
reports = [json.loads(e["data"]) for e in events if e.get("event") == "progress"]
mine = [r for r in reports if r.get("seq") == seq]
assert mine, "no progress event with seq %d among %d" % (seq, len(reports))
topics = {r["topic"] for r in mine}
assert "progress/jiangsu-2024-2026/320000" in topics, topics
assert "progress/jiangsu-2024-2026/320500" in topics, topics
for r in mine:
    assert r["prev_seq"] < seq and r["plan"]["id"] == "jiangsu-2024-2026", r
    assert {row["region"] for row in r["rows"]} == {int(r["topic"].rsplit("/", 1)[1])}
prov = [r for r in mine if r["topic"].endswith("/320000")][0]
got = [row["actual"] for row in prov["rows"] if row["target_id"] == "new-members-yearly" and not row.get("year")]
assert got == [5], got
EOF
for _ in $(seq 100); do python3 "$TMPDIR/sse_check.py" "$TMPDIR/sse.out" "$SEQ" 2>/dev/null && break; sleep 0.1; done
python3 "$TMPDIR/sse_check.py" "$TMPDIR/sse.out" "$SEQ" || fail "the event stream lacks the reports of seq $SEQ"
NEW_MEMBERS=5

# Streams are capped at --max-conn / 2 (8): the next one is refused with 429.
for _ in $(seq 7); do
	curl -sN --max-time 30 "$HTTP/api/events?plan=$PLAN" >/dev/null 2>&1 &
	STREAM_PIDS+=($!)
done
for _ in $(seq 50); do
	get "/api/events?plan=$PLAN" --max-time 2
	[ "$CODE" = 429 ] && break
	sleep 0.1
done
expect_eq "$CODE" 429 "the ninth live stream"
for p in "${STREAM_PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
STREAM_PIDS=()
stop_dashboard

# --- a browser that does not keep up skips, and holds up no one -----------
# With a queue of 2, a stream whose reader stalls (a 1 KB receive buffer)
# while 12 appends send 2 messages each (the province's, Nanjing's) gets
# "resync" when it reads again; a reader that keeps up gets them all.
start_dashboard --queue 2
cat >"$TMPDIR/slow.py" <<'EOF'
import os, socket, sys, time
host, port = sys.argv[1][len("http://"):].split(":")
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1024)
s.settimeout(10)
s.connect((host, int(port)))
s.sendall(("GET /api/events?plan=%s HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n" % sys.argv[2]).encode())
data = b""
while b"event: hello" not in data:
    data += s.recv(512)
open(sys.argv[3] + ".ready", "w").close()
while not os.path.exists(sys.argv[3] + ".go"):
    time.sleep(0.05)
s.settimeout(3)
try:
    while b"event: resync" not in data:
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
except socket.timeout:
    pass
print("slow reader: %d progress events, resync %s" % (data.count(b"event: progress"), b"event: resync" in data))
sys.exit(0 if b"event: resync" in data else 1)
EOF
python3 "$TMPDIR/slow.py" "$HTTP" "$PLAN" "$TMPDIR/slow" &
SLOW_PID=$!
STREAM_PIDS+=($SLOW_PID)
curl -sN --max-time 30 "$HTTP/api/events?plan=$PLAN" >"$TMPDIR/fast.out" 2>/dev/null &
STREAM_PIDS+=($!)
for _ in $(seq 100); do [ -e "$TMPDIR/slow.ready" ] && grep -q '^event: hello' "$TMPDIR/fast.out" && break; sleep 0.1; done
[ -e "$TMPDIR/slow.ready" ] || fail "the slow reader did not get its hello"
for i in 10 11 12 13 14 15 16 17 18 19 20 21; do
	join_member "M11$i" NJ 320102 "10-$i"
	sleep 0.25 # past the feed's coalescing interval: 2 messages each
done
recorded
for _ in $(seq 100); do [ "$(grep -c "^id: $SEQ\$" "$TMPDIR/fast.out")" = 2 ] && break; sleep 0.1; done
touch "$TMPDIR/slow.go"
wait "$SLOW_PID" || fail "a stalled stream got no resync after its queue overflowed"
expect_eq "$(grep -c "^id: $SEQ\$" "$TMPDIR/fast.out")" 2 "messages of seq $SEQ to the reader that keeps up"
grep -q '^event: resync' "$TMPDIR/fast.out" && fail "the reader that keeps up was told to resync"
[ "$(grep -c '^event: progress' "$TMPDIR/fast.out")" -ge 12 ] || fail "the reader that keeps up got fewer than 12 messages"
for p in "${STREAM_PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
STREAM_PIDS=()
stop_dashboard
LAST_SEQ=$SEQ

# --- without a feed, the gateway polls --------------------------------------
stop_ledgerd
start_ledgerd --plans "$ROOT/plans"
export LEDGER_URL="$URL"
start_dashboard --poll-ms 200
get /api/plans
expect_eq "$(OUT=$BODY json 'j.get("feed_url", "")')" "" "feed_url of a daemon without --pub"
curl -sN --max-time 20 "$HTTP/api/events?plan=$PLAN" >"$TMPDIR/poll.out" 2>/dev/null &
STREAM_PIDS+=($!)
for _ in $(seq 50); do grep -q "^id: $LAST_SEQ\$" "$TMPDIR/poll.out" && break; sleep 0.1; done
grep -q '"live":"poll"' "$TMPDIR/poll.out" || fail "the stream does not say it is polled"
grep -q "^id: $LAST_SEQ\$" "$TMPDIR/poll.out" || fail "the polled stream does not send the state at seq $LAST_SEQ"
join_member M1006 NJ 320102 08-01
recorded
for _ in $(seq 100); do grep -q "^id: $SEQ\$" "$TMPDIR/poll.out" && break; sleep 0.1; done
grep -q "^id: $SEQ\$" "$TMPDIR/poll.out" || fail "the polled stream does not send seq $SEQ"
grep "^data: .*\"seq\":$SEQ," "$TMPDIR/poll.out" | grep -q '"topic":"progress/jiangsu-2024-2026/all"' ||
	fail "the polled message lacks its topic"
grep "^data: .*\"seq\":$SEQ," "$TMPDIR/poll.out" | grep -q "\"prev_seq\":$LAST_SEQ" ||
	fail "the polled message lacks prev_seq $LAST_SEQ"
for p in "${STREAM_PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
STREAM_PIDS=()
stop_dashboard

# --- transfers waiting for acceptance, per city (--org) ---------------------
# The organisation and its children (the cities' federations), each the
# releases to accept there and those sent from there, with the oldest's
# release date: as ledgerctl transfers --pending lists them. Without --org,
# the province federation of the plan's region (the root registered for
# 320000: JS); a plan whose region has none (Guangdong's here) shows none,
# and the log says why.
start_dashboard --plan "$PLAN"
get /api/plans
expect_eq "$(OUT=$BODY json 'j["pending_org"]')" JS "/api/plans pending_org without --org"
get /api/pending
expect_eq "$CODE" 200 "/api/pending without --org"
expect_eq "$(OUT=$BODY json '[(o["org_id"], o["waiting_in"], o["waiting_out"]) for o in j["orgs"]]')" \
	"[('JS', 0, 0), ('NJ', 0, 0), ('SZ', 0, 0)]" "/api/pending without --org: JS and its cities"
stop_dashboard
start_dashboard --plan guangdong-2021-2022
get /api/pending
expect_eq "$CODE" 200 "/api/pending for a region without a federation"
expect_eq "$(OUT=$BODY json '(j["org"], j["orgs"])')" "(None, [])" "/api/pending for a region without a federation"
grep -q "the ledger holds no province federation of region 440000" "$DASH_LOG" ||
	{ cat "$DASH_LOG" >&2; fail "the log does not say why the page shows no transfers"; }
# The page asks for its plan's: Jiangsu's has JS.
get "/api/pending?plan=$PLAN"
expect_eq "$(OUT=$BODY json 'j["org"]')" JS "/api/pending?plan=$PLAN"
get "/api/pending?plan=no-such-plan"
expect_eq "$(OUT=$BODY json '(j["org"], j["orgs"])')" "(None, [])" "/api/pending of a plan the daemon does not count"
stop_dashboard
# Without --plan: the first plan whose region holds a federation the ledger
# has (Jiangsu's), not the first by id (Guangdong's, empty here: before
# 2026-12-07 22:50 the demo's page opened on it); no default region but the
# province's for an admin.
start_dashboard
get /api/plans
expect_eq "$(OUT=$BODY json '(j["default_plan"], j["pending_org"], j["default_region"])')" "('$PLAN', 'JS', None)" \
	"/api/plans without --plan"
stop_dashboard
ok release M1001 --from NJ --to SZ --reason moved-region --at "$YEAR-03-10"
ok release M1004 --from SZ --to NJ --reason moved-region --at "$YEAR-11-20"
recorded
start_dashboard --org JS
get /api/plans
expect_eq "$(OUT=$BODY json 'j["pending_org"]')" JS "/api/plans pending_org"
get "/api/pending?x=1"
expect_eq "$CODE" 400 "/api/pending with a parameter"
get /api/pending
expect_eq "$CODE" 200 "/api/pending"
OUT=$BODY
expect_eq "$(json '[(o["org_id"], o["region"], o["depth"], o["waiting_in"], o["waiting_out"]) for o in j["orgs"]]')" \
	"[('JS', 320000, 0, 2, 0), ('NJ', 320100, 1, 1, 1), ('SZ', 320500, 1, 1, 1)]" "/api/pending per organisation"
REL1=$(date -d "$YEAR-03-10 00:00:00 +0800" +%s)000000
REL2=$(date -d "$YEAR-11-20 00:00:00 +0800" +%s)000000
expect_eq "$(json '[(o["org_id"], o.get("oldest_in"), o.get("oldest_out")) for o in j["orgs"]]')" \
	"[('JS', $REL1, None), ('NJ', $REL2, $REL1), ('SZ', $REL1, $REL2)]" "/api/pending: the oldest releases"
ok transfers --org NJ --pending --json
expect_eq "$(json 'len(j["transfers"])')" 2 "ledgerctl transfers --org NJ --pending"
PENDING_JS=$BODY
stop_dashboard
start_dashboard --plan "$PLAN"
get /api/pending
expect_eq "$(OUT=$BODY json '[(o["org_id"], o["waiting_in"], o["waiting_out"], o.get("oldest_in"), o.get("oldest_out")) for o in j["orgs"]]')" \
	"$(OUT=$PENDING_JS json '[(o["org_id"], o["waiting_in"], o["waiting_out"], o.get("oldest_in"), o.get("oldest_out")) for o in j["orgs"]]')" \
	"/api/pending without --org against --org JS"
stop_dashboard

# --- headless Chromium: the page, live -------------------------------------
stop_ledgerd
PUB="tcp://127.0.0.1:$(free_port)"
start_ledgerd --pub "$PUB" --plans "$ROOT/plans"
export LEDGER_URL="$URL"
start_dashboard --org JS
NJ_MEMBERS=$(province_figure new-members-yearly 320100)
NEW_MEMBERS=$(province_figure new-members-yearly)
expect_eq "$NEW_MEMBERS" 18 "new members before the browser (4 + 1 + 12 + 1)"

if ! browser_ready; then
	echo "$TEST_NAME: SKIP browser part: no Chromium at $CHROMIUM (scripts/install-deps.sh installs Debian's 'chromium'); everything else passed" >&2
	exit 77
fi
# A browser that never reads its stream must not hold up the others.
cat >"$TMPDIR/nonreader.py" <<'EOF'
import socket, sys, time
host, port = sys.argv[1][len("http://"):].split(":")
s = socket.create_connection((host, int(port)), timeout=5)
s.sendall(("GET /api/events?plan=%s HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n" % sys.argv[2]).encode())
time.sleep(40)
EOF
python3 "$TMPDIR/nonreader.py" "$HTTP" "$PLAN" &
STREAM_PIDS+=($!)
browser live "$HTTP" "$PLAN" "$YEAR" new-members-yearly 320100 "$NEW_MEMBERS" "$((NEW_MEMBERS + 1))" -- \
	"$LEDGERCTL" --timeout 10000 join M1007 --org NJ --path platform-work --channel online \
	--group delivery-rider --employment self-employed --region 320102 --national-id "$(national_id 320102 101007)" \
	--at "$YEAR-09-01"
expect_eq "$(province_figure new-members-yearly 320100)" "$((NJ_MEMBERS + 1))" "Nanjing after the browser test"
alive "after the browser test"

# What a reader sees: Chinese, a city's drill-down, the exports, the layout,
# the real curve of a past year, and the events behind a figure (a join in
# Suzhou voided: the figure does not count it, the events behind it do).
ok service education-grant --org SZ --member M1004 --yuan 2000.50 --at "$YEAR-10-02"
ok service education-grant --org NJ --member M1001 --yuan 300 --at "$YEAR-10-03"
ok join M1008 --org SZ --path platform-work --channel online --group delivery-rider \
	--employment self-employed --region 320505 --national-id "$(national_id 320102 101008)" --at "$YEAR-11-05"
recorded
ok void "$SEQ" --reason "recorded in the wrong federation"
recorded
ok progress "$PLAN" --year "$YEAR" --wait-seq "$SEQ" --json
# The days with joins that count, from the log itself (first joins, not voided, +08:00).
"$LEDGERCTL" export --from 1 --format jsonl >"$TMPDIR/log.jsonl"
JOIN_DAYS=$(python3 - "$TMPDIR/log.jsonl" "$YEAR" <<'EOF'
import datetime, json, sys
events = [json.loads(l) for l in open(sys.argv[1], encoding="utf-8")]
voided = {e["event_voided"]["target_seq"] for e in events if "event_voided" in e}
days = set()
for e in events:
    if "member_joined" in e and e["seq"] not in voided:
        d = (datetime.datetime.utcfromtimestamp(e["occurred_at"] / 1e6) + datetime.timedelta(hours=8)).date()
        if d.year == int(sys.argv[2]):
            days.add(d)
print(len(days))
EOF
)
# A past day's figures (the month-end report), as ledgerctl progress --at gives them.
ok progress "$PLAN" --year "$YEAR" --at "$YEAR-04-15" --json
DAY_FIGURE=$(json "[r['actual'] for r in j['rows'] if r['target_id'] == 'new-members-yearly' and r['region'] == 320000][0]")
[ "$DAY_FIGURE" -lt "$(province_figure new-members-yearly)" ] || fail "no join after $YEAR-04-15 to tell the day's figure from today's"
# The CSV ledgerctl writes for Suzhou's view, in Chinese: the page's must read the same.
LANG=zh_CN.UTF-8 LC_ALL=zh_CN.UTF-8 LANGUAGE= "$LEDGERCTL" progress "$PLAN" --year "$YEAR" --region 320500 --csv >"$TMPDIR/ctl.csv"
CTL_CSV=$(python3 -c 'import csv, json, sys; print(json.dumps([r[:11] for r in csv.reader(open(sys.argv[1], encoding="utf-8-sig", newline=""))], ensure_ascii=False))' "$TMPDIR/ctl.csv")
cat >"$TMPDIR/expect.json" <<EOF
{"plan": "$PLAN", "year": $YEAR, "target": "new-members-yearly", "ctlCsv": $CTL_CSV,
 "day": "$YEAR-04-15", "dayFigure": $DAY_FIGURE,
 "province": $(province_figure new-members-yearly),
 "city": 320500, "cityName": "苏州市",
 "cityFigures": {"new-members-yearly": $(province_figure new-members-yearly 320500),
                 "new-members-total": $(province_figure new-members-total 320500),
                 "education-grant-workers": 1},
 "moneyTarget": "education-grant-amount", "cityMoney": "¥2,000",
 "joinDays": $JOIN_DAYS, "cityVoided": 1,
 "pending": {"NJ": [1, 1], "SZ": [1, 1]}}
EOF
browser view "$HTTP" "$TMPDIR/expect.json"
# A city's gateway: its industry unions (children in its own region) by their
# own names; before 2026-12-07 22:50 each read the city's name (南京市).
ok org add NJ-U9 --name "南京市骑手行业工会" --kind industry-union --region 320100 --parent NJ --at "$YEAR-01-05"
stop_dashboard
start_dashboard --plan "$PLAN" --org NJ
browser names "$HTTP" "NJ=南京市" "NJ-U9=南京市骑手行业工会"
stop_dashboard
start_dashboard --org JS

# An open page while the daemon stops and starts again at the same address:
# it says the ledger does not answer (its stream, to the gateway, stays up),
# then live again with what was recorded meanwhile.
THEMED=$(province_figure themed-activities)
rm -f "$TMPDIR/page-ready" "$TMPDIR/page-down"
browser restart "$HTTP" "$PLAN" "$YEAR" themed-activities "$((THEMED + 1))" "$TMPDIR" &
BROWSER_PID=$!
wait_file() { for _ in $(seq 600); do [ -e "$1" ] && return 0; kill -0 "$BROWSER_PID" 2>/dev/null || break; sleep 0.1; done; return 1; }
wait_file "$TMPDIR/page-ready" || { wait "$BROWSER_PID" || true; fail "the page did not get ready for the restart"; }
stop_ledgerd
if wait_file "$TMPDIR/page-down"; then
	"$LEDGERD" --data "$TMPDIR/data" --listen "$URL" --pub "$PUB" --plans "$ROOT/plans" 2>>"$LEDGERD_LOG" &
	LEDGERD_PID=$!
	for _ in $(seq 100); do "$LEDGERCTL" --timeout 1000 head >/dev/null 2>&1 && break; sleep 0.1; done
	ok activity themed-activity --org NJ --participants 9 --at "$YEAR-11-20"
fi
wait "$BROWSER_PID" || fail "the browser test 'restart' failed (screenshots in $TMPDIR)"
alive "after the restart"

# The daemon gone: the page says so in a sentence, and the gateway stays.
stop_ledgerd
browser down "$HTTP"
kill -0 "$DASH_PID" 2>/dev/null || fail "ledger-dashboard died with the daemon"
stop_dashboard
echo "$TEST_NAME: ok"
