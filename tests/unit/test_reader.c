/* SPDX-License-Identifier: MIT */
/*
 * test_reader.c - reader.h. Always: the checks that need no network
 * (offline refusals, missing keys, sizes that disagree, reads past the
 * end, a dead media store failing the read as a whole), with the fixtures
 * of TFS_FIXTURES when set. With TFS_ENV_SH set (a started test account,
 * its env.sh sourced into the environment; tests/integration/
 * test_reader.sh does that), every item of the account's manifest: whole
 * and random reads against the plaintext, several threads on one open
 * file, GCM tamper / no key / cache / offline / LRU, expired signed URLs
 * mid-file, and how many bytes and requests nginx served (its access log).
 * Scratch files go under TFS_WORK (or TMPDIR, or /tmp) and are removed.
 */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif

#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "twiliofs/envelope.h"
#include "twiliofs/json.h"
#include "twiliofs/keyring.h"
#include "twiliofs/media.h"
#include "twiliofs/reader.h"
#include "twiliofs/kind.h"
#include "twiliofs/twilio.h"

#include "fixtures.h"
#include "unit.h"

#define AC "AC0123456789abcdef0123456789abcdef"
#define KIB 1024
#define CHUNK (128 * KIB)	/* what the kernel asks for at a time */
#define THREADS 8
#define MAX_ITEMS 64

static char scratch[4096];

/* --- helpers --- */

static void
sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/* scratch/name, made as a fresh directory. */
static char *
scratch_dir(char *buf, size_t cap, const char *name)
{
	unit_path(buf, cap, scratch, name);
	unit_remove_tree(buf);
	if (mkdir(buf, 0700) != 0) {
		fprintf(stderr, "test_reader: cannot make %s\n", buf);
		exit(99);
	}
	return buf;
}

/* Files in dir/objects (not dot files) and their total size. */
static size_t
objects_in(const char *cache, long long *total, const char *prefix)
{
	char dir[4096], path[4096];
	struct dirent *de;
	struct stat st;
	size_t n = 0;
	DIR *d;

	*total = 0;
	d = opendir(unit_path(dir, sizeof(dir), cache, "objects"));
	if (d == NULL)
		return 0;
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.' || (prefix != NULL &&
		    strncmp(de->d_name, prefix, strlen(prefix)) != 0))
			continue;
		if (stat(unit_path(path, sizeof(path), dir, de->d_name), &st)
		    == 0 && S_ISREG(st.st_mode)) {
			n++;
			*total += (long long)st.st_size;
			CHECK((st.st_mode & 0777) == 0600, "%s: mode %o, want "
			    "0600", path, (unsigned)(st.st_mode & 0777));
		}
	}
	closedir(d);
	return n;
}

/*
 * The media each pool of a test has (pool_new makes one from it):
 * tests change it, pool_new copies it.
 */
static struct media_config tmc;
static struct {
	struct reader_pool *pool;
	struct media *media;
} pools[16];

static int
pool_new(struct reader_pool **out, struct reader_config *cfg,
    struct tfs_error *err)
{
	struct media *m = NULL;
	size_t i;
	int rc;

	*out = NULL;
	tmc.offline = cfg->offline;
	tmc.keys = cfg->keys;
	rc = media_new(&m, &tmc, err);
	if (rc != TFS_OK)
		return rc;
	cfg->media = m;
	rc = reader_pool_new(out, cfg, err);
	for (i = 0; rc == TFS_OK && i < 16 && pools[i].pool != NULL; i++)
		;
	if (rc != TFS_OK || i == 16) {
		reader_pool_free(*out);
		*out = NULL;
		media_free(m);
		return rc != TFS_OK ? rc : TFS_ERR_NOMEM;
	}
	pools[i].pool = *out;
	pools[i].media = m;
	return TFS_OK;
}

static void
pool_free(struct reader_pool *p)
{
	size_t i;

	if (p == NULL)
		return;
	for (i = 0; i < 16 && pools[i].pool != p; i++)
		;
	reader_pool_free(p);
	if (i < 16) {
		media_free(pools[i].media);
		pools[i].pool = NULL;
	}
}

static void
base_config(struct reader_config *c, const char *cache, int offline)
{
	memset(c, 0, sizeof(*c));
	memset(&tmc, 0, sizeof(tmc));
	tmc.api.account_sid = AC;
	tmc.api.username = "SKx";
	tmc.api.password = "secret";
	tmc.api.endpoint = "https://127.0.0.1:1";
	tmc.http.max_retries = 1;
	tmc.http.backoff_ms = 1;
	tmc.ttl = 600;
	c->cache_dir = cache;
	c->offline = offline;
}

/* --- without network --- */

/* An item of the fixtures' vector name, as a probe would leave it. */
static int
fixture_item(const char *fx, const char *name, struct item *it)
{
	struct fx_vector v;
	struct tfs_error err = { 0, "" };
	size_t i;
	int rc = -1;

	memset(it, 0, sizeof(*it));
	envelope_init(&it->env);
	for (i = 0; i < FX_NVEC; i++)
		if (strcmp(fx_all[i].name, name) == 0)
			break;
	if (i == FX_NVEC || fx_vector_load(fx, i, 1, &v) != 0)
		return -1;
	if (v.headers != NULL)
		rc = envelope_from_headers(&it->env, v.headers, v.headers_len,
		    &err);
	else if (v.details != NULL)
		rc = envelope_from_details(&it->env, v.details, &err);
	if (rc == TFS_OK) {
		(void)snprintf(it->sid, sizeof(it->sid), "%s%s", v.gcm ?
		    "RE" : "RT", "0123456789abcdef0123456789abcdef");
		it->kind = v.gcm ? ITEM_VOICE_RECORDING :
		    ITEM_VIDEO_RECORDING;
		it->env.plaintext_size = (long long)v.plain_len;
		it->env.ciphertext_size = (long long)v.enc_len;
		it->media_known = 1;
		(void)snprintf(it->etag, sizeof(it->etag), "\"fx\"");
	}
	fx_vector_free(&v);
	return rc == TFS_OK ? 0 : -1;
}

