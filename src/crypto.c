/* SPDX-License-Identifier: MIT */
/* crypto.c - RSA unwrap, AES-CBC ranges, AES-GCM verification, CTR ranges. */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/rsa.h>

#include "twiliofs/crypto.h"

/* EVP takes int lengths: feed it at most this much at a time. */
#define EVP_SLICE (1 << 30)
/* Scratch for verify-only GCM updates, whose plaintext is thrown away. */
#define GCM_SCRATCH (64 * 1024)

void
crypto_cek_wipe(struct crypto_cek *cek)
{
	if (cek != NULL)
		OPENSSL_cleanse(cek, sizeof(*cek));
}

const char *
crypto_cipher_name(enum envelope_scheme scheme, size_t cek_len)
{
	switch (scheme) {
	case ENVELOPE_CBC:
		return cek_len == 16 ? "aes-128-cbc" : "aes-256-cbc";
	case ENVELOPE_GCM:
		return "aes-256-gcm";
	case ENVELOPE_NONE:
		break;
	}
	return "none";
}

/*
 * OpenSSL 3.2+ answers a bad v1.5 padding with a random "synthetic" key
 * instead of an error (implicit rejection, a Marvin-attack defence for
 * servers): about 1 wrong key in 120 would then "open" a CEK and give
 * garbage. We must know the key was wrong, so we ask for the error; we
 * are no decryption oracle (nothing is sent back to anyone). Which
 * libcrypto runs is known only now, not when we were built (a build
 * against 3.0 headers runs on 3.2): the parameter is set by name always
 * (3.0 and 3.1 ignore a name they do not know, and reject explicitly),
 * and on 3.2 or later read back: if it did not take, no unwrap at all.
 */
#define IMPLICIT_REJECTION "implicit-rejection"

int
crypto_rsa_explicit_rejection(EVP_PKEY_CTX *ctx)
{
	unsigned int off = 0, now = 1;
	OSSL_PARAM set[2], get[2];

	set[0] = OSSL_PARAM_construct_uint(IMPLICIT_REJECTION, &off);
	set[1] = OSSL_PARAM_construct_end();
	if (EVP_PKEY_CTX_set_params(ctx, set) <= 0)
		return 0;
	if (OPENSSL_version_major() == 3 && OPENSSL_version_minor() < 2)
		return 1;
	get[0] = OSSL_PARAM_construct_uint(IMPLICIT_REJECTION, &now);
	get[1] = OSSL_PARAM_construct_end();
	return EVP_PKEY_CTX_get_params(ctx, get) > 0 &&
	    OSSL_PARAM_modified(&get[0]) && now == 0;
}

/* Configure ctx for the padding the scheme wraps its CEK with. */
static int
set_unwrap_padding(EVP_PKEY_CTX *ctx, enum envelope_scheme scheme)
{
	if (scheme == ENVELOPE_GCM) {
		return EVP_PKEY_CTX_set_rsa_padding(ctx,
		    RSA_PKCS1_OAEP_PADDING) > 0 &&
		    EVP_PKEY_CTX_set_rsa_oaep_md(ctx, EVP_sha256()) > 0 &&
		    EVP_PKEY_CTX_set_rsa_mgf1_md(ctx, EVP_sha256()) > 0;
	}
	return EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PADDING) > 0 &&
	    crypto_rsa_explicit_rejection(ctx);
}

int
crypto_rsa_unwrap(EVP_PKEY *key, enum envelope_scheme scheme,
    const unsigned char *wrapped, size_t wrapped_len, struct crypto_cek *out)
{
	unsigned char buf[ENVELOPE_MAX_WRAPPED];
	EVP_PKEY_CTX *ctx = NULL;
	size_t len = sizeof(buf);
	int rc = TFS_ERR_NOKEY;

	out->len = 0;
	if (scheme == ENVELOPE_NONE || wrapped_len == 0)
		return TFS_ERR_ENVELOPE;
	/* A block of another size was not made with this key's modulus. */
	if ((size_t)EVP_PKEY_get_size(key) != wrapped_len)
		return TFS_ERR_NOKEY;
	ctx = EVP_PKEY_CTX_new_from_pkey(NULL, key, NULL);
	if (ctx == NULL || EVP_PKEY_decrypt_init(ctx) <= 0 ||
	    !set_unwrap_padding(ctx, scheme)) {
		rc = TFS_ERR_CRYPTO;
		goto out;
	}
	if (EVP_PKEY_decrypt(ctx, buf, &len, wrapped, wrapped_len) <= 0)
		goto out;
	/* AES-128/256 keys only; anything else means the wrong key. */
	if (!(len == 32 || (len == 16 && scheme == ENVELOPE_CBC)))
		goto out;
	memcpy(out->bytes, buf, len);
	out->len = len;
	rc = TFS_OK;
out:
	OPENSSL_cleanse(buf, sizeof(buf));
	EVP_PKEY_CTX_free(ctx);
	/* Failed trials are expected; don't leave them in the error queue. */
	ERR_clear_error();
	return rc;
}

