/* importer.c — a collective registration file, end to end. See importer.h. */
#include "importer.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "client.h"
#include "clock.h"
#include "i18n.h"
#include "servertext.h"

#define MAX_BATCH 10000
#define MAX_JOBS 64
#define BUSY_RETRY_MS 100
#define BUSY_RETRIES 600

/* A request's worth of good rows, and what the ledger said. */
typedef struct batch {
	struct batch *next;
	csvimp_row *rows;
	Ledger__Event **evs;
	size_t n, cap;
} batch;

typedef struct imp {
	const ldc_import_options *o;
	csvimp *ci;
	ldc_import_result *res;
	pthread_mutex_t lock;
	pthread_cond_t cv;
	batch *queue, *tail;
	size_t queued;
	int closed;    /* no more batches */
	int failed;    /* a request failed as a whole: stop sending */
	ld_errinfo failure;
	csvimp_error *errs;
	size_t nerrs, errcap;
	uint64_t decided;
} imp;

/* Adds an error line (lock held, or before the senders start). */
static int add_error(imp *im, unsigned long line, const char *column, const char *reason)
{
	if (im->nerrs == im->errcap) {
		size_t cap = im->errcap ? 2 * im->errcap : 256;
		csvimp_error *ne = realloc(im->errs, cap * sizeof(*ne));
		if (!ne)
			return -1;
		im->errs = ne;
		im->errcap = cap;
	}
	csvimp_error *er = &im->errs[im->nerrs++];
	er->line = line;
	snprintf(er->column, sizeof(er->column), "%s", column ? column : "");
	/* The ledger's rules (proto/identity.h) say why in English; those
	 * sentences known are put in the user's language (servertext.h). */
	char said[sizeof(er->reason)];
	const char *own = ldc_server_text(reason, said, sizeof(said));
	snprintf(er->reason, sizeof(er->reason), "%s", own ? own : reason);
	return 0;
}

static void batch_free(batch *b)
{
	if (!b)
		return;
	free(b->rows);
	free(b->evs);
	free(b);
}

static batch *batch_new(size_t cap)
{
	batch *b = calloc(1, sizeof(*b));
	if (!b)
		return NULL;
	b->rows = malloc(cap * sizeof(*b->rows));
	b->evs = malloc(cap * sizeof(*b->evs));
	b->cap = cap;
	if (!b->rows || !b->evs) {
		batch_free(b);
		return NULL;
	}
	return b;
}

/* ------------------------------------------------------------------ */
/* Sending                                                             */
/* ------------------------------------------------------------------ */

/* Sends one batch and files its results. Returns 0, or a code that stops
 * the import (e filled). */
static int send_batch(imp *im, ldc *c, batch *b, ld_errinfo *e)
{
	Ledger__Response *resp = NULL;
	int rc;
	for (int tries = 0;; tries++) {
		for (size_t i = 0; i < b->n; i++) {
			csvimp_row_fix(&b->rows[i]);
			b->evs[i] = &b->rows[i].ev;
		}
		rc = ldc_append(c, b->evs, b->n, im->o->atomic, &resp, e);
		if (rc != LD_E(BUSY) || tries == BUSY_RETRIES)
			break;
		codec_response_free(resp);
		resp = NULL;
		nanosleep(&(struct timespec){0, BUSY_RETRY_MS * 1000000L}, NULL);
	}
	if (rc) {
		codec_response_free(resp);
		return rc;
	}
	const Ledger__AppendResult *ar = resp->append;
	if (!ar || ar->n_results != b->n) {
		codec_response_free(resp);
		return ld_errinfo_set(e, LD_E(MALFORMED), NULL,
				      _("the ledger answered %zu results for %zu events"),
				      ar ? ar->n_results : 0, b->n);
	}
	pthread_mutex_lock(&im->lock);
	for (size_t i = 0; i < b->n; i++) {
		const Ledger__EventResult *r = ar->results[i];
		if (!r->error) {
			if (r->has_duplicate && r->duplicate)
				im->res->duplicates++;
			else
				im->res->imported++;
			continue;
		}
		const Ledger__Error *er = r->error;
		int code = er->has_code ? -(int)er->code : LD_E(INTERNAL);
		if (code == LD_E(ABORTED)) {
			im->res->unsent++;
			continue;
		}
		const char *col = im->ci ? csvimp_column_of_field(im->ci, er->field) : NULL;
		char reason[sizeof(((csvimp_error *)0)->reason)], said[sizeof(reason)];
		const char *own = er->message ? ldc_server_text(er->message, said, sizeof(said))
					      : NULL;
		snprintf(reason, sizeof(reason), "%s (%s)",
			 own ? own
			 : er->message && *er->message ? er->message
						       : _(ld_strerror(code)),
			 ld_errname(code));
		add_error(im, b->rows[i].line, col ? col : "", reason);
		im->res->rejected++;
	}
	if (ar->has_head_seq && ar->head_seq > im->res->head_seq)
		im->res->head_seq = ar->head_seq;
	im->decided += b->n;
	pthread_mutex_unlock(&im->lock);
	codec_response_free(resp);
	return 0;
}