static void
test_offline(void)
{
	struct reader_config cfg;
	struct reader_pool *pool = NULL, *online = NULL;
	struct tfs_error err = { 0, "" };
	struct keyring *kr = NULL;
	struct reader *r = NULL;
	struct item it;
	char cache[4096], path[4096], last[ITEM_SID_LEN + 1], sid_x[40];
	char keys[4096], pass[4096], buf[64];
	const char *fx = unit_fixtures();
	struct stat st;
	size_t count = 99, got = 1;
	int rc;

	scratch_dir(cache, sizeof(cache), "offline");
	base_config(&cfg, cache, 1);
	rc = pool_new(&pool, &cfg, &err);
	if (!CHECK_RC(rc, TFS_OK, "pool: %s", err.detail))
		return;
	CHECK(stat(unit_path(path, sizeof(path), cache, "objects"), &st) ==
	    0 && S_ISDIR(st.st_mode) && (st.st_mode & 0777) == 0700,
	    "cache_dir/objects must be a 0700 directory");
	reader_pool_failures(pool, &count, last);
	CHECK(count == 0 && last[0] == '\0', "no failures yet: %zu '%s'",
	    count, last);

	/* An item whose media was not probed cannot be opened. */
	memset(&it, 0, sizeof(it));
	envelope_init(&it.env);
	(void)snprintf(it.sid, sizeof(it.sid), "CJ%s",
	    "0123456789abcdef0123456789abcdef");
	it.kind = ITEM_COMPOSITION;
	tfs_error_clear(&err);
	CHECK_RC(reader_open(pool, &it, &r, &err), TFS_ERR_USAGE,
	    "unprobed item");
	CHECK(r == NULL, "no reader on failure");
	/* Offline: an unencrypted item is never cached. */
	it.media_known = 1;
	it.env.plaintext_size = 100;
	it.env.ciphertext_size = 100;
	tfs_error_clear(&err);
	CHECK_RC(reader_open(pool, &it, &r, &err), TFS_ERR_NETWORK,
	    "offline, unencrypted");
	CHECK_DETAIL(&err, "offline refusal");
	/* Encrypted, and no keys at all. */
	it.env.scheme = ENVELOPE_GCM;
	it.env.plaintext_size = 84;
	tfs_error_clear(&err);
	CHECK_RC(reader_open(pool, &it, &r, &err), TFS_ERR_NOKEY,
	    "no keyring");
	pool_free(pool);
	pool = NULL;

	if (fx == NULL) {
		fprintf(stderr, "test_reader: TFS_FIXTURES not set: the "
		    "fixture-based offline checks do not run\n");
		return;
	}
	unit_path(keys, sizeof(keys), fx, "keys");
	unit_path(pass, sizeof(pass), fx, "passphrase");
	tfs_error_clear(&err);
	if (!CHECK_RC(keyring_load(&kr, keys, pass, &err), TFS_OK,
	    "keyring: %s", err.detail))
		return;
	cfg.keys = kr;
	if (!CHECK_RC(pool_new(&pool, &cfg, &err), TFS_OK, "pool"))
		goto out;

	/* No key of ours opens it: NOKEY naming the key's SID. */
	CHECK(fx_sid(fx, 'X', sid_x) == 0, "SID of key X");
	if (CHECK(fixture_item(fx, "cbc_stranger_X", &it) == 0, "vector")) {
		CHECK_RC(envelope_set_public_key_sid(&it.env, sid_x, NULL),
		    TFS_OK, "set the key SID");
		tfs_error_clear(&err);
		CHECK_RC(reader_open(pool, &it, &r, &err), TFS_ERR_NOKEY,
		    "CBC for a stranger's key");
		CHECK(strstr(err.detail, sid_x) != NULL, "detail names %s: "
		    "%s", sid_x, err.detail);
	}
	if (CHECK(fixture_item(fx, "gcm_stranger_X", &it) == 0, "vector")) {
		tfs_error_clear(&err);
		CHECK_RC(reader_open(pool, &it, &r, &err), TFS_ERR_NOKEY,
		    "GCM for a stranger's key");
		CHECK(strstr(err.detail, sid_x) != NULL, "detail names %s: "
		    "%s", sid_x, err.detail);
	}
	/* Offline: GCM not in the cache; CBC never. */
	if (CHECK(fixture_item(fx, "gcm_voice_A", &it) == 0, "vector")) {
		tfs_error_clear(&err);
		CHECK_RC(reader_open(pool, &it, &r, &err), TFS_ERR_NETWORK,
		    "offline, GCM not cached");
		CHECK(objects_in(cache, &(long long){ 0 }, NULL) == 0,
		    "nothing was cached");
	}
	if (CHECK(fixture_item(fx, "cbc256_A", &it) == 0, "vector")) {
		tfs_error_clear(&err);
		CHECK_RC(reader_open(pool, &it, &r, &err), TFS_ERR_NETWORK,
		    "offline, CBC");
		/* Sizes that cannot belong together. */
		it.env.ciphertext_size += 16;
		tfs_error_clear(&err);
		CHECK_RC(reader_open(pool, &it, &r, &err), TFS_ERR_INTEGRITY,
		    "ciphertext size does not fit the plaintext size");
	}

	/* Online but with a dead media store: opening CBC needs nothing. */
	cfg.offline = 0;
	cfg.cache_dir = NULL;
	if (!CHECK_RC(pool_new(&online, &cfg, &err), TFS_OK, "pool"))
		goto out;
	if (CHECK(fixture_item(fx, "gcm_voice_A", &it) == 0, "vector")) {
		tfs_error_clear(&err);
		CHECK_RC(reader_open(online, &it, &r, &err), TFS_ERR_CONFIG,
		    "GCM without a cache directory");
	}
	if (CHECK(fixture_item(fx, "cbc256_A", &it) == 0, "vector")) {
		tfs_error_clear(&err);
		rc = reader_open(online, &it, &r, &err);
		if (CHECK_RC(rc, TFS_OK, "lazy CBC open: %s", err.detail)) {
			CHECK_RC(reader_read(r, buf, 10, -1, &got, &err),
			    TFS_ERR_RANGE, "negative offset");
			got = 1;
			CHECK(reader_read(r, buf, 10, (off_t)it.env.
			    plaintext_size, &got, &err) == TFS_OK && got == 0,
			    "a read at the end is empty");
			got = 1;
			CHECK(reader_read(r, buf, 0, 0, &got, &err) ==
			    TFS_OK && got == 0, "an empty read");
			got = 1;
			tfs_error_clear(&err);
			CHECK_RC(reader_read(r, buf, sizeof(buf), 5, &got,
			    &err), TFS_ERR_NETWORK, "dead media store");
			CHECK(got == 0, "no bytes with an error: %zu", got);
			CHECK_DETAIL(&err, "network failure");
			reader_close(r);
			r = NULL;
		}
	}
out:
	pool_free(online);
	pool_free(pool);
	keyring_free(kr);
}

