/* SPDX-License-Identifier: MIT */
/*
 * media.h - one item's media object: resolve its signed URL, probe its
 * envelope and exact plaintext size with a single suffix-Range request,
 * and download its ciphertext with resumption (a dropped connection or an
 * expired signed URL mid-way resumes where it stopped, after resolving a
 * fresh URL). Built on twilio + http; crypto only to read CBC padding
 * when the object does not state its plaintext length.
 */
#ifndef TWILIOFS_MEDIA_H
#define TWILIOFS_MEDIA_H

#include "twiliofs/error.h"
#include "twiliofs/http.h"
#include "twiliofs/item.h"
#include "twiliofs/keyring.h"
#include "twiliofs/twilio.h"

struct media_ctx {
	struct twilio *tw;
	struct http *http;
	const struct keyring *keys;	/* may be NULL: CBC sizes without a
					 * length header stay unknown */
	int ttl;			/* signed URL lifetime asked for */
};

/*
 * Fill it->env (from the object's x-amz-meta headers, except for voice
 * whose envelope came with the listing), it->env.plaintext_size /
 * ciphertext_size, it->etag and it->media_known, and set *parts to the
 * number of operator results when it is a transcript's part 0 (else 0).
 * Errors: TFS_ERR_NOTFOUND, TFS_ERR_AUTH, TFS_ERR_NETWORK,
 * TFS_ERR_ENVELOPE (malformed headers), TFS_ERR_TRUNCATED.
 */
int media_probe(const struct media_ctx *m, struct item *it, size_t *parts,
	struct tfs_error *err) __attribute__((warn_unused_result));

/*
 * Download the whole object of (it->kind, it->sid, it->part) into fd
 * (ciphertext, as stored), resuming after drops and re-resolving expired
 * URLs; the response's headers fill *env for kinds whose envelope travels
 * with the object (env untouched for voice). *size gets the byte count.
 */
int media_download(const struct media_ctx *m, const struct item *it, int fd,
	struct envelope *env, long long *size, struct tfs_error *err)
	__attribute__((warn_unused_result));

#endif
