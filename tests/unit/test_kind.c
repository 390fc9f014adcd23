/* SPDX-License-Identifier: MIT */
/*
 * test_kind.c - unit tests of kind.h, the one table of kinds: each kind's
 * row, SIDs to kinds (prefixes, hex, length), products per region, what
 * status values mean, and path templates (substitution, exact fit,
 * overflow).
 */
#include <stdlib.h>
#include <string.h>

#include "twiliofs/kind.h"

#include "unit.h"

#define AC "AC0123456789abcdef0123456789abcdef"
#define HEX32 "0123456789abcdef0123456789abcdef"

/* got (may be NULL) equals want. */
static int
str_is(const char *got, const char *want)
{
	return got != NULL && strcmp(got, want) == 0;
}

static const char *
str_or(const char *s)
{
	return s != NULL ? s : "(null)";
}

#define CHECK_STR(got, want) \
	CHECK(str_is((got), (want)), "%s is \"%s\", want \"%s\"", #got, \
	    str_or(got), (want))
#define CHECK_NULL(got) \
	CHECK((got) == NULL, "%s is \"%s\", want NULL", #got, \
	    (got) ? (got) : "")

/* --- the rows --- */

static void
test_rows(void)
{
	const struct kind_info *k;
	int i, j;

	CHECK(kind_info(0) == NULL, "kind 0 has a row");
	CHECK(kind_info((enum item_kind)(ITEM_KINDS + 1)) == NULL,
	    "kind %d has a row", ITEM_KINDS + 1);
	CHECK(kind_info((enum item_kind)-1) == NULL, "kind -1 has a row");
	for (i = 1; i <= ITEM_KINDS; i++) {
		k = kind_info((enum item_kind)i);
		if (!CHECK(k != NULL, "kind %d has no row", i))
			continue;
		CHECK(k->kind == (enum item_kind)i, "row %d says kind %d", i,
		    (int)k->kind);
		CHECK(k->prefix != NULL && strlen(k->prefix) == 2,
		    "kind %d prefix", i);
		CHECK(k->name && k->id && k->xattr && k->dir && k->list_path &&
		    k->resource_path && k->media_path && k->list_key,
		    "kind %d lacks a name, path or key", i);
		CHECK(k->page_max > 0, "kind %d page_max %d", i, k->page_max);
		/* Either a fixed container or a member naming it. */
		CHECK((k->fixed_container != NULL) !=
		    (k->container_member != NULL), "kind %d container: "
		    "fixed %s, member %s", i, k->fixed_container ?
		    k->fixed_container : "-", k->container_member ?
		    k->container_member : "-");
		/* Prefixes, ids and directories are unique. */
		for (j = 1; j < i; j++) {
			const struct kind_info *o;

			o = kind_info((enum item_kind)j);
			if (o == NULL)
				continue;
			CHECK(strcmp(o->prefix, k->prefix) != 0 &&
			    strcmp(o->id, k->id) != 0 &&
			    strcmp(o->dir, k->dir) != 0, "kinds %d and %d "
			    "share a prefix, id or directory", j, i);
		}
	}

	if ((k = kind_info(ITEM_VIDEO_RECORDING)) != NULL) {
		CHECK_STR(k->prefix, "RT");
		CHECK_STR(k->dir, "video/recordings");
		CHECK_STR(k->id, "video_recordings");
		CHECK_STR(k->xattr, "video_recording");
		CHECK(k->product == PRODUCT_VIDEO, "product %d",
		    (int)k->product);
		CHECK_STR(k->list_path, "/v1/Recordings");
		CHECK_STR(k->resource_path, "/v1/Recordings/{SID}");
		CHECK_STR(k->media_path, "/v1/Recordings/{SID}/Media");
		CHECK_NULL(k->part_media_path);
		CHECK_STR(k->list_key, "recordings");
		CHECK(k->page_max == 100, "page_max %d", k->page_max);
		CHECK(k->media_ttl && !k->media_may_be_body &&
		    !k->envelope_listed && k->rooms, "video flags");
		CHECK_STR(k->container_member, "container_format");
		CHECK_STR(k->audio_container, "mka");
		CHECK_STR(k->video_container, "mkv");
		CHECK_STR(k->media_link, "media");
		CHECK_STR(k->external_member, "media_external_location");
		CHECK_NULL(k->encryption_member);
	}
	if ((k = kind_info(ITEM_COMPOSITION)) != NULL) {
		CHECK_STR(k->prefix, "CJ");
		CHECK_STR(k->dir, "video/compositions");
		CHECK(k->product == PRODUCT_VIDEO, "product %d",
		    (int)k->product);
		CHECK_STR(k->list_key, "compositions");
		CHECK_STR(k->container_member, "format");
		CHECK(k->containers != NULL &&
		    strstr(k->containers, "mp4") != NULL &&
		    strstr(k->containers, "webm") != NULL, "containers %s",
		    k->containers ? k->containers : "(null)");
		CHECK_NULL(k->audio_container);
		CHECK_STR(k->media_path, "/v1/Compositions/{SID}/Media");
		CHECK_STR(k->external_member, "media_external_location");
		CHECK(k->rooms && k->media_ttl, "composition flags");
	}
	if ((k = kind_info(ITEM_VOICE_RECORDING)) != NULL) {
		CHECK_STR(k->prefix, "RE");
		CHECK_STR(k->dir, "voice/recordings");
		CHECK(k->product == PRODUCT_VOICE, "product %d",
		    (int)k->product);
		CHECK_STR(k->list_path,
		    "/2010-04-01/Accounts/{AC}/Recordings.json");
		CHECK_STR(k->media_path,
		    "/2010-04-01/Accounts/{AC}/Recordings/{SID}.wav");
		CHECK(k->page_max == 1000, "page_max %d", k->page_max);
		CHECK(k->envelope_listed && k->media_may_be_body &&
		    !k->media_ttl && !k->rooms, "voice flags");
		CHECK_STR(k->fixed_container, "wav");
		/* The media URL comes from uri, not a link. */
		CHECK_NULL(k->media_link);
		CHECK_STR(k->external_member, "media_url");
	}
	if ((k = kind_info(ITEM_TRANSCRIPT)) != NULL) {
		CHECK_STR(k->prefix, "GT");
		CHECK_STR(k->dir, "intelligence/transcripts");
		CHECK(k->product == PRODUCT_INTELLIGENCE, "product %d",
		    (int)k->product);
		CHECK_STR(k->list_key, "transcripts");
		CHECK_STR(k->media_path,
		    "/v2/Transcripts/{SID}/Sentences/Encrypted");
		CHECK_STR(k->part_media_path,
		    "/v2/Transcripts/{SID}/OperatorResults/Encrypted");
		CHECK_STR(k->fixed_container, "json");
		CHECK_STR(k->media_link, "encrypted_sentences");
		CHECK_STR(k->encryption_member, "encryption_credential_sid");
		CHECK_NULL(k->external_member);
		CHECK(!k->rooms && !k->envelope_listed, "transcript flags");
	}

	CHECK_STR(kind_product_host(PRODUCT_VIDEO), "video");
	CHECK_STR(kind_product_host(PRODUCT_VOICE), "api");
	CHECK_STR(kind_product_host(PRODUCT_INTELLIGENCE), "intelligence");
	CHECK_STR(kind_product_name(PRODUCT_VOICE), "Voice");
	CHECK_STR(kind_product_id(PRODUCT_VOICE), "voice");
	CHECK_STR(kind_product_id(PRODUCT_INTELLIGENCE), "intelligence");
}

