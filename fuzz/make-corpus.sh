#!/usr/bin/env bash
# make-corpus.sh — (re)writes the request seed corpus, fuzz/corpus/request/:
# real requests written in protobuf text format and encoded by `protoc
# --encode` (one per event kind, a batch, every query), plus a few broken
# ones. The plan corpus (fuzz/corpus/plan/) is the shipped plans/*.yaml and
# the broken variants kept there by hand. Run from anywhere; needs protoc.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT="$ROOT/fuzz/corpus/request"
mkdir -p "$OUT"
at=1767139200000000 # 2025-12-31T00:00:00Z: before the harness's fixed clock
id() { printf '\\%03o' $(seq "$1" $(($1 + 15))); } # a 16-byte event id

enc() { # enc NAME: text format on stdin → $OUT/NAME.bin
	protoc --encode=ledger.Request -I"$ROOT/proto" "$ROOT/proto/ledger.proto" >"$OUT/$1.bin"
}
ev() { # ev NAME N BODY: one append of one event with body BODY
	printf 'append { events { event_id: "%s" occurred_at: %s %s } }\n' "$(id "$2")" "$at" "$3" | enc "$1"
}

ev org_registered 1 'org_registered { org_id: "JS" name: "江苏省联合会" kind: FEDERATION_PROVINCE region: 320000 }'
ev org_registered_child 2 'org_registered { org_id: "NJ-RIDER" name: "南京市外卖骑手工会" kind: FEDERATION_CITY parent_id: "JS" region: 320100 worker_group: TRUCK_DRIVER regional_level: TOWNSHIP platform: "meituan" admits_members: true }'
ev org_updated 3 'org_updated { org_id: "NJ" name: "南京" legal_person: true legal_person_code: "81320100MC1234567X" fund_account: "6222" reelected_at: 1735689600000000 term_years: 5 admits_members: false }'
ev org_dissolved 4 'org_dissolved { org_id: "NJ" reason: MERGED merged_into: "SZ" }'
ev member_joined 5 'member_joined { member_id: "M1" org_id: "NJ" join_path: PLATFORM_WORK channel: ONLINE worker_group: RIDE_HAILING_DRIVER employment: PARTIAL platform: "didi" region: 320102 real_name: true person_hash: "0123456789abcdef0123456789abcdef" }'
ev member_affiliated 6 'member_affiliated { member_id: "M1" org_id: "SZ" kind: RESIDENCE_AFFILIATION }'
ev member_disaffiliated 7 'member_disaffiliated { member_id: "M1" org_id: "SZ" }'
ev member_transferred 8 'member_transferred { member_id: "M1" from_org: "NJ" to_org: "SZ" reason: CHANGED_EMPLOYER note: "moved" }'
ev transfer_released 26 'transfer_released { member_id: "M1" from_org: "NJ" to_org: "SZ" reason: MOVED_REGION note: "moved to Suzhou" }'
ev transfer_accepted 27 'transfer_accepted { member_id: "M1" release_seq: 6 from_org: "NJ" to_org: "SZ" reason: MOVED_REGION note: "welcome" }'
ev membership_ended 9 'membership_ended { member_id: "M1" reason: LEFT note: "left the platform" }'
ev profile_changed 10 'profile_changed { member_id: "M1" worker_group: TRUCK_DRIVER employment: EMPLOYED platform: "huolala" region: 320500 real_name: true }'
ev dues_paid 11 'dues_paid { member_id: "M1" amount_fen: 1200 period_from: 202601 period_to: 202612 method: BANK_TRANSFER receipt: "R-1" }'
ev dues_waived 12 'dues_waived { member_id: "M1" period_from: 202601 period_to: 202606 reason: HARDSHIP }'
ev dues_refunded 13 'dues_refunded { member_id: "M1" amount_fen: 600 paid_seq: 11 note: "overpaid" }'
ev funds_allocated 14 'funds_allocated { from_org: "JS" to_org: "NJ" amount_fen: 1000000 purpose: DUES_SHARE note: "Q1" }'
ev service_delivered 15 'service_delivered { kind: CONDOLENCE_VISIT org_id: "NJ" member_id: "M1" quantity: 2 amount_fen: 50000 station_id: "ST-1" }'
ev service_nonmember 16 'service_delivered { kind: MUTUAL_AID_INSURANCE org_id: "NJ" }'
ev activity_held 17 'activity_held { kind: THEMED_ACTIVITY org_id: "NJ" participants: 120 enterprises_reached: 8 title: "骑手节" }'
ev station_opened 18 'station_opened { station_id: "ST-1" org_id: "NJ" kind: DRIVER_HOME region: 320102 name: "司机之家" }'
ev workforce_estimated 19 'workforce_estimated { region: 320100 worker_group: RIDE_HAILING_DRIVER count: 120000 source: "survey" }'
ev event_voided 20 'event_voided { target_seq: 5 reason: "entered twice" }'
ev event_amended 21 'event_amended { target_seq: 11 reason: "wrong amount" corrected_occurred_at: 1767000000000000 dues_paid { member_id: "M1" amount_fen: 2400 period_from: 202601 period_to: 202612 method: CASH } }'
ev amended_join 22 'event_amended { target_seq: 5 reason: "wrong org" member_joined { member_id: "M1" org_id: "SZ" join_path: LABOUR_RELATION channel: COLLECTIVE_REGISTRATION worker_group: TRUCK_DRIVER employment: EMPLOYED region: 320500 real_name: false person_hash: "0123456789abcdef0123456789abcdef" } }'
ev expected_version 23 'expected_version: 0 member_joined { member_id: "M2" org_id: "NJ" join_path: PLATFORM_WORK channel: ONLINE worker_group: TRUCK_DRIVER employment: PARTIAL region: 320102 real_name: true person_hash: "abcdefghijklmnopqrstuvwxyz012345" }'
# server-set fields sent by a client, and an event in the future
ev server_fields 24 'seq: 9 hash: "x" stream: "member/M1" org_dissolved { org_id: "NJ" reason: DISSOLVED }'
printf 'append { events { event_id: "%s" occurred_at: 4102444800000000 org_dissolved { org_id: "NJ" reason: DISSOLVED } } }\n' "$(id 25)" | enc future

