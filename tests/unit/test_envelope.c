/* SPDX-License-Identifier: MIT */
/*
 * test_envelope.c - unit tests of envelope.h: strict base64, scheme
 * detection by IV length, HTTP header dumps (curl -D, wget -S, redirects,
 * 206 answers, case, line ends), encryption_details JSON in every form and
 * spelling Twilio uses, Public Key SIDs, and the one-line error details.
 * The header and details files of the fixtures (TFS_FIXTURES) are checked
 * against their .meta.
 */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "twiliofs/envelope.h"

#include "fixtures.h"
#include "unit.h"

/* A real header dump from Twilio's video encryption page (wget -S). */
#define SEED_KEY "0ZY1jiGSu/FlI4l1OnNFeWvWFXUOEQ2apv3/OtMFlwLO83bHlB44gbZe2" \
	"SW6wOBs8UTsxC7bEnY+Gn2tdzp7ltzrKtBu7cfMzOxshABFiiJbCSBmOzUHs3OkU30" \
	"Wi3Hq953SJJO+4W0DAINfhGiDlWxgIbjHegamneJ983DDpm+AyKa77jq5T+4LxJdOv" \
	"5bqU4ioZKetv/OA987JZaetPVTr55uSmqr8SbsX9xmaIKjo7V6ivutwcCKWX9bvf1q" \
	"xUu/ZohTmouL2MOocojNMMx5ovTX3QXLCGUwx6pOS83zqHNxmFhU2EHENCs5KNYL6G" \
	"jhOwmoGyeQPS+pe8bPRFg=="
#define SEED_IV "EmKjzVpvXC9rE6DJ00Xv7Q=="
/* The same for a voice recording callback (Twilio's voice page). */
#define SEED_CB_CEK "ZriXxBEXSywEohXQZV53KGvyzAO1HpKRxCuMo/pcKiT7C+bWKfelZu" \
	"X0eW1jb7iGcESrOqwvLo4v4GVRPDdJKsaO6R/AVTDcA+he5syPDBgg20ECilAhC/9/CN" \
	"xfbIuQD+rRKmx0O7SOJJyazbc4zlv+4ClWwDm6g/8z0ekpYs/tNrlQenbxU/Un9uLeeB" \
	"aJtFKeK5YSUea5n3Kce22iaPZMy3WUGBg+JfOHrccvCjDjX5QQ21I3rcdpgb5nwpzf3M" \
	"QwmExhW8SJtmQ1cL4jDeKojM255HhhcgOYDwcyrTfY7svUkqNrEKei1q5ZFdBl+SjjKf" \
	"SdE0BgEvTceZZYrQ=="
#define SEED_CB_IV "7MiadYE7QDgVSRm9"
#define SEED_CB_SID "CR201607f4ca45a533cdca8d9a828c2a87"
#define SID_HEX "0123456789abcdef0123456789abcdef"

/* Fill env with junk, then envelope_init(): a test starts from here. */
static void
fresh(struct envelope *env, struct tfs_error *err)
{
	memset(env, 0xa5, sizeof(*env));
	envelope_init(env);
	tfs_error_clear(err);
}

/* ----------------------------------------------------------------- */

static void
test_init(void)
{
	struct envelope env;

	memset(&env, 0xa5, sizeof(env));
	envelope_init(&env);
	CHECK(env.scheme == ENVELOPE_NONE, "scheme %d", (int)env.scheme);
	CHECK(env.wrapped_cek_len == 0, "wrapped_cek_len %zu",
	    env.wrapped_cek_len);
	CHECK(env.iv_len == 0, "iv_len %zu", env.iv_len);
	CHECK(env.public_key_sid[0] == '\0', "public_key_sid not empty");
	CHECK(env.plaintext_size == -1, "plaintext_size %lld",
	    env.plaintext_size);
	CHECK(env.ciphertext_size == -1, "ciphertext_size %lld",
	    env.ciphertext_size);
}

/* Decode src into an exact-size heap buffer of cap bytes. */
static int
dec(const char *src, size_t cap, unsigned char *copy, size_t *len)
{
	unsigned char *out = unit_xmalloc(cap);
	int rc;

	*len = 9999;
	rc = envelope_b64_decode(src, out, cap, len);
	if (rc == 0 && *len <= cap)
		memcpy(copy, out, *len);
	free(out);
	return rc;
}

static void
test_b64(void)
{
	static const struct {
		const char *in, *out;
	} good[] = {
		/* RFC 4648 section 10, padded and not. */
		{ "Zg==", "f" }, { "Zg", "f" },
		{ "Zm8=", "fo" }, { "Zm8", "fo" },
		{ "Zm9v", "foo" },
		{ "Zm9vYg==", "foob" }, { "Zm9vYg", "foob" },
		{ "Zm9vYmE=", "fooba" }, { "Zm9vYmE", "fooba" },
		{ "Zm9vYmFy", "foobar" },
	};
	static const char *bad[] = {
		/* 1 mod 4 characters */
		"Z", "Zm9vY", "Zm9vYmFy1",
		/* misplaced or excess padding */
		"Zg===", "Zg=", "Zm8==", "Zm9v=", "Zm9vYmFy==",
		"=Zg", "==", "====", "Zg==Zg==", "Z=g=",
		"Zm9v YmFy", "Zm9v\nYmFy", "Zm9v\tYmFy", "Zm9v\r\nYmFy",
		"Zm9v*mFy", "Zm9v-_8", "Zm9v.mFy", "Zm9v\x80mFy",
		"Zm9v\xc3\xa9mFy", "Zm9v\"mFy",
	};
	unsigned char all[256], got[512];
	char enc[400];
	size_t i, len;
	int rc;

	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		rc = dec(good[i].in, 16, got, &len);
		CHECK(rc == 0 && len == strlen(good[i].out) &&
		    memcmp(got, good[i].out, len) == 0,
		    "decode \"%s\": %s, %zu bytes", good[i].in,
		    unit_rcname(rc), len);
	}
	/*
	 * "" is the encoding of nothing (RFC 4648); refusing it is fine too,
	 * as an empty CEK or IV is an error anyway. Never garbage.
	 */
	rc = dec("", 16, got, &len);
	CHECK(rc == TFS_ERR_ENVELOPE || (rc == TFS_OK && len == 0),
	    "decode \"\": %s, %zu bytes", unit_rcname(rc), len);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		rc = dec(bad[i], 16, got, &len);
		CHECK_RC(rc, TFS_ERR_ENVELOPE, "decode \"%s\"", bad[i]);
	}
	/* Every byte value, every alphabet character. */
	for (i = 0; i < 256; i++)
		all[i] = (unsigned char)i;
	unit_b64enc(all, 256, enc);
	rc = dec(enc, 256, got, &len);
	CHECK(rc == 0 && len == 256 && memcmp(got, all, 256) == 0,
	    "bytes 0..255: %s, %zu bytes", unit_rcname(rc), len);
	for (i = 0; i < 256; i++)
		all[i] = (unsigned char)(255 - i);
	unit_b64enc(all, 255, enc);
	rc = dec(enc, 255, got, &len);
	CHECK(rc == 0 && len == 255 && memcmp(got, all, 255) == 0,
	    "bytes 255..1: %s, %zu bytes", unit_rcname(rc), len);
	/* Capacity: exact fits, one less is refused (no overflow). */
	rc = dec("Zm9vYmFy", 6, got, &len);
	CHECK(rc == 0 && len == 6, "6 bytes into 6: %s", unit_rcname(rc));
	rc = dec("Zm9vYmFy", 5, got, &len);
	CHECK_RC(rc, TFS_ERR_ENVELOPE, "6 bytes into a 5-byte buffer");
	rc = dec("Zm9vYg==", 3, got, &len);
	CHECK_RC(rc, TFS_ERR_ENVELOPE, "4 bytes into a 3-byte buffer");
	rc = dec("Zm9vYg", 3, got, &len);
	CHECK_RC(rc, TFS_ERR_ENVELOPE, "4 bytes (unpadded) into 3");
}

