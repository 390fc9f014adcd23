/* SPDX-License-Identifier: MIT */
/* envelope.c - parse encryption envelopes from any source into one struct. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <sqlite3.h>

#include "twiliofs/envelope.h"

/* Longest base64 text we accept for a wrapped key (RSA-8192 plus slack). */
#define B64_TEXT_MAX 2048
/* Longest JSON text we parse: an encryption_details object or a Recording. */
#define JSON_TEXT_MAX (1024 * 1024)

void
envelope_init(struct envelope *env)
{
	memset(env, 0, sizeof(*env));
	env->scheme = ENVELOPE_NONE;
	env->plaintext_size = -1;
	env->ciphertext_size = -1;
}

int
envelope_is_public_key_sid(const char *s)
{
	size_t i;

	if (s == NULL || s[0] != 'C' || s[1] != 'R')
		return 0;
	for (i = 2; i < ENVELOPE_SID_LEN; i++)
		if (!isxdigit((unsigned char)s[i]))
			return 0;
	return s[ENVELOPE_SID_LEN] == '\0';
}

int
envelope_set_public_key_sid(struct envelope *env, const char *sid,
    struct tfs_error *err)
{
	if (!envelope_is_public_key_sid(sid))
		return tfs_error_set(err, TFS_ERR_ENVELOPE,
		    "public key SID '%.40s' is not CR followed by 32 hex "
		    "digits; copy it from the Public Key resource", sid);
	memcpy(env->public_key_sid, sid, ENVELOPE_SID_LEN + 1);
	return TFS_OK;
}

static int
b64_value(int c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

int
envelope_b64_decode(const char *src, unsigned char *out, size_t cap,
    size_t *out_len)
{
	const char *end;
	size_t n, pad = 0, o = 0, i;
	unsigned long acc = 0;
	int bits = 0, v;

	/* Surrounding white space is forgiven (pasted values); inner is not. */
	while (isspace((unsigned char)*src))
		src++;
	end = src + strlen(src);
	while (end > src && isspace((unsigned char)end[-1]))
		end--;
	while (end > src && end[-1] == '=' && pad < 2) {
		end--;
		pad++;
	}
	n = (size_t)(end - src);
	if (n == 0 || n % 4 == 1 || (pad > 0 && (n + pad) % 4 != 0))
		return TFS_ERR_ENVELOPE;
	for (i = 0; i < n; i++) {
		v = b64_value((unsigned char)src[i]);
		if (v < 0)
			return TFS_ERR_ENVELOPE;
		acc = (acc << 6) | (unsigned long)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			if (o >= cap)
				return TFS_ERR_ENVELOPE;
			out[o++] = (unsigned char)(acc >> bits);
			acc &= (1UL << bits) - 1;
		}
	}
	*out_len = o;
	return TFS_OK;
}

/* Decode cek_b64 and iv_b64 into env and derive the scheme. */
static int
set_from_b64(struct envelope *env, const char *cek_b64, const char *iv_b64,
    const char *cek_name, const char *iv_name, struct tfs_error *err)
{
	unsigned char iv[sizeof(env->iv) + 1];
	size_t iv_len;

	if (envelope_b64_decode(cek_b64, env->wrapped_cek,
	    sizeof(env->wrapped_cek), &env->wrapped_cek_len) != TFS_OK)
		return tfs_error_set(err, TFS_ERR_ENVELOPE,
		    "%s is not valid base64 of a wrapped key (at most %d "
		    "bytes); copy it again without changes", cek_name,
		    ENVELOPE_MAX_WRAPPED);
	if (envelope_b64_decode(iv_b64, iv, sizeof(iv), &iv_len) != TFS_OK)
		return tfs_error_set(err, TFS_ERR_ENVELOPE,
		    "%s is not valid base64 of a 12- or 16-byte IV; copy it "
		    "again without changes", iv_name);
	if (iv_len == 16)
		env->scheme = ENVELOPE_CBC;
	else if (iv_len == 12)
		env->scheme = ENVELOPE_GCM;
	else
		return tfs_error_set(err, TFS_ERR_ENVELOPE,
		    "%s decodes to %zu bytes; expected 16 (AES-CBC) or 12 "
		    "(AES-GCM)", iv_name, iv_len);
	memcpy(env->iv, iv, iv_len);
	env->iv_len = iv_len;
	return TFS_OK;
}

int
envelope_from_b64(struct envelope *env, const char *cek_b64,
    const char *iv_b64, struct tfs_error *err)
{
	return set_from_b64(env, cek_b64, iv_b64, "--cek", "--iv", err);
}

/* --- HTTP header dumps --- */

