# sink_lib.sh — shared by the sink tests (sink_test.sh, sink_pg_test.sh,
# sink_upgrade_kill_test.sh; sourced after lib.sh, which gives
# ctl/ok/recorded/fail).
#
#   sink_corrections PREFIX    records, through ledgerctl, events of every kind
#                              a correction can reach and voids or amends them
#                              (members SINKT-PREFIX-N): joins voided and
#                              amended (another city, another month), transfers
#                              voided and amended, an end voided, refunds (in
#                              full, one voided), affiliations, a profile
#                              change, activities, services, an organisation
#                              update, a workforce estimate, funds, a station;
#                              a transfer dated before its join; a transfer
#                              in two steps accepted, one whose
#                              acceptance was voided (its release pending),
#                              and a release withdrawn (voided).
#                              Sets LAST_SEQ to the last seq it recorded.
#   sink_expect_corrected DB PREFIX   checks a sink database (SQLite file or
#                              PostgreSQL URL, source 'ledger' unless
#                              SINK_SOURCE) shows those corrections in effect.
#   sql DB QUERY               one answer of a query, as text ('|' between
#                              columns, one row per line)
#   sink_dump DB               canonical dump of every table (sink_check.py)
#   start_pg                   a private PostgreSQL on a free port (PG=its url
#                              base); stop_pg. Exit 77 when not installed.
#   need_sink TOOL             SINK and GEN (the sink and ledger-gen of the
#                              build), and TOOL (psql or sqlite3) installed.

SINK_CHECK="$ROOT/tests/sink_check.py"

need_sink() {
	need_ledgerctl
	SINK="$BUILD/ledger-sink"
	GEN="$BUILD/ledger-gen"
	[ -x "$SINK" ] || fail "no sink at '$SINK' (make programs)"
	command -v "$1" >/dev/null || fail "'$1' is not installed (scripts/install-deps.sh)"
}

sql() {
	if [[ "$1" == postgres* ]]; then
		psql -X -q -A -t -v ON_ERROR_STOP=1 -c "SET TimeZone = 'UTC'" -c "$2" "$1"
	else
		sqlite3 "$1" "$2"
	fi
}

sink_dump() { python3 "$SINK_CHECK" dump "$1"; }

# A national ID of the right form for test member k (the server only hashes it).
nid() { national_id 110101 "$1"; }