static void *sender_main(void *arg)
{
	imp *im = arg;
	ldc *c = NULL;
	ld_errinfo e = {0};
	int rc = 0;
	for (;;) {
		pthread_mutex_lock(&im->lock);
		while (!im->queue && !im->closed)
			pthread_cond_wait(&im->cv, &im->lock);
		batch *b = im->queue;
		if (b) {
			im->queue = b->next;
			if (!im->queue)
				im->tail = NULL;
			im->queued--;
			pthread_cond_broadcast(&im->cv);
		}
		int stop = im->failed;
		pthread_mutex_unlock(&im->lock);
		if (!b)
			break;
		/* Connected at the first batch: a sender that gets none never
		 * dials (NNG 1.5.2 leaks a dialer closed while connecting). */
		if (!stop && rc == 0 && !c)
			rc = ldc_open(&c, im->o->url, im->o->timeout_ms, &e);
		if (!stop && rc == 0)
			rc = send_batch(im, c, b, &e);
		if (stop || rc) {
			pthread_mutex_lock(&im->lock);
			im->res->unsent += b->n;
			if (rc && !im->failed) {
				im->failed = 1;
				im->failure = e;
				pthread_cond_broadcast(&im->cv);
			}
			pthread_mutex_unlock(&im->lock);
		}
		batch_free(b);
	}
	ldc_close(c);
	return NULL;
}

/* Queues b for the senders, waiting while 2 per sender are queued. */
static void submit(imp *im, batch *b, unsigned jobs)
{
	pthread_mutex_lock(&im->lock);
	while (im->queued >= 2 * (size_t)jobs && !im->failed)
		pthread_cond_wait(&im->cv, &im->lock);
	b->next = NULL;
	if (im->tail)
		im->tail->next = b;
	else
		im->queue = b;
	im->tail = b;
	im->queued++;
	pthread_cond_broadcast(&im->cv);
	pthread_mutex_unlock(&im->lock);
}

/* ------------------------------------------------------------------ */
/* Progress                                                            */
/* ------------------------------------------------------------------ */

typedef struct progress {
	int mode; /* 0 none, 1 bar (terminal), 2 a line per 10% */
	double start, last;
	int last_tenth;
	const char *name;
} progress;

static void progress_show(progress *p, double frac, uint64_t rows, int final)
{
	if (!p->mode)
		return;
	double t = (double)ld_mono_us() / 1e6;
	if (p->mode == 1) {
		if (!final && t - p->last < 0.1)
			return;
		p->last = t;
		char bar[31];
		int fill = (int)(frac * 30 + 0.5);
		for (int i = 0; i < 30; i++)
			bar[i] = i < fill ? '#' : ' ';
		bar[30] = '\0';
		double el = t - p->start;
		fprintf(stderr, _("\rimport %s: [%s] %3d%% %llu rows %.0f rows/s%s"), p->name, bar,
			(int)(frac * 100 + 0.5), (unsigned long long)rows,
			el > 0 ? (double)rows / el : 0.0, final ? "\n" : "");
		return;
	}
	int tenth = (int)(frac * 10);
	if (tenth > p->last_tenth || (final && p->last_tenth < 10)) {
		p->last_tenth = final ? 10 : tenth;
		fprintf(stderr, _("import %s: %d%%, %llu rows\n"), p->name,
			final ? 100 : tenth * 10, (unsigned long long)rows);
	}
}

/* ------------------------------------------------------------------ */
/* The import                                                          */
/* ------------------------------------------------------------------ */

