/* SPDX-License-Identifier: MIT */
/* catalog.c - the SQLite catalog: schema, migrations, page ingest, queries. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include <sqlite3.h>

#include "twiliofs/catalog.h"
#include "twiliofs/kind.h"

#define CATALOG_FILE "catalog.sqlite"
/* How long a statement waits for another process's write lock. */
#define BUSY_MS 10000
/* The largest API list page we parse (1,000 records are about 2 MB). */
#define PAGE_MAX (64 * 1024 * 1024)
/* Items read per round trip by the iterators (no statement stays open). */
#define BATCH 64
/* The meta key of the generation counter. */
#define GEN_KEY "catalog.generation"
/* RETURNING (3.35) and UPDATE ... FROM (3.33). */
#define SQLITE_MIN 3038000	/* the -> operator (record checks) */
/* Statements kept prepared per catalog (the hot ones fit many times). */
#define STMT_CACHE 64

/* A statement prepared once and kept; busy while handed out. */
struct stmt_slot {
	sqlite3_stmt *st;
	int busy;
};

struct catalog {
	sqlite3 *db;
	char path[PATH_MAX];
	struct stmt_slot stmts[STMT_CACHE];
	char *stage_sql;	/* stage()'s statement, joined once */
	long long scan_steps;	/* see catalog_scan_steps */
};

/* --- errors and small helpers --- */

/* Map a SQLite result of what (a verb phrase) to a project error. */
static int
db_error(struct catalog *cat, int src, const char *what,
    struct tfs_error *err)
{
	switch (src & 0xff) {
	case SQLITE_NOMEM:
		return tfs_error_set(err, TFS_ERR_NOMEM, "catalog: %s: out "
		    "of memory", what);
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		return tfs_error_set(err, TFS_ERR_IO, "catalog %s: %s: "
		    "another process kept it locked for %d s; try again",
		    cat->path, what, BUSY_MS / 1000);
	case SQLITE_CORRUPT:
	case SQLITE_NOTADB:
		return tfs_error_set(err, TFS_ERR_IO, "catalog %s: %s: %s; "
		    "the file is damaged or not a catalog: remove it (it is "
		    "a cache, rebuilt from the API)", cat->path, what,
		    sqlite3_errmsg(cat->db));
	case SQLITE_FULL:
		return tfs_error_set(err, TFS_ERR_IO, "catalog %s: %s: the "
		    "disk is full", cat->path, what);
	default:
		return tfs_error_set(err, TFS_ERR_IO, "catalog %s: %s: %s",
		    cat->path, what, cat->db != NULL ?
		    sqlite3_errmsg(cat->db) : sqlite3_errstr(src));
	}
}

static int
exec(struct catalog *cat, const char *sql, const char *what,
    struct tfs_error *err)
{
	int src;

	src = sqlite3_exec(cat->db, sql, NULL, NULL, NULL);
	if (src != SQLITE_OK)
		return db_error(cat, src, what, err);
	return TFS_OK;
}

/*
 * The statement of sql, ready to bind: the one prepared for this catalog
 * before (found by its text), or a new one, kept while there is room.
 * The same text in use twice at once (a callback of an iteration) gets
 * a statement of its own. Every statement goes back through release.
 */
static int
prepare(struct catalog *cat, const char *sql, sqlite3_stmt **st,
    const char *what, struct tfs_error *err)
{
	struct stmt_slot *s, *room = NULL;
	size_t i;
	int src;

	*st = NULL;
	for (i = 0; i < STMT_CACHE; i++) {
		s = &cat->stmts[i];
		if (s->st == NULL) {
			if (room == NULL)
				room = s;
		} else if (!s->busy && strcmp(sqlite3_sql(s->st), sql) == 0) {
			s->busy = 1;
			*st = s->st;
			return TFS_OK;
		}
	}
	src = sqlite3_prepare_v3(cat->db, sql, -1, room != NULL ?
	    SQLITE_PREPARE_PERSISTENT : 0, st, NULL);
	if (src != SQLITE_OK) {
		sqlite3_finalize(*st);
		*st = NULL;
		return db_error(cat, src, what, err);
	}
	if (room != NULL) {
		room->st = *st;
		room->busy = 1;
	}
	return TFS_OK;
}

/*
 * Give back what prepare handed out (NULL: nothing): reset, its bindings
 * cleared (a NULL parameter must not take the last call's value), kept
 * for the next call; one that did not fit is finalized.
 */
static void
release(struct catalog *cat, sqlite3_stmt *st)
{
	size_t i;

	if (st == NULL)
		return;
	cat->scan_steps += sqlite3_stmt_status(st,
	    SQLITE_STMTSTATUS_FULLSCAN_STEP, 1) + sqlite3_stmt_status(st,
	    SQLITE_STMTSTATUS_AUTOINDEX, 1);
	for (i = 0; i < STMT_CACHE; i++) {
		if (cat->stmts[i].st == st) {
			(void)sqlite3_reset(st);
			(void)sqlite3_clear_bindings(st);
			cat->stmts[i].busy = 0;
			return;
		}
	}
	sqlite3_finalize(st);
}

/* Step st to its end (a write): TFS_OK or the error. */
static int
step_done(struct catalog *cat, sqlite3_stmt *st, const char *what,
    struct tfs_error *err)
{
	int src;

	while ((src = sqlite3_step(st)) == SQLITE_ROW)
		;
	if (src != SQLITE_DONE)
		return db_error(cat, src, what, err);
	return TFS_OK;
}

/* Run one statement without parameters (kept prepared, as above). */
static int
run(struct catalog *cat, const char *sql, const char *what,
    struct tfs_error *err)
{
	sqlite3_stmt *st = NULL;
	int rc;

	rc = prepare(cat, sql, &st, what, err);
	if (rc == TFS_OK)
		rc = step_done(cat, st, what, err);
	release(cat, st);
	return rc;
}

/*
 * Start the writes of one call: its own IMMEDIATE transaction (the write
 * lock up front, so the busy timeout applies) or, inside the caller's
 * transaction, a savepoint that a failure rolls back alone.
 */
static int
tx_start(struct catalog *cat, int *own, struct tfs_error *err)
{
	*own = sqlite3_get_autocommit(cat->db);
	return run(cat, *own ? "BEGIN IMMEDIATE" : "SAVEPOINT tfs_call",
	    "start a transaction", err);
}

/* End what tx_start began: commit if rc is TFS_OK, else undo. */
static int
tx_finish(struct catalog *cat, int own, int rc, struct tfs_error *err)
{
	if (rc == TFS_OK)
		rc = run(cat, own ? "COMMIT" : "RELEASE tfs_call",
		    "commit", err);
	if (rc == TFS_OK)
		return rc;
	/* Errors here mean SQLite already rolled back: nothing to do. */
	if (own)
		(void)sqlite3_exec(cat->db, "ROLLBACK", NULL, NULL, NULL);
	else
		(void)sqlite3_exec(cat->db, "ROLLBACK TO tfs_call; "
		    "RELEASE tfs_call", NULL, NULL, NULL);
	return rc;
}

/* --- SQL functions of our own (this connection only) --- */

/*
 * The text of v as a C string, or NULL when v is not text or holds a NUL:
 * JSON's "\u0000" reaches us as text whose C string is cut short, and
 * "RT<32 hex>\u0000?x" must not pass for the SID it begins with.
 */
static const char *
value_cstr(sqlite3_value *v)
{
	const char *s;

	if (sqlite3_value_type(v) != SQLITE_TEXT)
		return NULL;
	s = (const char *)sqlite3_value_text(v);
	if (s == NULL || strlen(s) != (size_t)sqlite3_value_bytes(v))
		return NULL;
	return s;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant). */
static long long
days_from_civil(long long y, int m, int d)
{
	long long era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

static int
days_in_month(long long y, int m)
{
	static const int days[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30,
	    31, 30, 31 };

	if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
		return 29;
	return days[m - 1];
}

/* Exactly n decimal digits at *p into *v; advances *p. 0 or -1. */
static int
digits(const char **p, int n, int *v)
{
	int i;

	*v = 0;
	for (i = 0; i < n; i++) {
		if ((*p)[i] < '0' || (*p)[i] > '9')
			return -1;
		*v = *v * 10 + ((*p)[i] - '0');
	}
	*p += n;
	return 0;
}

/* One or two digits (an RFC 2822 day). */
static int
digits12(const char **p, int *v)
{
	if (digits(p, 1, v) != 0)
		return -1;
	if (**p >= '0' && **p <= '9')
		*v = *v * 10 + (*(*p)++ - '0');
	return 0;
}

/* "+HHMM", "-HH:MM" (colon optional) into seconds east of UTC. */
static int
zone_offset(const char **p, int *off)
{
	int sign, hh, mm;

	if (**p != '+' && **p != '-')
		return -1;
	sign = **p == '-' ? -1 : 1;
	(*p)++;
	if (digits(p, 2, &hh) != 0)
		return -1;
	if (**p == ':')
		(*p)++;
	if (digits(p, 2, &mm) != 0 || hh > 23 || mm > 59)
		return -1;
	*off = sign * (hh * 3600 + mm * 60);
	return 0;
}

static int
to_unix(long long y, int mo, int d, int h, int mi, int s, int off,
    long long *out)
{
	if (mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo) ||
	    h > 23 || mi > 59 || s > 60)
		return -1;
	*out = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + s -
	    off;
	/* Year 0000 and the like: no recording is older than the epoch. */
	return *out < 0 ? -1 : 0;
}

/*
 * ISO-8601 as the v1/v2 APIs write it: 2024-05-01T10:00:00Z, optionally
 * with fractions (dropped) and a +HH:MM offset; no zone means UTC.
 */
static int
parse_iso(const char *p, long long *out)
{
	int y, mo, d, h = 0, mi = 0, s = 0, off = 0;

	if (digits(&p, 4, &y) != 0 || *p++ != '-' ||
	    digits(&p, 2, &mo) != 0 || *p++ != '-' || digits(&p, 2, &d) != 0)
		return -1;
	if (*p == 'T' || *p == 't' || *p == ' ') {
		p++;
		if (digits(&p, 2, &h) != 0 || *p++ != ':' ||
		    digits(&p, 2, &mi) != 0)
			return -1;
		if (*p == ':') {
			p++;
			if (digits(&p, 2, &s) != 0)
				return -1;
			if (*p == '.' || *p == ',') {
				p++;
				if (*p < '0' || *p > '9')
					return -1;
				while (*p >= '0' && *p <= '9')
					p++;
			}
		}
		if (*p == 'Z' || *p == 'z')
			p++;
		else if ((*p == '+' || *p == '-') && zone_offset(&p, &off))
			return -1;
	}
	if (*p != '\0')
		return -1;
	return to_unix(y, mo, d, h, mi, s, off, out);
}

/*
 * RFC 2822 as the 2010 API writes it: "Fri, 14 Oct 2016 21:56:34 +0000"
 * (the day name and seconds optional; GMT/UT/Z and the US zone names of
 * RFC 822 accepted; a trailing comment ignored).
 */
