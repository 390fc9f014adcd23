/* SPDX-License-Identifier: MIT */
/* cli.c - argument and environment parsing, help, messages, exit codes. */
#define _GNU_SOURCE	/* getopt_long, explicit_bzero */
#include <errno.h>
#include <getopt.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "twiliofs/cli.h"
#include "twiliofs/config.h"
#include "twiliofs/log.h"

#ifndef TFS_VERSION
#define TFS_VERSION "unknown"
#endif

static const char usage_main[] =
"Usage: twiliofs COMMAND [OPTIONS] ...\n"
"Mount a Twilio account as a read-only directory of decrypted media.\n"
"\n"
"Commands:\n"
"  mount     mount the account as a read-only directory of decrypted\n"
"            media (also: twiliofs ACCOUNT_SID MOUNTPOINT -o OPTIONS)\n"
"  sync      fill or refresh the metadata catalog of the account\n"
"  get       fetch and decrypt one recording, composition or transcript\n"
"  decrypt   decrypt a recording, composition or transcript you already\n"
"            downloaded (offline)\n"
"  keys      generate a key pair; register, list or remove the\n"
"            account's Public Keys\n"
"  encryption  status, enable or disable encryption of recordings,\n"
"            compositions and transcripts\n"
"\n"
"  -h, --help      this text; 'twiliofs COMMAND --help' for a command\n"
"  -V, --version   print the version\n"
"\n"
"Exit status: 0 success, 1 usage or local file error, 2 configuration\n"
"(keys, credentials), 3 network or server error, 4 decryption or\n"
"integrity failure, 5 done but some items or products failed (sync,\n"
"encryption status). See twiliofs(1).\n";

static const char usage_decrypt[] =
"Usage: twiliofs decrypt -k KEYS ENVELOPE [OPTIONS] INPUT [OUTPUT]\n"
"Decrypt one downloaded object with its envelope; INPUT '-' reads stdin,\n"
"OUTPUT absent or '-' writes stdout. Memory stays bounded for any size.\n"
"\n"
"ENVELOPE, one of:\n"
"  --headers FILE        the download's response headers (curl -D FILE):\n"
"                        x-amz-meta-x-amz-key and -iv (video, transcripts)\n"
"  --details JSON|FILE   the recording's encryption_details object (voice),\n"
"                        as JSON text or a file, in any of Twilio's spellings\n"
"  --cek B64 --iv B64    the wrapped content key and the IV, base64\n"
"  --public-key-sid CR…  the Public Key SID the key was wrapped for (tried\n"
"                        first; the others are tried after it)\n"
"\n"
"Options:\n"
"  -k, --keys KEYS       private keys: files or directories, ':'-separated\n"
"                        (default $TWILIOFS_KEYS); PEM or DER, PKCS#1 or\n"
"                        PKCS#8; CR<32 hex>.pem names the key's SID\n"
"      --key-passphrase-file FILE   passphrase of encrypted private keys\n"
"  -v, --verbose         say more (twice: debug)\n"
"  -h, --help            this text\n"
"\n"
"An IV of 16 bytes means AES-CBC (video), 12 bytes AES-256-GCM (voice,\n"
"transcripts). Output files are created 0600 and appear only once the\n"
"GCM tag or CBC padding has been checked; nothing is written to stdout\n"
"before that (GCM to stdout needs INPUT to be a file).\n";

#define ACCOUNT_OPTIONS_HELP \
"Account options (also -o name=value[,name=value]; dashes or underscores):\n" \
"  --account-sid AC…       the account ($TWILIO_ACCOUNT_SID)\n" \
"  --credentials FILE      TWILIO_API_KEY=... and TWILIO_API_SECRET=... (or\n" \
"                          TWILIO_AUTH_TOKEN=...) lines, mode 0600; else\n" \
"                          the same variables from the environment\n" \
"  -k, --keys KEYS         private keys ($TWILIOFS_KEYS), as for decrypt\n" \
"  --key-passphrase-file FILE\n" \
"  --endpoint URL          use URL/{product} for every API host\n" \
"                          ($TWILIOFS_ENDPOINT; for tests and proxies)\n" \
"  --region R, --edge E    regional hosts ($TWILIO_REGION, $TWILIO_EDGE)\n" \
"  --cafile FILE           an extra CA for TLS ($TWILIOFS_CAFILE)\n" \
"  --cache-dir DIR         catalog and cache ($TWILIOFS_CACHE_DIR; default\n" \
"                          $XDG_CACHE_HOME/twiliofs/ACCOUNT_SID)\n" \
"  --page-size N           records per API page (default: the maximum)\n" \
"  --ttl SECONDS           lifetime asked for signed video URLs (600)\n" \
"  --log-file PATH         append messages there too (created 0600)\n" \
"  -v, --verbose           say more (twice: debug)\n"

static const char usage_sync[] =
"Usage: twiliofs sync [OPTIONS]\n"
"List the account's video recordings, compositions, voice recordings and\n"
"transcripts into the catalog, remove what is gone upstream, and probe\n"
"new media for its envelope and exact size. A progress bar on a terminal,\n"
"plain lines otherwise; one summary line per kind on stdout.\n"
"\n"
"  --full                  list everything, and remove what is gone upstream\n"
"                          (by default once a day; else incremental)\n"
"  --incremental           stop each list at the first page with nothing\n"
"                          new (lists are newest first); removes nothing\n"
ACCOUNT_OPTIONS_HELP;

