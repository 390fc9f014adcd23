/* SPDX-License-Identifier: MIT */
/* reader.c - decrypted reads of one item: CBC windows, verified GCM. */
#define _GNU_SOURCE	/* MAP_ANONYMOUS, MADV_DONTDUMP */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "twiliofs/crypto.h"
#include "twiliofs/log.h"
#include "twiliofs/objcache.h"
#include "twiliofs/reader.h"

#define STREAMS_DEFAULT 4
#define STREAMS_MAX 16
#define READ_TIMEOUT_DEFAULT 30
/* Windows per open file: two per stream (in flight, and read ahead
 * already), and four for the one being read, one behind it, and
 * readers at other offsets. The budget bounds their memory. */
#define WINDOWS_SPARE 4
/*
 * A read that continues no cursor fetches what it asks for, at least
 * WINDOW_FIRST; each read that continues a cursor doubles that cursor's
 * window size, up to WINDOW_MAX (mountpoint-s3's shape).
 */
#define WINDOW_FIRST (64 * 1024)
#define WINDOW_MAX (4 * 1024 * 1024)
/* How far behind a cursor's end a read may land and still continue it
 * (the kernel's parallel reads arrive slightly out of order). */
#define SEQ_BACK (1024 * 1024)
/* Plaintext held in windows by all readers of a pool: beyond it no
 * read-ahead, and a read fetches only what it asks for. */
#define POOL_WINDOW_CAP (32LL * 1024 * 1024)
/* A GCM download's ranges. */
#define GCM_PIECE (4 * 1024 * 1024)
/* Bytes a window takes in between wake-ups of the reads waiting on it. */
#define WAKE_BYTES (128 * 1024)
/* How often a waiting read looks at its deadline and at interrupts. */
#define WAIT_SLICE_MS 100
/*
 * After a fetch failed for good (http retried it already), further
 * reads of that open file that need the network fail at once for this
 * long, instead of each retrying again (the kernel re-reads a failed
 * page, and a player retries).
 */
#define NET_HOLDOFF_S 5.0

struct reader_pool {
	pthread_mutex_t mu;		/* failures, window_bytes */
	size_t failures;
	char last_sid[ITEM_SID_LEN + 1];
	long long window_bytes;		/* memory of all windows */
	int holders;			/* readers holding some */
	struct media *media;
	struct objcache *oc;		/* NULL without cache_dir */
	const struct keyring *keys;
	int offline;
	int streams;
	int read_timeout;
	int (*interrupted)(void);
};

enum win_state {
	WIN_EMPTY = 0,
	WIN_LOADING,
	WIN_READY,
	WIN_FAILED
};

/*
 * A range of the object in memory: plaintext [start, end) for reads
 * (decrypted as it arrives), or raw ciphertext for a GCM download.
 */
struct window {
	struct reader *r;
	enum win_state state;
	long long start, end;
	long long ready;		/* bytes from start readers may use */
	long long told;			/* plain when last published */
	unsigned char *mem;		/* kept across loads */
	size_t cap;
	unsigned long long used;	/* LRU tick */
	unsigned long gen;		/* bumped at every load */
	int busy;			/* a fetch writes into mem */
	atomic_int abandon;		/* nobody wants it: stop fetching */
	atomic_llong progress_ms;	/* when bytes last arrived */
	int rc;				/* WIN_FAILED: why */
	char detail[TFS_ERROR_DETAIL];
	/* The fetch: on the worker only, until done. */
	struct media_fetch f;
	int raw;			/* copy, do not decrypt */
	long long plain;		/* bytes produced into mem */
	size_t lead_left;		/* IV block bytes still to come */
	unsigned char prev[CRYPTO_BLOCK];	/* last ciphertext block */
	unsigned char carry[CRYPTO_BLOCK];	/* a partial block */
	size_t ncarry;
	struct crypto_cbc *cbc;		/* this window's own context */
};

/* A sequential reader of the file: where it goes on, how fast. */
struct cursor {
	long long next;
	long long size;
	unsigned long long used;	/* 0: free */
};

#define CURSORS 4
#define CTR_CONTEXTS 4

struct reader {
	struct reader_pool *pool;
	struct item it;
	long long size;			/* plaintext bytes */
	long long ct_size;		/* ciphertext bytes */
	pthread_mutex_t mu;		/* windows, cursors */
	pthread_cond_t cv;		/* a window made progress */
	int locks;			/* how many of the two exist */
	double down_until;		/* fail fast until (monotonic) */
	char down_detail[TFS_ERROR_DETAIL];
	int failed;			/* counted as an integrity failure
					 * (under pool->mu) */
	long long held;			/* window memory (pool->mu) */
	struct window *win;
	int nwin;
	struct cursor cur[CURSORS];
	unsigned long long tick;
	int waiting;			/* threads in window_wait */
	/* GCM: decryption contexts, each under its lock, so that the
	 * kernel's parallel reads decrypt on every core. */
	struct crypto_ctr *ctr[CTR_CONTEXTS];
	pthread_mutex_t cmu[CTR_CONTEXTS];
	int fd;				/* GCM: verified ciphertext */
	char key[OBJCACHE_KEY_LEN];	/* GCM: its objcache hold */
};