static void
test_from_b64(void)
{
	static const size_t bad_iv[] = { 1, 8, 11, 13, 15, 17, 24, 32 };
	struct envelope env;
	struct tfs_error err;
	unsigned char cek[1100], iv[40];
	char cek_b64[1600], iv_b64[80], *p;
	size_t i;
	int rc;

	for (i = 0; i < sizeof(cek); i++)
		cek[i] = (unsigned char)(i * 7 + 3);
	for (i = 0; i < sizeof(iv); i++)
		iv[i] = (unsigned char)(0xf0 - i);
	unit_b64enc(cek, 256, cek_b64);

	/* 16-byte IV: CBC. */
	fresh(&env, &err);
	unit_b64enc(iv, 16, iv_b64);
	rc = envelope_from_b64(&env, cek_b64, iv_b64, &err);
	CHECK_RC(rc, TFS_OK, "16-byte IV");
	CHECK(env.scheme == ENVELOPE_CBC, "16-byte IV gives scheme %d",
	    (int)env.scheme);
	CHECK(env.iv_len == 16 && memcmp(env.iv, iv, 16) == 0, "IV bytes");
	CHECK(env.wrapped_cek_len == 256 &&
	    memcmp(env.wrapped_cek, cek, 256) == 0, "CEK bytes (%zu)",
	    env.wrapped_cek_len);
	/* The same IV without its "==". */
	fresh(&env, &err);
	p = strchr(iv_b64, '=');
	if (p != NULL)
		*p = '\0';
	rc = envelope_from_b64(&env, cek_b64, iv_b64, &err);
	CHECK(rc == TFS_OK && env.scheme == ENVELOPE_CBC && env.iv_len == 16,
	    "16-byte IV without padding: %s", unit_rcname(rc));

	/* 12-byte IV: GCM. */
	fresh(&env, &err);
	unit_b64enc(iv, 12, iv_b64);
	rc = envelope_from_b64(&env, cek_b64, iv_b64, &err);
	CHECK_RC(rc, TFS_OK, "12-byte IV");
	CHECK(env.scheme == ENVELOPE_GCM, "12-byte IV gives scheme %d",
	    (int)env.scheme);
	CHECK(env.iv_len == 12 && memcmp(env.iv, iv, 12) == 0, "IV bytes");

	/* Any other IV length. */
	for (i = 0; i < sizeof(bad_iv) / sizeof(bad_iv[0]); i++) {
		fresh(&env, &err);
		unit_b64enc(iv, bad_iv[i], iv_b64);
		rc = envelope_from_b64(&env, cek_b64, iv_b64, &err);
		CHECK_RC(rc, TFS_ERR_ENVELOPE, "%zu-byte IV", bad_iv[i]);
		CHECK_DETAIL(&err, "%zu-byte IV", bad_iv[i]);
		CHECK(unit_has_ci(err.detail, "iv"), "%zu-byte IV: the detail "
		    "does not name the IV: %s", bad_iv[i], err.detail);
	}
	fresh(&env, &err);
	rc = envelope_from_b64(&env, cek_b64, "", &err);
	CHECK_RC(rc, TFS_ERR_ENVELOPE, "empty IV");
	CHECK_DETAIL(&err, "empty IV");
	fresh(&env, &err);
	rc = envelope_from_b64(&env, cek_b64, "AAAA*AAAAAAAAAAA", &err);
	CHECK_RC(rc, TFS_ERR_ENVELOPE, "IV with a bad character");
	CHECK_DETAIL(&err, "bad IV base64");
	CHECK(unit_has_ci(err.detail, "iv"), "bad IV base64: detail: %s",
	    err.detail);

	/* Bad CEKs. */
	unit_b64enc(iv, 16, iv_b64);
	fresh(&env, &err);
	rc = envelope_from_b64(&env, "", iv_b64, &err);
	CHECK_RC(rc, TFS_ERR_ENVELOPE, "empty CEK");
	CHECK_DETAIL(&err, "empty CEK");
	CHECK(unit_has_ci(err.detail, "cek") || unit_has_ci(err.detail, "key"),
	    "empty CEK: the detail does not name the key: %s", err.detail);
	fresh(&env, &err);
	rc = envelope_from_b64(&env, "not base64!", iv_b64, &err);
	CHECK_RC(rc, TFS_ERR_ENVELOPE, "CEK with bad characters");
	CHECK_DETAIL(&err, "bad CEK");
	CHECK(unit_has_ci(err.detail, "cek") || unit_has_ci(err.detail, "key"),
	    "bad CEK: the detail does not name the key: %s", err.detail);
	/* Size limit: one RSA-8192 block fits, one byte more does not. */
	fresh(&env, &err);
	unit_b64enc(cek, ENVELOPE_MAX_WRAPPED, cek_b64);
	rc = envelope_from_b64(&env, cek_b64, iv_b64, &err);
	CHECK(rc == TFS_OK && env.wrapped_cek_len == ENVELOPE_MAX_WRAPPED &&
	    memcmp(env.wrapped_cek, cek, ENVELOPE_MAX_WRAPPED) == 0,
	    "a %d-byte CEK: %s", ENVELOPE_MAX_WRAPPED, unit_rcname(rc));
	fresh(&env, &err);
	unit_b64enc(cek, ENVELOPE_MAX_WRAPPED + 1, cek_b64);
	rc = envelope_from_b64(&env, cek_b64, iv_b64, &err);
	CHECK_RC(rc, TFS_ERR_ENVELOPE, "a %d-byte CEK",
	    ENVELOPE_MAX_WRAPPED + 1);
	CHECK_DETAIL(&err, "CEK too long");
	/* A NULL err is allowed everywhere. */
	fresh(&env, &err);
	rc = envelope_from_b64(&env, "", iv_b64, NULL);
	CHECK_RC(rc, TFS_ERR_ENVELOPE, "empty CEK, err NULL");
}

