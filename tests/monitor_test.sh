#!/usr/bin/env bash
# monitor_test.sh — ledger-monitor's full-screen view in a real terminal
# (tmux, on a private server): the header (plan, as-of time and seq, live or
# polling) is visible on an 80x24 and a 200x60 terminal; updates, driven by
# appending events, redraw in place and add nothing to the scrollback
# (#{history_size}); figures with yuan and Chinese city names line up (widths
# by wcwidth, not bytes); the keys page, choose a city and a year, and quit;
# a resize redraws at the new size; a Chinese user reads it in Chinese,
# statuses and what each target measures included (ledgerctl progress too),
# and nobody reads a plan's internal names ("sum:amount_fen");
# without a feed the header says it polls,
# and that the daemon does not answer when it is gone; at 100 columns in
# English the rows keep their bars; idle, it does not wake up to look. Also:
# an unknown region is called unknown, not malformed. NO_COLOR=1 takes the
# colours away (statuses in bold), in ledgerctl progress too. With a feed, a
# daemon gone is said within seconds, and the view is live again once it is back.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
need_ledgerctl
MONITOR="$BUILD/ledger-monitor"
[ -x "$MONITOR" ] || fail "no monitor at $MONITOR"
command -v tmux >/dev/null || fail "'tmux' is not installed (scripts/install-deps.sh)"
PLAN=jiangsu-2024-2026
YEAR=2025

# The test's own tmux server (its socket in TMPDIR), killed on exit; a pane
# whose monitor ended stays, dead, to be read (remain-on-exit), with nothing
# running in it.
TMUX_SOCK="$TMPDIR/tmux.sock"
echo "set -g remain-on-exit on" >"$TMPDIR/tmux.conf"
tm() { tmux -S "$TMUX_SOCK" -f "$TMPDIR/tmux.conf" "$@"; }
cleanup() {
	tm kill-server 2>/dev/null || true
	stop_ledgerd
}

# --- arguments ---------------------------------------------------------------
PUB="tcp://127.0.0.1:$(free_port)"
start_ledgerd --plans "$ROOT/plans" --pub "$PUB" --feed-interval-ms 50
trap cleanup EXIT
export LEDGER_URL="$URL"

set +e
"$MONITOR" --url "$URL" "$PLAN" --region 990000 --once >"$TMPDIR/r.out" 2>"$TMPDIR/r.err"
rc=$?
set -e
[ "$rc" = 2 ] || fail "--region 990000: exit $rc, wanted 2"
grep -q "region 990000 is unknown to plan '$PLAN'.*320100 南京市" "$TMPDIR/r.err" ||
	{ cat "$TMPDIR/r.err" >&2; fail "--region 990000 is not called unknown"; }
grep -q "6-digit" "$TMPDIR/r.err" && fail "--region 990000 is called malformed"
set +e
"$MONITOR" --url "$URL" "$PLAN" --region 32010x --once 2>"$TMPDIR/r.err"
rc=$?
"$MONITOR" --url "$URL" "$PLAN" --year 2031 --once 2>"$TMPDIR/y.err"
rcy=$?
set -e
[ "$rc" = 2 ] && grep -q "'32010x' is not a 6-digit region code" "$TMPDIR/r.err" ||
	fail "--region 32010x: exit $rc, $(cat "$TMPDIR/r.err")"
[ "$rcy" = 2 ] && grep -q "runs from 2024 to 2026, not in 2031" "$TMPDIR/y.err" ||
	fail "--year 2031: exit $rcy, $(cat "$TMPDIR/y.err")"
# A ledger that is not there: exit 3, as ledgerctl's and ledger-gen's, and
# --help says so.
set +e
"$MONITOR" --url "tcp://127.0.0.1:$(free_port)" "$PLAN" --once 2>"$TMPDIR/u.err"
rc=$?
set -e
[ "$rc" = 3 ] && grep -q "ERR_UNAVAILABLE" "$TMPDIR/u.err" ||
	fail "no ledger: exit $rc, wanted 3: $(cat "$TMPDIR/u.err")"
"$MONITOR" --help | grep -q "3 the ledger cannot be reached" || fail "--help does not give the exit status"

