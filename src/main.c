/* SPDX-License-Identifier: MIT */
/*
 * main.c - twiliofs: wires cli, keyring, envelope and decrypt together.
 * The only place that knows every module.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>
#ifdef HAVE_SYS_PRCTL_H
#include <sys/prctl.h>
#endif

#include "twiliofs/cli.h"
#include "twiliofs/decrypt.h"
#include "twiliofs/envelope.h"
#include "twiliofs/keyring.h"
#include "twiliofs/log.h"

/* Header dumps and encryption details are small. */
#define ENVELOPE_FILE_MAX (1024 * 1024)

/*
 * Keys and CEKs live in this process's memory: keep them out of core
 * files (and, on Linux, out of reach of ptrace by other processes).
 */
static void
no_core_dumps(void)
{
	struct rlimit rl = { 0, 0 };

	(void)setrlimit(RLIMIT_CORE, &rl);
#if defined(HAVE_SYS_PRCTL_H) && defined(PR_SET_DUMPABLE) && \
    !defined(TFS_SANITIZED)
	/* (LeakSanitizer needs to ptrace us, so not in the test build.) */
	(void)prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
#endif
}

/* Read a whole small text file (NUL-terminated) for an envelope flag. */
static int
read_text_file(const char *path, const char *flag, char **out,
    size_t *out_len, struct tfs_error *err)
{
	struct stat st;
	size_t got = 0;
	ssize_t r;
	char *buf;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return tfs_error_set(err, TFS_ERR_IO, "%s: cannot open the %s "
		    "file: %s", path, flag, strerror(errno));
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) ||
	    st.st_size > ENVELOPE_FILE_MAX) {
		close(fd);
		return tfs_error_set(err, TFS_ERR_IO, "%s: the %s file must "
		    "be a regular file of at most %d bytes", path, flag,
		    ENVELOPE_FILE_MAX);
	}
	buf = malloc((size_t)st.st_size + 1);
	if (buf == NULL) {
		close(fd);
		return tfs_error_set(err, TFS_ERR_NOMEM, "out of memory");
	}
	while (got < (size_t)st.st_size) {
		r = read(fd, buf + got, (size_t)st.st_size - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			close(fd);
			free(buf);
			return tfs_error_set(err, TFS_ERR_IO, "%s: cannot read "
			    "the %s file: %s", path, flag, r < 0 ?
			    strerror(errno) : "file shrank");
		}
		got += (size_t)r;
	}
	close(fd);
	buf[got] = '\0';
	*out = buf;
	*out_len = got;
	return TFS_OK;
}

/* Build the envelope from whichever of --headers/--details/--cek given. */
static int
load_envelope(const struct cli_decrypt *o, struct envelope *env,
    struct tfs_error *err)
{
	char *text = NULL;
	size_t len;
	int rc;

	envelope_init(env);
	if (o->headers_file != NULL) {
		rc = read_text_file(o->headers_file, "--headers", &text, &len,
		    err);
		if (rc == TFS_OK && (rc = envelope_from_headers(env, text, len,
		    err)) != TFS_OK) {
			/* Name the file: the detail alone does not. */
			struct tfs_error inner = *err;

			tfs_error_clear(err);
			tfs_error_set(err, rc, "%s: %s", o->headers_file,
			    inner.detail);
		}
	} else if (o->details != NULL) {
		if (o->details[0] == '{' || o->details[0] == '"')
			rc = envelope_from_details(env, o->details, err);
		else {
			rc = read_text_file(o->details, "--details", &text,
			    &len, err);
			if (rc == TFS_OK)
				rc = envelope_from_details(env, text, err);
		}
	} else {
		rc = envelope_from_b64(env, o->cek_b64, o->iv_b64, err);
	}
	free(text);
	if (rc == TFS_OK && o->public_key_sid != NULL)
		rc = envelope_set_public_key_sid(env, o->public_key_sid, err);
	return rc;
}

static int
run_decrypt(const struct cli_decrypt *o)
{
	struct tfs_error err = { 0, "" };
	struct keyring *keys = NULL;
	struct envelope env;
	struct decrypt_request req;
	int rc;

	rc = load_envelope(o, &env, &err);
	if (rc == TFS_OK)
		rc = keyring_load(&keys, o->keys, o->passphrase_file, &err);
	if (rc == TFS_OK) {
		log_msg(TFS_LOG_INFO, "%zu private key(s) loaded; envelope: "
		    "%s%s%s", keyring_count(keys), env.scheme == ENVELOPE_GCM ?
		    "AES-256-GCM" : "AES-CBC", env.public_key_sid[0] ?
		    ", wrapped for " : "", env.public_key_sid);
		req.input = o->input;
		req.output = o->output;
		req.env = &env;
		req.keys = keys;
		rc = decrypt_file(&req, &err);
	}
	keyring_free(keys);
	if (rc != TFS_OK)
		cli_report(&err);
	return cli_exit_status(rc);
}

int
main(int argc, char **argv)
{
	struct cli cli;
	int status;

	no_core_dumps();
	status = cli_parse(&cli, argc, argv);
	if (status >= 0)
		return status;
	log_set_level(cli.verbosity >= 2 ? TFS_LOG_DEBUG : cli.verbosity == 1 ?
	    TFS_LOG_INFO : TFS_LOG_WARN);
	switch (cli.command) {
	case CLI_DECRYPT:
		return run_decrypt(&cli.decrypt);
	}
	return CLI_EXIT_USAGE;
}
