#!/usr/bin/env bash
# run.sh BUILD_DIR [SECONDS] — runs every libFuzzer harness of BUILD_DIR/fuzz/
# for SECONDS (default 60) each, starting from its checked-in seed corpus
# fuzz/corpus/<target>/ and the crash regressions fuzz/regress/<target>/.
# New interesting inputs go to BUILD_DIR/fuzz/work/<target>/ (not to the
# checked-in corpus); a crash is written to BUILD_DIR/fuzz/crashes/ and makes
# the run fail. Ends with "fuzzing: N harnesses ran clean, N failed".
set -u
BUILD=${1:?usage: fuzz/run.sh BUILD_DIR [SECONDS]}
SECS=${2:-60}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

passed=0 failed=0
for bin in "$BUILD"/fuzz/fuzz_*; do
	[ -x "$bin" ] || continue
	t=$(basename "$bin" | sed 's/^fuzz_//')
	work="$BUILD/fuzz/work/$t"
	crashes="$BUILD/fuzz/crashes"
	mkdir -p "$work" "$crashes" "$ROOT/fuzz/regress/$t"
	dict=()
	[ -f "$ROOT/fuzz/$t.dict" ] && dict=(-dict="$ROOT/fuzz/$t.dict")
	echo "=== fuzz_$t (${SECS}s)"
	# -timeout: one input may take at most 10 s; -max_len: requests and
	# plan files are small. Memory: an input of at most 64 KiB that makes
	# one allocation of 64 MiB, or the process pass 1 GiB, fails the run
	# (-malloc_limit_mb, -rss_limit_mb); fuzz_request also fails an input
	# that has more than its budget allocated at once (harness.c).
	if nice "$bin" -max_total_time="$SECS" -timeout=10 -rss_limit_mb=1024 -malloc_limit_mb=64 \
		-max_len=65536 \
		-print_final_stats=1 -artifact_prefix="$crashes/$t-" "${dict[@]}" \
		"$work" "$ROOT/fuzz/corpus/$t" "$ROOT/fuzz/regress/$t" >"$BUILD/fuzz/$t.log" 2>&1; then
		passed=$((passed + 1))
		grep -E '^(stat::number_of_executed_units|#[0-9]+ +DONE)' "$BUILD/fuzz/$t.log" | tail -2
		echo "--- ok   fuzz_$t"
	else
		failed=$((failed + 1))
		tail -n 40 "$BUILD/fuzz/$t.log"
		found=$(ls -t "$crashes/$t-"* 2>/dev/null | head -n 1)
		if [ -n "$found" ]; then
			echo "--- FAIL fuzz_$t: the input is $found (log $BUILD/fuzz/$t.log);"
			echo "         fix it, then copy it to fuzz/regress/$t/ so that make test replays it"
		else
			echo "--- FAIL fuzz_$t (no crash input: see $BUILD/fuzz/$t.log)"
		fi
	fi
done
echo
echo "fuzzing: $passed harnesses ran clean, $failed failed"
[ $failed -eq 0 ]