# --- a small province, with money --------------------------------------------
ok org add JS --name JS --kind federation-province --region 320000 --at 2024-01-02
ok org add NJ --name NJ --kind federation-city --region 320100 --parent JS --at 2024-01-02
ok org add SZ --name SZ --kind federation-city --region 320500 --parent JS --at 2024-01-02
join_member() { # ID ORG REGION DAY
	ok join "$1" --org "$2" --path platform-work --channel online --group delivery-rider \
		--employment self-employed --region "$3" --national-id "$(national_id 320102 "${1#M}")" --at "$YEAR-$4"
}
join_member M1001 NJ 320102 02-01
join_member M1002 SZ 320505 03-01
ok service education-grant --org NJ --member M1001 --yuan 123456.78 --at "$YEAR-04-01"
ok service education-grant --org SZ --member M1002 --yuan 2000 --at "$YEAR-04-02"
recorded
settled # the reports below read the flushed state

# --- the report's words: in the reader's language, no names meant for machines ---
STATUS_ZH='(未开始|超前|符合进度|落后|已完成|未完成|无目标)'
STATUS_EN='(NOT STARTED|AHEAD|ON TRACK|BEHIND|ACHIEVED|MISSED)'
LC_ALL=zh_CN.UTF-8 LANGUAGE= ok progress "$PLAN" --year "$YEAR"
out_has '^education-grant-amount  学历教育补助金额.*（金额（元），每年）$' \
	"ledgerctl progress in Chinese: the amount target's heading is not in words"
out_has "^  $YEAR   全省 320000 .* $STATUS_ZH( |\$)" "ledgerctl progress in Chinese: no Chinese status"
out_has "^  $YEAR   南京市 +¥123,456 / " "ledgerctl progress in Chinese: Nanjing's grant"
out_has '^  累计 ' "ledgerctl progress in Chinese: the whole plan's rows are not called 累计"
out_has '^new-members-yearly  每年新发展会员（年均30万人以上）  （计数，年均 300,000，共3年）$' \
	"ledgerctl progress in Chinese: the average a year does not say what it judges"
out_has '截至 .* 的状态，序号 [0-9]+$' "ledgerctl progress in Chinese: the as-of line"
grep -Eq "$STATUS_EN|sum:|distinct_members|[(（,，] ?(yearly|cumulative)|^  total " <<<"$OUT" &&
	{ echo "$OUT" >&2; fail "ledgerctl progress in Chinese shows English or a plan's internal names"; }
LC_ALL=C LANGUAGE= ok progress "$PLAN" --year "$YEAR"
out_has '^education-grant-amount  .*\(amount in yuan, each year\)$' \
	"ledgerctl progress: the amount target's heading is not in words"
out_has "^  $YEAR   province 320000 .* $STATUS_EN( |\$)" "ledgerctl progress: no status word"
grep -Eq "sum:|distinct_members|yearly\)|cumulative\)" <<<"$OUT" &&
	{ echo "$OUT" >&2; fail "ledgerctl progress shows a plan's internal names"; }

# --- the terminal --------------------------------------------------------------
# start_monitor NAME COLSxROWS ARG...: the monitor in a new tmux session; when
# it ends its status is written to $TMPDIR/NAME.status (wait_exit) and the
# pane stays, dead.
start_monitor() {
	local name=$1 size=$2
	shift 2
	tm new-session -d -s "$name" -x "${size%x*}" -y "${size#*x}" \
		"env ${MONITOR_ENV:-} LANG=${MONITOR_LANG:-C.UTF-8} LC_ALL=${MONITOR_LANG:-C.UTF-8} LANGUAGE= TERM=screen-256color '$MONITOR' --url '$URL' $* 2>'$TMPDIR/$name.err'; echo \$? >'$TMPDIR/$name.status'"
}
cap() { tm capture-pane -p -t "$1"; }
history_size() { tm display -p -t "$1" '#{history_size}'; }
# wait_screen NAME REGEX WHAT: until the pane shows REGEX (10 s)
wait_screen() {
	for _ in $(seq 100); do
		grep -Eq -- "$2" <<<"$(cap "$1")" && return 0
		sleep 0.1
	done
	echo "--- the screen of $1:" >&2
	cap "$1" >&2
	cat "$TMPDIR/$1.err" >&2 2>/dev/null || true
	fail "$3"
}
# wait_exit NAME WHAT: until the pane's monitor has ended (10 s), with status 0
wait_exit() {
	for _ in $(seq 100); do
		[ -s "$TMPDIR/$1.status" ] && break
		sleep 0.1
	done
	expect_eq "$(cat "$TMPDIR/$1.status" 2>/dev/null)" 0 "$2"
}
# line NAME N: the Nth line of the pane (1-based)
line() { cap "$1" | sed -n "${2}p"; }
pane_size() { tm display -p -t "$1" '#{pane_width}x#{pane_height}'; }

# The header, at 80x24.
start_monitor small 80x24 "$PLAN"
wait_screen small "^as of .*, seq $SEQ " "the header's as-of line with seq $SEQ at 80x24"
expect_eq "$(pane_size small)" 80x24 "the pane's size"
line small 1 | grep -q "^江苏省.* — $PLAN" || fail "the first line is not the plan's title: $(line small 1)"
line small 2 | grep -q "live: feed $PUB *$" || fail "the header does not say live: $(line small 2)"
line small 3 | grep -q "^city: all regions   year: every year" || fail "line 3: $(line small 3)"
line small 24 | grep -q "q quit.*lines 1-19 of [0-9]" || fail "the key line: $(line small 24)"
expect_eq "$(cap small | wc -l)" 24 "lines on the 80x24 screen"

# Narrower than the header's state: it is cut at a space, never inside the
# feed's address (80 columns and a seq in the millions cut the port short,
# "tcp://127.0.0.1:2745" for :27451).
start_monitor narrow 62x24 "$PLAN"
wait_screen narrow "^as of .*, seq $SEQ " "the header at 62 columns"
line narrow 2 | grep -Eq "seq $SEQ +live: feed *$" || fail "the state at 62 columns: '$(line narrow 2)'"
tm send-keys -t narrow q
wait_exit narrow "q at 62 columns: the pane dead, its exit status"

# Idle, the monitor sleeps until a key, the feed or a signal: over 4 s its
# main thread, where it waits for all three (and where a monitor that
# looked every 100 ms, in poll or in a receive with a timeout, would be
# woken 40 times or more), is woken a few times at most. Those few are its
# health check: with a feed it asks the daemon for the head every 3 s
# (HEALTH_MS, clients/ledger-monitor.c), a wake-up to send and one for the
# answer, 1 or 2 checks in 4 s. Not its threads all together, as before:
# NNG's wake up a dozen times or more for one request, and on a loaded
# machine the 2 s counted slid past the first check (3 s after the
# monitor's start; on a quiet machine the count ended before it), which
# then alone exceeded the bound (17 wake-ups in 2 s).
MPID=$(pgrep -P "$(tm display -p -t small '#{pane_pid}')" -x ledger-monitor)
switches() { awk '/^voluntary_ctxt_switches/ { print $2 }' /proc/"$MPID"/task/"$MPID"/status; }
S0=$(switches)
sleep 4
S1=$(switches)
[ $((S1 - S0)) -le 8 ] || fail "the idle monitor's main thread woke $((S1 - S0)) times in 4 s"

# Updates redraw in place: the scrollback does not grow.
H0=$(history_size small)
for i in 1 2 3 4 5; do
	ok activity themed-activity --org NJ --participants "$i" --at "$YEAR-05-0$i"
	recorded
	wait_screen small "^as of .*, seq $SEQ " "the header after update $i (seq $SEQ)"
	expect_eq "$(history_size small)" "$H0" "the scrollback after update $i"
done
wait_screen small "[1-9][0-9]* updates?, 1 full read" "the update count"
line small 1 | grep -q "^江苏省" || fail "the title scrolled away after the updates"

# Paging: PgDn moves the body, Home brings it back, End shows the last line.
tm send-keys -t small NPage
wait_screen small "lines 19-37 of " "PgDn (a page less one line of overlap)"
line small 1 | grep -q "^江苏省" || fail "the title scrolled away with the body"
TOTAL=$(line small 24 | sed -n 's/.*lines [0-9]*-[0-9]* of \([0-9]*\).*/\1/p')
tm send-keys -t small End
wait_screen small "lines $((TOTAL - 18))-$TOTAL of $TOTAL" "End shows the last page"
tm send-keys -t small Home
wait_screen small "lines 1-19 of $TOTAL" "Home"

# Columns line up whatever the text: find the education grant's block (money
# with ¥, Chinese city names) by paging, and compare where " / " falls.
tm resize-window -t small -x 200 -y 60
wait_screen small "lines 1-55 of " "the redraw after a resize to 200x60"
expect_eq "$(pane_size small)" 200x60 "the pane's size after the resize"
line small 1 | grep -q "^江苏省" || fail "no title after the resize"
[ "$(line small 4 | tr -d '\n' | python3 -c 'import sys; print(len(sys.stdin.read()))')" = 200 ] ||
	fail "the rule under the header is not 200 columns after the resize"
line small 6 | grep -q '\[[-#]*\]' || fail "no progress bars at 200 columns: $(line small 6)"
# Page to the block's heading, then a line at a time until its rows of
# ¥123,456 are on the screen too (a page can end inside the block).
for _ in $(seq 80); do
	SCREEN=$(cap small)
	if grep -q '^education-grant-amount' <<<"$SCREEN"; then
		grep -q '¥123,456' <<<"$SCREEN" && break
		tm send-keys -t small Down
	else
		tm send-keys -t small NPage
	fi
	sleep 0.2
done
cap small >"$TMPDIR/screen.txt"
python3 - "$TMPDIR/screen.txt" <<'EOF' || fail "the education grant's rows do not line up"
import sys, unicodedata
def width(s):
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in s)
rows, inblock = [], False
for l in open(sys.argv[1], encoding="utf-8"):
    if l.startswith("education-grant-amount"):
        inblock = True
    elif inblock and l.startswith("  2") and " / " in l:
        rows.append(l)
    elif inblock and rows and not l.strip():
        break
