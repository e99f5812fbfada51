# settle.sh — sourced by the bench scripts: waiting until a step's daemons
# and the kernel have done the work the step before left them, so that the
# next step does not share the cores or the disk with it.

# ticks PID...: the CPU time (clock ticks) the processes have used so far.
ticks() {
	local p t=0
	for p in "$@"; do
		[ -r "/proc/$p/stat" ] && t=$((t + $(awk '{ print $14 + $15 }' "/proc/$p/stat")))
	done
	echo "$t"
}

# quiet_wait TRIES PID...: waits until the processes use under 5% of a core
# over 200 ms, trying at most TRIES times (0.2 s each): 0 once quiet, 1 if
# they never were.
quiet_wait() {
	local tries=$1 hz t0 t1
	shift
	hz=$(getconf CLK_TCK)
	for _ in $(seq "$tries"); do
		t0=$(ticks "$@")
		sleep 0.2
		t1=$(ticks "$@")
		# 5% of a core over 0.2 s: 0.01 s of CPU, HZ / 100 ticks.
		[ $(((t1 - t0) * 100)) -le "$hz" ] && return 0
	done
	return 1
}

# writeback_wait TRIES: waits until the kernel's dirty pages (Dirty and
# Writeback) are under 64 MiB, trying at most TRIES times (0.2 s each);
# prints what is left of them, in MiB. 0 once under, 1 if never.
writeback_wait() {
	local dirty
	for _ in $(seq "$1"); do
		dirty=$(awk '/^(Dirty|Writeback):/ { n += $2 } END { print n }' /proc/meminfo)
		[ "$dirty" -lt 65536 ] && { echo $((dirty / 1024)); return 0; }
		sleep 0.2
	done
	echo $((dirty / 1024))
	return 1
}
