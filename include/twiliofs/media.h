/* SPDX-License-Identifier: MIT */
/*
 * media.h - the one owner of "bytes [a, b) of item X's media object".
 *
 * A struct media holds the connections (an http handle with its API
 * client each, borrowed for one request at a time, as many as are busy:
 * one stalled object never starves the others), the signed URL of each
 * object (resolved once, reused until near the end of its lifetime,
 * renewed when the store says it expired), one retry loop and one error
 * mapping. Every answer is checked against what was asked and what the
 * catalog knows: a 206's Content-Range start, end and total, the
 * object's ETag (or, without one, its Last-Modified date; sent as
 * If-Range, so a changed object can never be mixed with the old), and
 * its size. A length, range or validator that does not match fails the
 * request; bytes of another version are never delivered.
 *
 * Fetches may run on media's worker threads (media_fetch_start), so that
 * a reader waits with a deadline instead of sitting in a stalled socket,
 * and several ranges of one big object are in flight at once.
 *
 * Built on twilio + http; crypto only to read CBC padding when an object
 * does not state its plaintext length.
 */
#ifndef TWILIOFS_MEDIA_H
#define TWILIOFS_MEDIA_H

#include <stddef.h>

#include "twiliofs/error.h"
#include "twiliofs/http.h"
#include "twiliofs/item.h"
#include "twiliofs/keyring.h"
#include "twiliofs/twilio.h"

struct media_config {
	struct twilio_config api;	/* strings copied */
	struct http_config http;	/* cafile copied */
	const struct keyring *keys;	/* borrowed; may be NULL */
	int ttl;			/* signed URL lifetime to ask for;
					 * <= 0: the API's default (600 s) */
	int offline;			/* no request at all */
};

struct media;

/* Opens no connection and starts no thread (safe before a fork). */
int media_new(struct media **out, const struct media_config *cfg,
	struct tfs_error *err) __attribute__((warn_unused_result));
/* Once no fetch of m runs. NULL is a no-op. */
void media_free(struct media *m);

/* The API client of m's owner (listings, resources): for one thread. */
struct twilio *media_api(struct media *m);
const struct keyring *media_keys(const struct media *m);

/*
 * Fill it->env (from the object's x-amz-meta headers, except for voice
 * whose envelope came with the listing), it->env.plaintext_size /
 * ciphertext_size, it->etag (the object's validator: its ETag, or its
 * Last-Modified date when it has none) and it->media_known, and set
 * *parts to the number of operator results when it is a transcript's
 * part 0 (else 0). A stated plaintext length that the ciphertext cannot
 * hold, or that its padding contradicts, is TFS_ERR_INTEGRITY.
 * Errors: TFS_ERR_NOTFOUND, TFS_ERR_AUTH, TFS_ERR_NETWORK,
 * TFS_ERR_ENVELOPE (malformed headers), TFS_ERR_TRUNCATED, TFS_ERR_NOKEY.
 */
int media_probe(struct media *m, struct item *it, size_t *parts,
	struct tfs_error *err) __attribute__((warn_unused_result));

/*
 * Bytes [start, end) of it's object (probed: it->env.ciphertext_size
 * and it->etag are what the answers are checked against), delivered in
 * order, exactly end - start of them, to on_data. cancelled (may be
 * NULL) is polled and gives up with the code it returns.
 * Errors: TFS_ERR_NOTFOUND, TFS_ERR_EXPIRED, TFS_ERR_NETWORK,
 * TFS_ERR_CHANGED (another version of the object), TFS_ERR_PROTOCOL (a
 * range or size not the one asked for), TFS_ERR_TRUNCATED, or the code
 * of on_data (TFS_ERR_IO) or cancelled.
 */
struct media_read {
	long long start, end;
	int (*on_data)(const void *p, size_t n, void *arg);
	int (*cancelled)(void *arg);
	void *arg;			/* for both */
};

int media_read(struct media *m, const struct item *it,
	const struct media_read *rd, struct tfs_error *err)
	__attribute__((warn_unused_result));

/*
 * media_read on a worker thread: on_data and then done run there; done
 * exactly once, also when the fetch is abandoned (cancelled returns
 * non-zero) or cannot start. it and f must live until done has run.
 */
struct media_fetch {
	struct media_read rd;
	const struct item *it;
	void (*done)(struct media_fetch *f, int rc,
		const struct tfs_error *err);
	struct media_fetch *next;	/* media's queue */
};

void media_fetch_start(struct media *m, struct media_fetch *f);

/*
 * Download the whole object of (it->kind, it->sid, it->part) into fd
 * (ciphertext, as stored), resuming after drops and re-resolving expired
 * URLs; the response's headers fill *env for kinds whose envelope travels
 * with the object (env untouched for voice). *size gets the byte count.
 * For objects not probed (get): their size is what the store says.
 * progress (may be NULL) hears the bytes so far, once per MiB.
 */
int media_download(struct media *m, const struct item *it, int fd,
	struct envelope *env, long long *size,
	void (*progress)(long long got, void *arg), void *parg,
	struct tfs_error *err) __attribute__((warn_unused_result));

#endif
