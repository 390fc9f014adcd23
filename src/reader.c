/* SPDX-License-Identifier: MIT */
/* reader.c - decrypted reads of one item: CBC windows, verified GCM. */
#define _GNU_SOURCE	/* O_TMPFILE */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "twiliofs/crypto.h"
#include "twiliofs/io.h"
#include "twiliofs/log.h"
#include "twiliofs/reader.h"

/*
 * Connections (an http handle with its twilio client) are borrowed for
 * one request at a time; at most CONN_MAX exist per pool.
 */
#define CONN_MAX 8
/* Plaintext windows and read cursors per open file. */
#define WINDOWS 4
#define CURSORS 4
/*
 * A read that continues no cursor fetches what it asks for, at least
 * WINDOW_FIRST; each read that continues a cursor doubles that cursor's
 * request size, up to WINDOW_MAX (mountpoint-s3's shape, smaller).
 */
#define WINDOW_FIRST (64 * 1024)
#define WINDOW_MAX (1024 * 1024)
/* How far from a cursor's end a read may land and still continue it. */
#define SEQ_SLACK (256 * 1024)
/* Plaintext held in windows by all readers of a pool; past it, no
 * read-ahead (a request then fetches only what the read needs). */
#define POOL_WINDOW_CAP (256LL * 1024 * 1024)
/* How often an expired signed URL is resolved again within one read. */
#define RESOLVE_MAX 5
/* Signed URLs are renewed after this share of their lifetime. */
#define URL_LIFE_PCT 90
#define URL_LIFE_DEFAULT 600
/*
 * After a request failed for good (http retried it already), further
 * reads of that open file that need the network fail at once for this
 * long, instead of each retrying again (the kernel re-reads a failed
 * page, and a player retries).
 */
#define NET_HOLDOFF_S 5.0
/* Integrity failures remembered (so a bad object is not fetched again
 * and again by a retrying player). */
#define FAILED_MAX 64
#define CACHE_SIZE_DEFAULT (2LL * 1024 * 1024 * 1024)
/* "SID.part.hash": cache file names in cache_dir/objects. */
#define KEY_LEN 64
/* Named temp files (when O_TMPFILE is missing) older than this are
 * leftovers of a crash. */
#define STALE_TMP_S 3600

struct conn {
	struct http *http;
	struct twilio *tw;
	struct conn *next;
};

/* A GCM cache file that is open, or being downloaded. */
struct gcm_key {
	struct gcm_key *next;
	int refs;			/* readers that hold it open */
	int busy;			/* a download is under way */
	char name[KEY_LEN];
};

struct reader_pool {
	pthread_mutex_t mu;		/* conns, keys, failures */
	pthread_cond_t conn_cv;
	pthread_cond_t key_cv;
	pthread_mutex_t mem_mu;		/* window_bytes (a leaf lock) */
	struct conn *idle;
	size_t nconn;
	struct gcm_key *keys_open;
	char failed[FAILED_MAX][KEY_LEN];
	size_t nfailed;
	size_t failures;
	char last_sid[ITEM_SID_LEN + 1];
	int over;			/* the cache is above its size */
	long long window_bytes;
	int locks;			/* how many of the four exist */

	struct twilio_config api;	/* strings below */
	struct http_config http;
	char *account_sid, *username, *password, *endpoint, *region, *edge;
	char *cafile;
	const struct keyring *keys;
	char objects[PATH_MAX];		/* "" without cache_dir */
	long long cache_size;
	int ttl;
	int offline;
};

enum win_state {
	WIN_EMPTY = 0,
	WIN_LOADING,
	WIN_READY,
	WIN_FAILED
};

/* Plaintext [start, end) of the file, in memory only. */
struct window {
	enum win_state state;
	long long start, end;
	unsigned char *mem;		/* allocation of cap bytes */
	size_t cap;
	size_t data_off;		/* plaintext of start is mem + this */
	unsigned long long used;	/* LRU tick */
	unsigned long gen;		/* bumped at every load */
	int rc;				/* WIN_FAILED: why */
	char detail[TFS_ERROR_DETAIL];
};

/* A sequential reader of the file: where it continues, how fast. */
struct cursor {
	long long next;
	long long size;
	unsigned long long used;	/* 0: free */
};

struct reader {
	struct reader_pool *pool;
	struct item it;
	long long size;			/* plaintext bytes */
	long long ct_size;		/* ciphertext bytes */
	pthread_mutex_t mu;		/* url, windows, cursors */
	pthread_cond_t cv;		/* a window finished loading */
	pthread_mutex_t cmu;		/* the cipher context */
	int locks;			/* how many of the three exist */
	char url[ITEM_URL_MAX];		/* signed media URL, or "" */
	double url_time;		/* when it was issued (monotonic) */
	int resolving;			/* a thread is resolving it */
	double down_until;		/* fail fast until (monotonic) */
	char down_detail[TFS_ERROR_DETAIL];
	int failed;			/* counted as an integrity failure
					 * (under pool->mu) */
	struct window win[WINDOWS];
	struct cursor cur[CURSORS];
	unsigned long long tick;
	struct crypto_cbc *cbc;
	struct crypto_ctr *ctr;
	int fd;				/* GCM: verified ciphertext */
	char key[KEY_LEN];		/* GCM: its name; "" if not held */
};

/* --- small helpers --- */

