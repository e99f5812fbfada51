#!/usr/bin/env bash
# install-deps.sh — install the Debian 12 packages ledgerd needs, if missing.
# Quiet and quick when everything is present; uses sudo when not root.
set -euo pipefail

PACKAGES=(
	build-essential pkg-config
	liblmdb-dev lmdb-utils            # the event log
	libnng-dev nng-utils              # transport; nngcat for the interop test
	libprotobuf-c-dev protobuf-c-compiler protobuf-compiler  # wire format; protoc for interop
	libuv1-dev                        # projection workers
	libssl-dev                        # SHA-256 of the hash chain
	libjansson-dev                    # JSON output of the clients
	libcmocka-dev                     # unit tests
	libyaml-dev                       # plan files (projections/plan.c; Makefile PKGS yaml-0.1)
	clang-14 libclang-rt-14-dev       # issue 7: libFuzzer harnesses (make fuzz)
	postgresql libpq-dev              # issue 7: the PostgreSQL peer of make bench (bench/pg.c)
)

missing=()
for p in "${PACKAGES[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "installing missing Debian packages: ${missing[*]}" >&2
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >&2