static int
parse_rfc2822(const char *p, long long *out)
{
	static const char months[] = "janfebmaraprmayjunjulaugsepoctnovdec";
	static const struct {
		const char *name;
		int hours;
	} zones[] = {
		{ "GMT", 0 }, { "UTC", 0 }, { "UT", 0 }, { "Z", 0 },
		{ "EST", -5 }, { "EDT", -4 }, { "CST", -6 }, { "CDT", -5 },
		{ "MST", -7 }, { "MDT", -6 }, { "PST", -8 }, { "PDT", -7 },
	};
	char mon[4];
	size_t i, n;
	int y, mo, d, h, mi, s = 0, off = 0, found;

	while (*p == ' ')
		p++;
	if ((*p | 0x20) >= 'a' && (*p | 0x20) <= 'z') {
		for (i = 0; i < 3; i++, p++)
			if ((*p | 0x20) < 'a' || (*p | 0x20) > 'z')
				return -1;
		if (*p++ != ',')
			return -1;
		while (*p == ' ')
			p++;
	}
	if (digits12(&p, &d) != 0 || *p++ != ' ')
		return -1;
	for (i = 0; i < 3; i++) {
		if (p[i] == '\0')
			return -1;
		mon[i] = (char)(p[i] | 0x20);
	}
	mon[3] = '\0';
	p += 3;
	for (mo = 0; mo < 12; mo++)
		if (memcmp(months + 3 * mo, mon, 3) == 0)
			break;
	if (mo == 12 || *p++ != ' ' || digits(&p, 4, &y) != 0 ||
	    *p++ != ' ' || digits(&p, 2, &h) != 0 || *p++ != ':' ||
	    digits(&p, 2, &mi) != 0)
		return -1;
	if (*p == ':') {
		p++;
		if (digits(&p, 2, &s) != 0)
			return -1;
	}
	while (*p == ' ')
		p++;
	if (*p == '+' || *p == '-') {
		if (zone_offset(&p, &off) != 0)
			return -1;
	} else if (*p != '\0' && *p != '(') {
		found = 0;
		for (i = 0; i < sizeof(zones) / sizeof(zones[0]); i++) {
			n = strlen(zones[i].name);
			if (strncasecmp(p, zones[i].name, n) == 0 &&
			    (p[n] == '\0' || p[n] == ' ')) {
				off = zones[i].hours * 3600;
				p += n;
				found = 1;
				break;
			}
		}
		if (!found)
			return -1;
	}
	while (*p == ' ')
		p++;
	if (*p == '(' && p[strlen(p) - 1] == ')')
		p += strlen(p);
	if (*p != '\0')
		return -1;
	return to_unix(y, mo + 1, d, h, mi, s, off, out);
}

/* tfs_time(text): Unix seconds of an ISO-8601 or RFC 2822 date, or NULL. */
static void
sql_time(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	const char *s;
	long long t;
	int r;

	(void)argc;
	s = value_cstr(argv[0]);
	if (s == NULL)
		return;
	if (s[0] >= '0' && s[0] <= '9' && strlen(s) >= 10 && s[4] == '-')
		r = parse_iso(s, &t);
	else
		r = parse_rfc2822(s, &t);
	if (r == 0)
		sqlite3_result_int64(ctx, t);
}

/*
 * tfs_unbase64(text, cap): the bytes of strict base64 text (a JSON string,
 * never a number) of 1 to cap bytes, or NULL.
 */
static void
sql_unbase64(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	unsigned char buf[ENVELOPE_MAX_WRAPPED];
	const char *s;
	sqlite3_int64 cap;
	size_t n;

	(void)argc;
	s = value_cstr(argv[0]);
	cap = sqlite3_value_int64(argv[1]);
	if (s == NULL || cap < 1 || cap > (sqlite3_int64)sizeof(buf))
		return;
	if (envelope_b64_decode(s, buf, (size_t)cap, &n) != TFS_OK || n == 0)
		return;
	sqlite3_result_blob(ctx, buf, (int)n, SQLITE_TRANSIENT);
}

/*
 * tfs_sid_ok(text, prefix): 1 if text is a SID of that kind (the prefix
 * and 32 hex digits: also safe as a file name), else 0. A server's
 * identifier is checked against what we asked for, not trusted.
 */
static void
sql_sid_ok(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	(void)argc;
	sqlite3_result_int(ctx, kind_sid_shaped(value_cstr(argv[0]),
	    value_cstr(argv[1])));
}

/* tfs_sid_or_empty(text, prefix): text if a SID with prefix, else ''. */
static void
sql_sid_or_empty(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	(void)argc;
	if (kind_sid_shaped(value_cstr(argv[0]), value_cstr(argv[1])))
		sqlite3_result_value(ctx, argv[0]);
	else
		sqlite3_result_text(ctx, "", 0, SQLITE_STATIC);
}

/*
 * Whether url names media outside Twilio (the customer's own storage):
 * not under base, and its host not twilio.com or a subdomain of it. The
 * host alone decides: "https://evil/x.twilio.com/…" is outside.
 */
static int
external_url(const char *url, const char *base)
{
	static const char tw[] = "twilio.com";
	const char *host, *end, *at;
	size_t n = strlen(base), h;

	while (n > 0 && base[n - 1] == '/')
		n--;
	if (url == NULL || url[0] == '\0')
		return 0;
	if (n > 0 && strncmp(url, base, n) == 0 && url[n] == '/')
		return 0;
	host = strstr(url, "://");
	if (host == NULL)
		return 1;
	host += 3;
	end = host + strcspn(host, "/?#");
	at = memchr(host, '@', (size_t)(end - host));
	if (at != NULL)
		return 1;	/* user@host: not one of Twilio's links */
	h = strcspn(host, ":/?#");
	if (h == sizeof(tw) - 1 && strncasecmp(host, tw, h) == 0)
		return 0;
	return !(h > sizeof(tw) && host[h - sizeof(tw)] == '.' &&
	    strncasecmp(host + h - (sizeof(tw) - 1), tw, sizeof(tw) - 1) ==
	    0);
}

/* tfs_external(url, base): 1 if external_url, else 0. */
static void
sql_external(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	const char *url = (const char *)sqlite3_value_text(argv[0]);
	const char *base = (const char *)sqlite3_value_text(argv[1]);

	(void)argc;
	sqlite3_result_int(ctx, sqlite3_value_type(argv[0]) == SQLITE_TEXT &&
	    external_url(url, base != NULL ? base : ""));
}

/* tfs_state(status): enum kind_state of a status value. */
static void
sql_state(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	const char *s = (const char *)sqlite3_value_text(argv[0]);

	(void)argc;
	sqlite3_result_int(ctx, (int)kind_state_of(s != NULL ? s : ""));
}

static int
register_functions(struct catalog *cat, struct tfs_error *err)
{
	static const struct {
		const char *name;
		int argc;
		void (*fn)(sqlite3_context *, int, sqlite3_value **);
	} fns[] = {
		{ "tfs_time", 1, sql_time },
		{ "tfs_unbase64", 2, sql_unbase64 },
		{ "tfs_sid_ok", 2, sql_sid_ok },
		{ "tfs_state", 1, sql_state },
		{ "tfs_sid_or_empty", 2, sql_sid_or_empty },
		{ "tfs_external", 2, sql_external },
	};
	size_t i;
	int src;

	for (i = 0; i < sizeof(fns) / sizeof(fns[0]); i++) {
		src = sqlite3_create_function(cat->db, fns[i].name,
		    fns[i].argc, SQLITE_UTF8 | SQLITE_DETERMINISTIC |
		    SQLITE_DIRECTONLY, NULL, fns[i].fn, NULL, NULL);
		if (src != SQLITE_OK)
			return db_error(cat, src, "register SQL functions",
			    err);
	}
	return TFS_OK;
}

/* --- schema --- */

/*
 * Version 1. items: one row per (sid, part); the envelope as the wrapped
 * key and IV bytes (BLOBs) with the scheme; seen_generation for the sweep;
 * api_json the record as the API gave it (xattrs); problem why a record
 * was stored as status "invalid" (NULL when fine).
 */
static int
migrate_v1(struct catalog *cat, struct tfs_error *err)
{
	return exec(cat,
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
	    " value TEXT NOT NULL);",
	    "create the schema", err);
}

/*
 * Version 2: what keeps an item from being served, and the sync's state
 * per product. items.media_hold: 'external' (media in the customer's
 * storage) or 'unencrypted' (not fetched as encrypted media), from the
 * listing; listed_size: the size the listing gives (a change re-probes);
 * key_state: 0 not checked, 1 a key of ours opens it, 2 none does.
 * failures: the last failure to fetch an item's media, retried after
 * retry_after. products: the last listing of each API product.
 */
static int
migrate_v2(struct catalog *cat, struct tfs_error *err)
{
	return exec(cat,
	    "ALTER TABLE items ADD COLUMN media_hold TEXT NOT NULL"
	    " DEFAULT '';"
	    "ALTER TABLE items ADD COLUMN listed_size INTEGER NOT NULL"
	    " DEFAULT -1;"
	    "ALTER TABLE items ADD COLUMN key_state INTEGER NOT NULL"
	    " DEFAULT 0;"
	    "CREATE TABLE failures ("
	    " sid TEXT NOT NULL,"
	    " part INTEGER NOT NULL,"
	    " class TEXT NOT NULL,"
	    " detail TEXT NOT NULL,"
	    " count INTEGER NOT NULL DEFAULT 1,"
	    " first_time INTEGER NOT NULL,"
	    " last_time INTEGER NOT NULL,"
	    " retry_after INTEGER NOT NULL DEFAULT 0,"
	    " PRIMARY KEY (sid, part));"
	    "CREATE TABLE products ("
	    " product INTEGER PRIMARY KEY NOT NULL,"
	    " last_ok INTEGER NOT NULL DEFAULT 0,"
	    " last_try INTEGER NOT NULL DEFAULT 0,"
	    " class TEXT NOT NULL DEFAULT '',"
	    " detail TEXT NOT NULL DEFAULT '',"
	    " skipped INTEGER NOT NULL DEFAULT 0);",
	    "migrate the schema to version 2", err);
}

/*
 * Version 3: the key check walks an index of what it looks at, instead
 * of the whole table once per batch (quadratic in a first sync).
 */
static int
migrate_v3(struct catalog *cat, struct tfs_error *err)
{
	return exec(cat,
	    "CREATE INDEX items_keycheck ON items (date_created, sid, part)"
	    " WHERE status = 'completed' AND media_known = 1"
	    " AND enc_scheme <> 0 AND key_state <> 1;",
	    "migrate the schema to version 3", err);
}

/* migrations[i] takes the schema from version i to i + 1. */
static int (*const migrations[])(struct catalog *, struct tfs_error *) = {
	migrate_v1,
	migrate_v2,
	migrate_v3,
};
#define SCHEMA_VERSION ((int)(sizeof(migrations) / sizeof(migrations[0])))

int
catalog_schema_version(void)
{
	return SCHEMA_VERSION;
}

static int
user_version(struct catalog *cat, int *v, struct tfs_error *err)
{
	sqlite3_stmt *st = NULL;
	int rc, src;

	rc = prepare(cat, "PRAGMA user_version", &st, "read the schema "
	    "version", err);
	if (rc != TFS_OK)
		goto out;
	src = sqlite3_step(st);
	if (src != SQLITE_ROW) {
		rc = db_error(cat, src, "read the schema version", err);
		goto out;
	}
	*v = sqlite3_column_int(st, 0);
	rc = TFS_OK;
out:
	release(cat, st);
	return rc;
}

/*
 * Bring the schema to SCHEMA_VERSION, one step per version, all in one
 * IMMEDIATE transaction: a second process opening at the same time waits
 * and then finds the work done. A current schema takes no write lock, so
 * opening does not wait for another process's long transaction.
 */
