/* SPDX-License-Identifier: MIT */
/*
 * sync.c - list the account into the catalog, then probe new media.
 *
 * A failure is contained to what failed: a product the key may not read,
 * or one that answers garbage, is recorded against that product while the
 * others sync; an item whose media cannot be probed is recorded against
 * that item (class, detail, backoff) while the others are probed. Only
 * the catalog itself failing (disk, memory) stops a sync.
 *
 * Probes run on worker threads (media is made for that); the catalog is
 * only ever touched by the thread that called sync_run, which hands out
 * the probes and records what they found.
 */
#include <errno.h>
#include <pthread.h>
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

/*
 * Writes of one row each (a probe's findings, a key check) grouped into
 * transactions of up to SYNC_BATCH rows, held at most SYNC_BATCH_MS:
 * a commit per row was a tenth of a first sync's time, and another
 * writer (a mount's refresh, a sync) waits for the lock only briefly.
 */
#define SYNC_BATCH 256
#define SYNC_BATCH_MS 1000

struct batch {
	struct catalog *cat;
	int open;
	size_t n;
	struct timespec since;		/* CLOCK_MONOTONIC */
};

static long long
ms_since(const struct timespec *t)
{
	struct timespec now;

	(void)clock_gettime(CLOCK_MONOTONIC, &now);
	return (long long)(now.tv_sec - t->tv_sec) * 1000 +
	    (now.tv_nsec - t->tv_nsec) / 1000000;
}

/* Before a write: a transaction open. */
static int
batch_begin(struct batch *b, struct tfs_error *err)
{
	int rc;

	if (b->open)
		return TFS_OK;
	rc = catalog_begin(b->cat, err);
	if (rc != TFS_OK)
		return rc;
	b->open = 1;
	b->n = 0;
	(void)clock_gettime(CLOCK_MONOTONIC, &b->since);
	return TFS_OK;
}

/* Commit what is open if rc is TFS_OK, else undo it; rc or the commit's. */
static int
batch_end(struct batch *b, int rc, struct tfs_error *err)
{
	if (!b->open)
		return rc;
	b->open = 0;
	if (rc == TFS_OK)
		return catalog_commit(b->cat, err);
	catalog_rollback(b->cat);
	return rc;
}

