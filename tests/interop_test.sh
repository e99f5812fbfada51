#!/usr/bin/env bash
# interop_test.sh — the protocol is usable without any code of this project:
# requests are written in protobuf text format, encoded by `protoc --encode`,
# sent by `nngcat --req`, and the answers decoded by `protoc --decode`. Only
# the daemon under test is ours.
#
# Registers an organisation (and sends it again: idempotent), reads the head,
# gets event 1, and checks the errors for a rejected event, garbage bytes,
# requests of a client with a newer schema (unknown field, unknown command)
# and an empty request.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

start_ledgerd

# call NAME: encodes $TMPDIR/NAME.txt (a ledger.Request in text format),
# sends it, and decodes the answer into $TMPDIR/NAME.out.
call() {
	pb_encode Request <"$TMPDIR/$1.txt" >"$TMPDIR/$1.bin" ||
		fail "$1: protoc cannot encode the request"
	call_raw "$1"
}

# call_raw NAME: sends $TMPDIR/NAME.bin as it is; decodes into NAME.out.
call_raw() {
	nng_call "$TMPDIR/$1.bin" "$TMPDIR/$1.resp" || fail "$1: no answer from $URL"
	pb_decode Response <"$TMPDIR/$1.resp" >"$TMPDIR/$1.out" ||
		fail "$1: the answer ($(wc -c <"$TMPDIR/$1.resp") bytes) is not a ledger.Response"
}

# expect NAME REGEX WHAT: the decoded answer of NAME matches REGEX.
expect() {
	grep -Eq -- "$2" "$TMPDIR/$1.out" || {
		echo "--- answer to $1:" >&2
		cat "$TMPDIR/$1.out" >&2
		fail "$1: $3 (no match for /$2/)"
	}
}

expect_not() {
	if grep -Eq -- "$2" "$TMPDIR/$1.out"; then
		echo "--- answer to $1:" >&2
		cat "$TMPDIR/$1.out" >&2
		fail "$1: $3 (unexpected match for /$2/)"
	fi
}

now_us=$(date +%s%6N)
at=$((now_us - 60000000))

# 1. Register the province federation: one event, recorded as seq 1.
cat >"$TMPDIR/register.txt" <<EOF
append {
  events {
    event_id: "\001\002\003\004\005\006\007\010\011\012\013\014\015\016\017\020"
    occurred_at: $at
    org_registered {
      org_id: "JS"
      name: "Jiangsu New Employment Form Workers Federation"
      kind: FEDERATION_PROVINCE
      region: 320000
    }
  }
}
EOF
call register
expect_not register '^error' "the append was refused as a whole"
expect register '^append \{' "no AppendResult"
expect register '^    seq: 1$' "the event is not recorded as seq 1"
expect register '^  accepted: 1$' "accepted is not 1"
expect_not register 'duplicate: true' "a first append is reported as a duplicate"

# The same bytes again: the event id makes it a duplicate of seq 1.
call_raw register
expect register '^    seq: 1$' "the repeated event does not point at seq 1"
expect register 'duplicate: true' "the repeated event is not reported as a duplicate"
expect register '^  duplicates: 1$' "duplicates is not 1"

# 2. The head is seq 1, with a 32-byte hash.
echo 'head {}' >"$TMPDIR/head.txt"
call head
expect head '^head \{' "no Head in the answer"
expect head '^  seq: 1$' "the head is not seq 1"
expect head '^  hash: ' "the head has no hash"

# 3. Event 1 as stored: server fields set, body as sent.
echo 'get_event { seq: 1 }' >"$TMPDIR/get.txt"
call get
expect get '^event \{' "no Event in the answer"
expect get '^  seq: 1$' "wrong seq"
expect get "^  occurred_at: $at\$" "occurred_at is not what was sent"
expect get '^  stream: "org/JS"$' "wrong stream"
expect get '^  version: 1$' "wrong version"
expect get '^  recorded_at: [0-9]+$' "no recorded_at"
expect get '^  hash: ' "no hash"
expect get '^  prev_hash: ' "no prev_hash"
expect get '^    org_id: "JS"$' "org_id not stored"
expect get '^    kind: FEDERATION_PROVINCE$' "kind not stored"
expect get '^    region: 320000$' "region not stored"
expect_not get 'expected_version' "expected_version was stored"