/* --- small helpers --- */

static double
now_s(void)
{
	struct timespec ts;

	(void)clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static long long
now_ms(void)
{
	return (long long)(now_s() * 1000.0);
}

/* Pass the detail of a failed inner call on to err. */
static int
err_copy(struct tfs_error *err, int code, const struct tfs_error *from)
{
	if (from->detail[0] == '\0')
		return tfs_error_set(err, code, "%s", tfs_strerror(code));
	return tfs_error_set(err, code, "%s", from->detail);
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

/* --- the pool --- */

int
reader_pool_new(struct reader_pool **out, const struct reader_config *cfg,
    struct tfs_error *err)
{
	struct reader_pool *p;
	int rc = TFS_OK;

	*out = NULL;
	p = calloc(1, sizeof(*p));
	if (p == NULL)
		return tfs_error_set(err, TFS_ERR_NOMEM, "out of memory");
	if (pthread_mutex_init(&p->mu, NULL) != 0) {
		free(p);
		return tfs_error_set(err, TFS_ERR_NOMEM, "out of memory");
	}
	p->media = cfg->media;
	p->keys = cfg->keys;
	p->offline = cfg->offline;
	p->streams = cfg->streams > 0 ? cfg->streams : STREAMS_DEFAULT;
	if (p->streams > STREAMS_MAX)
		p->streams = STREAMS_MAX;
	p->read_timeout = cfg->read_timeout > 0 ? cfg->read_timeout :
	    READ_TIMEOUT_DEFAULT;
	p->interrupted = cfg->interrupted;
	if (cfg->cache_dir != NULL && cfg->cache_dir[0] != '\0')
		rc = objcache_new(&p->oc, cfg->cache_dir, cfg->cache_size, err);
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
	if (p == NULL)
		return;
	objcache_free(p->oc);
	pthread_mutex_destroy(&p->mu);
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

/*
 * The window memory r may hold: an equal share of the pool's budget
 * among the readers holding some (one reader alone gets all of it).
 * With p->mu.
 */
static long long
budget_share(const struct reader *r)
{
	int n = r->pool->holders + (r->held == 0);

	return POOL_WINDOW_CAP / (n > 0 ? n : 1);
}

/* Whether r may hold `more` bytes more in windows. */
static int
budget_allows(struct reader *r, long long more)
{
	struct reader_pool *p = r->pool;
	int ok;

	pthread_mutex_lock(&p->mu);
	ok = p->window_bytes + more <= POOL_WINDOW_CAP &&
	    r->held + more <= budget_share(r);
	pthread_mutex_unlock(&p->mu);
	return ok;
}

static void
budget_charge(struct reader *r, long long bytes)
{
	struct reader_pool *p = r->pool;

	pthread_mutex_lock(&p->mu);
	p->holders -= r->held > 0;
	r->held += bytes;
	p->holders += r->held > 0;
	p->window_bytes += bytes;
	pthread_mutex_unlock(&p->mu);
}

/* The largest window r's share allows: the share spread over what
 * read-ahead keeps (streams in flight, and two more). */
static long long
window_cap(struct reader *r)
{
	long long cap;

	pthread_mutex_lock(&r->pool->mu);
	cap = budget_share(r) / (r->pool->streams + 2);
	pthread_mutex_unlock(&r->pool->mu);
	cap -= cap % CRYPTO_BLOCK;
	if (cap > WINDOW_MAX)
		cap = WINDOW_MAX;
	return cap < 2 * WINDOW_FIRST ? 2 * WINDOW_FIRST : cap;
}

/* --- window fetches (they run on media's workers) --- */

/*
 * Plaintext memory: mapped, not malloc'd, so that what is freed goes
 * back to the system at once (the budget is what the process holds,
 * with no allocator high-water mark above it), and left out of core
 * dumps.
 */
static unsigned char *
plain_alloc(size_t n)
{
	/* Populated now: one call, not a page fault per 4 KiB later. */
	void *p = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE |
	    MAP_ANONYMOUS | MAP_POPULATE, -1, 0);

	if (p == MAP_FAILED)
		return NULL;
	(void)madvise(p, n, MADV_DONTDUMP);
	return p;
}

static void
plain_free(unsigned char *p, size_t n)
{
	if (p == NULL)
		return;
	OPENSSL_cleanse(p, n);
	(void)munmap(p, n);
}

/* Make at least n bytes of w->mem; old content need not be kept. */
static int
window_room(struct reader *r, struct window *w, size_t n)
{
	unsigned char *mem;

	if (w->cap >= n)
		return 0;
	mem = plain_alloc(n);
	if (mem == NULL)
		return -1;
	plain_free(w->mem, w->cap);
	budget_charge(r, (long long)n - (long long)w->cap);
	w->mem = mem;
	w->cap = n;
	return 0;
}

/*
 * What of w readers may use: all it produced so far; but nothing of a
 * CBC window that holds the object's last block until its padding was
 * checked (window_done): the padding is what says the key and the size
 * are right, so the window is served whole or not at all.
 */
static long long
usable(const struct reader *r, const struct window *w)
{
	if (!w->raw && r->it.env.scheme == ENVELOPE_CBC &&
	    w->end >= r->size)
		return 0;
	return w->plain < w->end - w->start ? w->plain : w->end - w->start;
}

/* Decrypt whole blocks of in into w->mem; the last one becomes prev. */
static int
decrypt_blocks(struct window *w, const unsigned char *in, size_t n)
{
	size_t room = w->cap - (size_t)w->plain;

	if (n > room)
		n = room - room % CRYPTO_BLOCK;	/* the rest: unneeded */
	if (n == 0)
		return 0;
	if (crypto_cbc_decrypt(w->cbc, w->prev, in, n, w->mem + w->plain) !=
	    TFS_OK)
		return TFS_ERR_CRYPTO;
	memcpy(w->prev, in + n - CRYPTO_BLOCK, CRYPTO_BLOCK);
	w->plain += (long long)n;
	return 0;
}

/* Ciphertext arriving for w: straight from curl's buffer to plaintext. */
static int
window_data(const void *data, size_t n, void *arg)
{
	struct window *w = arg;
	struct reader *r = w->r;
	const unsigned char *p = data;
	size_t take, whole;
	int rc = 0;

	if (w->raw || r->it.env.scheme == ENVELOPE_NONE) {
		take = n < w->cap - (size_t)w->plain ? n :
		    w->cap - (size_t)w->plain;
		memcpy(w->mem + w->plain, p, take);
		w->plain += (long long)take;
		n = 0;
	}
	if (n > 0 && w->lead_left > 0) {	/* the block before: an IV */
		take = n < w->lead_left ? n : w->lead_left;
		memcpy(w->prev + CRYPTO_BLOCK - w->lead_left, p, take);
		w->lead_left -= take;
		p += take;
		n -= take;
	}
	if (n > 0 && w->ncarry > 0) {
		take = CRYPTO_BLOCK - w->ncarry < n ? CRYPTO_BLOCK -
		    w->ncarry : n;
		memcpy(w->carry + w->ncarry, p, take);
		w->ncarry += take;
		p += take;
		n -= take;
		if (w->ncarry == CRYPTO_BLOCK) {
			rc = decrypt_blocks(w, w->carry, CRYPTO_BLOCK);
			w->ncarry = 0;
		}
	}
	whole = n - n % CRYPTO_BLOCK;
	if (rc == 0 && whole > 0)
		rc = decrypt_blocks(w, p, whole);
	if (rc == 0 && n > whole) {
		memcpy(w->carry, p + whole, n - whole);
		w->ncarry = n - whole;
	}
	atomic_store(&w->progress_ms, now_ms());
	/*
	 * Readers see new bytes per FUSE read's worth, not per network
	 * chunk: the lock is taken (and waiters woken) once per WAKE_BYTES.
	 * A raw window is used whole, once done.
	 */
	if (w->raw || w->plain - w->told < WAKE_BYTES)
		return rc;
	w->told = w->plain;
	pthread_mutex_lock(&r->mu);
	w->ready = usable(r, w);
	if (r->waiting > 0)
		pthread_cond_broadcast(&r->cv);
	pthread_mutex_unlock(&r->mu);
	return rc;
}

static int
window_cancelled(void *arg)
{
	struct window *w = arg;

	return atomic_load(&w->abandon) ? TFS_ERR_INTERRUPTED : 0;
}

/* The object's last block is in w: its padding must be right. */
static int
check_padding(struct reader *r, struct window *w, struct tfs_error *err)
{
	size_t pad;

	if (crypto_cbc_pad_len(w->mem + (r->ct_size - CRYPTO_BLOCK -
	    w->start), &pad) != TFS_OK)
		return tfs_error_set(err, TFS_ERR_INTEGRITY, "%s: bad padding "
		    "in the last AES block: the object is tampered or "
		    "truncated, or the key is wrong", r->it.sid);
	if (r->ct_size - (long long)pad != r->size)
		return tfs_error_set(err, TFS_ERR_INTEGRITY, "%s: the padding "
		    "leaves %lld bytes of plaintext where the catalog says "
		    "%lld; the object or the key is wrong", r->it.sid,
		    r->ct_size - (long long)pad, r->size);
	return TFS_OK;
}

static void
window_done(struct media_fetch *f, int rc, const struct tfs_error *e)
{
	struct window *w = (struct window *)((char *)f -
	    offsetof(struct window, f));
	struct reader *r = w->r;
	struct tfs_error pe = { 0, "" };

	if (rc == TFS_OK && !w->raw && r->it.env.scheme == ENVELOPE_CBC &&
	    w->start + w->plain >= r->ct_size) {
		rc = check_padding(r, w, &pe);
		e = &pe;
		if (rc != TFS_OK)
			note_failure(r, pe.detail);
	}
	pthread_mutex_lock(&r->mu);
	if (w->state == WIN_LOADING) {	/* not abandoned meanwhile */
		w->state = rc == TFS_OK ? WIN_READY : WIN_FAILED;
		w->rc = rc;
		(void)snprintf(w->detail, sizeof(w->detail), "%s",
		    rc == TFS_OK ? "" : e->detail[0] ? e->detail :
		    tfs_strerror(rc));
		w->ready = rc == TFS_OK ? w->end - w->start : 0;
		if (rc == TFS_ERR_NETWORK || rc == TFS_ERR_EXPIRED) {
			/* Retried already: fail fast for a while. */
			r->down_until = now_s() + NET_HOLDOFF_S;
			memcpy(r->down_detail, w->detail,
			    sizeof(r->down_detail));
		}
	}
	w->busy = 0;
	pthread_cond_broadcast(&r->cv);
	pthread_mutex_unlock(&r->mu);
}

/*
 * Set w up to load [ws, we) (plaintext, or raw object bytes). Called
 * with r->mu; the caller starts w->f after unlocking.
 */
static int
window_load(struct reader *r, struct window *w, long long ws, long long we,
    int raw)
{
	long long cs, ce, b0;
	size_t lead = 0;

	/* Decryption starts at a block: so does every window. */
	if (!raw)
		ws -= ws % CRYPTO_BLOCK;
	cs = ws;
	ce = we;
	if (!raw && r->it.env.scheme == ENVELOPE_CBC) {
		b0 = ws / CRYPTO_BLOCK;
		lead = b0 > 0 ? CRYPTO_BLOCK : 0;
		cs = b0 * CRYPTO_BLOCK - (long long)lead;
		ce = we >= r->size ? r->ct_size : (we + CRYPTO_BLOCK - 1) /
		    CRYPTO_BLOCK * CRYPTO_BLOCK;
	}
	if (window_room(r, w, (size_t)(ce - cs)) != 0)
		return -1;
	w->state = WIN_LOADING;
	w->start = ws;
	w->end = we;
	w->ready = 0;
	w->told = 0;
	w->plain = 0;
	w->raw = raw;
	w->lead_left = lead;
	w->ncarry = 0;
	if (lead == 0)
		memcpy(w->prev, r->it.env.iv, CRYPTO_BLOCK);
	w->busy = 1;
	atomic_store(&w->abandon, 0);
	atomic_store(&w->progress_ms, now_ms());
	w->gen++;
	w->used = ++r->tick;
	memset(&w->f, 0, sizeof(w->f));
	w->f.it = &r->it;
	w->f.rd.start = cs;
	w->f.rd.end = ce;
	w->f.rd.on_data = window_data;
	w->f.rd.cancelled = window_cancelled;
	w->f.rd.arg = w;
	w->f.done = window_done;
	return 0;
}

/*
 * Wait, with r->mu, for w (loading generation gen) to change. Gives up
 * when the caller is interrupted, or when no byte came for read_timeout
 * seconds: then the fetch is abandoned and the read fails.
 */
static int
window_wait(struct reader *r, struct window *w, unsigned long gen,
    struct tfs_error *err)
{
	struct reader_pool *p = r->pool;
	long long ready = w->ready;
	struct timespec until;

	while (w->gen == gen && w->state == WIN_LOADING &&
	    w->ready == ready) {
		if (p->interrupted != NULL && p->interrupted())
			return tfs_error_set(err, TFS_ERR_INTERRUPTED, "%s: "
			    "read interrupted", r->it.sid);
		if (now_ms() - atomic_load(&w->progress_ms) >=
		    p->read_timeout * 1000LL) {
			atomic_store(&w->abandon, 1);
			w->state = WIN_FAILED;
			w->rc = TFS_ERR_NETWORK;
			(void)snprintf(w->detail, sizeof(w->detail), "%s: the "
			    "media store sent nothing for %d s (read_timeout)",
			    r->it.sid, p->read_timeout);
			r->down_until = now_s() + NET_HOLDOFF_S;
			memcpy(r->down_detail, w->detail,
			    sizeof(r->down_detail));
			pthread_cond_broadcast(&r->cv);
			break;
		}
		(void)clock_gettime(CLOCK_REALTIME, &until);
		until.tv_nsec += WAIT_SLICE_MS * 1000000L;
		if (until.tv_nsec >= 1000000000L) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000L;
		}
		r->waiting++;
		(void)pthread_cond_timedwait(&r->cv, &r->mu, &until);
		r->waiting--;
	}
	if (w->gen == gen && w->state == WIN_FAILED)
		return tfs_error_set(err, w->rc, "%s", w->detail);
	return TFS_OK;
}

/* With r->mu: every window is busy; wait a while for one, within the
 * read's deadline. */
static int
slot_wait(struct reader *r, double t0, struct tfs_error *err)
{
	struct timespec until;

	if (r->pool->interrupted != NULL && r->pool->interrupted())
		return tfs_error_set(err, TFS_ERR_INTERRUPTED, "%s: read "
		    "interrupted", r->it.sid);
	if (now_s() - t0 >= (double)r->pool->read_timeout)
		return tfs_error_set(err, TFS_ERR_NETWORK, "%s: every window "
		    "of this file is still being fetched after %d s "
		    "(read_timeout)", r->it.sid, r->pool->read_timeout);
	(void)clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec++;
	r->waiting++;
	(void)pthread_cond_timedwait(&r->cv, &r->mu, &until);
	r->waiting--;
	return TFS_OK;
}

/* --- choosing windows --- */

/* A loading or ready window holding pos, or NULL. With r->mu. */
static struct window *
window_at(struct reader *r, long long pos)
{
	struct window *w;
	int i;

	for (i = 0; i < r->nwin; i++) {
		w = &r->win[i];
		if ((w->state == WIN_READY || w->state == WIN_LOADING) &&
		    w->start <= pos && pos < w->end)
			return w;
	}
	return NULL;
}

/* Whether a cursor is about to read w: it lies between a little behind
 * the cursor and the end of its read-ahead. With r->mu. */
static int
window_wanted(const struct reader *r, const struct window *w)
{
	const struct cursor *k;
	int i;

	for (i = 0; i < CURSORS; i++) {
		k = &r->cur[i];
		if (k->used != 0 && w->end > k->next - SEQ_BACK &&
		    w->start < k->next + k->size * r->pool->streams)
			return 1;
	}
	return 0;
}

/*
 * How good w is as the slot for a load of want bytes: 0 not at all;
 * else by tier, then the least recently used. Memory already there
 * comes first (new memory costs the budget and a page fault per 4 KiB),
 * then what no cursor is about to read; a window a cursor is about to
 * read only for a read that cannot wait, never for read-ahead.
 */
static unsigned long long
slot_score(const struct reader *r, const struct window *w, int ahead,
    long long want)
{
	int empty = w->state == WIN_EMPTY || w->state == WIN_FAILED;
	int roomy = (long long)w->cap >= want, tier;

	if (w->busy || w->state == WIN_LOADING)
		return 0;
	if (!empty && window_wanted(r, w))
		tier = ahead ? 0 : 1;
	else
		tier = (roomy ? 4 : 2) + empty;
	return tier == 0 ? 0 : ((unsigned long long)tier << 56) +
	    (((1ULL << 56) - 1) - (w->used & ((1ULL << 56) - 1)));
}

/*
 * A slot to load want bytes into (see slot_score): not being fetched;
 * for read-ahead, never one a cursor is about to read (readers at
 * several offsets must not evict each other's windows). NULL when there
 * is none. With r->mu.
 */
static struct window *
window_slot(struct reader *r, int ahead, long long want)
{
	struct window *best = NULL;
	unsigned long long s, top = 0;
	int i;

	for (i = 0; i < r->nwin; i++) {
		s = slot_score(r, &r->win[i], ahead, want);
		if (s > top) {
			top = s;
			best = &r->win[i];
		}
	}
	return best;
}

/* Block-aligned end of a window from ws wanting want bytes, not past
 * the file nor into the next window. With r->mu. */
static long long
window_end(struct reader *r, long long ws, long long want)
{
	long long e = ws + want;
	int i;

	if (e % CRYPTO_BLOCK != 0)
		e += CRYPTO_BLOCK - e % CRYPTO_BLOCK;
	if (e > r->size)
		e = r->size;
	for (i = 0; i < r->nwin; i++)
		if ((r->win[i].state == WIN_READY ||
		    r->win[i].state == WIN_LOADING) &&
		    r->win[i].start > ws && r->win[i].start < e)
			e = r->win[i].start;
	return e;
}

/* The cursor a read of [pos, end) continues, or a new one. With r->mu. */
static struct cursor *
cursor_for(struct reader *r, long long pos, long long end)
{
	struct cursor *c = NULL, *lru = NULL, *k;
	long long ahead;
	int i;

	for (i = 0; i < CURSORS; i++) {
		k = &r->cur[i];
		ahead = k->size * r->pool->streams;
		if (k->used != 0 && pos >= k->next - SEQ_BACK &&
		    pos <= k->next + ahead) {
			c = k;
			break;
		}
		if (lru == NULL || k->used < lru->used)
			lru = k;
	}
	if (c != NULL && pos >= c->next - CRYPTO_BLOCK) {
		c->size *= 2;		/* going on: faster */
		if (c->size > WINDOW_MAX)
			c->size = WINDOW_MAX;
	} else if (c == NULL) {
		c = lru;
		c->size = WINDOW_FIRST;
		c->next = 0;
	}
	if (end > c->next)
		c->next = end;
	c->used = ++r->tick;
	return c;
}

/*
 * Windows to start ahead of cursor c: up to `streams` in flight, each
 * c->size, within the pool's budget. Returns how many went into out.
 * With r->mu.
 */
static int
plan_ahead(struct reader *r, const struct cursor *c, struct window **out)
{
	long long ahead = c->next, limit, we, size = window_cap(r);
	struct window *w;
	int n = 0, busy = 0, i;

	if (c->size < 2 * WINDOW_FIRST)
		return 0;		/* not sequential (yet) */
	if (size > c->size)
		size = c->size;
	for (i = 0; i < r->nwin; i++)
		busy += r->win[i].busy;
	limit = c->next + size * r->pool->streams;
	while (busy < r->pool->streams && ahead < r->size && ahead < limit) {
		w = window_at(r, ahead);
		if (w != NULL) {
			ahead = w->end;
			continue;
		}
		w = window_slot(r, 1, size);
		if (w == NULL || !budget_allows(r, size - (long long)w->cap))
			break;
		we = window_end(r, ahead, size);
		if (window_load(r, w, ahead, we, 0) != 0)
			break;
		out[n++] = w;
		busy++;
		ahead = we;
	}
	return n;
}

/*
 * Give back the memory of windows no cursor is about to read while r
 * holds more than its share (other readers came). With r->mu.
 */
static void
windows_trim(struct reader *r)
{
	struct window *w;
	long long share;
	int i;

	pthread_mutex_lock(&r->pool->mu);
	share = budget_share(r);
	pthread_mutex_unlock(&r->pool->mu);
	for (i = 0; i < r->nwin && r->held > share; i++) {
		w = &r->win[i];
		if (w->busy || w->mem == NULL || w->state == WIN_LOADING ||
		    (w->state == WIN_READY && window_wanted(r, w)))
			continue;
		plain_free(w->mem, w->cap);
		budget_charge(r, -(long long)w->cap);
		w->mem = NULL;
		w->cap = 0;
		w->state = WIN_EMPTY;
	}
}

static void
start_all(struct reader *r, struct window **list, int n)
{
	int i;

	for (i = 0; i < n; i++)
		media_fetch_start(r->pool->media, &list[i]->f);
}

/*
 * A window for a read that missed at pos and wants up to end, sized by
 * its cursor c (within the budget, else only what is asked), loaded but
 * not started; NULL when every window is being fetched. With r->mu.
 */
static struct window *
window_for_miss(struct reader *r, const struct cursor *c, long long pos,
    long long end, int *nomem)
{
	long long want = window_cap(r), ws;
	struct window *w;

	*nomem = 0;
	if (want > c->size)
		want = c->size;
	if (want < end - pos)
		want = end - pos;
	w = window_slot(r, 0, want);
	if (w == NULL)
		return NULL;
	if (!budget_allows(r, want - (long long)w->cap))
		want = end - pos;	/* only what is asked */
	ws = pos - pos % CRYPTO_BLOCK;
	if (window_load(r, w, ws, window_end(r, ws, want + pos - ws), 0) !=
	    0) {
		*nomem = 1;
		return NULL;
	}
	return w;
}

/*
 * Copy plaintext [off, end) into buf from the windows, loading what is
 * missing, and keep the read-ahead going. Several threads may do this at
 * once on one reader: a range one is loading is waited for by the
 * others, never fetched twice.
 */
static int
read_windows(struct reader *r, char *buf, long long off, long long end,
    struct tfs_error *err)
{
	struct window *w, *list[STREAMS_MAX + 1];
	long long pos = off, avail;
	struct cursor *c;
	double t0 = now_s();
	int rc = TFS_OK, n, nomem;
	size_t k;

	pthread_mutex_lock(&r->mu);
	windows_trim(r);
	c = cursor_for(r, off, end);
	n = plan_ahead(r, c, list);
	pthread_mutex_unlock(&r->mu);
	start_all(r, list, n);
	pthread_mutex_lock(&r->mu);
	while (pos < end && rc == TFS_OK) {
		w = window_at(r, pos);
		if (w != NULL && pos < (avail = w->start + w->ready)) {
			k = (size_t)((avail < end ? avail : end) - pos);
			memcpy(buf + (pos - off), w->mem + (pos - w->start), k);
			w->used = ++r->tick;
			pos += (long long)k;
		} else if (w != NULL) {
			rc = window_wait(r, w, w->gen, err);
		} else if (now_s() < r->down_until) {
			rc = tfs_error_set(err, TFS_ERR_NETWORK, "%s",
			    r->down_detail);
		} else if ((w = window_for_miss(r, c, pos, end, &nomem)) !=
		    NULL) {
			pthread_mutex_unlock(&r->mu);
			media_fetch_start(r->pool->media, &w->f);
			pthread_mutex_lock(&r->mu);
		} else if (nomem) {
			rc = tfs_error_set(err, TFS_ERR_NOMEM, "out of "
			    "memory");
		} else {	/* every window is being fetched */
			rc = slot_wait(r, t0, err);
		}
	}
	pthread_mutex_unlock(&r->mu);
	if (rc != TFS_OK)
		OPENSSL_cleanse(buf, (size_t)(end - off));
	return rc;
}

static void stop_fetches(struct reader *r);
static void windows_release(struct reader *r);

/* --- GCM: download in ranges, verify, keep in objcache --- */

struct gcm_fill {
	struct reader *r;
	struct crypto_gcm *gcm;
};

/*
 * Load raw windows for the next ranges from *next on, keeping `streams`
 * of them in flight or waiting to be used, within r's share of the
 * budget (one always). With r->mu; returns how many went into list
 * (start them after unlocking, also when *nomem is set).
 */
static int
gcm_plan(struct reader *r, long long *next, struct window **list,
    int *nomem)
{
	long long we;
	int n, i, held = 0;

	*nomem = 0;
	for (i = 0; i < r->nwin; i++)
		held += r->win[i].busy || r->win[i].state == WIN_READY;
	for (n = 0; *next < r->ct_size && held + n < r->pool->streams;
	    n++) {
		/* Only an empty one: a failed range must be seen failed,
		 * not loaded again. */
		for (i = 0; i < r->nwin && (r->win[i].busy ||
		    r->win[i].state != WIN_EMPTY); i++)
			;
		if (i == r->nwin || (held + n > 0 && !budget_allows(r,
		    GCM_PIECE - (long long)r->win[i].cap)))
			break;
		we = *next + GCM_PIECE < r->ct_size ? *next + GCM_PIECE :
		    r->ct_size;
		if (window_load(r, &r->win[i], *next, we, 1) != 0) {
			*nomem = 1;
			break;
		}
		list[n] = &r->win[i];
		*next = we;
	}
	return n;
}

/* The download's window that starts at `at`, or NULL. With r->mu. */
static struct window *
gcm_piece(struct reader *r, long long at)
{
	int i;

	for (i = 0; i < r->nwin; i++)
		if (r->win[i].raw && r->win[i].start == at &&
		    r->win[i].state != WIN_EMPTY)
			return &r->win[i];
	return NULL;
}

/*
 * Fetch the object into fd through `streams` raw windows at once,
 * feeding GCM in order; TFS_OK only when the tag matched.
 */
static int
gcm_fill(int fd, void *arg, struct tfs_error *err)
{
	struct gcm_fill *g = arg;
	struct reader *r = g->r;
	struct window *w, *list[STREAMS_MAX];
	long long next = 0, done = 0;
	size_t len;
	int rc = TFS_OK, n, nomem;

	pthread_mutex_lock(&r->mu);
	while (rc == TFS_OK && done < r->ct_size) {
		n = gcm_plan(r, &next, list, &nomem);
		pthread_mutex_unlock(&r->mu);
		start_all(r, list, n);
		pthread_mutex_lock(&r->mu);
		w = gcm_piece(r, done);
		if (nomem || w == NULL) {
			rc = tfs_error_set(err, TFS_ERR_NOMEM, "%s: out of "
			    "memory for the download", r->it.sid);
		} else if (w->state == WIN_LOADING) {
			rc = window_wait(r, w, w->gen, err);
		} else if (w->state == WIN_FAILED) {
			rc = tfs_error_set(err, w->rc, "%s", w->detail);
		} else {	/* ready: to disk and through GCM, in order */
			pthread_mutex_unlock(&r->mu);
			len = (size_t)(w->end - w->start);
			if (pwrite(fd, w->mem, len, (off_t)w->start) !=
			    (ssize_t)len)
				rc = tfs_error_set(err, TFS_ERR_IO, "%s: "
				    "cannot write the cache: %s", r->it.sid,
				    strerror(errno));
			else if (crypto_gcm_update(g->gcm, w->mem, len, NULL,
			    NULL) != TFS_OK)
				rc = tfs_error_set(err, TFS_ERR_CRYPTO, "%s: "
				    "AES-GCM failed", r->it.sid);
			pthread_mutex_lock(&r->mu);
			done = w->end;
			w->state = WIN_EMPTY;
		}
	}
	pthread_mutex_unlock(&r->mu);
	if (rc == TFS_OK && (rc = crypto_gcm_final(g->gcm, NULL)) != TFS_OK)
		rc = tfs_error_set(err, rc, "%s: %s", r->it.sid, rc ==
		    TFS_ERR_INTEGRITY ? "authentication tag does not match: "
		    "the object is tampered or not the one its envelope "
		    "belongs to; nothing of it is served" : tfs_strerror(rc));
	return rc;
}

/* Make r->fd the verified ciphertext: cached, or downloaded now. */
static int
gcm_open(struct reader *r, const struct crypto_cek *cek,
    struct tfs_error *err)
{
	struct gcm_fill g = { r, NULL };
	struct tfs_error e = { 0, "" };
	int rc;

	if (r->pool->oc == NULL)
		return tfs_error_set(err, TFS_ERR_CONFIG, "%s: no cache "
		    "directory to verify it in", r->it.sid);
	rc = crypto_gcm_new(&g.gcm, cek, r->it.env.iv, r->it.env.iv_len);
	if (rc != TFS_OK)
		return tfs_error_set(err, rc, "%s: cannot set up AES-GCM: %s",
		    r->it.sid, tfs_strerror(rc));
	rc = objcache_open(r->pool->oc, &r->it, r->ct_size, r->pool->offline ?
	    NULL : gcm_fill, &g, &r->fd, r->key, &e);
	crypto_gcm_free(g.gcm);
	/* Reads come from the file now: no window is needed. */
	stop_fetches(r);
	windows_release(r);
	if (rc == TFS_ERR_INTEGRITY)
		note_failure(r, e.detail);
	if (rc != TFS_OK) {
		r->key[0] = '\0';
		return err_copy(err, rc, &e);
	}
	return TFS_OK;
}

static int
read_gcm(struct reader *r, char *buf, long long off, size_t n,
    struct tfs_error *err)
{
	size_t done = 0;
	ssize_t k;
	int rc, i;

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
	for (i = 0; i < CTR_CONTEXTS; i++)
		if (pthread_mutex_trylock(&r->cmu[i]) == 0)
			break;
	if (i == CTR_CONTEXTS)
		pthread_mutex_lock(&r->cmu[i = 0]);
	rc = crypto_ctr_decrypt(r->ctr[i], (uint64_t)off,
	    (const unsigned char *)buf, n, (unsigned char *)buf);
	pthread_mutex_unlock(&r->cmu[i]);
	if (rc == TFS_OK)
		return TFS_OK;
	rc = tfs_error_set(err, rc, "%s: AES-CTR failed at %lld: %s",
	    r->it.sid, off, tfs_strerror(rc));
fail:
	OPENSSL_cleanse(buf, n);
	return rc;
}

/* Wipe and free the windows' memory (none may be busy). */
static void
windows_release(struct reader *r)
{
	long long held = 0;
	int i;

	for (i = 0; r->win != NULL && i < r->nwin; i++) {
		plain_free(r->win[i].mem, r->win[i].cap);
		held += (long long)r->win[i].cap;
		r->win[i].mem = NULL;
		r->win[i].cap = 0;
		r->win[i].state = WIN_EMPTY;
	}
	if (held > 0)
		budget_charge(r, -held);
}

/* --- open, read, close --- */

/* Exact sizes from the envelope; they must agree with each other. */
static int
reader_sizes(struct reader *r, struct tfs_error *err)
{
	const struct envelope *env = &r->it.env;
	long long ps = env->plaintext_size, ct = ps;

	/* A catalog written before sizes were checked may hold anything. */
	if (ps < 0 || ps > LLONG_MAX - 2 * CRYPTO_BLOCK)
		return tfs_error_set(err, TFS_ERR_INTEGRITY, "%s: a plaintext "
		    "size of %lld cannot be; sync again", r->it.sid, ps);
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

/* Window slots, each CBC window with a decryption context of its own
 * (windows decrypt on different workers at once). */
static int
reader_windows(struct reader *r, const struct crypto_cek *cek)
{
	int i;

	r->nwin = 2 * r->pool->streams + WINDOWS_SPARE;
	r->win = calloc((size_t)r->nwin, sizeof(*r->win));
	if (r->win == NULL)
		return TFS_ERR_NOMEM;
	for (i = 0; i < r->nwin; i++) {
		r->win[i].r = r;
		atomic_init(&r->win[i].abandon, 0);
		if (r->it.env.scheme == ENVELOPE_CBC &&
		    crypto_cbc_new(&r->win[i].cbc, cek) != TFS_OK)
			return TFS_ERR_CRYPTO;
	}
	return TFS_OK;
}

int
reader_open(struct reader_pool *pool, const struct item *it,
    struct reader **out, struct tfs_error *err)
{
	struct crypto_cek cek = { { 0 }, 0 };
	enum envelope_scheme scheme = it->env.scheme;
	struct reader *r;
	int rc, i;

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
	for (i = 0; i < CTR_CONTEXTS; i++) {
		if (pthread_mutex_init(&r->cmu[i], NULL) != 0)
			goto out;
		r->locks++;
	}
	rc = reader_sizes(r, err);
	if (rc == TFS_OK && scheme != ENVELOPE_NONE)
		rc = reader_unwrap(r, &cek, err);
	if (rc == TFS_OK && scheme != ENVELOPE_GCM && pool->offline)
		rc = tfs_error_set(err, TFS_ERR_NETWORK, "%s: offline, and "
		    "only verified voice recordings and transcripts are "
		    "kept in the cache", it->sid);
	if (rc == TFS_OK)
		rc = reader_windows(r, &cek);
	if (rc == TFS_OK && scheme == ENVELOPE_GCM) {
		rc = gcm_open(r, &cek, err);
		for (i = 0; rc == TFS_OK && i < CTR_CONTEXTS; i++)
			rc = crypto_ctr_new(&r->ctr[i], &cek, it->env.iv,
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

/* Abandon r's fetches and wait until no worker touches r. */
static void
stop_fetches(struct reader *r)
{
	int i, busy;

	if (r->win == NULL || r->locks < 2)
		return;
	pthread_mutex_lock(&r->mu);
	do {
		busy = 0;
		for (i = 0; i < r->nwin; i++) {
			if (r->win[i].busy)
				atomic_store(&r->win[i].abandon, 1);
			busy += r->win[i].busy;
		}
		if (busy)
			pthread_cond_wait(&r->cv, &r->mu);
	} while (busy);
	pthread_mutex_unlock(&r->mu);
}

void
reader_close(struct reader *r)
{
	int i;

	if (r == NULL)
		return;
	stop_fetches(r);
	windows_release(r);
	for (i = 0; r->win != NULL && i < r->nwin; i++)
		crypto_cbc_free(r->win[i].cbc);
	free(r->win);
	for (i = 0; i < CTR_CONTEXTS; i++)
		crypto_ctr_free(r->ctr[i]);
	if (r->key[0] != '\0')
		objcache_release(r->pool->oc, r->key, r->fd);
	else if (r->fd >= 0)
		close(r->fd);
	for (i = 0; i + 2 < r->locks; i++)
		pthread_mutex_destroy(&r->cmu[i]);
	if (r->locks > 1)
		pthread_cond_destroy(&r->cv);
	if (r->locks > 0)
		pthread_mutex_destroy(&r->mu);
	OPENSSL_cleanse(r, sizeof(*r));
	free(r);
}
