/* rcu.c — liburcu-bp. See rcu.h. */
#include "rcu.h"

#include <urcu/urcu-bp.h>

void ld_rcu_read_begin(void)
{
	urcu_bp_read_lock();
}

void ld_rcu_read_end(void)
{
	urcu_bp_read_unlock();
}

void ld_rcu_synchronize(void)
{
	urcu_bp_synchronize_rcu();
}
