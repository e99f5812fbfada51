/*
 * batch.c — batch: a file of recording command lines, each checked and built
 * before all are appended together.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"

#define BATCH_MAX_BYTES ((size_t)256 << 20) /* the largest batch file read */

/* Splits line in place into words: blanks separate, '…' and "…" quote, a
 * backslash escapes the next character (outside single quotes). Returns the
 * word count, or -1 for an unterminated quote or too many words. */
static int split_words(char *line, char **words, int max)
{
	int n = 0;
	char *in = line, *out = line;
	for (;;) {
		while (*in == ' ' || *in == '\t' || *in == '\r')
			in++;
		if (!*in)
			return n;
		if (n == max)
			return -1;
		words[n++] = out;
		char quote = 0;
		for (; *in; in++) {
			if (quote == '\'') {
				if (*in == '\'')
					quote = 0;
				else
					*out++ = *in;
			} else if (*in == '\\' && in[1]) {
				*out++ = *++in;
			} else if (quote == '"') {
				if (*in == '"')
					quote = 0;
				else
					*out++ = *in;
			} else if (*in == '\'' || *in == '"') {
				quote = *in;
			} else if (*in == ' ' || *in == '\t' || *in == '\r') {
				break;
			} else {
				*out++ = *in;
			}
		}
		if (quote)
			return -1;
		int more = *in != '\0';
		*out++ = '\0';
		if (!more)
			return n;
		in++; /* out lags in (or meets it at a separator), never passes it */
	}
}

static char *read_all(const char *path, size_t *len, ld_errinfo *e)
{
	FILE *f = strcmp(path, "-") ? fopen(path, "rb") : stdin;
	char *buf = NULL;
	size_t n = 0, cap = 0;
	if (!f) {
		ld_errinfo_set(e, LD_E(NOT_FOUND), NULL, _("cannot open '%s': %s"), path,
			       strerror(errno));
		return NULL;
	}
	for (;;) {
		if (cap - n < 65536) {
			cap = cap ? 2 * cap : 1 << 20;
			char *nb = cap <= BATCH_MAX_BYTES ? realloc(buf, cap + 1) : NULL;
			if (!nb) {
				ld_errinfo_set(e, LD_E(TOO_LARGE), NULL, _("'%s' is too large"), path);
				goto fail;
			}
			buf = nb;
		}
		size_t got = fread(buf + n, 1, cap - n, f);
		n += got;
		if (got == 0)
			break;
	}
	if (ferror(f)) {
		ld_errinfo_set(e, LD_E(STORAGE), NULL, _("cannot read '%s': %s"), path,
			       strerror(errno));
		goto fail;
	}
	if (f != stdin)
		fclose(f);
	buf[n] = '\0';
	*len = n;
	return buf;
fail:
	if (f != stdin)
		fclose(f);
	free(buf);
	return NULL;
}

const struct opt batch_opts[] = {
	OPT("atomic", O_FLAG, NULL, "all or nothing: one rejected event rejects them all"),
	END_OPTS,
};

/* batch FILE: one command line per line ('#' comments and blank lines
 * skipped), all built before anything is sent, then appended together. */
int exec_batch(struct run *r, const struct args *a, ld_errinfo *e)
{
	const char *path = a->pos[0];
	size_t len = 0, n = 0, cap = 0;
	Ledger__Event **evs = NULL;
	int *lines = NULL;
	char saved[sizeof(r->what)];
	int rc = 0;
	char *buf = read_all(path, &len, e);

	if (!buf) {
		r->usage = 1;
		return e->code;
	}
	snprintf(saved, sizeof(saved), "%s", r->what);
	r->in_batch = 1;
	char *line = buf;
	for (int lineno = 1; line && line < buf + len; lineno++) {
		char *next = strchr(line, '\n');
		char *words[256];
		if (next)
			*next++ = '\0';
		/* A comment is skipped whole, before its words are split: a
		 * clerk's apostrophe there is no quote. */
		const char *first = line + strspn(line, " \t\r");
		int nw = *first == '#' ? 0 : split_words(line, words, 256);
		text(r->what, sizeof(r->what), "%s: %s:%d", saved, path, lineno);
		if (nw < 0) {
			rc = usage_error(r, e, LD_E(INVALID_VALUE),
					 _("unterminated quote or too many words"));
			goto out;
		}
		line = next;
		if (nw == 0)
			continue;
		if (n == cap) {
			cap = cap ? 2 * cap : 256;
			Ledger__Event **ne = realloc(evs, cap * sizeof(*ne));
			int *nl = ne ? realloc(lines, cap * sizeof(*nl)) : NULL;
			if (ne)
				evs = ne;
			if (!ne || !nl) {
				rc = out_of_memory(e);
				goto out;
			}
			lines = nl;
		}
		Ledger__Event *ev = arena_new(&r->arena, sizeof(*ev));
		if (!ev) {
			rc = out_of_memory(e);
			goto out;
		}
		ledger__event__init(ev);
		if ((rc = build_event(r, nw, words, ev, 0, e)) != 0)
			goto out;
		evs[n] = ev;
		lines[n++] = lineno;
	}
	snprintf(r->what, sizeof(r->what), "%s", saved);
	r->in_batch = 0;
	if (n == 0) {
		rc = usage_error(r, e, LD_E(MISSING_FIELD), _("'%s' holds no events"), path);
		goto out;
	}
	rc = append_and_report(r, evs, n, given(a, "atomic"), path, lines, e);
out:
	r->in_batch = 0;
	free(evs);
	free(lines);
	free(buf); /* the events point into it, but they are sent by now */
	return rc;
}
