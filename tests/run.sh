#!/usr/bin/env bash
# run.sh BUILD_DIR [NAME...] — run the test suite against the binaries in BUILD_DIR.
#
# Every tests/test_*.c is a cmocka binary ($BUILD/tests/test_*); every
# tests/*_test.sh is a shell test that gets LEDGERD, LEDGERCTL and BUILD in its
# environment and its own temporary directory in TMPDIR. Each runs in its own
# process with a timeout. Names given on the command line select tests
# (e.g. `tests/run.sh build/asan test_store`). A test that exits 77 could not
# run what it needs (it says why) and counts as skipped. Ends with
# "N passed, N failed" (", N skipped" when any) and exits non-zero if
# anything failed.
set -u
BUILD=${1:?usage: tests/run.sh BUILD_DIR [NAME...]}
shift
BUILD=$(cd "$BUILD" && pwd)
ROOT=$(cd "$(dirname "$0")/.." && pwd)
export BUILD LEDGERD="$BUILD/ledgerd" LEDGERCTL="$BUILD/ledgerctl" ROOT
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$ROOT/tests/lsan.supp:print_suppressions=0}
TIMEOUT=${TEST_TIMEOUT:-300}

tests=()
for t in "$BUILD"/tests/test_*; do [ -x "$t" ] && tests+=("$t"); done
for t in "$ROOT"/tests/*_test.sh; do [ -f "$t" ] && tests+=("$t"); done

passed=0 failed=0 skipped=0 failures=()
for t in "${tests[@]}"; do
	name=$(basename "$t" .sh)
	if [ $# -gt 0 ]; then
		want=0
		for n in "$@"; do [ "$n" = "$name" ] && want=1; done
		[ $want -eq 1 ] || continue
	fi
	dir=$(mktemp -d "${TMPDIR:-/tmp}/ledgerd-test.XXXXXX")
	echo "=== $name"
	start=$(date +%s.%N)
	if [[ "$t" == *.sh ]]; then
		(cd "$dir" && TMPDIR="$dir" timeout -k 5 "$TIMEOUT" bash "$t")
	elif [ -n "${VALGRIND:-}" ]; then
		(cd "$dir" && TMPDIR="$dir" timeout -k 5 "$((TIMEOUT * 4))" valgrind -q --error-exitcode=99 \
			--leak-check=full --errors-for-leak-kinds=definite "$t")
	else
		(cd "$dir" && TMPDIR="$dir" timeout -k 5 "$TIMEOUT" "$t")
	fi
	rc=$?
	secs=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { print b - a }')
	if [ $rc -eq 77 ]; then
		skipped=$((skipped + 1))
		printf -- "--- skip %s (%.1fs)\n" "$name" "$secs"
		rm -rf "$dir"
	elif [ $rc -eq 0 ]; then
		passed=$((passed + 1))
		printf -- "--- ok   %s (%.1fs)\n" "$name" "$secs"
		rm -rf "$dir"
	else
		failed=$((failed + 1))
		failures+=("$name")
		printf -- "--- FAIL %s (exit %d, %.1fs; files kept in %s)\n" "$name" "$rc" "$secs" "$dir"
	fi
done

echo
[ $failed -gt 0 ] && echo "failed: ${failures[*]}"
if [ $skipped -gt 0 ]; then
	echo "$passed passed, $failed failed, $skipped skipped"
else
	echo "$passed passed, $failed failed"
fi
[ $failed -eq 0 ]
