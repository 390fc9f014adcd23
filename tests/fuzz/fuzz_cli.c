/* SPDX-License-Identifier: MIT */
/*
 * fuzz_cli.c - cli_parse on a command line made of the input: arguments
 * separated by NUL bytes, after argv[0] "twiliofs". Every -o list, size,
 * owner, octal umask and number is parsed here. The environment is
 * emptied of twiliofs' variables and there is no config file, so each
 * input means the same. An input naming a log file is left out: opening
 * one is not parsing, and would create files wherever the input says.
 * Seeds: command lines of the README, the man page and the tests.
 */
#include "twiliofs/cli.h"

#include "fuzz.h"

#define MAX_ARGS 40

/* --log-file and its unique prefixes (getopt_long takes them), -o log_file. */
static int
names_log_file(const char *a)
{
	return strncmp(a, "--l", 3) == 0 || strstr(a, "log_file") != NULL ||
	    strstr(a, "log-file") != NULL;
}

/* Whether the list "a,b=c,..." has an item called name. */
static int
has_item(const char *list, const char *name)
{
	size_t n = strlen(name);
	const char *p;

	for (p = list; p != NULL; p = strchr(p, ',')) {
		if (*p == ',')
			p++;
		/* strchr finds the NUL too: the last item. */
		if (strncmp(p, name, n) == 0 && strchr(",=", p[n]) != NULL)
			return 1;
	}
	return 0;
}

static void
check_mount(const struct cli_mount *m)
{
	FUZZ_CHECK(m->mountpoint != NULL);
	FUZZ_CHECK(m->streams >= 1 && m->streams <= 16);
	FUZZ_CHECK(m->read_timeout >= 1 && m->read_timeout <= 3600);
	FUZZ_CHECK(m->refresh >= 0 && m->cache_size >= 0);
	FUZZ_CHECK(m->umask >= -1 && m->umask <= 0777);
	FUZZ_CHECK(m->uid >= -1 && m->gid >= -1);
	FUZZ_CHECK(memchr(m->fuse_opts, '\0', sizeof(m->fuse_opts)) != NULL);
	/* Always read-only: "rw" never reaches FUSE. */
	FUZZ_CHECK(!has_item(m->fuse_opts, "rw"));
}

/* What a command to run promises main.c. */
static void
check_cli(const struct cli *cli)
{
	const struct cli_decrypt *d = &cli->decrypt;

	FUZZ_CHECK(cli->command != 0);
	switch (cli->command) {
	case CLI_DECRYPT:
		FUZZ_CHECK(d->input != NULL && d->keys != NULL);
		FUZZ_CHECK((d->cek_b64 != NULL) == (d->iv_b64 != NULL));
		FUZZ_CHECK((d->cek_b64 != NULL) + (d->headers_file != NULL) +
		    (d->details != NULL) == 1);
		break;
	case CLI_GET:
		FUZZ_CHECK(cli->sid != NULL && cli->part >= 0);
		/* fall through */
	case CLI_SYNC:
		FUZZ_CHECK(cli->account.account_sid != NULL &&
		    cli->account.account_sid[0] != '\0');
		FUZZ_CHECK(cli->account.ttl >= 1 &&
		    cli->account.ttl <= 3600);
		FUZZ_CHECK(cli->account.page_size >= 0 &&
		    cli->account.page_size <= 1000);
		break;
	case CLI_MOUNT:
		check_mount(&cli->mount);
		break;
	default:	/* keys, encryption, …: nothing to check yet */
		break;
	}
}

static char dir[256];

static void
cleanup(void)
{
	(void)rmdir(dir);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	static const char *const vars[] = { "TWILIO_ACCOUNT_SID",
	    "TWILIOFS_KEYS", "TWILIOFS_KEY_PASSPHRASE_FILE",
	    "TWILIOFS_ENDPOINT", "TWILIO_REGION", "TWILIO_EDGE",
	    "TWILIOFS_CAFILE", "TWILIOFS_CACHE_DIR", "TWILIOFS_PROFILE",
	    "POSIXLY_CORRECT" };
	size_t i;

	(void)argc;
	(void)argv;
	for (i = 0; i < sizeof(vars) / sizeof(vars[0]); i++)
		FUZZ_CHECK(unsetenv(vars[i]) == 0);
	/* No config file: an empty directory of our own stands for it. */
	fuzz_tmpdir(dir, sizeof(dir), "tfs-fuzz-cli");
	FUZZ_CHECK(setenv("XDG_CONFIG_HOME", dir, 1) == 0);
	atexit(cleanup);
	/* Help texts go to stdout: not worth a terminal's time. */
	FUZZ_CHECK(freopen("/dev/null", "w", stdout) != NULL);
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *args[MAX_ARGS + 2];
	struct cli cli;
	const uint8_t *p = data, *end = data + size, *nul;
	int argc = 1, i, rc;

	args[0] = fuzz_string((const uint8_t *)"twiliofs", 8);
	while (p < end && argc <= MAX_ARGS) {
		nul = memchr(p, '\0', (size_t)(end - p));
		if (nul == NULL)
			nul = end;
		/* Each its own allocation: ASan sees a read past one. */
		args[argc] = fuzz_string(p, (size_t)(nul - p));
		if (names_log_file(args[argc++]))
			goto out;
		p = nul + 1;
	}
	args[argc] = NULL;
	rc = cli_parse(&cli, argc, args);
	if (rc == -1)
		check_cli(&cli);
	else
		FUZZ_CHECK(rc >= CLI_EXIT_OK && rc <= CLI_EXIT_CONFIG);
out:
	for (i = 0; i < argc; i++)
		free(args[i]);
	return 0;
}
