/* SPDX-License-Identifier: MIT */
/*
 * catalog.h - the SQLite catalog of the account: every item's metadata,
 * envelope, exact sizes and sync state, in cache_dir/catalog.sqlite (WAL).
 *
 * API list pages are parsed by SQLite's JSON functions straight into the
 * items table (catalog_ingest_page): every string from the API reaches SQL
 * only as a bound parameter. The schema carries a version (PRAGMA
 * user_version) and is migrated forward on open. No HTTP, no FUSE.
 *
 * A struct catalog is one connection: not shared between threads without
 * the caller's lock (later, fs opens one per thread). Its statements are
 * prepared once per catalog and kept until catalog_close.
 */
#ifndef TWILIOFS_CATALOG_H
#define TWILIOFS_CATALOG_H

#include <stddef.h>

#include "twiliofs/error.h"
#include "twiliofs/item.h"
#include "twiliofs/kind.h"

struct catalog;

/*
 * Open (creating if needed, mode 0700 for dir and 0600 for the files)
 * dir/catalog.sqlite, enable WAL, migrate the schema. A dir that exists
 * with group/other permissions is refused (TFS_ERR_CONFIG): the catalog
 * holds wrapped keys and metadata of regulated recordings.
 */
int catalog_open(struct catalog **out, const char *dir, struct tfs_error *err)
	__attribute__((warn_unused_result));
void catalog_close(struct catalog *cat);

/* Schema version this build writes (PRAGMA user_version). */
int catalog_schema_version(void);

/* What one list page did. */
struct catalog_page {
	size_t items;		/* records kept (skipped not counted) */
	size_t added;		/* not in the catalog before */
	size_t changed;		/* known; status/date/envelope changed */
	size_t known;		/* known and unchanged */
	long long oldest;	/* the oldest date_created among the
				 * records kept (Unix seconds); -1: none */
	char next[ITEM_URL_MAX];	/* next page: meta.next_page_url, or
					 * next_page_uri as given (relative);
					 * "" when this was the last page */
	size_t skipped;		/* malformed records left out */
	char skip_detail[200];	/* why the first of them was */
};

/*
 * Parse one API list page of kind (the video v1 "recordings" /
 * "compositions" with "meta", the 2010 "recordings" with top-level
 * next_page_uri, the intelligence v2 "transcripts"), upsert each record
 * and mark it seen in generation. Mapping: dates (ISO-8601 or RFC 2822)
 * to Unix seconds; codec lower-cased; container from container_format /
 * format ("wav" for voice, "json" for transcripts); voice
 * encryption_details (either spelling) to the envelope; media_url from
 * links.media (video), uri with ".json" replaced by ".wav" made absolute
 * against base_url (voice), links.encrypted_sentences (transcripts).
 * The kind's specifics come from the table of kinds (kind.h).
 * A record whose envelope, status, hold or listed size changed loses
 * media_known. A record whose encryption_details cannot be used (bad
 * base64, IV not 12/16 bytes, type not rsa-aes) is kept with status
 * "invalid" (counted failed, never pending). A record that is not an
 * object or whose sid is not the kind's prefix and 32 hex digits is
 * skipped and counted (page->skipped, skip_detail); the rest of the page
 * is kept. TFS_ERR_ENVELOPE if json is not such a page; TFS_ERR_USAGE for
 * voice without base_url.
 */
int catalog_ingest_page(struct catalog *cat, enum item_kind kind,
	const char *json, const char *base_url, long long generation,
	struct catalog_page *page, struct tfs_error *err)
	__attribute__((warn_unused_result));

/*
 * The date_created (Unix seconds) of the oldest item of kind not finished
 * upstream (status processing, queued, …: kind_state_of) created at or
 * after since, into *date; -1 when there is none. A listing that stops
 * early must reach back that far to see it finish.
 */
int catalog_oldest_unfinished(struct catalog *cat, enum item_kind kind,
	long long since, long long *date, struct tfs_error *err)
	__attribute__((warn_unused_result));

/*
 * Rows visited by full scans (and automatic indexes) in this catalog's
 * statements since it was opened: what a statement costs beyond its
 * index lookups. For tests and benchmarks; never an error.
 */
long long catalog_scan_steps(struct catalog *cat);

/* A new generation number for a full listing (monotonic, persisted). */
int catalog_next_generation(struct catalog *cat, long long *gen,
	struct tfs_error *err) __attribute__((warn_unused_result));

/*
 * After a complete listing of kind in generation: delete the items of that
 * kind not seen in it (gone upstream), with their parts. *removed gets how
 * many rows (parts included).
 */
int catalog_sweep(struct catalog *cat, enum item_kind kind,
	long long generation, size_t *removed, struct tfs_error *err)
	__attribute__((warn_unused_result));

/* Item (sid, part) into *out. TFS_ERR_RANGE if there is none. */
int catalog_get(struct catalog *cat, const char *sid, int part,
	struct item *out, struct tfs_error *err)
	__attribute__((warn_unused_result));

/*
 * Record what the media download told us: envelope (scheme NONE = not
 * encrypted), exact sizes, ETag; sets media_known. For a transcript's
 * operator result (part >= 1) the row is created if missing, copying the
 * transcript's metadata, with media_url.
 */
int catalog_set_media(struct catalog *cat, const char *sid, int part,
	const char *media_url, const struct envelope *env, const char *etag,
	struct tfs_error *err) __attribute__((warn_unused_result));

