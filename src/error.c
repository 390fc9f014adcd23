/* SPDX-License-Identifier: MIT */
/* error.c - project error codes and one-line error details. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "twiliofs/error.h"

int
tfs_error_set(struct tfs_error *err, int code, const char *fmt, ...)
{
	va_list ap;
	char *p;

	if (err == NULL || err->detail[0] != '\0')
		return code;
	err->code = code;
	va_start(ap, fmt);
	/* Truncation is acceptable here: a long detail is still one line. */
	(void)vsnprintf(err->detail, sizeof(err->detail), fmt, ap);
	va_end(ap);
	for (p = err->detail; *p != '\0'; p++)
		if (*p == '\n' || *p == '\r')
			*p = ' ';
	return code;
}

void
tfs_error_clear(struct tfs_error *err)
{
	if (err == NULL)
		return;
	err->code = TFS_OK;
	err->detail[0] = '\0';
}

const char *
tfs_strerror(int code)
{
	switch (code) {
	case TFS_OK:
		return "success";
	case TFS_ERR_NOMEM:
		return "out of memory";
	case TFS_ERR_USAGE:
		return "usage error";
	case TFS_ERR_IO:
		return "input/output error";
	case TFS_ERR_CONFIG:
		return "configuration error";
	case TFS_ERR_ENVELOPE:
		return "encryption envelope missing or malformed";
	case TFS_ERR_NOKEY:
		return "no key in the keyring opens the content key";
	case TFS_ERR_INTEGRITY:
		return "integrity check failed";
	case TFS_ERR_TRUNCATED:
		return "input is truncated";
	case TFS_ERR_CRYPTO:
		return "cryptographic library failure";
	case TFS_ERR_RANGE:
		return "offset or length out of range";
	case TFS_ERR_NETWORK:
		return "network or server error";
	case TFS_ERR_AUTH:
		return "authentication failed";
	case TFS_ERR_NOTFOUND:
		return "not found";
	case TFS_ERR_EXPIRED:
		return "signed media URL expired";
	case TFS_ERR_FORBIDDEN:
		return "access refused to this API key";
	case TFS_ERR_PROTOCOL:
		return "the API answered something that cannot be trusted";
	case TFS_ERR_CHANGED:
		return "the object changed upstream; the next sync probes it";
	case TFS_ERR_INTERRUPTED:
		return "interrupted";
	}
	return "unknown error";
}