static void
test_sid(void)
{
	static const char *bad[] = {
		"", "CR", "CR" SID_HEX "0", "CR0123456789abcdef0123456789abcde",
		"cr" SID_HEX, "RT" SID_HEX,
		"CR0123456789abcdef0123456789abcdeg",
		"CRXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX", " CR" SID_HEX,
		"CR" SID_HEX " ", "CR" SID_HEX "\n",
		"CR0123456789abcdef 123456789abcdef",
		"CR-123456789abcdef0123456789abcdef",
	};
	struct envelope env;
	struct tfs_error err;
	size_t i;
	int rc;

	CHECK(envelope_is_public_key_sid("CR" SID_HEX), "valid SID refused");
	CHECK(envelope_is_public_key_sid(SEED_CB_SID), "%s refused",
	    SEED_CB_SID);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CHECK(!envelope_is_public_key_sid(bad[i]), "\"%s\" taken as a "
		    "Public Key SID", bad[i]);
	fresh(&env, &err);
	rc = envelope_set_public_key_sid(&env, SEED_CB_SID, &err);
	CHECK(rc == TFS_OK && strcmp(env.public_key_sid, SEED_CB_SID) == 0,
	    "set a valid SID: %s", unit_rcname(rc));
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		fresh(&env, &err);
		rc = envelope_set_public_key_sid(&env, bad[i], &err);
		CHECK(rc < 0, "set \"%s\" accepted", bad[i]);
		CHECK(strcmp(env.public_key_sid, bad[i]) != 0 ||
		    bad[i][0] == '\0', "set \"%s\" stored it", bad[i]);
		if (rc < 0)
			CHECK_DETAIL(&err, "set SID \"%s\"", bad[i]);
	}
}

/* ----------------------------------------------------------------- */
/* Header dumps */

struct hcase {
	const char *name;
	const char *text;
	int rc;			/* expected */
	int scheme;
	long long plain;	/* expected plaintext_size */
	long long cipher;	/* expected ciphertext_size; -2: not 100 */
	const char *key;	/* base64 of the expected wrapped key */
	const char *iv;
};

#define K16 "AAECAwQFBgcICQoLDA0ODw=="	/* bytes 0..15 */
#define OLDKEY "b2xkIGtleSBmcm9tIHRoZSByZWRpcmVjdA=="
#define OLDIV "ZmZmZmZmZmZmZmZmZmZmZg=="	/* 16 x 'f' */
#define GIV "AQIDBAUGBwgJCgsM"		/* 12 bytes */

