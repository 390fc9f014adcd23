/* SPDX-License-Identifier: MIT */
/*
 * test_catalog.c - unit tests of catalog.h: list pages of the four kinds
 * (the JSON files of tests/data/api) into the catalog and every field back out,
 * dates in ISO-8601 and RFC 2822 with zone offsets, both spellings of
 * encryption_details, counts, change detection, the sweep, media
 * records and operator-result parts, pending order, reopening (schema
 * version, persistence), file modes and permission refusals, SQL
 * injection through API strings, malformed pages and skipped records,
 * transactions, a 1,000-record page (timed), the container / media URL /
 * hold of each kind, listed-size changes, failures and their back-off,
 * stale items and key checks, per-product sync state, migration of a
 * version 1 catalog, statements kept prepared (no stale parameter, a
 * query inside its own iteration), what a page and the iterations cost
 * with 20,000 items (no full scan of items: catalog_scan_steps) and the
 * oldest unfinished item. Catalogs live in a private directory under TFS_WORK
 * (or TMPDIR, or /tmp) that is removed at the end.
 */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif

#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "twiliofs/catalog.h"

#include "unit.h"

#define AC "AC0123456789abcdef0123456789abcdef"
#define Z30 "000000000000000000000000000000"
#define RT(n) "RT" Z30 n
#define CJ(n) "CJ" Z30 n
#define RE(n) "RE" Z30 n
#define GT(n) "GT" Z30 n
#define RM44 "RM" Z30 "44"
#define PA55 "PA" Z30 "55"
#define PA56 "PA" Z30 "56"
#define CRC1 "CR" Z30 "c1"
#define CRC2 "CR" Z30 "c2"
#define BASE "https://127.0.0.1:9999/api/"
#define EVIL "x'); DROP TABLE items;--"

static char scratch[4096];	/* our private directory */

/* scratch/name into buf. */
static char *
spath(char *buf, size_t cap, const char *name)
{
	return unit_path(buf, cap, scratch, name);
}

/* Open (creating) the catalog in scratch/name; NULL after a failure. */
static struct catalog *
open_cat(const char *name)
{
	struct catalog *cat = NULL;
	struct tfs_error err;
	char dir[4096];
	int rc;

	tfs_error_clear(&err);
	rc = catalog_open(&cat, spath(dir, sizeof(dir), name), &err);
	if (!CHECK_RC(rc, TFS_OK, "open %s: %s", dir, err.detail))
		return NULL;
	return cat;
}

/* tests/data/api/name as a string (exit 99 if it cannot be read). */
static char *
load(const char *name)
{
	char path[4096], file[256];
	unsigned char *s;
	size_t len;

	(void)snprintf(file, sizeof(file), "api/%s", name);
	s = unit_read_file(unit_data_path(path, sizeof(path), file), &len);
	if (s == NULL) {
		fprintf(stderr, "test_catalog: cannot read %s\n", path);
		exit(99);
	}
	return (char *)s;
}

static int
ingest(struct catalog *cat, enum item_kind kind, const char *json,
    long long gen, struct catalog_page *pg)
{
	struct tfs_error err;
	int rc;

	tfs_error_clear(&err);
	rc = catalog_ingest_page(cat, kind, json, BASE, gen, pg, &err);
	CHECK_RC(rc, TFS_OK, "ingest kind %d: %s", (int)kind, err.detail);
	return rc;
}

static int
ingest_file(struct catalog *cat, enum item_kind kind, const char *name,
    long long gen, struct catalog_page *pg)
{
	char *json = load(name);
	int rc;

	rc = ingest(cat, kind, json, gen, pg);
	free(json);
	return rc;
}

/* The page {"<list>": [recs]} in a malloc'd string. */
static char *
mkpage(const char *list, const char *recs)
{
	size_t n = strlen(list) + strlen(recs) + 16;
	char *s = unit_xmalloc(n);

	(void)snprintf(s, n, "{\"%s\":[%s]}", list, recs);
	return s;
}

static int
ingest_recs(struct catalog *cat, enum item_kind kind, const char *recs,
    long long gen, struct catalog_page *pg)
{
	char *json;
	int rc;

	json = mkpage(kind == ITEM_COMPOSITION ? "compositions" :
	    kind == ITEM_TRANSCRIPT ? "transcripts" : "recordings", recs);
	rc = ingest(cat, kind, json, gen, pg);
	free(json);
	return rc;
}

static int
get(struct catalog *cat, const char *sid, int part, struct item *it)
{
	struct tfs_error err;
	int rc;

	tfs_error_clear(&err);
	memset(it, 0x5a, sizeof(*it));
	rc = catalog_get(cat, sid, part, it, &err);
	CHECK_RC(rc, TFS_OK, "get %s part %d: %s", sid, part, err.detail);
	return rc;
}

static struct catalog_counts
counts(struct catalog *cat, enum item_kind kind)
{
	struct catalog_counts c;
	struct tfs_error err;

	tfs_error_clear(&err);
	CHECK_RC(catalog_count(cat, kind, &c, &err), TFS_OK, "count: %s",
	    err.detail);
	return c;
}

#define CHECK_COUNTS(cat, kind, co, pe, pr, fa) do { \
	struct catalog_counts c_ = counts((cat), (kind)); \
	CHECK(c_.completed == (co) && c_.pending == (pe) && \
	    c_.processing == (pr) && c_.failed == (fa), "kind %d counts " \
	    "%zu/%zu/%zu/%zu, want %d/%d/%d/%d", (int)(kind), c_.completed, \
	    c_.pending, c_.processing, c_.failed, (co), (pe), (pr), (fa)); \
} while (0)

/* The counts of held, keyless and failing items. */
#define CHECK_HELD(cat, kind, ex, un, nk, fg) do { \
	struct catalog_counts c_ = counts((cat), (kind)); \
	CHECK(c_.external == (ex) && c_.unencrypted == (un) && \
	    c_.nokey == (nk) && c_.failing == (fg), "kind %d held counts " \
	    "external %zu unencrypted %zu nokey %zu failing %zu, want " \
	    "%d/%d/%d/%d", (int)(kind), c_.external, c_.unencrypted, \
	    c_.nokey, c_.failing, (ex), (un), (nk), (fg)); \
} while (0)

#define CHECK_STR(got, want) \
	CHECK(strcmp((got), (want)) == 0, "%s is \"%s\", want \"%s\"", \
	    #got, (got), (want))

/* The byte pattern the sample pages' base64 values encode. */
static void
pattern(unsigned char *out, size_t n, int mul, int seed)
{
	size_t i;

	for (i = 0; i < n; i++)
		out[i] = (unsigned char)((i * (size_t)mul + (size_t)seed) &
		    0xff);
}

static void
check_env_bytes(const struct envelope *env, size_t cek_len, size_t iv_len,
    int seed, const char *what)
{
	unsigned char want[1024];

	CHECK(env->wrapped_cek_len == cek_len, "%s: CEK %zu bytes, want %zu",
	    what, env->wrapped_cek_len, cek_len);
	pattern(want, cek_len, 37, seed);
	CHECK(env->wrapped_cek_len == cek_len &&
	    memcmp(env->wrapped_cek, want, cek_len) == 0,
	    "%s: CEK bytes differ", what);
	CHECK(env->iv_len == iv_len, "%s: IV %zu bytes, want %zu", what,
	    env->iv_len, iv_len);
	pattern(want, iv_len, 11, seed);
	CHECK(env->iv_len == iv_len && memcmp(env->iv, want, iv_len) == 0,
	    "%s: IV bytes differ", what);
}

/* A raw SQLite handle on scratch/name/catalog.sqlite, for inspection. */
static sqlite3 *
raw_open(const char *name)
{
	char dir[4096], path[4096];
	sqlite3 *db = NULL;

	unit_path(path, sizeof(path), spath(dir, sizeof(dir), name),
	    "catalog.sqlite");
	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL) !=
	    SQLITE_OK) {
		CHECK(0, "raw open %s: %s", path, sqlite3_errmsg(db));
		sqlite3_close(db);
		return NULL;
	}
	sqlite3_busy_timeout(db, 5000);
	return db;
}

/* The first column of the first row of sql as an integer (-1: none). */
static long long
raw_int(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *st = NULL;
	long long v = -1;

	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	else
		CHECK(0, "raw query %s: %s", sql, sqlite3_errmsg(db));
	sqlite3_finalize(st);
	return v;
}

static void
raw_exec(sqlite3 *db, const char *sql)
{
	CHECK(sqlite3_exec(db, sql, NULL, NULL, NULL) == SQLITE_OK,
	    "raw %s: %s", sql, sqlite3_errmsg(db));
}

/* --- the four kinds, every field --- */

static void
test_kinds(void)
{
	struct catalog *cat = open_cat("kinds");
	struct catalog_page pg;
	struct item it;

	if (cat == NULL)
		return;
	if (ingest_file(cat, ITEM_VIDEO_RECORDING, "video_recordings.json", 1,
	    &pg) == TFS_OK) {
		CHECK(pg.items == 5 && pg.added == 5 && pg.changed == 0 &&
		    pg.known == 0, "video page %zu items %zu added",
		    pg.items, pg.added);
		CHECK_STR(pg.next, "https://video.twilio.com/v1/Recordings?"
		    "PageSize=5&Page=1&PageToken=PA" RT("05"));
	}
	if (ingest_file(cat, ITEM_COMPOSITION, "compositions.json", 1,
	    &pg) == TFS_OK) {
		CHECK(pg.items == 4 && pg.added == 4, "compositions %zu/%zu",
		    pg.items, pg.added);
		CHECK_STR(pg.next, "");
	}
	if (ingest_file(cat, ITEM_VOICE_RECORDING, "voice_recordings.json",
	    1, &pg) == TFS_OK) {
		CHECK(pg.items == 5 && pg.added == 5, "voice %zu/%zu",
		    pg.items, pg.added);
		CHECK_STR(pg.next, "/2010-04-01/Accounts/" AC "/Recordings.json"
		    "?PageSize=5&Page=1&PageToken=PA" RE("05"));
	}
	if (ingest_file(cat, ITEM_TRANSCRIPT, "transcripts.json", 1,
	    &pg) == TFS_OK) {
		CHECK(pg.items == 5 && pg.added == 5, "transcripts %zu/%zu",
		    pg.items, pg.added);
		CHECK_STR(pg.next, "");
	}

	/* Video: grouping_sids as an object, codec VP8. */
	if (get(cat, RT("01"), 0, &it) == TFS_OK) {
		CHECK_STR(it.sid, RT("01"));
		CHECK(it.part == 0 && it.kind == ITEM_VIDEO_RECORDING,
		    "part %d kind %d", it.part, (int)it.kind);
		CHECK_STR(it.status, "completed");
		CHECK(it.error_code == 0, "error_code %d", it.error_code);
		CHECK(it.date_created == 1714557600, "date %lld",
		    it.date_created);
		CHECK(it.duration == 61, "duration %lld", it.duration);
		CHECK_STR(it.room_sid, RM44);
		CHECK_STR(it.participant_sid, PA55);
		CHECK_STR(it.call_sid, "");
		CHECK_STR(it.track_name, "camera");
		CHECK_STR(it.codec, "vp8");
		CHECK_STR(it.container, "mkv");
		CHECK_STR(it.media_url, "https://video.twilio.com/v1/"
		    "Recordings/" RT("01") "/Media");
		CHECK(it.env.scheme == ENVELOPE_NONE &&
		    it.env.wrapped_cek_len == 0 && it.env.iv_len == 0 &&
		    it.env.public_key_sid[0] == '\0' &&
		    it.env.plaintext_size == -1 &&
		    it.env.ciphertext_size == -1, "video envelope not empty");
		CHECK(it.media_known == 0, "media_known %d", it.media_known);
		CHECK_STR(it.etag, "");
	}
	/* grouping_sids as a list (participant first), codec opus, mka. */
	if (get(cat, RT("02"), 0, &it) == TFS_OK) {
		CHECK_STR(it.room_sid, RM44);
		CHECK_STR(it.participant_sid, PA56);
		CHECK_STR(it.codec, "opus");
		CHECK_STR(it.container, "mka");
		CHECK_STR(it.track_name, "mic");
		CHECK(it.duration == 59, "duration %lld", it.duration);
	}
	/* A list of objects; no container_format: from type. */
	if (get(cat, RT("03"), 0, &it) == TFS_OK) {
		CHECK_STR(it.status, "processing");
		CHECK_STR(it.room_sid, RM44);
		CHECK_STR(it.participant_sid, PA55);
		CHECK_STR(it.codec, "h264");
		CHECK_STR(it.container, "mkv");
		CHECK(it.duration == -1, "duration %lld", it.duration);
		CHECK(it.date_created == 1714642200, "fractional date %lld",
		    it.date_created);
	}
	/* Nulls everywhere. */
	if (get(cat, RT("04"), 0, &it) == TFS_OK) {
		CHECK_STR(it.status, "failed");
		CHECK(it.date_created == 0 && it.duration == -1,
		    "null date/duration %lld %lld", it.date_created,
		    it.duration);
		CHECK(it.room_sid[0] == '\0' && it.codec[0] == '\0' &&
		    it.container[0] == '\0' && it.media_url[0] == '\0' &&
		    it.track_name[0] == '\0', "null fields not empty");
	}

	/* Compositions: format to container, room_sid. */
	if (get(cat, CJ("01"), 0, &it) == TFS_OK) {
		CHECK(it.kind == ITEM_COMPOSITION, "kind %d", (int)it.kind);
		CHECK_STR(it.container, "mp4");
		CHECK_STR(it.room_sid, RM44);
		CHECK_STR(it.participant_sid, "");
		CHECK(it.duration == 120, "duration %lld", it.duration);
		CHECK(it.date_created == 1714648953, "date %lld",
		    it.date_created);
		CHECK_STR(it.media_url, "https://video.twilio.com/v1/"
		    "Compositions/" CJ("01") "/Media");
	}
	if (get(cat, CJ("02"), 0, &it) == TFS_OK)
		CHECK_STR(it.container, "webm");
	if (get(cat, CJ("04"), 0, &it) == TFS_OK)
		CHECK(it.container[0] == '\0' && it.room_sid[0] == '\0',
		    "failed composition: container '%s'", it.container);

	/* Voice: docs spelling, 12-byte IV: GCM. RFC 2822 +0000. */
	if (get(cat, RE("01"), 0, &it) == TFS_OK) {
		CHECK(it.kind == ITEM_VOICE_RECORDING, "kind %d",
		    (int)it.kind);
		CHECK_STR(it.status, "completed");
		CHECK(it.date_created == 1476482194, "date %lld",
		    it.date_created);
		CHECK(it.duration == 4, "duration \"4\" is %lld",
		    it.duration);
		CHECK_STR(it.call_sid, "CA" Z30 "01");
		CHECK_STR(it.container, "wav");
		CHECK_STR(it.media_url, "https://127.0.0.1:9999/api/"
		    "2010-04-01/Accounts/" AC "/Recordings/" RE("01") ".wav");
		CHECK(it.env.scheme == ENVELOPE_GCM, "scheme %d",
		    (int)it.env.scheme);
		check_env_bytes(&it.env, 256, 12, 1, "RE01");
		CHECK_STR(it.env.public_key_sid, CRC1);
		CHECK(it.env.plaintext_size == -1 &&
		    it.env.ciphertext_size == -1, "sizes known too early");
		CHECK(it.media_known == 0, "voice media_known %d",
		    it.media_known);
		/* media_url is Twilio's own (http://api.twilio.com/..., as
		 * in Twilio's documented example): not external. */
		CHECK_STR(it.hold, "");
	}
	/* OAI spelling, 16-byte IV: CBC. RFC 2822 -0500. */
	if (get(cat, RE("02"), 0, &it) == TFS_OK) {
		CHECK(it.date_created == 1483362309, "date -0500 %lld",
		    it.date_created);
		CHECK(it.duration == 17, "duration %lld", it.duration);
		CHECK(it.env.scheme == ENVELOPE_CBC, "scheme %d",
		    (int)it.env.scheme);
		check_env_bytes(&it.env, 256, 16, 2, "RE02");
		CHECK_STR(it.env.public_key_sid, CRC2);
	}
	/* encryption_details null: absent, error_code. */
	if (get(cat, RE("03"), 0, &it) == TFS_OK) {
		CHECK_STR(it.status, "absent");
		CHECK(it.error_code == 16104, "error_code %d", it.error_code);
		CHECK(it.env.scheme == ENVELOPE_NONE &&
		    it.env.wrapped_cek_len == 0, "null details: scheme %d",
		    (int)it.env.scheme);
		CHECK(it.duration == 0, "duration %lld", it.duration);
	}
	if (get(cat, RE("04"), 0, &it) == TFS_OK)
		CHECK(it.duration == -1, "duration \"-1\" is %lld",
		    it.duration);
	/* Mixed spelling, a 512-byte CEK; one-digit day, +0130. */
	if (get(cat, RE("05"), 0, &it) == TFS_OK) {
		CHECK(it.date_created == 1690842600, "date +0130 %lld",
		    it.date_created);
		CHECK(it.env.scheme == ENVELOPE_GCM, "scheme %d",
		    (int)it.env.scheme);
		check_env_bytes(&it.env, 512, 12, 5, "RE05");
		CHECK_STR(it.env.public_key_sid, CRC1);
	}

	/* Transcripts: ISO with +02:00, encrypted_sentences, json. */
	if (get(cat, GT("01"), 0, &it) == TFS_OK) {
		CHECK(it.kind == ITEM_TRANSCRIPT, "kind %d", (int)it.kind);
		CHECK(it.date_created == 1717236000, "date +02:00 %lld",
		    it.date_created);
		CHECK(it.duration == 300, "duration %lld", it.duration);
		CHECK_STR(it.container, "json");
		CHECK_STR(it.media_url, "https://intelligence.twilio.com/v2/"
		    "Transcripts/" GT("01") "/Sentences/Encrypted");
		CHECK_STR(it.hold, "");
	}
	/* encryption_credential_sid null: stored unencrypted, held. */
	if (get(cat, GT("05"), 0, &it) == TFS_OK) {
		CHECK_STR(it.status, "completed");
		CHECK_STR(it.hold, "unencrypted");
	}
	/* media_external_location null: not external. */
	if (get(cat, RT("02"), 0, &it) == TFS_OK)
		CHECK_STR(it.hold, "");

	/*
	 * Counts: deleted is nowhere; error/canceled/absent fail. GT05 is
	 * completed but stored unencrypted: held, not pending.
	 */
	CHECK_COUNTS(cat, ITEM_VIDEO_RECORDING, 2, 2, 1, 1);
	CHECK_COUNTS(cat, ITEM_COMPOSITION, 2, 2, 1, 1);
	CHECK_COUNTS(cat, ITEM_VOICE_RECORDING, 3, 3, 1, 1);
	CHECK_COUNTS(cat, ITEM_TRANSCRIPT, 2, 1, 1, 2);
	CHECK_HELD(cat, ITEM_VIDEO_RECORDING, 0, 0, 0, 0);
	CHECK_HELD(cat, ITEM_VOICE_RECORDING, 0, 0, 0, 0);
	CHECK_HELD(cat, ITEM_TRANSCRIPT, 0, 1, 0, 0);

	/* The same pages again: all known. */
	if (ingest_file(cat, ITEM_VOICE_RECORDING, "voice_recordings.json",
	    2, &pg) == TFS_OK)
		CHECK(pg.items == 5 && pg.known == 5 && pg.added == 0 &&
		    pg.changed == 0, "voice again: %zu known %zu changed",
		    pg.known, pg.changed);
	if (ingest_file(cat, ITEM_VIDEO_RECORDING, "video_recordings.json",
	    2, &pg) == TFS_OK)
		CHECK(pg.known == 5, "video again: %zu known", pg.known);
	catalog_close(cat);
}

