#!/usr/bin/env bash
# feed_flood_test.sh — hostile subscribers on the live feed (NNG PUB, which
# anyone who reaches its address may join, and which sends every message to
# every subscriber). One subscriber that reads connects first; then 3,000
# that never read (4 KiB receive buffers): 200 from one address, 2,800 from
# 280 others. The daemon keeps at most --pub-max-subscribers (256) at once
# and --pub-max-per-ip (16) from one address and closes the rest as they
# arrive, saying so once in its log; then 20,000 events go through with the
# notices carrying them (--pub-events, up to 4 MiB a message). The reader
# still gets every notice up to the head and the signed heads; the daemon's
# memory for the held subscribers stays small (NNG counts a message per
# subscriber, it does not copy it), and the figures are printed.
# Before the limits: all 3,000 were held, each costing a send of every
# message (ingest 480 events/s instead of 24,000 with --pub-events, on a
# loaded 2-core machine) and the reader lost notices.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
need_ledgerctl

set +e
"$LEDGERD" --data "$TMPDIR/data" --pub "tcp://127.0.0.1:$(free_port)" --pub-max-per-ip 0 2>"$TMPDIR/bad.err"
RCD=$?
set -e
[ $RCD -ne 0 ] && grep -q "'pub-max-per-ip' must be 1 to 100000, got '0'" "$TMPDIR/bad.err" ||
	fail "--pub-max-per-ip 0: exit $RCD, $(cat "$TMPDIR/bad.err")"

PUB_PORT=$(free_port)
# Under ASan, freed memory is held in quarantine (256 MiB by default), which
# would count the refused subscribers' freed memory as the daemon's: kept
# small here so that RSS measures what is held.
ASAN_OPTIONS="${ASAN_OPTIONS:-}:quarantine_size_mb=4" start_ledgerd --pub "tcp://127.0.0.1:$PUB_PORT" --pub-events
export LEDGER_URL="$URL"
grep -q "feed: publishing commits and signed tree heads on tcp://127.0.0.1:$PUB_PORT with their events (at most 256 subscribers, 16 from one address)" \
	"$LEDGERD_LOG" || fail "the feed does not say its limits"
rss() { awk '/^VmRSS/ {print $2}' "/proc/$LEDGERD_PID/status"; }
RSS0=$(rss)

mkdir "$TMPDIR/feed"
python3 "$ROOT/tests/feed_clients.py" 127.0.0.1 "$PUB_PORT" "$TMPDIR/feed" 200@1 2800@280 &
CLIENTS=$!
trap 'kill $CLIENTS 2>/dev/null || true; stop_ledgerd' EXIT
for _ in $(seq 600); do
	[ -e "$TMPDIR/feed/ready" ] && break
	kill -0 "$CLIENTS" 2>/dev/null || fail "feed_clients.py ended before connecting"
	sleep 0.1
done
[ -e "$TMPDIR/feed/ready" ] || fail "the hostile subscribers did not connect within 60 s"
RSS1=$(rss)
grep -Eq "feed: closed [0-9]+ new subscribers? \(the last from 127\.[0-9.]+\): the limit of subscribers (at once|from one address)" \
	"$LEDGERD_LOG" || fail "the log does not say subscribers were closed"
[ "$(grep -c "feed: closed" "$LEDGERD_LOG")" -eq 1 ] || fail "the refusals were logged more than once a minute"

"$BUILD/ledger-gen" --url "$URL" --members 2000 --quiet >"$TMPDIR/gen.out" ||
	fail "ledger-gen: $(cat "$TMPDIR/gen.out")"
ok head --json
HEAD=$(json 'j["seq"]')
# ledger-gen --members 2000: about 20,000 events (19,980 since its two-step transfers)
[ "$HEAD" -gt 19000 ] || fail "only $HEAD events recorded"
RSS2=$(rss)
touch "$TMPDIR/feed/stop"
wait "$CLIENTS" || fail "feed_clients.py failed"

python3 - "$TMPDIR/feed/good.json" "$HEAD" "$RSS0" "$RSS1" "$RSS2" <<'PY'
import json, sys
g = json.load(open(sys.argv[1]))
head, rss0, rss1, rss2 = (int(x) for x in sys.argv[2:])
def fail(why):
    sys.exit("feed_flood_test: FAIL: " + why)
kept = g["kept_per_group"]
print("feed_flood_test: hostile held %d of 200 from one address, %d of 2800 from 280; "
      "closed %d" % (kept[0], kept[1], g["hostile_closed"]))
if kept[0] != 16:
    fail("%d subscribers from one address held, wanted 16" % kept[0])
if kept[0] + kept[1] != 255:
    fail("%d hostile subscribers held besides the reader, wanted 255" % (kept[0] + kept[1]))
r = g["ranges"]
if g.get("error"):
    fail("the reader's connection failed: " + g["error"])
if not r or r[0][0] != 1 or r[-1][1] != head:
    fail("the reader's notices do not run from seq 1 to the head %d: %s ... %s" % (head, r[:1], r[-1:]))
gaps = sum(1 for a, b in zip(r, r[1:]) if b[0] != a[1] + 1)
if any(b[0] <= a[1] for a, b in zip(r, r[1:])):
    fail("notices out of order or repeated")
if g["heads"] < 2:
    fail("the reader got %d signed heads" % g["heads"])
print("feed_flood_test: the reader got %d notices (%d gaps, filled by the pull protocol) "
      "and %d heads" % (len(r), gaps, g["heads"]))
print("feed_flood_test: daemon RSS %d KiB idle, %d KiB with 256 subscribers held "
      "(+%d), %d KiB after %d events published with their events (+%d)"
      % (rss0, rss1, rss1 - rss0, rss2, head, rss2 - rss1))
if rss1 - rss0 > 16 * 1024:
    fail("the held subscribers cost %d KiB of the daemon's memory (at most 16 MiB)" % (rss1 - rss0))
if rss2 - rss0 > 256 * 1024:
    fail("the daemon grew by %d KiB with stuck subscribers (at most 256 MiB)" % (rss2 - rss0))
PY
echo "feed_flood_test: ok"