static const struct hcase hcases[] = {
	{ "seed wget -S dump",
	  "Resolving documentation-example-twilio-bucket.s3.amazonaws.com"
	  "... 52.216.64.96\n"
	  "Connecting to documentation-example-twilio-bucket.s3.amazonaws.com"
	  "|52.216.64.96|:443... connected.\n"
	  "HTTP request sent, awaiting response...\n"
	  "  HTTP/1.1 200 OK\n"
	  "  x-amz-id-2: 8x0XN6KDeLuhHLIe8fa58OdD3+xVyNgv2og/gpMOFpSqWc5JGV+"
	  "aDpc7fJSCS9yGkwRtey+9lk8=\n"
	  "  x-amz-request-id: 5B3FBF0985E71EEC\n"
	  "  Date: Fri, 24 Nov 2017 14:11:30 GMT\n"
	  "  Last-Modified: Thu, 23 Nov 2017 16:47:17 GMT\n"
	  "  ETag: \"d9e5869fc33019fc7fb055c0b705e105\"\n"
	  "  x-amz-meta-x-amz-key: " SEED_KEY "\n"
	  "  x-amz-meta-x-amz-unencrypted-content-length: 746518\n"
	  "  x-amz-meta-x-amz-matdesc: {}\n"
	  "  x-amz-meta-x-amz-iv: " SEED_IV "\n"
	  "  Accept-Ranges: bytes\n"
	  "  Content-Type: application/octet-stream\n"
	  "  Content-Length: 746528\n"
	  "  Server: AmazonS3\n"
	  "Length: 746528 (729K) [application/octet-stream]\n"
	  "Saving to: 'encrypted-filename'\n\n"
	  "encrypted-filename  100%[=====>] 729.03K   789KB/s    in 0.9s\n\n"
	  "2017-11-24 15:11:33 (789 KB/s) - 'encrypted-filename' saved "
	  "[746528/746528]\n",
	  TFS_OK, ENVELOPE_CBC, 746518, 746528, SEED_KEY, SEED_IV },
	{ "curl -D, CRLF",
	  "HTTP/1.1 200 OK\r\n"
	  "x-amz-meta-x-amz-key: " SEED_KEY "\r\n"
	  "x-amz-meta-x-amz-iv: " SEED_IV "\r\n"
	  "x-amz-meta-x-amz-unencrypted-content-length: 746518\r\n"
	  "x-amz-meta-x-amz-matdesc: {}\r\n"
	  "Content-Length: 746528\r\n\r\n",
	  TFS_OK, ENVELOPE_CBC, 746518, 746528, SEED_KEY, SEED_IV },
	{ "curl -D, LF, no final blank line",
	  "HTTP/1.1 200 OK\n"
	  "x-amz-meta-x-amz-iv: " SEED_IV "\n"
	  "Content-Length: 746528\n"
	  "x-amz-meta-x-amz-key: " SEED_KEY,
	  TFS_OK, ENVELOPE_CBC, -1, 746528, SEED_KEY, SEED_IV },
	{ "mixed-case names, no space after the colon, trailing blanks",
	  "HTTP/1.1 200 OK\r\n"
	  "X-Amz-Meta-X-Amz-Key:" SEED_KEY "  \r\n"
	  "X-AMZ-META-X-AMZ-IV: \t" SEED_IV "\t\r\n"
	  "x-Amz-Meta-x-Amz-Unencrypted-Content-Length: 746518 \r\n"
	  "CONTENT-LENGTH: 746528\r\n\r\n",
	  TFS_OK, ENVELOPE_CBC, 746518, 746528, SEED_KEY, SEED_IV },
	{ "HTTP/2, lower case",
	  "HTTP/2 200 \r\n"
	  "content-length: 1040\r\n"
	  "x-amz-meta-x-amz-key: " SEED_KEY "\r\n"
	  "x-amz-meta-x-amz-iv: " GIV "\r\n\r\n",
	  TFS_OK, ENVELOPE_GCM, -1, 1040, SEED_KEY, GIV },
	{ "302 then 200: the last response counts",
	  "HTTP/1.1 302 Found\r\n"
	  "Location: https://example.invalid/object\r\n"
	  "Content-Length: 77\r\n"
	  "x-amz-meta-x-amz-key: " OLDKEY "\r\n"
	  "x-amz-meta-x-amz-iv: " OLDIV "\r\n"
	  "x-amz-meta-x-amz-unencrypted-content-length: 5\r\n\r\n"
	  "HTTP/1.1 200 OK\r\n"
	  "x-amz-meta-x-amz-key: " SEED_KEY "\r\n"
	  "x-amz-meta-x-amz-iv: " SEED_IV "\r\n"
	  "x-amz-meta-x-amz-unencrypted-content-length: 746518\r\n"
	  "Content-Length: 746528\r\n\r\n",
	  TFS_OK, ENVELOPE_CBC, 746518, 746528, SEED_KEY, SEED_IV },
	{ "302 with Content-Length, then 200 without",
	  "HTTP/1.1 302 Found\r\n"
	  "Location: https://example.invalid/object\r\n"
	  "Content-Length: 77\r\n\r\n"
	  "HTTP/1.1 200 OK\r\n"
	  "x-amz-meta-x-amz-key: " SEED_KEY "\r\n"
	  "x-amz-meta-x-amz-iv: " SEED_IV "\r\n"
	  "x-amz-meta-x-amz-unencrypted-content-length: 746518\r\n\r\n",
	  TFS_OK, ENVELOPE_CBC, 746518, -1, SEED_KEY, SEED_IV },
	{ "wget -S, 302 then 200",
	  "HTTP request sent, awaiting response...\n"
	  "  HTTP/1.1 302 Found\n"
	  "  Content-Length: 12\n"
	  "  Location: https://example.invalid/o\n"
	  "Location: https://example.invalid/o [following]\n"
	  "--2017-11-24 15:11:32--  https://example.invalid/o\n"
	  "HTTP request sent, awaiting response...\n"
	  "  HTTP/1.1 200 OK\n"
	  "  x-amz-meta-x-amz-key: " SEED_KEY "\n"
	  "  x-amz-meta-x-amz-iv: " SEED_IV "\n"
	  "  Content-Length: 746528\n"
	  "Length: 746528 (729K) [application/octet-stream]\n",
	  TFS_OK, ENVELOPE_CBC, -1, 746528, SEED_KEY, SEED_IV },
	{ "206: its Content-Length is not the object's size",
	  "HTTP/1.1 206 Partial Content\r\n"
	  "Content-Range: bytes 0-99/746528\r\n"
	  "Content-Length: 100\r\n"
	  "x-amz-meta-x-amz-key: " SEED_KEY "\r\n"
	  "x-amz-meta-x-amz-iv: " SEED_IV "\r\n\r\n",
	  TFS_OK, ENVELOPE_CBC, -1, -2, SEED_KEY, SEED_IV },
	{ "look-alike header names are not the real ones",
	  "HTTP/1.1 200 OK\r\n"
	  "x-amz-meta-x-amz-key-v2: " OLDKEY "\r\n"
	  "x-x-amz-meta-x-amz-iv: " OLDIV "\r\n"
	  "x-amz-meta-x-amz-key: " SEED_KEY "\r\n"
	  "x-amz-meta-x-amz-iv: " SEED_IV "\r\n"
	  "x-amz-meta-x-amz-unencrypted-content-length: 746518\r\n"
	  "x-amz-meta-x-amz-key-v2: " OLDKEY "\r\n"
	  "x-amz-meta-x-amz-iv-v2: " OLDIV "\r\n"
	  "x-amz-meta-x-amz-unencrypted-content-length-v2: 5\r\n"
	  "Content-Length-Range: 5\r\n"
	  "x-content-length: 5\r\n\r\n",
	  TFS_OK, ENVELOPE_CBC, 746518, -1, SEED_KEY, SEED_IV },
	{ "unencrypted length 0",
	  "HTTP/1.1 200 OK\r\n"
	  "x-amz-meta-x-amz-key: " SEED_KEY "\r\n"
	  "x-amz-meta-x-amz-iv: " SEED_IV "\r\n"
	  "x-amz-meta-x-amz-unencrypted-content-length: 0\r\n"
	  "Content-Length: 16\r\n\r\n",
	  TFS_OK, ENVELOPE_CBC, 0, 16, SEED_KEY, SEED_IV },
	{ "Intelligence download: 12-byte IV in the headers",
	  "HTTP/1.1 200 OK\r\n"
	  "Content-Type: application/json\r\n"
	  "x-amz-meta-x-amz-iv: " GIV "\r\n"
	  "x-amz-meta-x-amz-key: " K16 "\r\n"
	  "Content-Length: 12361\r\n\r\n",
	  TFS_OK, ENVELOPE_GCM, -1, 12361, K16, GIV },
	{ "no key header",
	  "HTTP/1.1 200 OK\r\n"
	  "x-amz-meta-x-amz-iv: " SEED_IV "\r\n"
	  "Content-Length: 746528\r\n\r\n",
	  TFS_ERR_ENVELOPE, 0, 0, 0, NULL, NULL },
	{ "no IV header",
	  "HTTP/1.1 200 OK\r\n"
	  "x-amz-meta-x-amz-key: " SEED_KEY "\r\n"
	  "Content-Length: 746528\r\n\r\n",
	  TFS_ERR_ENVELOPE, 0, 0, 0, NULL, NULL },
	{ "empty key header",
	  "HTTP/1.1 200 OK\r\n"
	  "x-amz-meta-x-amz-key: \r\n"
	  "x-amz-meta-x-amz-iv: " SEED_IV "\r\n\r\n",
	  TFS_ERR_ENVELOPE, 0, 0, 0, NULL, NULL },
	{ "key header not base64",
	  "HTTP/1.1 200 OK\r\n"
	  "x-amz-meta-x-amz-key: this is not base64\r\n"
	  "x-amz-meta-x-amz-iv: " SEED_IV "\r\n\r\n",
	  TFS_ERR_ENVELOPE, 0, 0, 0, NULL, NULL },
	{ "8-byte IV",
	  "HTTP/1.1 200 OK\r\n"
	  "x-amz-meta-x-amz-key: " SEED_KEY "\r\n"
	  "x-amz-meta-x-amz-iv: AAECAwQFBgc=\r\n\r\n",
	  TFS_ERR_ENVELOPE, 0, 0, 0, NULL, NULL },
	{ "the envelope only in the redirect, not in the last response",
	  "HTTP/1.1 302 Found\r\n"
	  "x-amz-meta-x-amz-key: " SEED_KEY "\r\n"
	  "x-amz-meta-x-amz-iv: " SEED_IV "\r\n"
	  "Location: https://example.invalid/o\r\n\r\n"
	  "HTTP/1.1 200 OK\r\n"
	  "Content-Length: 746528\r\n\r\n",
	  TFS_ERR_ENVELOPE, 0, 0, 0, NULL, NULL },
	{ "empty text", "", TFS_ERR_ENVELOPE, 0, 0, 0, NULL, NULL },
	{ "not headers at all", "{\"redirect_to\": \"https://x\"}\n",
	  TFS_ERR_ENVELOPE, 0, 0, 0, NULL, NULL },
};