static double
now_s(void)
{
	struct timespec ts;

	(void)clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Pass the detail of a failed inner call on to err. */
static int
err_copy(struct tfs_error *err, int code, const struct tfs_error *from)
{
	if (from->detail[0] == '\0')
		return tfs_error_set(err, code, "%s", tfs_strerror(code));
	return tfs_error_set(err, code, "%s", from->detail);
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

static void
free_secret(char *s)
{
	if (s == NULL)
		return;
	OPENSSL_cleanse(s, strlen(s));
	free(s);
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

/* Borrow a connection: an idle one, a new one, or wait for one. */
static int
conn_get(struct reader_pool *p, struct conn **out, struct tfs_error *err)
{
	struct conn *c;
	int rc;

	*out = NULL;
	if (p->offline)
		return tfs_error_set(err, TFS_ERR_NETWORK, "offline: no "
		    "network access");
	pthread_mutex_lock(&p->mu);
	while (p->idle == NULL && p->nconn >= CONN_MAX)
		pthread_cond_wait(&p->conn_cv, &p->mu);
	c = p->idle;
	if (c != NULL)
		p->idle = c->next;
	else
		p->nconn++;
	pthread_mutex_unlock(&p->mu);
	if (c != NULL) {
		*out = c;
		return TFS_OK;
	}
	c = calloc(1, sizeof(*c));
	if (c == NULL)
		rc = tfs_error_set(err, TFS_ERR_NOMEM, "out of memory");
	else
		rc = http_new(&c->http, &p->http, err);
	if (rc == TFS_OK)
		rc = twilio_new(&c->tw, &p->api, c->http, err);
	if (rc != TFS_OK) {
		conn_free(c);
		pthread_mutex_lock(&p->mu);
		p->nconn--;
		pthread_cond_signal(&p->conn_cv);
		pthread_mutex_unlock(&p->mu);
		return rc;
	}
	*out = c;
	return TFS_OK;
}

static void
conn_put(struct reader_pool *p, struct conn *c)
{
	if (c == NULL)
		return;
	pthread_mutex_lock(&p->mu);
	c->next = p->idle;
	p->idle = c;
	pthread_cond_signal(&p->conn_cv);
	pthread_mutex_unlock(&p->mu);
}

/* --- the pool --- */

/* Remove named temp files a crashed download left in objects. */
static void
clean_stale_tmp(const char *objects)
{
	struct dirent *de;
	struct stat st;
	DIR *d;

	d = opendir(objects);
	if (d == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		if (strncmp(de->d_name, ".tmp-", 5) != 0)
			continue;
		if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW)
		    == 0 && S_ISREG(st.st_mode) &&
		    time(NULL) - st.st_mtime > STALE_TMP_S)
			(void)unlinkat(dirfd(d), de->d_name, 0);
	}
	closedir(d);
}

/* mkdir 0700 unless it exists as a directory. */
static int
make_dir(const char *path, struct tfs_error *err)
{
	struct stat st;

	if (mkdir(path, 0700) == 0)
		return TFS_OK;
	if (errno == EEXIST && stat(path, &st) == 0 && S_ISDIR(st.st_mode))
		return TFS_OK;
	return tfs_error_set(err, TFS_ERR_IO, "%s: cannot create the cache "
	    "directory: %s", path, strerror(errno));
}

static void evict(struct reader_pool *p);

int
reader_pool_new(struct reader_pool **out, const struct reader_config *cfg,
    struct tfs_error *err)
{
	struct reader_pool *p;
	int rc = TFS_ERR_NOMEM;

	*out = NULL;
	p = calloc(1, sizeof(*p));
	if (p == NULL)
		return tfs_error_set(err, TFS_ERR_NOMEM, "out of memory");
	if (pthread_mutex_init(&p->mu, NULL) != 0)
		goto out;
	p->locks++;
	if (pthread_cond_init(&p->conn_cv, NULL) != 0)
		goto out;
	p->locks++;
	if (pthread_cond_init(&p->key_cv, NULL) != 0)
		goto out;
	p->locks++;
	if (pthread_mutex_init(&p->mem_mu, NULL) != 0)
		goto out;
	p->locks++;
	if (dup_opt(&p->account_sid, cfg->api.account_sid) != 0 ||
	    dup_opt(&p->username, cfg->api.username) != 0 ||
	    dup_opt(&p->password, cfg->api.password) != 0 ||
	    dup_opt(&p->endpoint, cfg->api.endpoint) != 0 ||
	    dup_opt(&p->region, cfg->api.region) != 0 ||
	    dup_opt(&p->edge, cfg->api.edge) != 0 ||
	    dup_opt(&p->cafile, cfg->http.cafile) != 0)
		goto out;
	p->api.account_sid = p->account_sid;
	p->api.username = p->username;
	p->api.password = p->password;
	p->api.endpoint = p->endpoint;
	p->api.region = p->region;
	p->api.edge = p->edge;
	p->http = cfg->http;
	p->http.cafile = p->cafile;
	p->keys = cfg->keys;
	p->cache_size = cfg->cache_size > 0 ? cfg->cache_size :
	    CACHE_SIZE_DEFAULT;
	p->ttl = cfg->ttl;
	p->offline = cfg->offline;
	rc = TFS_OK;
	if (cfg->cache_dir != NULL && cfg->cache_dir[0] != '\0') {
		if (snprintf(p->objects, sizeof(p->objects), "%s/objects",
		    cfg->cache_dir) >= (int)sizeof(p->objects))
			rc = tfs_error_set(err, TFS_ERR_CONFIG, "%s: cache "
			    "directory path too long", cfg->cache_dir);
		if (rc == TFS_OK)
			rc = make_dir(cfg->cache_dir, err);
		if (rc == TFS_OK)
			rc = make_dir(p->objects, err);
		if (rc != TFS_OK)
			goto out;
		clean_stale_tmp(p->objects);
		evict(p);
	}
out:
	if (rc == TFS_ERR_NOMEM)
		(void)tfs_error_set(err, TFS_ERR_NOMEM, "out of memory");
	if (rc != TFS_OK) {
		reader_pool_free(p);
		return rc;
	}
	*out = p;
	return TFS_OK;
}

void
reader_pool_free(struct reader_pool *p)
{
	struct conn *c;
	struct gcm_key *k;

	if (p == NULL)
		return;
	while ((c = p->idle) != NULL) {
		p->idle = c->next;
		conn_free(c);
	}
	while ((k = p->keys_open) != NULL) {
		p->keys_open = k->next;
		free(k);
	}
	if (p->locks > 3)
		pthread_mutex_destroy(&p->mem_mu);
	if (p->locks > 2)
		pthread_cond_destroy(&p->key_cv);
	if (p->locks > 1)
		pthread_cond_destroy(&p->conn_cv);
	if (p->locks > 0)
		pthread_mutex_destroy(&p->mu);
	free(p->account_sid);
	free(p->username);
	free_secret(p->password);
	free(p->endpoint);
	free(p->region);
	free(p->edge);
	free(p->cafile);
	OPENSSL_cleanse(p, sizeof(*p));
	free(p);
}

void
reader_pool_failures(struct reader_pool *p, size_t *count,
    char last_sid[ITEM_SID_LEN + 1])
{
	pthread_mutex_lock(&p->mu);
	*count = p->failures;
	memcpy(last_sid, p->last_sid, ITEM_SID_LEN + 1);
	pthread_mutex_unlock(&p->mu);
}

/* Count and log an integrity failure of r's object, once per open. */
static void
note_failure(struct reader *r, const char *detail)
{
	struct reader_pool *p = r->pool;
	int first;

	pthread_mutex_lock(&p->mu);
	first = !r->failed;
	if (first) {
		r->failed = 1;
		p->failures++;
		(void)snprintf(p->last_sid, sizeof(p->last_sid), "%s",
		    r->it.sid);
	}
	pthread_mutex_unlock(&p->mu);
	if (first)
		log_msg(TFS_LOG_ERROR, "%s", detail);
}

/* --- signed URLs --- */

/* The reader's signed URL into url: the one we have, or a fresh one. */
static int
url_get(struct reader *r, struct conn *c, char *url, size_t cap,
    struct tfs_error *err)
{
	struct reader_pool *p = r->pool;
	char api[ITEM_URL_MAX];
	double now = now_s(), life;
	int rc;

	life = (double)(p->ttl > 0 ? p->ttl : URL_LIFE_DEFAULT) *
	    URL_LIFE_PCT / 100.0;
	pthread_mutex_lock(&r->mu);
	/* One resolution at a time: the others wait for its URL. */
	while (r->resolving)
		pthread_cond_wait(&r->cv, &r->mu);
	if (r->url[0] != '\0' && now_s() - r->url_time < life) {
		(void)snprintf(url, cap, "%s", r->url);
		pthread_mutex_unlock(&r->mu);
		return TFS_OK;
	}
	r->resolving = 1;
	pthread_mutex_unlock(&r->mu);
	if (twilio_media_api_url(c->tw, r->it.kind, r->it.sid, r->it.part,
	    api, sizeof(api)) != TFS_OK)
		rc = tfs_error_set(err, TFS_ERR_NOTFOUND, "%s: no media URL "
		    "for this kind of item", r->it.sid);
	else
		rc = twilio_resolve_media(c->tw, r->it.kind, api, r->it.part,
		    p->ttl, url, cap, NULL, err);
	pthread_mutex_lock(&r->mu);
	if (rc == TFS_OK) {
		(void)snprintf(r->url, sizeof(r->url), "%s", url);
		r->url_time = now;
	}
	r->resolving = 0;
	pthread_cond_broadcast(&r->cv);
	pthread_mutex_unlock(&r->mu);
	return rc;
}

/* The media store refused url (expired): forget it, unless renewed. */
static void
url_expired(struct reader *r, const char *url, long long at)
{
	pthread_mutex_lock(&r->mu);
	if (strcmp(r->url, url) == 0)
		r->url[0] = '\0';
	pthread_mutex_unlock(&r->mu);
	log_msg(TFS_LOG_INFO, "%s: signed URL expired at byte %lld; "
	    "resolving a new one", r->it.sid, at);
}

/* An answer of the media store that is not the bytes we asked for. */
static int
bad_status(const struct reader *r, long status, struct tfs_error *err)
{
	if (status == 404)
		return tfs_error_set(err, TFS_ERR_NOTFOUND, "%s: the media "
		    "store has no such object (HTTP 404); was it deleted?",
		    r->it.sid);
	if (status == 403)
		return tfs_error_set(err, TFS_ERR_EXPIRED, "%s: the media "
		    "store refused %d fresh signed URLs (HTTP 403)", r->it.sid,
		    RESOLVE_MAX);
	return tfs_error_set(err, TFS_ERR_NETWORK, "%s: the media store "
	    "answered HTTP %ld", r->it.sid, status);
}

/* The object must still be the one the catalog describes. */
static int
same_object(const struct reader *r, const struct http_response *resp,
    struct tfs_error *err)
{
	if ((r->it.etag[0] != '\0' && resp->etag[0] != '\0' &&
	    strcmp(r->it.etag, resp->etag) != 0) ||
	    (resp->status == 206 && resp->total_size >= 0 &&
	    resp->total_size != r->ct_size))
		return tfs_error_set(err, TFS_ERR_CHANGED, "%s: the object "
		    "changed upstream since it was catalogued (ETag or size "
		    "differs); the next sync probes it again", r->it.sid);
	return TFS_OK;
}

/* --- ranged fetches (CBC and unencrypted) --- */

struct buf_sink {
	unsigned char *p;
	size_t want;
	size_t got;
	int full;	/* more came than asked for (a 200 to a Range) */
};

static int
buf_data(const void *p, size_t n, void *arg)
{
	struct buf_sink *s = arg;
	size_t take = n;

	if (take > s->want - s->got)
		take = s->want - s->got;
	memcpy(s->p + s->got, p, take);
	s->got += take;
	if (take < n) {
		s->full = 1;
		return -1;	/* we have all we need: stop */
	}
	return 0;
}

/*
 * Fetch object bytes [start, start + len) into out with one Range request
 * (more only if the signed URL expires mid-way: then resolve again and go
 * on from where it stopped).
 */
static int
fetch(struct reader *r, long long start, size_t len, unsigned char *out,
    struct tfs_error *err)
{
	struct buf_sink s = { out, len, 0, 0 };
	struct http_response resp = { 0 };
	struct tfs_error e = { 0, "" };
	struct http_request req;
	struct conn *c = NULL;
	char url[ITEM_URL_MAX];
	int rc, tries;

	rc = conn_get(r->pool, &c, err);
	if (rc != TFS_OK)
		return rc;
	for (tries = 0;; tries++) {
		http_response_free(&resp);
		rc = url_get(r, c, url, sizeof(url), err);
		if (rc != TFS_OK)
			goto out;
		http_request_init(&req, url);
		/* Voice media served by the API itself needs them. */
		twilio_authorize(c->tw, &req);
		req.range_start = start + (long long)s.got;
		req.range_end = start + (long long)len - 1;
		req.on_data = buf_data;
		req.arg = &s;
		tfs_error_clear(&e);
		rc = http_perform(c->http, &req, &resp, &e);
		if (rc == TFS_ERR_IO && s.full)
			rc = TFS_OK;
		if (rc != TFS_OK) {
			rc = err_copy(err, rc, &e);
			goto out;
		}
		if (resp.status == 403 && tries + 1 < RESOLVE_MAX) {
			url_expired(r, url, start + (long long)s.got);
			continue;
		}
		break;
	}
	if (resp.status != 200 && resp.status != 206)
		rc = bad_status(r, resp.status, err);
	if (rc == TFS_OK)
		rc = same_object(r, &resp, err);
	if (rc == TFS_OK && s.got != len)
		rc = tfs_error_set(err, TFS_ERR_TRUNCATED, "%s: the media "
		    "store sent %zu of the %zu bytes asked for at %lld",
		    r->it.sid, s.got, len, start);
out:
	http_response_free(&resp);
	conn_put(r->pool, c);
	return rc;
}

/*
 * Plaintext [ws, we) into a new buffer (*mem_out, *cap_out bytes, the
 * plaintext at *off_out): one request for the ciphertext blocks it needs
 * plus the one before (or the IV), decrypted in place; the padding is
 * checked whenever the last block is in it.
 */
static int
window_fill(struct reader *r, long long ws, long long we,
    unsigned char **mem_out, size_t *cap_out, size_t *off_out,
    struct tfs_error *err)
{
	const struct envelope *env = &r->it.env;
	long long b0, b1, nblocks, cstart, cend;
	unsigned char *mem = NULL;
	size_t n, pad, lead;
	int rc;

	*mem_out = NULL;
	*cap_out = 0;
	*off_out = 0;
	if (env->scheme == ENVELOPE_NONE) {
		cstart = ws;
		cend = we;
		lead = 0;
	} else {
		nblocks = r->ct_size / CRYPTO_BLOCK;
		b0 = ws / CRYPTO_BLOCK;
		b1 = we >= r->size ? nblocks - 1 :
		    (we + CRYPTO_BLOCK - 1) / CRYPTO_BLOCK - 1;
		lead = b0 > 0 ? CRYPTO_BLOCK : 0;
		cstart = b0 * CRYPTO_BLOCK - (long long)lead;
		cend = (b1 + 1) * CRYPTO_BLOCK;
	}
	n = (size_t)(cend - cstart);
	mem = malloc(n);
	if (mem == NULL)
		return tfs_error_set(err, TFS_ERR_NOMEM, "out of memory");
	rc = fetch(r, cstart, n, mem, err);
	if (rc != TFS_OK || env->scheme == ENVELOPE_NONE)
		goto out;
	pthread_mutex_lock(&r->cmu);
	rc = crypto_cbc_decrypt(r->cbc, lead > 0 ? mem : env->iv, mem + lead,
	    n - lead, mem + lead);
	pthread_mutex_unlock(&r->cmu);
	if (rc != TFS_OK) {
		rc = tfs_error_set(err, rc, "%s: AES-CBC decryption failed: "
		    "%s", r->it.sid, tfs_strerror(rc));
		goto out;
	}
	if (cend != r->ct_size)
		goto out;
	if (crypto_cbc_pad_len(mem + n - CRYPTO_BLOCK, &pad) != TFS_OK)
		rc = tfs_error_set(err, TFS_ERR_INTEGRITY, "%s: bad padding "
		    "in the last AES block: the object is tampered or "
		    "truncated, or the key is wrong", r->it.sid);
	else if (r->ct_size - (long long)pad != r->size)
		rc = tfs_error_set(err, TFS_ERR_INTEGRITY, "%s: the padding "
		    "leaves %lld bytes of plaintext where the catalog says "
		    "%lld; the object or the key is wrong", r->it.sid,
		    r->ct_size - (long long)pad, r->size);
	if (rc == TFS_ERR_INTEGRITY)
		note_failure(r, err != NULL ? err->detail : "bad padding");
out:
	if (rc != TFS_OK) {
		OPENSSL_cleanse(mem, n);
		free(mem);
		return rc;
	}
	*mem_out = mem;
	*cap_out = n;
	*off_out = lead;
	return TFS_OK;
}

static void
window_release(struct reader_pool *p, unsigned char *mem, size_t cap)
{
	if (mem == NULL)
		return;
	OPENSSL_cleanse(mem, cap);
	free(mem);
	pthread_mutex_lock(&p->mem_mu);
	p->window_bytes -= (long long)cap;
	pthread_mutex_unlock(&p->mem_mu);
}

/* Whether the pool may hold `more` plaintext bytes in windows. */
static int
window_budget(struct reader_pool *p, long long more)
{
	int ok;

	pthread_mutex_lock(&p->mem_mu);
	ok = p->window_bytes + more <= POOL_WINDOW_CAP;
	pthread_mutex_unlock(&p->mem_mu);
	return ok;
}

static void
window_charge(struct reader_pool *p, size_t cap)
{
	pthread_mutex_lock(&p->mem_mu);
	p->window_bytes += (long long)cap;
	pthread_mutex_unlock(&p->mem_mu);
}

/* A window in state st holding pos, or NULL. Called with r->mu. */
static struct window *
window_at(struct reader *r, long long pos, enum win_state st)
{
	int i;

	for (i = 0; i < WINDOWS; i++)
		if (r->win[i].state == st && r->win[i].start <= pos &&
		    pos < r->win[i].end)
			return &r->win[i];
	return NULL;
}

/* A slot to load into: empty or failed, else the least recently used
 * ready one; NULL when all are loading. Called with r->mu. */
static struct window *
window_slot(struct reader *r)
{
	struct window *best = NULL;
	int i;

	for (i = 0; i < WINDOWS; i++) {
		if (r->win[i].state == WIN_EMPTY ||
		    r->win[i].state == WIN_FAILED)
			return &r->win[i];
		if (r->win[i].state == WIN_READY &&
		    (best == NULL || r->win[i].used < best->used))
			best = &r->win[i];
	}
	return best;
}

/*
 * Plan the request for a miss at pos when the read wants up to end:
 * [*ws, *we) of plaintext, sized by the cursor the read continues.
 * Called with r->mu.
 */
static void
window_plan(struct reader *r, long long pos, long long end, long long *ws,
    long long *we)
{
	struct cursor *c = NULL, *lru = NULL;
	long long need = end - pos, want, s, e;
	int i;

	for (i = 0; i < CURSORS; i++) {
		struct cursor *k = &r->cur[i];

		if (k->used != 0 && pos >= k->next - SEQ_SLACK &&
		    pos <= k->next + SEQ_SLACK) {
			c = k;
			break;
		}
		if (lru == NULL || k->used < lru->used)
			lru = k;
	}
	if (c != NULL) {
		/* Going on past the end: faster; a re-read: as fast. */
		want = pos >= c->next - CRYPTO_BLOCK ? c->size * 2 :
		    c->size;
	} else {
		c = lru;
		want = WINDOW_FIRST;
	}
	if (want < need)
		want = need;
	if (want > WINDOW_MAX)
		want = WINDOW_MAX;
	c->size = want;
	if (!window_budget(r->pool, want))
		want = need < WINDOW_MAX ? need : WINDOW_MAX;
	s = pos - pos % CRYPTO_BLOCK;
	e = pos + want;
	if (e % CRYPTO_BLOCK != 0)
		e += CRYPTO_BLOCK - e % CRYPTO_BLOCK;
	if (e > r->size)
		e = r->size;
	/* Do not fetch again what another window has or is getting. */
	for (i = 0; i < WINDOWS; i++)
		if ((r->win[i].state == WIN_READY ||
		    r->win[i].state == WIN_LOADING) &&
		    r->win[i].start > pos && r->win[i].start < e)
			e = r->win[i].start;
	c->next = e;
	c->used = ++r->tick;
	*ws = s;
	*we = e;
}

/*
 * Copy plaintext [off, end) into buf from the windows, loading what is
 * missing; several threads may do this at once on one reader: a range
 * being loaded by one is waited for by the others, never fetched twice.
 */
static int
read_windows(struct reader *r, char *buf, long long off, long long end,
    struct tfs_error *err)
{
	struct tfs_error e = { 0, "" };
	struct window *w;
	long long pos = off, ws, we;
	unsigned char *mem;
	unsigned long gen;
	size_t cap, doff = 0, n;
	int rc = TFS_OK;

	pthread_mutex_lock(&r->mu);
	while (pos < end) {
		w = window_at(r, pos, WIN_READY);
		if (w != NULL) {
			n = (size_t)((w->end < end ? w->end : end) - pos);
			memcpy(buf + (pos - off), w->mem + w->data_off +
			    (pos - w->start), n);
			w->used = ++r->tick;
			pos += (long long)n;
			continue;
		}
		w = window_at(r, pos, WIN_LOADING);
		if (w != NULL) {
			gen = w->gen;
			while (w->state == WIN_LOADING && w->gen == gen)
				pthread_cond_wait(&r->cv, &r->mu);
			if (w->gen == gen && w->state == WIN_FAILED) {
				rc = tfs_error_set(err, w->rc, "%s", w->detail);
				break;
			}
			continue;
		}
		if (now_s() < r->down_until) {
			rc = tfs_error_set(err, TFS_ERR_NETWORK, "%s",
			    r->down_detail);
			break;
		}
		w = window_slot(r);
		if (w == NULL) {
			pthread_cond_wait(&r->cv, &r->mu);
			continue;
		}
		window_plan(r, pos, end, &ws, &we);
		mem = w->mem;
		cap = w->cap;
		w->mem = NULL;
		w->cap = 0;
		w->state = WIN_LOADING;
		w->start = ws;
		w->end = we;
		w->gen++;
		/* Only this thread changes a loading window. */
		pthread_mutex_unlock(&r->mu);
		window_release(r->pool, mem, cap);
		tfs_error_clear(&e);
		rc = window_fill(r, ws, we, &mem, &cap, &doff, &e);
		if (rc == TFS_OK)
			window_charge(r->pool, cap);
		pthread_mutex_lock(&r->mu);
		pthread_cond_broadcast(&r->cv);
		if (rc != TFS_OK) {
			w->state = WIN_FAILED;
			w->rc = rc;
			(void)snprintf(w->detail, sizeof(w->detail), "%s",
			    e.detail[0] ? e.detail : tfs_strerror(rc));
			if (rc == TFS_ERR_NETWORK) {
				/* Retried already: fail fast for a while. */
				r->down_until = now_s() + NET_HOLDOFF_S;
				memcpy(r->down_detail, w->detail,
				    sizeof(r->down_detail));
			}
			rc = err_copy(err, rc, &e);
			break;
		}
		w->mem = mem;
		w->cap = cap;
		w->data_off = doff;
		w->state = WIN_READY;
		w->used = ++r->tick;
	}
	pthread_mutex_unlock(&r->mu);
	return rc;
}

/* --- GCM: the verified ciphertext cache --- */

/* Called with p->mu. */
static struct gcm_key *
key_find(struct reader_pool *p, const char *name)
{
	struct gcm_key *k;

	for (k = p->keys_open; k != NULL; k = k->next)
		if (strcmp(k->name, name) == 0)
			return k;
	return NULL;
}

/* Hold name (protected from eviction); NULL if out of memory. With
 * p->mu. */
static struct gcm_key *
key_hold(struct reader_pool *p, const char *name)
{
	struct gcm_key *k = key_find(p, name);

	if (k == NULL) {
		k = calloc(1, sizeof(*k));
		if (k == NULL)
			return NULL;
		(void)snprintf(k->name, sizeof(k->name), "%s", name);
		k->next = p->keys_open;
		p->keys_open = k;
	}
	k->refs++;
	return k;
}

/* With p->mu. */
static void
key_drop(struct reader_pool *p, const char *name)
{
	struct gcm_key **kp, *k;

	for (kp = &p->keys_open; *kp != NULL; kp = &(*kp)->next) {
		k = *kp;
		if (strcmp(k->name, name) != 0)
			continue;
		if (--k->refs == 0 && !k->busy) {
			*kp = k->next;
			free(k);
		}
		return;
	}
}

/* With p->mu. */
static int
failed_has(const struct reader_pool *p, const char *name)
{
	size_t i, n = p->nfailed < FAILED_MAX ? p->nfailed : FAILED_MAX;

	for (i = 0; i < n; i++)
		if (strcmp(p->failed[i], name) == 0)
			return 1;
	return 0;
}

/*
 * The cache file's name: SID, part, and a hash of what identifies the
 * object (ETag, size, IV, wrapped key): a changed object or envelope gets
 * a new name, so a stale file is never decrypted with the wrong key.
 */
static int
cache_key(const struct reader *r, char *out, size_t cap,
    struct tfs_error *err)
{
	const struct item *it = &r->it;
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0, i;
	char size[32], hex[17];
	EVP_MD_CTX *ctx;
	int ok;

	for (i = 0; it->sid[i] != '\0'; i++)
		if (!((it->sid[i] >= '0' && it->sid[i] <= '9') ||
		    (it->sid[i] >= 'a' && it->sid[i] <= 'z') ||
		    (it->sid[i] >= 'A' && it->sid[i] <= 'Z')))
			break;
	if (i == 0 || it->sid[i] != '\0' || it->part < 0)
		return tfs_error_set(err, TFS_ERR_USAGE, "'%.40s' part %d: not "
		    "a SID", it->sid, it->part);
	(void)snprintf(size, sizeof(size), "|%lld|", r->ct_size);
	ctx = EVP_MD_CTX_new();
	ok = ctx != NULL && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) > 0 &&
	    EVP_DigestUpdate(ctx, it->etag, strlen(it->etag)) > 0 &&
	    EVP_DigestUpdate(ctx, size, strlen(size)) > 0 &&
	    EVP_DigestUpdate(ctx, it->env.iv, it->env.iv_len) > 0 &&
	    EVP_DigestUpdate(ctx, it->env.wrapped_cek,
	    it->env.wrapped_cek_len) > 0 &&
	    EVP_DigestFinal_ex(ctx, md, &mdlen) > 0 && mdlen >= 8;
	EVP_MD_CTX_free(ctx);
	if (!ok)
		return tfs_error_set(err, TFS_ERR_CRYPTO, "%s: SHA-256 failed",
		    it->sid);
	for (i = 0; i < 8; i++)
		(void)snprintf(hex + 2 * i, 3, "%02x", md[i]);
	if (snprintf(out, cap, "%s.%d.%s", it->sid, it->part, hex) >=
	    (int)cap)
		return tfs_error_set(err, TFS_ERR_USAGE, "%s: SID too long",
		    it->sid);
	return TFS_OK;
}