static int
migrate(struct catalog *cat, struct tfs_error *err)
{
	char sql[64];
	int rc, v = 0;

	rc = user_version(cat, &v, err);
	if (rc != TFS_OK || v == SCHEMA_VERSION)
		return rc;
	rc = exec(cat, "BEGIN IMMEDIATE", "start the schema migration", err);
	if (rc != TFS_OK)
		return rc;
	rc = user_version(cat, &v, err);
	if (rc != TFS_OK)
		goto out;
	if (v > SCHEMA_VERSION || v < 0) {
		rc = tfs_error_set(err, TFS_ERR_CONFIG, "catalog %s has schema "
		    "version %d, newer than this twiliofs knows (%d); "
		    "upgrade twiliofs, or remove the file (it is a cache)",
		    cat->path, v, SCHEMA_VERSION);
		goto out;
	}
	for (; v < SCHEMA_VERSION; v++) {
		rc = migrations[v](cat, err);
		if (rc != TFS_OK)
			goto out;
		/* PRAGMA takes no parameters: the number is ours. */
		(void)snprintf(sql, sizeof(sql), "PRAGMA user_version = %d",
		    v + 1);
		rc = exec(cat, sql, "record the schema version", err);
		if (rc != TFS_OK)
			goto out;
	}
	rc = TFS_OK;
out:
	if (rc == TFS_OK)
		rc = exec(cat, "COMMIT", "commit the schema migration", err);
	if (rc != TFS_OK)
		(void)sqlite3_exec(cat->db, "ROLLBACK", NULL, NULL, NULL);
	return rc;
}

/* --- opening --- */

/* Make dir (and missing parents) 0700; refuse one others can enter. */
static int
ensure_dir(const char *dir, struct tfs_error *err)
{
	char buf[PATH_MAX];
	struct stat st;
	size_t i, n = strlen(dir);

	if (n == 0 || n >= sizeof(buf))
		return tfs_error_set(err, TFS_ERR_USAGE, "cache directory "
		    "'%.64s' is empty or too long", dir);
	memcpy(buf, dir, n + 1);
	for (i = 1; i <= n; i++) {
		if (buf[i] != '/' && buf[i] != '\0')
			continue;
		buf[i] = '\0';
		if (mkdir(buf, 0700) == 0) {
			/* The umask may have taken bits away: set them. */
			if (chmod(buf, 0700) != 0)
				return tfs_error_set(err, TFS_ERR_IO,
				    "cannot chmod 700 %s: %s", buf,
				    strerror(errno));
		} else if (errno != EEXIST) {
			return tfs_error_set(err, TFS_ERR_IO, "cannot create "
			    "the cache directory %s: %s", buf,
			    strerror(errno));
		}
		buf[i] = dir[i];
	}
	if (stat(dir, &st) != 0)
		return tfs_error_set(err, TFS_ERR_IO, "cannot stat the cache "
		    "directory %s: %s", dir, strerror(errno));
	if (!S_ISDIR(st.st_mode))
		return tfs_error_set(err, TFS_ERR_CONFIG, "cache directory %s "
		    "is not a directory", dir);
	if (st.st_uid != geteuid())
		return tfs_error_set(err, TFS_ERR_CONFIG, "cache directory %s "
		    "belongs to uid %ld, not to you (uid %ld); use a directory "
		    "of your own", dir, (long)st.st_uid, (long)geteuid());
	if ((st.st_mode & (S_IRWXG | S_IRWXO)) != 0)
		return tfs_error_set(err, TFS_ERR_CONFIG, "cache directory %s "
		    "is open to group or others (mode %04o) but holds wrapped "
		    "keys and recording metadata; run: chmod 700 %s", dir,
		    (unsigned)(st.st_mode & 07777), dir);
	return TFS_OK;
}

/*
 * Take group/other bits off the database and its -wal and -shm files
 * (SQLite creates the latter with the database's mode). By path, never
 * through a file descriptor: closing one would drop the POSIX locks other
 * connections of this process hold on the file. Nobody else can reach
 * the files meanwhile: the directory is 0700.
 */
static int
fix_modes(struct catalog *cat, struct tfs_error *err)
{
	static const char *const suffix[] = { "", "-wal", "-shm" };
	char path[PATH_MAX + 8];
	struct stat st;
	size_t i;

	for (i = 0; i < sizeof(suffix) / sizeof(suffix[0]); i++) {
		(void)snprintf(path, sizeof(path), "%s%s", cat->path,
		    suffix[i]);
		if (lstat(path, &st) != 0) {
			if (errno == ENOENT)
				continue;
			return tfs_error_set(err, TFS_ERR_IO, "cannot stat "
			    "the catalog %s: %s", path, strerror(errno));
		}
		if (!S_ISREG(st.st_mode))
			return tfs_error_set(err, TFS_ERR_CONFIG, "catalog %s "
			    "is not a regular file; remove it", path);
		if ((st.st_mode & 077) != 0 && chmod(path, 0600) != 0)
			return tfs_error_set(err, TFS_ERR_IO, "cannot chmod "
			    "600 %s: %s", path, strerror(errno));
	}
	return TFS_OK;
}

/* The per-connection settings, WAL first. */
static int
configure(struct catalog *cat, struct tfs_error *err)
{
	sqlite3_stmt *st = NULL;
	const char *mode;
	int rc, src;

	rc = prepare(cat, "PRAGMA journal_mode = WAL", &st, "enable WAL",
	    err);
	if (rc != TFS_OK)
		goto out;
	src = sqlite3_step(st);
	if (src != SQLITE_ROW) {
		rc = db_error(cat, src, "enable WAL", err);
		goto out;
	}
	mode = (const char *)sqlite3_column_text(st, 0);
	if (mode == NULL || strcasecmp(mode, "wal") != 0) {
		rc = tfs_error_set(err, TFS_ERR_IO, "catalog %s: cannot use "
		    "WAL mode (journal mode stays '%s'); put the cache "
		    "directory on a local file system", cat->path,
		    mode != NULL ? mode : "?");
		goto out;
	}
	rc = exec(cat, "PRAGMA synchronous = NORMAL;"
	    "PRAGMA temp_store = MEMORY;"
	    "PRAGMA trusted_schema = OFF;", "configure", err);
out:
	release(cat, st);
	return rc;
}

/*
 * The staging tables of catalog_ingest_page: raw holds the page's records
 * as json_each gave them (so each is parsed on its own from then on),
 * page their mapped columns.
 */
static int
create_staging(struct catalog *cat, struct tfs_error *err)
{
	return exec(cat,
	    "CREATE TEMP TABLE raw ("
	    " idx INTEGER PRIMARY KEY, type TEXT, rec);"
	    "CREATE TEMP TABLE page ("
	    " sid TEXT PRIMARY KEY NOT NULL, kind INTEGER, status TEXT,"
	    " error_code INTEGER, date_created INTEGER, duration INTEGER,"
	    " room_sid TEXT, participant_sid TEXT, call_sid TEXT,"
	    " track_name TEXT, codec TEXT, container TEXT, media_url TEXT,"
	    " enc_scheme INTEGER, enc_cek BLOB, enc_iv BLOB,"
	    " public_key_sid TEXT, problem TEXT, media_hold TEXT,"
	    " listed_size INTEGER, api_json TEXT,"
	    " change INTEGER)", "create the staging tables", err);
}

int
catalog_open(struct catalog **out, const char *dir, struct tfs_error *err)
{
	struct catalog *cat = NULL;
	int rc = TFS_ERR_NOMEM, src;

	*out = NULL;
	if (sqlite3_libversion_number() < SQLITE_MIN)
		return tfs_error_set(err, TFS_ERR_CONFIG, "SQLite %s is too "
		    "old for the catalog; 3.38 or later is needed",
		    sqlite3_libversion());
	rc = ensure_dir(dir, err);
	if (rc != TFS_OK)
		return rc;
	cat = calloc(1, sizeof(*cat));
	if (cat == NULL)
		return tfs_error_set(err, TFS_ERR_NOMEM, "out of memory");
	if (snprintf(cat->path, sizeof(cat->path), "%s/%s", dir,
	    CATALOG_FILE) >= (int)sizeof(cat->path)) {
		rc = tfs_error_set(err, TFS_ERR_USAGE, "cache directory "
		    "'%.64s...' is too long", dir);
		goto out;
	}
	rc = fix_modes(cat, err);
	if (rc != TFS_OK)
		goto out;
	src = sqlite3_open_v2(cat->path, &cat->db, SQLITE_OPEN_READWRITE |
	    SQLITE_OPEN_CREATE | SQLITE_OPEN_NOFOLLOW, NULL);
	if (src != SQLITE_OK) {
		rc = db_error(cat, src, "open", err);
		goto out;
	}
	/* A new file got 0644 minus the umask. */
	rc = fix_modes(cat, err);
	if (rc != TFS_OK)
		goto out;
	sqlite3_busy_timeout(cat->db, BUSY_MS);
	rc = register_functions(cat, err);
	if (rc == TFS_OK)
		rc = configure(cat, err);
	if (rc == TFS_OK)
		rc = migrate(cat, err);
	if (rc == TFS_OK)
		rc = create_staging(cat, err);
	if (rc != TFS_OK)
		goto out;
	*out = cat;
	cat = NULL;
out:
	catalog_close(cat);
	return rc;
}

void
catalog_close(struct catalog *cat)
{
	size_t i;

	if (cat == NULL)
		return;
	for (i = 0; i < STMT_CACHE; i++)
		sqlite3_finalize(cat->stmts[i].st);
	sqlite3_close(cat->db);
	free(cat->stage_sql);
	free(cat);
}

long long
catalog_scan_steps(struct catalog *cat)
{
	return cat->scan_steps;
}

/* --- ingest --- */

/* Member k of the record (f: its json_each row): value, type, string. */
#define MEMBER(k) "max(CASE f.key WHEN '" k "' THEN f.value END)"
#define MTYPE(k) "max(CASE f.key WHEN '" k "' THEN f.type END)"
#define MTEXT(k) "max(CASE WHEN f.key = '" k "' AND f.type = 'text' " \
	"THEN f.value END)"
/* Member of encryption_details in either spelling (a number stays one). */
#define DETAIL(a, b) "coalesce(json_extract(ed, '$." a "'), " \
	"json_extract(ed, '$." b "'))"
/* A JSON string under links, else NULL. */
#define LINK(k) "CASE json_type(links, '$." k "') WHEN 'text' THEN " \
	"json_extract(links, '$." k "') END"
/*
 * The first SID in grouping_sids (an object, a list of SIDs or of objects,
 * or one SID) under member name, or else with prefix.
 */
#define GROUPED(name, prefix) "CASE WHEN gs_type = 'text' THEN CASE WHEN " \
	"gs GLOB '" prefix "*' THEN gs END WHEN gs_type IN ('object', " \
	"'array') THEN (SELECT value FROM json_tree(gs) WHERE type = 'text' " \
	"AND (key IS '" name "' OR value GLOB '" prefix "*') ORDER BY " \
	"key IS '" name "' DESC, id LIMIT 1) END"

/*
 * The one place where the API's records become catalog columns, for every
 * kind, from the records in temp.raw. ?1 the kind, ?2 the base URL
 * (voice), ?3 ITEM_URL_MAX, ?4 ENVELOPE_MAX_WRAPPED. Every value from the
 * API stays inside SQL. Fills temp.page, with change 0 for a new
 * record, 1 for one whose status, date or (voice) envelope differ, and 2
 * for one known as it is.
 *
 * Each record is parsed once (json_each over its members, pivoted), and
 * the steps are MATERIALIZED so that SQLite does not inline them into
 * each other and evaluate the same expressions again and again.
 */