/* --- dates --- */

/* A date_created and the Unix time it is, or -1: no date, skipped. */
struct date_case {
	const char *date;
	long long want;
};

/* Ingest one record of kind per case (SIDs prefix + first + i) and check
 * each date, or that the record was skipped. */
static void
check_dates(struct catalog *cat, enum item_kind kind, const char *prefix,
    size_t first, const struct date_case *c, size_t n)
{
	struct catalog_page pg;
	struct tfs_error err;
	char recs[4096] = "", sid[40];
	struct item it;
	size_t i, o = 0, bad = 0;
	int rc;

	for (i = 0; i < n; i++) {
		o += (size_t)snprintf(recs + o, sizeof(recs) - o, "%s{\"sid\":"
		    "\"%s%032zx\",\"date_created\":\"%s\"}", i ? "," : "",
		    prefix, first + i, c[i].date);
		bad += c[i].want < 0;
	}
	(void)ingest_recs(cat, kind, recs, 1, &pg);
	CHECK(pg.added == n - bad && pg.skipped == bad, "%s dates: %zu "
	    "added, %zu skipped, want %zu and %zu", prefix, pg.added,
	    pg.skipped, n - bad, bad);
	for (i = 0; i < n; i++) {
		(void)snprintf(sid, sizeof(sid), "%s%032zx", prefix, first + i);
		tfs_error_clear(&err);
		rc = catalog_get(cat, sid, 0, &it, &err);
		if (c[i].want < 0)
			CHECK(rc != TFS_OK, "\"%s\" was stored as %lld, not "
			    "skipped", c[i].date, it.date_created);
		else if (CHECK(rc == TFS_OK, "\"%s\": %s", c[i].date,
		    err.detail))
			CHECK(it.date_created == c[i].want, "\"%s\" is "
			    "%lld, want %lld", c[i].date, it.date_created,
			    c[i].want);
	}
}

static void
test_dates(void)
{
	static const struct date_case iso[] = {
		{ "2024-05-01T10:00:00Z", 1714557600 },
		{ "2024-05-01T10:00:00.5Z", 1714557600 },
		{ "2024-05-01T12:00:00+02:00", 1714557600 },
		{ "2024-05-01T05:00:00-0500", 1714557600 },
		{ "2024-05-01 10:00:00", 1714557600 },
		{ "2020-02-29T00:00:00Z", 1582934400 },
		{ "1970-01-01T00:00:00Z", 0 },
		{ "2024-02-30T00:00:00Z", -1 },
		{ "2024-05-01T10:00:00Zjunk", -1 },
		{ "0000-01-01T00:00:00Z", -1 },
		{ "1969-12-31T23:59:59Z", -1 },
		{ "yesterday", -1 },
	}, rfc[] = {
		{ "Wed, 01 May 2024 10:00:00 +0000", 1714557600 },
		{ "Wed, 01 May 2024 05:00:00 -0500", 1714557600 },
		{ "Wed, 1 May 2024 15:30:00 +0530", 1714557600 },
		{ "01 May 2024 10:00:00 GMT", 1714557600 },
		{ "Wed, 01 May 2024 06:00:00 EDT", 1714557600 },
		{ "Wed, 01 may 2024 10:00 +0000", 1714557600 },
		{ "Sat, 29 Feb 2020 00:00:00 +0000", 1582934400 },
		{ "Fri, 31 Dec 1999 23:59:59 -0000", 946684799 },
		{ "Wed, 01 Foo 2024 10:00:00 +0000", -1 },
		{ "Wed, 01 May 2024 10:00:00 +9999", -1 },
		{ "Sat, 01 Jan 0000 00:00:00 +0000", -1 },
		{ "", -1 },
	};
	struct catalog *cat = open_cat("dates");
	struct catalog_page pg;
	struct item it;

	if (cat == NULL)
		return;
	check_dates(cat, ITEM_TRANSCRIPT, "GT", 0x150, iso,
	    sizeof(iso) / sizeof(iso[0]));
	check_dates(cat, ITEM_VOICE_RECORDING, "RE", 0x2fc, rfc,
	    sizeof(rfc) / sizeof(rfc[0]));
	/* Absent, null: kept, under the epoch (an unknown date). A
	 * number or an object is no date. */
	(void)ingest_recs(cat, ITEM_VOICE_RECORDING,
	    "{\"sid\":\"" RE("d1") "\"},"
	    "{\"sid\":\"" RE("d2") "\",\"date_created\":null},"
	    "{\"sid\":\"" RE("d3") "\",\"date_created\":1714557600},"
	    "{\"sid\":\"" RE("d4") "\",\"date_created\":{\"a\":1}}", 1,
	    &pg);
	CHECK(pg.added == 2 && pg.skipped == 2, "absent/null/number/object "
	    "dates: %zu added, %zu skipped", pg.added, pg.skipped);
	if (get(cat, RE("d2"), 0, &it) == TFS_OK)
		CHECK(it.date_created == 0, "null date is %lld",
		    it.date_created);
	/* Numbers as strings, numbers as numbers, junk. */
	(void)ingest_recs(cat, ITEM_VOICE_RECORDING,
	    "{\"sid\":\"" RE("a1") "\",\"error_code\":\"16102\","
	    "\"duration\":4.7},"
	    "{\"sid\":\"" RE("a2") "\",\"error_code\":true,"
	    "\"duration\":\"x\"}",
	    2, &pg);
	if (get(cat, RE("a1"), 0, &it) == TFS_OK)
		CHECK(it.error_code == 16102 && it.duration == 4, "error_code "
		    "%d duration %lld", it.error_code, it.duration);
	if (get(cat, RE("a2"), 0, &it) == TFS_OK)
		CHECK(it.error_code == 0 && it.duration == -1, "error_code "
		    "%d duration %lld", it.error_code, it.duration);
	catalog_close(cat);
}

/* --- changes, media, parts, sweep --- */

#define VREC(sid, status, date) "{\"sid\":\"" sid "\",\"status\":\"" \
	status "\",\"date_created\":\"" date "\",\"codec\":\"VP8\"," \
	"\"type\":\"video\",\"links\":{\"media\":\"https://v/" sid "\"}}"
/* The same with the listed size (a string of digits). */
#define VRECZ(sid, status, date, size) "{\"sid\":\"" sid "\",\"status\":" \
	"\"" status "\",\"date_created\":\"" date "\",\"codec\":\"VP8\"," \
	"\"type\":\"video\",\"size\":" size ",\"links\":{\"media\":" \
	"\"https://v/" sid "\"}}"

static void
make_env(struct envelope *env, enum envelope_scheme scheme, int seed)
{
	envelope_init(env);
	env->scheme = scheme;
	if (scheme == ENVELOPE_NONE)
		return;
	env->wrapped_cek_len = 384;
	pattern(env->wrapped_cek, 384, 37, seed);
	env->iv_len = scheme == ENVELOPE_CBC ? 16 : 12;
	pattern(env->iv, env->iv_len, 11, seed);
	(void)snprintf(env->public_key_sid, sizeof(env->public_key_sid), "%s",
	    CRC2);
	env->plaintext_size = 1000 + seed;
	env->ciphertext_size = 1024 + seed;
}

static int
set_media(struct catalog *cat, const char *sid, int part, const char *url,
    const struct envelope *env, const char *etag)
{
	struct tfs_error err;
	int rc;

	tfs_error_clear(&err);
	rc = catalog_set_media(cat, sid, part, url, env, etag, &err);
	CHECK_RC(rc, TFS_OK, "set_media %s/%d: %s", sid, part, err.detail);
	return rc;
}

static void
test_changes(void)
{
	struct catalog *cat = open_cat("changes");
	struct catalog_page pg;
	struct envelope env;
	struct tfs_error err;
	struct item it, v;
	char *voice;
	int rc;

	if (cat == NULL)
		return;
	(void)ingest_recs(cat, ITEM_VIDEO_RECORDING,
	    VREC(RT("01"), "completed", "2024-05-01T10:00:00Z") ","
	    VREC(RT("02"), "processing", "2024-05-01T11:00:00Z"), 1, &pg);

	/* Media of a video recording: every envelope field round trips. */
	make_env(&env, ENVELOPE_CBC, 7);
	if (set_media(cat, RT("01"), 0, NULL, &env, "\"etag-1\"") == TFS_OK &&
	    get(cat, RT("01"), 0, &it) == TFS_OK) {
		CHECK(it.media_known == 1, "media_known %d", it.media_known);
		CHECK(it.env.scheme == ENVELOPE_CBC, "scheme %d",
		    (int)it.env.scheme);
		check_env_bytes(&it.env, 384, 16, 7, "set_media CBC");
		CHECK_STR(it.env.public_key_sid, CRC2);
		CHECK(it.env.plaintext_size == 1007 &&
		    it.env.ciphertext_size == 1031, "sizes %lld %lld",
		    it.env.plaintext_size, it.env.ciphertext_size);
		CHECK_STR(it.etag, "\"etag-1\"");
		CHECK_STR(it.media_url, "https://v/" RT("01"));
	}
	CHECK_COUNTS(cat, ITEM_VIDEO_RECORDING, 1, 0, 1, 0);

	/* Same listing: known, media stays known (not voice: kept). */
	(void)ingest_recs(cat, ITEM_VIDEO_RECORDING,
	    VREC(RT("01"), "completed", "2024-05-01T10:00:00Z") ","
	    VREC(RT("02"), "processing", "2024-05-01T11:00:00Z"), 2, &pg);
	CHECK(pg.known == 2 && pg.changed == 0, "again: %zu known",
	    pg.known);
	if (get(cat, RT("01"), 0, &it) == TFS_OK)
		CHECK(it.media_known == 1 && it.env.scheme == ENVELOPE_CBC,
		    "re-ingest lost the media (%d, %d)", it.media_known,
		    (int)it.env.scheme);

	/* Status changes: changed, media unknown again. */
	(void)ingest_recs(cat, ITEM_VIDEO_RECORDING,
	    VREC(RT("01"), "deleted", "2024-05-01T10:00:00Z") ","
	    VREC(RT("02"), "completed", "2024-05-01T11:00:00Z"), 3, &pg);
	CHECK(pg.changed == 2 && pg.known == 0 && pg.added == 0,
	    "status change: %zu changed", pg.changed);
	if (get(cat, RT("01"), 0, &it) == TFS_OK) {
		CHECK_STR(it.status, "deleted");
		CHECK(it.media_known == 0 && it.env.scheme == ENVELOPE_NONE &&
		    it.env.plaintext_size == -1 && it.etag[0] == '\0',
		    "change kept media (%d, %d)", it.media_known,
		    (int)it.env.scheme);
	}
	/* A date change alone is a change too. */
	(void)ingest_recs(cat, ITEM_VIDEO_RECORDING,
	    VREC(RT("02"), "completed", "2024-05-01T11:00:01Z"), 4, &pg);
	CHECK(pg.changed == 1, "date change: %zu changed", pg.changed);

	/* Scheme NONE: known, not encrypted. */
	envelope_init(&env);
	env.plaintext_size = env.ciphertext_size = 4096;
	if (set_media(cat, RT("02"), 0, "https://v/new", &env, NULL) ==
	    TFS_OK && get(cat, RT("02"), 0, &it) == TFS_OK) {
		CHECK(it.media_known == 1 && it.env.scheme == ENVELOPE_NONE &&
		    it.env.plaintext_size == 4096, "NONE media %d %d",
		    it.media_known, (int)it.env.scheme);
		CHECK_STR(it.media_url, "https://v/new");
	}

	/* Voice: set_media with the listing's envelope, then relist. */
	voice = load("voice_recordings.json");
	(void)ingest(cat, ITEM_VOICE_RECORDING, voice, 5, &pg);
	if (get(cat, RE("01"), 0, &v) == TFS_OK) {
		v.env.ciphertext_size = 5016;
		v.env.plaintext_size = 5000;
		(void)set_media(cat, v.sid, 0, v.media_url, &v.env, "e");
	}
	(void)ingest(cat, ITEM_VOICE_RECORDING, voice, 6, &pg);
	CHECK(pg.known == 5, "voice relisted: %zu known %zu changed",
	    pg.known, pg.changed);
	if (get(cat, RE("01"), 0, &it) == TFS_OK)
		CHECK(it.media_known == 1 && it.env.plaintext_size == 5000,
		    "voice relist lost the media (%d, %lld)", it.media_known,
		    it.env.plaintext_size);
	free(voice);
	/* A new IV in the listing: changed, media unknown, new envelope. */
	(void)ingest_recs(cat, ITEM_VOICE_RECORDING, "{\"sid\":\"" RE("01")
	    "\",\"status\":\"completed\",\"date_created\":"
	    "\"Fri, 14 Oct 2016 21:56:34 +0000\",\"uri\":\"/x.json\","
	    "\"encryption_details\":{\"encrypted_cek\":\"AAEC\","
	    "\"iv\":\"AAAAAAAAAAAAAAAA\"}}", 7, &pg);
	CHECK(pg.changed == 1, "voice envelope change: %zu changed",
	    pg.changed);
	if (get(cat, RE("01"), 0, &it) == TFS_OK) {
		CHECK(it.media_known == 0 && it.env.plaintext_size == -1,
		    "envelope change kept media");
		CHECK(it.env.scheme == ENVELOPE_GCM && it.env.iv_len == 12 &&
		    it.env.wrapped_cek_len == 3 && it.env.wrapped_cek[2] == 2,
		    "new envelope not stored");
		CHECK_STR(it.env.public_key_sid, "");
		CHECK_STR(it.media_url, BASE "x.wav");
	}

	/* Bad calls. */
	tfs_error_clear(&err);
	rc = catalog_set_media(cat, "RTnothere", 0, NULL, &env, NULL, &err);
	CHECK_RC(rc, TFS_ERR_RANGE, "set_media of an unknown SID");
	CHECK_DETAIL(&err, "set_media of an unknown SID");
	tfs_error_clear(&err);
	rc = catalog_get(cat, "RTnothere", 0, &it, &err);
	CHECK_RC(rc, TFS_ERR_RANGE, "get of an unknown SID");
	CHECK_DETAIL(&err, "get of an unknown SID");
	tfs_error_clear(&err);
	rc = catalog_get(cat, RT("01"), 1, &it, &err);
	CHECK_RC(rc, TFS_ERR_RANGE, "get of a missing part");
	tfs_error_clear(&err);
	rc = catalog_set_media(cat, RT("01"), 1, "https://x", &env, NULL,
	    &err);
	CHECK_RC(rc, TFS_ERR_USAGE, "a part of a video recording");
	CHECK_DETAIL(&err, "a part of a video recording");
	make_env(&env, ENVELOPE_GCM, 1);
	env.iv_len = 16;
	tfs_error_clear(&err);
	rc = catalog_set_media(cat, RT("01"), 0, NULL, &env, NULL, &err);
	CHECK_RC(rc, TFS_ERR_USAGE, "GCM envelope with a 16-byte IV");
	catalog_close(cat);
}

