/* SPDX-License-Identifier: MIT */
/*
 * cli.h - command line, environment defaults, help texts, messages and
 * exit statuses. No network, no crypto: cli only decides what to do and
 * how to report it.
 */
#ifndef TWILIOFS_CLI_H
#define TWILIOFS_CLI_H

#include "twiliofs/error.h"

/* Exit statuses (DESIGN.md §2). */
enum cli_exit {
	CLI_EXIT_OK = 0,
	CLI_EXIT_USAGE = 1,	/* usage error or local file error */
	CLI_EXIT_CONFIG = 2,	/* authentication / configuration */
	CLI_EXIT_NETWORK = 3,	/* network / server after retries */
	CLI_EXIT_DECRYPT = 4	/* decryption or integrity failure */
};

enum cli_command {
	CLI_DECRYPT = 1
};

/* Options of "twiliofs decrypt"; strings point into argv or environ. */
struct cli_decrypt {
	const char *keys;		/* -k, --keys, $TWILIOFS_KEYS */
	const char *passphrase_file;	/* --key-passphrase-file */
	const char *cek_b64;		/* --cek */
	const char *iv_b64;		/* --iv */
	const char *public_key_sid;	/* --public-key-sid */
	const char *headers_file;	/* --headers */
	const char *details;		/* --details: JSON text or a file */
	const char *input;		/* "-" is stdin */
	const char *output;		/* NULL or "-" is stdout */
};

struct cli {
	enum cli_command command;
	int verbosity;			/* number of -v */
	struct cli_decrypt decrypt;
};

/*
 * Parse argv into cli. Returns -1 when there is a command to run, or an
 * exit status to exit with at once (after --help, --version, or a usage
 * error, whose one-line message has been printed).
 */
int cli_parse(struct cli *cli, int argc, char **argv);

/* The exit status for a project error code. */
int cli_exit_status(int code);

/* Print err as one line, "twiliofs: detail" (or a generic text). */
void cli_report(const struct tfs_error *err);

#endif