/* One response's worth of the headers we care about. */
struct header_set {
	int status;			/* 0: no status line seen */
	char key[B64_TEXT_MAX + 1];
	char iv[64];
	char plain_len[32];
	char content_len[32];
	int key_too_long;
};

/* Copy value into dst (capacity cap); remember if it did not fit. */
static int
copy_value(char *dst, size_t cap, const char *v, size_t vlen)
{
	if (vlen >= cap)
		return -1;
	memcpy(dst, v, vlen);
	dst[vlen] = '\0';
	return 0;
}

/* Parse a non-negative decimal that fits in long long; -1 if malformed. */
static long long
parse_size(const char *s)
{
	char *end;
	long long v;

	if (!isdigit((unsigned char)s[0]))
		return -1;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno != 0 || *end != '\0')
		return -1;
	return v;
}

/* The status code of "HTTP/1.1 200 OK": three digits, or 0. */
static int
parse_status(const char *s, size_t len)
{
	if (len < 3 || !isdigit((unsigned char)s[0]) ||
	    !isdigit((unsigned char)s[1]) || !isdigit((unsigned char)s[2]))
		return 0;
	if (len > 3 && s[3] != ' ' && s[3] != '\r')
		return 0;
	return (s[0] - '0') * 100 + (s[1] - '0') * 10 + (s[2] - '0');
}

static void
header_line(struct header_set *h, const char *line, size_t len)
{
	const char *colon, *v, *vend, *nend;
	size_t nlen;

	while (len > 0 && (*line == ' ' || *line == '\t')) {
		line++;
		len--;
	}
	if (len >= 5 && strncasecmp(line, "HTTP/", 5) == 0) {
		/* A new response: only the last describes the body. */
		memset(h, 0, sizeof(*h));
		v = memchr(line, ' ', len);
		if (v != NULL)
			h->status = parse_status(v + 1,
			    (size_t)(line + len - (v + 1)));
		return;
	}
	colon = memchr(line, ':', len);
	if (colon == NULL)
		return;
	nend = colon;
	while (nend > line && (nend[-1] == ' ' || nend[-1] == '\t'))
		nend--;
	nlen = (size_t)(nend - line);
	v = colon + 1;
	vend = line + len;
	while (v < vend && (*v == ' ' || *v == '\t'))
		v++;
	while (vend > v && (vend[-1] == ' ' || vend[-1] == '\t'))
		vend--;

#define NAME_IS(s) (nlen == sizeof(s) - 1 && strncasecmp(line, s, nlen) == 0)
	if (NAME_IS("x-amz-meta-x-amz-key")) {
		h->key_too_long = copy_value(h->key, sizeof(h->key), v,
		    (size_t)(vend - v)) != 0;
	} else if (NAME_IS("x-amz-meta-x-amz-iv")) {
		if (copy_value(h->iv, sizeof(h->iv), v, (size_t)(vend - v)))
			h->iv[0] = '!';	/* too long: fails to decode */
	} else if (NAME_IS("x-amz-meta-x-amz-unencrypted-content-length")) {
		if (copy_value(h->plain_len, sizeof(h->plain_len), v,
		    (size_t)(vend - v)))
			h->plain_len[0] = '!';
	} else if (NAME_IS("content-length")) {
		if (copy_value(h->content_len, sizeof(h->content_len), v,
		    (size_t)(vend - v)))
			h->content_len[0] = '!';
	}
#undef NAME_IS
}

int
envelope_from_headers(struct envelope *env, const char *text, size_t len,
    struct tfs_error *err)
{
	struct header_set *h;
	const char *p = text, *end = text + len, *nl;
	size_t llen;
	int rc;

	h = calloc(1, sizeof(*h));
	if (h == NULL)
		return tfs_error_set(err, TFS_ERR_NOMEM, "out of memory");
	while (p < end) {
		nl = memchr(p, '\n', (size_t)(end - p));
		llen = (size_t)((nl != NULL ? nl : end) - p);
		if (llen > 0 && p[llen - 1] == '\r')
			llen--;
		header_line(h, p, llen);
		p = nl != NULL ? nl + 1 : end;
	}