/* After n writes: commit when the batch is full or old enough. */
static int
batch_wrote(struct batch *b, size_t n, struct tfs_error *err)
{
	b->n += n;
	if (b->open && (b->n >= SYNC_BATCH || ms_since(&b->since) >=
	    SYNC_BATCH_MS))
		return batch_end(b, TFS_OK, err);
	return TFS_OK;
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

/* The catalog's meta key of kind's last whole listing. */
static void
full_key(enum item_kind kind, char *key, size_t cap)
{
	(void)snprintf(key, cap, "last_full.%s", kind_info(kind)->id);
}

/*
 * Whether kind is to be listed whole this time: never listed whole, or
 * last listed whole every seconds ago or more (every > 0).
 */
static int
full_due(struct catalog *cat, enum item_kind kind, long long every,
    int *due, struct tfs_error *err)
{
	struct tfs_error e = { 0, "" };
	char key[64], val[32], *end;
	long long t;
	int rc;

	*due = 1;
	full_key(kind, key, sizeof(key));
	rc = catalog_meta_get(cat, key, val, sizeof(val), &e);
	/* Never, or not a time we wrote: list it all. */
	if (rc == TFS_ERR_RANGE || rc == TFS_ERR_USAGE)
		return TFS_OK;
	if (rc != TFS_OK) {
		*err = e;
		return rc;
	}
	errno = 0;
	t = strtoll(val, &end, 10);
	if (errno != 0 || end == val || *end != '\0')
		return TFS_OK;
	*due = every > 0 && (long long)time(NULL) - t >= every;
	return TFS_OK;
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
 * List every page of kind into the catalog, newest first (or, when
 * incremental, down to the first page with nothing new or changed that
 * is no newer than unfinished, the oldest item not finished upstream; -1:
 * none). Page links are checked (twilio_page_url) and never followed
 * twice. A failure that is the API's is returned for the caller to
 * record against the product; *fatal says the catalog failed instead.
 */
static int
list_kind(struct catalog *cat, struct media *m,
    const struct sync_options *o, enum item_kind kind, long long gen,
    int incremental, long long unfinished, struct sync_kind_report *r,
    int *fatal, struct tfs_error *err)
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
		if (incremental && page.added == 0 && page.changed == 0 &&
		    (unfinished < 0 || (page.oldest >= 0 &&
		    page.oldest <= unfinished)))
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
	char detail[TFS_ERROR_DETAIL], key[64], val[32];
	long long unfinished = -1;
	size_t removed;
	int rc, fatal, full = 1;

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
	rc = TFS_OK;
	if (o->incremental)
		rc = full_due(cat, kind, o->full_every, &full, err);
	if (rc == TFS_OK && !full)
		rc = catalog_oldest_unfinished(cat, kind, (long long)time(NULL)
		    - SYNC_UNFINISHED_WINDOW, &unfinished, err);
	if (rc != TFS_OK)
		return rc;
	r->full = full;
	rc = list_kind(cat, m, o, kind, gen, !full, unfinished, r, &fatal, &e);
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
	full_key(kind, key, sizeof(key));
	(void)snprintf(val, sizeof(val), "%lld", (long long)time(NULL));
	if (rc == TFS_OK)
		rc = catalog_meta_set(cat, key, val, err);
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

/* One probe: what a worker is given, and what it found. */
struct probe_job {
	struct item it;
	size_t parts;		/* operator results (a transcript) */
	int code;		/* media_probe's */
	struct tfs_error e;
	int listed;		/* from the pending list, not a part */
	struct probe_job *next;
};

/* The workers and their two queues (under mu). */
struct probers {
	pthread_mutex_t mu;
	pthread_cond_t work;	/* a job queued, or stop */
	pthread_cond_t done;	/* a job finished */
	struct probe_job *todo, *todo_tail;
	struct probe_job *fin, *fin_tail;
	int stop;
	struct media *m;
};

static void
job_append(struct probe_job **head, struct probe_job **tail,
    struct probe_job *j)
{
	j->next = NULL;
	if (*tail != NULL)
		(*tail)->next = j;
	else
		*head = j;
	*tail = j;
}

/* Probe what is queued until told to stop; no catalog here. */
static void *
probe_worker(void *arg)
{
	struct probers *pw = arg;
	struct probe_job *j;

	pthread_mutex_lock(&pw->mu);
	for (;;) {
		while (pw->todo == NULL && !pw->stop)
			pthread_cond_wait(&pw->work, &pw->mu);
		if (pw->todo == NULL)
			break;
		j = pw->todo;
		pw->todo = j->next;
		if (pw->todo == NULL)
			pw->todo_tail = NULL;
		pthread_mutex_unlock(&pw->mu);
		tfs_error_clear(&j->e);
		j->parts = 0;
		/* Whatever the probe learns of the key, it says here. */
		j->it.key_state = 0;
		j->code = media_probe(pw->m, &j->it, &j->parts, &j->e);
		pthread_mutex_lock(&pw->mu);
		job_append(&pw->fin, &pw->fin_tail, j);
		pthread_cond_signal(&pw->done);
	}
	pthread_mutex_unlock(&pw->mu);
	return NULL;
}

/*
 * Make the operator results of a transcript just probed known to the
 * catalog, and queue them for probing: each part is a row of its own,
 * pending and retried on its own.
 */
static int
queue_parts(struct catalog *cat, struct media *m, const struct probe_job *j,
    struct pending *parts, struct tfs_error *err)
{
	struct item part;
	size_t i;
	int rc = TFS_OK;

	for (i = 1; rc == TFS_OK && i <= j->parts; i++) {
		part = j->it;
		part.part = (int)i;
		envelope_init(&part.env);
		part.media_known = 0;
		part.fail_class[0] = '\0';
		if (twilio_media_api_url(media_api(m), part.kind, part.sid,
		    part.part, part.media_url, sizeof(part.media_url)) !=
		    TFS_OK)
			break;
		rc = catalog_add_part(cat, part.sid, part.part,
		    part.media_url, err);
		if (rc == TFS_OK && collect(&part, parts) != 0)
			rc = tfs_error_set(err, TFS_ERR_NOMEM, "out of memory");
	}
	return rc;
}

/*
 * Record what a probe told, or that it failed (class, detail, backoff);
 * j->code becomes the item's outcome. Only a failure of the catalog
 * itself is returned.
 */
static int
record_probe(struct catalog *cat, struct media *m, struct probe_job *j,
    struct sync_report *rep, struct pending *parts, struct tfs_error *err)
{
	struct item *it = &j->it;
	int rc;

	if (j->code == TFS_OK) {
		rc = catalog_set_media(cat, it->sid, it->part, it->part > 0 ?
		    it->media_url : NULL, &it->env, it->etag, &j->e);
		/* A probe that unwrapped the key (CBC padding) spares the
		 * key check its RSA. */
		if (rc == TFS_OK && (it->key_state == 1 || it->key_state == 2))
			rc = catalog_set_key_state(cat, it->sid, it->part,
			    it->key_state, &j->e);
		if (rc == TFS_OK) {
			rep->kind[it->kind].probed++;
			return queue_parts(cat, m, j, parts, err);
		}
		/* Gone meanwhile (swept by another process), or an
		 * envelope we cannot keep: this item's failure. */
		if (rc == TFS_ERR_IO || rc == TFS_ERR_NOMEM) {
			*err = j->e;
			return rc;
		}
		j->code = rc;
	}
	if (j->code == TFS_ERR_NOMEM) {
		*err = j->e;
		return j->code;
	}
	rep->kind[it->kind].probe_failed++;
	log_msg(TFS_LOG_WARN, "%s%s: media not probed: %s", it->sid,
	    it->part > 0 ? " (operator result)" : "", j->e.detail);
	return catalog_fail(cat, it->sid, it->part, sync_error_class(j->code),
	    j->e.detail, (long long)time(NULL), err);
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
 * An item waiting for its probe, by key: the item is read from the
 * catalog when its turn comes (a struct item is 3.7 KB: 370 MB for a
 * first sync of 100,000 items held at once).
 */
struct pending_key {
	char sid[ITEM_SID_LEN + 1];
	int part;
	int failed;		/* failed before: probed after the fresh */
};

struct keys {
	struct pending_key *v;
	size_t n, cap;
};

static int
collect_key(const struct item *it, void *arg)
{
	struct keys *k = arg;
	struct pending_key *grown;

	if (k->n == k->cap) {
		k->cap = k->cap == 0 ? 256 : k->cap * 2;
		grown = realloc(k->v, k->cap * sizeof(*k->v));
		if (grown == NULL)
			return TFS_ERR_NOMEM;
		k->v = grown;
	}
	memcpy(k->v[k->n].sid, it->sid, sizeof(k->v[k->n].sid));
	k->v[k->n].part = it->part;
	k->v[k->n].failed = it->fail_class[0] != '\0';
	k->n++;
	return 0;
}

/* Items never tried first, then those that failed before (stable). */
static int
fresh_first(struct keys *k)
{
	struct pending_key *v;
	size_t i, n = 0;
	int pass;

	if (k->n == 0)
		return TFS_OK;
	v = malloc(k->n * sizeof(*v));
	if (v == NULL)
		return TFS_ERR_NOMEM;
	for (pass = 0; pass < 2; pass++)
		for (i = 0; i < k->n; i++)
			if (k->v[i].failed == pass)
				v[n++] = k->v[i];
	free(k->v);
	k->v = v;
	return TFS_OK;
}

/* The state of one round of probing, on the sync_run thread. */
struct probe_run {
	struct catalog *cat;
	struct media *m;
	const struct sync_options *o;
	struct sync_report *rep;
	struct probers pw;
	struct keys p;			/* pending items, in order */
	struct pending parts;		/* operator results found since */
	size_t next, next_part;		/* the next of each to give */
	struct probe_job *spare;	/* jobs not in use */
	struct batch batch;		/* what is recorded, uncommitted */
	size_t busy;			/* jobs queued or being probed */
	int threads;			/* workers running */
	int limit;			/* probes at once, <= threads */
	int good;			/* successes since limit changed */
	int streak[KIND_PRODUCTS];
	struct sync_progress prog;
	struct timespec reported;	/* progress last said */
};

/*
 * Say how far the probes have got, at most once a second and with no
 * transaction open: a listener may read the catalog (a mount shows what
 * is probed so far) and must not find it write-locked for that long.
 */
static int
report_probes(struct probe_run *pr, int rc, int now,
    struct tfs_error *err)
{
	if (pr->o->progress == NULL || (!now &&
	    ms_since(&pr->reported) < 1000))
		return rc;
	rc = batch_end(&pr->batch, rc, err);
	report_progress(pr->o, &pr->prog);
	(void)clock_gettime(CLOCK_MONOTONIC, &pr->reported);
	return rc;
}

static int
probe_threads(const struct sync_options *o)
{
	if (o->probe_threads <= 0)
		return SYNC_PROBE_THREADS;
	return o->probe_threads > SYNC_PROBE_THREADS_MAX ?
	    SYNC_PROBE_THREADS_MAX : o->probe_threads;
}

/*
 * Network failures (429s that outlasted their Retry-After retries,
 * 5xx, drops) halve the probes at once: every worker would otherwise
 * keep asking a server that asks us to slow down. As many successes as
 * probes at once earn one more, up to the threads there are.
 */
static void
pace(struct probe_run *pr, int code)
{
	if (code == TFS_ERR_NETWORK || code == TFS_ERR_EXPIRED) {
		pr->good = 0;
		if (pr->limit > 1) {
			pr->limit /= 2;
			log_msg(TFS_LOG_INFO, "media: network failures; "
			    "probing %d at a time", pr->limit);
		}
	} else if (code == TFS_OK && pr->limit < pr->threads &&
	    ++pr->good >= pr->limit) {
		pr->good = 0;
		pr->limit++;
	}
}

/* The next item to probe into j, or 0 when nothing is left to hand out
 * (items of a product that is down are passed over, counted done). */
static int
next_job(struct probe_run *pr, struct probe_job *j)
{
	const struct pending_key *k;
	struct tfs_error e = { 0, "" };
	const struct item *it;
	int rc;

	while (pr->next_part < pr->parts.n || pr->next < pr->p.n) {
		if (pr->next_part < pr->parts.n) {
			it = &pr->parts.v[pr->next_part++];
			j->listed = 0;
		} else {
			k = &pr->p.v[pr->next++];
			j->listed = 1;
			/* Gone since it was listed as pending: nothing to
			 * probe (counted done); the catalog failing: said,
			 * and left for the next sync. */
			rc = catalog_get(pr->cat, k->sid, k->part, &j->it, &e);
			if (rc != TFS_OK) {
				if (rc != TFS_ERR_RANGE)
					log_msg(TFS_LOG_WARN, "%s: not probed: "
					    "%s", k->sid, e.detail);
				tfs_error_clear(&e);
				pr->prog.done++;
				continue;
			}
			it = &j->it;
		}
		if (!product_down(pr->rep, it)) {
			if (it != &j->it)
				j->it = *it;
			return 1;
		}
		if (j->listed) {
			pr->prog.kind = it->kind;
			pr->prog.done++;
		}
	}
	return 0;
}

/* Queue probes while there is room (none after a failure or cancel). */
static void
hand_out(struct probe_run *pr, int rc)
{
	struct probe_job *j;

	while (rc == TFS_OK && !cancelled(pr->o) && pr->spare != NULL &&
	    pr->busy < (size_t)pr->limit) {
		j = pr->spare;
		if (!next_job(pr, j))
			break;
		pr->spare = j->next;
		pthread_mutex_lock(&pr->pw.mu);
		job_append(&pr->pw.todo, &pr->pw.todo_tail, j);
		pthread_cond_signal(&pr->pw.work);
		pthread_mutex_unlock(&pr->pw.mu);
		pr->busy++;
	}
}

/*
 * Wait for finished probes and record them (rc: the sync's state so far;
 * after a failure they are only taken back). The batch is committed when
 * due, and while waiting once it is SYNC_BATCH_MS old: a stalled probe
 * does not keep the catalog locked.
 */
static int
record_finished(struct probe_run *pr, int rc, struct tfs_error *err)
{
	struct probe_job *fin, *j;
	struct timespec until;
	size_t n = 0;

	pthread_mutex_lock(&pr->pw.mu);
	while (pr->pw.fin == NULL) {
		if (!pr->batch.open) {
			pthread_cond_wait(&pr->pw.done, &pr->pw.mu);
			continue;
		}
		until = pr->batch.since;
		until.tv_sec += SYNC_BATCH_MS / 1000;
		until.tv_nsec += (SYNC_BATCH_MS % 1000) * 1000000L;
		if (until.tv_nsec >= 1000000000L) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000L;
		}
		if (pthread_cond_timedwait(&pr->pw.done, &pr->pw.mu,
		    &until) == ETIMEDOUT && pr->pw.fin == NULL) {
			pthread_mutex_unlock(&pr->pw.mu);
			rc = batch_end(&pr->batch, rc, err);
			pthread_mutex_lock(&pr->pw.mu);
		}
	}
	fin = pr->pw.fin;
	pr->pw.fin = pr->pw.fin_tail = NULL;
	pthread_mutex_unlock(&pr->pw.mu);
	if (rc == TFS_OK)
		rc = batch_begin(&pr->batch, err);
	while (fin != NULL) {
		j = fin;
		fin = j->next;
		pr->busy--;
		if (rc == TFS_OK)
			rc = record_probe(pr->cat, pr->m, j, pr->rep,
			    &pr->parts, err);
		n++;
		if (rc == TFS_OK) {
			pace(pr, j->code);
			if (j->listed)
				note_probe(pr->rep, &j->it, j->code,
				    pr->streak, j->e.detail);
		}
		if (j->listed) {
			pr->prog.kind = j->it.kind;
			pr->prog.done++;
		}
		j->next = pr->spare;
		pr->spare = j;
	}
	if (rc == TFS_OK)
		rc = batch_wrote(&pr->batch, n, err);
	return report_probes(pr, rc, 0, err);
}

/* The workers' lock and conditions (done waits on CLOCK_MONOTONIC). */
static int
probers_init(struct probers *pw, struct tfs_error *err)
{
	pthread_condattr_t ca;
	int ok;

	if (pthread_condattr_init(&ca) != 0)
		return tfs_error_set(err, TFS_ERR_NOMEM, "cannot make a lock");
	ok = pthread_condattr_setclock(&ca, CLOCK_MONOTONIC) == 0;
	if (ok && pthread_mutex_init(&pw->mu, NULL) != 0)
		ok = 0;
	else if (ok && pthread_cond_init(&pw->work, NULL) != 0) {
		pthread_mutex_destroy(&pw->mu);
		ok = 0;
	} else if (ok && pthread_cond_init(&pw->done, &ca) != 0) {
		pthread_cond_destroy(&pw->work);
		pthread_mutex_destroy(&pw->mu);
		ok = 0;
	}
	pthread_condattr_destroy(&ca);
	return ok ? TFS_OK : tfs_error_set(err, TFS_ERR_NOMEM, "cannot make "
	    "a lock");
}

/* Start up to n workers; how many started is in pr->threads. */
static int
start_workers(struct probe_run *pr, pthread_t *tid, int n,
    struct tfs_error *err)
{
	for (pr->threads = 0; pr->threads < n; pr->threads++)
		if (pthread_create(&tid[pr->threads], NULL, probe_worker,
		    &pr->pw) != 0)
			break;
	if (pr->threads == 0)
		return tfs_error_set(err, TFS_ERR_NOMEM, "cannot start a "
		    "thread to probe media");
	pr->limit = pr->threads;
	return TFS_OK;
}

static void
stop_workers(struct probe_run *pr, pthread_t *tid)
{
	int i;

	pthread_mutex_lock(&pr->pw.mu);
	pr->pw.stop = 1;
	pthread_cond_broadcast(&pr->pw.work);
	pthread_mutex_unlock(&pr->pw.mu);
	for (i = 0; i < pr->threads; i++)
		(void)pthread_join(tid[i], NULL);
}

/*
 * Probe every pending item (fresh ones first), probe_threads at once.
 * Workers only probe; this thread hands out the items, records what the
 * probes found (and the parts they found, which it then hands out too),
 * keeps the streaks and reports progress. A catalog failure or a cancel
 * stops the handing out; the probes under way are waited for.
 */
static int
probe_pending(struct catalog *cat, struct media *m,
    const struct sync_options *o, struct sync_report *rep,
    struct tfs_error *err)
{
	struct probe_run pr;
	struct probe_job *jobs = NULL;
	pthread_t *tid = NULL;
	int rc, i, n, sync_ok = 0;

	memset(&pr, 0, sizeof(pr));
	pr.cat = cat;
	pr.batch.cat = cat;
	pr.m = m;
	pr.o = o;
	pr.rep = rep;
	pr.pw.m = m;
	pr.prog.probing = 1;
	rc = catalog_foreach_pending(cat, o->retry_all ? INT64_MAX :
	    (long long)time(NULL), collect_key, &pr.p, err);
	if (rc == TFS_OK)
		rc = fresh_first(&pr.p);
	if (rc == TFS_ERR_NOMEM)
		(void)tfs_error_set(err, rc, "out of memory");
	pr.prog.total = pr.p.n;
	if (rc != TFS_OK || pr.p.n == 0)
		goto out;
	n = probe_threads(o);
	if ((size_t)n > pr.p.n)
		n = (int)pr.p.n;
	jobs = calloc((size_t)n, sizeof(*jobs));
	tid = calloc((size_t)n, sizeof(*tid));
	if (jobs == NULL || tid == NULL) {
		rc = tfs_error_set(err, TFS_ERR_NOMEM, "out of memory");
		goto out;
	}
	for (i = 0; i < n; i++) {
		jobs[i].next = pr.spare;
		pr.spare = &jobs[i];
	}
	rc = probers_init(&pr.pw, err);
	if (rc != TFS_OK)
		goto out;
	sync_ok = 1;
	rc = start_workers(&pr, tid, n, err);
	if (rc != TFS_OK)
		goto out;
	for (;;) {
		hand_out(&pr, rc);
		if (pr.busy == 0)
			break;
		rc = record_finished(&pr, rc, err);
	}
	rc = batch_end(&pr.batch, rc, err);
	rc = report_probes(&pr, rc, 1, err);
	stop_workers(&pr, tid);
out:
	if (sync_ok) {
		pthread_cond_destroy(&pr.pw.done);
		pthread_cond_destroy(&pr.pw.work);
		pthread_mutex_destroy(&pr.pw.mu);
	}
	free(tid);
	free(jobs);
	free(pr.parts.v);
	free(pr.p.v);
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
	struct batch batch;
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
	int state = key_state(kc, &it->env), rc;

	if (state == 2) {
		kc->nokey++;
		log_msg(TFS_LOG_INFO, "%s: no key of ours opens it%s%s",
		    it->sid, it->env.public_key_sid[0] ? "; it needs " : "",
		    it->env.public_key_sid);
	}
	if (state == it->key_state)
		return TFS_OK;
	rc = batch_begin(&kc->batch, kc->err);
	if (rc == TFS_OK)
		rc = catalog_set_key_state(kc->cat, it->sid, it->part, state,
		    kc->err);
	if (rc == TFS_OK)
		rc = batch_wrote(&kc->batch, 1, kc->err);
	return rc;
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
	kc.batch.cat = cat;
	kc.err = err;
	/* Items no key opened are tried again when someone asks for a
	 * sync (keys may have been added), not at every refresh: one RSA
	 * trial per key and item is too much every few minutes. */
	rc = catalog_foreach_keycheck(cat, o->retry_all, check_key, &kc,
	    err);
	rc = batch_end(&kc.batch, rc, err);
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