/* --- SIDs --- */

static void
test_sids(void)
{
	static const struct {
		const char *sid;
		enum item_kind want;
		const char *why;
	} v[] = {
		{ "RT" HEX32, ITEM_VIDEO_RECORDING, "RT" },
		{ "CJ" HEX32, ITEM_COMPOSITION, "CJ" },
		{ "RE" HEX32, ITEM_VOICE_RECORDING, "RE" },
		{ "GT" HEX32, ITEM_TRANSCRIPT, "GT" },
		{ "RT0123456789ABCDEF0123456789ABCDEF", ITEM_VIDEO_RECORDING,
		    "upper-case hex" },
		{ "rt" HEX32, 0, "lower-case prefix" },
		{ "Rt" HEX32, 0, "mixed-case prefix" },
		{ "XX" HEX32, 0, "unknown prefix" },
		{ "AC" HEX32, 0, "an account SID" },
		{ "CA" HEX32, 0, "a call SID" },
		{ "RM" HEX32, 0, "a room SID" },
		{ "RTg123456789abcdef0123456789abcdef", 0,
		    "non-hex right after the prefix" },
		{ "RT0123456789abcdef0123456789abcdeg", 0,
		    "non-hex at the end" },
		{ "RT0123456789abcdef 123456789abcdef", 0, "a space" },
		{ "RT0123456789abcdef0123456789abcde", 0, "33 characters" },
		{ "RT0123456789abcdef0123456789abcdef0", 0, "35 characters" },
		{ "RT" HEX32 "/x", 0, "a trailing path" },
		{ "RT", 0, "prefix alone" },
		{ "", 0, "empty" },
		{ "RT0123456789abcdef0123456789abcd\xc3\xa9", 0,
		    "UTF-8 (34 bytes)" },
		{ "../../../../../../../../../etc/pas", 0, "a path" },
	};
	size_t i;

	for (i = 0; i < sizeof(v) / sizeof(v[0]); i++)
		CHECK(kind_of_sid(v[i].sid) == v[i].want, "%s: %s is kind %d, "
		    "want %d", v[i].why, v[i].sid, (int)kind_of_sid(v[i].sid),
		    (int)v[i].want);
	CHECK(kind_of_sid(NULL) == 0, "NULL");
}