# The organisations ledger-gen makes under the prefix: three cities' rider
# platform unions, Nanjing's federation, and its themed-activity organiser.
# Times are UTC (Z): the dates the tables show are those of the UTC times.
sink_corrections() {
	local p=$1 NJ="$1-320100-rider-meituan" SZ="$1-320500-rider-meituan" WX="$1-320200-rider-meituan"
	local m="SINKT-$p" J
	local joinargs=(--path platform-work --channel online --group delivery-rider
		--employment self-employed --platform meituan)
	# 1. a join voided: the member is gone
	ok join "$m-1" --national-id "$(nid 1)" --org "$NJ" --region 320102 "${joinargs[@]}" --at 2025-02-10T02:00:00Z; recorded
	ok void "$SEQ" --reason "joined twice by mistake"
	# 2. a join amended: another city, another month, the real-name check done
	ok join "$m-2" --national-id "$(nid 2)" --org "$NJ" --region 320102 "${joinargs[@]}" --at 2025-03-05T02:00:00Z; recorded
	ok amend "$SEQ" --reason "wrong branch and date" join "$m-2" --national-id "$(nid 2)" --org "$SZ" --region 320505 \
		"${joinargs[@]}" --real-name yes --at 2024-12-20T03:00:00Z
	# 3. a transfer voided (a later payment still stands)
	ok join "$m-3" --national-id "$(nid 3)" --org "$NJ" --region 320102 "${joinargs[@]}" --at 2025-01-06T02:00:00Z
	ok transfer "$m-3" --from "$NJ" --to "$SZ" --reason moved-region --at 2025-04-01T02:00:00Z; recorded
	J=$SEQ
	ok dues pay "$m-3" --fen 1200 --from 202501 --to 202512 --method wechat-pay --at 2025-05-01T02:00:00Z
	ok void "$J" --reason "did not move after all"
	# 4. a transfer amended: to a third city, later
	ok join "$m-4" --national-id "$(nid 4)" --org "$NJ" --region 320102 "${joinargs[@]}" --at 2025-01-07T02:00:00Z
	ok transfer "$m-4" --from "$NJ" --to "$SZ" --reason moved-region --at 2025-04-02T02:00:00Z; recorded
	ok amend "$SEQ" --reason "moved to Wuxi, not Suzhou" transfer "$m-4" --from "$NJ" --to "$WX" \
		--reason changed-employer --at 2025-06-01T02:00:00Z
	# 5. an end voided: active again
	ok join "$m-5" --national-id "$(nid 5)" --org "$NJ" --region 320102 "${joinargs[@]}" --at 2025-01-08T02:00:00Z
	ok end "$m-5" --reason left --at 2025-07-01T02:00:00Z; recorded
	ok void "$SEQ" --reason "recorded for the wrong member"
	# 6. refunds in full: months no longer settled; one refund voided again
	for k in 6 7; do
		ok join "$m-$k" --national-id "$(nid $k)" --org "$NJ" --region 320102 "${joinargs[@]}" --at 2025-01-09T02:00:00Z
		ok dues pay "$m-$k" --fen 1200 --from 202501 --to 202512 --method cash --at 2025-01-10T02:00:00Z
		ok dues pay "$m-$k" --fen 1200 --from 202601 --to 202612 --method cash --at 2025-02-10T02:00:00Z; recorded
		ok dues refund "$m-$k" --fen 1200 --paid-seq "$SEQ" --at 2025-03-10T02:00:00Z; recorded
	done
	ok void "$SEQ" --reason "refund not paid out"
	# 7. an affiliation voided; a disaffiliation voided; a profile change voided
	ok join "$m-8" --national-id "$(nid 8)" --org "$NJ" --region 320102 "${joinargs[@]}" --at 2025-01-11T02:00:00Z
	ok affiliate "$m-8" --org "$p-320102-street" --kind residence --at 2025-02-11T02:00:00Z; recorded
	ok void "$SEQ" --reason "lives elsewhere"
	ok join "$m-9" --national-id "$(nid 9)" --org "$NJ" --region 320102 "${joinargs[@]}" --at 2025-01-12T02:00:00Z
	ok affiliate "$m-9" --org "$p-320102-street" --kind residence --at 2025-02-12T02:00:00Z
	ok disaffiliate "$m-9" --org "$p-320102-street" --at 2025-03-12T02:00:00Z; recorded
	ok void "$SEQ" --reason "still lives there"
	ok profile "$m-9" --group courier --at 2025-04-12T02:00:00Z; recorded
	ok void "$SEQ" --reason "still a rider"
	# 8. activities: one amended (more participants, another year), one voided
	ok activity themed-activity --org "$NJ" --participants 30 --title "sink test" --at 2025-05-05T02:00:00Z; recorded
	ok amend "$SEQ" --reason "head count corrected" activity themed-activity --org "$NJ" \
		--participants 45 --title "sink test" --at 2024-05-05T02:00:00Z
	ok activity service-fair --org "$NJ" --participants 300 --at 2025-05-06T02:00:00Z; recorded
	ok void "$SEQ" --reason "never held"
	# 9. services: to a non-member voided, to a member amended
	ok service condolence-visit --org "$NJ" --quantity 7 --at 2025-05-07T02:00:00Z; recorded
	ok void "$SEQ" --reason "duplicate"
	ok service condolence-visit --org "$NJ" --member "$m-3" --quantity 1 --at 2025-05-08T02:00:00Z; recorded
	ok amend "$SEQ" --reason "two visits" service condolence-visit --org "$SZ" --member "$m-3" \
		--quantity 2 --at 2025-05-08T02:00:00Z
	# 10. an organisation's new name voided; a workforce estimate, funds and a
	#     station amended
	ok org update "$NJ" --name "改名又撤回" --at 2025-05-09T02:00:00Z; recorded
	ok void "$SEQ" --reason "renamed by mistake"
	ok workforce 320100 --group delivery-rider --count 999 --at 2025-05-10T02:00:00Z; recorded
	ok amend "$SEQ" --reason "survey corrected" workforce 320100 --group delivery-rider --count 1234 \
		--at 2025-05-10T02:00:00Z
	#     and a survey of 2023 entered late: recorded last, in force only before the others
	ok workforce 320100 --group delivery-rider --count 555 --source "2023年摸底（补录）" \
		--at 2023-06-30T02:00:00Z
	ok funds "$p-320000" "$p-320100" --fen 500000 --purpose funding-allocation --at 2025-05-11T02:00:00Z; recorded
	ok amend "$SEQ" --reason "amount corrected" funds "$p-320000" "$p-320100" --fen 600000 \
		--purpose funding-allocation --at 2025-05-11T02:00:00Z
	ok station add "$m-ST" --org "$NJ" --kind rider-home --region 320102 --name "骑手之家" --at 2025-05-12T02:00:00Z; recorded
	ok amend "$SEQ" --reason "it is a love station" station add "$m-ST" --org "$NJ" --kind love-station \
		--region 320102 --name "爱心驿站" --at 2025-05-12T02:00:00Z
	# 11. a transfer dated before the join (the ledger takes it within a
	#     day of the join since 2026-12-07, by any amount in an older log,
	#     and applies it after the join): the member is where it took it
	ok join "$m-10" --national-id "$(nid 10)" --org "$NJ" --region 320102 "${joinargs[@]}" --at 2025-03-01T02:00:00Z
	ok transfer "$m-10" --from "$NJ" --to "$SZ" --reason moved-region --at 2025-02-28T12:00:00Z
	# 12. a transfer in two steps: it counts at the acceptance, not the release
	ok join "$m-11" --national-id "$(nid 11)" --org "$NJ" --region 320102 "${joinargs[@]}" --at 2025-03-01T02:00:00Z
	ok release "$m-11" --from "$NJ" --to "$SZ" --reason moved-region --at 2025-06-01T02:00:00Z; recorded
	ok accept "$SEQ" --note "accepted" --at 2025-06-03T02:00:00Z
	# 13. ... and one whose acceptance was voided: the release waits again
	ok join "$m-12" --national-id "$(nid 12)" --org "$NJ" --region 320102 "${joinargs[@]}" --at 2025-03-01T02:00:00Z
	ok release "$m-12" --from "$NJ" --to "$SZ" --reason moved-region --at 2025-06-01T02:00:00Z; recorded
	ok accept "$SEQ" --at 2025-06-03T02:00:00Z; recorded
	ok void "$SEQ" --reason "accepted the wrong rider"
	# 14. a release withdrawn (voided): no release, the member stays
	ok join "$m-13" --national-id "$(nid 13)" --org "$NJ" --region 320102 "${joinargs[@]}" --at 2025-03-01T02:00:00Z
	ok release "$m-13" --from "$NJ" --to "$WX" --reason moved-region --at 2025-06-01T02:00:00Z; recorded
	ok void "$SEQ" --reason "released the wrong rider"
	LAST_SEQ=$SEQ
	ok head
	LAST_SEQ=$(awk '{print $3}' <<<"$OUT")
}