static const char map_records[] =
    "WITH p AS MATERIALIZED (SELECT r.idx AS idx,"
    /* The one the check above read (it refuses a repeated sid). */
    " json_extract(r.rec, '$.sid') AS sid,"
    " " MTEXT("status") " AS status,"
    " " MEMBER("error_code") " AS ec, " MTYPE("error_code") " AS ec_type,"
    " " MTEXT("date_created") " AS date,"
    " " MEMBER("duration") " AS dur, " MTYPE("duration") " AS dur_type,"
    " " MEMBER("grouping_sids") " AS gs,"
    " " MTYPE("grouping_sids") " AS gs_type,"
    " " MTEXT("room_sid") " AS room,"
    " " MTEXT("participant_sid") " AS participant,"
    " " MTEXT("call_sid") " AS call,"
    " " MTEXT("track_name") " AS track,"
    " " MTEXT("codec") " AS codec,"
    " max(CASE WHEN f.key = ?5 AND f.type = 'text' THEN f.value END)"
    "  AS cvalue,"
    " " MTEXT("type") " AS mtype,"
    " " MTEXT("uri") " AS uri,"
    " max(CASE WHEN f.key = ?12 AND f.type = 'text' THEN f.value END)"
    "  AS ext,"
    " max(CASE WHEN f.key = ?13 THEN f.type END) AS enc_type,"
    " " MEMBER("size") " AS size, " MTYPE("size") " AS size_type,"
    " max(CASE WHEN f.key = 'links' AND f.type = 'object'"
    "  THEN f.value END) AS links,"
    " " MEMBER("encryption_details") " AS ed_raw,"
    " " MTYPE("encryption_details") " AS ed_type"
    " FROM temp.raw AS r, json_each(r.rec) AS f GROUP BY r.idx),"
    "a AS MATERIALIZED (SELECT idx, sid,"
    " coalesce(lower(status), '') AS status,"
    " CASE ec_type WHEN 'integer' THEN ec"
    "  WHEN 'text' THEN CAST(ec AS INTEGER) ELSE 0 END AS error_code,"
    " coalesce(tfs_time(date), 0) AS date_created,"
    " CASE dur_type WHEN 'integer' THEN dur"
    "  WHEN 'real' THEN CAST(dur AS INTEGER)"
    "  WHEN 'text' THEN CASE WHEN dur GLOB '[0-9]*'"
    "   THEN CAST(dur AS INTEGER) ELSE -1 END"
    "  ELSE -1 END AS duration,"
    /* Related SIDs name directories and xattrs: only well-formed ones. */
    " tfs_sid_or_empty(coalesce(" GROUPED("room_sid", "RM") ", room),"
    "  'RM') AS room_sid,"
    " tfs_sid_or_empty(coalesce(" GROUPED("participant_sid", "PA") ","
    "  participant), 'PA') AS participant_sid,"
    " tfs_sid_or_empty(call, 'CA') AS call_sid,"
    " coalesce(track, '') AS track_name,"
    " coalesce(lower(codec), '') AS codec,"
    /* The container: fixed, one of the allowed values, or by type. */
    " coalesce(CASE WHEN ?9 IS NOT NULL THEN ?9"
    "  WHEN cvalue NOT GLOB '*,*' AND instr(',' || ?6 || ',',"
    "   ',' || lower(cvalue) || ',') > 0 THEN lower(cvalue)"
    "  WHEN mtype = 'audio' THEN ?7"
    "  WHEN mtype = 'video' THEN ?8 END, '') AS container,"
    /* links.<?10>, or (no link member) the uri with .wav for .json. */
    " CASE WHEN ?10 IS NULL THEN CASE WHEN uri GLOB '/*'"
    "   THEN rtrim(?2, '/') || CASE WHEN uri GLOB '*.json'"
    "    THEN substr(uri, 1, length(uri) - 5) ELSE uri END || '.wav'"
    "   ELSE '' END"
    "  ELSE coalesce(CASE json_type(links, '$.' || ?10) WHEN 'text'"
    "   THEN json_extract(links, '$.' || ?10) END, '') END AS media_url,"
    /* Media elsewhere than Twilio (the customer's bucket), or stored
     * without encryption (a service without an encryption key). */
    " CASE WHEN tfs_external(ext, ?2) THEN 'external'"
    "  WHEN enc_type = 'null' THEN 'unencrypted' ELSE '' END AS hold,"
    " CASE WHEN size_type = 'integer' AND size >= 0 THEN size ELSE -1"
    "  END AS listed_size,"
    " CASE WHEN ?11 THEN ed_type END AS ed_type,"
    /* An object, or that object as a JSON string (callback form). */
    " CASE WHEN NOT ?11 THEN NULL WHEN ed_type = 'object' THEN ed_raw"
    "  WHEN ed_type = 'text' AND json_valid(ed_raw) AND"
    "  json_type(ed_raw) = 'object' THEN ed_raw END AS ed"
    " FROM p),";
static const char map_envelope[] =
    "d AS MATERIALIZED (SELECT a.*, json_extract(ed, '$.type') AS ed_kind,"
    " tfs_unbase64(" DETAIL("encrypted_cek", "encryption_cek") ", ?4)"
    "  AS cek,"
    " tfs_unbase64(" DETAIL("iv", "encryption_iv") ", 16) AS iv,"
    " " DETAIL("public_key_sid", "encryption_public_key_sid") " AS pk"
    " FROM a),"
    "m AS MATERIALIZED (SELECT d.*, coalesce(CASE"
    "  WHEN ed_type IS NULL OR ed_type = 'null' THEN NULL"
    "  WHEN ed IS NULL THEN 'encryption_details is not an object'"
    "  WHEN ed_kind IS NOT NULL AND ed_kind IS NOT 'rsa-aes'"
    "  THEN 'encryption_details type is not rsa-aes'"
    "  WHEN cek IS NULL THEN 'encrypted_cek is missing or not base64'"
    "  WHEN iv IS NULL OR length(iv) NOT IN (12, 16)"
    "  THEN 'iv is missing or not base64 of 12 or 16 bytes' END,"
    " CASE WHEN length(CAST(media_url AS BLOB)) >= ?3"
    "  THEN 'media URL is too long' END) AS problem FROM d),"
    "f AS (SELECT sid,"
    " CASE WHEN problem IS NULL THEN status ELSE 'invalid' END AS status,"
    " error_code, date_created, duration, room_sid, participant_sid,"
    " call_sid, track_name, codec, container,"
    " CASE WHEN length(CAST(media_url AS BLOB)) < ?3 THEN media_url"
    "  ELSE '' END AS media_url,"
    " CASE WHEN problem IS NULL AND cek IS NOT NULL"
    "  THEN CASE length(iv) WHEN 16 THEN 1 ELSE 2 END ELSE 0 END"
    "  AS enc_scheme,"
    " CASE WHEN problem IS NULL THEN cek END AS enc_cek,"
    " CASE WHEN problem IS NULL AND cek IS NOT NULL THEN iv END"
    "  AS enc_iv,"
    " CASE WHEN problem IS NULL AND cek IS NOT NULL AND"
    "  typeof(pk) = 'text' AND length(pk) = 34 AND"
    "  substr(pk, 1, 2) = 'CR' AND"
    "  substr(pk, 3) NOT GLOB '*[^0-9A-Fa-f]*' THEN pk ELSE '' END"
    "  AS public_key_sid,"
    " problem, hold, listed_size,"
    " r.rec AS api_json FROM m JOIN temp.raw AS r USING (idx)) ";
static const char map_store[] =
    "INSERT OR REPLACE INTO temp.page (sid, kind, status, error_code,"
    " date_created, duration, room_sid, participant_sid, call_sid,"
    " track_name, codec, container, media_url, enc_scheme, enc_cek,"
    " enc_iv, public_key_sid, problem, media_hold, listed_size, api_json,"
    " change) "
    "SELECT f.sid, ?1, f.status, f.error_code, f.date_created,"
    " f.duration, f.room_sid, f.participant_sid, f.call_sid,"
    " f.track_name, f.codec, f.container, f.media_url, f.enc_scheme,"
    " f.enc_cek, f.enc_iv, f.public_key_sid, f.problem, f.hold,"
    " f.listed_size, f.api_json,"
    " CASE WHEN i.sid IS NULL THEN 0"
    "  WHEN i.status IS NOT f.status"
    "   OR i.date_created IS NOT f.date_created"
    "   OR i.media_hold IS NOT f.hold"
    /* (-1: not known before, as after the v2 migration) */
    "   OR (i.listed_size <> -1 AND i.listed_size IS NOT f.listed_size)"
    "   OR (?11 AND (i.enc_scheme IS NOT f.enc_scheme"
    "    OR i.enc_cek IS NOT f.enc_cek OR i.enc_iv IS NOT f.enc_iv"
    "    OR i.public_key_sid IS NOT f.public_key_sid)) THEN 1"
    "  ELSE 2 END "
    "FROM f LEFT JOIN main.items AS i ON i.sid = f.sid AND i.part = 0";

/*
 * A changed record's media is unknown again, for every part. Every
 * statement of a page finds the catalog's rows by the page's SIDs (the
 * primary key): a page costs what it holds, not what the catalog does.
 */
static const char reset_sql[] =
    "UPDATE items SET media_known = 0, plaintext_size = -1,"
    " ciphertext_size = -1, etag = '', enc_scheme = 0, enc_cek = NULL,"
    " enc_iv = NULL, public_key_sid = '', key_state = 0"
    " WHERE sid IN (SELECT sid FROM temp.page WHERE change = 1)";
/* Changed upstream: its old failures and backoff no longer apply. */
static const char reset_failures_sql[] =
    "DELETE FROM failures"
    " WHERE sid IN (SELECT sid FROM temp.page WHERE change = 1)";

/*
 * Staged records into items (?1 the generation). The envelope comes from
 * the listing only for voice; other kinds keep what catalog_set_media
 * recorded.
 */
static const char upsert_sql[] =
    "INSERT INTO items (sid, part, kind, status, error_code,"
    " date_created, duration, room_sid, participant_sid, call_sid,"
    " track_name, codec, container, media_url, enc_scheme, enc_cek,"
    " enc_iv, public_key_sid, seen_generation, api_json, problem,"
    " media_hold, listed_size) "
    "SELECT sid, 0, kind, status, error_code, date_created, duration,"
    " room_sid, participant_sid, call_sid, track_name, codec, container,"
    " media_url, enc_scheme, enc_cek, enc_iv, public_key_sid, ?1,"
    " api_json, problem, media_hold, listed_size FROM temp.page"
    " WHERE true "
    "ON CONFLICT (sid, part) DO UPDATE SET kind = excluded.kind,"
    " status = excluded.status, error_code = excluded.error_code,"
    " date_created = excluded.date_created,"
    " duration = excluded.duration, room_sid = excluded.room_sid,"
    " participant_sid = excluded.participant_sid,"
    " call_sid = excluded.call_sid, track_name = excluded.track_name,"
    " codec = excluded.codec, container = excluded.container,"
    " media_url = excluded.media_url,"
    " enc_scheme = CASE WHEN ?2 THEN excluded.enc_scheme"
    "  ELSE items.enc_scheme END,"
    " enc_cek = CASE WHEN ?2 THEN excluded.enc_cek"
    "  ELSE items.enc_cek END,"
    " enc_iv = CASE WHEN ?2 THEN excluded.enc_iv"
    "  ELSE items.enc_iv END,"
    " public_key_sid = CASE WHEN ?2"
    "  THEN excluded.public_key_sid ELSE items.public_key_sid END,"
    " seen_generation = excluded.seen_generation,"
    " api_json = excluded.api_json, problem = excluded.problem,"
    " media_hold = excluded.media_hold,"
    " listed_size = excluded.listed_size";

/*
 * Operator results follow their transcript's metadata (?1 generation).
 * Not UPDATE ... FROM: SQLite 3.40 plans that as a scan of all items.
 */
static const char parts_sql[] =
    "UPDATE items SET (status, error_code, date_created, duration,"
    " room_sid, participant_sid, call_sid, track_name, codec,"
    " seen_generation, api_json, problem, media_hold) ="
    " (SELECT p.status, p.error_code, p.date_created, p.duration,"
    " p.room_sid, p.participant_sid, p.call_sid, p.track_name, p.codec,"
    " ?1, p.api_json, p.problem, p.media_hold"
    " FROM temp.page AS p WHERE p.sid = items.sid)"
    " WHERE sid IN (SELECT sid FROM temp.page) AND part > 0";