struct cached {
	char name[KEY_LEN];
	long long size;
	struct timespec mtime;
};

static int
by_mtime(const void *a, const void *b)
{
	const struct cached *x = a, *y = b;

	if (x->mtime.tv_sec != y->mtime.tv_sec)
		return x->mtime.tv_sec < y->mtime.tv_sec ? -1 : 1;
	if (x->mtime.tv_nsec != y->mtime.tv_nsec)
		return x->mtime.tv_nsec < y->mtime.tv_nsec ? -1 : 1;
	return strcmp(x->name, y->name);
}

/*
 * Keep the cache within cache_size: delete the least recently used files
 * (mtime, touched at every open) that no reader holds.
 */
static void
evict(struct reader_pool *p)
{
	struct cached *v = NULL, *nv;
	struct dirent *de;
	struct stat st;
	size_t n = 0, cap = 0, i;
	long long total = 0;
	DIR *d;

	d = opendir(p->objects);
	if (d == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.' || strlen(de->d_name) >= KEY_LEN ||
		    fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) !=
		    0 || !S_ISREG(st.st_mode))
			continue;
		if (n == cap) {
			cap = cap == 0 ? 64 : cap * 2;
			nv = realloc(v, cap * sizeof(*v));
			if (nv == NULL)
				goto out;
			v = nv;
		}
		memcpy(v[n].name, de->d_name, strlen(de->d_name) + 1);
		v[n].size = (long long)st.st_size;
		v[n].mtime = st.st_mtim;
		total += v[n].size;
		n++;
	}
	if (total > p->cache_size && n > 0)
		qsort(v, n, sizeof(*v), by_mtime);
	for (i = 0; i < n && total > p->cache_size; i++) {
		pthread_mutex_lock(&p->mu);
		if (key_find(p, v[i].name) == NULL &&
		    unlinkat(dirfd(d), v[i].name, 0) == 0) {
			total -= v[i].size;
			log_msg(TFS_LOG_DEBUG, "cache: evicted %s", v[i].name);
		}
		pthread_mutex_unlock(&p->mu);
	}
	pthread_mutex_lock(&p->mu);
	p->over = total > p->cache_size;
	pthread_mutex_unlock(&p->mu);