sink_expect_corrected() {
	local db=$1 p=$2 src=${SINK_SOURCE:-ledger} m="SINKT-$2"
	local w="source = '$src'"
	expect_eq "$(sql "$db" "SELECT count(*) FROM members WHERE $w AND member_id = '$m-1'")" 0 \
		"$db: the member whose only join was voided"
	expect_eq "$(sql "$db" "SELECT count(*) FROM memberships WHERE $w AND member_id = '$m-1'")" 0 \
		"$db: the voided join's membership"
	expect_eq "$(sql "$db" "SELECT org_id || '|' || CASE WHEN real_name THEN 1 ELSE 0 END || '|' || substr(CAST(joined_at AS TEXT), 1, 10) FROM memberships WHERE $w AND member_id = '$m-2'")" \
		"$p-320500-rider-meituan|1|2024-12-20" "$db: the amended join"
	expect_eq "$(sql "$db" "SELECT org_id || '|' || transfers FROM members WHERE $w AND member_id = '$m-3'")" \
		"$p-320100-rider-meituan|0" "$db: the member whose transfer was voided"
	expect_eq "$(sql "$db" "SELECT count(*) FROM transfers WHERE $w AND member_id = '$m-3'")" 0 \
		"$db: the voided transfer"
	expect_eq "$(sql "$db" "SELECT org_id FROM dues WHERE $w AND member_id = '$m-3'")" \
		"$p-320100-rider-meituan" "$db: the payment after the voided transfer is the first organisation's"
	expect_eq "$(sql "$db" "SELECT to_org_id || '|' || reason FROM transfers WHERE $w AND member_id = '$m-4'")" \
		"$p-320200-rider-meituan|CHANGED_EMPLOYER" "$db: the amended transfer"
	expect_eq "$(sql "$db" "SELECT status FROM members WHERE $w AND member_id = '$m-5'")" ACTIVE \
		"$db: the member whose end was voided"
	expect_eq "$(sql "$db" "SELECT dues_paid_through || '|' || dues_paid_fen FROM members WHERE $w AND member_id = '$m-7'")" \
		"202612|2400" "$db: the member whose refund was voided"
	expect_eq "$(sql "$db" "SELECT dues_paid_through || '|' || dues_paid_fen FROM members WHERE $w AND member_id = '$m-6'")" \
		"202512|1200" "$db: the member refunded in full"
	expect_eq "$(sql "$db" "SELECT count(*) FROM affiliations WHERE $w AND member_id = '$m-8'")" 0 \
		"$db: the voided affiliation"
	expect_eq "$(sql "$db" "SELECT affiliations || '|' || worker_group FROM members WHERE $w AND member_id = '$m-9'")" \
		"1|DELIVERY_RIDER" "$db: the voided disaffiliation and profile change"
	expect_eq "$(sql "$db" "SELECT count(*) FROM activities WHERE $w AND title = 'sink test' AND participants = 45")" 1 \
		"$db: the amended activity"
	expect_eq "$(sql "$db" "SELECT count(*) FROM services WHERE $w AND member_id = '$m-3' AND quantity = 2 AND org_id = '$p-320500-rider-meituan'")" 1 \
		"$db: the amended service"
	expect_eq "$(sql "$db" "SELECT name FROM organisations WHERE $w AND org_id = '$p-320100-rider-meituan'")" \
		"美团南京分公司工会" "$db: the organisation's voided new name"
	expect_eq "$(sql "$db" "SELECT count(*) FROM workforce WHERE $w AND workers = 1234")" 1 \
		"$db: the amended workforce estimate"
	expect_eq "$(sql "$db" "SELECT count(*) FROM workforce WHERE $w AND workers = 999")" 0 \
		"$db: the estimate before its amendment"
	expect_eq "$(sql "$db" "SELECT count(*) FROM funds WHERE $w AND amount_fen = 600000")" 1 \
		"$db: the amended funds"
	expect_eq "$(sql "$db" "SELECT kind FROM stations WHERE $w AND station_id = '$m-ST'")" LOVE_STATION \
		"$db: the amended station"
	expect_eq "$(sql "$db" "SELECT org_id FROM members WHERE $w AND member_id = '$m-10'")" \
		"$p-320500-rider-meituan" "$db: the member transferred by a transfer dated before the join"
	expect_eq "$(sql "$db" "SELECT from_org_id || '|' || to_org_id || '|' || note || '|' || substr(CAST(occurred_at AS TEXT), 1, 10) FROM transfers WHERE $w AND member_id = '$m-11'")" \
		"$p-320100-rider-meituan|$p-320500-rider-meituan|accepted|2025-06-03" "$db: the transfer in two steps"
	expect_eq "$(sql "$db" "SELECT org_id || '|' || transfers FROM members WHERE $w AND member_id = '$m-11'")" \
		"$p-320500-rider-meituan|1" "$db: the member accepted"
	expect_eq "$(sql "$db" "SELECT org_id || '|' || transfers || '|' || (SELECT count(*) FROM transfers x WHERE x.$w AND x.member_id = '$m-12') FROM members WHERE $w AND member_id = '$m-12'")" \
		"$p-320100-rider-meituan|0|0" "$db: the member whose acceptance was voided"
	# The releases: m-11's accepted (its acceptance names it), m-12's waiting
	# (nothing names it), m-13's withdrawn (no row).
	expect_eq "$(sql "$db" "SELECT r.from_org_id || '|' || r.to_org_id || '|' || r.reason || '|' || substr(CAST(r.occurred_at AS TEXT), 1, 10) || '|' || (SELECT count(*) FROM transfers x WHERE x.source = r.source AND x.release_seq = r.seq AND x.member_id = r.member_id) FROM releases r WHERE r.$w AND r.member_id = '$m-11'")" \
		"$p-320100-rider-meituan|$p-320500-rider-meituan|MOVED_REGION|2025-06-01|1" "$db: the accepted release"
	expect_eq "$(sql "$db" "SELECT count(*) FROM releases r WHERE r.$w AND r.member_id = '$m-12' AND NOT EXISTS (SELECT 1 FROM transfers x WHERE x.source = r.source AND x.release_seq = r.seq)")" \
		1 "$db: the release waiting again"
	expect_eq "$(sql "$db" "SELECT count(*) || '|' || (SELECT org_id FROM members WHERE $w AND member_id = '$m-13') FROM releases WHERE $w AND member_id = '$m-13'")" \
		"0|$p-320100-rider-meituan" "$db: the withdrawn release"
	expect_eq "$(sql "$db" "SELECT count(*) FROM transfers WHERE $w AND member_id = '$m-10' AND release_seq IS NULL")" \
		1 "$db: a transfer in one step names no release"
	expect_eq "$(sql "$db" "SELECT count(*) FROM events e WHERE $w AND (voided_by IS NOT NULL OR amended_by IS NOT NULL)")" \
		"$(sql "$db" "SELECT count(DISTINCT target_seq) FROM corrections WHERE $w")" \
		"$db: every corrected event marked in events"
}