static const char usage_mount[] =
"Usage: twiliofs mount [OPTIONS] MOUNTPOINT\n"
"       twiliofs ACCOUNT_SID MOUNTPOINT -o OPTIONS   (mount(8), fstab)\n"
"Mount the account read-only: video/recordings/DATE/RT….mkv|mka,\n"
"video/compositions/…, video/rooms/RM…/, voice/recordings/…,\n"
"intelligence/transcripts/…, .twiliofs/status.json. A first mount\n"
"appears at once and fills in (status.json: sync). Unmount with\n"
"fusermount3 -u MOUNTPOINT.\n"
"\n"
"  -f                      stay in the foreground\n"
"  -d                      FUSE debug output (implies -f)\n"
"  -s                      single-threaded\n"
"  -o refresh=SECONDS      catalog refresh period (300; 0: never)\n"
"  -o full_refresh=SECONDS a refresh lists everything (finds deletions)\n"
"                          once the last full one is this old (86400)\n"
"  -o offline              serve the catalog and cache only, no network\n"
"  -o cache_size=SIZE      verified ciphertext kept (2G; K, M, G)\n"
"  -o streams=N            ranged requests at once for a file read in\n"
"                          order, or a voice recording's download (4)\n"
"  -o read_timeout=SECONDS a read waiting this long for a byte fails\n"
"                          with EIO (30)\n"
"  -o allow_other          other users may read (umask 022 unless given)\n"
"  -o uid=N|USER, -o gid=N|GROUP\n"
"                          owner shown for every entry (default: yours)\n"
"  -o umask=OCTAL          files 0666, dirs 0777 less umask (default 077;\n"
"                          022 with allow_other); writes still fail: EROFS\n"
"  -o OPTION               anything else goes to FUSE\n"
ACCOUNT_OPTIONS_HELP;

static const char usage_get[] =
"Usage: twiliofs get [OPTIONS] SID [OUTPUT]\n"
"Fetch and decrypt one video recording (RT…), composition (CJ…), voice\n"
"recording (RE…) or transcript (GT…: its sentences; --part N: its Nth\n"
"operator result). OUTPUT absent or '-' is stdout. Streams with bounded\n"
"memory; GCM is verified before a byte is written; an OUTPUT file (0600)\n"
"appears only once verified.\n"
"\n"
"  --part N                a transcript's Nth operator result (1, 2, …)\n"
ACCOUNT_OPTIONS_HELP;

static const char usage_keys[] =
"Usage: twiliofs keys generate [--bits 2048|3072|4096] [--out DIR]\n"
"       twiliofs keys register [--name NAME] [OPTIONS] PRIVATE_KEY\n"
"       twiliofs keys list [OPTIONS]\n"
"       twiliofs keys remove [--yes] [OPTIONS] CR…\n"
"generate: a new RSA key pair in DIR (default .): private_key.pem\n"
"  (PKCS#8, mode 0600) and public_key.pem; nothing is overwritten.\n"
"register: create a Public Key resource from PRIVATE_KEY's public half,\n"
"  print its CR… SID, and install PRIVATE_KEY into the keys directory\n"
"  (the first of -k / $TWILIOFS_KEYS) as CR<sid>.pem, mode 0600.\n"
"list: the account's Public Keys; 'local' when a private key for it is\n"
"  among -k's keys.\n"
"remove: delete a Public Key resource (asks first, unless --yes). The\n"
"  local private key is kept: what was encrypted for it still needs it.\n"
"\n"
ACCOUNT_OPTIONS_HELP;

static const char usage_encryption[] =
"Usage: twiliofs encryption status [OPTIONS]\n"
"       twiliofs encryption enable TARGET --key CR… [--service GA…]\n"
"       twiliofs encryption disable TARGET [--service GA…]\n"
"TARGET: video-recordings, video-compositions, intelligence (a\n"
"Conversational Intelligence service: --service, or the only one), or\n"
"voice (set in the Console only: this says where).\n"
"\n"
"  --key CR…               the Public Key to encrypt for; its private key\n"
"                          must be among -k's keys (else --force)\n"
"  --service GA…           the Intelligence service\n"
"  --force                 enable with a key that has no local private key\n"
"\n"
ACCOUNT_OPTIONS_HELP;

int
cli_exit_status(int code)
{
	switch (code) {
	case TFS_OK:
		return CLI_EXIT_OK;
	case TFS_ERR_CONFIG:
	case TFS_ERR_AUTH:
	case TFS_ERR_FORBIDDEN:
		return CLI_EXIT_CONFIG;
	case TFS_ERR_NETWORK:
	case TFS_ERR_EXPIRED:
	case TFS_ERR_PROTOCOL:
	case TFS_ERR_CHANGED:
	case TFS_ERR_INTERRUPTED:
		return CLI_EXIT_NETWORK;
	case TFS_ERR_ENVELOPE:
	case TFS_ERR_NOKEY:
	case TFS_ERR_INTEGRITY:
	case TFS_ERR_TRUNCATED:
	case TFS_ERR_CRYPTO:
		return CLI_EXIT_DECRYPT;
	default:
		return CLI_EXIT_USAGE;
	}
}

void
cli_report(const struct tfs_error *err)
{
	if (err->detail[0] != '\0')
		log_msg(TFS_LOG_ERROR, "%s", err->detail);
	else
		log_msg(TFS_LOG_ERROR, "%s", tfs_strerror(err->code));
}

static int
usage_error(const char *cmd, const char *what)
{
	log_msg(TFS_LOG_ERROR, "%s; see 'twiliofs %s--help'", what,
	    cmd != NULL ? cmd : "");
	return CLI_EXIT_USAGE;
}

/* The option getopt_long just rejected, as the user typed it. */
static int
bad_option(const char *cmd, char **argv)
{
	log_msg(TFS_LOG_ERROR, "%s: unknown option or missing value: "
	    "'%.60s'; see 'twiliofs %s --help'", cmd, argv[optind - 1], cmd);
	return CLI_EXIT_USAGE;
}

enum {
	OPT_CEK = 256,
	OPT_IV,
	OPT_SID,
	OPT_HEADERS,
	OPT_DETAILS,
	OPT_PASSFILE,
	OPT_ACCOUNT_SID,
	OPT_CREDENTIALS,
	OPT_ENDPOINT,
	OPT_REGION,
	OPT_EDGE,
	OPT_CAFILE,
	OPT_CACHE_DIR,
	OPT_PAGE_SIZE,
	OPT_TTL,
	OPT_INCREMENTAL,
	OPT_PART,
	OPT_LOG_FILE,
	OPT_BITS,
	OPT_OUT,
	OPT_NAME,
	OPT_YES,
	OPT_SERVICE,
	OPT_KEY,
	OPT_FORCE,
	OPT_PROFILE,
	OPT_FULL
};

