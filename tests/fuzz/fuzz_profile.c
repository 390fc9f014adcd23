/* SPDX-License-Identifier: MIT */
/*
 * fuzz_profile.c - the config file's profiles (config_parse): whatever the
 * text, every setting handed out lies inside the text, holds no line end,
 * has a name, and belongs to the profile asked for; a file others may read
 * never hands out a secret; and the same text parsed twice says the same.
 * The first byte picks the profile ("default" or "b") and whether the file
 * is private.
 */
#include "twiliofs/config.h"

#include "fuzz.h"

struct seen {
	const char *lo, *hi;	/* the text */
	int private_ok;
	size_t n;
	unsigned long sum;	/* of the names and values, in order */
};

static int
take(const char *name, char *value, void *arg)
{
	struct seen *s = arg;
	const char *p;

	FUZZ_CHECK(name >= s->lo && name < s->hi && name[0] != '\0');
	FUZZ_CHECK(strpbrk(name, "\n") == NULL);
	if (value != NULL) {
		FUZZ_CHECK(value >= s->lo && value < s->hi);
		FUZZ_CHECK(strpbrk(value, "\n") == NULL);
	}
	FUZZ_CHECK(s->private_ok || (strcmp(name, "api_secret") != 0 &&
	    strcmp(name, "auth_token") != 0));
	for (p = name; *p != '\0'; p++)
		s->sum = s->sum * 31 + (unsigned char)*p;
	for (p = value; p != NULL && *p != '\0'; p++)
		s->sum = s->sum * 37 + (unsigned char)*p;
	s->n++;
	return 0;
}

static void
parse(const uint8_t *data, size_t size, struct seen *s, int *rc)
{
	struct tfs_error err = { 0, "" };
	const char *profile = (data[0] & 1) ? "b" : "default";
	char *text = fuzz_string(data + 1, size - 1);

	memset(s, 0, sizeof(*s));
	s->lo = text;
	s->hi = text + size;
	s->private_ok = (data[0] & 2) != 0;
	*rc = config_parse(text, s->private_ok, profile, (data[0] & 4) != 0,
	    take, s, &err);
	FUZZ_CHECK(*rc == TFS_OK || err.detail[0] != '\0');
	free(text);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct seen a, b;
	int ra, rb;

	if (size < 1)
		return 0;
	parse(data, size, &a, &ra);
	parse(data, size, &b, &rb);
	FUZZ_CHECK(ra == rb && a.n == b.n && a.sum == b.sum);
	return 0;
}
