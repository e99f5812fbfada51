#!/usr/bin/env bash
# share-key.sh FIRST_DATA DATA... — gives the nodes of a cluster started on one
# machine (make run-cluster, the cluster tests, bench/cluster.sh) the first
# node's person-hash key, as an operator does (docs/REPLICATION.md, "One
# person-hash key"): every node hashes national IDs with it, and a node whose
# key differs halts. Makes FIRST_DATA/person-hash.key if the first node has
# none yet (what its first start would make: 32 random bytes, mode 0600), then
# copies it into each DATA that has none (a node's data directory before its
# first start; a hot backup carries its key and is left as it is). A DATA
# whose key differs already is named on stderr: that node will halt.
set -euo pipefail
FIRST=${1:?usage: scripts/share-key.sh FIRST_DATA DATA...}
shift
KEY=person-hash.key
umask 077
mkdir -p "$FIRST"
if [ ! -e "$FIRST/$KEY" ]; then
	head -c 32 /dev/urandom >"$FIRST/$KEY.new"
	mv "$FIRST/$KEY.new" "$FIRST/$KEY"
fi
for d in "$@"; do
	[ "$d" != "$FIRST" ] || continue
	if [ -e "$d/$KEY" ]; then
		cmp -s "$FIRST/$KEY" "$d/$KEY" ||
			echo "share-key.sh: $d/$KEY is not $FIRST/$KEY: that node will halt (copy the first node's key over it, or start it from an empty directory)" >&2
		continue
	fi
	mkdir -p "$d"
	cp "$FIRST/$KEY" "$d/$KEY.new"
	mv "$d/$KEY.new" "$d/$KEY"
done
