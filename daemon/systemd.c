/* systemd.c — readiness notices and the journal's log prefixes. See systemd.h. */
#include "systemd.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <systemd/sd-daemon.h>

#include "log.h"

/* stderr is the journal when JOURNAL_STREAM ("DEVICE:INODE") names the
 * stream stderr is: a program started by systemd may have its stderr
 * redirected by its own parent, so the variable alone does not say. */
static int stderr_is_journal(void)
{
	const char *js = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;
	char tail;
	if (!js || sscanf(js, "%llu:%llu%c", &dev, &ino, &tail) != 2)
		return 0;
	if (fstat(STDERR_FILENO, &st) != 0)
		return 0;
	return (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
}

int systemd_log_setup(void)
{
	static const char *const prefixes[] = {SD_ERR, SD_WARNING, SD_INFO, SD_DEBUG};
	if (!stderr_is_journal())
		return 0;
	log_set_prefixes(prefixes);
	return 1;
}

void systemd_ready(const char *status)
{
	int rc = status ? sd_notifyf(0, "READY=1\nSTATUS=%s", status) : sd_notify(0, "READY=1");
	if (rc < 0)
		log_warn("systemd: cannot send READY=1 to NOTIFY_SOCKET: %s", strerror(-rc));
}

void systemd_stopping(void)
{
	int rc = sd_notify(0, "STOPPING=1\nSTATUS=stopping");
	if (rc < 0)
		log_warn("systemd: cannot send STOPPING=1 to NOTIFY_SOCKET: %s", strerror(-rc));
}
