/* SPDX-License-Identifier: MIT */
/*
 * crypto.h - RSA unwrap of content keys, AES-CBC random-access decryption,
 * AES-256-GCM streaming verification and CTR range decryption of verified
 * ciphertext. OpenSSL 3 EVP only. No I/O.
 *
 * Contexts are not shared between threads: each caller owns its own.
 * Every function wipes the key material it copied before returning or in
 * its _free; struct crypto_cek must be wiped by its owner with
 * crypto_cek_wipe().
 */
#ifndef TWILIOFS_CRYPTO_H
#define TWILIOFS_CRYPTO_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/types.h>

#include "twiliofs/envelope.h"
#include "twiliofs/error.h"

#define CRYPTO_BLOCK 16
#define CRYPTO_GCM_TAG 16
#define CRYPTO_GCM_IV 12

/* An unwrapped content-encryption key: 16 or 32 bytes. Secret. */
struct crypto_cek {
	unsigned char bytes[32];
	size_t len;
};

/* Wipe cek (OPENSSL_cleanse). Safe on NULL. */
void crypto_cek_wipe(struct crypto_cek *cek);

/*
 * Turn OpenSSL's implicit rejection off on a PKCS#1 v1.5 decrypt context,
 * deciding by the libcrypto running (3.2 and later have it), not by the
 * headers built against. 1 when a bad padding will be an error, else 0.
 */
int crypto_rsa_explicit_rejection(EVP_PKEY_CTX *ctx);

/*
 * Unwrap a CEK with one RSA private key: PKCS#1 v1.5 for ENVELOPE_CBC (with
 * crypto_rsa_explicit_rejection, so a wrong key fails instead of yielding
 * a random key), OAEP SHA-256 / MGF1-SHA-256 /
 * no label for ENVELOPE_GCM. Only 16- or 32-byte results are accepted for
 * CBC, only 32 for GCM. TFS_ERR_NOKEY if this key does not open it.
 */
int crypto_rsa_unwrap(EVP_PKEY *key, enum envelope_scheme scheme,
	const unsigned char *wrapped, size_t wrapped_len,
	struct crypto_cek *out) __attribute__((warn_unused_result));

/* Cipher name as xattrs show it: "aes-256-cbc", "aes-128-cbc",
 * "aes-256-gcm" or "none". */
const char *crypto_cipher_name(enum envelope_scheme scheme, size_t cek_len);

/* --- AES-CBC --- */

struct crypto_cbc;

/* A CBC decryption context holding the key schedule for cek. */
int crypto_cbc_new(struct crypto_cbc **out, const struct crypto_cek *cek)
	__attribute__((warn_unused_result));

/*
 * Decrypt len bytes (a multiple of 16) of ciphertext in, whose preceding
 * ciphertext block is prev (the IV for the first block), into out (len
 * bytes; may equal in). No padding handling: see crypto_cbc_pad_len().
 */
int crypto_cbc_decrypt(struct crypto_cbc *cbc,
	const unsigned char prev[CRYPTO_BLOCK], const unsigned char *in,
	size_t len, unsigned char *out) __attribute__((warn_unused_result));

/*
 * Check the PKCS#7 padding of the decrypted last block: 1..16 bytes, all
 * equal to their count. *pad_len gets the count. TFS_ERR_INTEGRITY if bad.
 */
int crypto_cbc_pad_len(const unsigned char last[CRYPTO_BLOCK],
	size_t *pad_len) __attribute__((warn_unused_result));

void crypto_cbc_free(struct crypto_cbc *cbc);

/* --- AES-256-GCM --- */

struct crypto_gcm;

/* A streaming GCM verifier/decrypter for one object (12-byte IV). */
int crypto_gcm_new(struct crypto_gcm **out, const struct crypto_cek *cek,
	const unsigned char *iv, size_t iv_len)
	__attribute__((warn_unused_result));

/*
 * Feed the next len bytes of the object as downloaded (ciphertext then the
 * 16-byte tag); the last 16 bytes seen are held back as the candidate tag.
 * If out is not NULL it receives *out_len decrypted bytes (at most len + 16
 * in capacity) that are NOT YET VERIFIED: never expose them before
 * crypto_gcm_final() succeeds. With out NULL only the tag is computed.
 */
int crypto_gcm_update(struct crypto_gcm *gcm, const unsigned char *in,
	size_t len, unsigned char *out, size_t *out_len)
	__attribute__((warn_unused_result));

/*
 * Verify the tag. 0 when it matches (*plaintext_len, if not NULL, gets the
 * total plaintext length); TFS_ERR_TRUNCATED if fewer than 16 bytes were
 * fed; TFS_ERR_INTEGRITY if the tag does not match.
 */
int crypto_gcm_final(struct crypto_gcm *gcm, uint64_t *plaintext_len)
	__attribute__((warn_unused_result));

void crypto_gcm_free(struct crypto_gcm *gcm);

struct crypto_ctr;

/* Range decrypter for an object whose tag has already been verified. */
int crypto_ctr_new(struct crypto_ctr **out, const struct crypto_cek *cek,
	const unsigned char *iv, size_t iv_len)
	__attribute__((warn_unused_result));

/*
 * Decrypt plaintext bytes [offset, offset + len) from the ciphertext bytes
 * at the same offsets (in), with AES-CTR starting at counter J0 + 1 +
 * offset / 16: byte for byte what full GCM decryption gives. TFS_ERR_RANGE
 * past GCM's 2^32 - 2 block limit.
 */
int crypto_ctr_decrypt(struct crypto_ctr *ctr, uint64_t offset,
	const unsigned char *in, size_t len, unsigned char *out)
	__attribute__((warn_unused_result));

void crypto_ctr_free(struct crypto_ctr *ctr);

#endif
