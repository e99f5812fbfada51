#!/usr/bin/env bash
# request_memory_test.sh — what a request can make the daemon allocate
# (docs/OPERATIONS.md, "Memory per request"). The daemon's peak RSS
# (VmHWM) is read before and after each hostile request of the receive
# limit (16 MiB by default), and must not grow by more than 16 times the
# request's size or 256 MiB, whichever is smaller; a request from an
# identity the role file does not name, or a role that may not make it,
# must cost about the message itself:
#  - `append { events {} × 8.4M }` (2 bytes per empty event) from an
#    unnamed identity, from a subscriber, and from an admin (refused on the
#    raw bytes: more events than a request may have);
#  - a read_log whose `types` repeats 8M times, and a subscribe filter whose
#    `kinds` does;
#  - an append of 10,000 real events in one request still works (its write
#    transaction's pages count too: a looser bound, below).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
# ASan keeps freed memory in a quarantine (256 MiB): without it the peak is
# what the daemon really holds at once, plus ASan's redzones and shadow.
export ASAN_OPTIONS="${ASAN_OPTIONS:-}:quarantine_size_mb=0"
need_ledgerctl

LIMIT=$((16 << 20))
ME_UID=$(id -u)

# hwm: the daemon's peak resident set in bytes.
hwm() { awk '/^VmHWM:/ { printf "%d\n", $2 * 1024 }' "/proc/$LEDGERD_PID/status"; }
# cpu: the daemon's user+system CPU time in ms.
cpu() { awk '{ print int(($14 + $15) * 1000 / '"$(getconf CLK_TCK)"') }' "/proc/$LEDGERD_PID/stat"; }

# gen KIND FILE: a hostile request of just under the receive limit.
gen() {
	PYTHONPATH="$ROOT/tests" python3 - "$1" "$2" "$LIMIT" <<'PY'
import sys
from sp import ld
kind, path, limit = sys.argv[1], sys.argv[2], int(sys.argv[3])
room = limit - 64
if kind == "empty-events":      # Request.append (10) { events (1) {} ... }
    req = ld(10, b"\x0a\x00" * (room // 2))
elif kind == "log-types":       # Request.read_log (21) { types (3) = 20 ... }
    req = ld(21, b"\x18\x14" * (room // 2))
elif kind == "sub-kinds":       # Request.subscribe (50) { filter (4) { kinds (1) = 20 ... } }
    req = ld(50, ld(4, b"\x08\x14" * (room // 2)))
else:
    raise SystemExit("unknown kind " + kind)
open(path, "wb").write(req)
PY
}

# send NAME FILE WANT: sends FILE, expects an Error answer matching WANT,
# and checks the growth of the daemon's peak RSS against the bound
# (BOUND_FACTOR times the request's size; default 16, at most 256 MiB).
send() {
	local name=$1 file=$2 want=$3 factor=${4:-16}
	local size before after grew bound c0 c1
	size=$(stat -c %s "$file")
	before=$(hwm)
	c0=$(cpu)
	nng_call "$file" "$TMPDIR/$name.out" 60 || fail "$name: no answer"
	c1=$(cpu)
	after=$(hwm)
	pb_decode Response <"$TMPDIR/$name.out" >"$TMPDIR/$name.txt"
	grep -Eq -- "$want" "$TMPDIR/$name.txt" ||
		{ cat "$TMPDIR/$name.txt" >&2; fail "$name: the answer lacks /$want/"; }
	grew=$((after - before))
	bound=$((size * factor))
	[ "$bound" -le $((256 << 20)) ] || bound=$((256 << 20))
	echo "$name: $size bytes: peak RSS $((before >> 20)) MiB -> $((after >> 20)) MiB" \
		"(+$((grew >> 20)) MiB; bound $((bound >> 20)) MiB), $((c1 - c0)) ms of CPU"
	[ "$grew" -le "$bound" ] ||
		fail "$name: the daemon grew by $((grew >> 20)) MiB for a request of $((size >> 20)) MiB"
}

gen empty-events "$TMPDIR/empty.bin"
gen log-types "$TMPDIR/types.bin"
gen sub-kinds "$TMPDIR/kinds.bin"

# as ROLE: restart the daemon with a role file giving addr:127.0.0.1 ROLE
# ("none": a file that names only our uid), so that each request's peak is
# measured from a fresh process.
as() {
	stop_ledgerd
	if [ "$1" = none ]; then
		printf '[uid:%s]\nrole = admin\n' "$ME_UID" >"$TMPDIR/roles.ini"
	else
		printf '[addr:127.0.0.1]\nrole = %s\n' "$1" >"$TMPDIR/roles.ini"
	fi
	start_ledgerd --roles "$TMPDIR/roles.ini"
	export LEDGER_URL="$URL"
}

# --- an identity the role file does not name: refused before decoding -------
as none
send unnamed "$TMPDIR/empty.bin" "addr:127.0.0.1 is not in the role file: append refused" 2
as none
send unnamed-types "$TMPDIR/types.bin" "addr:127.0.0.1 is not in the role file: read_log refused" 2

# --- a subscriber may not append: refused before decoding --------------------
as subscriber
send subscriber "$TMPDIR/empty.bin" "subscriber addr:127.0.0.1 may not record events" 2

# --- an admin: refused on the raw bytes, before anything is unpacked ---------
as admin
send admin "$TMPDIR/empty.bin" 'append.events has [0-9]+ elements; at most 10000' 2
as admin
send admin-types "$TMPDIR/types.bin" 'read_log.types has [0-9]+ elements; at most 10000' 2
as admin
send admin-kinds "$TMPDIR/kinds.bin" 'subscribe.filter.kinds has [0-9]+ elements; at most 10000' 2

# --- the largest real batch still goes through, within the bound -----------
as admin
ok org add JS --name "Jiangsu" --kind federation-province --region 320000 --at 2024-01-01
ok org add NJ --name "Nanjing" --kind federation-city --region 320100 --parent JS --at 2024-01-02
python3 - "$TMPDIR/batch.txt" <<'PY'
import datetime, sys
W = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
def national_id(i):
    born = datetime.date(1980, 1, 1) + datetime.timedelta(days=i // 500)
    body = "320102%s%03d" % (born.strftime("%Y%m%d"), i % 500 * 2 + 1)
    return body + "10X98765432"[sum(int(c) * w for c, w in zip(body, W)) % 11]
with open(sys.argv[1], "w") as f:
    f.write("append {\n")
    for i in range(10000):
        f.write('events { event_id: "%016d" occurred_at: 1706745600000000 '
                'member_joined { member_id: "M%05d" org_id: "NJ" join_path: PLATFORM_WORK '
                'channel: ONLINE worker_group: DELIVERY_RIDER employment: PARTIAL '
                'region: 320102 real_name: true national_id: "%s" } }\n'
                % (i, i, national_id(i)))
    f.write("}\n")
PY
pb_encode Request <"$TMPDIR/batch.txt" >"$TMPDIR/batch.bin"
# Its decoding takes 5 times its size; its write transaction adds LMDB's
# dirty pages (about 700 bytes an event), and 10,000 new members add their
# state to the write model and to the projections' tables in memory (which
# stay). Measured: 31 times its size on a release build (+24 MiB), 39 to 45
# under ASan without its quarantine (+30 to +35 MiB: the bound of 48 was
# crossed now and then by load alone). The bound here is 64: what it is for
# is a request whose cost runs away with its size, hundreds of times it.
send batch "$TMPDIR/batch.bin" "accepted: 10000" 64
echo "request_memory_test: ok"
