/* SPDX-License-Identifier: MIT */
/* media.c - resolve, probe and download one item's media object. */
#define _GNU_SOURCE	/* strcasestr */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "twiliofs/crypto.h"
#include "twiliofs/io.h"
#include "twiliofs/log.h"
#include "twiliofs/kind.h"
#include "twiliofs/media.h"

/* How often an expired signed URL is resolved afresh before giving up. */
#define RESOLVE_MAX 5

/* Resolve the signed URL of it's media into url. */
static int
resolve(const struct media_ctx *m, const struct item *it, char *url,
    size_t cap, size_t *count, struct tfs_error *err)
{
	char api[ITEM_URL_MAX];

	if (twilio_media_api_url(m->tw, it->kind, it->sid, it->part, api,
	    sizeof(api)) != TFS_OK)
		return tfs_error_set(err, TFS_ERR_RANGE, "%s: no media URL",
		    it->sid);
	return twilio_resolve_media(m->tw, it->kind, api, it->part, m->ttl,
	    url, cap, count, err);
}

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
 * CBC without a length header: the padding of the last block says it.
 * tail holds the object's last min(32, size) bytes.
 */
static long long
cbc_plain_size(const struct media_ctx *m, const struct item *it,
    const struct envelope *env, const unsigned char *tail, long long size)
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
		return -1;
	}
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
operator_results(const struct media_ctx *m, const struct item *it,
    size_t *count, struct tfs_error *err)
{
	struct item op = *it;
	struct tfs_error e = { 0, "" };
	char url[ITEM_URL_MAX];
	int rc;

	op.part = 1;
	*count = 0;
	rc = resolve(m, &op, url, sizeof(url), count, &e);
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

/* Set the sizes of it from the probe's answer. */
static int
probe_sizes(const struct media_ctx *m, struct item *it,
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
		env->plaintext_size = size - CRYPTO_GCM_TAG;
		break;
	case ENVELOPE_CBC:
		if (env->plaintext_size < 0 && tail->n == (size_t)(size <
		    (long long)sizeof(tail->b) ? size : (long long)sizeof(
		    tail->b)))
			env->plaintext_size = cbc_plain_size(m, it, env,
			    tail->b, size);
		/* Retried at the next sync: a key may come. */
		if (env->plaintext_size < 0)
			return tfs_error_set(err, TFS_ERR_NOKEY, "%s: no "
			    "length header, and no key of ours opens its "
			    "content key: its size stays unknown until one "
			    "does", it->sid);
		break;
	}
	return TFS_OK;
}

int
media_probe(const struct media_ctx *m, struct item *it, size_t *parts,
    struct tfs_error *err)
{
	struct http_response resp = { 0 };
	struct http_request req;
	struct tail tail;
	char url[ITEM_URL_MAX];
	int rc, tries;

	*parts = 0;
	for (tries = 0; tries < RESOLVE_MAX; tries++) {
		http_response_free(&resp);
		rc = resolve(m, it, url, sizeof(url), NULL, err);
		if (rc != TFS_OK)
			return rc;
		http_request_init(&req, url);
		/* Voice media served by the API itself needs them. */
		twilio_authorize(m->tw, &req);
		req.range_suffix = 2 * CRYPTO_BLOCK; /* IV + last */
		memset(&tail, 0, sizeof(tail));
		req.on_data = keep_tail;
		req.arg = &tail;
		rc = http_perform(m->http, &req, &resp, err);
		if (rc != TFS_OK)
			goto out;
		if (resp.status != 403)	/* 403: the link expired */
			break;
	}
	if (resp.status != 200 && resp.status != 206 && resp.status != 416) {
		rc = tfs_error_set(err, resp.status == 404 ? TFS_ERR_NOTFOUND :
		    TFS_ERR_NETWORK, "%s: the media store answered HTTP %ld",
		    it->sid, resp.status);
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
	(void)snprintf(it->etag, sizeof(it->etag), "%s", resp.etag);
	it->media_known = 1;
	if (kind_info(it->kind)->part_media_path != NULL &&
	    it->part == ITEM_PART_MAIN)
		rc = operator_results(m, it, parts, err);
out:
	http_response_free(&resp);
	return rc;
}

struct sink_fd {
	int fd;
	long long written;
};

static int
write_fd(const void *p, size_t n, void *arg)
{
	struct sink_fd *s = arg;

	if (io_write_all(s->fd, p, n) != 0)
		return -1;
	s->written += (long long)n;
	return 0;
}

int
media_download(const struct media_ctx *m, const struct item *it, int fd,
    struct envelope *env, long long *size, struct tfs_error *err)
{
	struct http_response resp = { 0 };
	struct sink_fd sink = { fd, 0 };
	struct http_request req;
	char url[ITEM_URL_MAX];
	int rc = TFS_OK, tries, have_env = 0;

	*size = 0;
	for (tries = 0; tries < RESOLVE_MAX; tries++) {
		http_response_free(&resp);
		rc = resolve(m, it, url, sizeof(url), NULL, err);
		if (rc != TFS_OK)
			return rc;
		http_request_init(&req, url);
		/* Voice media served by the API itself needs them. */
		twilio_authorize(m->tw, &req);
		/* After an expired link, go on from where we stopped. */
		if (sink.written > 0)
			req.range_start = sink.written;
		req.on_data = write_fd;
		req.arg = &sink;
		rc = http_perform(m->http, &req, &resp, err);
		if (rc != TFS_OK)
			goto out;
		if (resp.status == 403) {
			log_msg(TFS_LOG_INFO, "%s: signed URL expired after "
			    "%lld bytes; resolving a new one", it->sid,
			    sink.written);
			continue;
		}
		if (resp.status != 200 && resp.status != 206)
			break;
		if (!have_env) {
			rc = envelope_of(it, &resp, env, err);
			if (rc != TFS_OK)
				goto out;
			have_env = 1;
		}
		if (resp.total_size < 0 || sink.written >= resp.total_size)
			break;
	}
	if (resp.status != 200 && resp.status != 206) {
		rc = tfs_error_set(err, resp.status == 404 ? TFS_ERR_NOTFOUND :
		    TFS_ERR_NETWORK, "%s: the media store answered HTTP %ld%s",
		    it->sid, resp.status, resp.status == 403 ? " (the signed "
		    "URL keeps expiring; raise --ttl)" : "");
		goto out;
	}
	if (resp.total_size >= 0 && sink.written != resp.total_size) {
		rc = tfs_error_set(err, TFS_ERR_NETWORK, "%s: got %lld of %lld "
		    "bytes", it->sid, sink.written, resp.total_size);
		goto out;
	}
	*size = sink.written;
out:
	http_response_free(&resp);
	return rc;
}
