/* SPDX-License-Identifier: MIT */
/*
 * fixtures.h - read the directory made by tests/fixtures/mkfixtures.sh
 * (layout in tests/fixtures/README.md; its path is in TFS_FIXTURES): the
 * SIDs of the keys, each vector's .meta, .plain, .enc, .headers and
 * .details. Uses its own base64 decoder so the envelope code under test
 * does not check itself.
 */
#ifndef TWILIOFS_TEST_FIXTURES_H
#define TWILIOFS_TEST_FIXTURES_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "unit.h"

/* Every vector the README promises, with its key letter and scheme. */
static const struct {
	const char *name;
	char key;
	int gcm;
} fx_all[] __attribute__((unused)) = {
	{ "cbc256_A", 'A', 0 },
	{ "cbc256_B_nolen", 'B', 0 },
	{ "cbc128_D", 'D', 0 },
	{ "cbc_empty_A", 'A', 0 },
	{ "cbc_block_E", 'E', 0 },
	{ "cbc_badpad_A", 'A', 0 },
	{ "gcm_voice_A", 'A', 1 },
	{ "gcm_voice_C", 'C', 1 },
	{ "gcm_voice_cb_B", 'B', 1 },
	{ "gcm_intel_D", 'D', 1 },
	{ "gcm_empty_E", 'E', 1 },
	{ "gcm_tampered_A", 'A', 1 },
	{ "gcm_stranger_X", 'X', 1 },
	{ "cbc_stranger_X", 'X', 0 },
};
#define FX_NVEC (sizeof(fx_all) / sizeof(fx_all[0]))

static const char fx_letters[] __attribute__((unused)) = "ABCDEX";

struct fx_vector {
	const char *name;
	char key;			/* 'A'..'E' or 'X' */
	int gcm;
	char sid[40];
	unsigned char cek[32];
	size_t cek_len;
	unsigned char iv[16];
	size_t iv_len;
	unsigned char wrapped[1100];
	size_t wrapped_len;
	char wrapped_b64[1500];
	char iv_b64[32];
	unsigned char *plain;		/* NULL unless loaded */
	size_t plain_len;
	unsigned char *enc;
	size_t enc_len;
	char *headers;			/* NULL if the vector has none */
	size_t headers_len;
	char *details;			/* NULL if the vector has none */
};

/* Standard base64, padding optional; -1 on anything else. */
static inline int
fx_b64(const char *s, unsigned char *out, size_t cap, size_t *len)
{
	static const char abc[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	unsigned long acc = 0;
	size_t n = 0, bits = 0;
	const char *p;

	for (; *s != '\0' && *s != '='; s++) {
		p = strchr(abc, *s);
		if (p == NULL)
			return -1;
		acc = (acc << 6) | (unsigned long)(p - abc);
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			if (n == cap)
				return -1;
			out[n++] = (unsigned char)(acc >> bits);
		}
	}
	*len = n;
	return 0;
}

/* The SID of key letter (from OUTDIR/sids) into sid; -1 if absent. */
static inline int
fx_sid(const char *fx, char letter, char sid[40])
{
	struct unit_rec *r = NULL;
	char path[4096], name[2] = { letter, '\0' }, *text = NULL;
	const char *v;
	int n, rc = -1;

	n = unit_records(unit_path(path, sizeof(path), fx, "sids"), &r, &text);
	if (n == 1) {
		v = unit_rec_get(&r[0], name);
		if (v != NULL && strlen(v) < 40) {
			memcpy(sid, v, strlen(v) + 1);
			rc = 0;
		}
	}
	free(r);
	free(text);
	return rc;
}

/*
 * The key file of letter: keys/<SID>.pem|.key|.der for A..D (whichever
 * exists), keys/unnamed.der for E, stranger.pem for X. -1 if not found.
 */