/* Junk unencrypted lengths: never taken as a size. */
static const char *junk_len[] = {
	"12x", "-5", "-0x10", "x12", "1 2", "1.5", "0x10", "",
	"99999999999999999999999", "18446744073709551617",
};

static void
check_header_case(const struct hcase *c)
{
	struct envelope env;
	struct tfs_error err;
	unsigned char want[1100];
	size_t len = strlen(c->text), wlen;
	char *copy;
	int rc;

	/* An exact-size copy without a NUL: the parser must honour len. */
	copy = unit_xmalloc(len);
	memcpy(copy, c->text, len);
	fresh(&env, &err);
	rc = envelope_from_headers(&env, copy, len, &err);
	free(copy);
	if (!CHECK_RC(rc, c->rc, "headers: %s", c->name))
		return;
	if (rc != TFS_OK) {
		CHECK_DETAIL(&err, "headers: %s", c->name);
		return;
	}
	CHECK((int)env.scheme == c->scheme, "headers: %s: scheme %d, want %d",
	    c->name, (int)env.scheme, c->scheme);
	CHECK(env.plaintext_size == c->plain, "headers: %s: plaintext_size "
	    "%lld, want %lld", c->name, env.plaintext_size, c->plain);
	if (c->cipher == -2)
		CHECK(env.ciphertext_size != 100, "headers: %s: "
		    "ciphertext_size taken from a 206", c->name);
	else
		CHECK(env.ciphertext_size == c->cipher, "headers: %s: "
		    "ciphertext_size %lld, want %lld", c->name,
		    env.ciphertext_size, c->cipher);
	if (fx_b64(c->key, want, sizeof(want), &wlen) == 0)
		CHECK(env.wrapped_cek_len == wlen &&
		    memcmp(env.wrapped_cek, want, wlen) == 0,
		    "headers: %s: wrapped key differs (%zu bytes, want %zu)",
		    c->name, env.wrapped_cek_len, wlen);
	if (fx_b64(c->iv, want, sizeof(want), &wlen) == 0)
		CHECK(env.iv_len == wlen && memcmp(env.iv, want, wlen) == 0,
		    "headers: %s: IV differs", c->name);
	CHECK(env.public_key_sid[0] == '\0', "headers: %s: a SID appeared",
	    c->name);
}