	if (h->key[0] == '\0' && h->iv[0] == '\0') {
		rc = tfs_error_set(err, TFS_ERR_ENVELOPE,
		    "no encryption envelope in the header dump (no "
		    "x-amz-meta-x-amz-key header); save the headers of the "
		    "media download itself (curl -D FILE), or the object is "
		    "not encrypted");
		goto out;
	}
	if (h->key[0] == '\0' || h->iv[0] == '\0') {
		rc = tfs_error_set(err, TFS_ERR_ENVELOPE,
		    "no encryption envelope in the header dump: "
		    "x-amz-meta-x-amz-%s is missing (only the %s is there); "
		    "save the headers of the media download again",
		    h->key[0] == '\0' ? "key" : "iv", h->key[0] == '\0' ?
		    "IV" : "key");
		goto out;
	}
	if (h->key_too_long) {
		rc = tfs_error_set(err, TFS_ERR_ENVELOPE,
		    "x-amz-meta-x-amz-key is not valid base64 of a wrapped "
		    "key (longer than %d characters)", B64_TEXT_MAX);
		goto out;
	}
	rc = set_from_b64(env, h->key, h->iv, "x-amz-meta-x-amz-key",
	    "x-amz-meta-x-amz-iv", err);
	if (rc != TFS_OK)
		goto out;
	if (h->plain_len[0] != '\0') {
		env->plaintext_size = parse_size(h->plain_len);
		if (env->plaintext_size < 0) {
			rc = tfs_error_set(err, TFS_ERR_ENVELOPE,
			    "x-amz-meta-x-amz-unencrypted-content-length "
			    "'%.20s' is not a byte count", h->plain_len);
			goto out;
		}
	}
	/* A 206 or 304 Content-Length is not the object's size. */
	if (h->content_len[0] != '\0' && (h->status == 200 || h->status == 0))
		env->ciphertext_size = parse_size(h->content_len);
	rc = TFS_OK;
out:
	free(h);
	return rc;
}

/* --- encryption_details JSON (through SQLite's JSON functions) --- */

/*
 * Run a one-row query with json bound to ?1 and copy column col of the
 * result into out (capacity cap). Returns 1 if the value is not NULL, 0 if
 * it is NULL (or there is no row), -1 on error or overflow.
 */
static int
json_query(sqlite3 *db, const char *sql, const char *json, int col,
    char *out, size_t cap)
{
	sqlite3_stmt *st = NULL;
	const unsigned char *t;
	int rc = -1, n;

	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		goto out;
	if (sqlite3_bind_text(st, 1, json, -1, SQLITE_TRANSIENT) != SQLITE_OK)
		goto out;
	switch (sqlite3_step(st)) {
	case SQLITE_ROW:
		break;
	case SQLITE_DONE:
		rc = 0;
		goto out;
	default:
		goto out;
	}
	if (sqlite3_column_type(st, col) == SQLITE_NULL) {
		rc = 0;
		goto out;
	}
	t = sqlite3_column_text(st, col);
	n = sqlite3_column_bytes(st, col);
	if (t == NULL || n < 0 || (size_t)n >= cap)
		goto out;
	memcpy(out, t, (size_t)n);
	out[n] = '\0';
	rc = 1;
out:
	sqlite3_finalize(st);
	return rc;
}

/* The fields of an encryption_details object, in either spelling. */
struct details {
	char type[32];
	char cek[B64_TEXT_MAX + 1];
	char iv[64];
	char sid[64];
};

/*
 * Narrow json (a buffer of JSON_TEXT_MAX + 1) down to the
 * encryption_details object itself: unwrap a JSON string (callback form)
 * and descend into "encryption_details" / "EncryptionDetails" of a
 * Recording resource or callback body.
 */
static int
details_object(sqlite3 *db, char *json, struct tfs_error *err)
{
	static const char *const keys[] = { "encryption_details",
	    "EncryptionDetails" };
	char type[16], sql[160];
	size_t i;
	int r, pass;

	for (pass = 0; pass < 3; pass++) {
		r = json_query(db, "SELECT CASE WHEN json_valid(?1) THEN "
		    "json_type(?1) END", json, 0, type, sizeof(type));
		if (r != 1)
			return tfs_error_set(err, TFS_ERR_ENVELOPE,
			    "encryption details are not valid JSON; give "
			    "the encryption_details object of the Recording");
		if (strcmp(type, "text") == 0) {
			r = json_query(db, "SELECT json_extract(?1, '$')",
			    json, 0, json, JSON_TEXT_MAX + 1);
			if (r != 1)
				break;
			continue;
		}
		if (strcmp(type, "object") != 0)
			break;
		for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
			(void)snprintf(sql, sizeof(sql), "SELECT json_type(?1,"
			    " '$.%s'), json_extract(?1, '$.%s')", keys[i],
			    keys[i]);
			r = json_query(db, sql, json, 0, type, sizeof(type));
			if (r == 0)
				continue;
			if (r < 0 || strcmp(type, "null") == 0)
				return tfs_error_set(err, TFS_ERR_ENVELOPE,
				    "%s is null: the recording is not "
				    "encrypted (or its encryption failed), "
				    "so there is nothing to decrypt", keys[i]);
			if (json_query(db, sql, json, 1, json,
			    JSON_TEXT_MAX + 1) != 1)
				break;
			goto next_pass;
		}
		return TFS_OK;
next_pass:
		;
	}
	return tfs_error_set(err, TFS_ERR_ENVELOPE,
	    "encryption details are not a JSON object; give the "
	    "encryption_details object of the Recording");
}