/* Empty the staging tables. */
static int
clear_staging(struct catalog *cat, struct tfs_error *err)
{
	int rc;

	rc = run(cat, "DELETE FROM temp.raw", "clear staging", err);
	if (rc == TFS_OK)
		rc = run(cat, "DELETE FROM temp.page", "clear staging", err);
	return rc;
}

/* Step a one-row query; *st stays positioned on the row. */
static int
step_row(struct catalog *cat, sqlite3_stmt *st, const char *what,
    struct tfs_error *err)
{
	int src;

	src = sqlite3_step(st);
	if (src != SQLITE_ROW)
		return db_error(cat, src == SQLITE_DONE ? SQLITE_ERROR : src,
		    what, err);
	return TFS_OK;
}

/*
 * Check that json is a list page of kind, read its next-page link into
 * page, and copy its records into temp.raw (page->items of them). Every
 * record must be an object with a usable SID. The page text is parsed
 * three times in all, whatever its size.
 */
static int
page_shape(struct catalog *cat, enum item_kind kind, const char *json,
    struct catalog_page *page, struct tfs_error *err)
{
	static const char valid_sql[] =
	    "SELECT CASE WHEN json_valid(?1) THEN json_type(?1) END";
	/* The top level in one pass: the list, meta, next_page_uri. */
	static const char top_sql[] =
	    "WITH t AS (SELECT"
	    " max(CASE key WHEN ?2 THEN type END) AS list,"
	    " max(CASE WHEN key = 'meta' AND type = 'object'"
	    "  THEN value END) AS meta,"
	    " max(CASE WHEN key = 'next_page_uri' AND type = 'text'"
	    "  THEN value END) AS next_uri"
	    " FROM json_each(?1))"
	    "SELECT list, CASE json_type(meta, '$.key') WHEN 'text'"
	    "  THEN json_extract(meta, '$.key') END,"
	    " coalesce(CASE json_type(meta, '$.next_page_url') WHEN 'text'"
	    "  THEN json_extract(meta, '$.next_page_url') END, next_uri)"
	    " FROM t";
	static const char raw_sql[] =
	    "INSERT INTO temp.raw (idx, type, rec)"
	    " SELECT key, type, value FROM json_each(?1, ?2)";
	/*
	 * Records we cannot key on or file: reported and skipped, the rest
	 * kept. A repeated "sid" member is refused too: which one a JSON
	 * reader takes is not ours to guess; so is a sid written with
	 * escapes: SQLite's JSON cuts "RT…\u0000?x" short at the NUL, to
	 * the SID it begins with. A date_created that is there
	 * but no date would make a day directory of garbage (or year 0);
	 * one that is absent or null files the record under 1970-01-01,
	 * the epoch, as an unknown date.
	 */
#define WHY_BAD "CASE WHEN type IS NOT 'object' THEN 'is not an object'" \
	    " WHEN (SELECT count(*) FROM json_each(rec) WHERE key = 'sid')" \
	    " > 1 THEN 'has more than one sid'" \
	    " WHEN json_type(rec, '$.sid') IS NOT 'text'" \
	    " THEN 'has no sid string'" \
	    " WHEN NOT tfs_sid_ok(json_extract(rec, '$.sid'), ?1) OR" \
	    " (rec -> '$.sid') IS NOT '\"' || json_extract(rec, '$.sid')" \
	    " || '\"' THEN 'has a sid that is not ' || ?1 ||" \
	    " ' and 32 hex digits'" \
	    " WHEN coalesce(json_type(rec, '$.date_created'), 'null')" \
	    " <> 'null' AND tfs_time(json_extract(rec, '$.date_created'))" \
	    " IS NULL THEN 'has a date_created that is not a date of 1970" \
	    " or later (ISO 8601 or RFC 2822)' END"
	static const char records_sql[] =
	    "DELETE FROM temp.raw WHERE (" WHY_BAD ") IS NOT NULL"
	    " RETURNING idx, " WHY_BAD;
#undef WHY_BAD
	const struct kind_info *ki = kind_info(kind);
	const char *name = ki->name, *key = ki->list_key, *t;
	char path[64];
	sqlite3_stmt *st = NULL;
	int rc, n, src;

	rc = prepare(cat, valid_sql, &st, "read a page", err);
	if (rc != TFS_OK)
		goto out;
	(void)sqlite3_bind_text(st, 1, json, -1, SQLITE_STATIC);
	rc = step_row(cat, st, "read a page", err);
	if (rc != TFS_OK)
		goto out;
	rc = TFS_ERR_ENVELOPE;
	t = (const char *)sqlite3_column_text(st, 0);
	if (t == NULL) {
		tfs_error_set(err, rc, "%s page is not valid JSON; expected "
		    "the JSON body of the API's list", name);
		goto out;
	}
	if (strcmp(t, "object") != 0) {
		tfs_error_set(err, rc, "%s page is a JSON %s, not an object "
		    "with a \"%s\" list", name, t, key);
		goto out;
	}
	release(cat, st);

	rc = prepare(cat, top_sql, &st, "read a page", err);
	if (rc != TFS_OK)
		goto out;
	(void)sqlite3_bind_text(st, 1, json, -1, SQLITE_STATIC);
	(void)sqlite3_bind_text(st, 2, key, -1, SQLITE_STATIC);
	rc = step_row(cat, st, "read a page", err);
	if (rc != TFS_OK)
		goto out;
	rc = TFS_ERR_ENVELOPE;
	t = (const char *)sqlite3_column_text(st, 1);
	if (t != NULL && strcmp(t, key) != 0) {
		tfs_error_set(err, rc, "%s page lists \"%.40s\" (meta.key), "
		    "not \"%s\"", name, t, key);
		goto out;
	}
	t = (const char *)sqlite3_column_text(st, 0);
	if (t == NULL || strcmp(t, "array") != 0) {
		tfs_error_set(err, rc, "%s page has %s \"%s\" list", name,
		    t == NULL ? "no" : "a non-array", key);
		goto out;
	}
	t = (const char *)sqlite3_column_text(st, 2);
	n = sqlite3_column_bytes(st, 2);
	if (t != NULL && (size_t)n >= sizeof(page->next)) {
		tfs_error_set(err, rc, "%s page: the next page's URL is %d "
		    "bytes; at most %zu fit", name, n, sizeof(page->next) - 1);
		goto out;
	}
	if (t != NULL)
		memcpy(page->next, t, (size_t)n + 1);
	release(cat, st);
	st = NULL;

	rc = clear_staging(cat, err);
	if (rc != TFS_OK)
		goto out;
	rc = prepare(cat, raw_sql, &st, "read a page", err);
	if (rc != TFS_OK)
		goto out;
	(void)sqlite3_bind_text(st, 1, json, -1, SQLITE_STATIC);
	(void)snprintf(path, sizeof(path), "$.%s", key);
	(void)sqlite3_bind_text(st, 2, path, -1, SQLITE_TRANSIENT);
	rc = step_done(cat, st, "read a page", err);
	if (rc != TFS_OK)
		goto out;
	page->items = (size_t)sqlite3_changes(cat->db);
	release(cat, st);

	rc = prepare(cat, records_sql, &st, "read a page", err);
	if (rc != TFS_OK)
		goto out;
	(void)sqlite3_bind_text(st, 1, ki->prefix, -1, SQLITE_STATIC);
	while ((src = sqlite3_step(st)) == SQLITE_ROW) {
		if (page->skipped++ == 0)
			(void)snprintf(page->skip_detail,
			    sizeof(page->skip_detail), "%s page: record %lld "
			    "%s; skipped", name,
			    (long long)sqlite3_column_int64(st, 0),
			    (const char *)sqlite3_column_text(st, 1));
	}
	rc = src == SQLITE_DONE ? TFS_OK : db_error(cat, src, "read a page",
	    err);
	page->items -= page->skipped;
out:
	release(cat, st);
	return rc;
}

/* Run one statement binding ?1 to gen and ?2 to arg. */
static int
run_gen(struct catalog *cat, const char *sql, long long gen, long long arg,
    const char *what, struct tfs_error *err)
{
	sqlite3_stmt *st = NULL;
	int rc;

	rc = prepare(cat, sql, &st, what, err);
	if (rc != TFS_OK)
		goto out;
	(void)sqlite3_bind_int64(st, 1, gen);
	if (sqlite3_bind_parameter_count(st) >= 2)
		(void)sqlite3_bind_int64(st, 2, arg);
	rc = step_done(cat, st, what, err);
out:
	release(cat, st);
	return rc;
}

/* Bind map_records' parameters: the kind's row of the table of kinds. */
static void
bind_kind(sqlite3_stmt *st, const struct kind_info *ki, const char *base)
{
	const char *text[] = { ki->container_member, ki->containers,
	    ki->audio_container, ki->video_container, ki->fixed_container,
	    ki->media_link };
	int i;

	(void)sqlite3_bind_int(st, 1, (int)ki->kind);
	(void)sqlite3_bind_text(st, 2, base != NULL ? base : "", -1,
	    SQLITE_STATIC);
	(void)sqlite3_bind_int(st, 3, ITEM_URL_MAX);
	(void)sqlite3_bind_int(st, 4, ENVELOPE_MAX_WRAPPED);
	for (i = 0; i < 6; i++)		/* ?5 .. ?10; NULL stays NULL */
		if (text[i] != NULL)
			(void)sqlite3_bind_text(st, 5 + i, text[i], -1,
			    SQLITE_STATIC);
	(void)sqlite3_bind_int(st, 11, ki->envelope_listed);
	if (ki->external_member != NULL)
		(void)sqlite3_bind_text(st, 12, ki->external_member, -1,
		    SQLITE_STATIC);
	if (ki->encryption_member != NULL)
		(void)sqlite3_bind_text(st, 13, ki->encryption_member, -1,
		    SQLITE_STATIC);
}

/* Map the records of temp.raw into temp.page and count what they are. */
static int
stage(struct catalog *cat, enum item_kind kind, const char *base_url,
    struct catalog_page *page, struct tfs_error *err)
{
	sqlite3_stmt *st = NULL;
	char *sql = cat->stage_sql;
	size_t n1, n2, n3;
	int rc, src;

	/* ISO C caps a string literal at 4095 characters: join three. */
	if (sql == NULL) {
		n1 = strlen(map_records);
		n2 = strlen(map_envelope);
		n3 = strlen(map_store);
		sql = malloc(n1 + n2 + n3 + 1);
		if (sql == NULL)
			return tfs_error_set(err, TFS_ERR_NOMEM, "out of "
			    "memory");
		memcpy(sql, map_records, n1);
		memcpy(sql + n1, map_envelope, n2);
		memcpy(sql + n1 + n2, map_store, n3 + 1);
		cat->stage_sql = sql;
	}
	rc = prepare(cat, sql, &st, "map a page", err);
	if (rc != TFS_OK)
		goto out;
	bind_kind(st, kind_info(kind), base_url);
	rc = step_done(cat, st, "map a page", err);
	if (rc != TFS_OK)
		goto out;
	release(cat, st);

	rc = prepare(cat, "SELECT sum(change = 0), sum(change = 1),"
	    " sum(change = 2), min(date_created) FROM temp.page", &st,
	    "count a page", err);
	if (rc != TFS_OK)
		goto out;
	src = sqlite3_step(st);
	if (src != SQLITE_ROW) {
		rc = db_error(cat, src, "count a page", err);
		goto out;
	}
	page->added = (size_t)sqlite3_column_int64(st, 0);
	page->changed = (size_t)sqlite3_column_int64(st, 1);
	page->known = (size_t)sqlite3_column_int64(st, 2);
	page->oldest = sqlite3_column_type(st, 3) == SQLITE_NULL ? -1 :
	    sqlite3_column_int64(st, 3);
	rc = TFS_OK;
out:
	release(cat, st);
	return rc;
}