/* --- products and regions --- */

static void
test_products(void)
{
	static const struct {
		enum kind_product p;
		const char *region;
		int want;
	} v[] = {
		{ PRODUCT_VIDEO, NULL, 1 },
		{ PRODUCT_VIDEO, "", 1 },
		{ PRODUCT_VIDEO, "us1", 1 },
		{ PRODUCT_VIDEO, "ie1", 0 },
		{ PRODUCT_VIDEO, "au1", 0 },
		{ PRODUCT_INTELLIGENCE, NULL, 1 },
		{ PRODUCT_INTELLIGENCE, "us1", 1 },
		{ PRODUCT_INTELLIGENCE, "ie1", 0 },
		{ PRODUCT_VOICE, NULL, 1 },
		{ PRODUCT_VOICE, "us1", 1 },
		{ PRODUCT_VOICE, "ie1", 1 },
		{ PRODUCT_VOICE, "au1", 1 },
		{ PRODUCT_VOICE, "jp1", 1 },
		/* Whole region names only, not parts of the list. */
		{ PRODUCT_VIDEO, "ie", 1 },
		{ PRODUCT_VIDEO, "e1", 1 },
		{ PRODUCT_VIDEO, "1 au", 1 },
	};
	size_t i;

	for (i = 0; i < sizeof(v) / sizeof(v[0]); i++)
		CHECK(kind_product_offered(v[i].p, v[i].region) == v[i].want,
		    "%s in region '%s': offered %d, want %d",
		    kind_product_name(v[i].p), v[i].region ? v[i].region :
		    "(null)", kind_product_offered(v[i].p, v[i].region),
		    v[i].want);
}

/* --- status values --- */

static void
test_states(void)
{
	static const struct {
		const char *status;
		enum kind_state want;
	} v[] = {
		{ "completed", STATE_DONE },
		{ "deleted", STATE_DELETED },
		{ "failed", STATE_FAILED },
		{ "absent", STATE_FAILED },
		{ "error", STATE_FAILED },
		{ "canceled", STATE_FAILED },
		{ "invalid", STATE_FAILED },
		{ "processing", STATE_PROCESSING },
		{ "in-progress", STATE_PROCESSING },
		{ "queued", STATE_PROCESSING },
		{ "enqueued", STATE_PROCESSING },
		{ "new", STATE_PROCESSING },
		{ "something-new", STATE_PROCESSING },
		{ "", STATE_PROCESSING },
		/* Whole words: not prefixes of known values. */
		{ "complete", STATE_PROCESSING },
		{ "completed ", STATE_PROCESSING },
		{ "fail", STATE_PROCESSING },
	};
	size_t i;

	for (i = 0; i < sizeof(v) / sizeof(v[0]); i++)
		CHECK(kind_state_of(v[i].status) == v[i].want, "status '%s' "
		    "is state %d, want %d", v[i].status,
		    (int)kind_state_of(v[i].status), (int)v[i].want);
}