/*
 * Copy the string value of key a (or, if absent, of its other spelling b)
 * of the object json into out. A value that is present but not a JSON
 * string (a number that happens to read as base64, say) is an error.
 */
static int
details_field(sqlite3 *db, const char *json, const char *a, const char *b,
    char *out, size_t cap, struct tfs_error *err)
{
	char sql[256], type[16];
	int r;

	out[0] = '\0';
	if (snprintf(sql, sizeof(sql), "SELECT coalesce(json_type(?1, '$.%s'),"
	    " json_type(?1, '$.%s')), coalesce(json_extract(?1, '$.%s'), "
	    "json_extract(?1, '$.%s'))", a, b, a, b) >= (int)sizeof(sql))
		return tfs_error_set(err, TFS_ERR_ENVELOPE, "internal: %s", a);
	r = json_query(db, sql, json, 0, type, sizeof(type));
	if (r == 0 || (r == 1 && strcmp(type, "null") == 0))
		return TFS_OK;
	if (r < 0 || strcmp(type, "text") != 0)
		return tfs_error_set(err, TFS_ERR_ENVELOPE, "encryption "
		    "details: %s must be a JSON string", a);
	if (json_query(db, sql, json, 1, out, cap) != 1)
		return tfs_error_set(err, TFS_ERR_ENVELOPE, "encryption "
		    "details: %s is too long", a);
	return TFS_OK;
}

static int
details_fields(sqlite3 *db, const char *json, struct details *d,
    struct tfs_error *err)
{
	int rc;

	rc = details_field(db, json, "type", "type", d->type,
	    sizeof(d->type), err);
	if (rc == TFS_OK)
		rc = details_field(db, json, "encrypted_cek", "encryption_cek",
		    d->cek, sizeof(d->cek), err);
	if (rc == TFS_OK)
		rc = details_field(db, json, "iv", "encryption_iv", d->iv,
		    sizeof(d->iv), err);
	if (rc == TFS_OK)
		rc = details_field(db, json, "public_key_sid",
		    "encryption_public_key_sid", d->sid, sizeof(d->sid), err);
	return rc;
}

int
envelope_from_details(struct envelope *env, const char *json,
    struct tfs_error *err)
{
	struct details d;
	sqlite3 *db = NULL;
	char *buf = NULL;
	size_t len = strlen(json);
	int rc;

	if (len > JSON_TEXT_MAX)
		return tfs_error_set(err, TFS_ERR_ENVELOPE,
		    "encryption details are larger than %d bytes; give "
		    "the encryption_details object only", JSON_TEXT_MAX);
	buf = malloc(JSON_TEXT_MAX + 1);
	if (buf == NULL)
		return tfs_error_set(err, TFS_ERR_NOMEM, "out of memory");
	memcpy(buf, json, len + 1);
	if (sqlite3_open_v2(":memory:", &db, SQLITE_OPEN_READWRITE |
	    SQLITE_OPEN_MEMORY, NULL) != SQLITE_OK) {
		rc = tfs_error_set(err, TFS_ERR_NOMEM,
		    "cannot open an in-memory SQLite database");
		goto out;
	}
	rc = details_object(db, buf, err);
	if (rc != TFS_OK)
		goto out;
	rc = details_fields(db, buf, &d, err);
	if (rc != TFS_OK)
		goto out;
	if (d.type[0] != '\0' && strcmp(d.type, "rsa-aes") != 0) {
		rc = tfs_error_set(err, TFS_ERR_ENVELOPE,
		    "encryption details type '%.20s' is not supported (only "
		    "rsa-aes)", d.type);
		goto out;
	}
	if (d.cek[0] == '\0' || d.iv[0] == '\0') {
		rc = tfs_error_set(err, TFS_ERR_ENVELOPE,
		    "no encryption envelope in the encryption details: "
		    "%s is missing", d.cek[0] == '\0' ?
		    "encrypted_cek (or encryption_cek)" :
		    "iv (or encryption_iv)");
		goto out;
	}
	rc = set_from_b64(env, d.cek, d.iv, "encrypted_cek", "iv", err);
	if (rc == TFS_OK && d.sid[0] != '\0')
		rc = envelope_set_public_key_sid(env, d.sid, err);
out:
	sqlite3_close(db);
	free(buf);
	return rc;
}