/* --- the test account --- */

struct entry {
	struct item it;
	char name[64];
	char expect[16];
	char pk_sid[40];
	unsigned char *plain;
	size_t plain_len;
};

static struct {
	struct entry e[MAX_ITEMS];
	size_t n;
	struct keyring *kr;
	struct reader_config cfg;	/* online, cache dir "cache" */
	char cache[4096];
	const char *log;
	const char *control;
	const char *cafile;
} acct;

/* nginx's access log from mark on: requests, body bytes, 403s. */
struct log_sum {
	size_t lines;
	long long bytes;
	size_t forbidden;
};

static long
log_mark(void)
{
	struct stat st;

	sleep_ms(150);	/* nginx writes its line after the last byte */
	return stat(acct.log, &st) == 0 ? (long)st.st_size : 0;
}

static struct log_sum
log_since(long mark)
{
	struct log_sum s = { 0, 0, 0 };
	char line[8192], *q;
	long long bytes;
	int status;
	FILE *f;

	sleep_ms(150);
	f = fopen(acct.log, "r");
	if (f == NULL || fseek(f, mark, SEEK_SET) != 0) {
		if (f != NULL)
			fclose(f);
		return s;
	}
	while (fgets(line, sizeof(line), f) != NULL) {
		/* ADDR [TIME] "REQUEST" STATUS BYTES "RANGE" ... */
		q = strchr(line, '"');
		q = q != NULL ? strchr(q + 1, '"') : NULL;
		if (q == NULL || sscanf(q + 1, "%d %lld", &status, &bytes) !=
		    2)
			continue;
		s.lines++;
		s.bytes += bytes;
		s.forbidden += status == 403;
	}
	fclose(f);
	return s;
}

static size_t
discard(char *p, size_t size, size_t n, void *arg)
{
	(void)p;
	(void)arg;
	return size * n;
}

/* POST json to $TFS_CONTROL/op. */
static int
control(const char *op, const char *json)
{
	char url[1024];
	long status = 0;
	CURL *c;
	int ok;

	(void)snprintf(url, sizeof(url), "%s/%s", acct.control, op);
	c = curl_easy_init();
	if (c == NULL)
		return 0;
	(void)curl_easy_setopt(c, CURLOPT_URL, url);
	(void)curl_easy_setopt(c, CURLOPT_CAINFO, acct.cafile);
	(void)curl_easy_setopt(c, CURLOPT_POSTFIELDS, json);
	(void)curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
	ok = curl_easy_perform(c) == CURLE_OK &&
	    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status) ==
	    CURLE_OK && status == 200;
	curl_easy_cleanup(c);
	return CHECK(ok, "control %s %s: HTTP %ld", op, json, status);
}

static struct entry *
find(const char *name, int part)
{
	size_t i;

	for (i = 0; i < acct.n; i++)
		if (strcmp(acct.e[i].name, name) == 0 &&
		    acct.e[i].it.part == part)
			return &acct.e[i];
	return NULL;
}

static int
field(const char *json, size_t i, const char *name, char *out, size_t cap)
{
	char path[64];

	(void)snprintf(path, sizeof(path), "$[%zu].%s", i, name);
	return json_value(json, path, NULL, 0, out, cap) == 1 ? 0 : -1;
}

/* The item as the catalog would hand it over: resource, then probe. */
static int
probe(struct media *m, struct entry *e)
{
	struct tfs_error err = { 0, "" };
	struct item *it = &e->it;
	enum item_kind kind;
	char url[ITEM_URL_MAX], *json = NULL;
	size_t parts;
	int rc = TFS_OK;

	it->kind = kind_of_sid(it->sid);
	envelope_init(&it->env);
	if (it->kind == ITEM_VOICE_RECORDING) {
		rc = twilio_resource_url(media_api(m), it->sid, &kind, url,
		    sizeof(url));
		if (rc == TFS_OK)
			rc = twilio_get_json(media_api(m), it->kind, url, &json,
			    &err);
		if (rc == TFS_OK)
			rc = envelope_from_details(&it->env, json, &err);
		free(json);
	}
	if (rc == TFS_OK)
		rc = media_probe(m, it, &parts, &err);
	return CHECK_RC(rc, TFS_OK, "%s part %d: probe: %s", e->name,
	    it->part, err.detail);
}