/* --- path templates --- */

static void
test_paths(void)
{
	const char *want;
	char out[256], big[300];
	size_t n;
	int rc;

	rc = kind_path("https://h/api",
	    "/2010-04-01/Accounts/{AC}/Recordings/{SID}.json", AC,
	    "RE" HEX32, out, sizeof(out));
	CHECK_RC(rc, TFS_OK, "voice resource path");
	if (rc == TFS_OK)
		CHECK_STR(out, "https://h/api/2010-04-01/Accounts/" AC
		    "/Recordings/RE" HEX32 ".json");
	/* {SID} twice, no {AC}. */
	rc = kind_path("B", "/{SID}/{SID}", AC, "GT" HEX32, out, sizeof(out));
	CHECK(rc == TFS_OK && strcmp(out, "B/GT" HEX32 "/GT" HEX32) == 0,
	    "two SIDs: %s", out);
	/* Values are not templates again; broken braces stay text. */
	rc = kind_path("B", "/{AC}/{SID", "{SID}", "X", out, sizeof(out));
	CHECK(rc == TFS_OK && strcmp(out, "B/{SID}/{SID") == 0,
	    "single pass: %s", out);
	rc = kind_path("", "{AC}", "", "", out, sizeof(out));
	CHECK(rc == TFS_OK && out[0] == '\0', "all empty: '%s'", out);
	/* The list path of voice with an empty SID. */
	rc = kind_path("https://api.twilio.com",
	    kind_info(ITEM_VOICE_RECORDING)->list_path, AC, "", out,
	    sizeof(out));
	CHECK(rc == TFS_OK && strcmp(out, "https://api.twilio.com/"
	    "2010-04-01/Accounts/" AC "/Recordings.json") == 0,
	    "voice list: %s", out);

	/* Exactly fitting (with its NUL) and one byte short, at each step. */
	want = "https://h/v1/Recordings/RT" HEX32 "/Media";
	n = strlen(want);
	memset(big, 0x5a, sizeof(big));
	rc = kind_path("https://h", "/v1/Recordings/{SID}/Media", AC,
	    "RT" HEX32, big, n + 1);
	CHECK(rc == TFS_OK && strcmp(big, want) == 0, "exact fit: %s",
	    rc == TFS_OK ? big : "(error)");
	CHECK((unsigned char)big[n + 1] == 0x5a, "wrote past cap");
	memset(big, 0x5a, sizeof(big));
	rc = kind_path("https://h", "/v1/Recordings/{SID}/Media", AC,
	    "RT" HEX32, big, n);
	CHECK_RC(rc, TFS_ERR_RANGE, "one byte short (literal at the end)");
	CHECK((unsigned char)big[n] == 0x5a, "wrote past cap");
	/* Short inside the substituted value. */
	rc = kind_path("https://h", "/x/{SID}", AC, "RT" HEX32, big,
	    strlen("https://h/x/RT") + 1);
	CHECK_RC(rc, TFS_ERR_RANGE, "cut inside the SID");
	/* Base alone does not fit. */
	rc = kind_path("https://h", "", AC, "", big, strlen("https://h"));
	CHECK_RC(rc, TFS_ERR_RANGE, "base alone does not fit");
	rc = kind_path("https://h", "", AC, "", big, strlen("https://h") + 1);
	CHECK(rc == TFS_OK && strcmp(big, "https://h") == 0, "base fits: "
	    "%s", big);
	rc = kind_path("b", "{AC}", AC, "", big, 2);
	CHECK_RC(rc, TFS_ERR_RANGE, "account does not fit");
	rc = kind_path("b", "/x", AC, "", big, 1);
	CHECK_RC(rc, TFS_ERR_RANGE, "cap 1");
}

int
main(void)
{
	unit_begin("test_kind");
	test_rows();
	test_sids();
	test_products();
	test_states();
	test_paths();
	return unit_done();
}
