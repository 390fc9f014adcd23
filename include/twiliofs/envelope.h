/* SPDX-License-Identifier: MIT */
/*
 * envelope.h - what is needed to decrypt one object, from any of the places
 * Twilio puts it, in one struct; and which scheme it implies.
 *
 * Sources: base64 CEK + IV given by hand, an HTTP response header dump
 * (curl -D / wget -S; the x-amz-meta-x-amz-* headers of video media and
 * Intelligence downloads), or an encryption_details JSON object (voice
 * recordings; every key spelling Twilio uses). No I/O: callers pass text.
 *
 * Scheme from the IV length: 16 bytes -> AES-CBC, CEK wrapped with RSA
 * PKCS#1 v1.5; 12 bytes -> AES-256-GCM, CEK wrapped with RSA-OAEP-SHA-256.
 */
#ifndef TWILIOFS_ENVELOPE_H
#define TWILIOFS_ENVELOPE_H

#include <stddef.h>

#include "twiliofs/error.h"

#define ENVELOPE_MAX_WRAPPED 1024	/* one RSA-8192 block */
#define ENVELOPE_SID_LEN 34		/* "CR" + 32 hex digits */

enum envelope_scheme {
	ENVELOPE_NONE = 0,	/* not encrypted: served as it is */
	ENVELOPE_CBC,		/* AES-CBC + PKCS#7, RSA v1.5 wrap */
	ENVELOPE_GCM		/* AES-256-GCM, RSA-OAEP-SHA-256 */
};

/* A plain value; fill it only through the functions below. */
struct envelope {
	enum envelope_scheme scheme;
	unsigned char wrapped_cek[ENVELOPE_MAX_WRAPPED];
	size_t wrapped_cek_len;
	unsigned char iv[16];
	size_t iv_len;
	char public_key_sid[ENVELOPE_SID_LEN + 1];	/* "" when unknown */
	long long plaintext_size;	/* -1 when unknown */
	long long ciphertext_size;	/* -1 when unknown (Content-Length) */
};

/* Reset env to "no envelope, sizes unknown". */
void envelope_init(struct envelope *env);

/*
 * From base64 text (standard alphabet, padding optional). Errors:
 * TFS_ERR_ENVELOPE for bad base64, an empty CEK, or an IV that is neither
 * 12 nor 16 bytes; the detail names which value was bad.
 */
int envelope_from_b64(struct envelope *env, const char *cek_b64,
	const char *iv_b64, struct tfs_error *err)
	__attribute__((warn_unused_result));

/*
 * From an HTTP response header dump of len bytes. Header names are
 * case-insensitive; CRLF or LF line ends; wget -S indentation is allowed.
 * When the dump holds several responses (a redirect, then the object), the
 * last one counts. Reads x-amz-meta-x-amz-key, -iv,
 * -unencrypted-content-length and, from a 200, Content-Length.
 * TFS_ERR_ENVELOPE if the key or IV header is missing or malformed.
 */
int envelope_from_headers(struct envelope *env, const char *text, size_t len,
	struct tfs_error *err) __attribute__((warn_unused_result));

/*
 * From JSON text: an encryption_details object, the same object encoded as
 * a JSON string (RecordingStatusCallback's EncryptionDetails), or a whole
 * Recording resource holding "encryption_details". Accepts encrypted_cek /
 * encryption_cek, iv / encryption_iv, public_key_sid /
 * encryption_public_key_sid; "type", when present, must be "rsa-aes".
 * TFS_ERR_ENVELOPE if the JSON is invalid or a value is missing/malformed,
 * including encryption_details: null (the recording is not encrypted).
 */
int envelope_from_details(struct envelope *env, const char *json,
	struct tfs_error *err) __attribute__((warn_unused_result));

/* Set the Public Key SID the CEK was wrapped for ("CR" + 32 hex). */
int envelope_set_public_key_sid(struct envelope *env, const char *sid,
	struct tfs_error *err) __attribute__((warn_unused_result));

/* Whether s is "CR" followed by 32 hex digits. */
int envelope_is_public_key_sid(const char *s);

/*
 * Strict base64 decode of the NUL-terminated src into out (capacity cap).
 * Padding optional, no whitespace inside. 0 or TFS_ERR_ENVELOPE.
 */
int envelope_b64_decode(const char *src, unsigned char *out, size_t cap,
	size_t *out_len) __attribute__((warn_unused_result));

#endif
