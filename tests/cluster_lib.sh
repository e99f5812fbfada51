# cluster_lib.sh — shared by the tests of a cluster of ledgerd processes on
# loopback (sourced by them, after `set -euo pipefail`; not run by
# tests/run.sh). It sources lib.sh, needs ledgerctl, and traces every command
# with CLUSTER_TRACE=1 in the environment. Provides:
#   cluster_init N          ports, URLs and --peer settings of nodes 1..N (the
#                           first N are the voters the cluster bootstraps with;
#                           a node beyond them joins later); each node listens on
#                           its tcp:// URL (URLS[i], the peer URL) and on
#                           ipc:// (IPC[i], whose identity is uid:<user>), on
#                           127.0.0.1 or NODE_ADDR[i]; a node with NODE_NETNS[i]
#                           runs in that network namespace (ip netns exec); and
#                           the cluster key $TMPDIR/cluster.key; ALL = the
#                           voters' URLs, comma-separated (a client's list)
#   start_node I [VAR=VALUE...] [ARG...]
#                           start node I (its log in $TMPDIR/nI.log; listening
#                           on LISTEN[I] if set, else URLS[I]) with the
#                           environment and arguments given; NODE_ARGS are added
#                           to every node's arguments (after --cluster-key
#                           $TMPDIR/cluster.key: a test's own one overrides it).
#                           A node's data directory
#                           without a person-hash key gets node 1's first
#                           (share_key), as an operator copies it
#   share_key I             node 1's person-hash key into node I's data
#                           directory, if it has none (scripts/share-key.sh)
#   join_node I URLS [ARG...]
#                           start node I with --join (its own --peer setting
#                           added, its data directory made if absent) and add
#                           it with `ledgerctl --url URLS cluster add` (60 s);
#                           P_JOIN is its --peer setting
#   stop_node I [SIG]       stop node I (TERM, then KILL after 10 s)
#   stop_all                stop every node (on exit too)
#   leads I                 whether node I says, in its log, that it leads
#   wait_leader [I...]      L = the node that leads, of those given (any
#                           running node by default; fails after 20 s)
#   head_of I               node I's head seq
#   wait_head I SEQ         wait until node I's head is SEQ (fails after 30 s)
#   scrape I [NAME=VALUE...]
#                           node I's metrics (started with --metrics
#                           127.0.0.1:${MP[I]}), checked by tests/promtext.py;
#                           the samples as JSON in $TMPDIR/metrics.I.json
#   sample I NAME           one of them, as an integer
#   fingerprint I           the cluster key's fingerprint node I logged last
#   append FROM TO          events FROM..TO, one request each, each with its
#                           fixed event id, through whichever node leads (every
#                           URL given); each must be acknowledged; the ids go
#                           to $TMPDIR/acked
#   exactly_once I [OTHERS] every id in $TMPDIR/acked is in node I's log
#                           exactly once, beside OTHERS other events (0)
#   same_logs I J...        the nodes' log, links, fixes and Merkle databases are
#                           byte for byte the same (mdb_dump; stopped nodes)
#   die MSG                 the nodes' last log lines, then fail
[ -n "${CLUSTER_TRACE:-}" ] && { PS4='+ $(date +%T.%N | cut -c1-12) '; set -x; }
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
need_ledgerctl
command -v mdb_dump >/dev/null || fail "mdb_dump is not installed (lmdb-utils)"

declare -a CPORT RPORT MP PID URLS IPC PEERS_OF LISTEN
PEERS=()
NODE_ARGS=()
cluster_init() {
	local n=$1 i
	CLUSTER_N=$n
	for i in $(seq 1 8); do
		CPORT[$i]=$(free_port)
		RPORT[$i]=$(free_port)
		MP[$i]=$(free_port)
		URLS[$i]="tcp://127.0.0.1:${CPORT[$i]}"
		IPC[$i]="ipc://$TMPDIR/n$i.ipc"
		[ -z "${NODE_ADDR[$i]:-}" ] || URLS[$i]="tcp://${NODE_ADDR[$i]}:${CPORT[$i]}"
	done
	PEERS=()
	ALL=
	for i in $(seq 1 "$n"); do
		PEERS+=(--peer "$i,${NODE_ADDR[$i]:-127.0.0.1}:${RPORT[$i]},${URLS[$i]}")
		ALL+="${ALL:+,}${URLS[$i]}"
	done
	# The cluster key every node is given (members' keys travel wrapped with it).
	[ -f "$TMPDIR/cluster.key" ] || new_key "$TMPDIR/cluster.key"
}

