/* SPDX-License-Identifier: MIT */
/*
 * reference.h - the side of fuzz_cbc's and fuzz_gcm's comparisons that is
 * not ours: encryption by OpenSSL's EVP, straight; and the ranges [a, b)
 * an input asks to decrypt.
 */
#ifndef TWILIOFS_FUZZ_REFERENCE_H
#define TWILIOFS_FUZZ_REFERENCE_H

#include <openssl/evp.h>

#include "fuzz.h"

#define RANGES 8

/* n bytes of in, encrypted into dst (a GCM tag into tag); its length. */
static inline size_t
reference_encrypt(const EVP_CIPHER *c, const unsigned char *key,
    const unsigned char *iv, const unsigned char *in, size_t n,
    unsigned char *dst, unsigned char *tag)
{
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	int l1 = 0, l2 = 0;

	FUZZ_CHECK(ctx != NULL &&
	    EVP_EncryptInit_ex(ctx, c, NULL, key, iv) == 1 &&
	    EVP_CIPHER_CTX_set_padding(ctx, c != EVP_aes_256_ecb()) == 1);
	FUZZ_CHECK(n == 0 || EVP_EncryptUpdate(ctx, dst, &l1, in, (int)n) == 1);
	FUZZ_CHECK(EVP_EncryptFinal_ex(ctx, dst + l1, &l2) == 1);
	FUZZ_CHECK(tag == NULL || EVP_CIPHER_CTX_ctrl(ctx,
	    EVP_CTRL_GCM_GET_TAG, 16, tag) == 1);
	EVP_CIPHER_CTX_free(ctx);
	return (size_t)l1 + (size_t)l2;
}

/* The range 4 bytes at p ask for, within n: 0 <= *a <= *b <= n. */
static inline void
reference_range(const uint8_t p[4], size_t n, size_t *a, size_t *b)
{
	size_t x = (size_t)(p[0] << 8 | p[1]) % (n + 1);
	size_t y = (size_t)(p[2] << 8 | p[3]) % (n + 1);

	*a = x < y ? x : y;
	*b = x < y ? y : x;
}

#endif
