/*
 * behind.h — the priority of the threads whose work follows the durable log
 * (the follow thread and the applier, core/writer.h; the projections'
 * runner and flusher, projections/runner.c and runner_flush.c): what a
 * node has confirmed is in raft's log on disk, and these apply it, store it
 * and project it later.
 *
 * On a node that follows, they run at nice BEHIND_FOLLOWER_NICE, so that on
 * a machine whose cores are short the threads a commit waits for (raft's
 * loop here, and whatever else runs there: another node's NNG threads,
 * writer and raft loop when nodes share a machine) go first; a node that
 * leads runs them at 0, as a single node does. Nothing waits longer than it
 * would: their work is bounded as before (writer.h, the bound of what is
 * applied and not stored; the projections' memory), and a node that comes
 * to lead applies what it was handed before it serves (writer_set_leading).
 *
 * Each thread brings itself to the level wanted (setpriority on itself: a
 * Linux thread's nice value is its own) when it next calls behind_apply,
 * between two pieces of work. Lowering a thread's priority is always
 * allowed; raising it back needs CAP_SYS_NICE or RLIMIT_NICE (systemd's
 * LimitNICE=+0, etc/ledgerd.service). A process that has neither never
 * lowers them (it says so once, at the first behind_set_following): a
 * follower that came to lead would otherwise keep them lowered. Should a
 * raise still fail, the thread stays where it is and that is said once.
 */
#ifndef LD_BEHIND_H
#define LD_BEHIND_H

#define BEHIND_FOLLOWER_NICE 19

/* The level wanted from now on: following (1) or not. Any thread. */
void behind_set_following(int following);
/* The calling thread (one of those above) at the level wanted. */
void behind_apply(void);

#endif