#define TREC(sid, status, date) "{\"sid\":\"" sid "\",\"status\":\"" \
	status "\",\"date_created\":\"" date "\",\"duration\":300," \
	"\"links\":{\"encrypted_sentences\":\"https://i/" sid "/S\"}}"

static void
test_parts_and_sweep(void)
{
	struct catalog *cat = open_cat("sweep");
	struct catalog_page pg;
	struct tfs_error err;
	struct envelope env;
	long long g1 = 0, g2 = 0;
	size_t removed = 0;
	struct item it;

	if (cat == NULL)
		return;
	tfs_error_clear(&err);
	CHECK_RC(catalog_next_generation(cat, &g1, &err), TFS_OK, "gen");
	CHECK_RC(catalog_next_generation(cat, &g2, &err), TFS_OK, "gen");
	CHECK(g1 >= 1 && g2 == g1 + 1, "generations %lld %lld", g1, g2);

	(void)ingest_file(cat, ITEM_VIDEO_RECORDING, "video_recordings.json",
	    g1, &pg);
	(void)ingest_recs(cat, ITEM_TRANSCRIPT,
	    TREC(GT("01"), "completed", "2024-06-01T00:00:00Z") ","
	    TREC(GT("02"), "completed", "2024-06-02T00:00:00Z"), g1, &pg);

	/* Operator results: parts made from the transcript. */
	make_env(&env, ENVELOPE_GCM, 3);
	(void)set_media(cat, GT("01"), 0, NULL, &env, "t0");
	(void)set_media(cat, GT("01"), 1, "https://s3/GT01/OperatorResults1",
	    &env, "t1");
	envelope_init(&env);
	(void)set_media(cat, GT("01"), 2, "https://s3/GT01/OperatorResults2",
	    &env, NULL);
	if (get(cat, GT("01"), 1, &it) == TFS_OK) {
		CHECK(it.part == 1 && it.kind == ITEM_TRANSCRIPT, "part %d "
		    "kind %d", it.part, (int)it.kind);
		CHECK_STR(it.status, "completed");
		CHECK(it.date_created == 1717200000 && it.duration == 300,
		    "copied date %lld duration %lld", it.date_created,
		    it.duration);
		CHECK_STR(it.container, "json");
		CHECK_STR(it.media_url, "https://s3/GT01/OperatorResults1");
		CHECK(it.media_known == 1 && it.env.scheme == ENVELOPE_GCM,
		    "part media %d %d", it.media_known, (int)it.env.scheme);
		check_env_bytes(&it.env, 384, 12, 3, "part 1");
		CHECK_STR(it.etag, "t1");
	}
	if (get(cat, GT("01"), 2, &it) == TFS_OK)
		CHECK(it.env.scheme == ENVELOPE_NONE && it.media_known == 1,
		    "part 2 scheme %d", (int)it.env.scheme);
	if (get(cat, GT("01"), 0, &it) == TFS_OK)
		CHECK_STR(it.media_url, "https://i/" GT("01") "/S");
	/* Parts count as items: 2 transcripts + 2 parts, 1 pending. */
	CHECK_COUNTS(cat, ITEM_TRANSCRIPT, 4, 1, 0, 0);

	/* The transcript fails upstream: its parts follow, media unknown. */
	(void)ingest_recs(cat, ITEM_TRANSCRIPT,
	    TREC(GT("01"), "error", "2024-06-01T00:00:00Z") ","
	    TREC(GT("02"), "completed", "2024-06-02T00:00:00Z"), g1, &pg);
	if (get(cat, GT("01"), 1, &it) == TFS_OK) {
		CHECK_STR(it.status, "error");
		CHECK(it.media_known == 0, "part kept media_known");
		CHECK_STR(it.media_url, "https://s3/GT01/OperatorResults1");
	}
	CHECK_COUNTS(cat, ITEM_TRANSCRIPT, 1, 1, 0, 3);

	/* A full listing in g2 without RT03..05 and GT01 (the same sizes
	 * as the file's: a size change would be a change). */
	(void)ingest_recs(cat, ITEM_VIDEO_RECORDING,
	    VRECZ(RT("01"), "completed", "2024-05-01T10:00:00Z", "1048576")
	    "," VRECZ(RT("02"), "completed", "2024-05-01T10:00:05Z",
	    "1048576"), g2, &pg);
	CHECK(pg.items == 2 && pg.known == 2, "g2 page: %zu items %zu known",
	    pg.items, pg.known);
	tfs_error_clear(&err);
	CHECK_RC(catalog_sweep(cat, ITEM_VIDEO_RECORDING, g2, &removed, &err),
	    TFS_OK, "sweep: %s", err.detail);
	CHECK(removed == 3, "swept %zu, want 3", removed);
	tfs_error_clear(&err);
	CHECK_RC(catalog_get(cat, RT("03"), 0, &it, &err), TFS_ERR_RANGE,
	    "RT03 after the sweep");
	(void)get(cat, RT("01"), 0, &it);
	(void)ingest_recs(cat, ITEM_TRANSCRIPT,
	    TREC(GT("02"), "completed", "2024-06-02T00:00:00Z"), g2, &pg);
	CHECK_RC(catalog_sweep(cat, ITEM_TRANSCRIPT, g2, &removed, &err),
	    TFS_OK, "sweep: %s", err.detail);
	CHECK(removed == 3, "swept %zu transcript rows, want 3", removed);
	tfs_error_clear(&err);
	CHECK_RC(catalog_get(cat, GT("01"), 2, &it, &err), TFS_ERR_RANGE,
	    "a part of a swept transcript");
	/* Other kinds are untouched by a sweep. */
	CHECK_RC(catalog_sweep(cat, ITEM_COMPOSITION, g2, &removed, &err),
	    TFS_OK, "sweep: %s", err.detail);
	CHECK(removed == 0, "swept %zu compositions", removed);
	CHECK_COUNTS(cat, ITEM_VIDEO_RECORDING, 2, 2, 0, 0);
	catalog_close(cat);
}

/* --- iteration --- */

struct seen {
	char sid[16][ITEM_SID_LEN + 1];
	int part[16];
	size_t n;
	int stop_at;		/* return 7 at this call (0: never) */
	struct catalog *write;	/* mark media known through this */
};

static int
seen_fn(const struct item *it, void *arg)
{
	struct seen *s = arg;
	struct envelope env;

	if (s->n < 16) {
		memcpy(s->sid[s->n], it->sid, sizeof(s->sid[0]));
		s->part[s->n] = it->part;
	}
	s->n++;
	if (s->write != NULL) {
		envelope_init(&env);
		if (set_media(s->write, it->sid, it->part, NULL, &env, NULL) !=
		    TFS_OK)
			return -1;
	}
	return s->stop_at != 0 && (int)s->n == s->stop_at ? 7 : 0;
}

static void
test_iteration(void)
{
	/* GT05 is completed but unencrypted: held, never pending. */
	static const char *const pending[] = { RE("01"), RE("02"), RE("05"),
	    RT("01"), RT("02"), CJ("01"), CJ("02"), GT("01") };
	static const char *const all_video[] = { RT("04"), RT("05"), RT("01"),
	    RT("02"), RT("03") };
	struct catalog *cat = open_cat("iterate");
	struct catalog_page pg;
	struct tfs_error err;
	struct seen s;
	size_t i;
	int rc;

	if (cat == NULL)
		return;
	(void)ingest_file(cat, ITEM_TRANSCRIPT, "transcripts.json", 1, &pg);
	(void)ingest_file(cat, ITEM_VIDEO_RECORDING, "video_recordings.json",
	    1, &pg);
	(void)ingest_file(cat, ITEM_VOICE_RECORDING, "voice_recordings.json",
	    1, &pg);
	(void)ingest_file(cat, ITEM_COMPOSITION, "compositions.json", 1,
	    &pg);

	/* Completed, media unknown, oldest first across kinds. */
	memset(&s, 0, sizeof(s));
	tfs_error_clear(&err);
	rc = catalog_foreach_pending(cat, INT64_MAX, seen_fn, &s, &err);
	CHECK_RC(rc, TFS_OK, "foreach_pending: %s", err.detail);
	CHECK(s.n == 8, "%zu pending, want 8", s.n);
	for (i = 0; i < 8 && i < s.n; i++)
		CHECK(strcmp(s.sid[i], pending[i]) == 0, "pending %zu is %s, "
		    "want %s", i, s.sid[i], pending[i]);

	/* Everything, by kind, date, SID: video first, date 0 first. */
	memset(&s, 0, sizeof(s));
	rc = catalog_foreach(cat, seen_fn, &s, &err);
	CHECK_RC(rc, TFS_OK, "foreach: %s", err.detail);
	CHECK(s.n == 19, "foreach saw %zu, want 19", s.n);
	for (i = 0; i < 5; i++)
		CHECK(strcmp(s.sid[i], all_video[i]) == 0, "item %zu is %s, "
		    "want %s", i, s.sid[i], all_video[i]);
	CHECK(strcmp(s.sid[5], CJ("01")) == 0, "item 5 is %s", s.sid[5]);

	/* Stop early: fn's value comes back. */
	memset(&s, 0, sizeof(s));
	s.stop_at = 3;
	rc = catalog_foreach_pending(cat, INT64_MAX, seen_fn, &s, &err);
	CHECK(rc == 7 && s.n == 3, "stop early: rc %d after %zu", rc, s.n);

	/* fn may write: mark every pending item known as we go. */
	memset(&s, 0, sizeof(s));
	s.write = cat;
	rc = catalog_foreach_pending(cat, INT64_MAX, seen_fn, &s, &err);
	CHECK(rc == 0 && s.n == 8, "writing fn: rc %d after %zu", rc, s.n);
	memset(&s, 0, sizeof(s));
	rc = catalog_foreach_pending(cat, INT64_MAX, seen_fn, &s, &err);
	CHECK(rc == 0 && s.n == 0, "%zu pending after marking", s.n);
	CHECK_COUNTS(cat, ITEM_VOICE_RECORDING, 3, 0, 1, 1);
	catalog_close(cat);
}

/* --- persistence, schema, meta --- */

static void
test_reopen(void)
{
	struct catalog *cat = open_cat("reopen");
	struct catalog_page pg;
	struct tfs_error err;
	struct item a, b;
	long long g = 0, g2 = 0, objects;
	char val[64];
	sqlite3 *db;
	int rc;

	if (cat == NULL)
		return;
	CHECK(catalog_schema_version() == 3, "schema version %d",
	    catalog_schema_version());
	(void)ingest_file(cat, ITEM_VOICE_RECORDING, "voice_recordings.json",
	    1, &pg);
	tfs_error_clear(&err);
	CHECK_RC(catalog_next_generation(cat, &g, &err), TFS_OK, "gen");
	CHECK_RC(catalog_meta_set(cat, "last_sync", "2024-05-01T00:00:00Z",
	    &err), TFS_OK, "meta_set: %s", err.detail);
	CHECK_RC(catalog_meta_set(cat, "last_sync", "2024-05-02T00:00:00Z",
	    &err), TFS_OK, "meta_set again: %s", err.detail);
	CHECK_RC(catalog_meta_set(cat, EVIL, EVIL, &err), TFS_OK,
	    "meta_set of quotes: %s", err.detail);
	(void)get(cat, RE("02"), 0, &a);
	catalog_close(cat);

	db = raw_open("reopen");
	if (db == NULL)
		return;
	CHECK(raw_int(db, "PRAGMA user_version") == 3, "user_version");
	objects = raw_int(db, "SELECT count(*) FROM sqlite_master");
	sqlite3_close(db);

	cat = open_cat("reopen");
	if (cat == NULL)
		return;
	if (get(cat, RE("02"), 0, &b) == TFS_OK)
		CHECK(memcmp(&a, &b, sizeof(a)) == 0, "RE02 differs after "
		    "reopening");
	tfs_error_clear(&err);
	rc = catalog_meta_get(cat, "last_sync", val, sizeof(val), &err);
	CHECK_RC(rc, TFS_OK, "meta_get: %s", err.detail);
	CHECK_STR(val, "2024-05-02T00:00:00Z");
	rc = catalog_meta_get(cat, EVIL, val, sizeof(val), &err);
	CHECK(rc == TFS_OK && strcmp(val, EVIL) == 0, "meta of quotes: %s",
	    val);
	tfs_error_clear(&err);
	rc = catalog_meta_get(cat, "never_set", val, sizeof(val), &err);
	CHECK_RC(rc, TFS_ERR_RANGE, "meta_get of a missing key");
	CHECK_DETAIL(&err, "meta_get of a missing key");
	tfs_error_clear(&err);
	rc = catalog_meta_get(cat, "last_sync", val, 8, &err);
	CHECK_RC(rc, TFS_ERR_USAGE, "meta_get into a small buffer");
	CHECK_RC(catalog_next_generation(cat, &g2, &err), TFS_OK, "gen");
	CHECK(g2 == g + 1, "generation after reopening %lld, want %lld", g2,
	    g + 1);
	catalog_close(cat);

	/* Opening again migrates nothing and keeps every object. */
	db = raw_open("reopen");
	if (db == NULL)
		return;
	CHECK(raw_int(db, "PRAGMA user_version") == 3, "user_version");
	CHECK(raw_int(db, "SELECT count(*) FROM sqlite_master") == objects,
	    "schema objects changed on reopening");
	CHECK(raw_int(db, "SELECT count(*) FROM sqlite_master WHERE "
	    "type = 'table' AND name IN ('items', 'meta', 'failures', "
	    "'products')") == 4, "tables missing");
	/* A catalog from a newer twiliofs is refused. */
	raw_exec(db, "PRAGMA user_version = 99");
	sqlite3_close(db);
	{
		struct catalog *c2 = NULL;
		char dir[4096];

		tfs_error_clear(&err);
		rc = catalog_open(&c2, spath(dir, sizeof(dir), "reopen"),
		    &err);
		CHECK_RC(rc, TFS_ERR_CONFIG, "a newer schema version");
		CHECK_DETAIL(&err, "a newer schema version");
		CHECK(c2 == NULL, "handle given after a failure");
		catalog_close(c2);
	}
}

/* --- files and permissions --- */

static unsigned
mode_of(const char *path)
{
	struct stat st;

	if (stat(path, &st) != 0)
		return 0xffff;
	return (unsigned)(st.st_mode & 07777);
}

static void
open_fails(const char *dir, int want, const char *needle)
{
	struct catalog *cat = NULL;
	struct tfs_error err;
	int rc;

	tfs_error_clear(&err);
	rc = catalog_open(&cat, dir, &err);
	if (!CHECK_RC(rc, want, "open %s", dir)) {
		catalog_close(cat);
		return;
	}
	CHECK_DETAIL(&err, "open %s", dir);
	CHECK(needle == NULL || unit_has_ci(err.detail, needle), "detail "
	    "of %s lacks '%s': %s", dir, needle, err.detail);
}

