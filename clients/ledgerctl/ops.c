/*
 * ops.c — the commands of a running ledger's operator: projections,
 * subscribers, backup.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "commands.h"

/* --- projections --------------------------------------------------- */

static void print_projections(const void *result, uint64_t as_of, const void *arg)
{
	const Ledger__ProjectionStatus *st = result;
	(void)as_of;
	(void)arg;
	const char *head[] = {_("PROJECTION"), _("CHECKPOINT"), _("LAG EVENTS"),
			      _("LAG MS"),     _("APPLIED"),    _("STATE")};
	const int cw[] = {0, 10, 10, 8, 10};
	int w = text_width(head[0]);
	for (size_t i = 0; i < st->n_projections; i++) {
		int n = text_width(st->projections[i]->name ? st->projections[i]->name : "");
		w = n > w ? n : w;
	}
	print_cell(head[0], w);
	for (int k = 1; k < 5; k++)
		print_rcell(head[k], cw[k], 0);
	printf("%s\n", head[5]);
	for (size_t i = 0; i < st->n_projections; i++) {
		const Ledger__ProjectionInfo *p = st->projections[i];
		print_cell(p->name ? p->name : "?", w);
		printf("%10llu  %10llu  %8lld  %10llu  %s%s%s\n", (unsigned long long)p->checkpoint,
		       (unsigned long long)p->lag_events, (long long)p->lag_ms,
		       (unsigned long long)p->applied, p->stopped ? _("STOPPED") : _("running"),
		       p->stopped && ld_has(p->error) ? ": " : "",
		       p->stopped && ld_has(p->error) ? p->error : "");
	}
}

int exec_projections(struct run *r, const struct args *a, ld_errinfo *e)
{
	Ledger__Response *resp = NULL;
	(void)a;
	int rc = ask_plain(r, ldc_projections, &resp, e);
	return show_result(r, rc, resp, resp ? resp->projections : NULL, _("projection status"),
			   print_projections, NULL, e);
}

/* --- subscribers -------------------------------------------------- */

static void print_age(int64_t us, char out[32])
{
	int64_t s = (ldc_now_us() - us) / 1000000;
	if (s < 0)
		s = 0;
	if (s < 120)
		snprintf(out, 32, _("%llds ago"), (long long)s);
	else if (s < 7200)
		snprintf(out, 32, _("%lldm ago"), (long long)(s / 60));
	else
		snprintf(out, 32, _("%lldh ago"), (long long)(s / 3600));
}

static void print_subscribers(const void *result, uint64_t as_of, const void *arg)
{
	const Ledger__SubscriberList *l = result;
	(void)as_of;
	(void)arg;
	const char *head[] = {_("SUBSCRIBER"), _("LAST SEQ"), _("LAG"),   _("LAST SEEN"),
			      _("REQUESTS"),   _("EVENTS"),   _("STATE"), _("PEER")};
	const int cw[] = {0, 10, 10, 10, 9, 12};
	int w = text_width(head[0]);
	for (size_t i = 0; i < l->n_subscribers; i++) {
		int n = text_width(l->subscribers[i]->subscriber_id);
		w = n > w ? n : w;
	}
	print_cell(head[0], w);
	for (int k = 1; k < 6; k++)
		print_rcell(head[k], cw[k], 0);
	print_cell(head[6], 7);
	printf("%s\n", head[7]);
	for (size_t i = 0; i < l->n_subscribers; i++) {
		const Ledger__SubscriberInfo *s = l->subscribers[i];
		char age[32];
		print_age(s->last_seen, age);
		print_cell(s->subscriber_id, w);
		printf("%10llu  %10llu  %10s  %9llu  %12llu  ", (unsigned long long)s->last_seq,
		       (unsigned long long)s->lag_events, age, (unsigned long long)s->requests,
		       (unsigned long long)s->events);
		print_cell(s->waiting ? _("waiting") : "-", 7);
		printf("%s\n", s->peer ? s->peer : "");
	}
}