/* --- AES-CBC --- */

struct crypto_cbc {
	EVP_CIPHER_CTX *ctx;
};

int
crypto_cbc_new(struct crypto_cbc **out, const struct crypto_cek *cek)
{
	static const unsigned char zero_iv[CRYPTO_BLOCK];
	struct crypto_cbc *cbc;
	const EVP_CIPHER *cipher;

	*out = NULL;
	if (cek->len == 32)
		cipher = EVP_aes_256_cbc();
	else if (cek->len == 16)
		cipher = EVP_aes_128_cbc();
	else
		return TFS_ERR_NOKEY;
	cbc = calloc(1, sizeof(*cbc));
	if (cbc == NULL)
		return TFS_ERR_NOMEM;
	cbc->ctx = EVP_CIPHER_CTX_new();
	if (cbc->ctx == NULL ||
	    EVP_DecryptInit_ex2(cbc->ctx, cipher, cek->bytes, zero_iv,
	    NULL) <= 0 ||
	    EVP_CIPHER_CTX_set_padding(cbc->ctx, 0) <= 0) {
		crypto_cbc_free(cbc);
		return TFS_ERR_CRYPTO;
	}
	*out = cbc;
	return TFS_OK;
}

int
crypto_cbc_decrypt(struct crypto_cbc *cbc, const unsigned char prev[16],
    const unsigned char *in, size_t len, unsigned char *out)
{
	size_t done = 0, n;
	int outl;

	if (len % CRYPTO_BLOCK != 0)
		return TFS_ERR_RANGE;
	/* A new IV, same key schedule: this is what makes seeking cheap. */
	if (EVP_DecryptInit_ex2(cbc->ctx, NULL, NULL, prev, NULL) <= 0)
		return TFS_ERR_CRYPTO;
	while (done < len) {
		n = len - done > EVP_SLICE ? EVP_SLICE : len - done;
		if (EVP_DecryptUpdate(cbc->ctx, out + done, &outl, in + done,
		    (int)n) <= 0 || (size_t)outl != n)
			return TFS_ERR_CRYPTO;
		done += n;
	}
	return TFS_OK;
}

int
crypto_cbc_pad_len(const unsigned char last[CRYPTO_BLOCK], size_t *pad_len)
{
	unsigned char n = last[CRYPTO_BLOCK - 1];
	unsigned char bad = 0;
	size_t i;

	*pad_len = 0;
	if (n == 0 || n > CRYPTO_BLOCK)
		return TFS_ERR_INTEGRITY;
	for (i = CRYPTO_BLOCK - n; i < CRYPTO_BLOCK; i++)
		bad |= (unsigned char)(last[i] ^ n);
	if (bad != 0)
		return TFS_ERR_INTEGRITY;
	*pad_len = n;
	return TFS_OK;
}

void
crypto_cbc_free(struct crypto_cbc *cbc)
{
	if (cbc == NULL)
		return;
	/* EVP_CIPHER_CTX_free cleanses the key schedule. */
	EVP_CIPHER_CTX_free(cbc->ctx);
	free(cbc);
}

/* --- AES-256-GCM --- */

struct crypto_gcm {
	EVP_CIPHER_CTX *ctx;
	unsigned char hold[CRYPTO_GCM_TAG];	/* last bytes: the tag? */
	size_t held;
	uint64_t fed;				/* bytes fed so far */
	unsigned char *scratch;			/* verify-only output */
};