assert len(rows) >= 3, "too few rows of education-grant-amount on the screen: %r" % rows
money = [r for r in rows if "¥123,456" in r]
assert money and any("南京市" in r for r in money), rows
cols = {width(r[:r.index(" / ")]) for r in rows}
ends = {width(r[:r.index("%")]) for r in rows}
assert len(cols) == 1 and len(ends) == 1, "' / ' at columns %s, '%%' at %s:\n%s" % (cols, ends, "".join(rows))
print("education-grant-amount: %d rows, ' / ' at column %d" % (len(rows), cols.pop()))
EOF
tm resize-window -t small -x 80 -y 24
wait_screen small "lines [0-9]+-[0-9]+ of " "the redraw after a resize back to 80x24"
[ "$(line small 4 | tr -d '\n' | python3 -c 'import sys; print(len(sys.stdin.read()))')" = 80 ] ||
	fail "the rule is not 80 columns after resizing back"
expect_eq "$(history_size small)" "$H0" "the scrollback after the resizes"

# Choose a city, then a year.
tm send-keys -t small Home c
wait_screen small "^Choose a city" "c opens the choice of a city"
wait_screen small "南京市  320100" "the cities in the choice"
tm send-keys -t small Down Down Enter
wait_screen small "^city: 南京市 320100   year: every year" "Nanjing chosen"
cap small | sed -n '5,23p' | grep -E '^  (20[0-9][0-9]|total) ' >"$TMPDIR/rows" || true
[ -s "$TMPDIR/rows" ] || fail "no rows after choosing Nanjing"
grep -v '南京市' "$TMPDIR/rows" && fail "rows of another region after choosing Nanjing"
tm send-keys -t small y
wait_screen small "^Choose a year" "y opens the choice of a year"
tm send-keys -t small Down Down Enter
wait_screen small "^city: 南京市 320100   year: $YEAR " "year $YEAR chosen"
cap small | sed -n '5,23p' | grep -E '^  (20[0-9][0-9]|total) ' >"$TMPDIR/rows" || true
grep -Eq "^  $YEAR " "$TMPDIR/rows" || fail "no $YEAR rows"
grep -Ev "^  ($YEAR|total) " "$TMPDIR/rows" && fail "rows of another year after choosing $YEAR"
# The Nanjing money figure, then Esc leaves a choice unchanged.
tm send-keys -t small c Escape
wait_screen small "^city: 南京市 320100   year: $YEAR " "Esc keeps the choice"
cap small | grep -q "^Choose a city" && fail "Esc did not close the choice"
ok service education-grant --org NJ --member M1001 --yuan 100 --at "$YEAR-06-01"
recorded
wait_screen small "^as of .*, seq $SEQ " "the header after an update in the chosen city"
tm send-keys -t small End
wait_screen small "¥123,556" "Nanjing's education grant after the update"
expect_eq "$(history_size small)" "$H0" "the scrollback after the choices"