/*
 * Call fn for every completed item (all parts) whose media is not known
 * yet and not held (external, unencrypted), oldest first, leaving out
 * those whose last failure asks to wait past retry_clock (Unix seconds;
 * LLONG_MAX: retry every one now). Stop early if fn returns non-zero
 * (returned). No query is open while fn runs: fn may use cat.
 */
int catalog_foreach_pending(struct catalog *cat, long long retry_clock,
	int (*fn)(const struct item *it, void *arg), void *arg,
	struct tfs_error *err) __attribute__((warn_unused_result));

/*
 * Call fn for every encrypted completed item whose media is known and
 * whose key was not checked yet (and, with recheck, those no key opened:
 * the keys may have changed). As above, fn may use cat.
 */
int catalog_foreach_keycheck(struct catalog *cat, int recheck,
	int (*fn)(const struct item *it, void *arg), void *arg,
	struct tfs_error *err) __attribute__((warn_unused_result));

/* Record whether a key of ours opens (sid, part): 1 yes, 2 no. */
int catalog_set_key_state(struct catalog *cat, const char *sid, int part,
	int state, struct tfs_error *err) __attribute__((warn_unused_result));

/*
 * Record that fetching (sid, part)'s media failed now (Unix seconds), with
 * a class ("network", "notfound", "forbidden", "auth", "envelope",
 * "integrity", "protocol", …) and a one-line detail. It is tried again
 * once retry_after has passed: 1 min after the first failure, doubling,
 * at most 6 h. catalog_set_media clears it.
 */
int catalog_fail(struct catalog *cat, const char *sid, int part,
	const char *class, const char *detail, long long now,
	struct tfs_error *err) __attribute__((warn_unused_result));

/*
 * Make part (>= 1, an operator result) of transcript sid known to the
 * catalog, media not known yet (pending), if it is not there already.
 */
int catalog_add_part(struct catalog *cat, const char *sid, int part,
	const char *media_url, struct tfs_error *err)
	__attribute__((warn_unused_result));

/* The object changed upstream: probe (sid, part) again at the next sync. */
int catalog_mark_stale(struct catalog *cat, const char *sid, int part,
	struct tfs_error *err) __attribute__((warn_unused_result));

struct catalog_failure {
	char sid[ITEM_SID_LEN + 1];
	int part;
	enum item_kind kind;
	char class[16];
	char detail[TFS_ERROR_DETAIL];
	long long count, last_time, retry_after;
};

/* Call fn for every recorded failure, by class then SID. */
int catalog_foreach_failure(struct catalog *cat,
	int (*fn)(const struct catalog_failure *f, void *arg), void *arg,
	struct tfs_error *err) __attribute__((warn_unused_result));

/* The last listing of one API product (kind.h's enum kind_product). */
struct catalog_product {
	long long last_ok;	/* Unix seconds of the last complete
				 * listing of all its kinds; 0 never */
	long long last_try;	/* of the last attempt; 0 never */
	char class[16];		/* "" fine, or "auth", "forbidden",
				 * "unavailable", "network", "protocol" */
	char detail[TFS_ERROR_DETAIL];
	long long skipped;	/* malformed records left out last time */
};

int catalog_product_set(struct catalog *cat, enum kind_product product,
	const struct catalog_product *p, struct tfs_error *err)
	__attribute__((warn_unused_result));
int catalog_product_get(struct catalog *cat, enum kind_product product,
	struct catalog_product *p, struct tfs_error *err)
	__attribute__((warn_unused_result));

/*
 * Call fn for every item (any status), by kind then date then sid; as
 * above, fn may use cat.
 */
int catalog_foreach(struct catalog *cat,
	int (*fn)(const struct item *it, void *arg), void *arg,
	struct tfs_error *err) __attribute__((warn_unused_result));

struct catalog_counts {
	size_t completed;	/* status completed (parts counted) */
	size_t pending;		/* completed, media unknown, not held */
	size_t processing;	/* not finished upstream */
	size_t failed;		/* failed / error / absent upstream */
	size_t external;	/* completed, media in the customer's storage */
	size_t unencrypted;	/* completed, stored without encryption */
	size_t nokey;		/* media known, no key of ours opens it */
	size_t failing;		/* pending, with a failure recorded */
};

int catalog_count(struct catalog *cat, enum item_kind kind,
	struct catalog_counts *out, struct tfs_error *err)
	__attribute__((warn_unused_result));

/*
 * Small persistent key/value state: "last_sync", … (keys "catalog.*" are
 * the catalog's own). meta_get: TFS_ERR_RANGE if key is not set,
 * TFS_ERR_USAGE if the value does not fit cap.
 */
int catalog_meta_set(struct catalog *cat, const char *key,
	const char *value, struct tfs_error *err)
	__attribute__((warn_unused_result));
int catalog_meta_get(struct catalog *cat, const char *key, char *value,
	size_t cap, struct tfs_error *err) __attribute__((warn_unused_result));

/* Group several writes in one transaction (a page, a sweep). */
int catalog_begin(struct catalog *cat, struct tfs_error *err)
	__attribute__((warn_unused_result));
int catalog_commit(struct catalog *cat, struct tfs_error *err)
	__attribute__((warn_unused_result));
void catalog_rollback(struct catalog *cat);

#endif