out:
	closedir(d);
	free(v);
}

/* A 0600 file in objects for a download: unnamed if the kernel can. */
static int
tmp_open(struct reader_pool *p, char *tmp, size_t cap, struct tfs_error *err)
{
	int fd = -1;

	tmp[0] = '\0';
#ifdef O_TMPFILE
	fd = open(p->objects, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (fd >= 0)
		return fd;
#endif
	if (snprintf(tmp, cap, "%s/.tmp-XXXXXX", p->objects) >= (int)cap) {
		tmp[0] = '\0';
		return tfs_error_set(err, TFS_ERR_IO, "%s: path too long",
		    p->objects);
	}
	fd = mkstemp(tmp);
	if (fd < 0) {
		tmp[0] = '\0';
		return tfs_error_set(err, TFS_ERR_IO, "%s: cannot create a "
		    "download file: %s", p->objects, strerror(errno));
	}
	(void)fcntl(fd, F_SETFD, FD_CLOEXEC);
	return fd;
}

/* Give the verified download its name (already there: fine too). */
static int
tmp_commit(struct reader *r, int fd, const char *tmp, const char *path,
    struct tfs_error *err)
{
	char proc[64];

	if (fdatasync(fd) != 0)
		return tfs_error_set(err, TFS_ERR_IO, "%s: cannot write the "
		    "cache: %s", r->it.sid, strerror(errno));
	if (tmp[0] != '\0') {
		if (rename(tmp, path) != 0)
			return tfs_error_set(err, TFS_ERR_IO, "%s: cannot name "
			    "the cache file: %s", path, strerror(errno));
		return TFS_OK;
	}
	(void)snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	if (linkat(AT_FDCWD, proc, AT_FDCWD, path, AT_SYMLINK_FOLLOW) != 0 &&
	    errno != EEXIST)
		log_msg(TFS_LOG_WARN, "%s: cannot keep the verified download "
		    "in the cache (%s); it is used for this open only", path,
		    strerror(errno));
	return TFS_OK;
}

struct gcm_sink {
	int fd;
	struct crypto_gcm *gcm;
	long long got, want;
	int over;		/* the object is longer than it should be */
	int werr;		/* errno of a failed write */
	int crc;		/* a crypto failure */
};

static int
gcm_data(const void *p, size_t n, void *arg)
{
	struct gcm_sink *s = arg;
	int rc;

	if (s->got + (long long)n > s->want) {
		s->over = 1;
		return -1;
	}
	if (io_write_all(s->fd, p, n) != 0) {
		s->werr = errno;
		return -1;
	}
	rc = crypto_gcm_update(s->gcm, p, n, NULL, NULL);
	if (rc != TFS_OK) {
		s->crc = rc;
		return -1;
	}
	s->got += (long long)n;
	return 0;
}

/* Why the stream into s stopped. */
static int
gcm_fetch_error(const struct reader *r, const struct gcm_sink *s, int rc,
    const struct tfs_error *e, struct tfs_error *err)
{
	if (s->over)
		return tfs_error_set(err, TFS_ERR_CHANGED, "%s: the object "
		    "is longer than the %lld bytes the catalog says; the "
		    "next sync probes it again", r->it.sid, s->want);
	if (s->werr != 0)
		return tfs_error_set(err, TFS_ERR_IO, "%s: cannot write the "
		    "cache in %s: %s", r->it.sid, r->pool->objects,
		    strerror(s->werr));
	if (s->crc != 0)
		return tfs_error_set(err, s->crc, "%s: AES-GCM failed: %s",
		    r->it.sid, tfs_strerror(s->crc));
	return err_copy(err, rc, e);
}

/* The whole object through GCM into fd; 0 only if fully received. */
static int
gcm_fetch(struct reader *r, struct gcm_sink *s, struct tfs_error *err)
{
	struct http_response resp = { 0 };
	struct tfs_error e = { 0, "" };
	struct http_request req;
	struct conn *c = NULL;
	char url[ITEM_URL_MAX];
	int rc, tries;

	rc = conn_get(r->pool, &c, err);
	if (rc != TFS_OK)
		return rc;
	for (tries = 0;; tries++) {
		http_response_free(&resp);
		rc = url_get(r, c, url, sizeof(url), err);
		if (rc != TFS_OK)
			goto out;
		http_request_init(&req, url);
		/* Voice media served by the API itself needs them. */
		twilio_authorize(c->tw, &req);
		if (s->got > 0)
			req.range_start = s->got;
		req.on_data = gcm_data;
		req.arg = s;
		tfs_error_clear(&e);
		rc = http_perform(c->http, &req, &resp, &e);
		if (rc != TFS_OK) {
			rc = gcm_fetch_error(r, s, rc, &e, err);
			goto out;
		}
		if (resp.status == 403 && tries + 1 < RESOLVE_MAX) {
			url_expired(r, url, s->got);
			continue;
		}
		break;
	}
	if (resp.status != 200 && resp.status != 206)
		rc = bad_status(r, resp.status, err);
	else if (s->got != s->want)
		rc = tfs_error_set(err, TFS_ERR_TRUNCATED, "%s: the media "
		    "store sent %lld of %lld bytes", r->it.sid, s->got,
		    s->want);
out:
	http_response_free(&resp);
	conn_put(r->pool, c);
	return rc;
}

/*
 * Download the object into an unnamed file in objects, verifying the
 * tag as it streams by; name it path only once the tag matched.
 */
static int
gcm_download(struct reader *r, const struct crypto_cek *cek,
    const char *path, int *fd_out, struct tfs_error *err)
{
	const struct envelope *env = &r->it.env;
	struct gcm_sink s = { -1, NULL, 0, 0, 0, 0, 0 };
	char tmp[PATH_MAX];
	int rc;

	*fd_out = -1;
	tmp[0] = '\0';
	rc = crypto_gcm_new(&s.gcm, cek, env->iv, env->iv_len);
	if (rc != TFS_OK) {
		rc = tfs_error_set(err, rc, "%s: cannot set up AES-GCM: %s",
		    r->it.sid, tfs_strerror(rc));
		goto out;
	}
	s.fd = tmp_open(r->pool, tmp, sizeof(tmp), err);
	if (s.fd < 0) {
		rc = s.fd;
		goto out;
	}
	s.want = r->ct_size;
	rc = gcm_fetch(r, &s, err);
	if (rc == TFS_OK) {
		rc = crypto_gcm_final(s.gcm, NULL);
		if (rc == TFS_ERR_INTEGRITY)
			rc = tfs_error_set(err, rc, "%s: authentication tag "
			    "does not match: the object is tampered or not "
			    "the one its envelope belongs to; nothing of it "
			    "is served", r->it.sid);
		else if (rc != TFS_OK)
			rc = tfs_error_set(err, rc, "%s: %s", r->it.sid,
			    tfs_strerror(rc));
	}
	if (rc == TFS_OK)
		rc = tmp_commit(r, s.fd, tmp, path, err);
	if (rc == TFS_OK) {
		*fd_out = s.fd;
		s.fd = -1;
	}
out:
	if (s.fd >= 0) {
		close(s.fd);
		if (tmp[0] != '\0')
			(void)unlink(tmp);
	}
	crypto_gcm_free(s.gcm);
	return rc;
}

/*
 * Make r->fd the verified ciphertext: from the cache, or downloaded and
 * verified now (one download per object at a time in this pool).
 */
static int
gcm_open(struct reader *r, const struct crypto_cek *cek,
    struct tfs_error *err)
{
	struct reader_pool *p = r->pool;
	struct tfs_error e = { 0, "" };
	char path[PATH_MAX], key[KEY_LEN];
	struct gcm_key *k;
	struct stat st;
	int rc, fd;

	if (p->objects[0] == '\0')
		return tfs_error_set(err, TFS_ERR_CONFIG, "%s: no cache "
		    "directory to verify it in", r->it.sid);
	rc = cache_key(r, key, sizeof(key), err);
	if (rc != TFS_OK)
		return rc;
	if (snprintf(path, sizeof(path), "%s/%s", p->objects, key) >=
	    (int)sizeof(path))
		return tfs_error_set(err, TFS_ERR_IO, "%s: cache path too "
		    "long", p->objects);
	pthread_mutex_lock(&p->mu);
	k = key_hold(p, key);
	if (k == NULL) {
		pthread_mutex_unlock(&p->mu);
		return tfs_error_set(err, TFS_ERR_NOMEM, "out of memory");
	}
	(void)snprintf(r->key, sizeof(r->key), "%s", key);
	while (k->busy)
		pthread_cond_wait(&p->key_cv, &p->mu);
	if (failed_has(p, key)) {
		pthread_mutex_unlock(&p->mu);
		return tfs_error_set(err, TFS_ERR_INTEGRITY, "%s: its "
		    "authentication tag did not match when it was "
		    "downloaded; nothing of it is served", r->it.sid);
	}
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd >= 0 && fstat(fd, &st) == 0 && S_ISREG(st.st_mode) &&
	    (long long)st.st_size == r->ct_size) {
		(void)futimens(fd, NULL);	/* recently used */
		pthread_mutex_unlock(&p->mu);
		r->fd = fd;
		return TFS_OK;
	}
	if (fd >= 0) {
		/* Not what we would have written: do not trust it. */
		close(fd);
		(void)unlink(path);
	}
	if (p->offline) {
		pthread_mutex_unlock(&p->mu);
		return tfs_error_set(err, TFS_ERR_NETWORK, "%s: offline, and "
		    "its verified copy is not in the cache", r->it.sid);
	}
	k->busy = 1;
	pthread_mutex_unlock(&p->mu);
	rc = gcm_download(r, cek, path, &fd, &e);
	pthread_mutex_lock(&p->mu);
	k->busy = 0;
	if (rc == TFS_ERR_INTEGRITY) {
		(void)snprintf(p->failed[p->nfailed % FAILED_MAX], KEY_LEN,
		    "%s", key);
		p->nfailed++;
	}
	pthread_cond_broadcast(&p->key_cv);
	pthread_mutex_unlock(&p->mu);
	if (rc == TFS_ERR_INTEGRITY)
		note_failure(r, e.detail);
	if (rc != TFS_OK)
		return err_copy(err, rc, &e);
	r->fd = fd;
	evict(p);
	return TFS_OK;
}