static void
test_files(void)
{
	struct catalog *cat = NULL;
	struct catalog_page pg;
	char dir[4096], path[4096], sub[4096];
	struct tfs_error err;
	mode_t old;
	FILE *f;
	int rc;

	/* Created under a permissive umask: still 0700 and 0600. */
	old = umask(0);
	spath(dir, sizeof(dir), "made/deeper/cache");
	tfs_error_clear(&err);
	rc = catalog_open(&cat, dir, &err);
	umask(old);
	if (CHECK_RC(rc, TFS_OK, "open %s: %s", dir, err.detail)) {
		(void)ingest_file(cat, ITEM_COMPOSITION, "compositions.json",
		    1, &pg);
		CHECK(mode_of(dir) == 0700, "dir mode %04o", mode_of(dir));
		CHECK(mode_of(spath(sub, sizeof(sub), "made")) == 0700,
		    "parent mode %04o", mode_of(sub));
		unit_path(path, sizeof(path), dir, "catalog.sqlite");
		CHECK(mode_of(path) == 0600, "db mode %04o", mode_of(path));
		unit_path(path, sizeof(path), dir, "catalog.sqlite-wal");
		CHECK(mode_of(path) == 0600, "-wal mode %04o (WAL in use?)",
		    mode_of(path));
		unit_path(path, sizeof(path), dir, "catalog.sqlite-shm");
		CHECK(mode_of(path) == 0600, "-shm mode %04o", mode_of(path));
		catalog_close(cat);
	}
	{
		sqlite3 *db = raw_open("made/deeper/cache");
		sqlite3_stmt *st = NULL;

		if (db != NULL && sqlite3_prepare_v2(db, "PRAGMA journal_mode",
		    -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) ==
		    SQLITE_ROW)
			CHECK(strcmp((const char *)sqlite3_column_text(st, 0),
			    "wal") == 0, "journal mode %s",
			    sqlite3_column_text(st, 0));
		else
			CHECK(0, "cannot read the journal mode");
		sqlite3_finalize(st);
		sqlite3_close(db);
	}
	/* An old database file open to others is closed up. */
	unit_path(path, sizeof(path), dir, "catalog.sqlite");
	(void)chmod(path, 0644);
	cat = open_cat("made/deeper/cache");
	catalog_close(cat);
	CHECK(mode_of(path) == 0600, "old db mode %04o", mode_of(path));

	/* Directories others can enter are refused. */
	spath(dir, sizeof(dir), "open755");
	(void)mkdir(dir, 0700);
	(void)chmod(dir, 0755);
	open_fails(dir, TFS_ERR_CONFIG, "chmod 700");
	unit_path(path, sizeof(path), dir, "catalog.sqlite");
	CHECK(access(path, F_OK) != 0, "a catalog was made in a 0755 dir");
	spath(dir, sizeof(dir), "open701");
	(void)mkdir(dir, 0700);
	(void)chmod(dir, 0701);
	open_fails(dir, TFS_ERR_CONFIG, "chmod 700");
	spath(dir, sizeof(dir), "open750");
	(void)mkdir(dir, 0700);
	(void)chmod(dir, 0750);
	open_fails(dir, TFS_ERR_CONFIG, "chmod 700");
	/* Not a directory. */
	spath(dir, sizeof(dir), "plainfile");
	f = fopen(dir, "w");
	if (f != NULL)
		fclose(f);
	open_fails(dir, TFS_ERR_CONFIG, "not a directory");
	/* Not a database. */
	spath(dir, sizeof(dir), "garbage");
	(void)mkdir(dir, 0700);
	unit_path(path, sizeof(path), dir, "catalog.sqlite");
	f = fopen(path, "w");
	if (f != NULL) {
		for (rc = 0; rc < 200; rc++)
			fputs("this is not a SQLite database\n", f);
		fclose(f);
	}
	open_fails(dir, TFS_ERR_IO, "remove");
}

/* --- hostile and malformed input --- */

/* Record every failure seen (sid, class, detail, numbers). */
struct fails {
	struct catalog_failure f[8];
	size_t n;
};

static int
fail_fn(const struct catalog_failure *f, void *arg)
{
	struct fails *s = arg;

	if (s->n < 8)
		s->f[s->n] = *f;
	s->n++;
	return 0;
}

static void
test_injection(void)
{
	struct catalog *cat = open_cat("inject");
	struct catalog_page pg;
	struct tfs_error err;
	struct fails fs;
	struct item it;
	sqlite3 *db;

	if (cat == NULL)
		return;
	/*
	 * SQL in every string member of a record: each must be stored as
	 * text. A SID-shaped injection cannot be a SID (the prefix and 32
	 * hex digits): those records are skipped, not executed.
	 */
	(void)ingest_recs(cat, ITEM_VIDEO_RECORDING,
	    "{\"sid\":\"" RT("e1") "\",\"status\":\"completed\","
	    "\"track_name\":\"Robert'); DROP TABLE items;--\\\" caf\\u00e9\","
	    "\"codec\":\"VP8'--\",\"grouping_sids\":{\"room_sid\":\"" EVIL
	    "\",\"participant_sid\":\"PA'||(SELECT 1)||'\"},"
	    "\"container_format\":\"mkv'); DROP TABLE items;--\","
	    "\"type\":\"video' OR '1'='1\","
	    "\"links\":{\"media\":\"https://v/'); DROP TABLE meta;--\"},"
	    "\"media_external_location\":\"s3://b/'); DELETE FROM items;--\","
	    "\"x'); DROP TABLE items;--\":1},"
	    "{\"sid\":\"" RT("e2") "\",\"status\":\"x' OR '1'='1\"},"
	    "{\"sid\":\"" EVIL "\",\"status\":\"completed\"},"
	    "{\"sid\":\"RT'||(SELECT 1)||'\",\"status\":\"x' OR '1'='1\"},"
	    "{\"sid\":\"" RT("e3") "'); DROP TABLE items;--\"},"
	    "{\"sid\":\"RT" Z30 "1'\"},"
	    "{\"sid\":\"" RT("e4") "\",\"status\":\"completed\"},"
	    "{\"sid\":\"" RT("e5") "\",\"date_created\":\"" EVIL "\"},"
	    "{\"sid\":\"RT?Page=1#x\"},{\"sid\":\"RT" Z30 "e6 \"},"
	    "{\"sid\":\"" RT("e6") "\\u0000?x\"}", 1, &pg);
	CHECK(pg.added == 3 && pg.skipped == 8, "%zu added, %zu skipped, "
	    "want 3 and 8", pg.added, pg.skipped);
	CHECK(unit_has_ci(pg.skip_detail, "record 2"), "skip detail: %s",
	    pg.skip_detail);
	if (get(cat, RT("e1"), 0, &it) == TFS_OK) {
		CHECK_STR(it.track_name,
		    "Robert'); DROP TABLE items;--\" caf\xc3\xa9");
		CHECK_STR(it.codec, "vp8'--");
		/* Related SIDs: as given, or left out (not SIDs). */
		CHECK(strcmp(it.room_sid, EVIL) == 0 || it.room_sid[0] ==
		    '\0', "room_sid %s", it.room_sid);
		CHECK(strcmp(it.participant_sid, "PA'||(SELECT 1)||'") == 0 ||
		    it.participant_sid[0] == '\0', "participant_sid %s",
		    it.participant_sid);
		/* Neither member names an allowed container. */
		CHECK_STR(it.container, "");
		CHECK_STR(it.media_url, "https://v/'); DROP TABLE meta;--");
		CHECK_STR(it.hold, "external");
	}
	if (get(cat, RT("e2"), 0, &it) == TFS_OK)
		CHECK_STR(it.status, "x' or '1'='1");
	(void)get(cat, RT("e4"), 0, &it);
	tfs_error_clear(&err);
	CHECK_RC(catalog_get(cat, EVIL, 0, &it, &err), TFS_ERR_RANGE,
	    "a SID-position injection was stored");
	/* The SID a NUL would cut "RT…e6\0?x" down to was not stored. */
	tfs_error_clear(&err);
	CHECK_RC(catalog_get(cat, RT("e6"), 0, &it, &err), TFS_ERR_RANGE,
	    "a SID with a NUL was stored as its first 34 bytes");

	/* Related SIDs that would be paths or terminal escapes: left out. */
	(void)ingest_recs(cat, ITEM_VIDEO_RECORDING,
	    "{\"sid\":\"" RT("e7") "\",\"grouping_sids\":{\"room_sid\":"
	    "\"../../../x\",\"participant_sid\":\"PA\\u001b[31m" Z30 "\"}},"
	    "{\"sid\":\"" RT("e8") "\",\"room_sid\":\"RM" Z30 "\\n1\","
	    "\"participant_sid\":\"PA" Z30 "1\\u0000\"}", 1, &pg);
	CHECK(pg.added == 2, "related SIDs: %zu added", pg.added);
	if (get(cat, RT("e7"), 0, &it) == TFS_OK)
		CHECK(it.room_sid[0] == '\0' && it.participant_sid[0] == '\0',
		    "room %s participant %s", it.room_sid, it.participant_sid);
	if (get(cat, RT("e8"), 0, &it) == TFS_OK)
		CHECK(it.room_sid[0] == '\0' && it.participant_sid[0] == '\0',
		    "room %s participant %s", it.room_sid, it.participant_sid);

	/* Voice: through uri (the .wav URL), media_url, call_sid and the
	 * envelope's key SID. */
	(void)ingest_recs(cat, ITEM_VOICE_RECORDING,
	    "{\"sid\":\"" RE("e1") "\",\"status\":\"completed\","
	    "\"call_sid\":\"" EVIL "\","
	    "\"uri\":\"/2010-04-01/x'); DROP TABLE items;--.json\","
	    "\"media_url\":\"" BASE "'; DROP TABLE meta;--\","
	    "\"encryption_details\":{\"public_key_sid\":\"" EVIL "\","
	    "\"encrypted_cek\":\"AAEC\",\"iv\":\"AAAAAAAAAAAAAAAA\"}}", 1,
	    &pg);
	CHECK(pg.added == 1, "voice: %zu added", pg.added);
	if (get(cat, RE("e1"), 0, &it) == TFS_OK) {
		CHECK(strcmp(it.call_sid, EVIL) == 0 || it.call_sid[0] == '\0',
		    "call_sid %s", it.call_sid);
		CHECK_STR(it.media_url, "https://127.0.0.1:9999/api/2010-04-01/"
		    "x'); DROP TABLE items;--.wav");
		CHECK_STR(it.hold, "");
		CHECK_STR(it.env.public_key_sid, "");
		CHECK(it.env.scheme == ENVELOPE_GCM, "scheme %d",
		    (int)it.env.scheme);
	}
	/* Transcripts: through the links and the credential SID. */
	(void)ingest_recs(cat, ITEM_TRANSCRIPT,
	    "{\"sid\":\"" GT("e1") "\",\"status\":\"completed\","
	    "\"encryption_credential_sid\":\"" EVIL "\","
	    "\"links\":{\"encrypted_sentences\":\"" EVIL "\"}}", 1, &pg);
	if (get(cat, GT("e1"), 0, &it) == TFS_OK) {
		CHECK_STR(it.media_url, EVIL);
		CHECK_STR(it.hold, "");
	}
	/* A failure's class and detail. */
	tfs_error_clear(&err);
	CHECK_RC(catalog_fail(cat, RT("e1"), 0, "x'--", EVIL, 100, &err),
	    TFS_OK, "fail: %s", err.detail);
	memset(&fs, 0, sizeof(fs));
	CHECK_RC(catalog_foreach_failure(cat, fail_fn, &fs, &err), TFS_OK,
	    "foreach_failure: %s", err.detail);
	if (CHECK(fs.n == 1, "%zu failures", fs.n)) {
		CHECK_STR(fs.f[0].class, "x'--");
		CHECK_STR(fs.f[0].detail, EVIL);
	}
	catalog_close(cat);
	db = raw_open("inject");
	if (db == NULL)
		return;
	CHECK(raw_int(db, "SELECT count(*) FROM items") == 7, "items table");
	CHECK(raw_int(db, "SELECT count(*) FROM sqlite_master WHERE "
	    "type = 'table' AND name IN ('items', 'meta', 'failures', "
	    "'products')") == 4, "a table was dropped");
	sqlite3_close(db);
}

/* How many top-level values the JSON list text recs holds (no nested
 * commas in our cases but inside objects). */
static size_t
count_recs(const char *recs)
{
	size_t n = 1;
	int depth = 0, str = 0;

	for (; *recs != '\0'; recs++) {
		if (str) {
			if (*recs == '\\' && recs[1] != '\0')
				recs++;
			else if (*recs == '"')
				str = 0;
		} else if (*recs == '"')
			str = 1;
		else if (*recs == '{' || *recs == '[')
			depth++;
		else if (*recs == '}' || *recs == ']')
			depth--;
		else if (*recs == ',' && depth == 0)
			n++;
	}
	return n;
}