static char *read_file(const char *path, size_t *len, ld_errinfo *e)
{
	FILE *f = fopen(path, "rb");
	if (!f) {
		ld_errinfo_set(e, LD_E(NOT_FOUND), NULL, _("unable to open '%s': %s"), path,
			       strerror(errno));
		return NULL;
	}
	size_t cap = 1 << 16, n = 0;
	char *buf = malloc(cap);
	for (;;) {
		if (!buf)
			break;
		if (n == cap) {
			char *nb = realloc(buf, cap * 2);
			if (!nb) {
				free(buf);
				buf = NULL;
				break;
			}
			buf = nb;
			cap *= 2;
		}
		size_t k = fread(buf + n, 1, cap - n, f);
		n += k;
		if (k == 0)
			break;
	}
	int err = ferror(f);
	fclose(f);
	if (!buf || err) {
		free(buf);
		ld_errinfo_set(e, buf ? LD_E(STORAGE) : LD_E(INTERNAL), NULL,
			       _("unable to read '%s'"), path);
		return NULL;
	}
	*len = n;
	return buf;
}

/* The organisation must exist, or every row would be rejected for it. */
static int org_exists(const ldc_import_options *o, ld_errinfo *e)
{
	ldc *c = NULL;
	Ledger__Response *resp = NULL;
	char stream[128];
	snprintf(stream, sizeof(stream), "org/%s", o->csv.org_id);
	int rc = ldc_open(&c, o->url, o->timeout_ms, e);
	if (rc == 0)
		rc = ldc_read_stream(c, stream, 1, 1, &resp, e);
	if (rc == LD_E(NOT_FOUND))
		ld_errinfo_set(e, rc, NULL, _("organisation '%s' not found"), o->csv.org_id);
	codec_response_free(resp);
	ldc_close(c);
	return rc;
}

static int cmp_err(const void *a, const void *b)
{
	const csvimp_error *x = a, *y = b;
	return x->line < y->line ? -1 : x->line > y->line;
}