PGDIR="" PGBIN=""
start_pg() {
	PGBIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1 || true)
	if [ -z "$PGBIN" ] || [ ! -x "$PGBIN/postgres" ] || [ ! -x "$PGBIN/initdb" ]; then
		echo "$TEST_NAME: SKIPPED: no PostgreSQL server binaries in /usr/lib/postgresql/*/bin" \
			"(scripts/install-deps.sh installs 'postgresql')"
		exit 77
	fi
	PG_AS=()
	PGDIR=$(mktemp -d /tmp/ledger-sink-pg.XXXXXX)
	if [ "$(id -u)" -eq 0 ]; then
		getent passwd postgres >/dev/null || fail "running as root, and there is no 'postgres' user to run the server as"
		chown postgres "$PGDIR"
		PG_AS=(runuser -u postgres --)
	fi
	"${PG_AS[@]}" "$PGBIN/initdb" -D "$PGDIR/data" -U ledger --auth=trust -E UTF8 --no-locale \
		>"$PGDIR/initdb.log" 2>&1 || { cat "$PGDIR/initdb.log" >&2; fail "initdb failed"; }
	PGPORT=$(free_port)
	pg_up
	PG="postgresql://ledger@127.0.0.1:$PGPORT"
}

# Starts (again) the server of start_pg on its port.
pg_up() {
	"${PG_AS[@]}" "$PGBIN/postgres" -D "$PGDIR/data" -p "$PGPORT" -k "$PGDIR" \
		-c listen_addresses=127.0.0.1 >>"$PGDIR/server.log" 2>&1 &
	for _ in $(seq 100); do "$PGBIN/pg_isready" -q -h 127.0.0.1 -p "$PGPORT" && break; sleep 0.1; done
	"$PGBIN/pg_isready" -q -h 127.0.0.1 -p "$PGPORT" || { cat "$PGDIR/server.log" >&2; fail "PostgreSQL did not start"; }
}

# Stops it (fast shutdown: sessions are cut, as in a restart).
pg_down() {
	if [ -n "$PGDIR" ] && [ -f "$PGDIR/data/postmaster.pid" ]; then
		kill -INT "$(head -n1 "$PGDIR/data/postmaster.pid")" 2>/dev/null || true
		for _ in $(seq 100); do [ -f "$PGDIR/data/postmaster.pid" ] || break; sleep 0.1; done
	fi
}

stop_pg() {
	pg_down
	[ -n "$PGDIR" ] && rm -rf "$PGDIR"
	PGDIR=""
}