int
crypto_gcm_new(struct crypto_gcm **out, const struct crypto_cek *cek,
    const unsigned char *iv, size_t iv_len)
{
	struct crypto_gcm *gcm;

	*out = NULL;
	if (cek->len != 32)
		return TFS_ERR_NOKEY;
	if (iv_len != CRYPTO_GCM_IV)
		return TFS_ERR_ENVELOPE;
	gcm = calloc(1, sizeof(*gcm));
	if (gcm == NULL)
		return TFS_ERR_NOMEM;
	gcm->ctx = EVP_CIPHER_CTX_new();
	if (gcm->ctx == NULL ||
	    EVP_DecryptInit_ex2(gcm->ctx, EVP_aes_256_gcm(), cek->bytes, iv,
	    NULL) <= 0) {
		crypto_gcm_free(gcm);
		return TFS_ERR_CRYPTO;
	}
	*out = gcm;
	return TFS_OK;
}

/* Decrypt len bytes into out, or into scratch when out is NULL. */
static int
gcm_decrypt(struct crypto_gcm *gcm, const unsigned char *in, size_t len,
    unsigned char *out)
{
	size_t done = 0, n, cap;
	int outl;

	if (out == NULL && gcm->scratch == NULL) {
		gcm->scratch = malloc(GCM_SCRATCH);
		if (gcm->scratch == NULL)
			return TFS_ERR_NOMEM;
	}
	cap = out == NULL ? GCM_SCRATCH : EVP_SLICE;
	while (done < len) {
		n = len - done > cap ? cap : len - done;
		/* Never pass a NULL out: EVP would take the bytes as AAD. */
		if (EVP_DecryptUpdate(gcm->ctx, out != NULL ? out + done :
		    gcm->scratch, &outl, in + done, (int)n) <= 0 ||
		    (size_t)outl != n)
			return TFS_ERR_CRYPTO;
		done += n;
	}
	return TFS_OK;
}

int
crypto_gcm_update(struct crypto_gcm *gcm, const unsigned char *in,
    size_t len, unsigned char *out, size_t *out_len)
{
	size_t emit, from_hold, from_in, keep_hold;
	int rc;

	if (out_len != NULL)
		*out_len = 0;
	gcm->fed += len;
	if (gcm->held + len <= CRYPTO_GCM_TAG) {
		memcpy(gcm->hold + gcm->held, in, len);
		gcm->held += len;
		return TFS_OK;
	}
	/* Everything but the last 16 bytes of (hold || in) is ciphertext. */
	emit = gcm->held + len - CRYPTO_GCM_TAG;
	from_hold = emit < gcm->held ? emit : gcm->held;
	from_in = emit - from_hold;
	rc = gcm_decrypt(gcm, gcm->hold, from_hold, out);
	if (rc == TFS_OK)
		rc = gcm_decrypt(gcm, in, from_in, out != NULL ?
		    out + from_hold : NULL);
	if (rc != TFS_OK)
		return rc;
	keep_hold = gcm->held - from_hold;
	memmove(gcm->hold, gcm->hold + from_hold, keep_hold);
	memcpy(gcm->hold + keep_hold, in + from_in, len - from_in);
	gcm->held = CRYPTO_GCM_TAG;
	if (out_len != NULL && out != NULL)
		*out_len = emit;
	return TFS_OK;
}

int
crypto_gcm_final(struct crypto_gcm *gcm, uint64_t *plaintext_len)
{
	unsigned char dummy[CRYPTO_BLOCK];
	int outl = 0;

	if (gcm->held < CRYPTO_GCM_TAG)
		return TFS_ERR_TRUNCATED;
	if (EVP_CIPHER_CTX_ctrl(gcm->ctx, EVP_CTRL_GCM_SET_TAG,
	    CRYPTO_GCM_TAG, gcm->hold) <= 0)
		return TFS_ERR_CRYPTO;
	if (EVP_DecryptFinal_ex(gcm->ctx, dummy, &outl) <= 0) {
		ERR_clear_error();
		return TFS_ERR_INTEGRITY;
	}
	if (plaintext_len != NULL)
		*plaintext_len = gcm->fed - CRYPTO_GCM_TAG;
	return TFS_OK;
}