static inline int
fx_key_path(const char *fx, char letter, char *path, size_t cap)
{
	static const char *ext[] = { ".pem", ".key", ".der" };
	char sid[40], name[64];
	size_t i;
	FILE *f;

	if (letter == 'E') {
		(void)snprintf(name, sizeof(name), "keys/unnamed.der");
	} else if (letter == 'X') {
		(void)snprintf(name, sizeof(name), "stranger.pem");
	} else {
		if (fx_sid(fx, letter, sid) != 0)
			return -1;
		for (i = 0; i < sizeof(ext) / sizeof(ext[0]); i++) {
			(void)snprintf(name, sizeof(name), "keys/%s%s", sid,
			    ext[i]);
			unit_path(path, cap, fx, name);
			f = fopen(path, "rb");
			if (f != NULL) {
				fclose(f);
				return 0;
			}
		}
		return -1;
	}
	unit_path(path, cap, fx, name);
	return 0;
}

static inline void
fx_vector_free(struct fx_vector *v)
{
	free(v->plain);
	free(v->enc);
	free(v->headers);
	free(v->details);
	memset(v, 0, sizeof(*v));
}

/*
 * Load vector fx_all[i]: its .meta always, .plain and .enc when data is
 * set, .headers / .details when present. 0, or -1 with a message.
 */
static inline int
fx_vector_load(const char *fx, size_t i, int data, struct fx_vector *v)
{
	struct unit_rec *r = NULL;
	char path[4096], name[128], *text = NULL;
	const char *s;
	size_t len;
	int rc = -1;

	memset(v, 0, sizeof(*v));
	v->name = fx_all[i].name;
	v->key = fx_all[i].key;
	v->gcm = fx_all[i].gcm;
	(void)snprintf(name, sizeof(name), "vectors/%s.meta", v->name);
	if (unit_records(unit_path(path, sizeof(path), fx, name), &r,
	    &text) != 1) {
		fprintf(stderr, "fixtures: cannot read %s\n", path);
		goto out;
	}
	s = unit_rec_get(&r[0], "sid");
	if (s == NULL || strlen(s) >= sizeof(v->sid))
		goto bad;
	memcpy(v->sid, s, strlen(s) + 1);
	s = unit_rec_get(&r[0], "cek");
	if (s == NULL || unit_hex(s, v->cek, sizeof(v->cek), &v->cek_len))
		goto bad;
	s = unit_rec_get(&r[0], "iv");
	if (s == NULL || unit_hex(s, v->iv, sizeof(v->iv), &v->iv_len))
		goto bad;
	s = unit_rec_get(&r[0], "wrapped");
	if (s == NULL || strlen(s) >= sizeof(v->wrapped_b64) ||
	    fx_b64(s, v->wrapped, sizeof(v->wrapped), &v->wrapped_len))
		goto bad;
	memcpy(v->wrapped_b64, s, strlen(s) + 1);
	s = unit_rec_get(&r[0], "iv_b64");
	if (s == NULL || strlen(s) >= sizeof(v->iv_b64))
		goto bad;
	memcpy(v->iv_b64, s, strlen(s) + 1);
	s = unit_rec_get(&r[0], "scheme");
	if (s == NULL || strcmp(s, v->gcm ? "gcm" : "cbc") != 0)
		goto bad;
	if (data) {
		(void)snprintf(name, sizeof(name), "vectors/%s.plain",
		    v->name);
		v->plain = unit_read_file(unit_path(path, sizeof(path), fx,
		    name), &v->plain_len);
		(void)snprintf(name, sizeof(name), "vectors/%s.enc", v->name);
		v->enc = unit_read_file(unit_path(path, sizeof(path), fx,
		    name), &v->enc_len);
		if (v->plain == NULL || v->enc == NULL) {
			fprintf(stderr, "fixtures: cannot read %s data\n",
			    v->name);
			goto out;
		}
	}
	(void)snprintf(name, sizeof(name), "vectors/%s.headers", v->name);
	v->headers = (char *)unit_read_file(unit_path(path, sizeof(path), fx,
	    name), &v->headers_len);
	(void)snprintf(name, sizeof(name), "vectors/%s.details", v->name);
	v->details = (char *)unit_read_file(unit_path(path, sizeof(path), fx,
	    name), &len);
	rc = 0;
	goto out;
bad:
	fprintf(stderr, "fixtures: %s: malformed .meta\n", v->name);
out:
	free(r);
	free(text);
	if (rc != 0)
		fx_vector_free(v);
	return rc;
}

#endif