/* Read the manifest's listed items and probe each. */
static int
load_account(void)
{
	struct tfs_error err = { 0, "" };
	struct media *m = NULL;
	struct entry *e;
	char *json, val[4096];
	size_t i, len;
	int ok = 0;

	json = (char *)unit_read_file(getenv("TFS_MANIFEST"), &len);
	if (!CHECK(json != NULL, "cannot read TFS_MANIFEST"))
		return 0;
	tmc.keys = acct.kr;
	tmc.offline = 0;
	if (!CHECK_RC(media_new(&m, &tmc, &err), TFS_OK, "media: %s",
	    err.detail))
		goto out;
	for (i = 0; field(json, i, "sid", val, sizeof(val)) == 0; i++) {
		if (acct.n == MAX_ITEMS)
			break;
		e = &acct.e[acct.n];
		memset(e, 0, sizeof(*e));
		if (strlen(val) > ITEM_SID_LEN)
			continue;
		memcpy(e->it.sid, val, strlen(val) + 1);
		if (field(json, i, "expect", e->expect, sizeof(e->expect)) ||
		    field(json, i, "name", e->name, sizeof(e->name)) ||
		    field(json, i, "listed", val, sizeof(val)) ||
		    strcmp(e->expect, "hidden") == 0 ||
		    strcmp(val, "1") != 0)
			continue;
		(void)field(json, i, "part", val, sizeof(val));
		e->it.part = (int)strtol(val, NULL, 10);
		(void)field(json, i, "public_key_sid", e->pk_sid,
		    sizeof(e->pk_sid));
		if (field(json, i, "plain", val, sizeof(val)) == 0)
			e->plain = unit_read_file(val, &e->plain_len);
		if (!CHECK(e->plain != NULL, "%s: plaintext %s", e->name,
		    val) || !probe(m, e))
			continue;
		CHECK(e->it.env.plaintext_size == (long long)e->plain_len,
		    "%s: probed size %lld, plaintext %zu", e->name,
		    e->it.env.plaintext_size, e->plain_len);
		acct.n++;
	}
	ok = CHECK(acct.n >= 10, "only %zu items in the manifest", acct.n);
out:
	media_free(m);
	free(json);
	return ok;
}

/* Read [off, off+len) and compare with the plaintext. */
static int
check_read(struct reader *r, const struct entry *e, long long off,
    size_t len, const char *what)
{
	struct tfs_error err = { 0, "" };
	size_t got = 0, want;
	char *buf;
	int rc, ok;

	buf = unit_xmalloc(len);
	rc = reader_read(r, buf, len, (off_t)off, &got, &err);
	want = off >= (long long)e->plain_len ? 0 :
	    (size_t)((long long)e->plain_len - off) < len ?
	    (size_t)((long long)e->plain_len - off) : len;
	ok = CHECK_RC(rc, TFS_OK, "%s: %s at %lld+%zu: %s", e->name, what,
	    off, len, err.detail) && CHECK(got == want, "%s: %s at %lld+%zu: "
	    "got %zu bytes, want %zu", e->name, what, off, len, got, want) &&
	    CHECK(memcmp(buf, e->plain + off, got) == 0, "%s: %s at "
	    "%lld+%zu: bytes differ from the plaintext", e->name, what, off,
	    len);
	free(buf);
	return ok;
}

static int
open_ok(struct reader_pool *pool, const struct entry *e, struct reader **r)
{
	struct tfs_error err = { 0, "" };

	*r = NULL;
	return CHECK_RC(reader_open(pool, &e->it, r, &err), TFS_OK,
	    "%s part %d: open: %s", e->name, e->it.part, err.detail);
}

/* Whole file in kernel-sized pieces; then random ranges. */
static void
test_items(struct reader_pool *pool)
{
	struct reader *r;
	struct entry *e;
	long long size, off;
	size_t i, k, len, n;

	for (i = 0; i < acct.n; i++) {
		e = &acct.e[i];
		if (strcmp(e->expect, "ok") != 0 || !open_ok(pool, e, &r))
			continue;
		size = (long long)e->plain_len;
		for (off = 0; off < size; off += CHUNK)
			if (!check_read(r, e, off, CHUNK, "sequential"))
				break;
		/* The ends: the last block, its padding, straddling EOF. */
		(void)check_read(r, e, 0, 1, "first byte");
		(void)check_read(r, e, size - 1, 1, "last byte");
		(void)check_read(r, e, size - size % 16, 16, "last block");
		(void)check_read(r, e, size > 17 ? size - 17 : 0, 300000,
		    "across EOF");
		(void)check_read(r, e, size, 10, "at EOF");
		(void)check_read(r, e, size + 100, 10, "past EOF");
		(void)check_read(r, e, 0, (size_t)size + 1000, "all at once");
		n = size > 1000000 || e->it.env.scheme == ENVELOPE_GCM ? 200 :
		    60;
		for (k = 0; k < n; k++) {
			off = (long long)unit_rand_below((size_t)size + 1);
			len = 1 + unit_rand_below(300000);
			if (k % 10 == 0)	/* straddle the end */
				off = size - (long long)unit_rand_below(
				    (size_t)(size < 4096 ? size : 4096) + 1);
			if (!check_read(r, e, off, len, "random"))
				break;
		}
		reader_close(r);
	}
}

struct thread_arg {
	struct reader *r;
	const struct entry *e;
	pthread_mutex_t *mu;
	long long *next;	/* shared: the next chunk to read */
	int random;
	unsigned seed;
	int bad;
};