/* Check the decrypt options make one complete request. */
static int
check_decrypt(const struct cli_decrypt *d)
{
	int sources = (d->cek_b64 != NULL || d->iv_b64 != NULL) +
	    (d->headers_file != NULL) + (d->details != NULL);

	if (d->input == NULL)
		return usage_error("decrypt ", "decrypt: INPUT is missing");
	if (sources == 0)
		return usage_error("decrypt ", "decrypt: no envelope given: "
		    "use --headers FILE, --details JSON|FILE or --cek B64 --iv "
		    "B64");
	if (sources > 1)
		return usage_error("decrypt ", "decrypt: give only one of "
		    "--headers, --details and --cek/--iv");
	if ((d->cek_b64 == NULL) != (d->iv_b64 == NULL))
		return usage_error("decrypt ", d->cek_b64 == NULL ?
		    "decrypt: --iv needs --cek" : "decrypt: --cek needs --iv");
	if (d->keys == NULL || d->keys[0] == '\0')
		return usage_error("decrypt ", "decrypt: no private keys: "
		    "give -k FILE|DIR or set TWILIOFS_KEYS");
	return -1;
}

static int
parse_decrypt(struct cli *cli, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "keys", required_argument, NULL, 'k' },
		{ "key-passphrase-file", required_argument, NULL,
		    OPT_PASSFILE },
		{ "key_passphrase_file", required_argument, NULL,
		    OPT_PASSFILE },
		{ "cek", required_argument, NULL, OPT_CEK },
		{ "iv", required_argument, NULL, OPT_IV },
		{ "public-key-sid", required_argument, NULL, OPT_SID },
		{ "public_key_sid", required_argument, NULL, OPT_SID },
		{ "headers", required_argument, NULL, OPT_HEADERS },
		{ "details", required_argument, NULL, OPT_DETAILS },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	struct cli_decrypt *d = &cli->decrypt;
	int c, nargs;

	cli->command = CLI_DECRYPT;
	d->keys = getenv("TWILIOFS_KEYS");
	d->passphrase_file = getenv("TWILIOFS_KEY_PASSPHRASE_FILE");
	opterr = 0;
	/*
	 * 0, not 1: getopt (glibc, musl) then also forgets where an earlier
	 * scan stopped inside a group of short options ("-hf"), a pointer
	 * into that scan's argv, so cli_parse may be called again (tests).
	 */
	optind = 0;
	while ((c = getopt_long(argc, argv, "+k:vh", longopts, NULL)) != -1) {
		switch (c) {
		case 'k':
			d->keys = optarg;
			break;
		case OPT_PASSFILE:
			d->passphrase_file = optarg;
			break;
		case OPT_CEK:
			d->cek_b64 = optarg;
			break;
		case OPT_IV:
			d->iv_b64 = optarg;
			break;
		case OPT_SID:
			d->public_key_sid = optarg;
			break;
		case OPT_HEADERS:
			d->headers_file = optarg;
			break;
		case OPT_DETAILS:
			d->details = optarg;
			break;
		case 'v':
			cli->verbosity++;
			break;
		case 'h':
			fputs(usage_decrypt, stdout);
			return CLI_EXIT_OK;
		default:
			return bad_option("decrypt", argv);
		}
	}
	nargs = argc - optind;
	if (nargs > 2)
		return usage_error("decrypt ", "decrypt: too many arguments "
		    "(INPUT [OUTPUT] expected)");
	d->input = nargs > 0 ? argv[optind] : NULL;
	d->output = nargs > 1 ? argv[optind + 1] : NULL;
	return check_decrypt(d);
}

/* The -o names of the account options ('-' in a name reads as '_'). */
static const struct {
	const char *name;
	int id;
} account_opts[] = {
	{ "account_sid", OPT_ACCOUNT_SID }, { "credentials", OPT_CREDENTIALS },
	{ "keys", 'k' }, { "key_passphrase_file", OPT_PASSFILE },
	{ "endpoint", OPT_ENDPOINT }, { "region", OPT_REGION },
	{ "edge", OPT_EDGE }, { "cafile", OPT_CAFILE },
	{ "cache_dir", OPT_CACHE_DIR }, { "page_size", OPT_PAGE_SIZE },
	{ "ttl", OPT_TTL }, { "log_file", OPT_LOG_FILE }
};

static int
parse_int(const char *s, long min, long max, int *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < min || v > max)
		return -1;
	*out = (int)v;
	return 0;
}

/* Set one account option; CLI_EXIT_USAGE (message printed) if bad. */
static int
set_account(struct cli *cli, const char *cmd, int id, const char *v)
{
	struct cli_account *a = &cli->account;

	switch (id) {
	case OPT_ACCOUNT_SID: a->account_sid = v; break;
	case OPT_CREDENTIALS:
		a->credentials_file = v;
		a->credentials_from_config = 0;
		break;
	case 'k': a->keys = v; break;
	case OPT_PASSFILE: a->passphrase_file = v; break;
	case OPT_ENDPOINT: a->endpoint = v; break;
	case OPT_REGION: a->region = v; break;
	case OPT_EDGE: a->edge = v; break;
	case OPT_CAFILE: a->cafile = v; break;
	case OPT_CACHE_DIR: a->cache_dir = v; break;
	case OPT_LOG_FILE: cli->log_file = v; break;
	case OPT_PAGE_SIZE:
		if (parse_int(v, 1, 1000, &a->page_size) != 0) {
			log_msg(TFS_LOG_ERROR, "%s: page_size must be 1 to "
			    "1000, not '%.20s'", cmd, v);
			return CLI_EXIT_USAGE;
		}
		break;
	case OPT_TTL:
		if (parse_int(v, 1, 3600, &a->ttl) != 0) {
			log_msg(TFS_LOG_ERROR, "%s: ttl must be 1 to 3600 "
			    "seconds, not '%.20s'", cmd, v);
			return CLI_EXIT_USAGE;
		}
		break;
	default:
		return CLI_EXIT_USAGE;
	}
	return -1;
}

/* Parse a size with an optional K, M or G suffix. */
static int
parse_size(const char *s, long long *out)
{
	char *end;
	long long v, unit = 1;

	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno != 0 || end == s || v < 0)
		return -1;
	switch (*end) {
	case 'K': case 'k': unit = 1024; end++; break;
	case 'M': case 'm': unit = 1024 * 1024; end++; break;
	case 'G': case 'g': unit = 1024LL * 1024 * 1024; end++; break;
	}
	/* Checked before multiplying: 9999999999999G is no size (UB). */
	if (*end != '\0' || v > LLONG_MAX / unit)
		return -1;
	*out = v * unit;
	return 0;
}

