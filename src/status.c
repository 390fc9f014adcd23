/* SPDX-License-Identifier: MIT */
/* status.c - status.json: counts, products' syncs, problems by class. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "twiliofs/status.h"

/* The classes of problems, in the order status.json lists them. */
enum problem {
	P_INTEGRITY, P_NOKEY, P_NETWORK, P_OTHER, P_EXTERNAL, P_UNENCRYPTED,
	P_FAILED, P_COUNT
};

static const char *const problem_names[P_COUNT] = { "integrity", "no_key",
    "network", "other", "external", "unencrypted", "failed_upstream" };
/* What the "extra" member of an entry is called, per class (or NULL). */
static const char *const extra_names[P_COUNT] = { NULL, "public_key_sid",
    NULL, "class", NULL, NULL, "status" };

struct entry {
	char sid[ITEM_SID_LEN + 1];
	int part;
	char extra[40];
};

struct list {
	size_t count;
	size_t n;
	struct entry e[STATUS_SIDS];
};

struct kind_count {
	size_t files, processing, failed, pending, failing, nokey, external,
	    unencrypted;
};

struct status {
	struct kind_count k[ITEM_KINDS + 1];
	struct list p[P_COUNT];
	struct status_product prod[KIND_PRODUCTS];
	char last_sync[32];
};

struct status *
status_new(void)
{
	return calloc(1, sizeof(struct status));
}

void
status_free(struct status *st)
{
	free(st);
}

static void
add(struct status *st, enum problem p, const struct item *it,
    const char *extra)
{
	struct list *l = &st->p[p];
	struct entry *e;

	l->count++;
	if (l->n >= STATUS_SIDS)
		return;
	e = &l->e[l->n++];
	(void)snprintf(e->sid, sizeof(e->sid), "%s", it->sid);
	e->part = it->part;
	(void)snprintf(e->extra, sizeof(e->extra), "%s", extra != NULL ?
	    extra : "");
}

/* A media failure that keeps an item pending, in its class. */
static void
add_failure(struct status *st, const struct item *it)
{
	struct kind_count *c = &st->k[it->kind];

	c->failing++;
	if (strcmp(it->fail_class, "integrity") == 0)
		add(st, P_INTEGRITY, it, NULL);
	else if (strcmp(it->fail_class, "nokey") == 0) {
		c->nokey++;
		add(st, P_NOKEY, it, it->env.public_key_sid);
	} else if (strcmp(it->fail_class, "network") == 0)
		add(st, P_NETWORK, it, NULL);
	else
		add(st, P_OTHER, it, it->fail_class);
}

int
status_note(struct status *st, const struct item *it)
{
	struct kind_count *c;
	char why[40];

	if ((int)it->kind < 1 || (int)it->kind > ITEM_KINDS)
		return 0;
	c = &st->k[it->kind];
	switch (kind_state_of(it->status)) {
	case STATE_DELETED:
		return 0;
	case STATE_PROCESSING:
		c->processing++;
		return 0;
	case STATE_FAILED:
		c->failed++;
		(void)snprintf(why, sizeof(why), "%.23s%s%.0d", it->status,
		    it->error_code ? " " : "", it->error_code);
		add(st, P_FAILED, it, why);
		return 0;
	case STATE_DONE:
		break;
	}
	if (strcmp(it->hold, "external") == 0) {
		c->external++;
		add(st, P_EXTERNAL, it, NULL);
		return 0;
	}
	if (strcmp(it->hold, "unencrypted") == 0) {
		c->unencrypted++;
		add(st, P_UNENCRYPTED, it, NULL);
		return 0;
	}
	if (!it->media_known) {
		c->pending++;
		if (it->fail_class[0] != '\0')
			add_failure(st, it);
		return 0;
	}
	c->files++;
	if (it->key_state == 2) {
		c->nokey++;
		add(st, P_NOKEY, it, it->env.public_key_sid);
	}
	return 1;
}

void
status_set_product(struct status *st, enum kind_product p,
    const struct status_product *sp)
{
	st->prod[p] = *sp;
}

void
status_set_last_sync(struct status *st, const char *iso)
{
	(void)snprintf(st->last_sync, sizeof(st->last_sync), "%s", iso);
}