static void *
reader_thread(void *p)
{
	struct thread_arg *a = p;
	struct tfs_error err = { 0, "" };
	long long size = (long long)a->e->plain_len, off;
	size_t len, got, want, k;
	char *buf = unit_xmalloc(300000);

	for (k = 0; k < 40; k++) {
		if (a->random) {
			a->seed = a->seed * 1103515245u + 12345u;
			off = (long long)(a->seed % (unsigned)(size + 1));
			a->seed = a->seed * 1103515245u + 12345u;
			len = 1 + a->seed % 300000u;
		} else {
			pthread_mutex_lock(a->mu);
			off = *a->next;
			*a->next += CHUNK;
			pthread_mutex_unlock(a->mu);
			if (off >= size)
				break;
			len = CHUNK;
		}
		want = off >= size ? 0 : (size_t)(size - off) < len ?
		    (size_t)(size - off) : len;
		tfs_error_clear(&err);
		if (reader_read(a->r, buf, len, (off_t)off, &got, &err) !=
		    TFS_OK || got != want ||
		    memcmp(buf, a->e->plain + off, got) != 0) {
			fprintf(stderr, "thread read at %lld+%zu: %s\n", off,
			    len, err.detail[0] ? err.detail : "wrong bytes");
			a->bad++;
		}
	}
	free(buf);
	return NULL;
}

/* Several threads on one open file, as kernel read-ahead does. */
static void
test_threads(struct reader_pool *pool, const char *name)
{
	struct thread_arg a[THREADS];
	pthread_t t[THREADS];
	pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
	struct entry *e = find(name, 0);
	struct log_sum s;
	struct reader *r;
	long long next;
	long mark;
	int i, mode, bad;

	if (!CHECK(e != NULL, "no %s in the manifest", name))
		return;
	for (mode = 0; mode < 2; mode++) {
		if (!open_ok(pool, e, &r))
			return;
		mark = log_mark();
		next = 0;
		for (i = 0; i < THREADS; i++) {
			a[i].r = r;
			a[i].e = e;
			a[i].mu = &mu;
			a[i].next = &next;
			a[i].random = mode;
			a[i].seed = (unsigned)unit_rand();
			a[i].bad = 0;
			if (pthread_create(&t[i], NULL, reader_thread, &a[i])) {
				fprintf(stderr, "cannot start a thread\n");
				exit(99);
			}
		}
		for (bad = 0, i = 0; i < THREADS; i++) {
			pthread_join(t[i], NULL);
			bad += a[i].bad;
		}
		CHECK(bad == 0, "%s: %d of the %s reads by %d threads failed",
		    name, bad, mode ? "random" : "sequential", THREADS);
		s = log_since(mark);
		if (mode == 0 && e->it.env.scheme == ENVELOPE_CBC)
			fprintf(stderr, "test_reader: FIGURE: %s read in %d "
			    "KiB pieces by %d threads: %zu requests, %lld "
			    "bytes sent\n", name, CHUNK / KIB, THREADS,
			    s.lines, s.bytes);
		reader_close(r);
	}
}

/* What nginx sent: one 64 KiB read mid-file; a whole sequential read. */
static void
test_traffic(struct reader_pool *pool)
{
	struct entry *e = find("rt_video_A", 0);
	struct log_sum s;
	struct reader *r;
	long long off, size;
	long mark;

	if (!CHECK(e != NULL, "no rt_video_A in the manifest") ||
	    !open_ok(pool, e, &r))
		return;
	size = (long long)e->plain_len;
	mark = log_mark();
	(void)check_read(r, e, size / 2 + 7, 64 * KIB, "64 KiB mid-file");
	s = log_since(mark);
	fprintf(stderr, "test_reader: FIGURE: a 64 KiB read mid-file of "
	    "%lld bytes: %zu request(s), %lld bytes sent\n", size, s.lines,
	    s.bytes);
	CHECK(s.lines == 1 && s.bytes < 256 * KIB, "64 KiB mid-file: %zu "
	    "requests, %lld bytes (want 1, < 256 KiB)", s.lines, s.bytes);
	reader_close(r);

	if (!open_ok(pool, e, &r))
		return;
	mark = log_mark();
	for (off = 0; off < size; off += CHUNK)
		if (!check_read(r, e, off, CHUNK, "sequential"))
			break;
	s = log_since(mark);
	fprintf(stderr, "test_reader: FIGURE: sequential %d KiB reads of "
	    "%lld bytes: %zu requests, %lld bytes sent (%lld reads)\n",
	    CHUNK / KIB, size, s.lines, s.bytes, (size + CHUNK - 1) / CHUNK);
	/* Windows double from 64 KiB, and run ahead of the reads. */
	CHECK(s.lines <= 12, "sequential read: %zu requests (want <= 12)",
	    s.lines);
	CHECK(s.bytes < size + 64 * KIB, "sequential read: %lld bytes sent "
	    "for %lld", s.bytes, size);
	reader_close(r);
}

/* Bad padding, and an object that changed since it was catalogued. */
static void
test_cbc_integrity(struct reader_pool *pool)
{
	struct tfs_error err = { 0, "" };
	struct entry *e = find("rt_video_A", 0), bad;
	char buf[256], last[ITEM_SID_LEN + 1];
	size_t got = 7, before, after;
	struct reader *r;

	if (!CHECK(e != NULL, "no rt_video_A in the manifest"))
		return;
	/* One byte less: the same blocks (its last block holds 1 byte). */
	bad = *e;
	bad.it.env.plaintext_size--;
	bad.it.env.ciphertext_size = -1;
	reader_pool_failures(pool, &before, last);
	if (open_ok(pool, &bad, &r)) {
		(void)check_read(r, e, 0, 100, "before the last block");
		CHECK_RC(reader_read(r, buf, sizeof(buf),
		    (off_t)(bad.it.env.plaintext_size - 50), &got, &err),
		    TFS_ERR_INTEGRITY, "padding against a wrong size");
		CHECK(got == 0, "no bytes with an error");
		CHECK_DETAIL(&err, "padding");
		tfs_error_clear(&err);
		CHECK_RC(reader_read(r, buf, sizeof(buf),
		    (off_t)(bad.it.env.plaintext_size - 50), &got, &err),
		    TFS_ERR_INTEGRITY, "padding, again");
		reader_close(r);
	}
	reader_pool_failures(pool, &after, last);
	CHECK(after == before + 1 && strcmp(last, e->it.sid) == 0,
	    "a padding failure counts once: %zu -> %zu, last '%s'", before,
	    after, last);
	bad = *e;
	(void)snprintf(bad.it.etag, sizeof(bad.it.etag), "\"changed\"");
	if (open_ok(pool, &bad, &r)) {
		tfs_error_clear(&err);
		CHECK_RC(reader_read(r, buf, sizeof(buf), 0, &got, &err),
		    TFS_ERR_CHANGED, "ETag differs from the catalog's");
		reader_close(r);
	}
}