# q quits, giving the terminal back.
tm send-keys -t small q
wait_exit small "q: the pane dead, its exit status"

# Started at 200x60 on a chosen city: the header and the bars.
start_monitor big 200x60 "$PLAN" --region 320500 --year "$YEAR"
wait_screen big "^as of .*, seq $SEQ .*live: feed" "the header at 200x60"
line big 3 | grep -q "^city: 苏州市 320500   year: $YEAR" || fail "line 3 at 200x60: $(line big 3)"
line big 60 | grep -q "q quit" || fail "the key line at 200x60: $(line big 60)"
cap big | grep -q '¥2,000 ' || fail "Suzhou's grant at 200x60"
tm send-keys -t big q
wait_exit big "q at 200x60: the pane dead, its exit status"

# In Chinese for a Chinese user.
MONITOR_LANG=zh_CN.UTF-8 start_monitor zh 100x30 "$PLAN"
wait_screen zh "^截至 .*，第 $SEQ 条 .*实时：推送 tcp://" "the Chinese header"
line zh 3 | grep -q "^城市：全部地区   年份：全部年份" || fail "line 3 in Chinese: $(line zh 3)"
line zh 30 | grep -q "q 退出" || fail "the key line in Chinese: $(line zh 30)"
cap zh | grep -Eq "（(计数|人数（每人计一次）|占比|金额（元）|人次|参加人数|覆盖的企业数)，(每年|全计划期累计)）" ||
	{ cap zh >&2; fail "the monitor in Chinese does not say in words what targets measure"; }