/* --- rendering --- */

struct buf {
	char *p;
	size_t len, cap;
	int failed;
};

static void
put(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	size_t need;
	char *grown;
	int w;

	if (b->failed)
		return;
	for (;;) {
		va_start(ap, fmt);
		w = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
		va_end(ap);
		if (w < 0) {
			b->failed = 1;
			return;
		}
		need = b->len + (size_t)w + 1;
		if (need <= b->cap)
			break;
		grown = realloc(b->p, need * 2);
		if (grown == NULL) {
			b->failed = 1;
			return;
		}
		b->p = grown;
		b->cap = need * 2;
	}
	b->len += (size_t)w;
}

/* The length of the valid UTF-8 sequence at s, or 0. */
static size_t
utf8_len(const unsigned char *s)
{
	size_t n, i;

	if (s[0] < 0x80)
		return 1;
	n = s[0] >= 0xc2 && s[0] <= 0xdf ? 2 : s[0] >= 0xe0 && s[0] <= 0xef ?
	    3 : s[0] >= 0xf0 && s[0] <= 0xf4 ? 4 : 0;
	for (i = 1; i < n; i++)
		if ((s[i] & 0xc0) != 0x80)
			return 0;
	/* No overlong forms, surrogates or code points past U+10FFFF. */
	if ((s[0] == 0xe0 && s[1] < 0xa0) || (s[0] == 0xed && s[1] > 0x9f) ||
	    (s[0] == 0xf0 && s[1] < 0x90) || (s[0] == 0xf4 && s[1] > 0x8f))
		return 0;
	return n;
}

/*
 * s as a JSON string. API text may hold anything, and may have been cut
 * in the middle of a character: what is not valid UTF-8 becomes '?', so
 * strict parsers still read the file.
 */
static void
put_string(struct buf *b, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t n;

	put(b, "\"");
	while (*p != '\0') {
		n = utf8_len(p);
		if (*p == '"' || *p == '\\')
			put(b, "\\%c", *p);
		else if (*p < 0x20)
			put(b, "\\u%04x", *p);
		else if (n == 0)
			put(b, "?");
		else
			put(b, "%.*s", (int)n, (const char *)p);
		p += n > 0 ? n : 1;
	}
	put(b, "\"");
}

static void
put_time(struct buf *b, long long t)
{
	char iso[32];
	time_t when = (time_t)t;
	struct tm tm;

	if (t <= 0) {
		put(b, "null");
		return;
	}
	(void)strftime(iso, sizeof(iso), "%Y-%m-%dT%H:%M:%SZ",
	    gmtime_r(&when, &tm));
	put(b, "\"%s\"", iso);
}

static void
put_kinds(struct buf *b, const struct status *st)
{
	const struct kind_count *c;
	int k;

	put(b, "  \"kinds\": {\n");
	for (k = 1; k <= ITEM_KINDS; k++) {
		c = &st->k[k];
		put(b, "    \"%s\": {\"files\": %zu, \"processing\": %zu, "
		    "\"failed\": %zu, \"pending\": %zu, \"failing\": %zu, "
		    "\"no_key\": %zu, \"external\": %zu, \"unencrypted\": "
		    "%zu}%s\n", kind_info((enum item_kind)k)->id, c->files,
		    c->processing, c->failed, c->pending, c->failing, c->nokey,
		    c->external, c->unencrypted, k < ITEM_KINDS ? "," : "");
	}
	put(b, "  },\n");
}

static void
put_products(struct buf *b, const struct status *st)
{
	const struct status_product *sp;
	int p;

	put(b, "  \"products\": {\n");
	for (p = 0; p < KIND_PRODUCTS; p++) {
		sp = &st->prod[p];
		put(b, "    \"%s\": {\"last_ok\": ", kind_product_id(p));
		put_time(b, sp->last_ok);
		put(b, ", \"last_try\": ");
		put_time(b, sp->last_try);
		put(b, ", \"skipped_records\": %lld, \"error\": ", sp->skipped);
		if (sp->class[0] == '\0') {
			put(b, "null}");
		} else {
			put(b, "{\"class\": ");
			put_string(b, sp->class);
			put(b, ", \"detail\": ");
			put_string(b, sp->detail);
			put(b, "}}");
		}
		put(b, "%s\n", p + 1 < KIND_PRODUCTS ? "," : "");
	}
	put(b, "  },\n");
}