void
crypto_gcm_free(struct crypto_gcm *gcm)
{
	if (gcm == NULL)
		return;
	EVP_CIPHER_CTX_free(gcm->ctx);
	if (gcm->scratch != NULL) {
		OPENSSL_cleanse(gcm->scratch, GCM_SCRATCH);
		free(gcm->scratch);
	}
	OPENSSL_cleanse(gcm, sizeof(*gcm));
	free(gcm);
}

/* --- CTR ranges of verified GCM ciphertext --- */

struct crypto_ctr {
	EVP_CIPHER_CTX *ctx;
	unsigned char iv[CRYPTO_GCM_IV];
};

int
crypto_ctr_new(struct crypto_ctr **out, const struct crypto_cek *cek,
    const unsigned char *iv, size_t iv_len)
{
	static const unsigned char zero[CRYPTO_BLOCK];
	struct crypto_ctr *ctr;

	*out = NULL;
	if (cek->len != 32)
		return TFS_ERR_NOKEY;
	if (iv_len != CRYPTO_GCM_IV)
		return TFS_ERR_ENVELOPE;
	ctr = calloc(1, sizeof(*ctr));
	if (ctr == NULL)
		return TFS_ERR_NOMEM;
	memcpy(ctr->iv, iv, CRYPTO_GCM_IV);
	ctr->ctx = EVP_CIPHER_CTX_new();
	if (ctr->ctx == NULL || EVP_DecryptInit_ex2(ctr->ctx,
	    EVP_aes_256_ctr(), cek->bytes, zero, NULL) <= 0) {
		crypto_ctr_free(ctr);
		return TFS_ERR_CRYPTO;
	}
	*out = ctr;
	return TFS_OK;
}

int
crypto_ctr_decrypt(struct crypto_ctr *ctr, uint64_t offset,
    const unsigned char *in, size_t len, unsigned char *out)
{
	unsigned char counter[CRYPTO_BLOCK], skip_buf[CRYPTO_BLOCK] = { 0 };
	uint64_t first, last, c;
	size_t skip, done = 0, n;
	int outl;

	if (len == 0)
		return TFS_OK;
	/*
	 * GCM with a 96-bit IV: J0 = IV || 1, plaintext block i is
	 * encrypted with inc32(J0) + i, i.e. IV || (2 + i). Only the low 32
	 * bits count in GCM; OpenSSL's CTR carries into the IV, so stay
	 * below the wrap (GCM's own limit is 2^32 - 2 blocks anyway).
	 */
	if (offset > UINT64_MAX - len)
		return TFS_ERR_RANGE;
	first = offset / CRYPTO_BLOCK;
	last = (offset + len - 1) / CRYPTO_BLOCK;
	if (last > 0xfffffffdULL)
		return TFS_ERR_RANGE;
	c = first + 2;
	memcpy(counter, ctr->iv, CRYPTO_GCM_IV);
	counter[12] = (unsigned char)(c >> 24);
	counter[13] = (unsigned char)(c >> 16);
	counter[14] = (unsigned char)(c >> 8);
	counter[15] = (unsigned char)c;
	if (EVP_DecryptInit_ex2(ctr->ctx, NULL, NULL, counter, NULL) <= 0)
		return TFS_ERR_CRYPTO;
	/* Burn the keystream bytes before offset inside its block. */
	skip = (size_t)(offset % CRYPTO_BLOCK);
	if (skip > 0 && EVP_DecryptUpdate(ctr->ctx, skip_buf, &outl, skip_buf,
	    (int)skip) <= 0)
		return TFS_ERR_CRYPTO;
	while (done < len) {
		n = len - done > EVP_SLICE ? EVP_SLICE : len - done;
		if (EVP_DecryptUpdate(ctr->ctx, out + done, &outl, in + done,
		    (int)n) <= 0 || (size_t)outl != n)
			return TFS_ERR_CRYPTO;
		done += n;
	}
	OPENSSL_cleanse(skip_buf, sizeof(skip_buf));
	return TFS_OK;
}

void
crypto_ctr_free(struct crypto_ctr *ctr)
{
	if (ctr == NULL)
		return;
	EVP_CIPHER_CTX_free(ctr->ctx);
	OPENSSL_cleanse(ctr, sizeof(*ctr));
	free(ctr);
}