# A seq that does not exist.
echo 'get_event { seq: 99 }' >"$TMPDIR/get99.txt"
call get99
expect get99 '^error \{' "getting seq 99 is not an error"
expect get99 'code: ERR_NOT_FOUND' "getting seq 99 is not ERR_NOT_FOUND"

# 4. A rejected event: per-event error inside the AppendResult.
cat >"$TMPDIR/reject.txt" <<EOF
append {
  events {
    event_id: "\021\002\003\004\005\006\007\010\011\012\013\014\015\016\017\020"
    occurred_at: $at
    org_registered { org_id: "NJ" kind: FEDERATION_CITY region: 320100 parent_id: "JS" }
  }
}
EOF
call reject
expect reject '^append \{' "no AppendResult for a rejected event"
expect reject 'code: ERR_MISSING_FIELD' "a missing name is not ERR_MISSING_FIELD"
expect reject 'field: ".*org_registered.name"' "the error does not name org_registered.name"
expect reject '^  rejected: 1$' "rejected is not 1"

# 5. Garbage bytes: the request as a whole is refused as malformed.
printf '\377\377\377\377\017garbage' >"$TMPDIR/garbage.bin"
call_raw garbage
expect garbage '^error \{' "garbage is not answered with an error"
expect garbage 'code: ERR_MALFORMED' "garbage is not ERR_MALFORMED"
expect garbage 'message: ".+"' "the error has no message"
expect_not garbage '^  seq: ' "the error names an event (seq) though the request had none"

# 6. A client with a newer schema: a field this server's schema lacks.
# Inside an event it is refused as ERR_UNKNOWN_FIELD (what is stored is what
# was understood); at the top level it is a command of a newer protocol.
cat >"$TMPDIR/newer.proto" <<'EOF'
syntax = "proto2";
package newer;
message OrgRegistered {
  optional string org_id = 1;
  optional string name = 2;
  optional int32 kind = 3;
  optional uint32 region = 5;
  optional string motto = 99;
}
message Event {
  optional bytes event_id = 2;
  optional int64 occurred_at = 3;
  optional OrgRegistered org_registered = 20;
}
message AppendRequest { repeated Event events = 1; }
message Request {
  optional AppendRequest append = 10;
  optional string teleport = 99;
}
EOF
newer() { protoc --encode=newer.Request -I"$TMPDIR" "$TMPDIR/newer.proto"; }
newer >"$TMPDIR/unknown.bin" <<EOF
append {
  events {
    event_id: "\061\002\003\004\005\006\007\010\011\012\013\014\015\016\017\020"
    occurred_at: $at
    org_registered { org_id: "NJ" name: "Nanjing" kind: 2 region: 320100 motto: "new" }
  }
}
EOF
call_raw unknown
expect unknown '^error \{' "an unknown field is not refused as a whole request"
expect unknown 'code: ERR_UNKNOWN_FIELD' "an unknown field in an event is not ERR_UNKNOWN_FIELD"
expect_not unknown '^  seq: ' "the error names an event (seq) though none was recorded"

echo 'teleport: "x"' | newer >"$TMPDIR/newcmd.bin"
call_raw newcmd
expect newcmd 'code: ERR_UNKNOWN_COMMAND' "a command of a newer schema is not ERR_UNKNOWN_COMMAND"

# 7. An empty request names no command.
: >"$TMPDIR/empty.bin"
call_raw empty
expect empty 'code: ERR_UNKNOWN_COMMAND' "an empty request is not ERR_UNKNOWN_COMMAND"

# The daemon is still there and its head unchanged.
call head
expect head '^  seq: 1$' "the head moved"
kill -0 "$LEDGERD_PID" 2>/dev/null || fail "ledgerd died"
echo "$TEST_NAME: ok"