/* Tampered and keyless items; a second open of GCM downloads nothing. */
static void
test_gcm(struct reader_pool *pool)
{
	struct tfs_error err = { 0, "" };
	char last[ITEM_SID_LEN + 1];
	struct log_sum s;
	struct reader *r = NULL;
	struct entry *e;
	size_t i, count = 0, before;
	long long total;
	long mark;

	reader_pool_failures(pool, &before, last);
	for (i = 0; i < acct.n; i++) {
		e = &acct.e[i];
		if (strcmp(e->expect, "nokey") == 0) {
			tfs_error_clear(&err);
			CHECK_RC(reader_open(pool, &e->it, &r, &err),
			    TFS_ERR_NOKEY, "%s", e->name);
			/* Video envelopes do not name their key's SID. */
			CHECK(e->it.env.public_key_sid[0] == '\0' ||
			    strstr(err.detail, e->pk_sid) != NULL,
			    "%s: the detail names %s: %s", e->name, e->pk_sid,
			    err.detail);
		}
		if (strcmp(e->expect, "tampered") != 0)
			continue;
		tfs_error_clear(&err);
		CHECK_RC(reader_open(pool, &e->it, &r, &err),
		    TFS_ERR_INTEGRITY, "%s: open", e->name);
		CHECK(r == NULL, "no reader for a tampered object");
		reader_pool_failures(pool, &count, last);
		CHECK(count == before + 1 && strcmp(last, e->it.sid) == 0,
		    "failures: %zu -> %zu, last '%s'", before, count, last);
		CHECK(objects_in(acct.cache, &total, e->it.sid) == 0,
		    "%s: no file kept", e->name);
		mark = log_mark();
		tfs_error_clear(&err);
		CHECK_RC(reader_open(pool, &e->it, &r, &err),
		    TFS_ERR_INTEGRITY, "%s: second open", e->name);
		s = log_since(mark);
		CHECK(s.lines == 0, "%s: a known-bad object fetched again",
		    e->name);
	}
	e = find("re_A_docsget", 0);
	if (!CHECK(e != NULL, "no re_A_docsget") || !open_ok(pool, e, &r))
		return;
	reader_close(r);
	mark = log_mark();
	if (open_ok(pool, e, &r)) {
		(void)check_read(r, e, 0, e->plain_len, "cached");
		reader_close(r);
	}
	s = log_since(mark);
	CHECK(s.lines == 0, "a second open of a GCM item made %zu media "
	    "requests", s.lines);
}

struct open_arg {
	struct reader_pool *pool;
	const struct entry *e;
	int rc;
};

static void *
open_thread(void *p)
{
	struct open_arg *a = p;
	struct reader *r = NULL;

	a->rc = reader_open(a->pool, &a->e->it, &r, NULL);
	reader_close(r);
	return NULL;
}

/* Concurrent first opens of one GCM item download it once. */
static void
test_gcm_concurrent(void)
{
	struct reader_config cfg = acct.cfg;
	struct tfs_error err = { 0, "" };
	struct reader_pool *pool = NULL;
	struct open_arg a[4];
	pthread_t t[4];
	struct entry *e = find("re_D_oai", 0);
	struct log_sum s;
	char cache[4096];
	long mark;
	int i;

	if (!CHECK(e != NULL, "no re_D_oai"))
		return;
	cfg.cache_dir = scratch_dir(cache, sizeof(cache), "concurrent");
	if (!CHECK_RC(pool_new(&pool, &cfg, &err), TFS_OK, "pool"))
		return;
	mark = log_mark();
	for (i = 0; i < 4; i++) {
		a[i].pool = pool;
		a[i].e = e;
		a[i].rc = -99;
		if (pthread_create(&t[i], NULL, open_thread, &a[i]) != 0)
			exit(99);
	}
	for (i = 0; i < 4; i++) {
		pthread_join(t[i], NULL);
		CHECK_RC(a[i].rc, TFS_OK, "concurrent open %d", i);
	}
	s = log_since(mark);
	CHECK(s.lines == 1, "4 concurrent opens: %zu downloads", s.lines);
	pool_free(pool);
}

/* Signed URLs that expire between reads, or are expired when issued. */
/*
 * Signed URLs that expire between reads, or are expired when issued.
 * Each part has a pool of its own: signed URLs are kept per media.
 */
