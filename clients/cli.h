/*
 * cli.h — what every program of clients/ does alike, so that it is done
 * once: the user's language (i18n.h), the ledger's time zone (when.h), the
 * version, the ledger's url from the environment, and how a program names
 * itself in its messages ("ledgerctl: ...").
 *
 * A program calls ldc_cli_init first; its options then include
 *   -h, --help        usage on stdout, exit 0
 *   -V, --version     ldc_cli_version: "NAME VERSION" (JSON with --json)
 *   --tz ZONE         ldc_cli_tz: the ledger's time zone (default $LEDGER_TZ,
 *                     else Asia/Shanghai)
 *   --url URL         default ldc_cli_url(): $LEDGER_URL, else LDC_DEFAULT_URL
 * and --json wherever it prints something.
 */
#ifndef LD_CLI_H
#define LD_CLI_H

#include "version.h"

#define LDC_EXIT_USAGE 2 /* every program: a usage error, nothing was done */

/* Messages in the user's language, and the time zone from $LEDGER_TZ. A
 * $LEDGER_TZ the zone database does not know is reported on stderr and
 * LDC_EXIT_USAGE returned (exit with it); else 0. */
int ldc_cli_init(const char *program);

/* The program's name given to ldc_cli_init. */
const char *ldc_cli_program(void);

/* Prints the version on stdout: "ledgerctl 0.1.0", or with json
 * {"program": "ledgerctl", "version": "0.1.0"}. */
void ldc_cli_version(int json);

/* --tz ZONE: 0, or "PROGRAM: --tz 'ZONE' is not ..." on stderr and
 * LDC_EXIT_USAGE. */
int ldc_cli_tz(const char *zone);

/* The common options of a getopt loop that needs nothing else of them:
 * ch 'V' (--version: printed) and 'z' (--tz arg). -1: the program goes on;
 * else the status to exit with at once (0 after --version). */
int ldc_cli_option(int ch, const char *arg);

/* $LEDGER_URL if set and not empty, else LDC_DEFAULT_URL. */
const char *ldc_cli_url(void);

/* Whether the user asked for no colours: $NO_COLOR set and not empty
 * (no-color.org). A program then colours nothing unless told to by an
 * option (ledgerctl progress --colour). */
int ldc_cli_no_colour(void);

/* "PROGRAM: message" on stderr, message in the user's language already. */
__attribute__((format(printf, 1, 2))) void ldc_cli_error(const char *fmt, ...);

#endif
