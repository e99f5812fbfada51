#!/usr/bin/env bash
# check-layers.sh LAYER... [-- DIR:LAYER...] — fail if a file includes a
# header from a layer above its own.
#
# The LAYERs are folders, lowest first: a file of a layer may include
# (#include "x.h") headers of its own folder and of the folders before it,
# nothing else. After --, DIR:LAYER puts a folder outside the stack on one
# layer of it: clients:proto lets clients/ include its own headers and
# proto/'s only. Headers generated into the build directory from
# proto/ledger.proto (ledger.pb-c.h, required.h) belong to proto/, the build
# information the Makefile writes for the metrics (build_info.h) to daemon/. A
# folder's subfolders (clients/ledgerctl/) belong to its layer.
# A quoted include is looked up as the compiler does: beside the file
# first, then in every folder named here. Prints every forbidden include
# with the reason and exits 1 if there is one.
set -u
cd "$(dirname "$0")/.."

layers=() extra=()
while [ $# -gt 0 ] && [ "$1" != "--" ]; do layers+=("$1"); shift; done
[ $# -gt 0 ] && shift
extra=("$@")
[ ${#layers[@]} -gt 0 ] || { echo "usage: $0 LAYER... [-- DIR:LAYER...]" >&2; exit 2; }

# allowed[DIR] = the folders DIR may include from, space-separated.
declare -A allowed rank
below=""
for i in "${!layers[@]}"; do
	l=${layers[$i]}
	below="$below $l"
	allowed[$l]="$below"
	rank[$l]=$i
done
for e in "${extra[@]}"; do
	d=${e%%:*} on=${e#*:}
	[ -n "${rank[$on]+x}" ] || { echo "check-layers: $e: '$on' is not a layer" >&2; exit 2; }
	allowed[$d]="${allowed[$on]} $d"
done
dirs=("${!allowed[@]}")

# The folder a quoted include of file f resolves to ("" if none).
resolve() {
	local f=$1 inc=$2 d
	d=$(dirname "$f")
	if [[ "$inc" == */* ]]; then
		[ -e "$d/$inc" ] && { realpath --relative-to=. "$d/$inc" | cut -d/ -f1; return; }
		echo ""
		return
	fi
	[ -e "$d/$inc" ] && { echo "${d%%/*}"; return; }
	case "$inc" in ledger.pb-c.h | required.h) echo proto; return ;; build_info.h) echo daemon; return ;; esac
	for d in "${layers[@]}" "${dirs[@]}"; do
		[ -e "$d/$inc" ] && { echo "$d"; return; }
	done
	echo ""
}

bad=0 checked=0
for d in "${dirs[@]}"; do
	for f in "$d"/*.[ch] "$d"/*/*.[ch]; do
		[ -e "$f" ] || continue
		checked=$((checked + 1))
		while IFS=: read -r line inc; do
			inc=${inc#*\"}
			inc=${inc%%\"*}
			from=$(resolve "$f" "$inc")
			if [ -z "$from" ]; then
				echo "check-layers: $f:$line includes \"$inc\", which is in no layer"
				bad=1
			elif [[ " ${allowed[$d]} " != *" $from "* ]]; then
				sees=$(printf '%s/ ' ${allowed[$d]})
				echo "check-layers: $f:$line includes \"$inc\" from $from/, but $d/ may" \
					"include only ${sees% } (a layer never includes one above it;" \
					"docs/ARCHITECTURE.md)"
				bad=1
			fi
		done < <(grep -n '^[[:space:]]*#[[:space:]]*include[[:space:]]*"' "$f" | sed 's/^\([0-9]*\):/\1:/')
	done
done
if [ $bad -ne 0 ]; then
	echo "check-layers: FAILED (the layers, lowest first: ${layers[*]})"
	exit 1
fi
echo "check-layers: $checked files, every include within its layer or below (${layers[*]})"
