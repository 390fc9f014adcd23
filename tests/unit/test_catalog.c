/* SPDX-License-Identifier: MIT */
/*
 * test_catalog.c - unit tests of catalog.h: list pages of the four kinds
 * (the JSON files of tests/data/api) into the catalog and every field back out,
 * dates in ISO-8601 and RFC 2822 with zone offsets, both spellings of
 * encryption_details, counts, change detection, the sweep, media
 * records and operator-result parts, pending order, reopening (schema
 * version, persistence), file modes and permission refusals, SQL
 * injection through API strings, malformed pages, transactions, and a
 * 1,000-record page (timed). Catalogs live in a private directory under
 * TFS_WORK (or TMPDIR, or /tmp) that is removed at the end.
 */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif

#include <dirent.h>
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
	}

	/* Counts: deleted is nowhere; error/canceled/absent fail. */
	CHECK_COUNTS(cat, ITEM_VIDEO_RECORDING, 2, 2, 1, 1);
	CHECK_COUNTS(cat, ITEM_COMPOSITION, 2, 2, 1, 1);
	CHECK_COUNTS(cat, ITEM_VOICE_RECORDING, 3, 3, 1, 1);
	CHECK_COUNTS(cat, ITEM_TRANSCRIPT, 2, 2, 1, 2);

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

static void
test_dates(void)
{
	static const struct {
		const char *date;
		long long want;
	} iso[] = {
		{ "2024-05-01T10:00:00Z", 1714557600 },
		{ "2024-05-01T10:00:00.5Z", 1714557600 },
		{ "2024-05-01T12:00:00+02:00", 1714557600 },
		{ "2024-05-01T05:00:00-0500", 1714557600 },
		{ "2024-05-01 10:00:00", 1714557600 },
		{ "2020-02-29T00:00:00Z", 1582934400 },
		{ "2024-02-30T00:00:00Z", 0 },
		{ "2024-05-01T10:00:00Zjunk", 0 },
		{ "yesterday", 0 },
	}, rfc[] = {
		{ "Wed, 01 May 2024 10:00:00 +0000", 1714557600 },
		{ "Wed, 01 May 2024 05:00:00 -0500", 1714557600 },
		{ "Wed, 1 May 2024 15:30:00 +0530", 1714557600 },
		{ "01 May 2024 10:00:00 GMT", 1714557600 },
		{ "Wed, 01 May 2024 06:00:00 EDT", 1714557600 },
		{ "Wed, 01 may 2024 10:00 +0000", 1714557600 },
		{ "Sat, 29 Feb 2020 00:00:00 +0000", 1582934400 },
		{ "Fri, 31 Dec 1999 23:59:59 -0000", 946684799 },
		{ "Wed, 01 Foo 2024 10:00:00 +0000", 0 },
		{ "Wed, 01 May 2024 10:00:00 +9999", 0 },
		{ "", 0 },
	};
	struct catalog *cat = open_cat("dates");
	struct catalog_page pg;
	char recs[4096], sid[40];
	struct item it;
	size_t i, o;

	if (cat == NULL)
		return;
	o = 0;
	for (i = 0; i < sizeof(iso) / sizeof(iso[0]); i++)
		o += (size_t)snprintf(recs + o, sizeof(recs) - o, "%s{\"sid\":"
		    "\"GTiso%zu\",\"date_created\":\"%s\"}", i ? "," : "", i,
		    iso[i].date);
	(void)ingest_recs(cat, ITEM_TRANSCRIPT, recs, 1, &pg);
	o = 0;
	for (i = 0; i < sizeof(rfc) / sizeof(rfc[0]); i++)
		o += (size_t)snprintf(recs + o, sizeof(recs) - o, "%s{\"sid\":"
		    "\"RErfc%zu\",\"date_created\":\"%s\"}", i ? "," : "", i,
		    rfc[i].date);
	(void)ingest_recs(cat, ITEM_VOICE_RECORDING, recs, 1, &pg);
	for (i = 0; i < sizeof(iso) / sizeof(iso[0]); i++) {
		(void)snprintf(sid, sizeof(sid), "GTiso%zu", i);
		if (get(cat, sid, 0, &it) == TFS_OK)
			CHECK(it.date_created == iso[i].want, "\"%s\" is "
			    "%lld, want %lld", iso[i].date, it.date_created,
			    iso[i].want);
	}
	for (i = 0; i < sizeof(rfc) / sizeof(rfc[0]); i++) {
		(void)snprintf(sid, sizeof(sid), "RErfc%zu", i);
		if (get(cat, sid, 0, &it) == TFS_OK)
			CHECK(it.date_created == rfc[i].want, "\"%s\" is "
			    "%lld, want %lld", rfc[i].date, it.date_created,
			    rfc[i].want);
	}
	/* Numbers as strings, numbers as numbers, junk. */
	(void)ingest_recs(cat, ITEM_VOICE_RECORDING,
	    "{\"sid\":\"REnum1\",\"error_code\":\"16102\",\"duration\":4.7},"
	    "{\"sid\":\"REnum2\",\"error_code\":true,\"duration\":\"x\"}",
	    2, &pg);
	if (get(cat, "REnum1", 0, &it) == TFS_OK)
		CHECK(it.error_code == 16102 && it.duration == 4, "error_code "
		    "%d duration %lld", it.error_code, it.duration);
	if (get(cat, "REnum2", 0, &it) == TFS_OK)
		CHECK(it.error_code == 0 && it.duration == -1, "error_code "
		    "%d duration %lld", it.error_code, it.duration);
	catalog_close(cat);
}

