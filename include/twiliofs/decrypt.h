/* SPDX-License-Identifier: MIT */
/*
 * decrypt.h - streaming decryption of a downloaded object to a file or
 * stdout, with bounded memory, never leaving unverified plaintext behind.
 *
 * Output to a file goes to a 0600 temporary file beside it, renamed into
 * place only after the GCM tag or the CBC padding (and any known length)
 * has been checked; on failure it is removed. A symlink is written
 * through: the file it leads to (or, dangling, names) gets the plaintext.
 * Output to stdout, or to an existing device or FIFO (opened in place, as
 * cp does: never replaced), is written only after verification: GCM input
 * is read twice (verify, then decrypt), CBC's final block is checked
 * before the first byte is written; this needs a seekable input, so from
 * a pipe GCM to such an output is refused and CBC is checked at the end
 * (the best a pipe allows).
 */
#ifndef TWILIOFS_DECRYPT_H
#define TWILIOFS_DECRYPT_H

#include "twiliofs/envelope.h"
#include "twiliofs/error.h"
#include "twiliofs/keyring.h"

struct decrypt_request {
	const char *input;		/* path, or "-" for stdin; with
					 * input_fd, only its name */
	int input_fd;			/* >= 0: read this (seekable) fd
					 * from offset 0 instead; not
					 * closed */
	const char *output;		/* path, or "-" / NULL for stdout */
	const struct envelope *env;	/* scheme NONE: copied as it is */
	const struct keyring *keys;	/* needed unless scheme is NONE */
};

/*
 * Decrypt req->input into req->output. An output that is the input itself
 * (by any name), a directory or a socket is refused before anything is
 * read. Errors: TFS_ERR_IO (input or output; a missing output directory),
 * TFS_ERR_NOKEY, TFS_ERR_INTEGRITY (tag, padding, length),
 * TFS_ERR_TRUNCATED, TFS_ERR_USAGE (GCM from a pipe to a stream; output
 * is the input, a directory, a socket), TFS_ERR_CRYPTO, TFS_ERR_NOMEM;
 * err names the file and the cause.
 */
int decrypt_file(const struct decrypt_request *req, struct tfs_error *err)
	__attribute__((warn_unused_result));

#endif