# An atomic batch of several kinds.
{
	echo 'append { atomic: true'
	n=30
	for b in 'org_registered { org_id: "SZ" name: "苏州" kind: FEDERATION_CITY parent_id: "JS" region: 320500 }' \
		'member_joined { member_id: "M3" org_id: "SZ" join_path: PLATFORM_WORK channel: ONLINE worker_group: TRUCK_DRIVER employment: PARTIAL region: 320505 real_name: true person_hash: "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345" }' \
		'dues_paid { member_id: "M3" amount_fen: 300 period_from: 202601 period_to: 202603 method: CASH }'; do
		printf ' events { event_id: "%s" occurred_at: %s %s }\n' "$(id $n)" "$at" "$b"
		n=$((n + 16))
	done
	echo '}'
} | enc batch_atomic

# Reads and queries.
echo 'get_event { seq: 1 }' | enc get_event
echo 'read_log { from_seq: 1 limit: 10 types: MEMBER_JOINED types: DUES_PAID }' | enc read_log 2>/dev/null ||
	echo 'read_log { from_seq: 1 limit: 10 }' | enc read_log
echo 'read_stream { stream: "member/M1" from_version: 1 limit: 5 }' | enc read_stream
echo 'head {}' | enc head
echo 'get_member { member_id: "M1" consistency { min_seq: 3 timeout_ms: 500 } }' | enc get_member
echo 'coverage { org_id: "JS" depth: 2 period: 202601 }' | enc coverage
echo 'history { member_id: "M1" all: true }' | enc history
echo 'transfers { org_id: "NJ" from_time: 0 to_time: 1767225600000000 limit: 20 }' | enc transfers
echo 'transfers { org_id: "SZ" pending: true limit: 20 }' | enc transfers_pending
echo 'projections {}' | enc projections
echo 'progress { plan: "jiangsu-2024-2026" year: 2025 region: 320100 at: 1767225600000000 }' | enc progress
echo 'plans {}' | enc plans

# Broken: empty, garbage, an unknown top-level field, an unknown nested field,
# a truncated append.
: >"$OUT/empty.bin"
printf '\xff\xff\xff\xff\x0f' >"$OUT/garbage.bin"
printf '\xfa\x07\x00' >"$OUT/unknown_command.bin"                 # field 127, empty
printf '\x52\x04\xf8\x07\x01\x00' >"$OUT/unknown_nested.bin"       # append { field 127: 1 }
head -c 40 "$OUT/member_joined.bin" >"$OUT/truncated.bin"
ls "$OUT" | wc -l
