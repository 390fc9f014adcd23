/* SPDX-License-Identifier: MIT */
/*
 * unit.h - a tiny assertion kit shared by tests/unit/test_*.c.
 *
 * CHECK(cond, fmt, ...) records a failure with file:line and carries on;
 * unit_done() prints a summary and returns the exit status: 0 when every
 * check passed, 1 when one failed, 77 (SKIP) when nothing failed but a part
 * could not run (the reason is printed). Helpers read the NAME=VALUE record
 * files of tests/data/ and of the fixtures (TFS_FIXTURES), decode hex, and
 * give a reproducible pseudo-random sequence (TFS_SEED overrides the seed).
 *
 * Everything here is static: each test is one program including this once.
 */
#ifndef TWILIOFS_UNIT_H
#define TWILIOFS_UNIT_H

#include <stdarg.h>
#include <stdint.h>
#include <ctype.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "twiliofs/error.h"

#define UNIT_SKIP 77

static struct {
	const char *name;
	unsigned long checks;
	unsigned long failures;
	unsigned long skips;
	uint64_t rng;
} unit;

static inline void
unit_vcheck_fail(const char *file, int line, const char *expr,
    const char *fmt, va_list ap)
{
	fprintf(stderr, "%s:%d: FAIL: %s: ", file, line, expr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
}

static inline int
unit_check(int ok, const char *file, int line, const char *expr,
    const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static inline int
unit_check(int ok, const char *file, int line, const char *expr,
    const char *fmt, ...)
{
	va_list ap;

	unit.checks++;
	if (ok)
		return 1;
	unit.failures++;
	va_start(ap, fmt);
	unit_vcheck_fail(file, line, expr, fmt, ap);
	va_end(ap);
	return 0;
}

/* CHECK(cond, "printf format", args...): evaluates to cond's truth. */
#define CHECK(cond, ...) \
	unit_check((cond) ? 1 : 0, __FILE__, __LINE__, #cond, __VA_ARGS__)

/* A project error code as its enum name, for messages. */
static inline const char *
unit_rcname(int rc)
{
	static char buf[32];

	switch (rc) {
	case TFS_OK: return "TFS_OK";
	case TFS_ERR_NOMEM: return "TFS_ERR_NOMEM";
	case TFS_ERR_USAGE: return "TFS_ERR_USAGE";
	case TFS_ERR_IO: return "TFS_ERR_IO";
	case TFS_ERR_CONFIG: return "TFS_ERR_CONFIG";
	case TFS_ERR_ENVELOPE: return "TFS_ERR_ENVELOPE";
	case TFS_ERR_NOKEY: return "TFS_ERR_NOKEY";
	case TFS_ERR_INTEGRITY: return "TFS_ERR_INTEGRITY";
	case TFS_ERR_TRUNCATED: return "TFS_ERR_TRUNCATED";
	case TFS_ERR_CRYPTO: return "TFS_ERR_CRYPTO";
	case TFS_ERR_RANGE: return "TFS_ERR_RANGE";
	}
	(void)snprintf(buf, sizeof(buf), "rc %d", rc);
	return buf;
}

/* CHECK_RC(rc, want, "what"): rc must equal want exactly. */
#define CHECK_RC(rc, want, ...) \
	unit_check_rc((rc), (want), __FILE__, __LINE__, #rc, __VA_ARGS__)

static inline int
unit_check_rc(int rc, int want, const char *file, int line,
    const char *expr, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));

static inline int
unit_check_rc(int rc, int want, const char *file, int line,
    const char *expr, const char *fmt, ...)
{
	va_list ap;

	unit.checks++;
	if (rc == want)
		return 1;
	unit.failures++;
	fprintf(stderr, "%s:%d: FAIL: %s is %s, want %s: ", file, line, expr,
	    unit_rcname(rc), unit_rcname(want));
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return 0;
}

/*
 * CHECK_DETAIL(err, "what"): err->detail is a non-empty single line (no
 * CR, LF or other control character) and NUL-terminated within its array.
 */
#define CHECK_DETAIL(errp, ...) \
	unit_check_detail((errp), __FILE__, __LINE__, __VA_ARGS__)

static inline int
unit_check_detail(const struct tfs_error *e, const char *file, int line,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static inline int
unit_check_detail(const struct tfs_error *e, const char *file, int line,
    const char *fmt, ...)
{
	const char *why = NULL, *nul;
	va_list ap;
	size_t i, n;

	unit.checks++;
	nul = memchr(e->detail, '\0', sizeof(e->detail));
	n = nul == NULL ? sizeof(e->detail) : (size_t)(nul - e->detail);
	if (nul == NULL)
		why = "not NUL-terminated";
	else if (n == 0)
		why = "empty";
	for (i = 0; why == NULL && i < n; i++)
		if ((unsigned char)e->detail[i] < 0x20 ||
		    e->detail[i] == 0x7f)
			why = "holds a control character (not one line)";
	if (why == NULL)
		return 1;
	unit.failures++;
	fprintf(stderr, "%s:%d: FAIL: error detail %s: ", file, line, why);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, " [detail: \"%.*s\"]\n", (int)n, e->detail);
	return 0;
}

static inline void
unit_begin(const char *name)
{
	const char *s = getenv("TFS_SEED");

	unit.name = name;
	unit.rng = 0x9e3779b97f4a7c15ULL;
	if (s != NULL && *s != '\0')
		unit.rng = strtoull(s, NULL, 0) | 1;
	fprintf(stderr, "%s: seed 0x%llx\n", name,
	    (unsigned long long)unit.rng);
}

/* Note a part that could not run; the test then exits 77 unless failed. */
static inline void
unit_skip_part(const char *reason)
{
	unit.skips++;
	fprintf(stderr, "%s: SKIP part: %s\n", unit.name, reason);
}

static inline int
unit_done(void)
{
	fprintf(stderr, "%s: %lu checks, %lu failed, %lu parts skipped\n",
	    unit.name, unit.checks, unit.failures, unit.skips);
	if (unit.failures > 0)
		return 1;
	if (unit.skips > 0)
		return UNIT_SKIP;
	if (unit.checks == 0) {
		fprintf(stderr, "%s: FAIL: no checks ran\n", unit.name);
		return 1;
	}
	return 0;
}

/* xorshift64*: reproducible, good enough to pick offsets. */
/* Whether hay contains needle, ignoring ASCII case. */
static inline int
unit_has_ci(const char *hay, const char *needle)
{
	size_t i, n = strlen(needle);

	for (; *hay != '\0'; hay++) {
		for (i = 0; i < n && hay[i] != '\0' &&
		    tolower((unsigned char)hay[i]) ==
		    tolower((unsigned char)needle[i]); i++)
			;
		if (i == n)
			return 1;
	}
	return 0;
}

static inline uint64_t
unit_rand(void)
{
	unit.rng ^= unit.rng >> 12;
	unit.rng ^= unit.rng << 25;
	unit.rng ^= unit.rng >> 27;
	return unit.rng * 0x2545f4914f6cdd1dULL;
}

/* Uniform-ish in [0, n); n > 0. */
static inline size_t
unit_rand_below(size_t n)
{
	return (size_t)(unit_rand() % n);
}

/* Malloc or abort: a test that cannot allocate cannot say anything. */
static inline void *
unit_xmalloc(size_t n)
{
	void *p = malloc(n == 0 ? 1 : n);

	if (p == NULL) {
		fprintf(stderr, "%s: out of memory\n", unit.name);
		exit(99);
	}
	return p;
}

/* Decode hex into out (capacity cap). 0, or -1 if malformed / too long. */
static inline int
unit_hex(const char *hex, unsigned char *out, size_t cap, size_t *len)
{
	size_t i, n = strlen(hex);
	unsigned int v;

	if (n % 2 != 0 || n / 2 > cap)
		return -1;
	for (i = 0; i < n / 2; i++) {
		if (sscanf(hex + 2 * i, "%2x", &v) != 1)
			return -1;
		out[i] = (unsigned char)v;
	}
	*len = n / 2;
	return 0;
}

/* Whole file into a malloc'd buffer with a NUL after it; NULL on error. */
static inline unsigned char *
unit_read_file(const char *path, size_t *len)
{
	unsigned char *buf = NULL, *nb;
	size_t cap = 0, n = 0, got;
	FILE *f;

	f = fopen(path, "rb");
	if (f == NULL)
		return NULL;
	for (;;) {
		if (cap - n < 65536) {
			cap = cap == 0 ? 65536 : cap * 2;
			nb = realloc(buf, cap + 1);
			if (nb == NULL) {
				free(buf);
				fclose(f);
				return NULL;
			}
			buf = nb;
		}
		got = fread(buf + n, 1, cap - n, f);
		n += got;
		if (got == 0)
			break;
	}
	if (ferror(f)) {
		free(buf);
		fclose(f);
		return NULL;
	}
	fclose(f);
	buf[n] = '\0';
	*len = n;
	return buf;
}

/* The fixtures directory (TFS_FIXTURES), or NULL if unset. */
static inline const char *
unit_fixtures(void)
{
	const char *s = getenv("TFS_FIXTURES");

	return s != NULL && *s != '\0' ? s : NULL;
}

/* dir/name into buf, or exit 99 if it does not fit. */
static inline char *
unit_path(char *buf, size_t cap, const char *dir, const char *name)
{
	if (snprintf(buf, cap, "%s/%s", dir, name) >= (int)cap) {
		fprintf(stderr, "%s: path too long: %s/%s\n", unit.name, dir,
		    name);
		exit(99);
	}
	return buf;
}

/* rm -r of a scratch path: a directory and what it holds, or a file. */
static inline void
unit_remove_tree(const char *path)
{
	char sub[4096];
	struct dirent *de;
	struct stat st;
	DIR *d;

	if (lstat(path, &st) != 0)
		return;
	if (S_ISDIR(st.st_mode) && (d = opendir(path)) != NULL) {
		while ((de = readdir(d)) != NULL) {
			if (strcmp(de->d_name, ".") == 0 ||
			    strcmp(de->d_name, "..") == 0)
				continue;
			unit_path(sub, sizeof(sub), path, de->d_name);
			unit_remove_tree(sub);
		}
		closedir(d);
		(void)rmdir(path);
		return;
	}
	(void)unlink(path);
}

/* Reference base64 encoder (standard alphabet, padded), independent of
 * the envelope module's decoder. out needs 4 * ((n + 2) / 3) + 1 bytes. */
static inline void
unit_b64enc(const unsigned char *in, size_t n, char *out)
{
	static const char abc[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	unsigned long v;
	size_t i, o = 0;

	for (i = 0; i + 2 < n; i += 3) {
		v = (unsigned long)in[i] << 16 | (unsigned long)in[i + 1] << 8 |
		    in[i + 2];
		out[o++] = abc[v >> 18 & 63];
		out[o++] = abc[v >> 12 & 63];
		out[o++] = abc[v >> 6 & 63];
		out[o++] = abc[v & 63];
	}
	if (n - i == 1) {
		v = (unsigned long)in[i] << 16;
		out[o++] = abc[v >> 18 & 63];
		out[o++] = abc[v >> 12 & 63];
		out[o++] = '=';
		out[o++] = '=';
	} else if (n - i == 2) {
		v = (unsigned long)in[i] << 16 | (unsigned long)in[i + 1] << 8;
		out[o++] = abc[v >> 18 & 63];
		out[o++] = abc[v >> 12 & 63];
		out[o++] = abc[v >> 6 & 63];
		out[o++] = '=';
	}
	out[o] = '\0';
}

/* tests/data (or TFS_TESTDATA) / name into buf. */
static inline char *
unit_data_path(char *buf, size_t cap, const char *name)
{
	const char *d = getenv("TFS_TESTDATA");

	return unit_path(buf, cap, d != NULL && *d != '\0' ? d : "tests/data",
	    name);
}

/* --- NAME=VALUE record files: '#' comments, blank lines separate --- */

#define UNIT_REC_FIELDS 16

struct unit_rec {
	char *key[UNIT_REC_FIELDS];
	char *val[UNIT_REC_FIELDS];
	int n;
};

/* The value of key in r, or NULL. */
static inline const char *
unit_rec_get(const struct unit_rec *r, const char *key)
{
	int i;

	for (i = 0; i < r->n; i++)
		if (strcmp(r->key[i], key) == 0)
			return r->val[i];
	return NULL;
}

/*
 * Parse the records of path into *recs (malloc'd; the strings point into
 * *text, which the caller frees with the array). Returns the number of
 * records, or -1 if the file is unreadable or malformed.
 */
static inline int
unit_records(const char *path, struct unit_rec **recs, char **text)
{
	struct unit_rec *r = NULL, *nr;
	size_t len;
	char *s, *line, *next, *eq;
	int n = 0, cap = 0, open = 0;

	s = (char *)unit_read_file(path, &len);
	if (s == NULL)
		return -1;
	for (line = s; line != NULL && *line != '\0'; line = next) {
		next = strchr(line, '\n');
		if (next != NULL)
			*next++ = '\0';
		if (*line != '\0' && line[strlen(line) - 1] == '\r')
			line[strlen(line) - 1] = '\0';
		if (line[0] == '#')
			continue;
		if (line[0] == '\0') {
			open = 0;
			continue;
		}
		eq = strchr(line, '=');
		if (eq == NULL)
			goto fail;
		*eq = '\0';
		if (!open) {
			if (n == cap) {
				cap = cap == 0 ? 8 : cap * 2;
				nr = realloc(r, (size_t)cap * sizeof(*r));
				if (nr == NULL)
					goto fail;
				r = nr;
			}
			memset(&r[n], 0, sizeof(r[n]));
			n++;
			open = 1;
		}
		if (r[n - 1].n == UNIT_REC_FIELDS)
			goto fail;
		r[n - 1].key[r[n - 1].n] = line;
		r[n - 1].val[r[n - 1].n] = eq + 1;
		r[n - 1].n++;
	}
	*recs = r;
	*text = s;
	return n;
fail:
	free(r);
	free(s);
	return -1;
}

#endif
