/*
 * progress_view.h — plan progress as text: the tables `ledgerctl progress`
 * prints and `ledger-monitor` redraws, and the one-line form of a row for
 * logs and pipes. Widths count East Asian wide characters (city names) as
 * two columns.
 */
#ifndef LD_PROGRESS_VIEW_H
#define LD_PROGRESS_VIEW_H

#include <stdint.h>
#include <stdio.h>

#include "codec.h"

typedef struct pv_opts {
	int colour;	  /* ANSI colours by status */
	int bar;	  /* width of the progress bar (0: none) */
	uint32_t region;  /* only this region (0: all rows of the report) */
	int province_only; /* leave out the city rows */
} pv_opts;

/* "AHEAD", "ON TRACK", ... */
const char *pv_status_word(int status);
/* The name of a region of the plan: a city's name, or "province" with the
 * code for the plan's region. */
void pv_region_name(const Ledger__PlanInfo *p, uint32_t code, char *out, size_t n);
/* Columns a UTF-8 string takes in a terminal. */
int pv_width(const char *s);
/* A figure in the target's unit: amounts in fen as yuan, ratios as a
 * percent, counts with thousands separators. */
void pv_format(const Ledger__PlanTarget *t, int64_t v, char *out, size_t n);
/* The target a row belongs to (NULL if the report does not define it). */
const Ledger__PlanTarget *pv_target(const Ledger__PlanInfo *p, const char *id);

/* The whole report, a block per target. */
void pv_print_report(FILE *f, const Ledger__ProgressReport *r, const pv_opts *o);
/* One row on one line: time, seq, target, window, region, actual/target,
 * percent, status. */
void pv_print_line(FILE *f, const Ledger__ProgressReport *r, const Ledger__ProgressRow *row);

#endif