static int
read_gcm(struct reader *r, char *buf, long long off, size_t n,
    struct tfs_error *err)
{
	size_t done = 0;
	ssize_t k;
	int rc;

	while (done < n) {
		k = pread(r->fd, buf + done, n - done, (off_t)off +
		    (off_t)done);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0) {
			rc = tfs_error_set(err, TFS_ERR_IO, "%s: cannot read "
			    "its cached ciphertext: %s", r->it.sid, k < 0 ?
			    strerror(errno) : "file shrank");
			goto fail;
		}
		done += (size_t)k;
	}
	pthread_mutex_lock(&r->cmu);
	rc = crypto_ctr_decrypt(r->ctr, (uint64_t)off,
	    (const unsigned char *)buf, n, (unsigned char *)buf);
	pthread_mutex_unlock(&r->cmu);
	if (rc == TFS_OK)
		return TFS_OK;
	rc = tfs_error_set(err, rc, "%s: AES-CTR failed at %lld: %s",
	    r->it.sid, off, tfs_strerror(rc));
fail:
	OPENSSL_cleanse(buf, n);
	return rc;
}

/* --- open, read, close --- */

/* Exact sizes from the envelope; they must agree with each other. */
static int
reader_sizes(struct reader *r, struct tfs_error *err)
{
	const struct envelope *env = &r->it.env;
	long long ps = env->plaintext_size, ct = ps;

	if (env->scheme == ENVELOPE_CBC) {
		if (env->iv_len != CRYPTO_BLOCK)
			return tfs_error_set(err, TFS_ERR_ENVELOPE, "%s: "
			    "AES-CBC needs a 16-byte IV", r->it.sid);
		ct = (ps / CRYPTO_BLOCK + 1) * CRYPTO_BLOCK;
	} else if (env->scheme == ENVELOPE_GCM) {
		ct = ps + CRYPTO_GCM_TAG;
	}
	if (env->ciphertext_size >= 0 && env->ciphertext_size != ct)
		return tfs_error_set(err, TFS_ERR_INTEGRITY, "%s: %lld bytes "
		    "of ciphertext cannot hold %lld of plaintext; sync again",
		    r->it.sid, env->ciphertext_size, ps);
	r->size = ps;
	r->ct_size = ct;
	return TFS_OK;
}