static void
put_list(struct buf *b, const struct list *l, enum problem p,
    size_t more, const char *more_sid)
{
	size_t i;

	put(b, "    \"%s\": {\"count\": %zu, \"items\": [", problem_names[p],
	    l->count + more);
	for (i = 0; i < l->n; i++) {
		put(b, "%s{\"sid\": ", i ? ", " : "");
		put_string(b, l->e[i].sid);
		if (l->e[i].part > 0)
			put(b, ", \"part\": %d", l->e[i].part);
		if (extra_names[p] != NULL) {
			put(b, ", \"%s\": ", extra_names[p]);
			if (l->e[i].extra[0] != '\0')
				put_string(b, l->e[i].extra);
			else
				put(b, "null");
		}
		put(b, "}");
	}
	if (more_sid != NULL && more_sid[0] != '\0') {
		put(b, "%s{\"sid\": ", l->n ? ", " : "");
		put_string(b, more_sid);
		put(b, ", \"on_read\": true}");
	}
	put(b, "]}");
}

/* Auth failures are the products' (401/403): listed by product. */
static void
put_auth(struct buf *b, const struct status *st)
{
	int p, n = 0;

	put(b, "    \"auth\": {\"count\": ");
	for (p = 0; p < KIND_PRODUCTS; p++)
		n += strcmp(st->prod[p].class, "auth") == 0 ||
		    strcmp(st->prod[p].class, "forbidden") == 0;
	put(b, "%d, \"products\": [", n);
	for (p = 0, n = 0; p < KIND_PRODUCTS; p++) {
		if (strcmp(st->prod[p].class, "auth") != 0 &&
		    strcmp(st->prod[p].class, "forbidden") != 0)
			continue;
		put(b, "%s{\"product\": \"%s\", \"class\": \"%s\"}", n++ ?
		    ", " : "", kind_product_id(p), st->prod[p].class);
	}
	put(b, "]}");
}

char *
status_render(const struct status *st, const struct status_mount *m,
    size_t *len)
{
	struct buf b = { NULL, 0, 0, 0 };
	int p;

	put(&b, "{\n  \"schema\": %d,\n  \"version\": ", STATUS_SCHEMA);
	put_string(&b, m->version);
	put(&b, ",\n  \"account_sid\": ");
	put_string(&b, m->account_sid);
	put(&b, ",\n  \"offline\": %s,\n  \"last_sync\": ", m->offline ?
	    "true" : "false");
	if (st->last_sync[0] != '\0')
		put_string(&b, st->last_sync);
	else
		put(&b, "null");
	/* How far a sync under way has got: a first mount fills in. */
	if (m->sync.running)
		put(&b, ",\n  \"sync\": {\"first\": %s, \"phase\": \"%s\", "
		    "\"listed\": %zu, \"probed\": %zu, \"to_probe\": %zu}",
		    m->sync.first ? "true" : "false", m->sync.probing ?
		    "probing" : "listing", m->sync.listed, m->sync.probed,
		    m->sync.to_probe);
	else
		put(&b, ",\n  \"sync\": null");
	put(&b, ",\n");
	put_products(&b, st);
	put_kinds(&b, st);
	put(&b, "  \"errors\": {\n");
	for (p = 0; p < P_COUNT; p++) {
		put_list(&b, &st->p[p], p, p == P_INTEGRITY ?
		    m->read_integrity : 0, p == P_INTEGRITY ?
		    m->read_integrity_sid : NULL);
		put(&b, ",\n");
	}
	put_auth(&b, st);
	/* Kept from schema 1: integrity failures seen by reads. */
	put(&b, ",\n    \"integrity_failures\": %zu,\n"
	    "    \"last_integrity_failure\": ", m->read_integrity);
	if (m->read_integrity_sid != NULL && m->read_integrity_sid[0])
		put_string(&b, m->read_integrity_sid);
	else
		put(&b, "null");
	put(&b, "\n  }\n}\n");
	if (b.failed) {
		free(b.p);
		return NULL;
	}
	*len = b.len;
	return b.p;
}
