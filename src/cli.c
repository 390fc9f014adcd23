/* SPDX-License-Identifier: MIT */
/* cli.c - argument and environment parsing, help, messages, exit codes. */
#define _GNU_SOURCE	/* getopt_long */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "twiliofs/cli.h"
#include "twiliofs/log.h"

#ifndef TFS_VERSION
#define TFS_VERSION "unknown"
#endif

static const char usage_main[] =
"Usage: twiliofs COMMAND [OPTIONS] ...\n"
"Mount a Twilio account as a read-only directory of decrypted media.\n"
"\n"
"Commands:\n"
"  decrypt   decrypt a recording, composition or transcript you already\n"
"            downloaded (offline)\n"
"\n"
"Not in this version yet: mount, get, sync, keys (see README.md).\n"
"\n"
"  -h, --help      this text; 'twiliofs COMMAND --help' for a command\n"
"  -V, --version   print the version\n"
"\n"
"Exit status: 0 success, 1 usage or local file error, 2 configuration\n"
"(keys, credentials), 3 network or server error, 4 decryption or\n"
"integrity failure. See twiliofs(1).\n";

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

int
cli_exit_status(int code)
{
	switch (code) {
	case TFS_OK:
		return CLI_EXIT_OK;
	case TFS_ERR_CONFIG:
		return CLI_EXIT_CONFIG;
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
	OPT_PASSFILE
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
	optind = 1;
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

int
cli_parse(struct cli *cli, int argc, char **argv)
{
	static const char *const later[] = { "mount", "get", "sync", "keys" };
	const char *cmd;
	size_t i;

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
		printf("twiliofs %s\n", TFS_VERSION);
		return CLI_EXIT_OK;
	}
	if (strcmp(cmd, "decrypt") == 0)
		return parse_decrypt(cli, argc - 1, argv + 1);
	for (i = 0; i < sizeof(later) / sizeof(later[0]); i++)
		if (strcmp(cmd, later[i]) == 0) {
			log_msg(TFS_LOG_ERROR, "'%s' is not in this version "
			    "(%s) yet; only 'decrypt' is", cmd, TFS_VERSION);
			return CLI_EXIT_USAGE;
		}
	log_msg(TFS_LOG_ERROR, "unknown command '%.40s'; see 'twiliofs "
	    "--help'", cmd);
	return CLI_EXIT_USAGE;
}
