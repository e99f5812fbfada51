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
	libxxhash-dev                     # the write model's hash tables (core/mtable.c)
	libraft-dev                       # replication: C-Raft 0.15 (core/replica*.c)
	liblz4-dev                        # raft entries compressed (core/compress.c)
	liburcu-dev                       # the write model's indexes free what they outgrow (core/rcu.c)
	libssl-dev                        # SHA-256 of the hash chain
	libjansson-dev                    # JSON output of the clients
	libyaml-dev                       # plan files (plans/*.yaml)
	libcmocka-dev                     # unit tests
	openssl                           # roles_test.sh makes its CA and certificates
	libcsv-dev                        # CSV parsing of ledgerctl import
	libinih-dev                       # ledgerd --config file and --roles file
	libmicrohttpd-dev                 # metrics endpoint, ledger-dashboard (not NNG's HTTP: LIBRARIES.md)
	curl                              # tests: metrics scrapes, the dashboard's HTTP requests
	chromium                          # headless browser of the dashboard test (tests/browser/)
	fonts-noto-cjk                    # ... which must draw the page's Chinese
	libncurses-dev                    # ledger-monitor's full-screen view (ncursesw)
	tmux                              # monitor_test.sh drives ledger-monitor in a real terminal
	gdb                               # tests/run.sh prints a hung test's threads before stopping it
	# ledger-sink: its SQLite and PostgreSQL targets; the sqlite3 CLI and
	# a PostgreSQL 15 server for its tests and benchmark
	libsqlite3-dev sqlite3
	libpq-dev
	postgresql
	time                              # bench/subscribe.sh: the sink's CPU time
	clang-14 libclang-rt-14-dev       # libFuzzer harnesses (make fuzz)
	gettext                           # msgfmt: the message catalogues (po/*.po)
	locales                           # the zh_CN.UTF-8 locale the Chinese tests run in
	tzdata                            # the ledger's time zone (--tz, Asia/Shanghai)
	libsystemd-dev                    # ledgerd tells systemd it is ready (sd_notify)
	# make deb and its test (tests/deb_test.sh): the package tools, the manual
	# pages made from --help, their rendering, and the units' security rating
	debhelper dpkg-dev lintian help2man man-db systemd
)
# node and npm run the dashboard's browser test (playwright-core); only when
# no node is installed already.
command -v node >/dev/null 2>&1 || PACKAGES+=(nodejs npm)

missing=()
for p in "${PACKAGES[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"

if [ ${#missing[@]} -gt 0 ]; then
	echo "installing missing Debian packages: ${missing[*]}" >&2
	$SUDO apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >&2
fi

# The programs speak Chinese under LANG=zh_CN.UTF-8, which needs the locale
# generated (the locales package ships none): tests run them in it.
if ! locale -a 2>/dev/null | grep -qix 'zh_CN.utf8'; then
	echo "generating the zh_CN.UTF-8 locale" >&2
	$SUDO sed -i 's/^# *\(zh_CN.UTF-8 UTF-8\)/\1/' /etc/locale.gen
	grep -q '^zh_CN.UTF-8 UTF-8' /etc/locale.gen || echo 'zh_CN.UTF-8 UTF-8' | $SUDO tee -a /etc/locale.gen >/dev/null
	$SUDO locale-gen >&2
fi