static void
test_malformed(void)
{
	static const struct {
		enum item_kind kind;
		const char *json;
		const char *needle;
	} bad[] = {
		{ ITEM_VIDEO_RECORDING, "not json", "not valid JSON" },
		{ ITEM_VIDEO_RECORDING, "", "not valid JSON" },
		{ ITEM_VIDEO_RECORDING, "[{\"sid\":\"RT1\"}]", "array" },
		{ ITEM_VIDEO_RECORDING, "\"recordings\"", "not an object" },
		{ ITEM_VIDEO_RECORDING, "{}", "no \"recordings\"" },
		{ ITEM_VIDEO_RECORDING, "{\"recordings\":null}", "recordings" },
		{ ITEM_VIDEO_RECORDING, "{\"recordings\":{\"sid\":\"" RT("01")
		    "\"}}", "non-array" },
		{ ITEM_VIDEO_RECORDING, "{\"compositions\":[],\"meta\":"
		    "{\"key\":\"compositions\"}}", "meta.key" },
		{ ITEM_TRANSCRIPT, "{\"recordings\":[]}", "transcripts" },
		{ ITEM_VOICE_RECORDING, "{\"recordings\":[{\"sid\":\"" RE("01")
		    "\"}", "not valid JSON" },
	};
	/*
	 * Records that cannot be keyed on: skipped and counted, the valid
	 * record around them (index 0 or last) kept. needle: the reason.
	 */
	static const struct {
		enum item_kind kind;
		const char *recs;
		size_t skipped;
		const char *index;	/* the first bad record's */
		const char *needle;
	} skip[] = {
		{ ITEM_VIDEO_RECORDING, "{\"sid\":\"" RT("a0") "\"},42",
		    1, "record 1", "not an object" },
		{ ITEM_VIDEO_RECORDING, "\"" RT("a0") "\",{\"sid\":\"" RT("a1")
		    "\"}", 1, "record 0", "not an object" },
		{ ITEM_VIDEO_RECORDING, "{\"sid\":\"" RT("a0") "\"},null,[],"
		    "{\"sid\":\"" RT("a1") "\"}", 2, "record 1",
		    "not an object" },
		{ ITEM_VIDEO_RECORDING, "{\"sid\":\"" RT("a0") "\"},"
		    "{\"status\":\"completed\"}", 1, "record 1", "sid" },
		{ ITEM_VIDEO_RECORDING, "{\"sid\":\"" RT("a0") "\"},"
		    "{\"sid\":7}", 1, "record 1", "sid" },
		{ ITEM_VIDEO_RECORDING, "{\"sid\":\"" RT("a0") "\"},"
		    "{\"sid\":null}", 1, "record 1", "sid" },
		{ ITEM_VIDEO_RECORDING, "{\"sid\":\"" RT("a0") "\"},"
		    "{\"sid\":\"a/b\"}", 1, "record 1", "sid" },
		{ ITEM_VIDEO_RECORDING, "{\"sid\":\"" RT("a0") "\"},"
		    "{\"sid\":\"..\"}", 1, "record 1", "sid" },
		{ ITEM_VIDEO_RECORDING, "{\"sid\":\"" RT("a0") "\"},"
		    "{\"sid\":\"\"}", 1, "record 1", "sid" },
		/* 38 characters; 33; not hex; another kind's; lower case. */
		{ ITEM_VIDEO_RECORDING, "{\"sid\":\"" RT("a0") "\"},"
		    "{\"sid\":\"RT" Z30 "000001\"}", 1, "record 1", "sid" },
		{ ITEM_VIDEO_RECORDING, "{\"sid\":\"" RT("a0") "\"},"
		    "{\"sid\":\"RT" Z30 "1\"}", 1, "record 1", "sid" },
		{ ITEM_VIDEO_RECORDING, "{\"sid\":\"" RT("a0") "\"},"
		    "{\"sid\":\"RT" Z30 "0g\"}", 1, "record 1", "sid" },
		{ ITEM_VIDEO_RECORDING, "{\"sid\":\"" RT("a0") "\"},"
		    "{\"sid\":\"" RE("a1") "\"}", 1, "record 1", "RT" },
		{ ITEM_VIDEO_RECORDING, "{\"sid\":\"" RT("a0") "\"},"
		    "{\"sid\":\"rt" Z30 "a1\"}", 1, "record 1", "sid" },
		{ ITEM_COMPOSITION, "{\"sid\":\"" CJ("a0") "\"},"
		    "{\"sid\":\"" RT("a1") "\"}", 1, "record 1", "CJ" },
		{ ITEM_VOICE_RECORDING, "{\"sid\":\"" RE("a0") "\"},"
		    "{\"sid\":\"" GT("a1") "\"}", 1, "record 1", "RE" },
		{ ITEM_TRANSCRIPT, "{\"sid\":\"" GT("a0") "\"},"
		    "{\"sid\":\"" RE("a1") "\"}", 1, "record 1", "GT" },
		/* A second sid member: a reader may take either one. */
		{ ITEM_VIDEO_RECORDING, "{\"sid\":\"" RT("a0") "\"},"
		    "{\"sid\":\"" RT("a1") "\",\"sid\":\"zz/evil/x\"}", 1,
		    "record 1", "more than one sid" },
		{ ITEM_VIDEO_RECORDING, "{\"sid\":\"" RT("a0") "\"},"
		    "{\"sid\":\"zz/evil/x\",\"sid\":\"" RT("a1") "\"}", 1,
		    "record 1", "more than one sid" },
	};
	struct catalog *cat = open_cat("malformed");
	struct catalog_page pg;
	struct tfs_error err;
	struct seen s;
	size_t i;
	int rc;

	if (cat == NULL)
		return;
	(void)ingest_recs(cat, ITEM_VIDEO_RECORDING,
	    VREC(RT("01"), "completed", "2024-05-01T10:00:00Z"), 1, &pg);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		tfs_error_clear(&err);
		memset(&pg, 0x5a, sizeof(pg));
		rc = catalog_ingest_page(cat, bad[i].kind, bad[i].json, BASE,
		    2, &pg, &err);
		CHECK_RC(rc, TFS_ERR_ENVELOPE, "page %zu: %s", i,
		    bad[i].json);
		CHECK_DETAIL(&err, "page %zu", i);
		CHECK(unit_has_ci(err.detail, bad[i].needle), "page %zu: "
		    "detail lacks '%s': %s", i, bad[i].needle, err.detail);
		CHECK(pg.added == 0 && pg.next[0] == '\0', "page %zu left "
		    "counts", i);
	}
	/* The bad pages stored nothing. */
	memset(&s, 0, sizeof(s));
	CHECK_RC(catalog_foreach(cat, seen_fn, &s, &err), TFS_OK, "foreach");
	CHECK(s.n == 1, "%zu items after bad pages, want 1", s.n);

	/* Bad records are skipped and counted; the rest of the page kept. */
	for (i = 0; i < sizeof(skip) / sizeof(skip[0]); i++) {
		char *json, a0[ITEM_SID_LEN + 1];
		struct item it;

		json = mkpage(skip[i].kind == ITEM_COMPOSITION ?
		    "compositions" : skip[i].kind == ITEM_TRANSCRIPT ?
		    "transcripts" : "recordings", skip[i].recs);
		tfs_error_clear(&err);
		memset(&pg, 0x5a, sizeof(pg));
		rc = catalog_ingest_page(cat, skip[i].kind, json, BASE, 2, &pg,
		    &err);
		free(json);
		if (!CHECK_RC(rc, TFS_OK, "records %zu: %s: %s", i,
		    skip[i].recs, err.detail))
			continue;
		CHECK(pg.skipped == skip[i].skipped, "records %zu: %zu "
		    "skipped, want %zu", i, pg.skipped, skip[i].skipped);
		/* Every record is either stored or skipped. */
		CHECK(pg.added >= 1 && pg.added + pg.changed + pg.known ==
		    pg.items && pg.items + pg.skipped == count_recs(
		    skip[i].recs), "records %zu: %zu added of %zu items, %zu "
		    "skipped", i, pg.added, pg.items, pg.skipped);
		CHECK(memchr(pg.skip_detail, '\0', sizeof(pg.skip_detail)) !=
		    NULL && unit_has_ci(pg.skip_detail, skip[i].index) &&
		    unit_has_ci(pg.skip_detail, skip[i].needle), "records %zu: "
		    "skip detail lacks '%s' or '%s': %.200s", i,
		    skip[i].index, skip[i].needle, pg.skip_detail);
		/* The valid record is stored: a0 or, if it is not, a1. */
		(void)snprintf(a0, sizeof(a0), "%s%s", skip[i].kind ==
		    ITEM_COMPOSITION ? "CJ" : skip[i].kind == ITEM_TRANSCRIPT ?
		    "GT" : skip[i].kind == ITEM_VOICE_RECORDING ? "RE" : "RT",
		    Z30 "a0");
		tfs_error_clear(&err);
		rc = catalog_get(cat, a0, 0, &it, &err);
		if (rc == TFS_ERR_RANGE) {
			a0[ITEM_SID_LEN - 1] = '1';
			rc = catalog_get(cat, a0, 0, &it, &err);
		}
		CHECK_RC(rc, TFS_OK, "records %zu: the valid record", i);
		/* Clean up for the next case: a sweep after a listing in
		 * a generation still to come removes the kind's items. */
		{
			size_t removed;

			if (catalog_sweep(cat, skip[i].kind, 1LL << 60,
			    &removed, &err) != TFS_OK)
				CHECK(0, "clean up: %s", err.detail);
		}
	}
	/* A clean page: nothing skipped, no detail. */
	(void)ingest_recs(cat, ITEM_VIDEO_RECORDING,
	    VREC(RT("01"), "completed", "2024-05-01T10:00:00Z"), 9, &pg);
	CHECK(pg.skipped == 0 && pg.skip_detail[0] == '\0', "clean page: "
	    "%zu skipped: %s", pg.skipped, pg.skip_detail);
	/* Nothing but bad records: an empty page, not an error. */
	tfs_error_clear(&err);
	rc = catalog_ingest_page(cat, ITEM_VIDEO_RECORDING, "{\"recordings\":"
	    "[1,\"x\",{\"sid\":\"RTgood\"}]}", BASE, 9, &pg, &err);
	CHECK_RC(rc, TFS_OK, "all records bad: %s", err.detail);
	CHECK(pg.skipped == 3 && pg.items == 0 && pg.added == 0,
	    "all bad: %zu skipped %zu items", pg.skipped, pg.items);
	CHECK(unit_has_ci(pg.skip_detail, "record 0"), "all bad: %s",
	    pg.skip_detail);
	/* Voice needs the base URL. */
	tfs_error_clear(&err);
	rc = catalog_ingest_page(cat, ITEM_VOICE_RECORDING, "{\"recordings\":"
	    "[]}", NULL, 2, &pg, &err);
	CHECK_RC(rc, TFS_ERR_USAGE, "voice without a base URL");

	/*
	 * Records with an envelope that cannot be used are kept, as status
	 * "invalid" (counted failed, never pending); a JSON-string
	 * encryption_details (the callback form) is fine.
	 */
	(void)ingest_recs(cat, ITEM_VOICE_RECORDING,
	    "{\"sid\":\"" RE("b1") "\",\"status\":\"completed\","
	    "\"uri\":\"/a.json\","
	    "\"encryption_details\":{\"encrypted_cek\":\"AAEC\","
	    "\"iv\":\"AAAAAAAAAAAAAA==\"}},"
	    "{\"sid\":\"" RE("b2") "\",\"status\":\"completed\","
	    "\"encryption_details\":{\"encrypted_cek\":1234,"
	    "\"iv\":\"AAAAAAAAAAAAAAAA\"}},"
	    "{\"sid\":\"" RE("b3") "\",\"status\":\"completed\","
	    "\"encryption_details\":{\"type\":\"kms\",\"encrypted_cek\":"
	    "\"AAEC\",\"iv\":\"AAAAAAAAAAAAAAAA\"}},"
	    "{\"sid\":\"" RE("b4") "\",\"status\":\"completed\","
	    "\"encryption_details\":[1]},"
	    "{\"sid\":\"" RE("b5") "\",\"status\":\"completed\","
	    "\"encryption_details\":\"{\\\"encryption_cek\\\":\\\"AAEC\\\","
	    "\\\"encryption_iv\\\":\\\"AAAAAAAAAAAAAAAA\\\"}\"}", 3, &pg);
	CHECK(pg.added == 5, "%zu added", pg.added);
	CHECK_COUNTS(cat, ITEM_VOICE_RECORDING, 1, 1, 0, 4);
	{
		struct item it;

		if (get(cat, RE("b1"), 0, &it) == TFS_OK) {
			CHECK_STR(it.status, "invalid");
			CHECK(it.env.scheme == ENVELOPE_NONE, "scheme %d",
			    (int)it.env.scheme);
		}
		if (get(cat, RE("b5"), 0, &it) == TFS_OK)
			CHECK(it.env.scheme == ENVELOPE_GCM &&
			    it.env.wrapped_cek_len == 3, "string details: "
			    "scheme %d", (int)it.env.scheme);
	}
	catalog_close(cat);
}

/* --- transactions --- */

static void
test_transactions(void)
{
	struct catalog *cat = open_cat("tx");
	struct catalog_page pg;
	struct tfs_error err;
	struct item it;
	int rc;

	if (cat == NULL)
		return;
	tfs_error_clear(&err);
	CHECK_RC(catalog_begin(cat, &err), TFS_OK, "begin: %s", err.detail);
	(void)ingest_recs(cat, ITEM_VIDEO_RECORDING,
	    VREC(RT("01"), "completed", "2024-05-01T10:00:00Z"), 1, &pg);
	tfs_error_clear(&err);
	CHECK_RC(catalog_begin(cat, &err), TFS_ERR_USAGE, "nested begin");
	catalog_rollback(cat);
	tfs_error_clear(&err);
	CHECK_RC(catalog_get(cat, RT("01"), 0, &it, &err), TFS_ERR_RANGE,
	    "a rolled back page");

	/* A bad page inside a transaction undoes only itself. */
	CHECK_RC(catalog_begin(cat, &err), TFS_OK, "begin: %s", err.detail);
	(void)ingest_recs(cat, ITEM_VIDEO_RECORDING,
	    VREC(RT("01"), "completed", "2024-05-01T10:00:00Z"), 1, &pg);
	tfs_error_clear(&err);
	rc = catalog_ingest_page(cat, ITEM_VIDEO_RECORDING, "{", BASE, 1, &pg,
	    &err);
	CHECK_RC(rc, TFS_ERR_ENVELOPE, "bad page in a transaction");
	(void)ingest_recs(cat, ITEM_VIDEO_RECORDING,
	    VREC(RT("02"), "completed", "2024-05-01T10:00:00Z"), 1, &pg);
	tfs_error_clear(&err);
	CHECK_RC(catalog_commit(cat, &err), TFS_OK, "commit: %s", err.detail);
	(void)get(cat, RT("01"), 0, &it);
	(void)get(cat, RT("02"), 0, &it);
	catalog_close(cat);
}

/* --- two processes --- */

static double now_ms(void);

/*
 * A child process holds the write lock for a while; the parent opens the
 * catalog meanwhile (no wait), then writes (waits for the child through
 * the busy timeout instead of failing).
 */
static void
test_two_processes(void)
{
	struct catalog *cat = open_cat("shared"), *c = NULL;
	struct timespec half = { 0, 500 * 1000 * 1000 };
	struct tfs_error err;
	char dir[4096], val[8], ch = 0;
	double t0, t1, t2;
	int fds[2], status = -1, rc;
	pid_t pid;

	catalog_close(cat);
	if (cat == NULL || pipe(fds) != 0)
		return;
	spath(dir, sizeof(dir), "shared");
	pid = fork();
	if (pid == 0) {
		close(fds[0]);
		if (catalog_open(&c, dir, NULL) != TFS_OK ||
		    catalog_begin(c, NULL) != TFS_OK ||
		    catalog_meta_set(c, "child", "1", NULL) != TFS_OK)
			_exit(1);
		if (write(fds[1], "x", 1) != 1)
			_exit(2);
		nanosleep(&half, NULL);
		if (catalog_commit(c, NULL) != TFS_OK)
			_exit(3);
		catalog_close(c);
		_exit(0);
	}
	close(fds[1]);
	if (!CHECK(pid > 0, "fork failed") || !CHECK(read(fds[0], &ch, 1) == 1,
	    "the child did not start")) {
		close(fds[0]);
		if (pid > 0)
			(void)waitpid(pid, &status, 0);
		return;
	}
	t0 = now_ms();
	cat = open_cat("shared");
	t1 = now_ms();
	tfs_error_clear(&err);
	rc = cat == NULL ? TFS_ERR_IO :
	    catalog_meta_set(cat, "parent", "1", &err);
	t2 = now_ms();
	CHECK_RC(rc, TFS_OK, "write while another process writes: %s",
	    err.detail);
	/* The child holds the lock for 500 ms after telling us. */
	CHECK(t1 - t0 < 400, "opening waited %.0f ms for the writer",
	    t1 - t0);
	CHECK(t2 - t0 > 400, "the write did not wait (%.0f ms)", t2 - t0);
	(void)waitpid(pid, &status, 0);
	close(fds[0]);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child "
	    "status %d", status);
	if (cat != NULL) {
		rc = catalog_meta_get(cat, "child", val, sizeof(val), &err);
		CHECK(rc == TFS_OK && strcmp(val, "1") == 0, "the child's "
		    "write is not there");
	}
	catalog_close(cat);
}

/* --- a big page --- */

static double
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

struct order {
	size_t n;
	long long last;
	int sorted;
};

static int
order_fn(const struct item *it, void *arg)
{
	struct order *o = arg;

	if (o->n > 0 && it->date_created < o->last)
		o->sorted = 0;
	o->last = it->date_created;
	o->n++;
	return 0;
}

static void
test_big_page(void)
{
	enum { N = 1000 };
	struct catalog *cat = open_cat("big");
	unsigned char cek[256], iv[12];
	char cek64[400], iv64[24], date[64], *json;
	struct catalog_page pg;
	struct tfs_error err;
	struct order o = { 0, 0, 1 };
	size_t cap = (size_t)N * 2048 + 64, len = 0, i, k;
	double t0, t1, t2;
	time_t t;
	struct tm tm;

	if (cat == NULL)
		return;
	json = unit_xmalloc(cap);
	len = (size_t)snprintf(json, cap, "{\"first_page_uri\":\"/x\","
	    "\"next_page_uri\":null,\"page\":0,\"page_size\":%d,"
	    "\"recordings\":[", N);
	for (i = 0; i < N; i++) {
		/* Dates out of order: i * 7919 mod N seconds. */
		k = (i * 7919) % N;
		t = (time_t)(1500000000 + (long long)k * 60);
		gmtime_r(&t, &tm);
		(void)strftime(date, sizeof(date),
		    "%a, %d %b %Y %H:%M:%S +0000", &tm);
		pattern(cek, sizeof(cek), 37, (int)i);
		pattern(iv, sizeof(iv), 11, (int)i);
		unit_b64enc(cek, sizeof(cek), cek64);
		unit_b64enc(iv, sizeof(iv), iv64);
		len += (size_t)snprintf(json + len, cap - len, "%s{"
		    "\"account_sid\":\"" AC "\",\"sid\":\"RE%032zx\","
		    "\"call_sid\":\"CA%032zx\",\"status\":\"completed\","
		    "\"date_created\":\"%s\",\"duration\":\"%zu\","
		    "\"channels\":1,\"source\":\"RecordVerb\","
		    "\"error_code\":null,\"price\":\"-0.0025\","
		    "\"uri\":\"/2010-04-01/Accounts/" AC "/Recordings/"
		    "RE%032zx.json\",\"encryption_details\":{\"type\":"
		    "\"rsa-aes\",\"public_key_sid\":\"" CRC1 "\","
		    "\"encrypted_cek\":\"%s\",\"iv\":\"%s\"}}",
		    i ? "," : "", i, i, date, i, i, cek64, iv64);
	}
	(void)snprintf(json + len, cap - len, "]}");

	t0 = now_ms();
	(void)ingest(cat, ITEM_VOICE_RECORDING, json, 1, &pg);
	t1 = now_ms();
	CHECK(pg.items == N && pg.added == N, "big page: %zu items %zu added",
	    pg.items, pg.added);
	(void)ingest(cat, ITEM_VOICE_RECORDING, json, 2, &pg);
	t2 = now_ms();
	CHECK(pg.known == N, "big page again: %zu known", pg.known);
	fprintf(stderr, "test_catalog: %d-record voice page (%zu KiB): "
	    "ingest %.1f ms, again %.1f ms\n", N, len / 1024, t1 - t0,
	    t2 - t1);

	/* More than a batch: all, in date order. */
	tfs_error_clear(&err);
	t0 = now_ms();
	CHECK_RC(catalog_foreach_pending(cat, INT64_MAX, order_fn, &o, &err),
	    TFS_OK, "foreach_pending: %s", err.detail);
	t1 = now_ms();
	CHECK(o.n == N && o.sorted, "pending: %zu, sorted %d", o.n,
	    o.sorted);
	fprintf(stderr, "test_catalog: foreach_pending over %zu items: "
	    "%.1f ms\n", o.n, t1 - t0);
	CHECK_COUNTS(cat, ITEM_VOICE_RECORDING, N, N, 0, 0);
	{
		struct item it;
		char sid[40];

		(void)snprintf(sid, sizeof(sid), "RE%032x", N - 1);
		if (get(cat, sid, 0, &it) == TFS_OK)
			check_env_bytes(&it.env, 256, 12, N - 1, sid);
	}
	free(json);
	catalog_close(cat);
}