/* --- changes, media, parts, sweep --- */

#define VREC(sid, status, date) "{\"sid\":\"" sid "\",\"status\":\"" \
	status "\",\"date_created\":\"" date "\",\"codec\":\"VP8\"," \
	"\"type\":\"video\",\"links\":{\"media\":\"https://v/" sid "\"}}"

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

	/* A full listing in g2 without RT03..05 and GT01. */
	(void)ingest_recs(cat, ITEM_VIDEO_RECORDING,
	    VREC(RT("01"), "completed", "2024-05-01T10:00:00Z") ","
	    VREC(RT("02"), "completed", "2024-05-01T10:00:05Z"), g2, &pg);
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
	static const char *const pending[] = { RE("01"), RE("02"), RE("05"),
	    RT("01"), RT("02"), CJ("01"), CJ("02"), GT("01"), GT("05") };
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
	rc = catalog_foreach_pending(cat, seen_fn, &s, &err);
	CHECK_RC(rc, TFS_OK, "foreach_pending: %s", err.detail);
	CHECK(s.n == 9, "%zu pending, want 9", s.n);
	for (i = 0; i < 9 && i < s.n; i++)
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
	rc = catalog_foreach_pending(cat, seen_fn, &s, &err);
	CHECK(rc == 7 && s.n == 3, "stop early: rc %d after %zu", rc, s.n);

	/* fn may write: mark every pending item known as we go. */
	memset(&s, 0, sizeof(s));
	s.write = cat;
	rc = catalog_foreach_pending(cat, seen_fn, &s, &err);
	CHECK(rc == 0 && s.n == 9, "writing fn: rc %d after %zu", rc, s.n);
	memset(&s, 0, sizeof(s));
	rc = catalog_foreach_pending(cat, seen_fn, &s, &err);
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
	CHECK(catalog_schema_version() == 1, "schema version %d",
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
	CHECK(raw_int(db, "PRAGMA user_version") == 1, "user_version");
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
	CHECK(raw_int(db, "PRAGMA user_version") == 1, "user_version");
	CHECK(raw_int(db, "SELECT count(*) FROM sqlite_master") == objects,
	    "schema objects changed on reopening");
	CHECK(raw_int(db, "SELECT count(*) FROM sqlite_master WHERE "
	    "name IN ('items', 'meta')") == 2, "tables missing");
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

static void
test_injection(void)
{
	struct catalog *cat = open_cat("inject");
	struct catalog_page pg;
	struct item it;
	sqlite3 *db;

	if (cat == NULL)
		return;
	(void)ingest_recs(cat, ITEM_VIDEO_RECORDING,
	    "{\"sid\":\"" EVIL "\",\"status\":\"completed\","
	    "\"track_name\":\"Robert'); DROP TABLE items;--\\\" caf\\u00e9\","
	    "\"codec\":\"VP8'--\",\"grouping_sids\":{\"room_sid\":\"" EVIL
	    "\"}},"
	    "{\"sid\":\"RT'||(SELECT 1)||'\",\"status\":\"x' OR '1'='1\"}",
	    1, &pg);
	CHECK(pg.added == 2, "%zu added", pg.added);
	if (get(cat, EVIL, 0, &it) == TFS_OK) {
		CHECK_STR(it.sid, EVIL);
		CHECK_STR(it.track_name,
		    "Robert'); DROP TABLE items;--\" caf\xc3\xa9");
		CHECK_STR(it.codec, "vp8'--");
		CHECK_STR(it.room_sid, EVIL);
	}
	if (get(cat, "RT'||(SELECT 1)||'", 0, &it) == TFS_OK)
		CHECK_STR(it.status, "x' or '1'='1");
	catalog_close(cat);
	db = raw_open("inject");
	if (db == NULL)
		return;
	CHECK(raw_int(db, "SELECT count(*) FROM items") == 2, "items table");
	sqlite3_close(db);
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
		{ ITEM_VIDEO_RECORDING, "{\"recordings\":{\"sid\":\"RT1\"}}",
		    "non-array" },
		{ ITEM_VIDEO_RECORDING, "{\"recordings\":[{\"sid\":\"RT1\"},"
		    "42]}", "record 1" },
		{ ITEM_VIDEO_RECORDING, "{\"recordings\":[{\"status\":"
		    "\"completed\"}]}", "sid" },
		{ ITEM_VIDEO_RECORDING, "{\"recordings\":[{\"sid\":7}]}",
		    "sid" },
		{ ITEM_VIDEO_RECORDING, "{\"recordings\":[{\"sid\":\"a/b\"}]}",
		    "sid" },
		{ ITEM_VIDEO_RECORDING, "{\"recordings\":[{\"sid\":\"..\"}]}",
		    "sid" },
		{ ITEM_VIDEO_RECORDING, "{\"recordings\":[{\"sid\":\"RT" Z30
		    "000001\"}]}", "sid" },
		{ ITEM_VIDEO_RECORDING, "{\"compositions\":[],\"meta\":"
		    "{\"key\":\"compositions\"}}", "meta.key" },
		{ ITEM_TRANSCRIPT, "{\"recordings\":[]}", "transcripts" },
		{ ITEM_VOICE_RECORDING, "{\"recordings\":[{\"sid\":\"RE1\"}",
		    "not valid JSON" },
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
	/* A valid record before the bad one was not stored either. */
	tfs_error_clear(&err);
	rc = catalog_ingest_page(cat, ITEM_VIDEO_RECORDING, "{\"recordings\":"
	    "[{\"sid\":\"RTgood\"},{\"sid\":\"\"}]}", BASE, 2, &pg, &err);
	CHECK_RC(rc, TFS_ERR_ENVELOPE, "empty SID");
	memset(&s, 0, sizeof(s));
	CHECK_RC(catalog_foreach(cat, seen_fn, &s, &err), TFS_OK, "foreach");
	CHECK(s.n == 1, "%zu items after bad pages, want 1", s.n);
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
	    "{\"sid\":\"REbadiv\",\"status\":\"completed\",\"uri\":\"/a.json\","
	    "\"encryption_details\":{\"encrypted_cek\":\"AAEC\","
	    "\"iv\":\"AAAAAAAAAAAAAA==\"}},"
	    "{\"sid\":\"REnumcek\",\"status\":\"completed\","
	    "\"encryption_details\":{\"encrypted_cek\":1234,"
	    "\"iv\":\"AAAAAAAAAAAAAAAA\"}},"
	    "{\"sid\":\"REtype\",\"status\":\"completed\","
	    "\"encryption_details\":{\"type\":\"kms\",\"encrypted_cek\":"
	    "\"AAEC\",\"iv\":\"AAAAAAAAAAAAAAAA\"}},"
	    "{\"sid\":\"REnotobj\",\"status\":\"completed\","
	    "\"encryption_details\":[1]},"
	    "{\"sid\":\"REstring\",\"status\":\"completed\","
	    "\"encryption_details\":\"{\\\"encryption_cek\\\":\\\"AAEC\\\","
	    "\\\"encryption_iv\\\":\\\"AAAAAAAAAAAAAAAA\\\"}\"}", 3, &pg);
	CHECK(pg.added == 5, "%zu added", pg.added);
	CHECK_COUNTS(cat, ITEM_VOICE_RECORDING, 1, 1, 0, 4);
	{
		struct item it;

		if (get(cat, "REbadiv", 0, &it) == TFS_OK) {
			CHECK_STR(it.status, "invalid");
			CHECK(it.env.scheme == ENVELOPE_NONE, "scheme %d",
			    (int)it.env.scheme);
		}
		if (get(cat, "REstring", 0, &it) == TFS_OK)
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
	CHECK_RC(catalog_foreach_pending(cat, order_fn, &o, &err), TFS_OK,
	    "foreach_pending: %s", err.detail);
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

	unit_remove_tree(scratch);
	return unit_done();
}
