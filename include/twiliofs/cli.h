/* SPDX-License-Identifier: MIT */
/*
 * cli.h - command line, environment defaults, help texts, messages and
 * exit statuses. No network, no crypto: cli only decides what to do and
 * how to report it.
 */
#ifndef TWILIOFS_CLI_H
#define TWILIOFS_CLI_H

#include <stddef.h>

#include "twiliofs/catalog.h"
#include "twiliofs/error.h"
#include "twiliofs/sync.h"

/* Copy secret into out and wipe it where it was; "" when NULL. */
void cli_take_secret(char *secret, char *out, size_t cap);

/* Exit statuses (DESIGN.md §2). */
enum cli_exit {
	CLI_EXIT_OK = 0,
	CLI_EXIT_USAGE = 1,	/* usage error or local file error */
	CLI_EXIT_CONFIG = 2,	/* authentication / configuration */
	CLI_EXIT_NETWORK = 3,	/* network / server after retries */
	CLI_EXIT_DECRYPT = 4,	/* decryption or integrity failure */
	CLI_EXIT_PARTIAL = 5	/* sync: done, but some items or products
				 * failed (the summary says which) */
};

enum cli_command {
	CLI_DECRYPT = 1,
	CLI_SYNC,
	CLI_GET,
	CLI_MOUNT,
	CLI_KEYS,		/* keys generate|register|list|remove */
	CLI_ENCRYPTION,		/* encryption status|enable|disable */
	CLI_VERSION		/* --version: ours and the libraries' */
};

/* What "twiliofs keys …" and "twiliofs encryption …" were asked to do. */
enum cli_setup_action {
	SETUP_GENERATE = 1,
	SETUP_REGISTER,
	SETUP_LIST,
	SETUP_REMOVE,
	SETUP_STATUS,
	SETUP_ENABLE,
	SETUP_DISABLE
};

/*
 * Options shared by the commands that talk to the account. Each is a
 * --name VALUE (dashes or underscores) and an -o name=value; the
 * environment gives defaults. Never a secret: credentials come from the
 * environment or a credentials file.
 */
struct cli_account {
	const char *account_sid;	/* $TWILIO_ACCOUNT_SID */
	const char *credentials_file;	/* KEY=VALUE lines, mode 0600 */
	int credentials_from_config;	/* that file named by the config
					 * file: the environment wins */
	const char *keys;		/* $TWILIOFS_KEYS */
	const char *passphrase_file;	/* $TWILIOFS_KEY_PASSPHRASE_FILE */
	const char *endpoint;		/* $TWILIOFS_ENDPOINT */
	const char *region;		/* $TWILIO_REGION */
	const char *edge;		/* $TWILIO_EDGE */
	const char *cafile;		/* $TWILIOFS_CAFILE */
	const char *cache_dir;		/* $TWILIOFS_CACHE_DIR */
	int page_size;			/* 0: the API's maximum */
	int ttl;			/* signed URL lifetime, seconds */
	const char *profile;		/* --profile, $TWILIOFS_PROFILE */
	/* From the config file only (never argv); the secrets are wiped
	 * once taken (cli_take_secret). */
	const char *api_key;
	char *api_secret;
	char *auth_token;
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
	const char *log_file;		/* --log-file, -o log_file= */
	struct cli_decrypt decrypt;
	struct cli_account account;	/* sync, get */
	int listing;			/* sync: 1 --full, -1 --incremental,
					 * 0 by the last full listing's age */
	const char *sid;		/* get SID */
	int part;			/* get --part N */
	const char *output;		/* get OUTPUT; NULL or "-": stdout */
	struct cli_setup {
		enum cli_setup_action action;
		const char *arg;	/* PRIVATE_KEY, CR…, or a target:
					 * video-recordings, …, voice */
		int bits;		/* keys generate --bits (2048) */
		const char *out;	/* keys generate --out DIR (.) */
		const char *name;	/* keys register --name */
		int yes;		/* keys remove --yes */
		const char *service;	/* encryption … --service GA… */
		const char *key;	/* encryption enable --key CR… */
		int force;		/* enable without a local key */
	} setup;
	struct cli_mount {
		const char *mountpoint;
		int foreground;		/* -f */
		int debug;		/* -d */
		int single_thread;	/* -s */
		int offline;		/* -o offline */
		int allow_other;	/* -o allow_other */
		long long uid, gid;	/* -o uid=, gid=; -1: the user's */
		int umask;		/* -o umask=OCTAL; -1: default */
		int refresh;		/* -o refresh=SECONDS; 0 never */
		int full_refresh;	/* -o full_refresh=SECONDS: a refresh
					 * lists everything (and finds what
					 * was deleted) once that old; 0:
					 * never by age */
		int streams;		/* -o streams=N: ranged GETs at
					 * once for one file read in order */
		int read_timeout;	/* -o read_timeout=SECONDS: a read
					 * that waits this long without a
					 * byte fails (EIO) */
		long long cache_size;	/* -o cache_size=BYTES[KMG] */
		char fuse_opts[1024];	/* other -o options, for FUSE */
	} mount;
};

/*
 * Read TWILIO_API_KEY / TWILIO_API_SECRET / TWILIO_AUTH_TOKEN /
 * TWILIO_ACCOUNT_SID lines from a credentials file (refused when group or
 * others may read it). Values are copied into the caller's buffers.
 */
int cli_read_credentials(const char *path, char *key, size_t key_cap,
	char *secret, size_t secret_cap, char *token, size_t token_cap,
	char *account, size_t account_cap, struct tfs_error *err);

/*
 * Parse argv into cli. Returns -1 when there is a command to run, or an
 * exit status to exit with at once (after --help, --version, or a usage
 * error, whose one-line message has been printed). A --log-file is opened
 * here (log_open_file), so that every later message reaches it; a log
 * file refused is CLI_EXIT_CONFIG.
 */
int cli_parse(struct cli *cli, int argc, char **argv);

/* The exit status for a project error code. */
int cli_exit_status(int code);

/* Print err as one line, "twiliofs: detail" (or a generic text). */
void cli_report(const struct tfs_error *err);

/* Progress of a sync on stderr: a redrawn bar on a terminal, else lines. */
struct cli_progress_state {
	int tty;
	int drawn;		/* a bar is on screen: end it with \n */
	enum item_kind kind;	/* last kind listed */
	size_t step;		/* last tenth of the media probe reported */
	const char *what;	/* get: the SID being downloaded */
};

void cli_progress_init(struct cli_progress_state *ps);
void cli_progress(const struct sync_progress *p, void *arg);
/* get: bytes downloaded so far, on a terminal only (arg: the state). */
void cli_progress_bytes(long long got, void *arg);
void cli_progress_end(struct cli_progress_state *ps);

/* One summary line for kind on stdout. */
void cli_sync_summary(enum item_kind kind, const struct sync_kind_report *r,
	const struct catalog_counts *c);

#endif