int exec_subscribers(struct run *r, const struct args *a, ld_errinfo *e)
{
	Ledger__Response *resp = NULL;
	(void)a;
	int rc = ask_plain(r, ldc_subscribers, &resp, e);
	return show_result(r, rc, resp, resp ? resp->subscribers : NULL, _("subscriber list"),
			   print_subscribers, NULL, e);
}

/* --- backup ------------------------------------------------------- */

#define BACKUP_TIMEOUT_MS (24 * 3600 * 1000)

int exec_backup(struct run *r, const struct args *a, ld_errinfo *e)
{
	char dir[4096];
	const char *d = a->pos[0];
	if (d[0] != '/') { /* the daemon's working directory is not ours */
		char cwd[2048];
		if (!getcwd(cwd, sizeof(cwd)))
			return usage_error(r, e, LD_E(INVALID_VALUE),
					   _("cannot make '%s' absolute: %s"), d, strerror(errno));
		text(dir, sizeof(dir), "%s/%s", cwd, d);
		d = dir;
	}
	/* A copy takes as long as the log is big: unless --timeout says
	 * otherwise, wait up to a day. */
	int timeout = r->timeout_ms == LDC_DEFAULT_TIMEOUT_MS ? BACKUP_TIMEOUT_MS : r->timeout_ms;
	ldc *c = NULL;
	Ledger__Response *resp = NULL;
	int rc = ldc_open(&c, r->url, timeout, e);
	if (rc == 0)
		rc = ldc_backup(c, d, &resp, e);
	if (rc == 0 && !resp->backup)
		rc = ld_errinfo_set(e, LD_E(MALFORMED), NULL, _("the server answered no backup result"));
	if (rc == 0) {
		const Ledger__BackupResult *b = resp->backup;
		if (r->json)
			rc = print_json(b, e);
		else
			printf(_("backup in %s: seq %llu and before, %.1f MiB in %.2f s\n"),
			       b->dir ? b->dir : d, (unsigned long long)b->head_seq,
			       (double)b->bytes / (1 << 20), (double)b->duration_us / 1e6);
	}
	codec_response_free(resp);
	ldc_close(c);
	return rc;
}

/* --- cluster ------------------------------------------------------- */

#define CLUSTER_MAX 16

/* One node's answer (NULL: unreachable, why in err). */
struct node_answer {
	char url[256];
	Ledger__Response *resp;
	char err[sizeof(((ld_errinfo *)0)->message)];
};

static void ask_node(struct run *r, struct node_answer *n)
{
	ldc *c = NULL;
	ld_errinfo e = {0};
	if (ldc_open_tls(&c, n->url, r->timeout_ms < 5000 ? r->timeout_ms : 5000, &r->tls, &e) ||
	    ldc_cluster(c, &n->resp, &e)) {
		snprintf(n->err, sizeof(n->err), "%s", e.message);
		codec_response_free(n->resp);
		n->resp = NULL;
	}
	ldc_close(c);
}

static int has_url(struct node_answer *nodes, int n, const char *url)
{
	for (int i = 0; i < n; i++)
		if (!strcmp(nodes[i].url, url))
			return 1;
	return 0;
}

/* A node's role as the server names it (core/replica's words), in the
 * user's language; a word this table does not know, as it came. */
static const char *role_word(const char *role)
{
	static const char *const words[] = {
	    N_("leader"), N_("follower"), N_("candidate"),
	    N_("halted"), N_("failed"),   N_("stopped"), N_("removed"),
	};
	for (size_t i = 0; role && i < sizeof(words) / sizeof(words[0]); i++)
		if (!strcmp(role, words[i]))
			return _(words[i]);
	return role ? role : "?";
}

/* Asks every node given (--url a,b,c) and every node their configuration
 * names, and prints one line per node: each node knows only itself. */