int ldc_import(const ldc_import_options *o, ldc_import_result *res, ld_errinfo *e)
{
	imp im = {.o = o, .res = res};
	pthread_t th[MAX_JOBS];
	unsigned nth = 0;
	size_t len = 0;
	batch *cur = NULL;
	int rc = 0;
	unsigned bsize = o->batch ? o->batch : 1000;
	unsigned jobs = o->jobs ? o->jobs : 4;

	memset(res, 0, sizeof(*res));
	if (bsize > MAX_BATCH || jobs > MAX_JOBS)
		return ld_errinfo_set(e, LD_E(INVALID_VALUE), NULL,
				      _("batches of 1-%d rows and 1-%d jobs"), MAX_BATCH, MAX_JOBS);
	if (o->report_path)
		snprintf(res->report_path, sizeof(res->report_path), "%s", o->report_path);
	else
		snprintf(res->report_path, sizeof(res->report_path), "%s.errors.csv", o->path);
	double start = (double)ld_mono_us() / 1e6;
	char *data = read_file(o->path, &len, e);
	if (!data)
		return e->code;
	rc = csvimp_open(&im.ci, data, len, &o->csv, e);
	free(data);
	if (rc)
		return rc;
	snprintf(res->encoding, sizeof(res->encoding), "%s", csvimp_encoding(im.ci));
	for (size_t i = 0; o->warn && csvimp_ignored(im.ci, i); i++)
		fprintf(stderr, _("ledgerctl: import: %s: column '%s' is not one the ledger "
				"records; ignored\n"),
			o->path, csvimp_ignored(im.ci, i));

	progress pg = {0};
	pg.name = o->path;
	pg.start = pg.last = (double)ld_mono_us() / 1e6;
	if (o->progress == 1 || (o->progress < 0 && isatty(STDERR_FILENO)))
		pg.mode = 1;
	else if (o->progress < 0 && len > (1u << 20))
		pg.mode = 2;

	pthread_mutex_init(&im.lock, NULL);
	pthread_cond_init(&im.cv, NULL);
	if (!o->check_only && (rc = org_exists(o, e)) != 0)
		goto stop;
	int send = !o->check_only && !o->atomic;
	for (; send && nth < jobs; nth++)
		if (pthread_create(&th[nth], NULL, sender_main, &im) != 0) {
			rc = ld_errinfo_set(e, LD_E(INTERNAL), NULL, _("unable to start a thread"));
			break;
		}
	if (rc)
		goto stop;

	size_t cap = o->atomic ? 1024 : bsize;
	for (;;) {
		if (!cur && !(cur = batch_new(cap))) {
			rc = ld_errinfo_set(e, LD_E(INTERNAL), NULL, _("out of memory"));
			goto stop;
		}
		if (cur->n == cur->cap) { /* atomic: one growing batch */
			size_t nc = cur->cap * 2;
			csvimp_row *nr = realloc(cur->rows, nc * sizeof(*nr));
			if (nr)
				cur->rows = nr;
			Ledger__Event **ne = nr ? realloc(cur->evs, nc * sizeof(*ne)) : NULL;
			if (!nr || !ne) {
				rc = ld_errinfo_set(e, LD_E(INTERNAL), NULL, _("out of memory"));
				goto stop;
			}
			cur->evs = ne;
			cur->cap = nc;
		}
		csvimp_row *row = &cur->rows[cur->n];
		int got = csvimp_next(im.ci, row);
		if (got < 0) {
			rc = ld_errinfo_set(e, got, NULL, _("out of memory"));
			goto stop;
		}
		if (got == 0)
			break;
		res->rows++;
		if (row->code) {
			pthread_mutex_lock(&im.lock);
			int bad = add_error(&im, row->line, row->column, row->reason);
			res->rejected++;
			im.decided++;
			pthread_mutex_unlock(&im.lock);
			if (bad) {
				rc = ld_errinfo_set(e, LD_E(INTERNAL), NULL, _("out of memory"));
				goto stop;
			}
		} else {
			cur->n++;
			if (o->atomic && cur->n > MAX_BATCH) {
				rc = ld_errinfo_set(e, LD_E(TOO_LARGE), NULL,
						    _("--atomic takes at most %d rows; '%s' has more"),
						    MAX_BATCH, o->path);
				goto stop;
			}
		}
		if (send && cur->n == bsize) {
			submit(&im, cur, jobs);
			cur = NULL;
			res->sent = 1;
		}
		if (res->rows % 256 == 0) {
			pthread_mutex_lock(&im.lock);
			int failed = im.failed;
			pthread_mutex_unlock(&im.lock);
			if (failed)
				break;
			progress_show(&pg, csvimp_progress(im.ci), res->rows, 0);
		}
	}
	if (o->check_only) {
		res->unsent = cur ? cur->n : 0;
	} else if (o->atomic) {
		if (res->rejected) {
			res->unsent = cur ? cur->n : 0; /* not sent: one row is bad */
		} else if (cur && cur->n) {
			ldc *c = NULL;
			res->sent = 1;
			if ((rc = ldc_open(&c, o->url, o->timeout_ms, e)) == 0)
				rc = send_batch(&im, c, cur, e);
			ldc_close(c);
			if (rc)
				res->unsent = cur->n;
			else if (res->rejected)
				res->unsent = res->rows - res->rejected;
		}
	} else if (cur && cur->n) {
		submit(&im, cur, jobs);
		cur = NULL;
		res->sent = 1;
	}

stop:
	pthread_mutex_lock(&im.lock);
	if (rc && !im.failed)
		im.failed = 1; /* the senders drop what is queued */
	im.closed = 1;
	pthread_cond_broadcast(&im.cv);
	pthread_mutex_unlock(&im.lock);
	for (unsigned i = 0; i < nth; i++)
		pthread_join(th[i], NULL);
	batch_free(cur);
	if (!rc && im.failed) {
		*e = im.failure;
		rc = e->code ? e->code : LD_E(INTERNAL);
	}
	if (rc && res->sent) {
		/* rows read but never handed over, and those not read yet */
		uint64_t known = res->imported + res->duplicates + res->rejected + res->unsent;
		if (res->rows > known)
			res->unsent += res->rows - known;
	}
	progress_show(&pg, rc ? csvimp_progress(im.ci) : 1.0, res->rows, 1);

	/* The report, whenever something was rejected; none otherwise. */
	if (im.nerrs && (!rc || res->sent)) {
		qsort(im.errs, im.nerrs, sizeof(*im.errs), cmp_err);
		ld_errinfo we = {0};
		if (csvimp_write_report(im.ci, res->report_path, im.errs, im.nerrs, &we) == 0)
			res->report = 1;
		else if (!rc) {
			*e = we;
			rc = we.code;
		}
	} else if (!rc) {
		unlink(res->report_path);
	}
	res->seconds = (double)ld_mono_us() / 1e6 - start;
	free(im.errs);
	csvimp_free(im.ci);
	pthread_cond_destroy(&im.cv);
	pthread_mutex_destroy(&im.lock);
	return rc;
}