static int
reader_unwrap(struct reader *r, struct crypto_cek *cek,
    struct tfs_error *err)
{
	const struct envelope *env = &r->it.env;
	struct tfs_error e = { 0, "" };
	int rc;

	if (r->pool->keys == NULL)
		return tfs_error_set(err, TFS_ERR_NOKEY, "%s: encrypted%s%s, "
		    "and no private keys were given (TWILIOFS_KEYS)",
		    r->it.sid, env->public_key_sid[0] ? " for " : "",
		    env->public_key_sid);
	rc = keyring_unwrap(r->pool->keys, env, cek, NULL, &e);
	if (rc != TFS_OK)
		return tfs_error_set(err, rc, "%s: %s", r->it.sid,
		    e.detail[0] ? e.detail : tfs_strerror(rc));
	return TFS_OK;
}

int
reader_open(struct reader_pool *pool, const struct item *it,
    struct reader **out, struct tfs_error *err)
{
	struct crypto_cek cek = { { 0 }, 0 };
	enum envelope_scheme scheme = it->env.scheme;
	struct reader *r;
	int rc;

	*out = NULL;
	if (!it->media_known || it->env.plaintext_size < 0)
		return tfs_error_set(err, TFS_ERR_USAGE, "%s: its media was "
		    "not probed yet (size unknown); sync first", it->sid);
	r = calloc(1, sizeof(*r));
	if (r == NULL)
		return tfs_error_set(err, TFS_ERR_NOMEM, "out of memory");
	r->pool = pool;
	r->it = *it;
	r->fd = -1;
	rc = TFS_ERR_NOMEM;
	if (pthread_mutex_init(&r->mu, NULL) != 0)
		goto out;
	r->locks++;
	if (pthread_cond_init(&r->cv, NULL) != 0)
		goto out;
	r->locks++;
	if (pthread_mutex_init(&r->cmu, NULL) != 0)
		goto out;
	r->locks++;
	rc = reader_sizes(r, err);
	if (rc == TFS_OK && scheme != ENVELOPE_NONE)
		rc = reader_unwrap(r, &cek, err);
	if (rc != TFS_OK)
		goto out;
	if (scheme != ENVELOPE_GCM && pool->offline) {
		rc = tfs_error_set(err, TFS_ERR_NETWORK, "%s: offline, and "
		    "only verified voice recordings and transcripts are "
		    "kept in the cache", it->sid);
		goto out;
	}
	if (scheme == ENVELOPE_CBC) {
		rc = crypto_cbc_new(&r->cbc, &cek);
	} else if (scheme == ENVELOPE_GCM) {
		rc = gcm_open(r, &cek, err);
		if (rc == TFS_OK)
			rc = crypto_ctr_new(&r->ctr, &cek, it->env.iv,
			    it->env.iv_len);
	}
	if (rc != TFS_OK)
		rc = tfs_error_set(err, rc, "%s: cannot set up decryption: "
		    "%s", it->sid, tfs_strerror(rc));
out:
	crypto_cek_wipe(&cek);
	if (rc == TFS_ERR_NOMEM)
		(void)tfs_error_set(err, rc, "out of memory");
	if (rc != TFS_OK) {
		reader_close(r);
		return rc;
	}
	*out = r;
	return TFS_OK;
}

