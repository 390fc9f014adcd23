/* SPDX-License-Identifier: MIT */
/*
 * sync.c - list the account into the catalog, then probe new media.
 *
 * A failure is contained to what failed: a product the key may not read,
 * or one that answers garbage, is recorded against that product while the
 * others sync; an item whose media cannot be probed is recorded against
 * that item (class, detail, backoff) while the others are probed. Only
 * the catalog itself failing (disk, memory) stops a sync.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>

#include "twiliofs/kind.h"
#include "twiliofs/log.h"
#include "twiliofs/sync.h"

/* More pages than this for one kind is a server paging in circles. */
#define SYNC_MAX_PAGES 100000
/* A product whose media answers this many network failures in a row is
 * down: its other items wait for the next sync. */
#define SYNC_NETWORK_STREAK 5

const char *
sync_kind_name(enum item_kind kind)
{
	const struct kind_info *ki = kind_info(kind);

	return ki != NULL ? ki->name : "items";
}

const char *
sync_error_class(int code)
{
	switch (code) {
	case TFS_ERR_AUTH:
		return "auth";
	case TFS_ERR_FORBIDDEN:
		return "forbidden";
	case TFS_ERR_NOTFOUND:
		return "notfound";
	case TFS_ERR_NOKEY:
		return "nokey";
	case TFS_ERR_ENVELOPE:
		return "envelope";
	case TFS_ERR_INTEGRITY:
	case TFS_ERR_TRUNCATED:
		return "integrity";
	case TFS_ERR_PROTOCOL:
		return "protocol";
	case TFS_ERR_NETWORK:
	case TFS_ERR_EXPIRED:
		return "network";
	default:
		return "error";
	}
}

static int
cancelled(const struct sync_options *o)
{
	return o->cancel != NULL && atomic_load(o->cancel);
}

static void
report_progress(const struct sync_options *o, struct sync_progress *p)
{
	if (o->progress != NULL)
		o->progress(p, o->arg);
}

/* A product failed: the first failure of a sync is the one kept. */
static void
product_failed(struct sync_report *rep, enum kind_product p, int code,
    const char *class, const char *detail)
{
	struct sync_product_report *pr = &rep->product[p];

	if (pr->code != TFS_OK)
		return;
	pr->code = code;
	(void)snprintf(pr->class, sizeof(pr->class), "%s", class);
	(void)snprintf(pr->detail, sizeof(pr->detail), "%s", detail);
}