/* --- holds, sizes, failures, keys, products, migration --- */

static int
seen_has(const struct seen *s, const char *sid, int part)
{
	size_t i;

	for (i = 0; i < s->n && i < 16; i++)
		if (strcmp(s->sid[i], sid) == 0 && s->part[i] == part)
			return 1;
	return 0;
}

/* The pending items at retry_clock into *s. */
static void
pending_at(struct catalog *cat, long long clock, struct seen *s)
{
	struct tfs_error err;

	memset(s, 0, sizeof(*s));
	tfs_error_clear(&err);
	CHECK_RC(catalog_foreach_pending(cat, clock, seen_fn, s, &err),
	    TFS_OK, "foreach_pending at %lld: %s", clock, err.detail);
}

/* The items to check keys of into *s. */
static void
keycheck(struct catalog *cat, int recheck, struct seen *s)
{
	struct tfs_error err;

	memset(s, 0, sizeof(*s));
	tfs_error_clear(&err);
	CHECK_RC(catalog_foreach_keycheck(cat, recheck, seen_fn, s, &err),
	    TFS_OK, "foreach_keycheck(%d): %s", recheck, err.detail);
}

/* Item sid's container, media URL and hold. */
static void
check_map(struct catalog *cat, const char *sid, const char *container,
    const char *url, const char *hold)
{
	struct item it;

	if (get(cat, sid, 0, &it) != TFS_OK)
		return;
	CHECK(strcmp(it.container, container) == 0, "%s: container \"%s\", "
	    "want \"%s\"", sid, it.container, container);
	CHECK(url == NULL || strcmp(it.media_url, url) == 0, "%s: media_url "
	    "\"%s\", want \"%s\"", sid, it.media_url, url ? url : "");
	CHECK(strcmp(it.hold, hold) == 0, "%s: hold \"%s\", want \"%s\"", sid,
	    it.hold, hold);
}

#define REC(sid, more) "{\"sid\":\"" sid "\",\"status\":\"completed\"," \
	"\"date_created\":\"2024-05-01T10:00:00Z\"" more "}"
#define VMEDIA(sid) "https://video.twilio.com/v1/Recordings/" sid "/Media"
#define VOICE_URI(sid) "/2010-04-01/Accounts/" AC "/Recordings/" sid

static void
test_mapping(void)
{
	struct catalog *cat = open_cat("mapping");
	struct catalog_page pg;
	struct envelope env;
	struct seen s;

	if (cat == NULL)
		return;
	/* Video recordings: container_format (any case) if allowed, else
	 * by type; links.media; media_external_location. */
	(void)ingest_recs(cat, ITEM_VIDEO_RECORDING,
	    REC(RT("c1"), ",\"container_format\":\"MKA\",\"type\":\"video\","
	    "\"links\":{\"media\":\"" VMEDIA(RT("c1")) "\"}") ","
	    REC(RT("c2"), ",\"type\":\"audio\",\"links\":{\"media\":5}") ","
	    REC(RT("c3"), ",\"container_format\":null,\"type\":\"video\"") ","
	    REC(RT("c4"), ",\"container_format\":\"mp4\",\"type\":\"audio\"")
	    "," REC(RT("c5"), ",\"container_format\":\"mka,mkv\"") ","
	    REC(RT("c6"), ",\"container_format\":\"exe\",\"type\":\"data\"")
	    "," REC(RT("d1"), ",\"container_format\":\"mkv\","
	    "\"media_external_location\":\"https://my-bucket.s3.amazonaws."
	    "com/" RT("d1") ".mkv\"") ","
	    REC(RT("d2"), ",\"media_external_location\":null") ","
	    REC(RT("d3"), ",\"media_external_location\":\"\""), 1, &pg);
	CHECK(pg.added == 9, "video: %zu added", pg.added);
	check_map(cat, RT("c1"), "mka", VMEDIA(RT("c1")), "");
	check_map(cat, RT("c2"), "mka", "", "");
	check_map(cat, RT("c3"), "mkv", "", "");
	check_map(cat, RT("c4"), "mka", NULL, "");
	check_map(cat, RT("c5"), "", NULL, "");
	check_map(cat, RT("c6"), "", NULL, "");
	check_map(cat, RT("d1"), "mkv", NULL, "external");
	check_map(cat, RT("d2"), "", NULL, "");
	check_map(cat, RT("d3"), "", NULL, "");
	CHECK_COUNTS(cat, ITEM_VIDEO_RECORDING, 9, 8, 0, 0);
	CHECK_HELD(cat, ITEM_VIDEO_RECORDING, 1, 0, 0, 0);
	pending_at(cat, INT64_MAX, &s);
	CHECK(s.n == 8 && !seen_has(&s, RT("d1"), 0) &&
	    seen_has(&s, RT("d2"), 0), "external pending: %zu", s.n);

	/* Compositions: format, mp4 or webm only; type plays no part. */
	(void)ingest_recs(cat, ITEM_COMPOSITION,
	    REC(CJ("c1"), ",\"format\":\"WEBM\"") ","
	    REC(CJ("c2"), ",\"format\":\"mp4\",\"links\":{\"media\":"
	    "\"https://video.twilio.com/v1/Compositions/" CJ("c2")
	    "/Media\"}") ","
	    REC(CJ("c3"), ",\"format\":\"mkv\"") ","
	    REC(CJ("c4"), ",\"type\":\"audio\",\"container_format\":\"mka\"")
	    "," REC(CJ("d1"), ",\"format\":\"mp4\","
	    "\"media_external_location\":\"s3://bucket/" CJ("d1") "\""),
	    1, &pg);
	check_map(cat, CJ("c1"), "webm", "", "");
	check_map(cat, CJ("c2"), "mp4", "https://video.twilio.com/v1/"
	    "Compositions/" CJ("c2") "/Media", "");
	check_map(cat, CJ("c3"), "", NULL, "");
	check_map(cat, CJ("c4"), "", NULL, "");
	check_map(cat, CJ("d1"), "mp4", NULL, "external");
	CHECK_HELD(cat, ITEM_COMPOSITION, 1, 0, 0, 0);

	/*
	 * Voice: the .wav URL from uri against the base; media_url says
	 * whether the media is external: under the base or on a
	 * twilio.com host it is not.
	 */
	(void)ingest_recs(cat, ITEM_VOICE_RECORDING,
	    REC(RE("c1"), ",\"uri\":\"" VOICE_URI(RE("c1")) ".json\","
	    "\"media_url\":\"" BASE "2010-04-01/Accounts/" AC "/Recordings/"
	    RE("c1") "\"") ","
	    REC(RE("c2"), ",\"uri\":\"/x/" RE("c2") "\",\"media_url\":"
	    "\"https://api.twilio.com" VOICE_URI(RE("c2")) "\"") ","
	    REC(RE("c3"), ",\"uri\":\"https://evil.example/x.json\","
	    "\"media_url\":\"https://api.dublin.ie1.twilio.com"
	    VOICE_URI(RE("c3")) "\"") ","
	    REC(RE("c4"), ",\"media_url\":\"https://bucket.s3.amazonaws.com/"
	    RE("c4") ".wav\"") ","
	    REC(RE("c5"), ",\"media_url\":\"https://127.0.0.1:9999/apix/"
	    RE("c5") ".wav\"") ","
	    REC(RE("c6"), ",\"media_url\":\"https://api.twilio.com.evil.com/"
	    RE("c6") "\"") ","
	    REC(RE("c7"), ",\"media_url\":\"https://evil.example/"
	    "x.twilio.com/" RE("c7") "\"") ","
	    REC(RE("c8"), ",\"media_url\":\"http://api.twilio.com"
	    VOICE_URI(RE("c8")) "\"") ","
	    REC(RE("c9"), ",\"media_url\":null"), 1, &pg);
	check_map(cat, RE("c1"), "wav", "https://127.0.0.1:9999/api"
	    VOICE_URI(RE("c1")) ".wav", "");
	check_map(cat, RE("c2"), "wav", "https://127.0.0.1:9999/api/x/"
	    RE("c2") ".wav", "");
	check_map(cat, RE("c3"), "wav", "", "");
	check_map(cat, RE("c4"), "wav", NULL, "external");
	check_map(cat, RE("c5"), "wav", NULL, "external");
	check_map(cat, RE("c6"), "wav", NULL, "external");
	check_map(cat, RE("c7"), "wav", NULL, "external");
	/* Twilio's documented example gives http://api.twilio.com/... */
	check_map(cat, RE("c8"), "wav", NULL, "");
	check_map(cat, RE("c9"), "wav", NULL, "");
	CHECK_HELD(cat, ITEM_VOICE_RECORDING, 4, 0, 0, 0);

	/* Transcripts: links.encrypted_sentences; a null credential SID
	 * means stored unencrypted (held); an absent one does not. */
	(void)ingest_recs(cat, ITEM_TRANSCRIPT,
	    REC(GT("c1"), ",\"encryption_credential_sid\":\"" CRC1 "\","
	    "\"links\":{\"encrypted_sentences\":\"https://intelligence."
	    "twilio.com/v2/Transcripts/" GT("c1") "/Sentences/Encrypted\"}")
	    "," REC(GT("c2"), ",\"encryption_credential_sid\":null") ","
	    REC(GT("c3"), ",\"links\":{}") ","
	    REC(GT("c4"), ",\"links\":{\"encrypted_sentences\":null}"), 1,
	    &pg);
	check_map(cat, GT("c1"), "json", "https://intelligence.twilio.com/v2/"
	    "Transcripts/" GT("c1") "/Sentences/Encrypted", "");
	check_map(cat, GT("c2"), "json", NULL, "unencrypted");
	check_map(cat, GT("c3"), "json", "", "");
	check_map(cat, GT("c4"), "json", "", "");
	CHECK_COUNTS(cat, ITEM_TRANSCRIPT, 4, 3, 0, 0);
	CHECK_HELD(cat, ITEM_TRANSCRIPT, 0, 1, 0, 0);
	pending_at(cat, INT64_MAX, &s);
	CHECK(!seen_has(&s, GT("c2"), 0), "an unencrypted transcript is "
	    "pending");

	/* A hold that appears is a change: media unknown again. */
	make_env(&env, ENVELOPE_GCM, 4);
	(void)set_media(cat, GT("c3"), 0, NULL, &env, "e");
	(void)ingest_recs(cat, ITEM_TRANSCRIPT,
	    REC(GT("c3"), ",\"links\":{},\"encryption_credential_sid\":null"),
	    2, &pg);
	CHECK(pg.changed == 1, "hold change: %zu changed", pg.changed);
	{
		struct item it;

		if (get(cat, GT("c3"), 0, &it) == TFS_OK) {
			CHECK_STR(it.hold, "unencrypted");
			CHECK(it.media_known == 0 &&
			    it.env.scheme == ENVELOPE_NONE, "hold change kept "
			    "media (%d, %d)", it.media_known,
			    (int)it.env.scheme);
		}
	}
	catalog_close(cat);
}

static void
test_listed_size(void)
{
	struct catalog *cat = open_cat("size");
	struct catalog_page pg;
	struct envelope env;
	struct item it;
	struct seen s;

	if (cat == NULL)
		return;
	(void)ingest_recs(cat, ITEM_VIDEO_RECORDING,
	    VRECZ(RT("01"), "completed", "2024-05-01T10:00:00Z", "100"), 1,
	    &pg);
	make_env(&env, ENVELOPE_CBC, 1);
	(void)set_media(cat, RT("01"), 0, NULL, &env, "e1");
	/* The same size: known, media kept. */
	(void)ingest_recs(cat, ITEM_VIDEO_RECORDING,
	    VRECZ(RT("01"), "completed", "2024-05-01T10:00:00Z", "100"), 2,
	    &pg);
	CHECK(pg.known == 1 && pg.changed == 0, "same size: %zu known",
	    pg.known);
	if (get(cat, RT("01"), 0, &it) == TFS_OK)
		CHECK(it.media_known == 1, "same size lost the media");
	/* Another size: changed, media unknown, pending again. */
	(void)ingest_recs(cat, ITEM_VIDEO_RECORDING,
	    VRECZ(RT("01"), "completed", "2024-05-01T10:00:00Z", "200"), 3,
	    &pg);
	CHECK(pg.changed == 1 && pg.known == 0, "new size: %zu changed",
	    pg.changed);
	if (get(cat, RT("01"), 0, &it) == TFS_OK)
		CHECK(it.media_known == 0 && it.env.scheme == ENVELOPE_NONE &&
		    it.env.plaintext_size == -1 && it.etag[0] == '\0',
		    "a new size kept the media (%d)", it.media_known);
	pending_at(cat, INT64_MAX, &s);
	CHECK(s.n == 1 && seen_has(&s, RT("01"), 0), "%zu pending", s.n);
	/* Known again; then the size becomes unknown (null): a change. */
	(void)set_media(cat, RT("01"), 0, NULL, &env, "e2");
	(void)ingest_recs(cat, ITEM_VIDEO_RECORDING,
	    VRECZ(RT("01"), "completed", "2024-05-01T10:00:00Z", "null"), 4,
	    &pg);
	CHECK(pg.changed == 1, "size to null: %zu changed", pg.changed);
	(void)ingest_recs(cat, ITEM_VIDEO_RECORDING,
	    VRECZ(RT("01"), "completed", "2024-05-01T10:00:00Z", "null"), 5,
	    &pg);
	CHECK(pg.known == 1, "null again: %zu known", pg.known);
	catalog_close(cat);
}