static void
test_headers(void)
{
	struct envelope env;
	struct tfs_error err;
	char text[2048];
	size_t i;
	int rc, n;

	for (i = 0; i < sizeof(hcases) / sizeof(hcases[0]); i++)
		check_header_case(&hcases[i]);

	for (i = 0; i < sizeof(junk_len) / sizeof(junk_len[0]); i++) {
		/* Junk unencrypted length: refused, or at least not used. */
		n = snprintf(text, sizeof(text), "HTTP/1.1 200 OK\r\n"
		    "x-amz-meta-x-amz-key: %s\r\n"
		    "x-amz-meta-x-amz-iv: %s\r\n"
		    "x-amz-meta-x-amz-unencrypted-content-length: %s\r\n"
		    "Content-Length: 746528\r\n\r\n", SEED_KEY, SEED_IV,
		    junk_len[i]);
		fresh(&env, &err);
		rc = envelope_from_headers(&env, text, (size_t)n, &err);
		if (rc == TFS_OK) {
			CHECK(env.plaintext_size == -1, "unencrypted length "
			    "\"%s\" taken as %lld", junk_len[i],
			    env.plaintext_size);
		} else {
			CHECK_RC(rc, TFS_ERR_ENVELOPE, "unencrypted length "
			    "\"%s\"", junk_len[i]);
			CHECK_DETAIL(&err, "length \"%s\"", junk_len[i]);
		}
		/* Junk Content-Length: refused, or at least not used. */
		n = snprintf(text, sizeof(text), "HTTP/1.1 200 OK\r\n"
		    "x-amz-meta-x-amz-key: %s\r\n"
		    "x-amz-meta-x-amz-iv: %s\r\n"
		    "x-amz-meta-x-amz-unencrypted-content-length: 746518\r\n"
		    "Content-Length: %s\r\n\r\n", SEED_KEY, SEED_IV,
		    junk_len[i]);
		fresh(&env, &err);
		rc = envelope_from_headers(&env, text, (size_t)n, &err);
		if (rc == TFS_OK) {
			CHECK(env.ciphertext_size == -1, "Content-Length "
			    "\"%s\" taken as %lld", junk_len[i],
			    env.ciphertext_size);
		} else {
			CHECK_RC(rc, TFS_ERR_ENVELOPE, "Content-Length "
			    "\"%s\"", junk_len[i]);
			CHECK_DETAIL(&err, "Content-Length \"%s\"",
			    junk_len[i]);
		}
	}

	/* len shorter than the text: what lies beyond is not read. */
	n = snprintf(text, sizeof(text), "HTTP/1.1 200 OK\r\n"
	    "x-amz-meta-x-amz-key: %s\r\n"
	    "x-amz-meta-x-amz-iv: %s\r\n\r\n", SEED_KEY, SEED_IV);
	fresh(&env, &err);
	(void)snprintf(text + n, sizeof(text) - (size_t)n,
	    "HTTP/1.1 200 OK\r\nx-amz-meta-x-amz-key: " OLDKEY "\r\n"
	    "x-amz-meta-x-amz-iv: " OLDIV "\r\n"
	    "Content-Length: 5\r\n\r\n");
	rc = envelope_from_headers(&env, text, (size_t)n, &err);
	CHECK(rc == TFS_OK && env.iv_len == 16 && env.iv[0] == 0x12 &&
	    env.ciphertext_size == -1, "bytes past len were read (%s)",
	    unit_rcname(rc));
	/* Nothing at all. */
	fresh(&env, &err);
	rc = envelope_from_headers(&env, text, 0, &err);
	CHECK_RC(rc, TFS_ERR_ENVELOPE, "len 0");
}

/* ----------------------------------------------------------------- */
/* encryption_details JSON */

#define D_A "{\"type\":\"rsa-aes\",\"public_key_sid\":\"" SEED_CB_SID "\"," \
	"\"encrypted_cek\":\"" SEED_CB_CEK "\",\"iv\":\"" SEED_CB_IV "\"}"

struct dcase {
	const char *name;
	const char *json;
	int rc;
	const char *sid;	/* expected SID, NULL: "" or refused */
};

