/* SPDX-License-Identifier: MIT */
/* media.c - bytes of media objects: connections, signed URLs, workers. */
#define _GNU_SOURCE	/* strcasestr */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "twiliofs/crypto.h"
#include "twiliofs/io.h"
#include "twiliofs/kind.h"
#include "twiliofs/log.h"
#include "twiliofs/media.h"

/* How often an expired signed URL is resolved afresh before giving up. */
#define RESOLVE_MAX 5
/* Idle connections kept; more are made while more are busy. */
#define IDLE_MAX 8
/* Signed URLs remembered (per object and part), and for how much of
 * their lifetime they are used. */
#define URLS 64
#define URL_LIFE_PCT 90
#define URL_LIFE_DEFAULT 600
/* Worker threads at most, and how long an idle one waits for work. */
#define WORKERS_MAX 64
#define WORKER_IDLE_S 30

struct conn {
	struct http *http;
	struct twilio *tw;
	struct conn *next;
};

struct signed_url {
	char sid[ITEM_SID_LEN + 1];
	int part;
	char url[ITEM_URL_MAX];
	double issued;			/* monotonic seconds */
	double used;			/* LRU */
	int resolving;			/* a thread is resolving it */
};

struct media {
	pthread_mutex_t mu;		/* everything below but the config */
	pthread_cond_t cv;		/* a URL resolved; a worker ended */
	pthread_cond_t work_cv;		/* work queued (idle workers) */
	struct conn *idle;
	size_t nidle;
	struct conn *owner;		/* media_api's */
	struct signed_url urls[URLS];
	struct media_fetch *queue, *queue_tail;
	int queued, workers, workers_idle;
	atomic_int stopping;		/* media_free: every fetch ends */

	struct twilio_config api;	/* strings below */
	struct http_config http;
	char *account_sid, *username, *password, *endpoint, *region, *edge;
	char *cafile;
	const struct keyring *keys;
	int ttl;
	int offline;
};