/* uid=N or uid=USER (gid= with a group), as sshfs takes them; -1: bad. */
static long long
parse_owner(const char *v, int group)
{
	const struct passwd *pw;
	const struct group *gr;
	char *end;
	long long n;

	errno = 0;
	n = strtoll(v, &end, 10);
	if (errno == 0 && end != v && *end == '\0')
		return n >= 0 && n < 0xffffffffLL ? n : -1;
	if (group) {
		gr = getgrnam(v);
		return gr != NULL ? (long long)gr->gr_gid : -1;
	}
	pw = getpwnam(v);
	return pw != NULL ? (long long)pw->pw_uid : -1;
}

/*
 * uid=, gid=, umask=: ours, not libfuse's (whose umask would make every
 * file executable). Returns -2 if item is none of them, -1 if handled, or
 * an exit status.
 */
static int
set_mount_access(struct cli_mount *m, const char *item, const char *value)
{
	int group = strcmp(item, "gid") == 0;
	long long id;
	char *end;
	long mask;

	if (value != NULL && (group || strcmp(item, "uid") == 0)) {
		id = parse_owner(value, group);
		if (id < 0) {
			log_msg(TFS_LOG_ERROR, "mount: %s=%.40s: no such %s "
			    "(a number or a name)", item, value, group ?
			    "group" : "user");
			return CLI_EXIT_USAGE;
		}
		*(group ? &m->gid : &m->uid) = id;
		return -1;
	}
	if (value == NULL || strcmp(item, "umask") != 0)
		return -2;
	errno = 0;
	mask = strtol(value, &end, 8);
	if (errno != 0 || end == value || *end != '\0' || mask < 0 ||
	    mask > 0777) {
		log_msg(TFS_LOG_ERROR, "mount: umask must be octal, 000 to "
		    "777, not '%.20s'", value);
		return CLI_EXIT_USAGE;
	}
	m->umask = (int)mask;
	return -1;
}

/* The mount's numeric -o options. */
static const struct int_opt {
	const char *name;
	int min, max;
	size_t off;		/* of its int in struct cli_mount */
	const char *what;
} int_opts[] = {
	{ "refresh", 0, 86400 * 365, offsetof(struct cli_mount, refresh),
	    "seconds" },
	{ "streams", 1, 16, offsetof(struct cli_mount, streams),
	    "a number of requests" },
	{ "read_timeout", 1, 3600, offsetof(struct cli_mount, read_timeout),
	    "seconds" },
	{ "full_refresh", 0, 86400 * 365, offsetof(struct cli_mount,
	    full_refresh), "seconds" },
};

/*
 * The mount's own -o options, and everything else passed on to FUSE.
 * Returns -1 if handled, or an exit status.
 */
static int
set_mount_o(struct cli *cli, char *item, char *value)
{
	struct cli_mount *m = &cli->mount;
	size_t len = strlen(m->fuse_opts), i;
	int w;

	w = set_mount_access(m, item, value);
	if (w != -2)
		return w;
	if (strcmp(item, "offline") == 0 && value == NULL) {
		m->offline = 1;
		return -1;
	}
	for (i = 0; value != NULL && i < sizeof(int_opts) /
	    sizeof(int_opts[0]); i++) {
		const struct int_opt *o = &int_opts[i];

		if (strcmp(item, o->name) != 0)
			continue;
		if (parse_int(value, o->min, o->max, (int *)(void *)
		    ((char *)m + o->off)) != 0) {
			log_msg(TFS_LOG_ERROR, "mount: %s must be %s, %d to "
			    "%d, not '%.20s'", o->name, o->what, o->min,
			    o->max, value);
			return CLI_EXIT_USAGE;
		}
		return -1;
	}
	if (strcmp(item, "cache_size") == 0 && value != NULL) {
		if (parse_size(value, &m->cache_size) != 0) {
			log_msg(TFS_LOG_ERROR, "mount: cache_size must be "
			    "bytes with an optional K, M or G, not '%.20s'",
			    value);
			return CLI_EXIT_USAGE;
		}
		return -1;
	}
	if (strcmp(item, "allow_other") == 0)
		m->allow_other = 1;
	/* The mount is always read-only: "rw" from fstab is overruled. */
	if (strcmp(item, "rw") == 0 || strcmp(item, "ro") == 0)
		return -1;
	w = snprintf(m->fuse_opts + len, sizeof(m->fuse_opts) - len, "%s%s%s%s",
	    len > 0 ? "," : "", item, value != NULL ? "=" : "",
	    value != NULL ? value : "");
	if (w < 0 || (size_t)w >= sizeof(m->fuse_opts) - len) {
		log_msg(TFS_LOG_ERROR, "mount: too many -o options");
		return CLI_EXIT_USAGE;
	}
	return -1;
}

/* -o name=value[,name=value…]: the mount(8) form of the options. */
static int
set_o(struct cli *cli, const char *cmd, char *list)
{
	char *item, *next, *eq, *p;
	size_t i;
	int st;

	for (item = list; item != NULL; item = next) {
		next = strchr(item, ',');
		if (next != NULL)
			*next++ = '\0';
		eq = strchr(item, '=');
		if (eq == NULL && cli->command == CLI_MOUNT) {
			st = set_mount_o(cli, item, NULL);
			if (st >= 0)
				return st;
			continue;
		}
		if (eq == NULL) {
			log_msg(TFS_LOG_ERROR, "%s: -o %.40s: name=value "
			    "expected", cmd, item);
			return CLI_EXIT_USAGE;
		}
		*eq = '\0';
		for (p = item; *p != '\0'; p++)
			if (*p == '-')
				*p = '_';
		if (strcmp(item, "profile") == 0)
			continue;	/* taken before: find_profile */
		for (i = 0; i < sizeof(account_opts) / sizeof(account_opts[0]);
		    i++)
			if (strcmp(item, account_opts[i].name) == 0)
				break;
		if (i == sizeof(account_opts) / sizeof(account_opts[0]) &&
		    cli->command == CLI_MOUNT) {
			st = set_mount_o(cli, item, eq + 1);
			if (st >= 0)
				return st;
			continue;
		}
		if (i == sizeof(account_opts) / sizeof(account_opts[0])) {
			log_msg(TFS_LOG_ERROR, "%s: unknown option -o %.40s; "
			    "see 'twiliofs %s --help'", cmd, item, cmd);
			return CLI_EXIT_USAGE;
		}
		st = set_account(cli, cmd, account_opts[i].id, eq + 1);
		if (st >= 0)
			return st;
	}
	return -1;
}