static void
test_expiry(void)
{
	struct reader_config cfg = acct.cfg;
	struct tfs_error err = { 0, "" };
	struct reader_pool *p1 = NULL, *p2 = NULL, *p3 = NULL;
	struct entry *e = find("rt_video_A", 0), *g = find("re_C_docstable_"
	    "stereo", 0);
	struct log_sum s;
	struct reader *r;
	char cache[4096];
	long mark;

	if (!CHECK(e != NULL && g != NULL, "items for the expiry test"))
		return;
	if (!CHECK_RC(pool_new(&p1, &cfg, &err), TFS_OK, "pool") ||
	    !control("ttl", "{\"max\":1}") || !open_ok(p1, e, &r))
		goto out;
	mark = log_mark();
	(void)check_read(r, e, 0, 64 * KIB, "before expiry");
	sleep_ms(2000);
	(void)check_read(r, e, 1000000, 200 * KIB, "after expiry");
	sleep_ms(2000);
	(void)check_read(r, e, (long long)e->plain_len - 5000, 100 * KIB,
	    "after expiry, at the end");
	s = log_since(mark);
	CHECK(s.forbidden >= 1, "the link expired mid-file (%zu 403s)",
	    s.forbidden);
	reader_close(r);
	/* The next link is expired when issued ("max" goes back to none). */
	if (!control("ttl", "{\"expired_next\":1}") ||
	    !CHECK_RC(pool_new(&p2, &cfg, &err), TFS_OK, "pool") ||
	    !open_ok(p2, e, &r))
		goto out;
	mark = log_mark();
	(void)check_read(r, e, 500000, 100 * KIB, "link expired at issue");
	s = log_since(mark);
	CHECK(s.forbidden == 1, "expired link refused once (%zu 403s)",
	    s.forbidden);
	reader_close(r);
	/* A GCM download that starts with an expired link. */
	cfg.cache_dir = scratch_dir(cache, sizeof(cache), "expiry");
	if (!CHECK_RC(pool_new(&p3, &cfg, &err), TFS_OK, "pool") ||
	    !control("ttl", "{\"expired_next\":1}"))
		goto out;
	if (open_ok(p3, g, &r)) {
		(void)check_read(r, g, 0, g->plain_len, "GCM after a 403");
		reader_close(r);
	}
out:
	(void)control("ttl", "{\"max\":null}");
	pool_free(p3);
	pool_free(p2);
	pool_free(p1);
}