static const struct dcase dcases[] = {
	{ "docs table spelling", D_A, TFS_OK, SEED_CB_SID },
	{ "docs GET example spelling (encryption_cek, iv)",
	  "{\n  \"type\": \"rsa-aes\",\n"
	  "  \"encryption_public_key_sid\": \"" SEED_CB_SID "\",\n"
	  "  \"encryption_cek\": \"" SEED_CB_CEK "\",\n"
	  "  \"iv\": \"" SEED_CB_IV "\"\n}\n", TFS_OK, SEED_CB_SID },
	{ "OAI spelling, no type",
	  "{\"encryption_public_key_sid\":\"" SEED_CB_SID "\","
	  "\"encryption_cek\":\"" SEED_CB_CEK "\","
	  "\"encryption_iv\":\"" SEED_CB_IV "\"}", TFS_OK, SEED_CB_SID },
	{ "keys in another order, other members around",
	  "{\"iv\":\"" SEED_CB_IV "\",\"extra\":{\"iv\":\"AAAA\"},"
	  "\"encrypted_cek\":\"" SEED_CB_CEK "\",\"n\":[1,2,{}],"
	  "\"public_key_sid\":\"" SEED_CB_SID "\",\"type\":\"rsa-aes\"}",
	  TFS_OK, SEED_CB_SID },
	{ "callback JSON string form",
	  "\"{\\\"type\\\":\\\"rsa-aes\\\",\\\"public_key_sid\\\":\\\""
	  SEED_CB_SID "\\\",\\\"encrypted_cek\\\":\\\"" SEED_CB_CEK
	  "\\\",\\\"iv\\\":\\\"" SEED_CB_IV "\\\"}\"", TFS_OK, SEED_CB_SID },
	{ "callback JSON string form with blanks around",
	  "  \"{\\\"type\\\": \\\"rsa-aes\\\", \\\"public_key_sid\\\": \\\""
	  SEED_CB_SID "\\\", \\\"encrypted_cek\\\": \\\"" SEED_CB_CEK
	  "\\\", \\\"iv\\\": \\\"" SEED_CB_IV "\\\"}\"\n", TFS_OK,
	  SEED_CB_SID },
	{ "whole Recording resource",
	  "{\"account_sid\":\"AC" SID_HEX "\",\"api_version\":\"2010-04-01\","
	  "\"call_sid\":\"CA" SID_HEX "\",\"conference_sid\":null,"
	  "\"date_created\":\"Fri, 14 Oct 2016 21:56:34 +0000\","
	  "\"duration\":\"4\",\"sid\":\"RE" SID_HEX "\",\"price\":null,"
	  "\"status\":\"completed\",\"channels\":1,\"error_code\":null,"
	  "\"subresource_uris\":{\"add_on_results\":\"/x/AddOnResults.json\","
	  "\"transcriptions\":\"/x/Transcriptions.json\"},"
	  "\"encryption_details\":" D_A ","
	  "\"media_url\":\"https://api.twilio.com/2010-04-01/Accounts/AC"
	  SID_HEX "/Recordings/RE" SID_HEX "\"}", TFS_OK, SEED_CB_SID },
	{ "escaped slashes in the CEK (\\/)", NULL, TFS_OK, SEED_CB_SID },
	{ "malformed SID: refused or dropped, never kept",
	  "{\"type\":\"rsa-aes\",\"public_key_sid\":"
	  "\"CRXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX\","
	  "\"encrypted_cek\":\"" SEED_CB_CEK "\",\"iv\":\"" SEED_CB_IV "\"}",
	  1, NULL },
	{ "encryption_details: null",
	  "{\"sid\":\"RE" SID_HEX "\",\"status\":\"completed\","
	  "\"encryption_details\":null}", TFS_ERR_ENVELOPE, NULL },
	{ "bare null", "null", TFS_ERR_ENVELOPE, NULL },
	{ "a Recording without encryption_details",
	  "{\"sid\":\"RE" SID_HEX "\",\"status\":\"completed\"}",
	  TFS_ERR_ENVELOPE, NULL },
	{ "type aes-gcm",
	  "{\"type\":\"aes-gcm\",\"public_key_sid\":\"" SEED_CB_SID "\","
	  "\"encrypted_cek\":\"" SEED_CB_CEK "\",\"iv\":\"" SEED_CB_IV "\"}",
	  TFS_ERR_ENVELOPE, NULL },
	{ "type RSA-AES-ish",
	  "{\"type\":\"rsa-aes-2\",\"encrypted_cek\":\"" SEED_CB_CEK "\","
	  "\"iv\":\"" SEED_CB_IV "\"}", TFS_ERR_ENVELOPE, NULL },
	{ "type not a string",
	  "{\"type\":1,\"encrypted_cek\":\"" SEED_CB_CEK "\","
	  "\"iv\":\"" SEED_CB_IV "\"}", TFS_ERR_ENVELOPE, NULL },
	{ "no CEK",
	  "{\"type\":\"rsa-aes\",\"iv\":\"" SEED_CB_IV "\"}",
	  TFS_ERR_ENVELOPE, NULL },
	{ "no IV",
	  "{\"type\":\"rsa-aes\",\"encrypted_cek\":\"" SEED_CB_CEK "\"}",
	  TFS_ERR_ENVELOPE, NULL },
	{ "CEK not base64",
	  "{\"encrypted_cek\":\"not base64 at all\",\"iv\":\"" SEED_CB_IV
	  "\"}", TFS_ERR_ENVELOPE, NULL },
	{ "CEK a number",
	  "{\"encrypted_cek\":12345,\"iv\":\"" SEED_CB_IV "\"}",
	  TFS_ERR_ENVELOPE, NULL },
	{ "CEK a number that reads as base64",
	  "{\"encrypted_cek\":12345678,\"iv\":\"" SEED_CB_IV "\"}",
	  TFS_ERR_ENVELOPE, NULL },
	{ "IV a number that reads as base64 of 12 bytes",
	  "{\"encrypted_cek\":\"" SEED_CB_CEK "\",\"iv\":1234567890123456}",
	  TFS_ERR_ENVELOPE, NULL },
	{ "CEK an object",
	  "{\"encrypted_cek\":{\"a\":\"" SEED_CB_IV "\"},\"iv\":\""
	  SEED_CB_IV "\"}", TFS_ERR_ENVELOPE, NULL },
	{ "IV of 10 bytes",
	  "{\"encrypted_cek\":\"" SEED_CB_CEK "\",\"iv\":\"AAECAwQFBgcICQ==\"}",
	  TFS_ERR_ENVELOPE, NULL },
	{ "IV empty",
	  "{\"encrypted_cek\":\"" SEED_CB_CEK "\",\"iv\":\"\"}",
	  TFS_ERR_ENVELOPE, NULL },
	{ "empty text", "", TFS_ERR_ENVELOPE, NULL },
	{ "blank text", " \n", TFS_ERR_ENVELOPE, NULL },
	{ "unterminated object", "{\"encrypted_cek\":\"" SEED_CB_CEK "\"",
	  TFS_ERR_ENVELOPE, NULL },
	{ "trailing garbage", D_A " x", TFS_ERR_ENVELOPE, NULL },
	{ "single quotes", "{'encrypted_cek':'" SEED_CB_CEK "','iv':'"
	  SEED_CB_IV "'}", TFS_ERR_ENVELOPE, NULL },
	{ "an array", "[" D_A "]", TFS_ERR_ENVELOPE, NULL },
	{ "a number", "42", TFS_ERR_ENVELOPE, NULL },
	{ "a JSON string that is not an object", "\"rsa-aes\"",
	  TFS_ERR_ENVELOPE, NULL },
	{ "form-encoded, not JSON",
	  "EncryptionDetails=%7B%22type%22%3A%22rsa-aes%22%7D",
	  TFS_ERR_ENVELOPE, NULL },
};

/* SEED_CB_CEK with every '/' written as "\/", in a details object. */
static char *
escaped_slash_json(void)
{
	const char *cek = SEED_CB_CEK, *p;
	size_t cap = strlen(D_A) + strlen(cek) + 64, n;
	char *s;

	s = unit_xmalloc(cap);
	n = (size_t)snprintf(s, cap, "{\"type\":\"rsa-aes\","
	    "\"public_key_sid\":\"%s\",\"encrypted_cek\":\"", SEED_CB_SID);
	for (p = cek; *p != '\0'; p++) {
		if (*p == '/')
			s[n++] = '\\';
		s[n++] = *p;
	}
	(void)snprintf(s + n, cap - n, "\",\"iv\":\"%s\"}", SEED_CB_IV);
	return s;
}

