/*
 * progress_view.h — plan progress as text: the tables `ledgerctl progress`
 * prints and `ledger-monitor` draws, and the one-line form of a row for
 * logs and pipes.
 *
 * Widths are terminal columns, not bytes: a Chinese city name takes two
 * columns per character and "¥" one, as wcwidth(3) says in a UTF-8 locale
 * (taken whatever the program's own locale is), so that columns line up.
 */
#ifndef LD_PROGRESS_VIEW_H
#define LD_PROGRESS_VIEW_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "codec.h"

typedef struct pv_opts {
	int colour;        /* pv_print_report: ANSI colours by status */
	int bar;           /* width of the progress bar (0: none) */
	uint32_t region;   /* only this region (0: all rows of the report) */
	uint32_t year;     /* only this year's windows and the cumulative ones (0: all) */
	int province_only; /* leave out the city rows */
	int no_heading;    /* leave out the plan's title and "status as of" lines */
	int status_at_only; /* the status was judged at a time of the asker's
	                     * (ProgressRequest.at), the figures are of now:
	                     * the heading says so */
	int csv;            /* ledgerctl progress --csv (pv_print_csv) */
} pv_opts;

/* How a piece of a line is shown. */
enum pv_style {
	PV_PLAIN,
	PV_BOLD,   /* the plan's title, a target's id */
	PV_DIM,    /* secondary text */
	PV_STATUS, /* the colour of the segment's status (ProgressStatus) */
	PV_NOTE,   /* a row's closing note (what is needed per day): plain, and
	            * on a narrow screen left out whole rather than cut */
};

/* A piece of a line: text (UTF-8, owned by the caller of the callback and
 * valid only during the call) and how to show it. */
typedef struct pv_seg {
	const char *text;
	int style;  /* enum pv_style */
	int status; /* with PV_STATUS: a LEDGER__PROGRESS_STATUS__* */
} pv_seg;

/* Receives one line of a report (without its newline) as n segments; an
 * empty line has n = 0. */
typedef void (*pv_line_fn)(void *arg, const pv_seg *segs, size_t n);

/* "AHEAD", "ON TRACK", ...; in Chinese mode the status's Chinese name
 * (labels.h: 超前, 符合进度, ...). */
const char *pv_status_word(int status);
/* The name of a region of the plan: a city's name, or "province" with the
 * code for the plan's region. */
void pv_region_name(const Ledger__PlanInfo *p, uint32_t code, char *out, size_t n);
/* Columns a UTF-8 string takes in a terminal (wcwidth; a byte that is not
 * UTF-8 counts one). */
int pv_width(const char *s);
/* The longest prefix of s that fits in cols columns, in bytes (never cuts a
 * character). */
size_t pv_fit(const char *s, int cols);
/* A figure in the target's unit: amounts in fen as yuan, ratios as a
 * percent, counts with thousands separators. */
void pv_format(const Ledger__PlanTarget *t, int64_t v, char *out, size_t n);
/* A percent to one decimal, as text: halves rounded away from zero
 * (111.25 -> "111.3"), as people round and as the dashboard's
 * Number.toFixed(1) does; printf's "%.1f" rounds an exact half to even
 * ("111.2"), so that ledgerctl and the dashboard showed two figures. */
void pv_pct(double x, char *out, size_t n);
/* A target's window in words: "each year", "over the whole plan", "average
 * 300,000 a year, 3 years" (a yearly_average target's: what its rows judge);
 * csv: the progress CSV's and the dashboard's word ("yearly", "cumulative",
 * "average per year, 3 years"). */
void pv_window_words(const Ledger__PlanTarget *t, int csv, char *out, size_t n);
/* The target a row belongs to (NULL if the report does not define it). */
const Ledger__PlanTarget *pv_target(const Ledger__PlanInfo *p, const char *id);
/* Whether a row is shown under o (region, year, province_only). */
int pv_row_shown(const Ledger__ProgressReport *r, const Ledger__ProgressRow *row, const pv_opts *o);

/* The whole report, a block per target, one call of fn per line. */
void pv_render_report(const Ledger__ProgressReport *r, const pv_opts *o, pv_line_fn fn, void *arg);
/* pv_render_report onto f, with ANSI colours when o->colour. */
void pv_print_report(FILE *f, const Ledger__ProgressReport *r, const pv_opts *o);
/* The rows shown under o as CSV for a spreadsheet: UTF-8 with a byte-order
 * mark (Excel reads Chinese then), CRLF line ends, RFC 4180 quoting; a
 * header in the user's language, the columns of the dashboard's CSV (target
 * title and id, window, year, region code and name, actual, target, percent,
 * expected by the pace, status) and then what the figures are as of (the
 * report's day, else its time) and the seq. Plain numbers: no thousands
 * separators, yuan with two decimals, a ratio's share and target with "%". */
void pv_print_csv(FILE *f, const Ledger__ProgressReport *r, const pv_opts *o);
/* One row on one line: time, seq, target, window, region, actual/target,
 * percent, status (in English in every language: scripts read it). */
void pv_print_line(FILE *f, const Ledger__ProgressReport *r, const Ledger__ProgressRow *row);

#endif
