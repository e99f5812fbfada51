/* i18n.c — the locale and the message catalogues (see i18n.h). */
#include "i18n.h"

#include <limits.h>
#include <locale.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int is_dir(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* The catalogue directory: $LEDGER_LOCALEDIR, DIR/locale or
 * DIR/../share/locale (DIR: the executable's); NULL for the system's. */
static const char *locale_dir(char *buf, size_t size)
{
	const char *env = getenv("LEDGER_LOCALEDIR");
	if (env && *env)
		return env;
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n <= 0)
		return NULL;
	exe[n] = '\0';
	char *slash = strrchr(exe, '/');
	if (!slash)
		return NULL;
	*slash = '\0';
	snprintf(buf, size, "%s/locale", exe);
	if (is_dir(buf))
		return buf;
	snprintf(buf, size, "%s/../share/locale", exe);
	if (is_dir(buf))
		return buf;
	return NULL;
}

void ld_i18n_init(void)
{
	char buf[PATH_MAX + 32];
	setlocale(LC_ALL, "");
	setlocale(LC_NUMERIC, "C");
	const char *dir = locale_dir(buf, sizeof(buf));
	if (dir)
		bindtextdomain(LD_TEXTDOMAIN, dir);
	bind_textdomain_codeset(LD_TEXTDOMAIN, "UTF-8");
}

const char *ld_i18n_lang(void)
{
	/* TRANSLATORS: the code of this catalogue's language: "zh" for Chinese.
	 * Programs show Chinese names of worker groups, channels and reasons
	 * when it is "zh". */
	const char *code = _("en");
	return strcmp(code, "zh") == 0 ? "zh" : "en";
}

int ld_i18n_zh(void)
{
	return strcmp(ld_i18n_lang(), "zh") == 0;
}