int exec_cluster(struct run *r, const struct args *a, ld_errinfo *e)
{
	(void)a;
	static struct node_answer nodes[CLUSTER_MAX];
	int n = 0;
	for (const char *p = r->url; *p && n < CLUSTER_MAX;) {
		const char *end = strchr(p, ',');
		size_t len = end ? (size_t)(end - p) : strlen(p);
		if (len && len < sizeof(nodes[n].url)) {
			memcpy(nodes[n].url, p, len);
			nodes[n].url[len] = '\0';
			if (!has_url(nodes, n, nodes[n].url))
				n++;
		}
		p = end ? end + 1 : p + len;
	}
	for (int i = 0; i < n; i++) {
		ask_node(r, &nodes[i]);
		const Ledger__ClusterStatus *st = nodes[i].resp ? nodes[i].resp->cluster : NULL;
		for (size_t k = 0; st && k < st->n_nodes && n < CLUSTER_MAX; k++)
			if (ld_has(st->nodes[k]->url) && !has_url(nodes, n, st->nodes[k]->url))
				snprintf(nodes[n++].url, sizeof(nodes[0].url), "%s", st->nodes[k]->url);
	}
	int rc = 0, reachable = 0;
	uint64_t top_seq = 0, top_confirmed = 0;
	for (int i = 0; i < n; i++) {
		const Ledger__ClusterStatus *st = nodes[i].resp ? nodes[i].resp->cluster : NULL;
		if (!st)
			continue;
		reachable++;
		if (st->log_seq > top_seq)
			top_seq = st->log_seq;
		if (st->confirmed_index > top_confirmed)
			top_confirmed = st->confirmed_index;
	}
	if (r->json) {
		json_t *arr = json_array();
		for (int i = 0; arr && i < n; i++) {
			const Ledger__ClusterStatus *st = nodes[i].resp ? nodes[i].resp->cluster : NULL;
			json_t *o = st ? ldc_to_json(st) : json_object();
			if (!o)
				continue;
			json_object_set_new(o, "url", json_string(nodes[i].url));
			if (!st)
				json_object_set_new(o, "error", json_string(nodes[i].err));
			else
				json_object_set_new(o, "lag_events", json_integer((json_int_t)(top_seq - st->log_seq)));
			json_array_append_new(arr, o);
		}
		rc = dump_json(arr, e);
	} else {
		/* The role is a cell of its own: a Chinese word is wider in
		 * bytes than in columns. */
		printf("%-4s  %-26s  ", _("NODE"), _("URL"));
		print_cell(_("ROLE"), 9);
		printf("%5s  %9s  %9s  %9s  %9s  %s\n", _("TERM"), _("COMMITTED"), _("APPLIED"),
		       _("SEQ"), _("LAG"), _("STATE"));
		for (int i = 0; i < n; i++) {
			const Ledger__ClusterStatus *st = nodes[i].resp ? nodes[i].resp->cluster : NULL;
			if (!st) {
				printf("%-4s  %-26s  %-9s  %5s  %9s  %9s  %9s  %9s  %s: %s\n", "-",
				       nodes[i].url, "-", "-", "-", "-", "-", "-", _("unreachable"),
				       nodes[i].err);
				continue;
			}
			if (!st->replicated) {
				printf("%-4s  %-26s  ", "-", nodes[i].url);
				print_cell(_("single"), 9);
				printf("%5s  %9s  %9s  %9s  %9s  %s\n", "-", "-", "-", "-", "-",
				       _("a single node, not replicated"));
				continue;
			}
			char state[400];
			if (ld_has(st->reason))
				snprintf(state, sizeof(state), "%s", st->reason);
			else if (st->ready)
				snprintf(state, sizeof(state), "%s", _("leading, taking writes"));
			else
				snprintf(state, sizeof(state), _("leader: %s"),
				         ld_has(st->leader_url) ? st->leader_url : _("none known"));
			printf("%-4llu  %-26s  ", (unsigned long long)st->id, nodes[i].url);
			print_cell(role_word(st->role), 9);
			printf(
			    "%5llu  %9llu  %9llu  %9llu  %9llu  %s\n", (unsigned long long)st->term,
			    (unsigned long long)st->confirmed_index,
			    (unsigned long long)st->applied_index, (unsigned long long)st->log_seq,
			    (unsigned long long)(top_seq - st->log_seq), state);
		}
	}
	for (int i = 0; i < n; i++)
		codec_response_free(nodes[i].resp);
	if (!reachable && rc == 0)
		rc = ld_errinfo_set(e, LD_E(UNAVAILABLE), NULL, _("no node answered"));
	return rc;
}