/*
 * The options of keys and encryption, each for its own action: -2 when c
 * is none of them, -1 when taken, else an exit status.
 */
static int
setup_option(struct cli *cli, const char *cmd, int c, const char *v,
    char **argv)
{
	struct cli_setup *su = &cli->setup;
	enum cli_setup_action want;

	switch (c) {
	case OPT_BITS:
	case OPT_OUT:
		want = SETUP_GENERATE;
		break;
	case OPT_NAME:
		want = SETUP_REGISTER;
		break;
	case OPT_YES:
		want = SETUP_REMOVE;
		break;
	case OPT_KEY:
	case OPT_FORCE:
		want = SETUP_ENABLE;
		break;
	case OPT_SERVICE:
		want = su->action == SETUP_DISABLE ? SETUP_DISABLE :
		    SETUP_ENABLE;
		break;
	default:
		return -2;
	}
	if (su->action != want)
		return bad_option(cmd, argv);
	if (c == OPT_BITS && parse_int(v, 2048, 4096, &su->bits) != 0)
		return usage_error("keys ", "keys generate: --bits must be "
		    "2048, 3072 or 4096");
	if (c == OPT_OUT)
		su->out = v;
	if (c == OPT_NAME)
		su->name = v;
	if (c == OPT_YES)
		su->yes = 1;
	if (c == OPT_KEY)
		su->key = v;
	if (c == OPT_FORCE)
		su->force = 1;
	if (c == OPT_SERVICE)
		su->service = v;
	return -1;
}

/* The operand each action takes (none, a file, a SID, a target). */
static int
setup_operand(struct cli *cli, const char *cmd, int nargs, char **args)
{
	static const char *const what[] = {
		[SETUP_GENERATE] = NULL, [SETUP_REGISTER] = "PRIVATE_KEY",
		[SETUP_LIST] = NULL, [SETUP_REMOVE] = "a Public Key SID",
		[SETUP_STATUS] = NULL, [SETUP_ENABLE] = "TARGET",
		[SETUP_DISABLE] = "TARGET",
	};
	struct cli_setup *su = &cli->setup;
	const char *want = what[su->action];
	char msg[128];

	if (nargs != (want != NULL)) {
		(void)snprintf(msg, sizeof(msg), "%s: %s expected", cmd,
		    want != NULL ? want : "no operand");
		return usage_error(cli->command == CLI_KEYS ? "keys " :
		    "encryption ", msg);
	}
	su->arg = nargs > 0 ? args[0] : NULL;
	if (su->action == SETUP_ENABLE && su->key == NULL &&
	    strcmp(su->arg, "voice") != 0)
		return usage_error("encryption ", "encryption enable: --key "
		    "CR… expected (see 'twiliofs keys list')");
	return -1;
}

static int parse_account_cmd(struct cli *cli, const char *cmd, int argc,
    char **argv, const char *account);

/* keys SUB … and encryption SUB …: the action, then as sync. */
static int
parse_setup(struct cli *cli, int argc, char **argv)
{
	static const struct {
		enum cli_command cmd;
		const char *name;
		enum cli_setup_action action;
	} subs[] = {
		{ CLI_KEYS, "generate", SETUP_GENERATE },
		{ CLI_KEYS, "register", SETUP_REGISTER },
		{ CLI_KEYS, "list", SETUP_LIST },
		{ CLI_KEYS, "remove", SETUP_REMOVE },
		{ CLI_ENCRYPTION, "status", SETUP_STATUS },
		{ CLI_ENCRYPTION, "enable", SETUP_ENABLE },
		{ CLI_ENCRYPTION, "disable", SETUP_DISABLE },
	};
	static char cmd[64];
	const char *top = argv[1], *sub = argc > 2 ? argv[2] : "";
	size_t i;

	cli->command = strcmp(top, "keys") == 0 ? CLI_KEYS : CLI_ENCRYPTION;
	if (strcmp(sub, "-h") == 0 || strcmp(sub, "--help") == 0) {
		fputs(cli->command == CLI_KEYS ? usage_keys :
		    usage_encryption, stdout);
		return CLI_EXIT_OK;
	}
	for (i = 0; i < sizeof(subs) / sizeof(subs[0]); i++)
		if (subs[i].cmd == cli->command &&
		    strcmp(subs[i].name, sub) == 0)
			break;
	if (i == sizeof(subs) / sizeof(subs[0])) {
		log_msg(TFS_LOG_ERROR, "%s: %s '%.40s'; see 'twiliofs %s "
		    "--help'", top, sub[0] ? "unknown action" : "no action",
		    sub, top);
		return CLI_EXIT_USAGE;
	}
	cli->setup.action = subs[i].action;
	cli->setup.bits = 2048;
	cli->setup.out = ".";
	(void)snprintf(cmd, sizeof(cmd), "%s %s", top, sub);
	return parse_account_cmd(cli, cmd, argc - 2, argv + 2, NULL);
}

void
cli_take_secret(char *secret, char *out, size_t cap)
{
	(void)snprintf(out, cap, "%s", secret != NULL ? secret : "");
	if (secret != NULL)
		explicit_bzero(secret, strlen(secret));
}

/* What a config file's profile sets: as -o, plus the credentials. */
struct config_ctx {
	struct cli *cli;
	const char *cmd;
};

