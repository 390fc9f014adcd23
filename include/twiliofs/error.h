/* SPDX-License-Identifier: MIT */
/*
 * error.h - project error codes and a one-line error detail buffer.
 *
 * Fallible functions return 0 or one of the negative TFS_ERR_* codes and,
 * when given a non-NULL struct tfs_error, describe the failure in one line
 * that names what failed and what to do ("INPUT: authentication tag does
 * not match; the file is tampered, truncated or ..."). The caller prints it
 * once, prefixed "twiliofs: ". Only cli maps codes to exit statuses and only
 * fs maps them to errno.
 */
#ifndef TWILIOFS_ERROR_H
#define TWILIOFS_ERROR_H

enum tfs_err {
	TFS_OK = 0,
	TFS_ERR_NOMEM = -1,	/* allocation failed */
	TFS_ERR_USAGE = -2,	/* bad arguments */
	TFS_ERR_IO = -3,	/* a local file could not be read or written */
	TFS_ERR_CONFIG = -4,	/* keys, passphrase, permissions, options */
	TFS_ERR_ENVELOPE = -5,	/* envelope missing or malformed */
	TFS_ERR_NOKEY = -6,	/* no private key opens the wrapped CEK */
	TFS_ERR_INTEGRITY = -7,	/* GCM tag, CBC padding, length */
	TFS_ERR_TRUNCATED = -8,	/* ciphertext cut short */
	TFS_ERR_CRYPTO = -9,	/* OpenSSL failed unexpectedly */
	TFS_ERR_RANGE = -10,	/* offset or length outside what is valid */
	TFS_ERR_NETWORK = -11,	/* network/server, after retries */
	TFS_ERR_AUTH = -12,	/* the API refused our credentials (401) */
	TFS_ERR_NOTFOUND = -13,	/* the API has no such resource (404) */
	TFS_ERR_EXPIRED = -14,	/* a signed media URL expired (403) */
	TFS_ERR_FORBIDDEN = -15,	/* the API key may not read it (403) */
	TFS_ERR_PROTOCOL = -16,	/* an API answer we must not trust */
	TFS_ERR_CHANGED = -17,	/* the object changed upstream (ETag) */
	TFS_ERR_INTERRUPTED = -18	/* the caller gave up (a signal) */
};

#define TFS_ERROR_DETAIL 320

/* Do not touch members directly; use tfs_error_set(). */
struct tfs_error {
	int code;
	char detail[TFS_ERROR_DETAIL];
};

/*
 * Record code and a printf-style one-line detail in err (if err is not
 * NULL; a detail already set is kept, so the innermost, most specific
 * message wins). Newlines in the detail are replaced by spaces. Returns
 * code, so it can be used as "return tfs_error_set(err, TFS_ERR_IO, ...)".
 */
int tfs_error_set(struct tfs_error *err, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Clear err for reuse. */
void tfs_error_clear(struct tfs_error *err);

/* A short generic description of code, for when there is no detail. */
const char *tfs_strerror(int code);

#endif
