/* cli.c — what every program of clients/ does alike. See cli.h. */
#include "cli.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "client.h"
#include "i18n.h"

static const char *program = "ledger";

int ldc_cli_init(const char *name)
{
	program = name;
	ld_i18n_init();
	const char *tz = getenv("LEDGER_TZ");
	if (tz && *tz && ldc_tz_set(tz) != 0) {
		ldc_cli_error(_("$LEDGER_TZ '%s' is not a time zone of the system's zone database "
				"(for example Asia/Shanghai or UTC)"),
			      tz);
		return LDC_EXIT_USAGE;
	}
	ldc_tz(); /* set now, before any thread starts */
	return 0;
}

const char *ldc_cli_program(void)
{
	return program;
}

void ldc_cli_version(int json)
{
	if (json)
		printf("{\"program\": \"%s\", \"version\": \"%s\"}\n", program, LD_VERSION);
	else
		printf("%s %s\n", program, LD_VERSION);
}

int ldc_cli_tz(const char *zone)
{
	if (ldc_tz_set(zone) == 0)
		return 0;
	ldc_cli_error(_("--tz '%s' is not a time zone of the system's zone database (for example "
			"Asia/Shanghai or UTC)"),
		      zone);
	return LDC_EXIT_USAGE;
}

int ldc_cli_option(int ch, const char *arg)
{
	if (ch == 'V') {
		ldc_cli_version(0);
		return 0;
	}
	if (ch == 'z' && ldc_cli_tz(arg) != 0)
		return LDC_EXIT_USAGE;
	return -1;
}

const char *ldc_cli_url(void)
{
	const char *url = getenv("LEDGER_URL");
	return url && *url ? url : LDC_DEFAULT_URL;
}

int ldc_cli_no_colour(void)
{
	const char *v = getenv("NO_COLOR");
	return v && *v;
}

void ldc_cli_error(const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "%s: ", program);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}