share_key() {
	"$ROOT/scripts/share-key.sh" "$TMPDIR/n1" "$TMPDIR/n$1"
}

start_node() {
	local i=$1 env=() pre=()
	shift
	share_key "$i"
	while [ $# -gt 0 ] && [[ $1 == [A-Z_]*=* ]]; do
		env+=("$1")
		shift
	done
	# What leads() reads from here on is this start's (a node killed while
	# it led said so in its log).
	echo "--- test: cluster: node $i of the test's cluster started again" >>"$TMPDIR/n$i.log"
	[ -z "${NODE_NETNS[$i]:-}" ] || pre=(ip netns exec "${NODE_NETNS[$i]}")
	# NODE_NO_SYS_NICE[i]=1: the node without CAP_SYS_NICE (root's other
	# capabilities kept), as a user without LimitNICE runs it.
	[ -z "${NODE_NO_SYS_NICE[$i]:-}" ] || pre+=(setpriv --bounding-set -sys_nice)
	"${pre[@]}" env "${env[@]}" "$LEDGERD" --data "$TMPDIR/n$i" --listen "${LISTEN[$i]:-${URLS[$i]}}" --listen "${IPC[$i]}" \
		--node-id "$i" "${PEERS[@]}" --tree-head-key "$TMPDIR/n$i.tree-head.key" \
		--election-ms 1000 --verify-at-start 0 --cluster-key "$TMPDIR/cluster.key" \
		"${NODE_ARGS[@]}" "$@" 2>>"$TMPDIR/n$i.log" &
	PID[$i]=$!
}

join_node() {
	local i=$1 urls=$2
	shift 2
	P_JOIN="$i,127.0.0.1:${RPORT[$i]},${URLS[$i]}"
	mkdir -p "$TMPDIR/n$i"
	start_node "$i" --peer "$P_JOIN" --join "$@"
	wait_for 100 test -S "$TMPDIR/n$i.ipc" || die "no IPC socket n$i.ipc after 10 s"
	ok --url "$urls" --timeout 60000 cluster add "$P_JOIN"
}

stop_node() {
	[ -z "${PID[$1]:-}" ] || stop_pid "${PID[$1]}" "${2:-TERM}"
	PID[$1]=
}

stop_all() {
	local i
	for i in $(seq 1 8); do stop_node "$i"; done
}
trap stop_all EXIT

die() {
	local i
	for i in $(seq 1 8); do
		[ -f "$TMPDIR/n$i.log" ] || continue
		echo "--- node $i's log (last 20 lines):" >&2
		tail -n 20 "$TMPDIR/n$i.log" >&2 || true
	done
	fail "$@"
}

leads() {
	awk '/cluster: node [0-9]+ of/ { s = "" } /cluster: this node leads/ { s = "y" }
		/cluster: this node does not lead/ { s = "" } END { exit s == "y" ? 0 : 1 }' \
		"$TMPDIR/n$1.log"
}

wait_leader() {
	local i nodes=("$@")
	[ $# -gt 0 ] || nodes=(1 2 3 4 5 6 7 8)
	for _ in $(seq 200); do
		for i in "${nodes[@]}"; do
			[ -n "${PID[$i]:-}" ] && kill -0 "${PID[$i]}" 2>/dev/null || continue
			if leads "$i"; then
				L=$i
				return 0
			fi
		done
		sleep 0.1
	done
	die "no node${*:+ of $*} leads after 20 s"
}

head_of() {
	"$LEDGERCTL" --timeout 5000 --url "${URLS[$1]}" --json head 2>/dev/null |
		python3 -c 'import json,sys; j=json.load(sys.stdin); print(j.get("seq", 0))' 2>/dev/null ||
		echo -1
}

wait_head() {
	for _ in $(seq 300); do
		[ "$(head_of "$1")" = "$2" ] && return 0
		sleep 0.1
	done
	die "node $1's head is $(head_of "$1"), not $2, after 30 s"
}

# fingerprint I: the cluster key's fingerprint node I logged last
# (keystore_fingerprint).
fingerprint() {
	grep -o "wrapped with the cluster key .*(fingerprint [0-9a-f]\{16\})" "$TMPDIR/n$1.log" |
		tail -1 | grep -o "[0-9a-f]\{16\})" | tr -d ')'
}

scrape() {
	local i=$1
	shift
	curl -sf "http://127.0.0.1:${MP[$i]}/metrics" >"$TMPDIR/metrics.$i" ||
		die "node $i's metrics cannot be read"
	python3 "$ROOT/tests/promtext.py" "$TMPDIR/metrics.$i" "$@" >"$TMPDIR/metrics.$i.json" ||
		die "node $i's metrics: wrong or unexpected (above)"
}

sample() {
	python3 -c 'import json,sys; print(int(json.load(open(sys.argv[1]))[sys.argv[2]]))' \
		"$TMPDIR/metrics.$1.json" "$2"
}

append() {
	local k eid
	for k in $(seq "$1" "$2"); do
		eid=$(printf '4e71a7%026x' "$k")
		"$LEDGERCTL" --timeout 10000 --url "$ALL" workforce 320200 --group courier \
			--count "$k" --event-id "$eid" --at 2026-02-01 >/dev/null 2>>"$TMPDIR/append.err" ||
			{ cat "$TMPDIR/append.err" >&2; die "event $k was not acknowledged"; }
		echo "$eid" >>"$TMPDIR/acked"
	done
}

exactly_once() {
	ctl --url "${URLS[$1]}" export --format jsonl
	[ "$RC" -eq 0 ] || { show export; die "export from node $1 failed"; }
	python3 - "$TMPDIR/acked" "$TMPDIR/out" "${2:-0}" <<'EOF' || die "node $1: acknowledged events lost or doubled"
import json, sys
acked = [l.strip() for l in open(sys.argv[1]) if l.strip()]
ids = {}
for line in open(sys.argv[2]):
    if line.strip():
        eid = json.loads(line).get("event_id", "")
        ids[eid] = ids.get(eid, 0) + 1
lost = [a for a in acked if ids.get(a, 0) != 1]
extra = [e for e in ids if e not in set(acked)]
if lost or len(extra) != int(sys.argv[3]):
    print("lost or doubled:", lost[:5], "others:", len(extra), extra[:5], file=sys.stderr)
    sys.exit(1)
EOF
}

same_logs() {
	local first=$1 i db
	for i in "$@"; do
		for db in log links fixes merkle; do
			mdb_dump -s "$db" "$TMPDIR/n$i" >"$TMPDIR/n$i.$db.dump" ||
				die "mdb_dump of node $i's $db failed"
		done
	done
	for i in "$@"; do
		for db in log links fixes merkle; do
			cmp -s "$TMPDIR/n$first.$db.dump" "$TMPDIR/n$i.$db.dump" ||
				die "nodes $first and $i: their $db databases differ"
		done
	done
}

# catchup_cluster: three nodes whose plain-TCP clients on loopback are
# subscribers (a node's catch-up reads pages as one), a marker every 8
# entries keeping 4, each node with metrics (start N restarts one); started,
# a leader waited for (L), F a follower.
catchup_cluster() {
	cat >"$TMPDIR/roles.ini" <<R
[uid:$(id -un)]
role = admin

[addr:127.0.0.1]
role = subscriber
R
	cluster_init 3
	NODE_ARGS=(--roles "$TMPDIR/roles.ini" --snapshot-threshold 8 --snapshot-trailing 4)
	start() { start_node "$1" --metrics "127.0.0.1:${MP[$1]}"; }
	for i in 1 2 3; do start "$i"; done
	wait_leader
	F=$((L % 3 + 1))
}

# tamper_peers [MODE]: node F's next start sees each other node's client URL
# through a proxy of tests/sp_tamper.py (MODE as it takes it; none: pages of
# records altered), which writes what it did to $TMPDIR/tampered; PEERS is
# set for that start, the proxies' PIDs are TAMPER_PIDS. untamper_peers
# stops the proxies and gives PEERS back.
tamper_peers() {
	local i url tp
	SAVED_PEERS=("${PEERS[@]}")
	PEERS=()
	TAMPER_PIDS=()
	for i in $(seq 1 "$CLUSTER_N"); do
		url=${URLS[$i]}
		if [ "$i" -ne "$F" ]; then
			tp=$(free_port)
			python3 "$ROOT/tests/sp_tamper.py" "$tp" "${CPORT[$i]}" "$TMPDIR" "$@" &
			TAMPER_PIDS+=($!)
			url="tcp://127.0.0.1:$tp"
		fi
		PEERS+=(--peer "$i,127.0.0.1:${RPORT[$i]},$url")
	done
}
untamper_peers() {
	kill "${TAMPER_PIDS[@]}" 2>/dev/null || true
	wait "${TAMPER_PIDS[@]}" 2>/dev/null || true
	TAMPER_PIDS=()
	PEERS=("${SAVED_PEERS[@]}")
}