static int
config_set(const char *name, char *value, void *arg)
{
	struct config_ctx *c = arg;
	struct cli_account *a = &c->cli->account;
	char *p;
	size_t i;

	/* Dashes or underscores, as for -o. */
	for (p = (char *)name; *p != '\0'; p++)
		if (*p == '-')
			*p = '_';
	/* A bare name is a mount flag (offline, allow_other). */
	if (value == NULL && c->cli->command != CLI_MOUNT)
		return 0;
	if (value == NULL)
		return set_mount_o(c->cli, (char *)name, NULL) >= 0 ?
		    TFS_ERR_CONFIG : 0;
	if (strcmp(name, "api_key") == 0)
		a->api_key = value;
	else if (strcmp(name, "api_secret") == 0)
		a->api_secret = value;
	else if (strcmp(name, "auth_token") == 0)
		a->auth_token = value;
	else {
		for (i = 0; i < sizeof(account_opts) / sizeof(account_opts[0]);
		    i++) {
			if (strcmp(name, account_opts[i].name) != 0)
				continue;
			if (set_account(c->cli, c->cmd, account_opts[i].id,
			    value) >= 0)
				return TFS_ERR_CONFIG;
			/* The environment's credentials win over it. */
			a->credentials_from_config = account_opts[i].id ==
			    OPT_CREDENTIALS ? 1 : a->credentials_from_config;
			return 0;
		}
		/* Mount options in a profile: for mounts only. */
		if (c->cli->command == CLI_MOUNT)
			return set_mount_o(c->cli, (char *)name, value) >= 0 ?
			    TFS_ERR_CONFIG : 0;
	}
	return 0;
}

/* name's value from the environment, when it is set there. */
static void
env_over(const char **v, const char *name)
{
	const char *e = getenv(name);

	if (e != NULL)
		*v = e;
}

/*
 * The defaults, then the config file's profile, then the environment:
 * the command line, parsed after, wins over both.
 */
static int
account_defaults(struct cli *cli, const char *cmd, const char *profile)
{
	struct cli_account *a = &cli->account;
	struct config_ctx c = { cli, cmd };
	struct tfs_error err = { 0, "" };
	const char *env_profile = getenv("TWILIOFS_PROFILE");

	a->ttl = 600;
	if (profile == NULL && env_profile != NULL && env_profile[0] != '\0')
		profile = env_profile;
	a->profile = profile;
	if (config_read(profile, profile != NULL, config_set, &c, &err) !=
	    TFS_OK) {
		cli_report(&err);
		return CLI_EXIT_CONFIG;
	}
	env_over(&a->account_sid, "TWILIO_ACCOUNT_SID");
	env_over(&a->keys, "TWILIOFS_KEYS");
	env_over(&a->passphrase_file, "TWILIOFS_KEY_PASSPHRASE_FILE");
	env_over(&a->endpoint, "TWILIOFS_ENDPOINT");
	env_over(&a->region, "TWILIO_REGION");
	env_over(&a->edge, "TWILIO_EDGE");
	env_over(&a->cafile, "TWILIOFS_CAFILE");
	env_over(&a->cache_dir, "TWILIOFS_CACHE_DIR");
	return -1;
}

/*
 * --profile NAME, --profile=NAME or -o …,profile=NAME,… (fstab) among
 * args, before getopt's pass: the profile comes before everything else.
 */
static const char *
find_profile(int argc, char **argv)
{
	static char name[128];
	const char *p;
	int i;

	for (i = 1; i < argc && strcmp(argv[i], "--") != 0; i++) {
		if (strcmp(argv[i], "--profile") == 0 && i + 1 < argc)
			return argv[i + 1];
		if (strncmp(argv[i], "--profile=", 10) == 0)
			return argv[i] + 10;
		if (strcmp(argv[i], "-o") != 0 || i + 1 >= argc)
			continue;
		for (p = argv[i + 1]; p != NULL; p = strchr(p, ',')) {
			p += *p == ',';
			if (strncmp(p, "profile=", 8) == 0) {
				(void)snprintf(name, sizeof(name), "%.*s",
				    (int)strcspn(p + 8, ","), p + 8);
				return name;
			}
		}
	}
	return NULL;
}

/* The log file, from now on; CLI_EXIT_CONFIG (said why) if refused. */
static int
open_log_file(const char *path)
{
	struct tfs_error err = { 0, "" };

	if (log_open_file(path, &err) == TFS_OK)
		return -1;
	cli_report(&err);
	return CLI_EXIT_CONFIG;
}