int
catalog_ingest_page(struct catalog *cat, enum item_kind kind,
    const char *json, const char *base_url, long long generation,
    struct catalog_page *page, struct tfs_error *err)
{
	int rc, own;

	memset(page, 0, sizeof(*page));
	if (kind_info(kind) == NULL || json == NULL)
		return tfs_error_set(err, TFS_ERR_USAGE, "catalog_ingest_page: "
		    "bad kind %d or no page", (int)kind);
	if (kind_info(kind)->media_link == NULL && (base_url == NULL ||
	    base_url[0] == '\0'))
		return tfs_error_set(err, TFS_ERR_USAGE, "catalog_ingest_page: "
		    "%s need the API's base URL", kind_info(kind)->name);
	if (strlen(json) > PAGE_MAX)
		return tfs_error_set(err, TFS_ERR_ENVELOPE, "%s page is larger "
		    "than %d MiB; ask for smaller pages (PageSize)",
		    kind_info(kind)->name, PAGE_MAX / (1024 * 1024));
	rc = tx_start(cat, &own, err);
	if (rc != TFS_OK)
		return rc;
	rc = page_shape(cat, kind, json, page, err);
	if (rc == TFS_OK)
		rc = stage(cat, kind, base_url, page, err);
	if (rc == TFS_OK)
		rc = run(cat, reset_sql, "reset changed items", err);
	if (rc == TFS_OK)
		rc = run(cat, reset_failures_sql, "reset changed items", err);
	if (rc == TFS_OK)
		rc = run_gen(cat, upsert_sql, generation,
		    kind_info(kind)->envelope_listed, "store a page", err);
	if (rc == TFS_OK)
		rc = run_gen(cat, parts_sql, generation, 0, "update parts",
		    err);
	if (rc == TFS_OK)
		rc = clear_staging(cat, err);
	rc = tx_finish(cat, own, rc, err);
	if (rc != TFS_OK)
		memset(page, 0, sizeof(*page));
	return rc;
}

/* --- generations and the sweep --- */

int
catalog_next_generation(struct catalog *cat, long long *gen,
    struct tfs_error *err)
{
	sqlite3_stmt *st = NULL;
	int rc, src;

	/* One statement: atomic between processes too. */
	rc = prepare(cat, "INSERT INTO meta (key, value) VALUES (?1, '1')"
	    " ON CONFLICT (key) DO UPDATE SET"
	    " value = CAST(CAST(value AS INTEGER) + 1 AS TEXT)"
	    " RETURNING CAST(value AS INTEGER)", &st, "count a generation",
	    err);
	if (rc != TFS_OK)
		goto out;
	(void)sqlite3_bind_text(st, 1, GEN_KEY, -1, SQLITE_STATIC);
	src = sqlite3_step(st);
	if (src != SQLITE_ROW) {
		rc = db_error(cat, src, "count a generation", err);
		goto out;
	}
	*gen = sqlite3_column_int64(st, 0);
	rc = step_done(cat, st, "count a generation", err);
out:
	release(cat, st);
	return rc;
}

int
catalog_sweep(struct catalog *cat, enum item_kind kind,
    long long generation, size_t *removed, struct tfs_error *err)
{
	sqlite3_stmt *st = NULL;
	int rc;

	*removed = 0;
	/* Every part of an item goes with its main row (part 0). */
	rc = prepare(cat, "DELETE FROM items WHERE kind = ?1 AND sid NOT IN"
	    " (SELECT sid FROM items WHERE kind = ?1 AND part = 0"
	    " AND seen_generation >= ?2)", &st, "sweep", err);
	if (rc != TFS_OK)
		goto out;
	(void)sqlite3_bind_int(st, 1, (int)kind);
	(void)sqlite3_bind_int64(st, 2, generation);
	rc = step_done(cat, st, "sweep", err);
	if (rc == TFS_OK)
		*removed = (size_t)sqlite3_changes(cat->db);
	/* Their failures go with them. */
	if (rc == TFS_OK)
		rc = run(cat, "DELETE FROM failures WHERE NOT EXISTS (SELECT 1"
		    " FROM items AS i WHERE i.sid = failures.sid AND"
		    " i.part = failures.part)", "sweep failures", err);
out:
	release(cat, st);
	return rc;
}

int
catalog_oldest_unfinished(struct catalog *cat, enum item_kind kind,
    long long since, long long *date, struct tfs_error *err)
{
	sqlite3_stmt *st = NULL;
	int rc, src;

	*date = -1;
	/* items_order: only the items created since are looked at. */
	rc = prepare(cat, "SELECT date_created FROM items WHERE kind = ?1"
	    " AND date_created >= ?2 AND part = 0 AND tfs_state(status) = ?3"
	    " ORDER BY date_created LIMIT 1", &st, "find unfinished items",
	    err);
	if (rc != TFS_OK)
		goto out;
	(void)sqlite3_bind_int(st, 1, (int)kind);
	(void)sqlite3_bind_int64(st, 2, since);
	(void)sqlite3_bind_int(st, 3, STATE_PROCESSING);
	src = sqlite3_step(st);
	if (src == SQLITE_ROW)
		*date = sqlite3_column_int64(st, 0);
	rc = src == SQLITE_ROW || src == SQLITE_DONE ? TFS_OK :
	    db_error(cat, src, "find unfinished items", err);
out:
	release(cat, st);
	return rc;
}

/* --- reading items --- */

#define ITEM_COLUMNS "sid, part, kind, status, error_code, date_created," \
	" duration, room_sid, participant_sid, call_sid, track_name, codec," \
	" container, media_url, enc_scheme, enc_cek, enc_iv, public_key_sid," \
	" plaintext_size, ciphertext_size, media_known, etag, media_hold," \
	" key_state, (SELECT class FROM failures AS f WHERE f.sid =" \
	" items.sid AND f.part = items.part)"

/*
 * Text column col into dst (capacity cap). A value that does not fit is
 * cut at a UTF-8 character boundary if cut is set (descriptions), else
 * left empty (identifiers, URLs: a wrong one is worse than none).
 */
static void
column_text(sqlite3_stmt *st, int col, char *dst, size_t cap, int cut)
{
	const unsigned char *t = sqlite3_column_text(st, col);
	size_t n = (size_t)sqlite3_column_bytes(st, col);

	dst[0] = '\0';
	if (t == NULL)
		return;
	if (n >= cap) {
		if (!cut)
			return;
		n = cap - 1;
		while (n > 0 && (t[n] & 0xc0) == 0x80)
			n--;
	}
	memcpy(dst, t, n);
	dst[n] = '\0';
}

/* The current row of a SELECT ITEM_COLUMNS into it. */
static int
row_item(struct catalog *cat, sqlite3_stmt *st, struct item *it,
    struct tfs_error *err)
{
	struct envelope *env = &it->env;
	const void *b;
	size_t n;
	int scheme;

	memset(it, 0, sizeof(*it));
	envelope_init(env);
	column_text(st, 0, it->sid, sizeof(it->sid), 0);
	it->part = sqlite3_column_int(st, 1);
	it->kind = (enum item_kind)sqlite3_column_int(st, 2);
	column_text(st, 3, it->status, sizeof(it->status), 0);
	it->error_code = sqlite3_column_int(st, 4);
	it->date_created = sqlite3_column_int64(st, 5);
	it->duration = sqlite3_column_int64(st, 6);
	column_text(st, 7, it->room_sid, sizeof(it->room_sid), 0);
	column_text(st, 8, it->participant_sid, sizeof(it->participant_sid),
	    0);
	column_text(st, 9, it->call_sid, sizeof(it->call_sid), 0);
	column_text(st, 10, it->track_name, sizeof(it->track_name), 1);
	column_text(st, 11, it->codec, sizeof(it->codec), 0);
	column_text(st, 12, it->container, sizeof(it->container), 0);
	column_text(st, 13, it->media_url, sizeof(it->media_url), 0);
	scheme = sqlite3_column_int(st, 14);
	if (scheme != ENVELOPE_NONE) {
		b = sqlite3_column_blob(st, 15);
		n = (size_t)sqlite3_column_bytes(st, 15);
		if (b == NULL || n == 0 || n > sizeof(env->wrapped_cek))
			goto bad;
		memcpy(env->wrapped_cek, b, n);
		env->wrapped_cek_len = n;
		b = sqlite3_column_blob(st, 16);
		n = (size_t)sqlite3_column_bytes(st, 16);
		if (b == NULL || (scheme == ENVELOPE_CBC && n != 16) ||
		    (scheme == ENVELOPE_GCM && n != 12) ||
		    (scheme != ENVELOPE_CBC && scheme != ENVELOPE_GCM))
			goto bad;
		memcpy(env->iv, b, n);
		env->iv_len = n;
		env->scheme = (enum envelope_scheme)scheme;
		column_text(st, 17, env->public_key_sid,
		    sizeof(env->public_key_sid), 0);
	}
	env->plaintext_size = sqlite3_column_int64(st, 18);
	env->ciphertext_size = sqlite3_column_int64(st, 19);
	it->media_known = sqlite3_column_int(st, 20) != 0;
	column_text(st, 21, it->etag, sizeof(it->etag), 0);
	column_text(st, 22, it->hold, sizeof(it->hold), 0);
	it->key_state = sqlite3_column_int(st, 23);
	column_text(st, 24, it->fail_class, sizeof(it->fail_class), 0);
	return TFS_OK;
bad:
	return tfs_error_set(err, TFS_ERR_IO, "catalog %s: the envelope of "
	    "%s part %d is damaged; remove the file (it is a cache)",
	    cat->path, it->sid, it->part);
}

int
catalog_get(struct catalog *cat, const char *sid, int part,
    struct item *out, struct tfs_error *err)
{
	sqlite3_stmt *st = NULL;
	int rc, src;

	rc = prepare(cat, "SELECT " ITEM_COLUMNS " FROM items"
	    " WHERE sid = ?1 AND part = ?2", &st, "read an item", err);
	if (rc != TFS_OK)
		goto out;
	(void)sqlite3_bind_text(st, 1, sid, -1, SQLITE_STATIC);
	(void)sqlite3_bind_int(st, 2, part);
	src = sqlite3_step(st);
	if (src == SQLITE_DONE) {
		rc = tfs_error_set(err, TFS_ERR_RANGE, "no item %.40s part %d "
		    "in the catalog", sid, part);
		goto out;
	}
	if (src != SQLITE_ROW) {
		rc = db_error(cat, src, "read an item", err);
		goto out;
	}
	rc = row_item(cat, st, out, err);
out:
	release(cat, st);
	return rc;
}

/*
 * Call fn for the items of sql in batches of BATCH: sql selects
 * ITEM_COLUMNS after the key (?1 kind, ?2 date, ?3 sid, ?4 part) in that
 * order, LIMIT ?5. No statement stays open while fn runs, so fn may write
 * to the catalog, and a slow fn (a download) holds no read snapshot.
 */
static int
iterate(struct catalog *cat, const char *sql, long long p6,
    int (*fn)(const struct item *it, void *arg), void *arg,
    struct tfs_error *err)
{
	struct item *batch = NULL;
	sqlite3_stmt *st = NULL;
	long long k_kind = LLONG_MIN, k_date = LLONG_MIN;
	char k_sid[ITEM_SID_LEN + 1] = "";
	int k_part = INT_MIN, rc, src;
	size_t n, i;