cap zh | grep -Eq "$STATUS_ZH" || { cap zh >&2; fail "the monitor in Chinese has no Chinese status"; }
cap zh | grep -Eq "$STATUS_EN|sum:|[(（,，] ?(yearly|cumulative)" &&
	{ cap zh >&2; fail "the monitor in Chinese shows English statuses or internal names"; }
tm send-keys -t zh q
wait_exit zh "q in Chinese: the pane dead, its exit status"

# NO_COLOR (no-color.org): statuses in bold, no colour, in the monitor and in
# ledgerctl progress on a terminal; coloured without it.
colours() { grep -Ec $'\e\\[([0-9;]*;)?(3[0-7]|38;5;[0-9]+)(;[0-9]+)*m' || true; }
start_monitor col 100x30 "$PLAN"
wait_screen col "^as of .*, seq $SEQ " "the coloured monitor's header"
[ "$(tm capture-pane -e -p -t col | colours)" -gt 0 ] || fail "the monitor shows no colours without NO_COLOR"
tm send-keys -t col q
wait_exit col "q, coloured: the pane dead, its exit status"
MONITOR_ENV=NO_COLOR=1 start_monitor nocol 100x30 "$PLAN"
wait_screen nocol "^as of .*, seq $SEQ " "the monitor's header with NO_COLOR"
[ "$(tm capture-pane -e -p -t nocol | colours)" = 0 ] ||
	{ tm capture-pane -e -p -t nocol | cat -v | head >&2; fail "the monitor shows colours with NO_COLOR=1"; }
tm capture-pane -e -p -t nocol | grep -q $'\e\[1m' || fail "no bold with NO_COLOR=1"
tm send-keys -t nocol q
wait_exit nocol "q with NO_COLOR: the pane dead, its exit status"
tty_progress() { script -qec "env $1 '$BUILD/ledgerctl' --url '$URL' progress $PLAN --year $YEAR --province" /dev/null; }
[ "$(tty_progress NO_COLOR= | colours)" -gt 0 ] || fail "ledgerctl progress on a terminal is not coloured"
[ "$(tty_progress NO_COLOR=1 | colours)" = 0 ] || fail "ledgerctl progress on a terminal is coloured with NO_COLOR=1"

