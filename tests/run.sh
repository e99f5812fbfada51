#!/usr/bin/env bash
# run.sh [--list] BUILD_DIR [NAME[:CASE,...]...] — run the test suite against
# the binaries in BUILD_DIR.
#
# Every tests/test_*.c is a cmocka binary ($BUILD/tests/test_*); every
# tests/*_test.sh is a shell test that gets LEDGERD, LEDGERCTL and BUILD in its
# environment and its own temporary directory in TMPDIR. Each runs in its own
# process with a timeout. Names given on the command line select tests, and a
# cmocka binary's name may be followed by ':' and its cases (comma-separated,
# `*` and `?` as in the shell):
#   tests/run.sh build/asan test_model ops_test        two whole tests
#   tests/run.sh build/asan test_daemon:test_crash_rounds
#   tests/run.sh build/asan 'test_daemon:test_kill*,test_reads' test_check:test_enums
#   tests/run.sh --list build/asan [NAME...]            every test and its cases
# The cases reach the binary as TEST (tests/testlib.h, tl_run_tests), which
# also works by hand: TEST=test_reads build/asan/tests/test_daemon; TEST set
# for the whole run applies to every cmocka binary (one with no such case is
# skipped). A name or case that matches nothing is an error. A test that exits
# 77 could not run what it needs (it says why) and counts as skipped. Ends with
# "N passed, N failed" (", N skipped" when any) and exits non-zero if
# anything failed. A test that leaves a process running (one with the test's
# TMPDIR in its environment: a daemon, a tmux server, a sleep) fails; the
# processes are named and stopped.
#
# TEST_JOBS (2) tests run at once, the slowest first (SLOW below), each
# printing its whole output when it ends, so that outputs never interleave;
# the machine has 2 cores and most tests spend their time waiting on
# daemons, so two at a time cut the tests' time from 24 minutes (one at a
# time, a quiet machine) to about 15. Every test already runs on a
# loaded machine in CI; TEST_JOBS=1 runs them one after the other, in order.
set -u
LIST=0
if [ "${1:-}" = "--list" ] || [ "${1:-}" = "-l" ]; then
	LIST=1
	shift
fi
BUILD=${1:?usage: tests/run.sh [--list] BUILD_DIR [NAME[:CASE,...]...]}
shift
BUILD=$(cd "$BUILD" && pwd)
ROOT=$(cd "$(dirname "$0")/.." && pwd)
export BUILD LEDGERD="$BUILD/ledgerd" LEDGERCTL="$BUILD/ledgerctl" ROOT
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$ROOT/tests/lsan.supp:print_suppressions=0}
TIMEOUT=${TEST_TIMEOUT:-300}
# Tests whose own work outgrows TIMEOUT on a slow host under ASan (seconds):
# diskfull_test starts some 2,000 ASan-built ledgerctl processes (batches
# until each volume fills, then every acknowledged batch read back), 160 s
# in a plain build, 270 s under ASan on a quiet host, over 300 s on a slower
# one (2026-12-05). ops_test took over 300 s under ASan in CI's run of
# 819247e while other tests ran on the same 2 cores (2026-12-06).
# deb_test builds the whole tree again, optimised, into the packages (make
# deb: make -j2 under dpkg-buildpackage) and runs lintian on them: at a
# load average of 20-24, make deb alone took 433 s (the build and the
# packages 351, lintian 82; 2026-12-07), and at load 20 the 300 s stopped
# the test before its checks.
# test_projections under ASan at load 20 was stopped at 300 s in its last
# case (of 28: 100,000 events generated and appended, then a rebuild
# killed in its third flush; make test's run of 40fd0f4, 2026-12-07).
# roles_test (a daemon started again and again, TLS handshakes) was stopped at 300 s
# in a plain build at load 22, still working (its daemon's log went on to
# the last second), and took 262 s in make test's run above.
declare -A LIMIT=([diskfull_test]=600 [ops_test]=600 [deb_test]=900 [test_projections]=600
	[roles_test]=600)
# Under valgrind, tests whose forked children _exit with their state still
# allocated (test_replica's crashes and simulations, on purpose): no leak
# check, whose report in each child would fail the test; every other error
# still counts.
declare -A VG_LEAKS=([test_replica]=no)
JOBS=${TEST_JOBS:-2}
[[ "$JOBS" =~ ^[1-9][0-9]?$ ]] || { echo "run.sh: TEST_JOBS must be 1-99, not '$JOBS'" >&2; exit 2; }
# The tests that take longest (over 40 s under ASan), started first so that
# the last to end is a short one.
SLOW="diskfull_test test_projections test_daemon sink_test sink_pg_test dashboard_test roles_test
deb_test ops_test cluster_test lang_test"
# The programs speak the user's language: the tests read their English,
# whatever the locale of whoever runs them (lang_test.sh asks for Chinese).
unset LC_ALL LANGUAGE
export LC_MESSAGES=C

