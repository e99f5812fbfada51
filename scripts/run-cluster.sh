#!/usr/bin/env bash
# run-cluster.sh BUILD_DIR DATA_DIR — what `make run-cluster` does: three
# ledgerd processes on loopback replicating one ledger (docs/REPLICATION.md),
# node N serving clients on tcp://127.0.0.1:747N (N = 1..3) with its raft
# transport on 127.0.0.1:748N and its data in DATA_DIR/nN. Clients follow the
# leader when given every URL:
#
#   ledgerctl --url tcp://127.0.0.1:7471,tcp://127.0.0.1:7472,tcp://127.0.0.1:7473 cluster
#
# A new cluster gets a demo province (DEMO=0: not; DEMO_MEMBERS=N: its size,
# default 2000), loaded through whichever node leads. Ctrl-C (or SIGTERM)
# stops the three. Each node's log goes to DATA_DIR/nN.log.
set -uo pipefail
BUILD=${1:?usage: scripts/run-cluster.sh BUILD_DIR DATA_DIR}
DATA=${2:?usage: scripts/run-cluster.sh BUILD_DIR DATA_DIR}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
DEMO=${DEMO:-1}
DEMO_MEMBERS=${DEMO_MEMBERS:-2000}
say() { echo "run-cluster.sh: $*" >&2; }

PEERS=()
URLS=
for i in 1 2 3; do
	PEERS+=(--peer "$i,127.0.0.1:748$i,tcp://127.0.0.1:747$i")
	URLS="$URLS${URLS:+,}tcp://127.0.0.1:747$i"
done
mkdir -p "$DATA"
# Every node hashes national IDs with node 1's person-hash key (a node whose
# key differs halts): copied before a node's first start.
"$ROOT/scripts/share-key.sh" "$DATA/n1" "$DATA/n2" "$DATA/n3"
# The cluster key (members' keys of personal data travel wrapped with it).
[ -f "$DATA/cluster.key" ] || (umask 077 && head -c 32 /dev/urandom >"$DATA/cluster.key")
pids=()
for i in 1 2 3; do
	"$BUILD/ledgerd" --data "$DATA/n$i" --listen "tcp://127.0.0.1:747$i" --node-id "$i" \
		--tree-head-key "$DATA/n$i.tree-head.key" --cluster-key "$DATA/cluster.key" \
		"${PEERS[@]}" --plans "$ROOT/plans" 2>>"$DATA/n$i.log" &
	pids+=($!)
done
stop() {
	for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null; done
}
trap stop INT TERM
say "three nodes: $URLS (logs in $DATA/n1.log ...)"

# Wait for a leader, then show the cluster.
for _ in $(seq 100); do
	"$BUILD/ledgerctl" --url "$URLS" --timeout 1000 cluster 2>/dev/null | grep -q 'leading' && break
	sleep 0.2
done
"$BUILD/ledgerctl" --url "$URLS" --timeout 2000 cluster
if [ "$DEMO" != 0 ]; then
	seq=$("$BUILD/ledgerctl" --url "$URLS" --timeout 2000 --json head 2>/dev/null |
		sed -n 's/^ *"seq": *\([0-9][0-9]*\).*/\1/p')
	if [ "${seq:-}" = 0 ]; then
		say "a new cluster: loading a demo province of $DEMO_MEMBERS members (DEMO=0 skips this)"
		"$BUILD/ledger-gen" --url "$URLS" --members "$DEMO_MEMBERS" --quiet
		"$BUILD/ledgerctl" --url "$URLS" --timeout 2000 cluster
	fi
fi
say "Ctrl-C stops the three nodes"
rc=0
for p in "${pids[@]}"; do
	wait "$p" || rc=$?
done
exit "$rc"