static void
test_failures(void)
{
	struct catalog *cat = open_cat("failures");
	struct catalog_page pg;
	struct tfs_error err;
	struct envelope env;
	struct fails fs;
	struct item it;
	struct seen s;
	long long t;
	int i;

	if (cat == NULL)
		return;
	(void)ingest_recs(cat, ITEM_VIDEO_RECORDING,
	    VREC(RT("01"), "completed", "2024-05-01T10:00:00Z") ","
	    VREC(RT("02"), "completed", "2024-05-01T11:00:00Z"), 1, &pg);
	tfs_error_clear(&err);
	CHECK_RC(catalog_fail(cat, RT("01"), 0, "network", "timed out", 1000,
	    &err), TFS_OK, "fail: %s", err.detail);

	/* Waits a minute: excluded before, included after or with MAX. */
	pending_at(cat, 1000, &s);
	CHECK(s.n == 1 && seen_has(&s, RT("02"), 0), "at 1000: %zu pending",
	    s.n);
	pending_at(cat, 1059, &s);
	CHECK(s.n == 1 && !seen_has(&s, RT("01"), 0), "at 1059: %zu pending",
	    s.n);
	pending_at(cat, 1061, &s);
	CHECK(s.n == 2 && seen_has(&s, RT("01"), 0), "at 1061: %zu pending",
	    s.n);
	pending_at(cat, INT64_MAX, &s);
	CHECK(s.n == 2, "at INT64_MAX: %zu pending", s.n);

	memset(&fs, 0, sizeof(fs));
	CHECK_RC(catalog_foreach_failure(cat, fail_fn, &fs, &err), TFS_OK,
	    "foreach_failure: %s", err.detail);
	if (CHECK(fs.n == 1, "%zu failures", fs.n)) {
		CHECK_STR(fs.f[0].sid, RT("01"));
		CHECK(fs.f[0].part == 0 && fs.f[0].kind ==
		    ITEM_VIDEO_RECORDING, "part %d kind %d", fs.f[0].part,
		    (int)fs.f[0].kind);
		CHECK_STR(fs.f[0].class, "network");
		CHECK_STR(fs.f[0].detail, "timed out");
		CHECK(fs.f[0].count == 1 && fs.f[0].last_time == 1000 &&
		    fs.f[0].retry_after == 1060, "count %lld last %lld retry "
		    "%lld", fs.f[0].count, fs.f[0].last_time,
		    fs.f[0].retry_after);
	}
	if (get(cat, RT("01"), 0, &it) == TFS_OK)
		CHECK_STR(it.fail_class, "network");
	if (get(cat, RT("02"), 0, &it) == TFS_OK)
		CHECK_STR(it.fail_class, "");
	/* Failing items still count as pending (the clock decides). */
	CHECK_COUNTS(cat, ITEM_VIDEO_RECORDING, 2, 2, 0, 0);
	CHECK_HELD(cat, ITEM_VIDEO_RECORDING, 0, 0, 0, 1);

	/* Again: the count grows, the wait doubles, the class is the
	 * latest. */
	CHECK_RC(catalog_fail(cat, RT("01"), 0, "notfound", "HTTP 404", 2000,
	    &err), TFS_OK, "fail: %s", err.detail);
	pending_at(cat, 2119, &s);
	CHECK(!seen_has(&s, RT("01"), 0), "at 2119: pending after the "
	    "second failure");
	pending_at(cat, 2121, &s);
	CHECK(seen_has(&s, RT("01"), 0), "at 2121: not pending");
	CHECK_RC(catalog_fail(cat, RT("01"), 0, "network", "reset", 3000,
	    &err), TFS_OK, "fail: %s", err.detail);
	memset(&fs, 0, sizeof(fs));
	CHECK_RC(catalog_foreach_failure(cat, fail_fn, &fs, &err), TFS_OK,
	    "foreach_failure: %s", err.detail);
	if (CHECK(fs.n == 1, "%zu failures", fs.n)) {
		CHECK(fs.f[0].count == 3 && fs.f[0].last_time == 3000 &&
		    fs.f[0].retry_after == 3240, "third: count %lld last "
		    "%lld retry %lld, want 3 3000 3240", fs.f[0].count,
		    fs.f[0].last_time, fs.f[0].retry_after);
		CHECK_STR(fs.f[0].detail, "reset");
	}
	/* At most 6 hours, however many failures. */
	for (i = 0, t = 10000; i < 40; i++, t += 100)
		if (catalog_fail(cat, RT("01"), 0, "network", "x", t, &err) !=
		    TFS_OK)
			break;
	CHECK(i == 40, "failure %d: %s", i, err.detail);
	memset(&fs, 0, sizeof(fs));
	CHECK_RC(catalog_foreach_failure(cat, fail_fn, &fs, &err), TFS_OK,
	    "foreach_failure: %s", err.detail);
	if (CHECK(fs.n == 1, "%zu failures", fs.n))
		CHECK(fs.f[0].count == 43 && fs.f[0].retry_after ==
		    fs.f[0].last_time + 6 * 3600, "capped: count %lld wait "
		    "%lld s", fs.f[0].count, fs.f[0].retry_after -
		    fs.f[0].last_time);
	/* A second item's failure: counted too, listed by class. */
	CHECK_RC(catalog_fail(cat, RT("02"), 0, "auth", "HTTP 401", 500,
	    &err), TFS_OK, "fail: %s", err.detail);
	CHECK_HELD(cat, ITEM_VIDEO_RECORDING, 0, 0, 0, 2);
	memset(&fs, 0, sizeof(fs));
	CHECK_RC(catalog_foreach_failure(cat, fail_fn, &fs, &err), TFS_OK,
	    "foreach_failure: %s", err.detail);
	CHECK(fs.n == 2 && strcmp(fs.f[0].class, "auth") == 0,
	    "%zu failures, first %s", fs.n, fs.f[0].class);
	/* The media arrives: the failure is gone. */
	make_env(&env, ENVELOPE_CBC, 2);
	(void)set_media(cat, RT("01"), 0, NULL, &env, "e");
	if (get(cat, RT("01"), 0, &it) == TFS_OK)
		CHECK_STR(it.fail_class, "");
	memset(&fs, 0, sizeof(fs));
	CHECK_RC(catalog_foreach_failure(cat, fail_fn, &fs, &err), TFS_OK,
	    "foreach_failure: %s", err.detail);
	CHECK(fs.n == 1 && strcmp(fs.f[0].sid, RT("02")) == 0,
	    "%zu failures after set_media", fs.n);
	CHECK_HELD(cat, ITEM_VIDEO_RECORDING, 0, 0, 0, 1);
	catalog_close(cat);
}

/* catalog_foreach's fail_class of one SID. */
struct fclass {
	const char *sid;
	char class[16];
	int found;
};

static int
fclass_fn(const struct item *it, void *arg)
{
	struct fclass *f = arg;

	if (strcmp(it->sid, f->sid) == 0 && it->part == 0) {
		memcpy(f->class, it->fail_class, sizeof(f->class));
		f->found = 1;
	}
	return 0;
}

static void
test_foreach_fail_class(void)
{
	struct catalog *cat = open_cat("failclass");
	struct catalog_page pg;
	struct tfs_error err;
	struct fclass f = { RT("01"), "", 0 };

	if (cat == NULL)
		return;
	(void)ingest_recs(cat, ITEM_VIDEO_RECORDING,
	    VREC(RT("01"), "completed", "2024-05-01T10:00:00Z"), 1, &pg);
	tfs_error_clear(&err);
	CHECK_RC(catalog_fail(cat, RT("01"), 0, "forbidden", "HTTP 403", 7,
	    &err), TFS_OK, "fail: %s", err.detail);
	CHECK_RC(catalog_foreach(cat, fclass_fn, &f, &err), TFS_OK,
	    "foreach: %s", err.detail);
	CHECK(f.found && strcmp(f.class, "forbidden") == 0, "foreach "
	    "fail_class \"%s\"", f.class);
	catalog_close(cat);
}

static void
test_stale_and_keys(void)
{
	struct catalog *cat = open_cat("keys");
	struct catalog_page pg;
	struct tfs_error err;
	struct envelope env;
	struct item it;
	struct seen s;

	if (cat == NULL)
		return;
	(void)ingest_recs(cat, ITEM_VIDEO_RECORDING,
	    VREC(RT("01"), "completed", "2024-05-01T10:00:00Z") ","
	    VREC(RT("02"), "completed", "2024-05-01T11:00:00Z") ","
	    VREC(RT("03"), "completed", "2024-05-01T12:00:00Z") ","
	    VREC(RT("04"), "processing", "2024-05-01T13:00:00Z") ","
	    VREC(RT("05"), "completed", "2024-05-01T14:00:00Z"), 1, &pg);
	make_env(&env, ENVELOPE_CBC, 1);
	(void)set_media(cat, RT("01"), 0, NULL, &env, "e1");
	make_env(&env, ENVELOPE_GCM, 2);
	(void)set_media(cat, RT("02"), 0, NULL, &env, "e2");
	(void)set_media(cat, RT("04"), 0, NULL, &env, "e4");
	envelope_init(&env);
	(void)set_media(cat, RT("03"), 0, NULL, &env, "e3");

	/* Encrypted, completed, media known, unchecked: 01 and 02. */
	keycheck(cat, 0, &s);
	CHECK(s.n == 2 && seen_has(&s, RT("01"), 0) &&
	    seen_has(&s, RT("02"), 0), "keycheck: %zu items", s.n);
	if (get(cat, RT("01"), 0, &it) == TFS_OK)
		CHECK(it.key_state == 0, "key_state %d", it.key_state);
	tfs_error_clear(&err);
	CHECK_RC(catalog_set_key_state(cat, RT("01"), 0, 1, &err), TFS_OK,
	    "set_key_state: %s", err.detail);
	CHECK_RC(catalog_set_key_state(cat, RT("02"), 0, 2, &err), TFS_OK,
	    "set_key_state: %s", err.detail);
	if (get(cat, RT("01"), 0, &it) == TFS_OK)
		CHECK(it.key_state == 1, "RT01 key_state %d", it.key_state);
	if (get(cat, RT("02"), 0, &it) == TFS_OK)
		CHECK(it.key_state == 2, "RT02 key_state %d", it.key_state);
	keycheck(cat, 0, &s);
	CHECK(s.n == 0, "keycheck after checking: %zu", s.n);
	/* Recheck: those no key opened. */
	keycheck(cat, 1, &s);
	CHECK(s.n == 1 && seen_has(&s, RT("02"), 0), "recheck: %zu", s.n);
	CHECK_HELD(cat, ITEM_VIDEO_RECORDING, 0, 0, 1, 0);
	/* A new envelope is unchecked again. */
	make_env(&env, ENVELOPE_GCM, 5);
	(void)set_media(cat, RT("02"), 0, NULL, &env, "e2b");
	keycheck(cat, 0, &s);
	CHECK(s.n == 1 && seen_has(&s, RT("02"), 0), "after new media: %zu",
	    s.n);
	CHECK_HELD(cat, ITEM_VIDEO_RECORDING, 0, 0, 0, 0);

	/* Stale: pending again (media unknown), out of the key check. */
	pending_at(cat, INT64_MAX, &s);
	CHECK(s.n == 1 && seen_has(&s, RT("05"), 0), "%zu pending", s.n);
	CHECK_RC(catalog_mark_stale(cat, RT("01"), 0, &err), TFS_OK,
	    "mark_stale: %s", err.detail);
	if (get(cat, RT("01"), 0, &it) == TFS_OK)
		CHECK(it.media_known == 0, "stale media_known %d",
		    it.media_known);
	pending_at(cat, INT64_MAX, &s);
	CHECK(s.n == 2 && seen_has(&s, RT("01"), 0), "stale: %zu pending",
	    s.n);
	CHECK_COUNTS(cat, ITEM_VIDEO_RECORDING, 4, 2, 1, 0);
	keycheck(cat, 1, &s);
	CHECK(!seen_has(&s, RT("01"), 0), "a stale item in the key check");
	catalog_close(cat);
}

static void
check_product(struct catalog *cat, enum kind_product p,
    const struct catalog_product *want)
{
	struct catalog_product got;
	struct tfs_error err;

	tfs_error_clear(&err);
	memset(&got, 0x5a, sizeof(got));
	if (!CHECK_RC(catalog_product_get(cat, p, &got, &err), TFS_OK,
	    "product_get %d: %s", (int)p, err.detail))
		return;
	CHECK(got.last_ok == want->last_ok && got.last_try == want->last_try &&
	    got.skipped == want->skipped && strcmp(got.class, want->class) ==
	    0 && strcmp(got.detail, want->detail) == 0, "product %d: %lld "
	    "%lld %lld \"%s\" \"%s\", want %lld %lld %lld \"%s\" \"%s\"",
	    (int)p, got.last_ok, got.last_try, got.skipped, got.class,
	    got.detail, want->last_ok, want->last_try, want->skipped,
	    want->class, want->detail);
}

static void
test_products(void)
{
	struct catalog *cat = open_cat("products");
	struct catalog_product none, video, voice;
	struct tfs_error err;

	if (cat == NULL)
		return;
	memset(&none, 0, sizeof(none));
	check_product(cat, PRODUCT_VIDEO, &none);
	memset(&video, 0, sizeof(video));
	video.last_ok = 1714557600;
	video.last_try = 1714557700;
	video.skipped = 3;
	(void)snprintf(video.class, sizeof(video.class), "forbidden");
	(void)snprintf(video.detail, sizeof(video.detail), "%s", EVIL);
	memset(&voice, 0, sizeof(voice));
	voice.last_ok = voice.last_try = 5;
	tfs_error_clear(&err);
	CHECK_RC(catalog_product_set(cat, PRODUCT_VIDEO, &video, &err),
	    TFS_OK, "product_set: %s", err.detail);
	CHECK_RC(catalog_product_set(cat, PRODUCT_VOICE, &voice, &err),
	    TFS_OK, "product_set: %s", err.detail);
	check_product(cat, PRODUCT_VIDEO, &video);
	check_product(cat, PRODUCT_VOICE, &voice);
	check_product(cat, PRODUCT_INTELLIGENCE, &none);
	/* Overwritten, and kept across reopening. */
	video.last_ok = 0;
	video.last_try = 1714557800;
	video.skipped = 0;
	(void)snprintf(video.class, sizeof(video.class), "network");
	(void)snprintf(video.detail, sizeof(video.detail), "timed out");
	CHECK_RC(catalog_product_set(cat, PRODUCT_VIDEO, &video, &err),
	    TFS_OK, "product_set: %s", err.detail);
	catalog_close(cat);
	cat = open_cat("products");
	if (cat == NULL)
		return;
	check_product(cat, PRODUCT_VIDEO, &video);
	check_product(cat, PRODUCT_VOICE, &voice);
	catalog_close(cat);
}

/* The version 1 schema, as twiliofs 0.1 wrote it. */
static const char v1_schema[] =
    "CREATE TABLE items ("
    " sid TEXT NOT NULL,"
    " part INTEGER NOT NULL DEFAULT 0,"
    " kind INTEGER NOT NULL,"
    " status TEXT NOT NULL DEFAULT '',"
    " error_code INTEGER NOT NULL DEFAULT 0,"
    " date_created INTEGER NOT NULL DEFAULT 0,"
    " duration INTEGER NOT NULL DEFAULT -1,"
    " room_sid TEXT NOT NULL DEFAULT '',"
    " participant_sid TEXT NOT NULL DEFAULT '',"
    " call_sid TEXT NOT NULL DEFAULT '',"
    " track_name TEXT NOT NULL DEFAULT '',"
    " codec TEXT NOT NULL DEFAULT '',"
    " container TEXT NOT NULL DEFAULT '',"
    " media_url TEXT NOT NULL DEFAULT '',"
    " enc_scheme INTEGER NOT NULL DEFAULT 0,"
    " enc_cek BLOB,"
    " enc_iv BLOB,"
    " public_key_sid TEXT NOT NULL DEFAULT '',"
    " plaintext_size INTEGER NOT NULL DEFAULT -1,"
    " ciphertext_size INTEGER NOT NULL DEFAULT -1,"
    " media_known INTEGER NOT NULL DEFAULT 0,"
    " etag TEXT NOT NULL DEFAULT '',"
    " seen_generation INTEGER NOT NULL DEFAULT 0,"
    " api_json TEXT,"
    " problem TEXT,"
    " PRIMARY KEY (sid, part));"
    "CREATE INDEX items_order ON items"
    " (kind, date_created, sid, part);"
    "CREATE INDEX items_pending ON items (date_created, sid, part)"
    " WHERE status = 'completed' AND media_known = 0;"
    "CREATE TABLE meta ("
    " key TEXT PRIMARY KEY NOT NULL,"
    " value TEXT NOT NULL);"
    "INSERT INTO items (sid, part, kind, status, date_created, container,"
    " media_url, enc_scheme, enc_cek, enc_iv, public_key_sid,"
    " plaintext_size, ciphertext_size, media_known, etag,"
    " seen_generation) VALUES ('" RT("01") "', 0, 1, 'completed',"
    " 1714557600, 'mkv', 'https://v/" RT("01") "', 1, zeroblob(256),"
    " x'000102030405060708090a0b0c0d0e0f', '" CRC1 "', 1000, 1024, 1,"
    " 'etag-v1', 7);"
    "INSERT INTO items (sid, part, kind, status, date_created, container,"
    " media_url, seen_generation) VALUES ('" RE("01") "', 0, 3,"
    " 'completed', 1714557601, 'wav', '" BASE "x.wav', 7);"
    "INSERT INTO meta (key, value) VALUES ('catalog.generation', '7'),"
    " ('last_sync', 'v1');"
    "PRAGMA user_version = 1;";

