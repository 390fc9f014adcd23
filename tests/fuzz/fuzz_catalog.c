/* SPDX-License-Identifier: MIT */
/*
 * fuzz_catalog.c - catalog_ingest_page on any text: an API list page, of
 * the kind the first byte names (1 + byte % 4), into a catalog opened once
 * in a temporary directory. After each page the catalog must hold only
 * rows of that kind whose SIDs and related SIDs are safe as file names,
 * and nothing at all if the page was refused; a sweep then empties it, so
 * every input starts from the same state. Seeds: the unit tests' pages
 * (tests/data/api) and pages of the API mock (tests/env).
 */
#include <ctype.h>

#include "twiliofs/catalog.h"
#include "twiliofs/kind.h"

#include "fuzz.h"

#define BASE_URL "https://api.twilio.com"

static struct catalog *cat;
static char dir[256];

/* The prefix and 32 hex digits, as kind.h promises: safe as a name. */
static int
sid_ok(const char *s, const char *prefix)
{
	size_t i;

	if (strlen(s) != ITEM_SID_LEN || strncmp(s, prefix, 2) != 0)
		return 0;
	for (i = 2; i < ITEM_SID_LEN; i++)
		if (!isxdigit((unsigned char)s[i]))
			return 0;
	return 1;
}

/* c is "" or one of the kind's containers: the file's extension. */
static int
container_ok(const struct kind_info *ki, const char *c)
{
	char list[64], want[16];

	if (c[0] == '\0')
		return 1;
	(void)snprintf(list, sizeof(list), ",%s,%s,%s,%s,",
	    ki->containers ? ki->containers : "", ki->fixed_container ?
	    ki->fixed_container : "", ki->audio_container ?
	    ki->audio_container : "", ki->video_container ?
	    ki->video_container : "");
	return snprintf(want, sizeof(want), ",%s,", c) < (int)sizeof(want) &&
	    strstr(list, want) != NULL;
}

struct seen {
	enum item_kind kind;
	size_t rows, mains;
};

static int
check_item(const struct item *it, void *arg)
{
	struct seen *s = arg;
	const struct kind_info *ki = kind_info(s->kind);

	FUZZ_CHECK(it->kind == s->kind && it->part >= 0);
	FUZZ_CHECK(sid_ok(it->sid, ki->prefix));
	FUZZ_CHECK(it->room_sid[0] == '\0' || sid_ok(it->room_sid, "RM"));
	FUZZ_CHECK(it->participant_sid[0] == '\0' ||
	    sid_ok(it->participant_sid, "PA"));
	FUZZ_CHECK(it->call_sid[0] == '\0' || sid_ok(it->call_sid, "CA"));
	FUZZ_CHECK(container_ok(ki, it->container));
	FUZZ_CHECK(it->date_created >= 0);
	FUZZ_CHECK(it->env.public_key_sid[0] == '\0' ||
	    sid_ok(it->env.public_key_sid, "CR"));
	s->rows++;
	s->mains += it->part == 0;
	return 0;
}

static void
cleanup(void)
{
	static const char *const files[] = { "catalog.sqlite",
	    "catalog.sqlite-wal", "catalog.sqlite-shm" };
	char path[sizeof(dir) + 32];
	size_t i;

	catalog_close(cat);
	for (i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		(void)snprintf(path, sizeof(path), "%s/%s", dir, files[i]);
		(void)unlink(path);
	}
	(void)rmdir(dir);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct tfs_error err = { 0, "" };

	(void)argc;
	(void)argv;
	/* mkdtemp makes it 0700: catalog_open refuses anything looser. */
	fuzz_tmpdir(dir, sizeof(dir), "tfs-fuzz-catalog");
	if (catalog_open(&cat, dir, &err) != TFS_OK) {
		fprintf(stderr, "fuzz_catalog: %s\n", err.detail);
		abort();
	}
	atexit(cleanup);
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct tfs_error err = { 0, "" };
	struct catalog_page page;
	struct seen s = { 0, 0, 0 };
	size_t removed;
	char *json;
	int rc;

	if (size < 1)
		return 0;
	s.kind = (enum item_kind)(1 + data[0] % ITEM_KINDS);
	json = fuzz_string(data + 1, size - 1);
	rc = catalog_ingest_page(cat, s.kind, json, BASE_URL, 1, &page, &err);
	FUZZ_CHECK(catalog_foreach(cat, check_item, &s, &err) == TFS_OK);
	if (rc != TFS_OK) {
		/* A refused page leaves nothing behind. */
		FUZZ_CHECK(rc == TFS_ERR_ENVELOPE && s.rows == 0);
	} else {
		FUZZ_CHECK(page.added + page.changed + page.known == s.mains);
		FUZZ_CHECK(s.mains <= page.items);
		FUZZ_CHECK(memchr(page.next, '\0', sizeof(page.next)) != NULL);
	}
	/* Everything was seen in generation 1: a sweep of 2 removes it all. */
	FUZZ_CHECK(catalog_sweep(cat, s.kind, 2, &removed, &err) == TFS_OK);
	FUZZ_CHECK(removed == s.rows);
	free(json);
	return 0;
}