static double
mono(void)
{
	struct timespec ts;

	(void)clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/*
 * The API down when a link must be renewed: the read fails as a whole,
 * the next one at once (not after the retries again), and reads work
 * again once the API is back.
 */
static void
test_down(void)
{
	struct reader_config cfg = acct.cfg;
	struct tfs_error err = { 0, "" };
	struct reader_pool *pool = NULL;
	struct entry *e = find("rt_video_A", 0);
	struct reader *r = NULL;
	struct media_config saved;
	char buf[4096];
	size_t got = 1;
	double t0, t1;
	int rc;

	if (!CHECK(e != NULL, "no rt_video_A"))
		return;
	saved = tmc;
	tmc.http.max_retries = 2;
	tmc.http.backoff_ms = 50;
	rc = pool_new(&pool, &cfg, &err);
	tmc = saved;
	if (!CHECK_RC(rc, TFS_OK, "pool") ||
	    !control("ttl", "{\"max\":1}") || !open_ok(pool, e, &r))
		goto out;
	(void)check_read(r, e, 0, 64 * KIB, "before the API fails");
	sleep_ms(2000);
	if (!control("fault", "{\"status\":500,\"count\":400,"
	    "\"class\":\"media\"}"))
		goto out;
	CHECK_RC(reader_read(r, buf, sizeof(buf), 1000000, &got, &err),
	    TFS_ERR_NETWORK, "API down, link expired");
	CHECK(got == 0, "no bytes with an error");
	CHECK_DETAIL(&err, "API down");
	t0 = mono();
	tfs_error_clear(&err);
	CHECK_RC(reader_read(r, buf, sizeof(buf), 1500000, &got, &err),
	    TFS_ERR_NETWORK, "API still down");
	t1 = mono();
	CHECK(t1 - t0 < 0.5, "the second failure took %.2f s", t1 - t0);
	(void)check_read(r, e, 100, 1000, "from a window, while down");
	if (!control("fault", "{\"clear\":true}"))
		goto out;
	sleep_ms(5500);
	(void)check_read(r, e, 1500000, 64 * KIB, "the API is back");
out:
	(void)control("fault", "{\"clear\":true}");
	(void)control("ttl", "{\"max\":null}");
	reader_close(r);
	pool_free(pool);
}

/* Offline: the cache of the first pool serves GCM, nothing else. */
static void
test_offline_account(void)
{
	struct reader_config cfg = acct.cfg;
	struct tfs_error err = { 0, "" };
	struct reader_pool *pool = NULL, *empty = NULL;
	struct entry *g = find("re_A_docsget", 0), *c = find("rt_video_A", 0);
	struct log_sum s;
	struct reader *r = NULL;
	char cache[4096];
	long mark;

	if (!CHECK(g != NULL && c != NULL, "items for the offline test"))
		return;
	cfg.offline = 1;
	if (!CHECK_RC(pool_new(&pool, &cfg, &err), TFS_OK, "pool"))
		return;
	mark = log_mark();
	if (open_ok(pool, g, &r)) {
		(void)check_read(r, g, 0, g->plain_len, "offline GCM");
		reader_close(r);
	}
	tfs_error_clear(&err);
	CHECK_RC(reader_open(pool, &c->it, &r, &err), TFS_ERR_NETWORK,
	    "offline CBC");
	s = log_since(mark);
	CHECK(s.lines == 0, "offline made %zu media requests", s.lines);
	cfg.cache_dir = scratch_dir(cache, sizeof(cache), "offline-empty");
	if (CHECK_RC(pool_new(&empty, &cfg, &err), TFS_OK, "pool")) {
		tfs_error_clear(&err);
		CHECK_RC(reader_open(empty, &g->it, &r, &err),
		    TFS_ERR_NETWORK, "offline GCM, not cached");
	}
	pool_free(empty);
	pool_free(pool);
}

/* cache_size: the least recently used files go, open ones stay. */
static void
test_lru(void)
{
	static const char *names[] = { "re_A_docsget", "re_C_docstable_stereo",
	    "re_D_oai" };
	struct reader_config cfg = acct.cfg;
	struct tfs_error err = { 0, "" };
	struct reader_pool *pool = NULL;
	struct reader *r, *held;
	struct entry *e[3];
	char cache[4096];
	long long total;
	size_t i, n;

	for (i = 0; i < 3; i++)
		if (!CHECK((e[i] = find(names[i], 0)) != NULL, "no %s",
		    names[i]))
			return;
	cfg.cache_dir = scratch_dir(cache, sizeof(cache), "lru");
	cfg.cache_size = 150000;
	if (!CHECK_RC(pool_new(&pool, &cfg, &err), TFS_OK, "pool"))
		return;
	for (i = 0; i < 3; i++) {
		if (!open_ok(pool, e[i], &r))
			goto out;
		(void)check_read(r, e[i], 0, 1000, "LRU");
		reader_close(r);
		sleep_ms(20);
	}
	n = objects_in(cache, &total, NULL);
	CHECK(total <= 150000 && n >= 1, "cache holds %zu files, %lld bytes "
	    "(cap 150000)", n, total);
	CHECK(objects_in(cache, &total, e[2]->it.sid) == 1,
	    "the most recent file stays");
	CHECK(objects_in(cache, &total, e[0]->it.sid) == 0,
	    "the least recent file went");
	pool_free(pool);
	pool = NULL;

	/*
	 * A cap that holds e[0] alone: e[0], open from the cache, stays
	 * while e[1] comes and goes (a download is named when its last
	 * reader closes, then trimmed like any other file).
	 */
	cfg.cache_dir = scratch_dir(cache, sizeof(cache), "lru-small");
	cfg.cache_size = e[0]->it.env.ciphertext_size + 1;
	if (!CHECK_RC(pool_new(&pool, &cfg, &err), TFS_OK, "pool"))
		return;
	if (!open_ok(pool, e[0], &r))
		goto out;
	reader_close(r);
	CHECK(objects_in(cache, &total, e[0]->it.sid) == 1, "a download "
	    "that fits is named at close");
	if (open_ok(pool, e[0], &held)) {
		if (open_ok(pool, e[1], &r)) {
			reader_close(r);
			CHECK(objects_in(cache, &total, e[0]->it.sid) == 1,
			    "an open file is not evicted");
			CHECK(objects_in(cache, &total, e[1]->it.sid) == 0,
			    "a closed file over the cap is evicted");
		}
		(void)check_read(held, e[0], 0, e[0]->plain_len, "held");
		reader_close(held);
		CHECK(objects_in(cache, &total, NULL) == 1 && total <=
		    cfg.cache_size, "within the cap once closed (%lld "
		    "bytes)", total);
	}
out:
	pool_free(pool);
}

static void
test_account(void)
{
	struct tfs_error err = { 0, "" };
	struct reader_pool *pool = NULL;
	const char *v[] = { "TWILIOFS_ENDPOINT", "TWILIOFS_CAFILE",
	    "TWILIO_ACCOUNT_SID", "TWILIO_API_KEY", "TWILIO_API_SECRET",
	    "TWILIOFS_KEYS", "TWILIOFS_KEY_PASSPHRASE_FILE", "TFS_MANIFEST",
	    "TFS_NGINX_ACCESS_LOG", "TFS_CONTROL" };
	size_t i;

	for (i = 0; i < sizeof(v) / sizeof(v[0]); i++)
		if (!CHECK(getenv(v[i]) != NULL, "%s is not set: source "
		    "TFS_ENV_SH first", v[i]))
			return;
	curl_global_init(CURL_GLOBAL_DEFAULT);
	acct.log = getenv("TFS_NGINX_ACCESS_LOG");
	acct.control = getenv("TFS_CONTROL");
	acct.cafile = getenv("TWILIOFS_CAFILE");
	if (!CHECK_RC(keyring_load(&acct.kr, getenv("TWILIOFS_KEYS"),
	    getenv("TWILIOFS_KEY_PASSPHRASE_FILE"), &err), TFS_OK,
	    "keyring: %s", err.detail))
		return;
	memset(&acct.cfg, 0, sizeof(acct.cfg));
	memset(&tmc, 0, sizeof(tmc));
	tmc.api.account_sid = getenv("TWILIO_ACCOUNT_SID");
	tmc.api.username = getenv("TWILIO_API_KEY");
	tmc.api.password = getenv("TWILIO_API_SECRET");
	tmc.api.endpoint = getenv("TWILIOFS_ENDPOINT");
	tmc.http.cafile = acct.cafile;
	tmc.ttl = 600;
	acct.cfg.keys = acct.kr;
	acct.cfg.cache_dir = scratch_dir(acct.cache, sizeof(acct.cache),
	    "cache");
	acct.cfg.cache_size = 64LL * 1024 * 1024;
	(void)control("reset", "{}");
	if (!load_account())
		goto out;
	if (!CHECK_RC(pool_new(&pool, &acct.cfg, &err), TFS_OK,
	    "pool: %s", err.detail))
		goto out;
	test_items(pool);
	test_threads(pool, "rt_video_A");
	test_threads(pool, "re_C_docstable_stereo");
	test_traffic(pool);
	test_cbc_integrity(pool);
	test_gcm(pool);
	test_gcm_concurrent();
	test_expiry();
	test_down();
	test_offline_account();
	test_lru();
out:
	pool_free(pool);
	for (i = 0; i < acct.n; i++)
		free(acct.e[i].plain);
	keyring_free(acct.kr);
	curl_global_cleanup();
}

int
main(void)
{
	const char *base, *env = getenv("TFS_ENV_SH");

	unit_begin("test_reader");
	base = getenv("TFS_WORK");
	if (base == NULL || *base == '\0')
		base = getenv("TMPDIR");
	if (base == NULL || *base == '\0')
		base = "/tmp";
	unit_path(scratch, sizeof(scratch), base, "test_reader.XXXXXX");
	if (mkdtemp(scratch) == NULL) {
		fprintf(stderr, "test_reader: cannot make %s\n", scratch);
		return 99;
	}
	test_offline();
	if (env != NULL && *env != '\0')
		test_account();
	else
		fprintf(stderr, "test_reader: TFS_ENV_SH not set: the test "
		    "account part runs from tests/integration/"
		    "test_reader.sh\n");
	unit_remove_tree(scratch);
	return unit_done();
}