static uint64_t
fnv1a(const char *s)
{
	uint64_t h = 14695981039346656037ULL;

	for (; *s != '\0'; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ULL;
	return h;
}

/* The links already followed in one listing: a repeat is a loop. */
struct seen {
	uint64_t *v;
	size_t n, cap;
};

/* 1 if url was seen before (and now is), 0 if new, -1 out of memory. */
static int
seen_add(struct seen *s, const char *url)
{
	uint64_t h = fnv1a(url), *grown;
	size_t i;

	for (i = 0; i < s->n; i++)
		if (s->v[i] == h)
			return 1;
	if (s->n == s->cap) {
		s->cap = s->cap == 0 ? 64 : s->cap * 2;
		grown = realloc(s->v, s->cap * sizeof(*s->v));
		if (grown == NULL)
			return -1;
		s->v = grown;
	}
	s->v[s->n++] = h;
	return 0;
}

/* Fetch one page of kind and store it; *fatal when the catalog failed. */
static int
list_page(struct catalog *cat, struct media *m,
    enum item_kind kind, const char *url, long long gen,
    struct catalog_page *page, int *fatal, struct tfs_error *err)
{
	char *json = NULL;
	int rc;

	rc = twilio_get_json(media_api(m), kind, url, &json, err);
	if (rc != TFS_OK)
		return rc;
	rc = catalog_begin(cat, err);
	if (rc == TFS_OK) {
		rc = catalog_ingest_page(cat, kind, json, twilio_kind_base(
		    media_api(m), kind), gen, page, err);
		if (rc == TFS_OK)
			rc = catalog_commit(cat, err);
		else
			catalog_rollback(cat);
	}
	free(json);
	/* A page that is not a list page is the server's fault; anything
	 * else failing here is the catalog's. */
	if (rc == TFS_ERR_ENVELOPE)
		rc = TFS_ERR_PROTOCOL;
	else if (rc != TFS_OK)
		*fatal = 1;
	return rc;
}

/*
 * List every page of kind into the catalog, newest first. Page links are
 * checked (twilio_page_url) and never followed twice. A failure that is
 * the API's is returned for the caller to record against the product;
 * *fatal says the catalog failed instead.
 */
static int
list_kind(struct catalog *cat, struct media *m,
    const struct sync_options *o, enum item_kind kind, long long gen,
    struct sync_kind_report *r, int *fatal, struct tfs_error *err)
{
	struct sync_progress prog = { kind, 0, 0, 0, 0, 0 };
	const char *name = sync_kind_name(kind);
	struct seen seen = { NULL, 0, 0 };
	struct catalog_page page;
	char url[ITEM_URL_MAX];
	int rc = TFS_OK, again;

	*fatal = 0;
	if (twilio_list_url(media_api(m), kind, o->page_size, url,
	    sizeof(url)) != TFS_OK)
		return tfs_error_set(err, TFS_ERR_CONFIG, "list URL too long");
	for (; !cancelled(o);) {
		again = seen_add(&seen, url);
		if (again != 0 || r->pages >= SYNC_MAX_PAGES) {
			rc = again < 0 ? tfs_error_set(err, TFS_ERR_NOMEM,
			    "out of memory") : tfs_error_set(err,
			    TFS_ERR_PROTOCOL, "%s: the API's page links %s "
			    "after %zu pages; listing stopped, the items "
			    "seen are kept", name, again ? "loop back to a "
			    "page already read" : "never end", r->pages);
			*fatal = again < 0;
			break;
		}
		rc = list_page(cat, m, kind, url, gen, &page, fatal, err);
		if (rc != TFS_OK)
			break;
		r->pages++;
		r->listed += page.items;
		r->added += page.added;
		r->changed += page.changed;
		r->skipped += page.skipped;
		if (page.skipped > 0)
			log_msg(TFS_LOG_WARN, "%s", page.skip_detail);
		prog.pages = r->pages;
		prog.items = r->listed;
		report_progress(o, &prog);
		if (page.next[0] == '\0') {
			r->complete = 1;
			break;
		}
		if (o->incremental && page.added == 0 && page.changed == 0)
			break;
		rc = twilio_page_url(media_api(m), kind, page.next, url,
		    sizeof(url), err);
		if (rc != TFS_OK)
			break;
	}
	free(seen.v);
	return rc;
}

/* List kind and, when the listing was whole, sweep what is gone. */
static int
sync_kind(struct catalog *cat, struct media *m,
    const struct sync_options *o, enum item_kind kind, long long gen,
    struct sync_report *rep, struct tfs_error *err)
{
	const struct kind_info *ki = kind_info(kind);
	struct sync_kind_report *r = &rep->kind[kind];
	struct tfs_error e = { 0, "" };
	char detail[TFS_ERROR_DETAIL];
	size_t removed;
	int rc, fatal;

	/* Refused for the product's other kind: refused for this one too.
	 * Any other failure (a bad link, a bad page) is that kind's own. */
	if (rep->product[ki->product].unavailable ||
	    rep->product[ki->product].code == TFS_ERR_AUTH ||
	    rep->product[ki->product].code == TFS_ERR_FORBIDDEN)
		return TFS_OK;
	if (!kind_product_offered(ki->product, o->region)) {
		(void)snprintf(detail, sizeof(detail), "Twilio offers no %s "
		    "in region %s; its %s are not listed",
		    kind_product_name(ki->product), o->region, ki->name);
		rep->product[ki->product].unavailable = 1;
		product_failed(rep, ki->product, TFS_ERR_NOTFOUND,
		    "unavailable", detail);
		return TFS_OK;
	}
	rc = list_kind(cat, m, o, kind, gen, r, &fatal, &e);
	if (rc != TFS_OK && (fatal || rc == TFS_ERR_NOMEM)) {
		*err = e;
		return rc;
	}
	if (rc != TFS_OK) {
		log_msg(TFS_LOG_WARN, "%s: %s", ki->name, e.detail);
		product_failed(rep, ki->product, rc, rc == TFS_ERR_NOTFOUND ?
		    "unavailable" : sync_error_class(rc), e.detail);
		return TFS_OK;
	}
	if (!r->complete)
		return TFS_OK;
	rc = catalog_sweep(cat, kind, gen, &removed, err);
	r->removed = removed;
	return rc;
}

/* Pending items, gathered first: no HTTP while a query is open. */
struct pending {
	struct item *v;
	size_t n, cap;
};

static int
collect(const struct item *it, void *arg)
{
	struct pending *p = arg;
	struct item *grown;

	if (p->n == p->cap) {
		p->cap = p->cap == 0 ? 64 : p->cap * 2;
		grown = realloc(p->v, p->cap * sizeof(*p->v));
		if (grown == NULL)
			return TFS_ERR_NOMEM;
		p->v = grown;
	}
	p->v[p->n++] = *it;
	return 0;
}

/*
 * Probe (sid, part) and record what it told, or that it failed (class,
 * detail, backoff). *code gets the item's outcome; only a failure of the
 * catalog itself is returned.
 */
static int
probe_record(struct catalog *cat, struct media *m,
    struct item *it, size_t *parts, struct sync_report *rep, int *code,
    struct tfs_error *e, struct tfs_error *err)
{
	int rc;

	tfs_error_clear(e);
	*code = media_probe(m, it, parts, e);
	if (*code == TFS_OK) {
		rc = catalog_set_media(cat, it->sid, it->part, it->part > 0 ?
		    it->media_url : NULL, &it->env, it->etag, e);
		if (rc == TFS_OK) {
			rep->kind[it->kind].probed++;
			return TFS_OK;
		}
		/* Gone meanwhile (swept by another process), or an
		 * envelope we cannot keep: this item's failure. */
		if (rc == TFS_ERR_IO || rc == TFS_ERR_NOMEM) {
			*err = *e;
			return rc;
		}
		*code = rc;
	}
	if (*code == TFS_ERR_NOMEM) {
		*err = *e;
		return *code;
	}
	rep->kind[it->kind].probe_failed++;
	log_msg(TFS_LOG_WARN, "%s%s: media not probed: %s", it->sid,
	    it->part > 0 ? " (operator result)" : "", e->detail);
	return catalog_fail(cat, it->sid, it->part, sync_error_class(*code),
	    e->detail, (long long)time(NULL), err);
}

/*
 * Probe one item and, for a transcript, each of its operator results:
 * each part is a row of its own, pending and retried on its own.
 */
static int
probe_one(struct catalog *cat, struct media *m, struct item *it,
    struct sync_report *rep, int *code, struct tfs_error *e,
    struct tfs_error *err)
{
	struct item part;
	size_t parts = 0, i;
	int rc, part_code;

	rc = probe_record(cat, m, it, &parts, rep, code, e, err);
	for (i = 1; rc == TFS_OK && *code == TFS_OK && i <= parts; i++) {
		part = *it;
		part.part = (int)i;
		envelope_init(&part.env);
		part.media_known = 0;
		if (twilio_media_api_url(media_api(m), it->kind, it->sid,
		    part.part, part.media_url, sizeof(part.media_url)) !=
		    TFS_OK)
			break;
		rc = catalog_add_part(cat, it->sid, part.part, part.media_url,
		    err);
		if (rc == TFS_OK)
			rc = probe_record(cat, m, &part, &(size_t){ 0 }, rep,
			    &part_code, e, err);
	}
	return rc;
}

/* Whether it's product refused us this sync, or its media are down. */
static int
product_down(const struct sync_report *rep, const struct item *it)
{
	const struct sync_product_report *pr =
	    &rep->product[kind_info(it->kind)->product];

	return pr->probe_down || pr->code == TFS_ERR_AUTH ||
	    pr->code == TFS_ERR_FORBIDDEN;
}

/*
 * After each probe: refused credentials or access stop the product's
 * probing; so do SYNC_NETWORK_STREAK network failures in a row (the
 * network is down: its other items wait for the next sync, not for
 * minutes of timeouts each). Any other outcome ends a streak.
 */
static void
note_probe(struct sync_report *rep, const struct item *it, int code,
    int *streak, const char *detail)
{
	enum kind_product p = kind_info(it->kind)->product;

	if (code == TFS_ERR_AUTH || code == TFS_ERR_FORBIDDEN)
		product_failed(rep, p, code, sync_error_class(code), detail);
	streak[p] = code == TFS_ERR_NETWORK ? streak[p] + 1 : 0;
	if (streak[p] == SYNC_NETWORK_STREAK) {
		rep->product[p].probe_down = 1;
		log_msg(TFS_LOG_WARN, "%s: %d media failures in a row; its "
		    "other items wait for the next sync",
		    kind_product_name(p), SYNC_NETWORK_STREAK);
	}
}

/*
 * Items never tried first, then those that failed before: a few dead
 * items at the head of the list must not hold back the rest forever.
 */
static int
fresh_first(struct pending *p)
{
	struct item *v;
	size_t i, n = 0;
	int pass;

	if (p->n == 0)
		return TFS_OK;
	v = malloc(p->n * sizeof(*v));
	if (v == NULL)
		return TFS_ERR_NOMEM;
	for (pass = 0; pass < 2; pass++)
		for (i = 0; i < p->n; i++)
			if ((p->v[i].fail_class[0] != '\0') == pass)
				v[n++] = p->v[i];
	free(p->v);
	p->v = v;
	return TFS_OK;
}

static int
probe_pending(struct catalog *cat, struct media *m,
    const struct sync_options *o, struct sync_report *rep,
    struct tfs_error *err)
{
	struct sync_progress prog = { 0, 1, 0, 0, 0, 0 };
	struct pending p = { NULL, 0, 0 };
	struct tfs_error ie;
	int streak[KIND_PRODUCTS] = { 0 };
	size_t i;
	int rc, code;

	rc = catalog_foreach_pending(cat, o->retry_all ? INT64_MAX :
	    (long long)time(NULL), collect, &p, err);
	if (rc == TFS_OK)
		rc = fresh_first(&p);
	if (rc == TFS_ERR_NOMEM)
		(void)tfs_error_set(err, rc, "out of memory");
	prog.total = p.n;
	for (i = 0; rc == TFS_OK && i < p.n && !cancelled(o); i++) {
		if (!product_down(rep, &p.v[i])) {
			rc = probe_one(cat, m, &p.v[i], rep, &code, &ie, err);
			if (rc == TFS_OK)
				note_probe(rep, &p.v[i], code, streak,
				    ie.detail);
		}
		prog.kind = p.v[i].kind;
		prog.done = i + 1;
		report_progress(o, &prog);
	}
	free(p.v);
	return rc;
}

/* The last few unwraps, by wrapped key: bulk items often share one. */
struct key_memo {
	struct {
		unsigned char wrapped[ENVELOPE_MAX_WRAPPED];
		size_t len;
		int state;
	} e[8];
	size_t next;
};

struct key_check {
	struct catalog *cat;
	const struct keyring *keys;
	struct key_memo memo;
	size_t nokey;
	struct tfs_error *err;
};

static int
key_state(struct key_check *kc, const struct envelope *env)
{
	struct crypto_cek cek = { { 0 }, 0 };
	struct key_memo *mm = &kc->memo;
	size_t i;
	int state;

	for (i = 0; i < sizeof(mm->e) / sizeof(mm->e[0]); i++)
		if (mm->e[i].len == env->wrapped_cek_len && memcmp(
		    mm->e[i].wrapped, env->wrapped_cek, env->wrapped_cek_len)
		    == 0)
			return mm->e[i].state;
	state = keyring_unwrap(kc->keys, env, &cek, NULL, NULL) == TFS_OK ?
	    1 : 2;
	crypto_cek_wipe(&cek);
	i = mm->next++ % (sizeof(mm->e) / sizeof(mm->e[0]));
	memcpy(mm->e[i].wrapped, env->wrapped_cek, env->wrapped_cek_len);
	mm->e[i].len = env->wrapped_cek_len;
	mm->e[i].state = state;
	return state;
}

static int
check_key(const struct item *it, void *arg)
{
	struct key_check *kc = arg;
	int state = key_state(kc, &it->env);

	if (state == 2) {
		kc->nokey++;
		log_msg(TFS_LOG_INFO, "%s: no key of ours opens it%s%s",
		    it->sid, it->env.public_key_sid[0] ? "; it needs " : "",
		    it->env.public_key_sid);
	}
	if (state == it->key_state)
		return TFS_OK;
	return catalog_set_key_state(kc->cat, it->sid, it->part, state,
	    kc->err);
}

/* Which encrypted items no key of ours opens (for status.json). */
static int
check_keys(struct catalog *cat, struct media *m,
    const struct sync_options *o, struct sync_report *rep,
    struct tfs_error *err)
{
	struct key_check kc;
	int rc;

	if (media_keys(m) == NULL)
		return TFS_OK;	/* no keys given: nothing to say yet */
	memset(&kc, 0, sizeof(kc));
	kc.cat = cat;
	kc.keys = media_keys(m);
	kc.err = err;
	/* Items no key opened are tried again when someone asks for a
	 * sync (keys may have been added), not at every refresh: one RSA
	 * trial per key and item is too much every few minutes. */
	rc = catalog_foreach_keycheck(cat, o->retry_all, check_key, &kc,
	    err);
	OPENSSL_cleanse(&kc.memo, sizeof(kc.memo));
	rep->nokey = kc.nokey;
	return rc;
}

/* Record each product's outcome for status.json. */
static int
record_products(struct catalog *cat, const struct sync_report *rep,
    struct tfs_error *err)
{
	const struct sync_product_report *pr;
	struct catalog_product cp;
	long long now = (long long)time(NULL);
	int p, rc = TFS_OK;

	for (p = 0; rc == TFS_OK && p < KIND_PRODUCTS; p++) {
		pr = &rep->product[p];
		rc = catalog_product_get(cat, p, &cp, err);
		if (rc != TFS_OK)
			break;
		cp.last_try = now;
		if (pr->code == TFS_OK)
			cp.last_ok = now;
		(void)snprintf(cp.class, sizeof(cp.class), "%s", pr->class);
		(void)snprintf(cp.detail, sizeof(cp.detail), "%s", pr->detail);
		cp.skipped = (long long)rep->product_skipped[p];
		rc = catalog_product_set(cat, p, &cp, err);
	}
	return rc;
}

int
sync_run(struct catalog *cat, struct media *m,
    const struct sync_options *o, struct sync_report *rep,
    struct tfs_error *err)
{
	const struct kind_info *ki;
	char stamp[32];
	struct tm tm;
	long long gen;
	time_t now;
	int rc, kind;

	memset(rep, 0, sizeof(*rep));
	rc = catalog_next_generation(cat, &gen, err);
	for (kind = 1; rc == TFS_OK && kind <= ITEM_KINDS; kind++) {
		rc = sync_kind(cat, m, o, (enum item_kind)kind, gen, rep, err);
		ki = kind_info((enum item_kind)kind);
		rep->product_skipped[ki->product] += rep->kind[kind].skipped;
	}
	if (rc == TFS_OK)
		rc = probe_pending(cat, m, o, rep, err);
	if (rc == TFS_OK)
		rc = check_keys(cat, m, o, rep, err);
	if (rc == TFS_OK)
		rc = record_products(cat, rep, err);
	if (rc == TFS_OK) {
		now = time(NULL);
		(void)strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%SZ",
		    gmtime_r(&now, &tm));
		rc = catalog_meta_set(cat, "last_sync", stamp, err);
	}
	return rc;
}

int
sync_outcome(const struct sync_report *rep)
{
	int p, k, failed = 0, network = 0, offered = 0;

	for (p = 0; p < KIND_PRODUCTS; p++) {
		if (rep->product[p].code == TFS_ERR_AUTH)
			return TFS_ERR_AUTH;
		if (rep->product[p].unavailable)
			continue;	/* not there: nothing failed */
		offered++;
		if (rep->product[p].code != TFS_OK)
			failed++;
		if (rep->product[p].code == TFS_ERR_NETWORK)
			network++;
	}
	if (offered > 0 && network == offered)
		return TFS_ERR_NETWORK;
	for (k = 1; k <= ITEM_KINDS; k++)
		if (rep->kind[k].probe_failed > 0 || rep->kind[k].skipped > 0)
			failed++;
	return failed > 0 ? SYNC_PARTIAL : TFS_OK;
}
