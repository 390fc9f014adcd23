/* SPDX-License-Identifier: MIT */
/*
 * fuzz_cbc.c - a differential: OpenSSL's EVP encrypts with AES-CBC and
 * PKCS#7 (as the openssl CLI of Twilio's guides does), ours decrypts it
 * whole, checks the padding, and decrypts ranges [a, b) as the reader
 * does: from a's block, with the ciphertext block before it as the IV.
 * The bytes must be the plaintext's. The input is a struct head, then the
 * plaintext.
 */
#include "twiliofs/crypto.h"

#include "reference.h"

struct head {
	uint8_t mode;		/* odd: AES-256, even: AES-128 */
	uint8_t key[32], iv[16];
	uint8_t ranges[RANGES][4];
};

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct head *h = (const void *)data;
	const unsigned char *pt = data + sizeof(*h);
	size_t n, len, s, e, a, b, pad;
	struct crypto_cek cek;
	struct crypto_cbc *cbc;
	unsigned char *ct, *out;
	int r;

	if (size < sizeof(*h) || size - sizeof(*h) > 65536)
		return 0;
	n = size - sizeof(*h);
	cek.len = h->mode % 2 ? 32 : 16;
	memcpy(cek.bytes, h->key, 32);
	/* Each of exactly its size: ASan sees a byte too far. */
	len = (n / CRYPTO_BLOCK + 1) * CRYPTO_BLOCK;
	ct = malloc(len);
	out = malloc(len);
	FUZZ_CHECK(ct != NULL && out != NULL);
	FUZZ_CHECK(reference_encrypt(cek.len == 16 ? EVP_aes_128_cbc() :
	    EVP_aes_256_cbc(), cek.bytes, h->iv, pt, n, ct, NULL) == len);

	FUZZ_CHECK(crypto_cbc_new(&cbc, &cek) == TFS_OK);
	FUZZ_CHECK(crypto_cbc_decrypt(cbc, h->iv, ct, len, out) == TFS_OK);
	FUZZ_CHECK(crypto_cbc_pad_len(out + len - 16, &pad) == TFS_OK);
	FUZZ_CHECK(len - pad == n && memcmp(out, pt, n) == 0);
	for (r = 0; r < RANGES; r++) {
		reference_range(h->ranges[r], n, &a, &b);
		s = a - a % CRYPTO_BLOCK;
		e = (b + CRYPTO_BLOCK - 1) / CRYPTO_BLOCK * CRYPTO_BLOCK;
		FUZZ_CHECK(crypto_cbc_decrypt(cbc, s > 0 ? ct + s - 16 : h->iv,
		    ct + s, e - s, out) == TFS_OK);
		FUZZ_CHECK(memcmp(out + (a - s), pt + a, b - a) == 0);
	}
	/* Whole blocks only: the reader never asks for less. */
	FUZZ_CHECK(crypto_cbc_decrypt(cbc, h->iv, ct, 15, out) ==
	    TFS_ERR_RANGE);
	crypto_cbc_free(cbc);
	free(ct);
	free(out);
	return 0;
}