static void
test_migrate_v1(void)
{
	char dir[4096], path[4096], val[16];
	struct catalog *cat, *fresh;
	struct tfs_error err;
	long long gen = 0, cols, fresh_cols;
	sqlite3 *db = NULL;
	struct item it;
	struct seen s;

	spath(dir, sizeof(dir), "v1");
	if (!CHECK(mkdir(dir, 0700) == 0, "mkdir %s", dir))
		return;
	unit_path(path, sizeof(path), dir, "catalog.sqlite");
	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE |
	    SQLITE_OPEN_CREATE, NULL) != SQLITE_OK) {
		CHECK(0, "create %s", path);
		sqlite3_close(db);
		return;
	}
	raw_exec(db, v1_schema);
	sqlite3_close(db);
	(void)chmod(path, 0600);

	cat = open_cat("v1");
	if (cat == NULL)
		return;
	/* The rows are kept, with the new columns' defaults. */
	if (get(cat, RT("01"), 0, &it) == TFS_OK) {
		CHECK(it.media_known == 1 && it.env.scheme == ENVELOPE_CBC &&
		    it.env.iv_len == 16 && it.env.wrapped_cek_len == 256 &&
		    it.env.plaintext_size == 1000, "migrated envelope (%d, %d)",
		    it.media_known, (int)it.env.scheme);
		CHECK_STR(it.etag, "etag-v1");
		CHECK_STR(it.hold, "");
		CHECK(it.key_state == 0, "key_state %d", it.key_state);
		CHECK_STR(it.fail_class, "");
	}
	(void)get(cat, RE("01"), 0, &it);
	tfs_error_clear(&err);
	CHECK_RC(catalog_meta_get(cat, "last_sync", val, sizeof(val), &err),
	    TFS_OK, "meta kept: %s", err.detail);
	CHECK_RC(catalog_next_generation(cat, &gen, &err), TFS_OK, "gen");
	CHECK(gen == 8, "generation after migration %lld, want 8", gen);
	/* And usable: pending, key check, failures, products. */
	pending_at(cat, INT64_MAX, &s);
	CHECK(s.n == 1 && seen_has(&s, RE("01"), 0), "migrated pending %zu",
	    s.n);
	keycheck(cat, 0, &s);
	CHECK(s.n == 1 && seen_has(&s, RT("01"), 0), "migrated keycheck %zu",
	    s.n);
	CHECK_RC(catalog_fail(cat, RE("01"), 0, "network", "x", 1, &err),
	    TFS_OK, "fail after migration: %s", err.detail);
	CHECK_HELD(cat, ITEM_VOICE_RECORDING, 0, 0, 0, 1);
	catalog_close(cat);

	fresh = open_cat("v2fresh");
	catalog_close(fresh);
	db = raw_open("v1");
	if (db == NULL)
		return;
	CHECK(raw_int(db, "PRAGMA user_version") == 3, "user_version after "
	    "migration");
	CHECK(raw_int(db, "SELECT count(*) FROM items") == 2, "rows");
	CHECK(raw_int(db, "SELECT count(*) FROM sqlite_master WHERE "
	    "type = 'table' AND name IN ('failures', 'products')") == 2,
	    "new tables missing");
	CHECK(raw_int(db, "SELECT count(*) FROM sqlite_master WHERE "
	    "type = 'index' AND name = 'items_keycheck'") == 1,
	    "version 3's index missing");
	cols = raw_int(db, "SELECT count(*) FROM pragma_table_info('items')");
	sqlite3_close(db);
	db = raw_open("v2fresh");
	if (db == NULL)
		return;
	fresh_cols = raw_int(db, "SELECT count(*) FROM "
	    "pragma_table_info('items')");
	CHECK(cols == fresh_cols && cols > 25, "items has %lld columns "
	    "migrated, %lld fresh", cols, fresh_cols);
	sqlite3_close(db);
}

/* --- kept statements, and what a page costs --- */

/* A nested iteration over the same query, from inside fn. */
struct nest {
	struct catalog *cat;
	size_t outer, inner;
};

static int
count_fn(const struct item *it, void *arg)
{
	size_t *n = arg;

	(void)it;
	(*n)++;
	return 0;
}

static int
nest_fn(const struct item *it, void *arg)
{
	struct nest *ns = arg;
	struct tfs_error err;

	(void)it;
	ns->outer++;
	tfs_error_clear(&err);
	return catalog_foreach_pending(ns->cat, INT64_MAX, count_fn,
	    &ns->inner, &err);
}

/*
 * Statements are prepared once and kept: a parameter left unbound must
 * be NULL, not the last call's value; a failed call leaves nothing
 * behind; the same query may run inside its own iteration.
 */
static void
test_kept_statements(void)
{
	struct catalog *cat = open_cat("kept");
	struct catalog_page pg;
	struct tfs_error err;
	struct envelope env;
	struct item it;
	struct nest ns;
	sqlite3 *db;
	int i, rc;

	if (cat == NULL)
		return;
	(void)ingest_recs(cat, ITEM_TRANSCRIPT,
	    TREC(GT("01"), "completed", "2024-06-01T00:00:00Z"), 1, &pg);
	(void)ingest_recs(cat, ITEM_VIDEO_RECORDING,
	    VREC(RT("01"), "completed", "2024-05-01T10:00:00Z") ","
	    VREC(RT("02"), "completed", "2024-05-01T11:00:00Z") ","
	    VREC(RT("03"), "completed", "2024-05-01T12:00:00Z"), 1, &pg);
	/* The URL of part 1, then none for part 0: part 0 keeps its own. */
	make_env(&env, ENVELOPE_GCM, 3);
	(void)set_media(cat, GT("01"), 1, "https://s3/GT01/OperatorResults1",
	    &env, "t1");
	(void)set_media(cat, GT("01"), 0, NULL, &env, "t0");
	if (get(cat, GT("01"), 0, &it) == TFS_OK)
		CHECK_STR(it.media_url, "https://i/" GT("01") "/S");
	/* A CEK, then no envelope: nothing of the CEK is kept. */
	make_env(&env, ENVELOPE_CBC, 1);
	(void)set_media(cat, RT("01"), 0, NULL, &env, "e1");
	envelope_init(&env);
	(void)set_media(cat, RT("02"), 0, NULL, &env, NULL);
	if (get(cat, RT("02"), 0, &it) == TFS_OK) {
		CHECK(it.env.scheme == ENVELOPE_NONE && it.media_known,
		    "RT02 scheme %d", (int)it.env.scheme);
		CHECK_STR(it.etag, "");
	}
	/* A call that fails, then the same statements again. */
	tfs_error_clear(&err);
	rc = catalog_set_media(cat, RT("09"), 0, NULL, &env, "x", &err);
	CHECK_RC(rc, TFS_ERR_RANGE, "set_media of an unknown item");
	tfs_error_clear(&err);
	rc = catalog_get(cat, RT("09"), 0, &it, &err);
	CHECK_RC(rc, TFS_ERR_RANGE, "get of an unknown item");
	(void)get(cat, RT("01"), 0, &it);
	CHECK(it.env.scheme == ENVELOPE_CBC, "RT01 scheme %d",
	    (int)it.env.scheme);
	/* Many calls: the same statements serve them all. */
	for (i = 0; i < 300; i++) {
		tfs_error_clear(&err);
		if (!CHECK_RC(catalog_meta_set(cat, "k", i % 2 ? "odd" :
		    "even", &err), TFS_OK, "meta_set %d: %s", i, err.detail))
			break;
	}
	(void)ingest_recs(cat, ITEM_VIDEO_RECORDING,
	    VREC(RT("03"), "completed", "2024-05-01T12:00:00Z"), 2, &pg);
	CHECK(pg.known == 1 && pg.oldest == 1714564800, "page known %zu "
	    "oldest %lld", pg.known, pg.oldest);
	/* The pending query inside its own iteration (RT03 pending). */
	memset(&ns, 0, sizeof(ns));
	ns.cat = cat;
	tfs_error_clear(&err);
	rc = catalog_foreach_pending(cat, INT64_MAX, nest_fn, &ns, &err);
	CHECK(rc == TFS_OK && ns.outer == 1 && ns.inner == 1, "nested: rc "
	    "%d, %zu outer, %zu inner", rc, ns.outer, ns.inner);
	/* A transaction rolled back, then more work. */
	CHECK_RC(catalog_begin(cat, &err), TFS_OK, "begin: %s", err.detail);
	(void)set_media(cat, RT("03"), 0, NULL, &env, "e3");
	catalog_rollback(cat);
	if (get(cat, RT("03"), 0, &it) == TFS_OK)
		CHECK(it.media_known == 0, "rolled back media kept");
	(void)set_media(cat, RT("03"), 0, NULL, &env, "e3");
	catalog_close(cat);

	/* Closed with every statement finalized: the file is free. */
	db = raw_open("kept");
	if (db == NULL)
		return;
	raw_exec(db, "BEGIN EXCLUSIVE; COMMIT");
	CHECK(raw_int(db, "SELECT media_known FROM items WHERE sid = '"
	    RT("03") "'") == 1, "RT03 after reopening");
	CHECK(raw_int(db, "SELECT count(*) FROM items WHERE enc_cek IS NOT "
	    "NULL AND sid = '" RT("02") "'") == 0, "RT02 has a CEK");
	sqlite3_close(db);
}

/* n items of kind 1 (video recordings, one day apart), media known. */
static void
fill(const char *name, int n)
{
	char sql[1024];
	sqlite3 *db = raw_open(name);

	if (db == NULL)
		return;
	(void)snprintf(sql, sizeof(sql), "WITH RECURSIVE c(n) AS (SELECT 1"
	    " UNION ALL SELECT n + 1 FROM c WHERE n < %d)"
	    " INSERT INTO items (sid, part, kind, status, date_created,"
	    " media_url, enc_scheme, enc_cek, enc_iv, media_known,"
	    " seen_generation, key_state)"
	    " SELECT printf('RT%%032x', n + 4096), 0, 1, 'completed',"
	    " 1600000000 + n * 60, 'https://v/x', 1, zeroblob(256),"
	    " zeroblob(16), 1, 1, 1 FROM c", n);
	raw_exec(db, sql);
	sqlite3_close(db);
}

/* Rows full scans visited since the last call. */
static long long
scanned(struct catalog *cat, long long *last)
{
	long long now = catalog_scan_steps(cat), d = now - *last;

	*last = now;
	return d;
}

/*
 * A page costs what it holds: with BIG items in the catalog, ingesting a
 * page (new, known, changed; transcripts with parts) and the iterations
 * of a sync visit no row by a full scan of items.
 */
#define BIG 20000

static void
test_page_cost(void)
{
	struct catalog *cat;
	struct catalog_page pg;
	struct tfs_error err;
	struct envelope env;
	long long last = 0, d, date;
	struct seen s;
	size_t n = 0;

	cat = open_cat("cost");
	catalog_close(cat);
	fill("cost", BIG);
	cat = open_cat("cost");
	if (cat == NULL)
		return;
	(void)scanned(cat, &last);
	(void)ingest_file(cat, ITEM_VIDEO_RECORDING, "video_recordings.json",
	    2, &pg);
	(void)ingest_file(cat, ITEM_VIDEO_RECORDING, "video_recordings.json",
	    3, &pg);
	(void)ingest_recs(cat, ITEM_VIDEO_RECORDING,
	    VREC(RT("01"), "failed", "2024-05-01T10:00:00Z"), 4, &pg);
	d = scanned(cat, &last);
	CHECK(pg.changed == 1 && d < BIG / 10, "video pages: %lld rows "
	    "scanned with %d items", d, BIG);
	(void)ingest_file(cat, ITEM_TRANSCRIPT, "transcripts.json", 2, &pg);
	make_env(&env, ENVELOPE_GCM, 3);
	(void)set_media(cat, GT("01"), 1, "https://s3/GT01/1", &env, "t1");
	(void)set_media(cat, GT("01"), 2, "https://s3/GT01/2", &env, "t2");
	(void)ingest_file(cat, ITEM_TRANSCRIPT, "transcripts.json", 3, &pg);
	(void)ingest_file(cat, ITEM_VOICE_RECORDING, "voice_recordings.json",
	    2, &pg);
	(void)ingest_file(cat, ITEM_COMPOSITION, "compositions.json", 2,
	    &pg);
	d = scanned(cat, &last);
	CHECK(d < BIG / 10, "pages of every kind: %lld rows scanned with %d "
	    "items", d, BIG);
	/* Iterations: a few batches each, none a scan of all items. */
	pending_at(cat, INT64_MAX, &s);
	keycheck(cat, 1, &s);
	tfs_error_clear(&err);
	CHECK_RC(catalog_oldest_unfinished(cat, ITEM_VIDEO_RECORDING, 0,
	    &date, &err), TFS_OK, "oldest_unfinished: %s", err.detail);
	d = scanned(cat, &last);
	CHECK(d < BIG / 10, "pending and key check: %lld rows scanned with "
	    "%d items", d, BIG);
	/* Every item to check: one pass, not one per batch. */
	{
		sqlite3 *db = raw_open("cost");

		if (db != NULL) {
			raw_exec(db, "UPDATE items SET key_state = 0");
			sqlite3_close(db);
		}
	}
	CHECK_RC(catalog_foreach_keycheck(cat, 0, count_fn, &n, &err),
	    TFS_OK, "keycheck: %s", err.detail);
	d = scanned(cat, &last);
	CHECK(n >= BIG && d < BIG / 10, "key check of %zu items: %lld rows "
	    "scanned", n, d);
	catalog_close(cat);
}

static void
test_unfinished(void)
{
	struct catalog *cat = open_cat("unfinished");
	struct catalog_page pg;
	struct tfs_error err;
	long long date = 0;

	if (cat == NULL)
		return;
	(void)ingest_recs(cat, ITEM_VIDEO_RECORDING,
	    VREC(RT("01"), "processing", "2024-05-01T10:00:00Z") ","
	    VREC(RT("02"), "enqueued", "2024-05-02T10:00:00Z") ","
	    VREC(RT("03"), "completed", "2024-05-01T09:00:00Z") ","
	    VREC(RT("04"), "failed", "2024-05-01T08:00:00Z"), 1, &pg);
	CHECK(pg.oldest == 1714550400, "oldest of the page %lld", pg.oldest);
	tfs_error_clear(&err);
	CHECK_RC(catalog_oldest_unfinished(cat, ITEM_VIDEO_RECORDING, 0,
	    &date, &err), TFS_OK, "oldest_unfinished: %s", err.detail);
	CHECK(date == 1714557600, "oldest unfinished %lld", date);
	CHECK_RC(catalog_oldest_unfinished(cat, ITEM_VIDEO_RECORDING,
	    1714557601, &date, &err), TFS_OK, "since: %s", err.detail);
	CHECK(date == 1714644000, "oldest unfinished since %lld", date);
	CHECK_RC(catalog_oldest_unfinished(cat, ITEM_COMPOSITION, 0, &date,
	    &err), TFS_OK, "other kind: %s", err.detail);
	CHECK(date == -1, "compositions unfinished %lld", date);
	(void)ingest_recs(cat, ITEM_VIDEO_RECORDING,
	    VREC(RT("01"), "completed", "2024-05-01T10:00:00Z") ","
	    VREC(RT("02"), "completed", "2024-05-02T10:00:00Z"), 2, &pg);
	CHECK_RC(catalog_oldest_unfinished(cat, ITEM_VIDEO_RECORDING, 0,
	    &date, &err), TFS_OK, "finished: %s", err.detail);
	CHECK(date == -1, "all finished: %lld", date);
	/* An empty page has no oldest. */
	(void)ingest_recs(cat, ITEM_VIDEO_RECORDING, "", 2, &pg);
	CHECK(pg.oldest == -1 && pg.items == 0, "empty page oldest %lld",
	    pg.oldest);
	catalog_close(cat);
}

int
main(void)
{
	const char *base;

	unit_begin("test_catalog");
	base = getenv("TFS_WORK");
	if (base == NULL || *base == '\0')
		base = getenv("TMPDIR");
	if (base == NULL || *base == '\0')
		base = "/tmp";
	unit_path(scratch, sizeof(scratch), base, "test_catalog.XXXXXX");
	if (mkdtemp(scratch) == NULL) {
		fprintf(stderr, "test_catalog: cannot make %s\n", scratch);
		return 99;
	}

	test_kinds();
	test_dates();
	test_changes();
	test_parts_and_sweep();
	test_iteration();
	test_reopen();
	test_files();
	test_injection();
	test_malformed();
	test_transactions();
	test_two_processes();
	test_big_page();
	test_mapping();
	test_listed_size();
	test_failures();
	test_foreach_fail_class();
	test_stale_and_keys();
	test_products();
	test_migrate_v1();
	test_kept_statements();
	test_page_cost();
	test_unfinished();

	unit_remove_tree(scratch);
	return unit_done();
}