int
reader_read(struct reader *r, char *buf, size_t len, off_t off,
    size_t *got, struct tfs_error *err)
{
	long long end;
	int rc;

	*got = 0;
	if (off < 0)
		return tfs_error_set(err, TFS_ERR_RANGE, "%s: negative offset",
		    r->it.sid);
	if (len == 0 || (long long)off >= r->size)
		return TFS_OK;
	end = len > (size_t)(r->size - (long long)off) ? r->size :
	    (long long)off + (long long)len;
	if (r->it.env.scheme == ENVELOPE_GCM)
		rc = read_gcm(r, buf, (long long)off,
		    (size_t)(end - (long long)off), err);
	else
		rc = read_windows(r, buf, (long long)off, end, err);
	if (rc == TFS_OK)
		*got = (size_t)(end - (long long)off);
	return rc;
}

void
reader_close(struct reader *r)
{
	struct reader_pool *p;
	int i, over = 0;

	if (r == NULL)
		return;
	p = r->pool;
	for (i = 0; i < WINDOWS; i++)
		window_release(p, r->win[i].mem, r->win[i].cap);
	crypto_cbc_free(r->cbc);
	crypto_ctr_free(r->ctr);
	if (r->fd >= 0)
		close(r->fd);
	if (r->key[0] != '\0') {
		pthread_mutex_lock(&p->mu);
		key_drop(p, r->key);
		over = p->over;
		pthread_mutex_unlock(&p->mu);
	}
	/* A file the cache could not drop while it was open may go now. */
	if (over)
		evict(p);
	if (r->locks > 2)
		pthread_mutex_destroy(&r->cmu);
	if (r->locks > 1)
		pthread_cond_destroy(&r->cv);
	if (r->locks > 0)
		pthread_mutex_destroy(&r->mu);
	OPENSSL_cleanse(r, sizeof(*r));
	free(r);
}