static double
now_s(void)
{
	struct timespec ts;

	(void)clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int
dup_opt(char **out, const char *s)
{
	*out = NULL;
	if (s == NULL)
		return 0;
	*out = strdup(s);
	return *out == NULL ? -1 : 0;
}

/* --- connections --- */

static void
conn_free(struct conn *c)
{
	if (c == NULL)
		return;
	twilio_free(c->tw);
	http_free(c->http);
	free(c);
}

static int
conn_new(struct media *m, struct conn **out, struct tfs_error *err)
{
	struct conn *c = calloc(1, sizeof(*c));
	int rc;

	*out = NULL;
	if (c == NULL)
		return tfs_error_set(err, TFS_ERR_NOMEM, "out of memory");
	rc = http_new(&c->http, &m->http, err);
	if (rc == TFS_OK)
		rc = twilio_new(&c->tw, &m->api, c->http, err);
	if (rc != TFS_OK) {
		conn_free(c);
		return rc;
	}
	*out = c;
	return TFS_OK;
}

/* Borrow a connection: an idle one, else a new one (never a wait). */
static int
conn_get(struct media *m, struct conn **out, struct tfs_error *err)
{
	struct conn *c;

	if (m->offline)
		return tfs_error_set(err, TFS_ERR_NETWORK, "offline: no "
		    "network access");
	pthread_mutex_lock(&m->mu);
	c = m->idle;
	if (c != NULL) {
		m->idle = c->next;
		m->nidle--;
	}
	pthread_mutex_unlock(&m->mu);
	if (c != NULL) {
		*out = c;
		return TFS_OK;
	}
	return conn_new(m, out, err);
}

static void
conn_put(struct media *m, struct conn *c)
{
	if (c == NULL)
		return;
	pthread_mutex_lock(&m->mu);
	if (m->nidle < IDLE_MAX) {
		c->next = m->idle;
		m->idle = c;
		m->nidle++;
		c = NULL;
	}
	pthread_mutex_unlock(&m->mu);
	conn_free(c);
}

/* --- the media object --- */

int
media_new(struct media **out, const struct media_config *cfg,
    struct tfs_error *err)
{
	struct media *m;
	int rc;

	*out = NULL;
	m = calloc(1, sizeof(*m));
	if (m == NULL)
		return tfs_error_set(err, TFS_ERR_NOMEM, "out of memory");
	if (pthread_mutex_init(&m->mu, NULL) != 0) {
		free(m);
		return tfs_error_set(err, TFS_ERR_NOMEM, "out of memory");
	}
	if (pthread_cond_init(&m->cv, NULL) != 0) {
		pthread_mutex_destroy(&m->mu);
		free(m);
		return tfs_error_set(err, TFS_ERR_NOMEM, "out of memory");
	}
	if (pthread_cond_init(&m->work_cv, NULL) != 0) {
		pthread_cond_destroy(&m->cv);
		pthread_mutex_destroy(&m->mu);
		free(m);
		return tfs_error_set(err, TFS_ERR_NOMEM, "out of memory");
	}
	atomic_init(&m->stopping, 0);
	if (dup_opt(&m->account_sid, cfg->api.account_sid) != 0 ||
	    dup_opt(&m->username, cfg->api.username) != 0 ||
	    dup_opt(&m->password, cfg->api.password) != 0 ||
	    dup_opt(&m->endpoint, cfg->api.endpoint) != 0 ||
	    dup_opt(&m->region, cfg->api.region) != 0 ||
	    dup_opt(&m->edge, cfg->api.edge) != 0 ||
	    dup_opt(&m->cafile, cfg->http.cafile) != 0) {
		media_free(m);
		return tfs_error_set(err, TFS_ERR_NOMEM, "out of memory");
	}
	m->api.account_sid = m->account_sid;
	m->api.username = m->username;
	m->api.password = m->password;
	m->api.endpoint = m->endpoint;
	m->api.region = m->region;
	m->api.edge = m->edge;
	m->http = cfg->http;
	m->http.cafile = m->cafile;
	m->keys = cfg->keys;
	m->ttl = cfg->ttl;
	m->offline = cfg->offline;
	rc = conn_new(m, &m->owner, err);
	if (rc != TFS_OK) {
		media_free(m);
		return rc;
	}
	*out = m;
	return TFS_OK;
}

void
media_free(struct media *m)
{
	struct conn *c;

	if (m == NULL)
		return;
	pthread_mutex_lock(&m->mu);
	atomic_store(&m->stopping, 1);
	pthread_cond_broadcast(&m->work_cv);
	while (m->workers > 0)
		pthread_cond_wait(&m->cv, &m->mu);
	pthread_mutex_unlock(&m->mu);
	while ((c = m->idle) != NULL) {
		m->idle = c->next;
		conn_free(c);
	}
	conn_free(m->owner);
	pthread_cond_destroy(&m->work_cv);
	pthread_cond_destroy(&m->cv);
	pthread_mutex_destroy(&m->mu);
	free(m->account_sid);
	free(m->username);
	if (m->password != NULL)
		OPENSSL_cleanse(m->password, strlen(m->password));
	free(m->password);
	free(m->endpoint);
	free(m->region);
	free(m->edge);
	free(m->cafile);
	OPENSSL_cleanse(m, sizeof(*m));
	free(m);
}

struct twilio *
media_api(struct media *m)
{
	return m->owner->tw;
}

const struct keyring *
media_keys(const struct media *m)
{
	return m->keys;
}

/* --- signed URLs: one per object, reused until near expiry --- */

/* The entry of (sid, part), or the least recently used to take over.
 * With m->mu. */
static struct signed_url *
url_slot(struct media *m, const struct item *it, int *found)
{
	struct signed_url *u, *lru = NULL;
	int i;

	for (i = 0; i < URLS; i++) {
		u = &m->urls[i];
		if (u->part == it->part && strcmp(u->sid, it->sid) == 0) {
			*found = 1;
			return u;
		}
		if (!u->resolving && (lru == NULL || u->used < lru->used))
			lru = u;
	}
	*found = 0;
	return lru;
}

/* Resolve it's media API URL into url. */
static int
resolve(struct media *m, struct conn *c, const struct item *it, char *url,
    size_t cap, size_t *count, struct tfs_error *err)
{
	char api[ITEM_URL_MAX];

	if (twilio_media_api_url(c->tw, it->kind, it->sid, it->part, api,
	    sizeof(api)) != TFS_OK)
		return tfs_error_set(err, TFS_ERR_RANGE, "%s: no media URL",
		    it->sid);
	return twilio_resolve_media(c->tw, it->kind, api, it->part, m->ttl,
	    url, cap, count, err);
}

/* it's signed URL: the one we have while fresh, else a new one (one
 * thread resolves; the others wait for its answer). */
static int
url_get(struct media *m, struct conn *c, const struct item *it, char *url,
    size_t cap, struct tfs_error *err)
{
	double life = (double)(m->ttl > 0 ? m->ttl : URL_LIFE_DEFAULT) *
	    URL_LIFE_PCT / 100.0;
	struct signed_url *u;
	int found, rc;

	pthread_mutex_lock(&m->mu);
	for (;;) {
		u = url_slot(m, it, &found);
		if (!found || !u->resolving)
			break;
		pthread_cond_wait(&m->cv, &m->mu);
	}
	if (found && u->url[0] != '\0' && now_s() - u->issued < life) {
		u->used = now_s();
		(void)snprintf(url, cap, "%s", u->url);
		pthread_mutex_unlock(&m->mu);
		return TFS_OK;
	}
	if (u != NULL) {
		(void)snprintf(u->sid, sizeof(u->sid), "%s", it->sid);
		u->part = it->part;
		u->url[0] = '\0';
		u->resolving = 1;
	}
	pthread_mutex_unlock(&m->mu);
	rc = resolve(m, c, it, url, cap, NULL, err);
	pthread_mutex_lock(&m->mu);
	if (u != NULL) {
		if (rc == TFS_OK && strlen(url) < sizeof(u->url)) {
			memcpy(u->url, url, strlen(url) + 1);
			u->issued = u->used = now_s();
		}
		u->resolving = 0;
		pthread_cond_broadcast(&m->cv);
	}
	pthread_mutex_unlock(&m->mu);
	return rc;
}

/* The store refused url (expired): forget it, unless renewed since. */
static void
url_expired(struct media *m, const struct item *it, const char *url,
    long long at)
{
	struct signed_url *u;
	int found;

	pthread_mutex_lock(&m->mu);
	u = url_slot(m, it, &found);
	if (found && strcmp(u->url, url) == 0)
		u->url[0] = '\0';
	pthread_mutex_unlock(&m->mu);
	log_msg(TFS_LOG_INFO, "%s: signed URL expired at byte %lld; "
	    "resolving a new one", it->sid, at);
}

/* --- the one request loop --- */

/* Counts what reaches the caller's sink, across every attempt. */
struct counted {
	int (*on_data)(const void *p, size_t n, void *arg);
	void *arg;
	long long got;
	long long want;		/* -1: all there is */
	int full;		/* want reached: the rest is not needed */
	int rc;			/* the sink's own failure */
};

static int
count_data(const void *p, size_t n, void *arg)
{
	struct counted *c = arg;
	size_t take = n;
	int rc;

	if (c->want >= 0 && (long long)take > c->want - c->got)
		take = (size_t)(c->want - c->got);
	rc = take > 0 ? c->on_data(p, take, c->arg) : 0;
	if (rc != 0) {
		c->rc = rc < 0 ? rc : TFS_ERR_IO;
		return -1;
	}
	c->got += (long long)take;
	if (take < n) {
		c->full = 1;
		return -1;	/* a 200 sent more than asked: stop */
	}
	return 0;
}

/*
 * GET it's object as req (range, sink, checks) describes, on connection
 * c, renewing an expired signed URL and going on from where it stopped.
 * resp holds the final answer (the caller checks its status).
 */
static int
get_object(struct media *m, struct conn *c, const struct item *it,
    const struct http_request *tmpl, struct counted *sink,
    struct http_response *resp, struct tfs_error *err)
{
	struct http_request req;
	char url[ITEM_URL_MAX], pinned[sizeof(resp->validator)] = "";
	int rc = TFS_OK, tries;

	for (tries = 0; tries < RESOLVE_MAX; tries++) {
		http_response_free(resp);
		rc = url_get(m, c, it, url, sizeof(url), err);
		if (rc != TFS_OK)
			return rc;
		req = *tmpl;
		req.url = url;
		/* Going on after bytes went out: the same version only. */
		if (pinned[0] != '\0')
			req.validator = pinned;
		/* Voice media served by the API itself needs them. */
		twilio_authorize(c->tw, &req);
		if (sink->got > 0)
			req.range_start = (tmpl->range_start < 0 ? 0 :
			    tmpl->range_start) + sink->got;
		req.on_data = count_data;
		req.arg = sink;
		rc = http_perform(c->http, &req, resp, err);
		if (rc == TFS_ERR_IO && sink->full)
			rc = TFS_OK;
		if (rc == TFS_ERR_IO && sink->rc != 0)
			return tfs_error_set(err, sink->rc, "%s: %s", it->sid,
			    tfs_strerror(sink->rc));
		/* A 403 delivered nothing: any request may go on. */
		if (rc != TFS_OK || resp->status != 403)
			return rc;
		if (resp->validator[0] != '\0')
			memcpy(pinned, resp->validator, sizeof(pinned));
		url_expired(m, it, url, sink->got);
	}
	return rc;
}

/* What a media store's status means, when it is not the bytes. */
static int
bad_status(const struct item *it, long status, struct tfs_error *err)
{
	if (status == 404)
		return tfs_error_set(err, TFS_ERR_NOTFOUND, "%s: the media "
		    "store has no such object (HTTP 404); was it deleted?",
		    it->sid);
	if (status == 403)
		return tfs_error_set(err, TFS_ERR_EXPIRED, "%s: the media "
		    "store refused %d fresh signed URLs (HTTP 403); raise "
		    "--ttl", it->sid, RESOLVE_MAX);
	return tfs_error_set(err, TFS_ERR_NETWORK, "%s: the media store "
	    "answered HTTP %ld", it->sid, status);
}

/* A read gives up when its owner does, or when media is being freed. */
struct read_cancel {
	struct media *m;
	const struct media_read *rd;
};

static int
read_cancelled(void *arg)
{
	const struct read_cancel *rc = arg;

	if (atomic_load(&rc->m->stopping))
		return TFS_ERR_INTERRUPTED;
	return rc->rd->cancelled != NULL ? rc->rd->cancelled(rc->rd->arg) :
	    0;
}

int
media_read(struct media *m, const struct item *it,
    const struct media_read *rd, struct tfs_error *err)
{
	struct http_response resp = { 0 };
	struct counted sink = { rd->on_data, rd->arg, 0, rd->end - rd->start,
	    0, 0 };
	struct tfs_error e = { 0, "" };
	struct read_cancel cancel = { m, rd };
	struct http_request req;
	struct conn *c = NULL;
	int rc;

	if (rd->start < 0 || rd->end <= rd->start)
		return tfs_error_set(err, TFS_ERR_RANGE, "%s: empty range "
		    "%lld-%lld", it->sid, rd->start, rd->end);
	/* Given up while it waited for a worker. */
	if ((rc = read_cancelled(&cancel)) != 0)
		return tfs_error_set(err, rc, "%s: %s", it->sid,
		    tfs_strerror(rc));
	rc = conn_get(m, &c, err);
	if (rc != TFS_OK)
		return rc;
	http_request_init(&req, NULL);
	req.range_start = rd->start;
	req.range_end = rd->end - 1;
	req.validator = it->etag;
	req.expect_total = it->env.ciphertext_size;
	req.cancelled = read_cancelled;
	req.cancel_arg = &cancel;
	rc = get_object(m, c, it, &req, &sink, &resp, &e);
	if (rc == TFS_ERR_CHANGED || rc == TFS_ERR_PROTOCOL)
		rc = tfs_error_set(err, rc, "%s: the media store's answer is "
		    "not %s: %s; %s", it->sid, rc == TFS_ERR_CHANGED ?
		    "the object catalogued" : "the range asked for", e.detail,
		    rc == TFS_ERR_CHANGED ? "the next sync probes it again" :
		    "nothing of it is used");
	else if (rc != TFS_OK)
		rc = tfs_error_set(err, rc, "%s", e.detail);
	else if (resp.status != 200 && resp.status != 206)
		rc = bad_status(it, resp.status, err);
	else if (sink.got != rd->end - rd->start)
		rc = tfs_error_set(err, TFS_ERR_TRUNCATED, "%s: the media "
		    "store sent %lld of the %lld bytes asked for at %lld",
		    it->sid, sink.got, rd->end - rd->start, rd->start);
	http_response_free(&resp);
	conn_put(m, c);
	return rc;
}

/* --- worker threads --- */

static void *
worker(void *arg)
{
	struct media *m = arg;
	struct tfs_error e;
	struct media_fetch *f;
	struct timespec until;
	int rc;

	pthread_mutex_lock(&m->mu);
	for (;;) {
		while (m->queue == NULL && !atomic_load(&m->stopping)) {
			(void)clock_gettime(CLOCK_REALTIME, &until);
			until.tv_sec += WORKER_IDLE_S;
			m->workers_idle++;
			rc = pthread_cond_timedwait(&m->work_cv, &m->mu,
			    &until);
			m->workers_idle--;
			if (rc == ETIMEDOUT && m->queue == NULL)
				break;
		}
		f = m->queue;
		if (f == NULL)
			break;
		m->queue = f->next;
		if (m->queue == NULL)
			m->queue_tail = NULL;
		m->queued--;
		pthread_mutex_unlock(&m->mu);
		tfs_error_clear(&e);
		rc = media_read(m, f->it, &f->rd, &e);
		f->done(f, rc, &e);
		pthread_mutex_lock(&m->mu);
	}
	/*
	 * A detached thread: media_free returns once we are counted out,
	 * and the process may exit before our thread-exit handlers run.
	 * Free this thread's OpenSSL state (its DRBGs) while still counted,
	 * or it is lost to OPENSSL_cleanup at exit (LeakSanitizer's report
	 * of two 40-byte EVP_RAND_CTXs, now and then under load).
	 */
	OPENSSL_thread_stop();
	m->workers--;
	pthread_cond_broadcast(&m->cv);
	pthread_mutex_unlock(&m->mu);
	return NULL;
}

void
media_fetch_start(struct media *m, struct media_fetch *f)
{
	struct tfs_error e = { 0, "" };
	pthread_attr_t attr;
	pthread_t t;
	int spawn = 0, rc = -1;

	f->next = NULL;
	pthread_mutex_lock(&m->mu);
	if (m->queue_tail != NULL)
		m->queue_tail->next = f;
	else
		m->queue = f;
	m->queue_tail = f;
	m->queued++;
	/* A worker per fetch in flight: a stalled one never holds others. */
	if (m->queued > m->workers_idle && m->workers < WORKERS_MAX) {
		m->workers++;
		spawn = 1;
	}
	pthread_cond_signal(&m->work_cv);
	pthread_mutex_unlock(&m->mu);
	if (!spawn)
		return;
	if (pthread_attr_init(&attr) == 0) {
		(void)pthread_attr_setdetachstate(&attr,
		    PTHREAD_CREATE_DETACHED);
		rc = pthread_create(&t, &attr, worker, m);
		pthread_attr_destroy(&attr);
	}
	if (rc == 0)
		return;
	pthread_mutex_lock(&m->mu);
	m->workers--;
	/* Without a thread, run it here, unless a worker took it. */
	if (m->queue == f) {
		m->queue = f->next;
		if (m->queue == NULL)
			m->queue_tail = NULL;
		m->queued--;
	} else {
		f = NULL;
	}
	pthread_mutex_unlock(&m->mu);
	if (f != NULL)
		f->done(f, media_read(m, f->it, &f->rd, &e), &e);
}

/* --- probe --- */

/* The envelope an object's response headers carry (or none at all). */
static int
envelope_of(const struct item *it, const struct http_response *resp,
    struct envelope *env, struct tfs_error *err)
{
	if (kind_info(it->kind)->envelope_listed) {
		*env = it->env;		/* from encryption_details */
		return TFS_OK;
	}
	envelope_init(env);
	if (resp->headers == NULL ||
	    strcasestr(resp->headers, "x-amz-meta-x-amz-key") == NULL)
		return TFS_OK;	/* stored without encryption */
	return envelope_from_headers(env, resp->headers, resp->headers_len,
	    err);
}

/*
 * CBC: the padding of the last block says the plaintext size. tail
 * holds the object's last min(32, size) bytes. -1 if no key opens it.
 * *key_state: whether a key of ours opened it (1) or none did (2), so the
 * sync's key check need not unwrap it a second time.
 */
static long long
cbc_plain_size(const struct media *m, const struct item *it,
    const struct envelope *env, const unsigned char *tail, long long size,
    int *key_state)
{
	struct crypto_cek cek = { { 0 }, 0 };
	struct crypto_cbc *cbc = NULL;
	unsigned char last[CRYPTO_BLOCK];
	long long plain = -1;
	size_t pad;

	if (m->keys == NULL || size < CRYPTO_BLOCK || size % CRYPTO_BLOCK)
		return -1;
	if (keyring_unwrap(m->keys, env, &cek, NULL, NULL) != TFS_OK) {
		log_msg(TFS_LOG_INFO, "%s: no key opens its content key; its "
		    "size stays unknown", it->sid);
		*key_state = 2;
		return -1;
	}
	*key_state = 1;
	if (crypto_cbc_new(&cbc, &cek) == TFS_OK &&
	    crypto_cbc_decrypt(cbc, size == CRYPTO_BLOCK ? env->iv : tail,
	    tail + (size == CRYPTO_BLOCK ? 0 : CRYPTO_BLOCK), CRYPTO_BLOCK,
	    last) == TFS_OK && crypto_cbc_pad_len(last, &pad) == TFS_OK)
		plain = size - (long long)pad;
	OPENSSL_cleanse(last, sizeof(last));
	crypto_cbc_free(cbc);
	crypto_cek_wipe(&cek);
	return plain;
}

/*
 * How many operator results a transcript has (0 when none: a 404, or an
 * empty list). Any other failure is the transcript's: it is probed again
 * later, rather than kept as having none.
 */
static int
operator_results(struct media *m, struct conn *c, const struct item *it,
    size_t *count, struct tfs_error *err)
{
	struct item op = *it;
	struct tfs_error e = { 0, "" };
	char url[ITEM_URL_MAX];
	int rc;

	op.part = 1;
	*count = 0;
	rc = resolve(m, c, &op, url, sizeof(url), count, &e);
	if (rc == TFS_OK || rc == TFS_ERR_NOTFOUND)
		return TFS_OK;
	return tfs_error_set(err, rc, "%s: its operator results cannot be "
	    "listed: %s", it->sid, e.detail);
}

/*
 * The probe's body: the object's last bytes. A store that ignores Range
 * sends the whole object with a 200; keep only its tail as it streams by.
 */
struct tail {
	unsigned char b[2 * CRYPTO_BLOCK];
	size_t n;
	long long total;
};

static int
keep_tail(const void *p, size_t n, void *arg)
{
	struct tail *t = arg;
	const unsigned char *q = p;
	size_t keep;

	t->total += (long long)n;
	if (n >= sizeof(t->b)) {
		memcpy(t->b, q + n - sizeof(t->b), sizeof(t->b));
		t->n = sizeof(t->b);
		return 0;
	}
	keep = sizeof(t->b) - n < t->n ? sizeof(t->b) - n : t->n;
	memmove(t->b, t->b + t->n - keep, keep);
	memcpy(t->b + keep, q, n);
	t->n = keep + n;
	return 0;
}

/*
 * A CBC length header is a claim: the ciphertext must be exactly what
 * PKCS#7 padding makes of it, and the last block's padding (when a key
 * opens it) must agree. A lie is this item's integrity failure.
 */
static int
cbc_sizes(const struct media *m, struct item *it, const struct tail *tail,
    long long size, struct tfs_error *err)
{
	struct envelope *env = &it->env;
	int whole = tail->n == (size_t)(size < (long long)sizeof(tail->b) ?
	    size : (long long)sizeof(tail->b));
	long long stated = env->plaintext_size, padded;

	if (size % CRYPTO_BLOCK != 0 || size == 0)
		return tfs_error_set(err, TFS_ERR_INTEGRITY, "%s: %lld bytes "
		    "is not whole AES blocks: the object is truncated or not "
		    "AES-CBC", it->sid, size);
	padded = whole ? cbc_plain_size(m, it, env, tail->b, size,
	    &it->key_state) : -1;
	if (stated >= 0 && (stated > size || size - stated < 1 ||
	    size - stated > CRYPTO_BLOCK || (padded >= 0 &&
	    padded != stated)))
		return tfs_error_set(err, TFS_ERR_INTEGRITY, "%s: its length "
		    "header says %lld bytes of plaintext, which %lld bytes "
		    "of ciphertext%s cannot hold; the object or its headers "
		    "are wrong", it->sid, stated, size, padded >= 0 ?
		    " and their padding" : "");
	if (stated < 0)
		env->plaintext_size = padded;
	/* Retried at the next sync: a key may come. */
	if (env->plaintext_size < 0)
		return tfs_error_set(err, TFS_ERR_NOKEY, "%s: no length "
		    "header, and no key of ours opens its content key: its "
		    "size stays unknown until one does", it->sid);
	return TFS_OK;
}

/* Set the sizes of it from the probe's answer. */
static int
probe_sizes(const struct media *m, struct item *it,
    const struct http_response *resp, const struct tail *tail,
    struct tfs_error *err)
{
	long long size = resp->total_size;
	struct envelope *env = &it->env;

	if (size < 0 && resp->status == 416)
		size = 0;	/* an empty object has no last bytes */
	if (size < 0)
		return tfs_error_set(err, TFS_ERR_NETWORK, "%s: the media "
		    "store did not say the object's size", it->sid);
	env->ciphertext_size = size;
	switch (env->scheme) {
	case ENVELOPE_NONE:
		env->plaintext_size = size;
		break;
	case ENVELOPE_GCM:
		if (size < CRYPTO_GCM_TAG)
			return tfs_error_set(err, TFS_ERR_TRUNCATED, "%s: %lld "
			    "bytes, shorter than a GCM tag", it->sid, size);
		if (env->plaintext_size >= 0 &&
		    env->plaintext_size != size - CRYPTO_GCM_TAG)
			log_msg(TFS_LOG_INFO, "%s: its length header (%lld) "
			    "is not its ciphertext less the tag; the "
			    "ciphertext's is used", it->sid,
			    env->plaintext_size);
		env->plaintext_size = size - CRYPTO_GCM_TAG;
		break;
	case ENVELOPE_CBC:
		return cbc_sizes(m, it, tail, size, err);
	}
	return TFS_OK;
}

/* The object's validator: its ETag, else its Last-Modified date. */
static void
keep_validator(struct item *it, const struct http_response *resp)
{
	(void)snprintf(it->etag, sizeof(it->etag), "%s", resp->etag[0] ?
	    resp->etag : resp->last_modified);
}

int
media_probe(struct media *m, struct item *it, size_t *parts,
    struct tfs_error *err)
{
	struct http_response resp = { 0 };
	struct tail tail;
	struct counted sink = { keep_tail, &tail, 0, -1, 0, 0 };
	struct http_request req;
	struct conn *c = NULL;
	int rc;

	*parts = 0;
	rc = conn_get(m, &c, err);
	if (rc != TFS_OK)
		return rc;
	http_request_init(&req, NULL);
	req.range_suffix = 2 * CRYPTO_BLOCK;	/* IV + last */
	memset(&tail, 0, sizeof(tail));
	rc = get_object(m, c, it, &req, &sink, &resp, err);
	if (rc != TFS_OK)
		goto out;
	if (resp.status != 200 && resp.status != 206 && resp.status != 416) {
		rc = bad_status(it, resp.status, err);
		goto out;
	}
	if (resp.status == 200 && tail.total > 2 * CRYPTO_BLOCK)
		log_msg(TFS_LOG_INFO, "%s: the media store ignored the Range "
		    "request and sent all %lld bytes", it->sid, tail.total);
	if (resp.status == 200 && resp.total_size < 0)
		resp.total_size = tail.total;
	rc = envelope_of(it, &resp, &it->env, err);
	if (rc == TFS_OK)
		rc = probe_sizes(m, it, &resp, &tail, err);
	if (rc != TFS_OK)
		goto out;
	keep_validator(it, &resp);
	it->media_known = 1;
	if (kind_info(it->kind)->part_media_path != NULL &&
	    it->part == ITEM_PART_MAIN)
		rc = operator_results(m, c, it, parts, err);
out:
	http_response_free(&resp);
	conn_put(m, c);
	return rc;
}

/* --- whole downloads (get) --- */

/* A download's file, and who hears how far it got (per MiB). */
struct download {
	int fd;
	long long got;
	void (*progress)(long long got, void *arg);
	void *parg;
};

static int
write_fd(const void *p, size_t n, void *arg)
{
	struct download *d = arg;

	if (io_write_all(d->fd, p, n) != 0)
		return TFS_ERR_IO;
	if (d->progress != NULL && (d->got + (long long)n) >> 20 !=
	    d->got >> 20)
		d->progress(d->got + (long long)n, d->parg);
	d->got += (long long)n;
	return 0;
}

int
media_download(struct media *m, const struct item *it, int fd,
    struct envelope *env, long long *size,
    void (*progress)(long long got, void *arg), void *parg,
    struct tfs_error *err)
{
	struct http_response resp = { 0 };
	struct download d = { fd, 0, progress, parg };
	struct counted sink = { write_fd, &d, 0, -1, 0, 0 };
	struct http_request req;
	struct conn *c = NULL;
	int rc;

	*size = 0;
	rc = conn_get(m, &c, err);
	if (rc != TFS_OK)
		return rc;
	http_request_init(&req, NULL);
	rc = get_object(m, c, it, &req, &sink, &resp, err);
	if (rc == TFS_OK && resp.status != 200 && resp.status != 206)
		rc = bad_status(it, resp.status, err);
	if (rc == TFS_OK)
		rc = envelope_of(it, &resp, env, err);
	if (rc == TFS_OK && resp.total_size >= 0 &&
	    sink.got != resp.total_size)
		rc = tfs_error_set(err, TFS_ERR_TRUNCATED, "%s: got %lld of "
		    "%lld bytes", it->sid, sink.got, resp.total_size);
	if (rc == TFS_OK)
		*size = sink.got;
	http_response_free(&resp);
	conn_put(m, c);
	return rc;
}