static void
test_details(void)
{
	struct envelope env;
	struct tfs_error err;
	unsigned char cek[512], iv[16];
	size_t cek_len, iv_len, i;
	const char *json;
	char *esc;
	int rc;

	if (fx_b64(SEED_CB_CEK, cek, sizeof(cek), &cek_len) != 0 ||
	    fx_b64(SEED_CB_IV, iv, sizeof(iv), &iv_len) != 0)
		exit(99);
	esc = escaped_slash_json();
	CHECK(strstr(esc, "\\/") != NULL, "the seed CEK has no '/'");
	for (i = 0; i < sizeof(dcases) / sizeof(dcases[0]); i++) {
		json = dcases[i].json != NULL ? dcases[i].json : esc;
		fresh(&env, &err);
		rc = envelope_from_details(&env, json, &err);
		if (dcases[i].rc == 1) {	/* either refused or dropped */
			if (rc != TFS_OK) {
				CHECK_RC(rc, TFS_ERR_ENVELOPE, "details: %s",
				    dcases[i].name);
				CHECK_DETAIL(&err, "details: %s",
				    dcases[i].name);
			} else {
				CHECK(env.public_key_sid[0] == '\0',
				    "details: %s: SID \"%s\" kept",
				    dcases[i].name, env.public_key_sid);
			}
			continue;
		}
		if (!CHECK_RC(rc, dcases[i].rc, "details: %s",
		    dcases[i].name))
			continue;
		if (rc != TFS_OK) {
			CHECK_DETAIL(&err, "details: %s", dcases[i].name);
			continue;
		}
		CHECK(env.scheme == ENVELOPE_GCM, "details: %s: scheme %d",
		    dcases[i].name, (int)env.scheme);
		CHECK(env.wrapped_cek_len == cek_len && memcmp(env.wrapped_cek,
		    cek, cek_len) == 0, "details: %s: CEK differs (%zu bytes)",
		    dcases[i].name, env.wrapped_cek_len);
		CHECK(env.iv_len == iv_len && memcmp(env.iv, iv, iv_len) == 0,
		    "details: %s: IV differs", dcases[i].name);
		CHECK(strcmp(env.public_key_sid, dcases[i].sid) == 0,
		    "details: %s: SID \"%s\"", dcases[i].name,
		    env.public_key_sid);
	}
	free(esc);
	/* encryption_details: null says what is going on. */
	fresh(&env, &err);
	rc = envelope_from_details(&env, "{\"encryption_details\":null}",
	    &err);
	CHECK(rc == TFS_ERR_ENVELOPE &&
	    (unit_has_ci(err.detail, "not encrypted")
	    || unit_has_ci(err.detail, "null")), "encryption_details null: %s: "
	    "detail \"%s\" does not say the recording is not encrypted",
	    unit_rcname(rc), err.detail);
	/* A NULL err is allowed. */
	fresh(&env, &err);
	rc = envelope_from_details(&env, "{", NULL);
	CHECK_RC(rc, TFS_ERR_ENVELOPE, "invalid JSON with err NULL");
	/* A huge JSON document is refused or parsed, never a crash. */
	{
		size_t big = 4u << 20, cap = big + sizeof(D_A) + 64, k;
		char *s = unit_xmalloc(cap);

		k = (size_t)snprintf(s, cap, "{\"pad\":\"");
		memset(s + k, 'a', big);
		(void)snprintf(s + k + big, cap - k - big, "\",%s", D_A + 1);
		fresh(&env, &err);
		rc = envelope_from_details(&env, s, &err);
		CHECK(rc == TFS_OK || rc == TFS_ERR_ENVELOPE, "4 MiB "
		    "details: %s", unit_rcname(rc));
		free(s);
	}
}

/* ----------------------------------------------------------------- */
/* Fixtures: every .headers and .details against its .meta */

static void
test_fixtures(const char *fx)
{
	struct fx_vector v;
	struct envelope env;
	struct tfs_error err;
	size_t i, plain_len, nh = 0, nd = 0;
	long long want_plain;
	int rc;

	for (i = 0; i < FX_NVEC; i++) {
		if (!CHECK(fx_vector_load(fx, i, 1, &v) == 0,
		    "fixtures: vector %s", fx_all[i].name))
			continue;
		plain_len = v.plain_len;
		CHECK(v.headers != NULL || v.details != NULL, "%s has neither "
		    ".headers nor .details", v.name);
		if (v.headers != NULL) {
			nh++;
			fresh(&env, &err);
			rc = envelope_from_headers(&env, v.headers,
			    v.headers_len, &err);
			CHECK_RC(rc, TFS_OK, "%s.headers: %s", v.name,
			    err.detail);
			CHECK(env.scheme == (v.gcm ? ENVELOPE_GCM :
			    ENVELOPE_CBC), "%s.headers: scheme %d", v.name,
			    (int)env.scheme);
			CHECK(env.wrapped_cek_len == v.wrapped_len &&
			    memcmp(env.wrapped_cek, v.wrapped,
			    v.wrapped_len) == 0, "%s.headers: wrapped key",
			    v.name);
			CHECK(env.iv_len == v.iv_len && memcmp(env.iv, v.iv,
			    v.iv_len) == 0, "%s.headers: IV", v.name);
			/* Known exactly when the header is there. */
			want_plain = unit_has_ci(v.headers,
			    "x-amz-unencrypted-content-length:") ?
			    (long long)plain_len : -1;
			CHECK(env.plaintext_size == want_plain, "%s.headers: "
			    "plaintext_size %lld, want %lld", v.name,
			    env.plaintext_size, want_plain);
			CHECK(env.ciphertext_size == -1 ||
			    env.ciphertext_size == (long long)v.enc_len,
			    "%s.headers: ciphertext_size %lld, want %zu",
			    v.name, env.ciphertext_size, v.enc_len);
		}
		if (v.details != NULL) {
			nd++;
			fresh(&env, &err);
			rc = envelope_from_details(&env, v.details, &err);
			CHECK_RC(rc, TFS_OK, "%s.details: %s", v.name,
			    err.detail);
			CHECK(env.scheme == ENVELOPE_GCM, "%s.details: scheme "
			    "%d", v.name, (int)env.scheme);
			CHECK(env.wrapped_cek_len == v.wrapped_len &&
			    memcmp(env.wrapped_cek, v.wrapped,
			    v.wrapped_len) == 0, "%s.details: wrapped key",
			    v.name);
			CHECK(env.iv_len == v.iv_len && memcmp(env.iv, v.iv,
			    v.iv_len) == 0, "%s.details: IV", v.name);
			CHECK(strcmp(env.public_key_sid, v.sid) == 0,
			    "%s.details: SID \"%s\", want %s", v.name,
			    env.public_key_sid, v.sid);
		}
		/* The .meta base64 values through envelope_from_b64. */
		fresh(&env, &err);
		rc = envelope_from_b64(&env, v.wrapped_b64, v.iv_b64, &err);
		CHECK(rc == TFS_OK && env.scheme == (v.gcm ? ENVELOPE_GCM :
		    ENVELOPE_CBC) && env.wrapped_cek_len == v.wrapped_len,
		    "%s: from_b64 of the .meta values: %s", v.name,
		    unit_rcname(rc));
		fx_vector_free(&v);
	}
	CHECK(nh >= 8 && nd >= 5, "fixtures: %zu .headers, %zu .details",
	    nh, nd);
}

int
main(void)
{
	const char *fx;

	unit_begin("test_envelope");
	test_init();
	test_b64();
	test_from_b64();
	test_sid();
	test_headers();
	test_details();
	fx = unit_fixtures();
	if (fx == NULL)
		unit_skip_part("TFS_FIXTURES is not set: the fixtures' "
		    ".headers and .details were not parsed");
	else
		test_fixtures(fx);
	return unit_done();
}