	batch = calloc(BATCH, sizeof(*batch));
	if (batch == NULL)
		return tfs_error_set(err, TFS_ERR_NOMEM, "out of memory");
	rc = prepare(cat, sql, &st, "list items", err);
	if (rc != TFS_OK)
		goto out;
	for (;;) {
		(void)sqlite3_bind_int64(st, 1, k_kind);
		(void)sqlite3_bind_int64(st, 2, k_date);
		(void)sqlite3_bind_text(st, 3, k_sid, -1, SQLITE_TRANSIENT);
		(void)sqlite3_bind_int(st, 4, k_part);
		(void)sqlite3_bind_int(st, 5, BATCH);
		if (sqlite3_bind_parameter_count(st) >= 6)
			(void)sqlite3_bind_int64(st, 6, p6);
		for (n = 0; n < BATCH; n++) {
			src = sqlite3_step(st);
			if (src == SQLITE_DONE)
				break;
			if (src != SQLITE_ROW) {
				rc = db_error(cat, src, "list items", err);
				goto out;
			}
			rc = row_item(cat, st, &batch[n], err);
			if (rc != TFS_OK)
				goto out;
		}
		sqlite3_reset(st);
		for (i = 0; i < n; i++) {
			rc = fn(&batch[i], arg);
			if (rc != 0)
				goto out;
		}
		if (n < BATCH)
			break;
		k_kind = batch[n - 1].kind;
		k_date = batch[n - 1].date_created;
		memcpy(k_sid, batch[n - 1].sid, sizeof(k_sid));
		k_part = batch[n - 1].part;
	}
	rc = TFS_OK;
out:
	release(cat, st);
	free(batch);
	return rc;
}

int
catalog_foreach_pending(struct catalog *cat, long long retry_clock,
    int (*fn)(const struct item *it, void *arg), void *arg,
    struct tfs_error *err)
{
	/* No ?1: pending items are ordered across kinds. */
	return iterate(cat, "SELECT " ITEM_COLUMNS " FROM items"
	    " WHERE status = 'completed' AND media_known = 0"
	    " AND media_hold = ''"
	    " AND (date_created, sid, part) > (?2, ?3, ?4)"
	    " AND NOT EXISTS (SELECT 1 FROM failures AS f WHERE f.sid ="
	    "  items.sid AND f.part = items.part AND f.retry_after > ?6)"
	    " ORDER BY date_created, sid, part LIMIT ?5", retry_clock, fn,
	    arg, err);
}

int
catalog_foreach_keycheck(struct catalog *cat, int recheck,
    int (*fn)(const struct item *it, void *arg), void *arg,
    struct tfs_error *err)
{
	/* ?6: the key_state values to look at again (0, or 0 and 2);
	 * the terms of items_keycheck as it spells them, for its use. */
	return iterate(cat, "SELECT " ITEM_COLUMNS " FROM items"
	    " WHERE status = 'completed' AND media_known = 1"
	    " AND enc_scheme <> 0 AND key_state <> 1"
	    " AND key_state IN (0, ?6)"
	    " AND (date_created, sid, part) > (?2, ?3, ?4)"
	    " ORDER BY date_created, sid, part LIMIT ?5", recheck ? 2 : 0,
	    fn, arg, err);
}

int
catalog_foreach(struct catalog *cat,
    int (*fn)(const struct item *it, void *arg), void *arg,
    struct tfs_error *err)
{
	return iterate(cat, "SELECT " ITEM_COLUMNS " FROM items"
	    " WHERE (kind, date_created, sid, part) > (?1, ?2, ?3, ?4)"
	    " ORDER BY kind, date_created, sid, part LIMIT ?5", 0, fn, arg,
	    err);
}

/* --- media --- */

static int sid_part_exec(struct catalog *cat, const char *sql,
    const char *sid, int part, const char *what, struct tfs_error *err);

/* Whether env is something we can store and give back as it is. */
static int
envelope_ok(const struct envelope *env)
{
	if (memchr(env->public_key_sid, '\0', sizeof(env->public_key_sid)) ==
	    NULL)
		return 0;
	switch (env->scheme) {
	case ENVELOPE_NONE:
		return 1;
	case ENVELOPE_CBC:
		return env->iv_len == 16 && env->wrapped_cek_len > 0 &&
		    env->wrapped_cek_len <= sizeof(env->wrapped_cek);
	case ENVELOPE_GCM:
		return env->iv_len == 12 && env->wrapped_cek_len > 0 &&
		    env->wrapped_cek_len <= sizeof(env->wrapped_cek);
	}
	return 0;
}

/* The kind of (sid, 0), or TFS_ERR_RANGE. */
static int
main_kind(struct catalog *cat, const char *sid, int *kind,
    struct tfs_error *err)
{
	sqlite3_stmt *st = NULL;
	int rc, src;

	rc = prepare(cat, "SELECT kind FROM items WHERE sid = ?1 AND part = 0",
	    &st, "read an item", err);
	if (rc != TFS_OK)
		goto out;
	(void)sqlite3_bind_text(st, 1, sid, -1, SQLITE_STATIC);
	src = sqlite3_step(st);
	if (src == SQLITE_DONE) {
		rc = tfs_error_set(err, TFS_ERR_RANGE, "no item %.40s in the "
		    "catalog", sid);
		goto out;
	}
	if (src != SQLITE_ROW) {
		rc = db_error(cat, src, "read an item", err);
		goto out;
	}
	*kind = sqlite3_column_int(st, 0);
	rc = TFS_OK;
out:
	release(cat, st);
	return rc;
}

int
catalog_set_media(struct catalog *cat, const char *sid, int part,
    const char *media_url, const struct envelope *env, const char *etag,
    struct tfs_error *err)
{
	/*
	 * Part 0 exists, so the INSERT always hits the conflict. A part >= 1
	 * is made from part 0's row the first time.
	 */
	static const char sql[] =
	    "INSERT INTO items (sid, part, kind, status, error_code,"
	    " date_created, duration, room_sid, participant_sid, call_sid,"
	    " track_name, codec, container, media_url, enc_scheme, enc_cek,"
	    " enc_iv, public_key_sid, plaintext_size, ciphertext_size,"
	    " media_known, etag, seen_generation, api_json, problem) "
	    "SELECT sid, ?2, kind, status, error_code, date_created,"
	    " duration, room_sid, participant_sid, call_sid, track_name,"
	    " codec, container, coalesce(?3, media_url), ?4, ?5, ?6, ?7, ?8,"
	    " ?9, 1, ?10, seen_generation, api_json, problem"
	    " FROM items WHERE sid = ?1 AND part = 0 "
	    "ON CONFLICT (sid, part) DO UPDATE SET"
	    " media_url = coalesce(?3, items.media_url),"
	    " enc_scheme = ?4, enc_cek = ?5, enc_iv = ?6,"
	    " public_key_sid = ?7, plaintext_size = ?8,"
	    " ciphertext_size = ?9, media_known = 1, etag = ?10,"
	    " key_state = 0";
	sqlite3_stmt *st = NULL;
	int rc, own = 0, kind = 0, tx = 0;

	if (sid == NULL || env == NULL || part < 0)
		return tfs_error_set(err, TFS_ERR_USAGE, "catalog_set_media: "
		    "no SID or envelope");
	if (!envelope_ok(env))
		return tfs_error_set(err, TFS_ERR_USAGE, "catalog_set_media: "
		    "the envelope of %.40s is inconsistent (scheme %d, IV %zu "
		    "bytes)", sid, (int)env->scheme, env->iv_len);
	if (media_url != NULL && strlen(media_url) >= ITEM_URL_MAX)
		return tfs_error_set(err, TFS_ERR_RANGE, "media URL of %.40s "
		    "is %zu bytes; at most %d fit", sid, strlen(media_url),
		    ITEM_URL_MAX - 1);
	if (part > 0 && media_url == NULL)
		return tfs_error_set(err, TFS_ERR_USAGE, "catalog_set_media: "
		    "operator result %d of %.40s needs its URL", part, sid);
	rc = tx_start(cat, &own, err);
	if (rc != TFS_OK)
		return rc;
	tx = 1;
	rc = main_kind(cat, sid, &kind, err);
	if (rc != TFS_OK)
		goto out;
	if (part > 0 && kind_info(kind)->part_media_path == NULL) {
		rc = tfs_error_set(err, TFS_ERR_USAGE, "catalog_set_media: "
		    "%.40s is not a transcript; only transcripts have parts",
		    sid);
		goto out;
	}
	rc = prepare(cat, sql, &st, "record media", err);
	if (rc != TFS_OK)
		goto out;
	(void)sqlite3_bind_text(st, 1, sid, -1, SQLITE_STATIC);
	(void)sqlite3_bind_int(st, 2, part);
	if (media_url != NULL)
		(void)sqlite3_bind_text(st, 3, media_url, -1, SQLITE_STATIC);
	(void)sqlite3_bind_int(st, 4, (int)env->scheme);
	if (env->scheme != ENVELOPE_NONE) {
		(void)sqlite3_bind_blob(st, 5, env->wrapped_cek,
		    (int)env->wrapped_cek_len, SQLITE_STATIC);
		(void)sqlite3_bind_blob(st, 6, env->iv, (int)env->iv_len,
		    SQLITE_STATIC);
	}
	(void)sqlite3_bind_text(st, 7, env->scheme != ENVELOPE_NONE ?
	    env->public_key_sid : "", -1, SQLITE_STATIC);
	(void)sqlite3_bind_int64(st, 8, env->plaintext_size);
	(void)sqlite3_bind_int64(st, 9, env->ciphertext_size);
	(void)sqlite3_bind_text(st, 10, etag != NULL ? etag : "", -1,
	    SQLITE_STATIC);
	rc = step_done(cat, st, "record media", err);
	if (rc == TFS_OK)
		rc = sid_part_exec(cat, "DELETE FROM failures WHERE sid = ?1"
		    " AND part = ?2", sid, part, "clear a failure", err);
out:
	release(cat, st);
	if (tx)
		rc = tx_finish(cat, own, rc, err);
	return rc;
}

/* Run sql binding ?1 sid and ?2 part (and ?3 n, when it has one). */
static int
sid_part_exec3(struct catalog *cat, const char *sql, const char *sid,
    int part, long long n, const char *what, struct tfs_error *err)
{
	sqlite3_stmt *st = NULL;
	int rc;

	rc = prepare(cat, sql, &st, what, err);
	if (rc != TFS_OK)
		return rc;
	(void)sqlite3_bind_text(st, 1, sid, -1, SQLITE_STATIC);
	(void)sqlite3_bind_int(st, 2, part);
	if (sqlite3_bind_parameter_count(st) >= 3)
		(void)sqlite3_bind_int64(st, 3, n);
	rc = step_done(cat, st, what, err);
	release(cat, st);
	return rc;
}

static int
sid_part_exec(struct catalog *cat, const char *sql, const char *sid,
    int part, const char *what, struct tfs_error *err)
{
	return sid_part_exec3(cat, sql, sid, part, 0, what, err);
}

/* Retry a failed item no sooner than this: 1 min, doubling, at most 6 h
 * (a nightly sync always retries; a 5-minute refresh does not hammer). */
#define BACKOFF_FIRST 60
#define BACKOFF_CAP (6 * 3600)

int
catalog_fail(struct catalog *cat, const char *sid, int part,
    const char *class, const char *detail, long long now,
    struct tfs_error *err)
{
	static const char sql[] =
	    "INSERT INTO failures (sid, part, class, detail, first_time,"
	    " last_time, retry_after) VALUES (?1, ?2, ?3, ?4, ?5, ?5, ?5 + ?6)"
	    " ON CONFLICT (sid, part) DO UPDATE SET class = excluded.class,"
	    " detail = excluded.detail, count = failures.count + 1,"
	    " last_time = excluded.last_time,"
	    " retry_after = ?5 + min(?7, ?6 << min(failures.count, 20))";
	sqlite3_stmt *st = NULL;
	int rc;