/* sync and get: account options, then their own. */
static int
parse_account_cmd(struct cli *cli, const char *cmd, int argc, char **argv,
    const char *account)
{
#define BOTH(dash, under, id) { dash, required_argument, NULL, id }, \
	{ under, required_argument, NULL, id }
	static const struct option longopts[] = {
		BOTH("account-sid", "account_sid", OPT_ACCOUNT_SID),
		{ "credentials", required_argument, NULL, OPT_CREDENTIALS },
		{ "keys", required_argument, NULL, 'k' },
		BOTH("key-passphrase-file", "key_passphrase_file",
		    OPT_PASSFILE),
		{ "endpoint", required_argument, NULL, OPT_ENDPOINT },
		{ "region", required_argument, NULL, OPT_REGION },
		{ "edge", required_argument, NULL, OPT_EDGE },
		{ "cafile", required_argument, NULL, OPT_CAFILE },
		BOTH("cache-dir", "cache_dir", OPT_CACHE_DIR),
		BOTH("page-size", "page_size", OPT_PAGE_SIZE),
		{ "ttl", required_argument, NULL, OPT_TTL },
		BOTH("log-file", "log_file", OPT_LOG_FILE),
		{ "incremental", no_argument, NULL, OPT_INCREMENTAL },
		{ "full", no_argument, NULL, OPT_FULL },
		{ "part", required_argument, NULL, OPT_PART },
		{ "bits", required_argument, NULL, OPT_BITS },
		{ "out", required_argument, NULL, OPT_OUT },
		{ "name", required_argument, NULL, OPT_NAME },
		{ "yes", no_argument, NULL, OPT_YES },
		{ "service", required_argument, NULL, OPT_SERVICE },
		{ "key", required_argument, NULL, OPT_KEY },
		{ "force", no_argument, NULL, OPT_FORCE },
		{ "profile", required_argument, NULL, OPT_PROFILE },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
#undef BOTH
	const char *help = cli->command == CLI_SYNC ? usage_sync :
	    cli->command == CLI_GET ? usage_get : cli->command == CLI_KEYS ?
	    usage_keys : cli->command == CLI_ENCRYPTION ? usage_encryption :
	    usage_mount;
	int c, st, nargs;

	cli->mount.refresh = 300;
	cli->mount.full_refresh = 86400;
	cli->mount.streams = 4;
	cli->mount.read_timeout = 30;
	cli->mount.cache_size = 2LL * 1024 * 1024 * 1024;
	cli->mount.uid = cli->mount.gid = -1;
	cli->mount.umask = -1;
	st = account_defaults(cli, cmd, find_profile(argc, argv));
	if (st >= 0)
		return st;
	if (account != NULL)
		cli->account.account_sid = account;
	opterr = 0;
	optind = 0;	/* a new scan: see parse_decrypt */
	/* Options after operands too ("enable video-recordings --key"),
	 * but not for mount(8)'s form, which reorders them itself. */
	while ((c = getopt_long(argc, argv, cli->command == CLI_MOUNT ?
	    "+k:o:vhfds" : cli->command == CLI_KEYS || cli->command ==
	    CLI_ENCRYPTION ? "k:o:vh" : "+k:o:vh", longopts, NULL)) != -1) {
		st = -1;
		switch (c) {
		case 'f':
			cli->mount.foreground = 1;
			break;
		case 'd':
			cli->mount.debug = 1;
			cli->mount.foreground = 1;
			break;
		case 's':
			cli->mount.single_thread = 1;
			break;
		case 'v':
			cli->verbosity++;
			break;
		case 'h':
			fputs(help, stdout);
			return CLI_EXIT_OK;
		case 'o':
			st = set_o(cli, cmd, optarg);
			break;
		case OPT_INCREMENTAL:
			if (cli->command != CLI_SYNC)
				return bad_option(cmd, argv);
			cli->listing = -1;
			break;
		case OPT_FULL:
			if (cli->command != CLI_SYNC)
				return bad_option(cmd, argv);
			cli->listing = 1;
			break;
		case OPT_PROFILE:	/* taken before: find_profile */
			/* "--prof x" (getopt takes it) or a second
			 * --profile: not what find_profile saw. */
			if (cli->account.profile == NULL ||
			    strcmp(optarg, cli->account.profile) != 0)
				return usage_error(NULL, "--profile NAME: "
				    "spelled out, and once");
			break;
		case OPT_PART:
			if (cli->command != CLI_GET ||
			    parse_int(optarg, 1, 1000000, &cli->part) != 0)
				return bad_option(cmd, argv);
			break;
		case '?':
		case ':':
			return bad_option(cmd, argv);
		default:
			st = setup_option(cli, cmd, c, optarg, argv);
			if (st == -2)
				st = set_account(cli, cmd, c, optarg);
			break;
		}
		if (st >= 0)
			return st;
	}
	nargs = argc - optind;
	if (cli->command == CLI_SYNC && nargs > 0)
		return usage_error("sync ", "sync: takes no arguments");
	if (cli->command == CLI_MOUNT) {
		if (nargs != 1)
			return usage_error("mount ", "mount: MOUNTPOINT "
			    "expected");
		cli->mount.mountpoint = argv[optind];
	}
	if (cli->command == CLI_GET) {
		if (nargs < 1 || nargs > 2)
			return usage_error("get ", "get: SID [OUTPUT] "
			    "expected");
		cli->sid = argv[optind];
		cli->output = nargs > 1 ? argv[optind + 1] : NULL;
	}
	if (cli->command == CLI_KEYS || cli->command == CLI_ENCRYPTION) {
		st = setup_operand(cli, cmd, nargs, argv + optind);
		if (st >= 0)
			return st;
	}
	if (cli->log_file != NULL && open_log_file(cli->log_file) >= 0)
		return CLI_EXIT_CONFIG;
	/* A key pair is made offline: no account needed. */
	if (cli->setup.action == SETUP_GENERATE)
		return -1;
	if (cli->account.account_sid == NULL ||
	    cli->account.account_sid[0] == '\0') {
		log_msg(TFS_LOG_ERROR, "%s: no account: set TWILIO_ACCOUNT_SID "
		    "or give --account-sid AC…", cmd);
		return CLI_EXIT_CONFIG;
	}
	return -1;
}

/* Copy "NAME=value" 's value if line is that variable. */
static int
take_var(const char *line, const char *name, char *out, size_t cap)
{
	size_t n = strlen(name), len;
	const char *v;

	if (strncmp(line, "export ", 7) == 0)
		line += 7;
	if (strncmp(line, name, n) != 0 || line[n] != '=')
		return 0;
	v = line + n + 1;
	len = strlen(v);
	if (len >= 2 && (v[0] == '"' || v[0] == '\'') && v[len - 1] == v[0]) {
		v++;
		len -= 2;
	}
	if (len >= cap)
		return -1;
	memcpy(out, v, len);
	out[len] = '\0';
	return 1;
}

int
cli_read_credentials(const char *path, char *key, size_t key_cap,
    char *secret, size_t secret_cap, char *token, size_t token_cap,
    char *account, size_t account_cap, struct tfs_error *err)
{
	char line[1024];
	struct stat st;
	FILE *f;
	int rc = TFS_OK, bad = 0;

	f = fopen(path, "re");
	if (f == NULL)
		return tfs_error_set(err, TFS_ERR_CONFIG, "%s: cannot open the "
		    "credentials file: %s", path, strerror(errno));
	if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
		rc = tfs_error_set(err, TFS_ERR_CONFIG, "%s: the credentials "
		    "file is not a regular file", path);
		goto out;
	}
	if ((st.st_mode & (S_IRWXG | S_IRWXO)) != 0) {
		rc = tfs_error_set(err, TFS_ERR_CONFIG, "%s: credentials file "
		    "is readable by group or others (mode %04o); run: chmod "
		    "600 %s", path, (unsigned)(st.st_mode & 07777), path);
		goto out;
	}
	while (fgets(line, sizeof(line), f) != NULL) {
		/*
		 * A line fgets had to cut, or one holding a NUL byte: its
		 * rest would read as a line of its own ("…TWILIO_API_KEY=").
		 */
		if (strchr(line, '\n') == NULL && !feof(f)) {
			rc = tfs_error_set(err, TFS_ERR_CONFIG, "%s: a line of "
			    "the credentials file is longer than %zu bytes or "
			    "is not text", path, sizeof(line) - 2);
			goto out;
		}
		line[strcspn(line, "\r\n")] = '\0';
		bad |= take_var(line, "TWILIO_API_KEY", key, key_cap) < 0;
		bad |= take_var(line, "TWILIO_API_SECRET", secret,
		    secret_cap) < 0;
		bad |= take_var(line, "TWILIO_AUTH_TOKEN", token, token_cap) <
		    0;
		bad |= take_var(line, "TWILIO_ACCOUNT_SID", account,
		    account_cap) < 0;
	}
	if (bad)
		rc = tfs_error_set(err, TFS_ERR_CONFIG, "%s: a value in the "
		    "credentials file is too long", path);
out:
	explicit_bzero(line, sizeof(line));
	fclose(f);
	return rc;
}