# --- the transfers waiting for acceptance ('t') ------------------------------------
# A release (the first step of a transfer in two steps) waits for the
# destination's acceptance: 't' shows, per city, those to accept there and
# those sent from there, with the oldest's age (over 14 days in red); the
# province federation of the plan's region (JS) without --org; the chosen
# city's row in bold; in Chinese for a Chinese user; 't' again gives the
# figures back.
ok release M1001 --from NJ --to SZ --reason moved-region --at "$YEAR-03-10"
recorded
REL1=$SEQ
ok release M1002 --from SZ --to NJ --reason moved-region
recorded
settled
OLD=$(( ($(date +%s) - $(date -d "$YEAR-03-10 00:00 +08:00" +%s)) / 86400 ))
start_monitor pend 120x30 "$PLAN" --region 320500
wait_screen pend "^as of .*, seq $SEQ " "the header before 't'"
line pend 30 | grep -q " t transfers " || fail "the key line does not name t: $(line pend 30)"
tm send-keys -t pend t
wait_screen pend "^Transfers waiting for acceptance: JS and its children, as of " "'t' shows no transfers view"
wait_screen pend "^  whole province +2 +$OLD days +0 +- *$" "the province's row"
wait_screen pend "^    南京市 +1 +0 days +1 +$OLD days *$" "Nanjing's row"
wait_screen pend "^    苏州市 +1 +$OLD days +1 +0 days *$" "Suzhou's row"
tm capture-pane -e -p -t pend | grep '南京市' | grep -q $'\e\\[[0-9;]*31m' || fail "Nanjing's old release is not red"
# bold at a row's first character: the SGR state carried over the lines
# (tmux writes only changes: a row after a red, bold cell starts bold unsaid)
bold_at() { tm capture-pane -e -p -t "$1" | python3 -c '
import re, sys
text, bold = sys.stdin.read(), False
for m in re.finditer(r"\x1b\[([0-9;]*)m|" + re.escape(sys.argv[1]), text):
    if m.group(0) == sys.argv[1]:
        print("bold" if bold else "plain"); break
    for p in (m.group(1) or "0").split(";"):
        if p in ("0", "", "22"): bold = False
        elif p == "1": bold = True
' "$2"; }
expect_eq "$(bold_at pend "    苏州市")" bold "the chosen city's row"
expect_eq "$(bold_at pend whole)" plain "a row not chosen"
line pend 30 | grep -q " t figures " || fail "the key line in the transfers view: $(line pend 30)"
# Accepted, a release leaves the view (re-read every 2 s).
ok accept "$REL1"
recorded
wait_screen pend "^    苏州市 +0 +- +1 +0 days *$" "the view after Suzhou accepted"
tm send-keys -t pend t
wait_screen pend "^  $YEAR |^  total " "'t' again does not give the figures back"
tm send-keys -t pend q
wait_exit pend "q in the transfers view: the pane dead, its exit status"
MONITOR_LANG=zh_CN.UTF-8 start_monitor pendzh 120x30 "$PLAN"
wait_screen pendzh "t 转接" "the Chinese key line does not name t"
tm send-keys -t pendzh t
wait_screen pendzh "^待接收的组织关系转接：JS 及其下级组织，截至 " "the Chinese transfers view"
wait_screen pendzh "^  全省 +1 +0天 +0 +- *$" "the province's row in Chinese"
cap pendzh | grep -Eq "days|whole province|region" && { cap pendzh >&2; fail "English in the Chinese transfers view"; }
tm send-keys -t pendzh q
wait_exit pendzh "q in the Chinese transfers view"
# --org: another organisation; one the ledger does not know is said, not a blank view.
start_monitor pendnj 120x30 "$PLAN" --org NJ
wait_screen pendnj "^as of " "the header with --org NJ"
tm send-keys -t pendnj t
wait_screen pendnj "^Transfers waiting for acceptance: NJ and its children" "--org NJ"
wait_screen pendnj "^  南京市 +1 +0 days +0 +- *$" "Nanjing's row with --org NJ"
tm send-keys -t pendnj q
wait_exit pendnj "q with --org NJ"
start_monitor pendx 120x30 "$PLAN" --org NOSUCH
wait_screen pendx "^as of " "the header with --org NOSUCH"
tm send-keys -t pendx t
wait_screen pendx "cannot read them: organisation 'NOSUCH' not found" "an unknown --org is not said"
tm send-keys -t pendx q
wait_exit pendx "q with --org NOSUCH"

# --- with a feed: the daemon gone, then back at the same address -----------------
# A feed whose daemon is gone falls silent: the header says the daemon does
# not answer (and of which seq the figures are) within seconds, not "live";
# once it is back, live again with what was recorded meanwhile.
start_monitor feedgone 120x30 "$PLAN"
wait_screen feedgone "^as of .*, seq $SEQ .*live: feed" "the header before the daemon stops"
stop_ledgerd
wait_screen feedgone "the daemon does not answer: the figures stay those of seq $SEQ" \
	"the header does not say the daemon is gone while the feed is silent"
"$LEDGERD" --data "$TMPDIR/data" --listen "$URL" --plans "$ROOT/plans" --pub "$PUB" \
	--feed-interval-ms 50 2>>"$LEDGERD_LOG" &
LEDGERD_PID=$!
for _ in $(seq 100); do "$LEDGERCTL" --timeout 1000 head >/dev/null 2>&1 && break; sleep 0.1; done
ok activity themed-activity --org SZ --participants 4 --at "$YEAR-07-02"
recorded
wait_screen feedgone "^as of .*, seq $SEQ .*live: feed" "the header once the daemon is back (seq $SEQ)"
tm send-keys -t feedgone q
wait_exit feedgone "q after the daemon came back: the pane dead, its exit status"

# --- without a feed: polling, then a daemon gone ----------------------------------
stop_ledgerd
start_ledgerd --plans "$ROOT/plans"
export LEDGER_URL="$URL"
start_monitor poll 100x30 "$PLAN" --poll-ms 200
wait_screen poll "polling every 200 ms" "the header does not say it polls"
# At 100 columns in English the rows keep their bars (the headings, longer,
# do not count), and a row's note that does not fit is left out, never cut.
wait_screen poll '^  (20[0-9]{2}|total) .*%  \[[-#]{5,}\]  ' "no progress bars at 100 columns in English"
cap poll | grep -E '  (pace|needs) ' | grep -Ev '  (pace [^ ]+, )?needs [^ ]+/day$' &&
	fail "a row's note is cut at 100 columns"
ok activity themed-activity --org SZ --participants 3 --at "$YEAR-07-01"
recorded
wait_screen poll "^as of .*, seq $SEQ " "the polled header at seq $SEQ"
stop_ledgerd
wait_screen poll "the daemon does not answer" "the header does not say the daemon is gone"
tm send-keys -t poll q
wait_exit poll "q while the daemon is gone: the pane dead, its exit status"

# --- a reader of one city: 't' shows its own federation, without --org -----------
# (before 2026-12-07 22:10 the monitor looked for the province federation in
# the log, which a reader may not read: its 't' said so and showed nothing)
# Its industry union (a child in its own region) by its own name, not the city's.
start_ledgerd --plans "$ROOT/plans"
export LEDGER_URL="$URL"
ok org add NJ-U9 --name "南京市骑手行业工会" --kind industry-union --region 320100 --parent NJ --at "$YEAR-01-05"
stop_ledgerd
printf '[addr:127.0.0.1]\nrole = reader\norgs = NJ\n' >"$TMPDIR/roles.ini"
start_ledgerd --roles "$TMPDIR/roles.ini" --plans "$ROOT/plans"
export LEDGER_URL="$URL"
start_monitor pendreader 120x30 "$PLAN"
wait_screen pendreader "^as of " "the header as a reader of NJ"
tm send-keys -t pendreader t
wait_screen pendreader "^Transfers waiting for acceptance: NJ and its children" "a reader's 't' without --org"
wait_screen pendreader "^    南京市骑手行业工会 +0 +- +0 +- *$" "the reader's industry union by its own name"
cap pendreader | grep -Eq "JS|read_log|whole province" && { cap pendreader >&2; fail "a reader's 't' shows the province"; }
tm send-keys -t pendreader q
wait_exit pendreader "q in a reader's transfers view"
echo "$TEST_NAME: ok"