tests=()
for t in "$BUILD"/tests/test_*; do [ -x "$t" ] && tests+=("$t"); done
for t in "$ROOT"/tests/*_test.sh; do [ -f "$t" ] && tests+=("$t"); done
if [ "$JOBS" -gt 1 ]; then
	# first[i]: the test SLOW names i-th (a sparse array expands in order).
	declare -A rank=()
	i=0
	for slow in $SLOW; do rank[$slow]=$((i++)); done
	first=() rest=()
	for t in "${tests[@]}"; do
		n=${t##*/} n=${n%.sh}
		if [ -n "${rank[$n]:-}" ]; then first[${rank[$n]}]=$t; else rest+=("$t"); fi
	done
	tests=("${first[@]}" "${rest[@]}")
fi

# The selection: want[NAME] = its cases ("" = all of them).
declare -A want=() known=()
for t in "${tests[@]}"; do known[$(basename "$t" .sh)]=$t; done
for arg in "$@"; do
	name=${arg%%:*} cases=""
	[[ "$arg" == *:* ]] && cases=${arg#*:}
	if [ -z "${known[$name]:-}" ]; then
		echo "run.sh: no test named '$name' in $BUILD/tests or tests/*_test.sh" >&2
		exit 2
	fi
	if [[ "$arg" == *:* ]]; then
		if [[ "${known[$name]}" == *.sh ]]; then
			echo "run.sh: '$name' is a shell test: it has no cases to name" >&2
			exit 2
		fi
		if [ -z "$cases" ]; then
			echo "run.sh: '$arg' names no case after ':'" >&2
			exit 2
		fi
		names=$(TEST_LIST=1 "${known[$name]}")
		IFS=, read -ra pats <<<"$cases"
		for pat in "${pats[@]}"; do
			hit=0
			while read -r n; do
				# shellcheck disable=SC2053 # $pat is a pattern on purpose
				[[ "$n" == $pat ]] && hit=1 && break
			done <<<"$names"
			if [ $hit -eq 0 ]; then
				echo "run.sh: $name has no case matching '$pat' (tests/run.sh --list $BUILD $name)" >&2
				exit 2
			fi
		done
	fi
	if [ -n "${want[$name]+set}" ]; then
		# Named twice: whole beats cases; otherwise the cases add up.
		if [ -z "${want[$name]}" ] || [ -z "$cases" ]; then
			want[$name]=""
		else
			want[$name]="${want[$name]},$cases"
		fi
	else
		want[$name]=$cases
	fi
done

if [ $LIST -eq 1 ]; then
	for t in "${tests[@]}"; do
		name=$(basename "$t" .sh)
		[ $# -gt 0 ] && [ -z "${want[$name]+set}" ] && continue
		if [[ "$t" == *.sh ]]; then
			echo "$name"
		else
			TEST_LIST=1 "$t" | sed "s/^/$name:/"
		fi
	done
	exit 0
fi

# left_running DIR: the pids of the processes that have TMPDIR=DIR in their
# environment (what a test started and did not stop).
left_running() {
	local p
	for p in /proc/[0-9]*; do
		grep -qzxF "TMPDIR=$1" "$p/environ" 2>/dev/null && echo "${p#/proc/}"
	done
	return 0
}

# stacks DIR: the threads of every process the test in DIR runs (gdb), for
# a test about to be stopped for taking too long: where it waits.
stacks() {
	local p
	for p in $(left_running "$1"); do
		[ "$(cat "/proc/$p/comm" 2>/dev/null)" = timeout ] && continue
		echo "--- threads of $p: $(tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null | cut -c1-200)"
		if command -v gdb >/dev/null; then
			timeout 60 gdb -batch -p "$p" -ex 'thread apply all bt' 2>&1 |
				grep -E '^(Thread|#)' | cut -c1-240
		else
			echo "(no gdb: $(cat "/proc/$p/wchan" 2>/dev/null))"
		fi
	done
}

# watchdog SECS DIR LABEL: 10 s before the test's timeout (SECS), prints its
# threads (stacks); stopped by TERM when the test ends first.
watchdog() {
	local s after=$(($1 > 20 ? $1 - 10 : $1))
	trap 'kill "$s" 2>/dev/null; exit 0' TERM
	sleep "$after" &
	s=$!
	wait "$s"
	echo "$3: still running after $after s; its threads:"
	stacks "$2"
}

# run_one TEST LABEL CASES: runs one test in a directory of its own; prints
# its output, then its verdict ("--- ok|skip|FAIL ..."), and exits 0 (ok),
# 77 (skipped) or 1.
run_one() {
	local t=$1 label=$2 cases=$3 dir start rc secs left p
	dir=$(mktemp -d "${TMPDIR:-/tmp}/ledgerd-test.XXXXXX")
	# A daemon started without a config file keeps its tree-head key under
	# $XDG_CONFIG_HOME: each test its own, never the user's.
	local runenv=(XDG_CONFIG_HOME="$dir/config")
	[ -n "$cases" ] && runenv+=(TEST="$cases")
	echo "=== $label"
	start=$(date +%s.%N)
	# The test's time limit: four times longer under valgrind.
	local limit=${LIMIT[$label]:-$TIMEOUT} dog
	[ -n "${VALGRIND:-}" ] && [[ "$t" != *.sh ]] && limit=$((TIMEOUT * 4))
	watchdog "$limit" "$dir" "$label" &
	dog=$!
	if [[ "$t" == *.sh ]]; then
		(cd "$dir" && env TMPDIR="$dir" "${runenv[@]}" timeout -k 5 "$limit" bash "$t")
	elif [ -n "${VALGRIND:-}" ]; then
		(cd "$dir" && env TMPDIR="$dir" "${runenv[@]}" timeout -k 5 "$limit" \
			valgrind -q --error-exitcode=99 --leak-check="${VG_LEAKS[$label]:-full}" \
				--errors-for-leak-kinds=definite --suppressions="$ROOT/tests/valgrind.supp" "$t")
	else
		(cd "$dir" && env TMPDIR="$dir" "${runenv[@]}" timeout -k 5 "$limit" "$t")
	fi
	rc=$?
	kill "$dog" 2>/dev/null
	wait "$dog" 2>/dev/null
	secs=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { print b - a }')
	left=$(left_running "$dir")
	if [ -n "$left" ]; then
		echo "$label: FAIL: left running after the test (stopped now):" >&2
		for p in $left; do
			echo "  $p $(tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null)" >&2
		done
		# shellcheck disable=SC2086 # one pid a word
		kill -TERM $left 2>/dev/null
		sleep 1
		left=$(left_running "$dir")
		# shellcheck disable=SC2086
		[ -z "$left" ] || kill -KILL $left 2>/dev/null
		if [ $rc -eq 0 ] || [ $rc -eq 77 ]; then rc=1; fi
	fi
	# Cases named on the command line that the binary does not have: an error, not a skip.
	if [ $rc -eq 77 ] && [ -n "$cases" ]; then
		rc=1
	fi
	if [ $rc -eq 77 ]; then
		printf -- "--- skip %s (%.1fs)\n" "$label" "$secs"
		rm -rf "$dir"
		return 77
	elif [ $rc -eq 0 ]; then
		printf -- "--- ok   %s (%.1fs)\n" "$label" "$secs"
		rm -rf "$dir"
		return 0
	fi
	printf -- "--- FAIL %s (exit %d, %.1fs; files kept in %s)\n" "$label" "$rc" "$secs" "$dir"
	return 1
}

passed=0 failed=0 skipped=0 failures=()
# tally RC LABEL
tally() {
	case $1 in
	0) passed=$((passed + 1)) ;;
	77) skipped=$((skipped + 1)) ;;
	*) failed=$((failed + 1)) failures+=("$2") ;;
	esac
}
declare -A job_label=() job_out=()
# reap: waits for one running test, prints its output whole, tallies it.
reap() {
	local pid rc
	wait -n -p pid "${!job_label[@]}"
	rc=$?
	cat "${job_out[$pid]}"
	rm -f "${job_out[$pid]}"
	tally "$rc" "${job_label[$pid]}"
	unset "job_label[$pid]" "job_out[$pid]"
}
for t in "${tests[@]}"; do
	name=$(basename "$t" .sh)
	[ $# -gt 0 ] && [ -z "${want[$name]+set}" ] && continue
	cases=${want[$name]:-}
	label=$name${cases:+:$cases}
	if [ "$JOBS" -eq 1 ]; then
		run_one "$t" "$label" "$cases"
		tally $? "$label"
		continue
	fi
	while [ "${#job_label[@]}" -ge "$JOBS" ]; do reap; done
	out=$(mktemp "${TMPDIR:-/tmp}/ledgerd-test-out.XXXXXX")
	run_one "$t" "$label" "$cases" >"$out" 2>&1 &
	job_label[$!]=$label job_out[$!]=$out
done
while [ "${#job_label[@]}" -gt 0 ]; do reap; done
echo
[ $failed -gt 0 ] && echo "failed: ${failures[*]}"
if [ $skipped -gt 0 ]; then
	echo "$passed passed, $failed failed, $skipped skipped"
else
	echo "$passed passed, $failed failed"
fi
[ $failed -eq 0 ]
