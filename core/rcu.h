/*
 * rcu.h — read-copy-update behind one file (liburcu's "bulletproof" flavour,
 * Debian liburcu-dev): a container that replaces an array with a new one
 * while other threads read it without a lock frees the old array once no
 * reader can still be looking at it (core/mtable.c's indexes, as they grow).
 *
 * Readers bracket each lookup with ld_rcu_read_begin and ld_rcu_read_end:
 * any thread, nestable, cheap (a thread-local counter, no lock; no fence
 * where the kernel offers membarrier's private expedited command, else a
 * full fence at each end), and with nothing to register first (liburcu-bp
 * registers a thread at its first read section and forgets it when the
 * thread exits). Inside a read
 * section a reader may use whatever it loaded from the container; once the
 * section ends, only what never moves (a record number, not a slot).
 *
 * The one thread that changes the container publishes the new array, calls
 * ld_rcu_synchronize, and then frees the old one: ld_rcu_synchronize returns
 * once every read section that had begun before it has ended: a few system
 * calls, or, when a reader was preempted inside its section, sleeps of 10
 * ms until it has left (the growing index copies its slots anyway, about
 * 0.1 s at a million entries). It must not be called inside a read section,
 * which it would wait for. liburcu-bp has no fork handlers: a child must
 * not use these (the daemon never forks; core/verify.c's child does not).
 */
#ifndef LD_RCU_H
#define LD_RCU_H

void ld_rcu_read_begin(void);
void ld_rcu_read_end(void);
void ld_rcu_synchronize(void);

#endif
