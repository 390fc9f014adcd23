/* SPDX-License-Identifier: MIT */
/*
 * fuzz_config.c - the credentials file (--credentials, -o credentials=):
 * cli_read_credentials on the input written to a 0600 file, against a
 * reference reading of the same bytes: NAME=value lines (an optional
 * "export ", quotes around the value), the last one of a name wins, a line
 * ends at CR, LF or NUL, a value too long for its buffer is an error, and
 * so is a line the parser's 1024-byte buffer would have to cut. Seeds:
 * the forms the README gives, and the lines that fooled the parser.
 */
#include <fcntl.h>

#include "twiliofs/cli.h"

#include "fuzz.h"

#define LINE_MAX_BYTES 1022	/* and a newline, in the parser's buffer */

static const char *const names[4] = { "TWILIO_API_KEY", "TWILIO_API_SECRET",
    "TWILIO_AUTH_TOKEN", "TWILIO_ACCOUNT_SID" };
static const size_t caps[4] = { 40, 64, 64, 40 };
static char dir[256], path[sizeof(dir) + 8];

/* The reference: one line of len bytes; -1 when a value is too long. */
static int
ref_line(const char *line, size_t len, char out[4][64])
{
	size_t n, i, vlen;
	const char *v;

	if (len >= 7 && strncmp(line, "export ", 7) == 0) {
		line += 7;
		len -= 7;
	}
	for (i = 0; i < 4; i++) {
		n = strlen(names[i]);
		if (len <= n || strncmp(line, names[i], n) != 0 ||
		    line[n] != '=')
			continue;
		v = line + n + 1;
		vlen = len - n - 1;
		if (vlen >= 2 && (v[0] == '"' || v[0] == '\'') &&
		    v[vlen - 1] == v[0]) {
			v++;
			vlen -= 2;
		}
		if (vlen >= caps[i])
			return -1;
		memcpy(out[i], v, vlen);
		out[i][vlen] = '\0';
	}
	return 0;
}

static int
reference(const char *text, size_t size, char out[4][64])
{
	const char *p = text, *end = text + size, *nl, *cr;
	size_t len;
	int rc = TFS_OK;

	while (p < end) {
		nl = memchr(p, '\n', (size_t)(end - p));
		len = (size_t)((nl != NULL ? nl : end) - p);
		/* Too long to read whole, or not text. */
		if (len > LINE_MAX_BYTES || (nl != NULL &&
		    memchr(p, '\0', len) != NULL))
			return TFS_ERR_CONFIG;
		cr = memchr(p, '\r', len);
		if (ref_line(p, strnlen(p, cr != NULL ? (size_t)(cr - p) : len),
		    out) != 0)
			rc = TFS_ERR_CONFIG;
		p += len + 1;
	}
	return rc;
}

static void
cleanup(void)
{
	(void)unlink(path);
	(void)rmdir(dir);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_tmpdir(dir, sizeof(dir), "tfs-fuzz-config");
	(void)snprintf(path, sizeof(path), "%s/creds", dir);
	atexit(cleanup);
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char got[4][64] = { "", "", "", "" }, want[4][64] = { "", "", "", "" };
	struct tfs_error err = { 0, "" };
	int fd, rc, ref, i;

	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	FUZZ_CHECK(fd >= 0);
	FUZZ_CHECK(write(fd, data, size) == (ssize_t)size);
	FUZZ_CHECK(close(fd) == 0);
	rc = cli_read_credentials(path, got[0], caps[0], got[1], caps[1],
	    got[2], caps[2], got[3], caps[3], &err);
	ref = reference((const char *)data, size, want);
	if (rc != ref)
		fprintf(stderr, "cli_read_credentials: %d (%s), reference: "
		    "%d\n", rc, err.detail, ref);
	FUZZ_CHECK(rc == ref);
	for (i = 0; rc == TFS_OK && i < 4; i++)
		FUZZ_CHECK(strcmp(got[i], want[i]) == 0);
	return 0;
}