	rc = prepare(cat, sql, &st, "record a failure", err);
	if (rc != TFS_OK)
		return rc;
	(void)sqlite3_bind_text(st, 1, sid, -1, SQLITE_STATIC);
	(void)sqlite3_bind_int(st, 2, part);
	(void)sqlite3_bind_text(st, 3, class, -1, SQLITE_STATIC);
	(void)sqlite3_bind_text(st, 4, detail, -1, SQLITE_STATIC);
	(void)sqlite3_bind_int64(st, 5, now);
	(void)sqlite3_bind_int(st, 6, BACKOFF_FIRST);
	(void)sqlite3_bind_int(st, 7, BACKOFF_CAP);
	rc = step_done(cat, st, "record a failure", err);
	release(cat, st);
	return rc;
}

int
catalog_add_part(struct catalog *cat, const char *sid, int part,
    const char *media_url, struct tfs_error *err)
{
	static const char sql[] =
	    "INSERT INTO items (sid, part, kind, status, error_code,"
	    " date_created, duration, room_sid, participant_sid, call_sid,"
	    " track_name, codec, container, media_url, seen_generation,"
	    " api_json, problem, media_hold) "
	    "SELECT sid, ?2, kind, status, error_code, date_created,"
	    " duration, room_sid, participant_sid, call_sid, track_name,"
	    " codec, container, ?3, seen_generation, api_json, problem,"
	    " media_hold FROM items WHERE sid = ?1 AND part = 0"
	    " ON CONFLICT (sid, part) DO NOTHING";
	sqlite3_stmt *st = NULL;
	int rc;

	if (part < 1 || media_url == NULL || strlen(media_url) >=
	    ITEM_URL_MAX)
		return tfs_error_set(err, TFS_ERR_USAGE, "catalog_add_part: "
		    "part %d of %.40s needs a URL that fits", part, sid);
	rc = prepare(cat, sql, &st, "add a part", err);
	if (rc != TFS_OK)
		return rc;
	(void)sqlite3_bind_text(st, 1, sid, -1, SQLITE_STATIC);
	(void)sqlite3_bind_int(st, 2, part);
	(void)sqlite3_bind_text(st, 3, media_url, -1, SQLITE_STATIC);
	rc = step_done(cat, st, "add a part", err);
	release(cat, st);
	return rc;
}

int
catalog_mark_stale(struct catalog *cat, const char *sid, int part,
    struct tfs_error *err)
{
	return sid_part_exec(cat, "UPDATE items SET media_known = 0"
	    " WHERE sid = ?1 AND part = ?2", sid, part, "mark an item stale",
	    err);
}

int
catalog_set_key_state(struct catalog *cat, const char *sid, int part,
    int state, struct tfs_error *err)
{
	return sid_part_exec3(cat, "UPDATE items SET key_state = ?3"
	    " WHERE sid = ?1 AND part = ?2", sid, part, state,
	    "record the key check", err);
}

int
catalog_foreach_failure(struct catalog *cat,
    int (*fn)(const struct catalog_failure *f, void *arg), void *arg,
    struct tfs_error *err)
{
	struct catalog_failure f;
	sqlite3_stmt *st = NULL;
	int rc, src;

	rc = prepare(cat, "SELECT f.sid, f.part, i.kind, f.class, f.detail,"
	    " f.count, f.last_time, f.retry_after FROM failures AS f"
	    " JOIN items AS i ON i.sid = f.sid AND i.part = 0"
	    " ORDER BY f.class, f.sid, f.part", &st, "list failures", err);
	if (rc != TFS_OK)
		return rc;
	while ((src = sqlite3_step(st)) == SQLITE_ROW) {
		memset(&f, 0, sizeof(f));
		column_text(st, 0, f.sid, sizeof(f.sid), 0);
		f.part = sqlite3_column_int(st, 1);
		f.kind = (enum item_kind)sqlite3_column_int(st, 2);
		column_text(st, 3, f.class, sizeof(f.class), 1);
		column_text(st, 4, f.detail, sizeof(f.detail), 1);
		f.count = sqlite3_column_int64(st, 5);
		f.last_time = sqlite3_column_int64(st, 6);
		f.retry_after = sqlite3_column_int64(st, 7);
		if (fn(&f, arg) != 0)
			break;
	}
	rc = src == SQLITE_ROW || src == SQLITE_DONE ? TFS_OK :
	    db_error(cat, src, "list failures", err);
	release(cat, st);
	return rc;
}

int
catalog_product_set(struct catalog *cat, enum kind_product product,
    const struct catalog_product *p, struct tfs_error *err)
{
	sqlite3_stmt *st = NULL;
	int rc;

	rc = prepare(cat, "INSERT OR REPLACE INTO products (product, last_ok,"
	    " last_try, class, detail, skipped) VALUES (?1, ?2, ?3, ?4, ?5,"
	    " ?6)", &st, "record a product's sync", err);
	if (rc != TFS_OK)
		return rc;
	(void)sqlite3_bind_int(st, 1, (int)product);
	(void)sqlite3_bind_int64(st, 2, p->last_ok);
	(void)sqlite3_bind_int64(st, 3, p->last_try);
	(void)sqlite3_bind_text(st, 4, p->class, -1, SQLITE_STATIC);
	(void)sqlite3_bind_text(st, 5, p->detail, -1, SQLITE_STATIC);
	(void)sqlite3_bind_int64(st, 6, p->skipped);
	rc = step_done(cat, st, "record a product's sync", err);
	release(cat, st);
	return rc;
}

int
catalog_product_get(struct catalog *cat, enum kind_product product,
    struct catalog_product *p, struct tfs_error *err)
{
	sqlite3_stmt *st = NULL;
	int rc, src;

	memset(p, 0, sizeof(*p));
	rc = prepare(cat, "SELECT last_ok, last_try, class, detail, skipped"
	    " FROM products WHERE product = ?1", &st, "read a product's sync",
	    err);
	if (rc != TFS_OK)
		return rc;
	(void)sqlite3_bind_int(st, 1, (int)product);
	src = sqlite3_step(st);
	if (src == SQLITE_ROW) {
		p->last_ok = sqlite3_column_int64(st, 0);
		p->last_try = sqlite3_column_int64(st, 1);
		column_text(st, 2, p->class, sizeof(p->class), 1);
		column_text(st, 3, p->detail, sizeof(p->detail), 1);
		p->skipped = sqlite3_column_int64(st, 4);
	}
	rc = src == SQLITE_ROW || src == SQLITE_DONE ? TFS_OK :
	    db_error(cat, src, "read a product's sync", err);
	release(cat, st);
	return rc;
}

/* --- counts --- */


int
catalog_count(struct catalog *cat, enum item_kind kind,
    struct catalog_counts *out, struct tfs_error *err)
{
	sqlite3_stmt *st = NULL;
	int rc, src;

	memset(out, 0, sizeof(*out));
	/* ?2.. the enum kind_state values (tfs_state). */
	rc = prepare(cat, "SELECT sum(tfs_state(status) = ?2),"
	    " sum(tfs_state(status) = ?2 AND media_known = 0"
	    "  AND media_hold = ''),"
	    " sum(tfs_state(status) = ?3), sum(tfs_state(status) = ?4),"
	    " sum(tfs_state(status) = ?2 AND media_hold = 'external'),"
	    " sum(tfs_state(status) = ?2 AND media_hold = 'unencrypted'),"
	    " sum(tfs_state(status) = ?2 AND media_known = 1"
	    "  AND key_state = 2),"
	    " sum(tfs_state(status) = ?2 AND media_known = 0 AND EXISTS"
	    "  (SELECT 1 FROM failures AS f WHERE f.sid = items.sid"
	    "  AND f.part = items.part))"
	    " FROM items WHERE kind = ?1", &st, "count items", err);
	if (rc != TFS_OK)
		goto out;
	(void)sqlite3_bind_int(st, 1, (int)kind);
	(void)sqlite3_bind_int(st, 2, STATE_DONE);
	(void)sqlite3_bind_int(st, 3, STATE_PROCESSING);
	(void)sqlite3_bind_int(st, 4, STATE_FAILED);
	src = sqlite3_step(st);
	if (src != SQLITE_ROW) {
		rc = db_error(cat, src, "count items", err);
		goto out;
	}
	out->completed = (size_t)sqlite3_column_int64(st, 0);
	out->pending = (size_t)sqlite3_column_int64(st, 1);
	out->processing = (size_t)sqlite3_column_int64(st, 2);
	out->failed = (size_t)sqlite3_column_int64(st, 3);
	out->external = (size_t)sqlite3_column_int64(st, 4);
	out->unencrypted = (size_t)sqlite3_column_int64(st, 5);
	out->nokey = (size_t)sqlite3_column_int64(st, 6);
	out->failing = (size_t)sqlite3_column_int64(st, 7);
	rc = TFS_OK;
out:
	release(cat, st);
	return rc;
}

/* --- meta --- */

int
catalog_meta_set(struct catalog *cat, const char *key, const char *value,
    struct tfs_error *err)
{
	sqlite3_stmt *st = NULL;
	int rc;

	if (key == NULL || value == NULL)
		return tfs_error_set(err, TFS_ERR_USAGE, "catalog_meta_set: "
		    "no key or value");
	rc = prepare(cat, "INSERT INTO meta (key, value) VALUES (?1, ?2)"
	    " ON CONFLICT (key) DO UPDATE SET value = excluded.value", &st,
	    "store state", err);
	if (rc != TFS_OK)
		goto out;
	(void)sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	(void)sqlite3_bind_text(st, 2, value, -1, SQLITE_STATIC);
	rc = step_done(cat, st, "store state", err);
out:
	release(cat, st);
	return rc;
}

int
catalog_meta_get(struct catalog *cat, const char *key, char *value,
    size_t cap, struct tfs_error *err)
{
	sqlite3_stmt *st = NULL;
	const unsigned char *t;
	int rc, src;
	size_t n;

	if (cap > 0)
		value[0] = '\0';
	rc = prepare(cat, "SELECT value FROM meta WHERE key = ?1", &st,
	    "read state", err);
	if (rc != TFS_OK)
		goto out;
	(void)sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	src = sqlite3_step(st);
	if (src == SQLITE_DONE) {
		rc = tfs_error_set(err, TFS_ERR_RANGE, "catalog: no value for "
		    "'%.64s'", key);
		goto out;
	}
	if (src != SQLITE_ROW) {
		rc = db_error(cat, src, "read state", err);
		goto out;
	}
	t = sqlite3_column_text(st, 0);
	n = (size_t)sqlite3_column_bytes(st, 0);
	if (t == NULL || n >= cap) {
		rc = tfs_error_set(err, TFS_ERR_USAGE, "catalog: the value of "
		    "'%.64s' is %zu bytes, more than the %zu given", key, n,
		    cap);
		goto out;
	}
	memcpy(value, t, n + 1);
	rc = TFS_OK;
out:
	release(cat, st);
	return rc;
}

/* --- transactions --- */

int
catalog_begin(struct catalog *cat, struct tfs_error *err)
{
	if (!sqlite3_get_autocommit(cat->db))
		return tfs_error_set(err, TFS_ERR_USAGE, "catalog_begin: a "
		    "transaction is already open");
	return run(cat, "BEGIN IMMEDIATE", "start a transaction", err);
}

int
catalog_commit(struct catalog *cat, struct tfs_error *err)
{
	int rc;

	rc = run(cat, "COMMIT", "commit", err);
	if (rc != TFS_OK)
		catalog_rollback(cat);
	return rc;
}

void
catalog_rollback(struct catalog *cat)
{
	if (!sqlite3_get_autocommit(cat->db))
		(void)sqlite3_exec(cat->db, "ROLLBACK", NULL, NULL, NULL);
}
