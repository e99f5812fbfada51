#!/usr/bin/env bash
# runner_test.sh — every test case can be run by name: each cmocka binary
# selects its cases from TEST (tests/testlib.c, tl_run_tests) and lists them
# with TEST_LIST=1; tests/run.sh runs BINARY:CASE, lists with --list, and
# refuses a test or a case that does not exist instead of passing with
# nothing run; running two at once, it counts and names every failure
# (stand-in binaries). Runs only the quick test_config and test_check cases.
set -euo pipefail
TEST_NAME=runner_test
: "${BUILD:?BUILD is not set (run through tests/run.sh)}"
: "${ROOT:?ROOT is not set (run through tests/run.sh)}"
fail() {
	echo "$TEST_NAME: FAIL: $*" >&2
	exit 1
}
RUN="$ROOT/tests/run.sh"

# --- every binary honours TEST and TEST_LIST ---------------------------------
bins=0
for t in "$BUILD"/tests/test_*; do
	[ -x "$t" ] || continue
	name=$(basename "$t")
	bins=$((bins + 1))
	cases=$(TEST_LIST=1 "$t") || fail "$name: TEST_LIST=1 exited $?"
	[ -n "$cases" ] || fail "$name: TEST_LIST=1 lists no case"
	grep -qv '^test_' <<<"$cases" && fail "$name: TEST_LIST=1 printed more than case names: $cases"
	# A name that is no case: nothing runs, and the binary says so (77).
	set +e
	out=$(TEST=no_such_case "$t" 2>&1)
	rc=$?
	set -e
	[ $rc -eq 77 ] || fail "$name: TEST=no_such_case exited $rc (wanted 77): $out"
	grep -q "no test case matches TEST=no_such_case" <<<"$out" ||
		fail "$name: TEST=no_such_case said: $out"
	grep -q 'RUN' <<<"$out" && fail "$name: TEST=no_such_case ran something: $out"
done
[ $bins -ge 12 ] || fail "only $bins cmocka binaries in $BUILD/tests"

# --- one case by name, through the binary ---------------------------------------
out=$(TEST=test_sizes "$BUILD/tests/test_config" 2>&1) || fail "TEST=test_sizes test_config failed: $out"
grep -q 'Running 1 test(s)' <<<"$out" || fail "TEST=test_sizes ran other cases: $out"
grep -q 'OK \] test_sizes' <<<"$out" || fail "TEST=test_sizes did not run test_sizes: $out"
# Patterns and lists.
out=$(TEST='test_s*,test_file_and_flags' "$BUILD/tests/test_config" 2>&1) || fail "a TEST list failed: $out"
grep -q 'Running 3 test(s)' <<<"$out" || fail "TEST='test_s*,test_file_and_flags' chose wrongly: $out"

# --- through tests/run.sh -------------------------------------------------------
out=$("$RUN" "$BUILD" test_check:test_enums 2>&1) || fail "run.sh test_check:test_enums failed: $out"
grep -q 'Running 1 test(s)' <<<"$out" || fail "run.sh test_check:test_enums ran more: $out"
grep -q '^1 passed, 0 failed$' <<<"$out" || fail "run.sh test_check:test_enums: $out"
out=$("$RUN" "$BUILD" 'test_check:test_enums,test_time*' test_config:test_sizes 2>&1) ||
	fail "run.sh with two binaries' cases failed: $out"
grep -q 'Running 2 test(s)' <<<"$out" || fail "run.sh test_check:test_enums,test_time*: $out"
grep -q '^2 passed, 0 failed$' <<<"$out" || fail "run.sh, two binaries: $out"

# Misspelt names are errors, not empty passes.
set +e
out=$("$RUN" "$BUILD" test_check:test_enumz 2>&1)
rc=$?
set -e
[ $rc -eq 2 ] || fail "run.sh test_check:test_enumz exited $rc (wanted 2): $out"
grep -q "test_check has no case matching 'test_enumz'" <<<"$out" || fail "unknown case: $out"
set +e
out=$("$RUN" "$BUILD" test_stor 2>&1)
rc=$?
set -e
[ $rc -eq 2 ] || fail "run.sh test_stor exited $rc (wanted 2): $out"
grep -q "no test named 'test_stor'" <<<"$out" || fail "unknown test: $out"
set +e
out=$("$RUN" "$BUILD" runner_test:x 2>&1)
rc=$?
set -e
[ $rc -eq 2 ] || fail "run.sh runner_test:x exited $rc (wanted 2): $out"

# --list: every case of every binary, as BINARY:CASE, and the shell tests.
list=$("$RUN" --list "$BUILD")
grep -qx 'test_daemon:test_crash_rounds' <<<"$list" || fail "--list lacks test_daemon:test_crash_rounds"
grep -qx 'runner_test' <<<"$list" || fail "--list lacks runner_test"
[ "$(grep -c '^test_config:' <<<"$list")" -eq "$(TEST_LIST=1 "$BUILD/tests/test_config" | wc -l)" ] ||
	fail "--list and TEST_LIST=1 disagree on test_config"

# --- every failure counted and named, tests running two at once ---------------
# Stand-in binaries: two fail (one at once, one after the others started),
# one is skipped, two pass; the summary names both failures.
FAKE="$TMPDIR/fake"
mkdir -p "$FAKE/tests"
stand_in() { # NAME SECONDS STATUS
	printf '#!/bin/sh\n[ -n "$TEST_LIST" ] && { echo test_one; exit 0; }\nsleep %s\nexit %s\n' \
		"$2" "$3" >"$FAKE/tests/$1"
	chmod +x "$FAKE/tests/$1"
}
stand_in test_fa 0.3 1
stand_in test_fb 0.1 0
stand_in test_fc 0 77
stand_in test_fd 0 1
stand_in test_fe 0.2 0
set +e
out=$(TEST_JOBS=2 "$RUN" "$FAKE" test_fa test_fb test_fc test_fd test_fe 2>&1)
rc=$?
set -e
[ $rc -ne 0 ] || fail "run.sh with two failing tests exited 0: $out"
grep -q '^2 passed, 2 failed, 1 skipped$' <<<"$out" || fail "run.sh's count of 5 stand-ins: $out"
grep -q '^failed: .*test_fa' <<<"$out" && grep -q '^failed: .*test_fd' <<<"$out" ||
	fail "run.sh's summary does not name both failures: $out"
for t in test_fa test_fd; do
	grep -q "^--- FAIL $t " <<<"$out" || fail "run.sh gave no verdict line for $t: $out"
done

echo "$TEST_NAME: ok ($bins binaries)"