/* ACCOUNT_SID MOUNTPOINT [-o OPTS]... → mount -o OPTS... MOUNTPOINT. */
static int
parse_fstab_form(struct cli *cli, int argc, char **argv)
{
	char *args[64];
	int n = 0, i;

	if (argc + 2 > (int)(sizeof(args) / sizeof(args[0])))
		return usage_error(NULL, "too many arguments");
	args[n++] = "mount";
	for (i = 3; i < argc; i++)
		args[n++] = argv[i];
	args[n++] = argv[2];
	args[n] = NULL;
	cli->command = CLI_MOUNT;
	return parse_account_cmd(cli, "mount", n, args, argv[1]);
}

int
cli_parse(struct cli *cli, int argc, char **argv)
{
	const char *cmd;

	memset(cli, 0, sizeof(*cli));
	if (argc < 2)
		return usage_error(NULL, "no command given");
	cmd = argv[1];
	if (strcmp(cmd, "-h") == 0 || strcmp(cmd, "--help") == 0 ||
	    strcmp(cmd, "help") == 0) {
		fputs(usage_main, stdout);
		return CLI_EXIT_OK;
	}
	if (strcmp(cmd, "-V") == 0 || strcmp(cmd, "--version") == 0) {
		cli->command = CLI_VERSION;
		return -1;
	}
	if (strcmp(cmd, "decrypt") == 0)
		return parse_decrypt(cli, argc - 1, argv + 1);
	if (strcmp(cmd, "sync") == 0 || strcmp(cmd, "get") == 0 ||
	    strcmp(cmd, "mount") == 0) {
		cli->command = cmd[0] == 's' ? CLI_SYNC : cmd[0] == 'g' ?
		    CLI_GET : CLI_MOUNT;
		return parse_account_cmd(cli, cmd, argc - 1, argv + 1, NULL);
	}
	/*
	 * mount(8) runs "twiliofs ACCOUNT_SID MOUNTPOINT -o OPTIONS": the
	 * account comes first, the options after the operands.
	 */
	if (strncmp(cmd, "AC", 2) == 0 && strlen(cmd) == 34 && argc >= 3)
		return parse_fstab_form(cli, argc, argv);
	if (strcmp(cmd, "keys") == 0 || strcmp(cmd, "encryption") == 0)
		return parse_setup(cli, argc, argv);
	log_msg(TFS_LOG_ERROR, "unknown command '%.40s'; see 'twiliofs "
	    "--help'", cmd);
	return CLI_EXIT_USAGE;
}

void
cli_progress_init(struct cli_progress_state *ps)
{
	memset(ps, 0, sizeof(*ps));
	ps->tty = isatty(STDERR_FILENO);
}

/* A 20-cell bar of done/total. */
static void
bar(char *out, size_t done, size_t total)
{
	size_t i, full = total > 0 ? done * 20 / total : 20;

	for (i = 0; i < 20; i++)
		out[i] = i < full ? '#' : '-';
	out[20] = '\0';
}

void
cli_progress(const struct sync_progress *p, void *arg)
{
	struct cli_progress_state *ps = arg;
	char b[21];
	size_t step;

	if (ps->tty) {
		if (!p->probing)
			fprintf(stderr, "\rtwiliofs: sync: %-16s %4zu pages "
			    "%7zu items\033[K", sync_kind_name(p->kind),
			    p->pages, p->items);
		else {
			bar(b, p->done, p->total);
			fprintf(stderr, "\rtwiliofs: sync: media [%s] %zu/%zu"
			    "\033[K", b, p->done, p->total);
		}
		ps->drawn = 1;
		return;
	}
	if (!p->probing) {
		log_msg(TFS_LOG_WARN, "sync: %s: page %zu, %zu items",
		    sync_kind_name(p->kind), p->pages, p->items);
		return;
	}
	/* Plain lines: every tenth of the probes, and the last. */
	step = p->total > 0 ? p->done * 10 / p->total : 10;
	if (step != ps->step || p->done == p->total) {
		ps->step = step;
		log_msg(TFS_LOG_WARN, "sync: media probed: %zu of %zu",
		    p->done, p->total);
	}
}

void
cli_progress_bytes(long long got, void *arg)
{
	struct cli_progress_state *ps = arg;

	if (!ps->tty)
		return;
	fprintf(stderr, "\rtwiliofs: get: %s: %.1f MiB downloaded\033[K",
	    ps->what != NULL ? ps->what : "", (double)got / (1 << 20));
	ps->drawn = 1;
}

void
cli_progress_end(struct cli_progress_state *ps)
{
	if (ps->drawn)
		fputc('\n', stderr);
	ps->drawn = 0;
}

void
cli_sync_summary(enum item_kind kind, const struct sync_kind_report *r,
    const struct catalog_counts *c)
{
	printf("%s: %zu listed (%zu new, %zu changed, %zu removed%s%s); %zu "
	    "completed, %zu pending, %zu processing, %zu failed",
	    sync_kind_name(kind), r->listed, r->added, r->changed, r->removed,
	    r->complete ? "" : ", listing stopped early", r->skipped ?
	    ", malformed records skipped" : "", c->completed, c->pending,
	    c->processing, c->failed);
	if (c->failing)
		printf(", %zu failing", c->failing);
	if (c->nokey)
		printf(", %zu no key", c->nokey);
	if (c->external)
		printf(", %zu external", c->external);
	if (c->unencrypted)
		printf(", %zu unencrypted", c->unencrypted);
	printf("\n");
}
