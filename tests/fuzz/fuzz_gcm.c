/* SPDX-License-Identifier: MIT */
/*
 * fuzz_gcm.c - a differential: OpenSSL's EVP encrypts with AES-256-GCM
 * (as Twilio does, the tag after the ciphertext), ours verifies and
 * decrypts it fed in pieces, then decrypts ranges [a, b) with AES-CTR at
 * an offset as the reader does, and a few bytes far from the start (up to
 * GCM's limit) against AES-ECB of IV || counter. The bytes must be the
 * plaintext's; a flipped bit must fail the tag. The input is a struct
 * head, then the plaintext.
 */
#include "twiliofs/crypto.h"

#include "reference.h"

struct head {
	uint8_t key[32], iv[12];
	uint8_t step;		/* bytes fed at a time, less one */
	uint8_t flip[2];	/* the bit flipped */
	uint8_t high[4];	/* a block far away, an offset, a length */
	uint8_t ranges[RANGES][4];
};

/* The object ct (len bytes) fed by pieces, decrypted into dst or not. */
static void
verify(const struct crypto_cek *cek, const struct head *h,
    const unsigned char *ct, size_t len, unsigned char *dst, int want)
{
	size_t s, n, got, done = 0, step = 1 + (size_t)h->step;
	struct crypto_gcm *gcm;
	uint64_t plen = 0;

	FUZZ_CHECK(crypto_gcm_new(&gcm, cek, h->iv, 12) == TFS_OK);
	for (s = 0; s < len; s += n, done += got) {
		n = len - s < step ? len - s : step;
		FUZZ_CHECK(crypto_gcm_update(gcm, ct + s, n, dst != NULL ?
		    dst + done : NULL, &got) == TFS_OK);
	}
	FUZZ_CHECK(crypto_gcm_final(gcm, &plen) == want);
	FUZZ_CHECK(want != TFS_OK || (plen == len - 16 &&
	    (dst == NULL || done == plen)));
	crypto_gcm_free(gcm);
}

/* Far from the start: the keystream must be AES(IV || 2 + block). */
static void
far(struct crypto_ctr *ctr, const struct crypto_cek *cek,
    const struct head *h)
{
	uint64_t blk = (uint64_t)h->high[0] << 24 | (uint64_t)h->high[1] << 16 |
	    (uint64_t)h->high[2] << 8 | h->flip[0];
	uint64_t off = blk * 16 + h->high[3] % 16;
	unsigned char zero[32] = { 0 }, ks[32], got[32], counter[32];
	size_t len = 1 + h->high[3] / 16, i;

	if (crypto_ctr_decrypt(ctr, off, zero, len, got) != TFS_OK) {
		FUZZ_CHECK((off + len - 1) / 16 > 0xfffffffdULL);
		return;
	}
	FUZZ_CHECK((off + len - 1) / 16 <= 0xfffffffdULL);
	for (i = 0; i < 32; i++)	/* IV || a 32-bit big-endian counter */
		counter[i] = i % 16 < 12 ? h->iv[i % 16] : (unsigned char)
		    ((blk + 2 + i / 16) >> (8 * (15 - i % 16)));
	(void)reference_encrypt(EVP_aes_256_ecb(), cek->bytes, NULL, counter,
	    32, ks, NULL);
	FUZZ_CHECK(memcmp(got, ks + off % 16, len) == 0);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct head *h = (const void *)data;
	const unsigned char *pt = data + sizeof(*h);
	size_t n, len, flip, a, b;
	struct crypto_cek cek = { { 0 }, 32 };
	struct crypto_ctr *ctr;
	unsigned char *ct, *out;
	int r;

	if (size < sizeof(*h) || size - sizeof(*h) > 65536)
		return 0;
	n = size - sizeof(*h);
	len = n + CRYPTO_GCM_TAG;
	memcpy(cek.bytes, h->key, 32);
	/* Each of exactly its size: ASan sees a byte too far. */
	ct = malloc(len);
	out = malloc(len);
	FUZZ_CHECK(ct != NULL && out != NULL);
	FUZZ_CHECK(reference_encrypt(EVP_aes_256_gcm(), cek.bytes, h->iv, pt,
	    n, ct, ct + n) == n);

	verify(&cek, h, ct, len, out, TFS_OK);
	FUZZ_CHECK(memcmp(out, pt, n) == 0);
	FUZZ_CHECK(crypto_ctr_new(&ctr, &cek, h->iv, 12) == TFS_OK);
	for (r = 0; r < RANGES; r++) {
		reference_range(h->ranges[r], n, &a, &b);
		FUZZ_CHECK(crypto_ctr_decrypt(ctr, a, ct + a, b - a, out) ==
		    TFS_OK && memcmp(out, pt + a, b - a) == 0);
	}
	far(ctr, &cek, h);
	crypto_ctr_free(ctr);
	flip = (size_t)(h->flip[0] << 8 | h->flip[1]);
	ct[flip % len] ^= (unsigned char)(1u << (flip / len % 8));
	verify(&cek, h, ct, len, NULL, TFS_ERR_INTEGRITY);
	free(ct);
	free(out);
	return 0;
}
