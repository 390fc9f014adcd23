/* SPDX-License-Identifier: MIT */
/*
 * sync.h - fill or refresh the catalog from the API: list every kind
 * (following both paging styles), remove what is gone upstream after a
 * complete listing, then probe the media of new or changed items for their
 * envelope and exact plaintext size, several at once.
 */
#ifndef TWILIOFS_SYNC_H
#define TWILIOFS_SYNC_H

#include <stdatomic.h>
#include <stddef.h>

#include "twiliofs/catalog.h"
#include "twiliofs/kind.h"
#include "twiliofs/media.h"

struct sync_progress {
	enum item_kind kind;
	int probing;		/* 0: listing pages; 1: probing media */
	size_t pages;		/* pages listed so far (this kind) */
	size_t items;		/* records listed so far (this kind) */
	size_t done, total;	/* media probed so far / to probe (all) */
};

/* Media probed at once unless told (struct sync_options), and the most. */
#define SYNC_PROBE_THREADS 8
#define SYNC_PROBE_THREADS_MAX 32
/* How far back an incremental listing reaches to see items finish. */
#define SYNC_UNFINISHED_WINDOW (2 * 86400)

struct sync_options {
	/*
	 * Stop listing a kind at the first page that holds nothing new or
	 * changed (lists are newest first, so that page is the overlap
	 * with what we know) and that reaches back to the oldest item not
	 * finished upstream (processing, queued) created in the last
	 * SYNC_UNFINISHED_WINDOW seconds; no removal then, as not
	 * everything was seen. A kind never listed whole, or whose last
	 * whole listing is full_every seconds old, is listed whole all the
	 * same. 0: every kind is listed whole (a full reconciliation).
	 */
	int incremental;
	/*
	 * With incremental: seconds between whole listings of a kind (those
	 * find what was deleted upstream), e.g. 86400; 0: only a kind never
	 * listed whole is. The time of each kind's last whole listing is in
	 * the catalog (meta "last_full.<kind id>", Unix seconds).
	 */
	long long full_every;
	/*
	 * Media probed at once, each on a connection of its own: 0 means
	 * SYNC_PROBE_THREADS, 1 one after the other; at most
	 * SYNC_PROBE_THREADS_MAX. Fewer run while the media answer
	 * network failures (429s that outlast their retries, 5xx, drops):
	 * halved at each, one more after as many successes.
	 */
	int probe_threads;
	int page_size;		/* 0: the API's maximum */
	const char *region;	/* products Twilio lacks there are skipped */
	/* Probe every failed item now (a sync someone asked for); else
	 * each waits for its backoff (the mount's periodic refresh). */
	int retry_all;
	/* When set (by another thread), stop at the next page, or hand
	 * out no more probes (those under way are waited for). */
	const atomic_int *cancel;
	/* Called on the thread that called sync_run, never two at once. */
	void (*progress)(const struct sync_progress *p, void *arg);
	void *arg;
};

struct sync_kind_report {
	size_t pages, listed, added, changed, removed;
	size_t probed, probe_failed;
	size_t skipped;		/* malformed records left out */
	int complete;		/* the whole list was seen (and what it
				 * did not hold was removed) */
	int full;		/* meant to list it whole this time (not
				 * incremental, or a whole listing due) */
};

/* A product whose media answers this many network failures in a row is
 * down (probe_down): its other items wait for the next sync. */
#define SYNC_NETWORK_STREAK 5

/* How one API product fared: code TFS_OK, or its first failure. */
struct sync_product_report {
	int code;
	int unavailable;	/* not offered in the region: no failure */
	int probe_down;		/* media failed on the network many
				 * times in a row: the rest wait */
	char class[16];		/* "auth", "forbidden", "unavailable",
				 * "network", "protocol" */
	char detail[TFS_ERROR_DETAIL];
};

struct sync_report {
	struct sync_kind_report kind[ITEM_KINDS + 1];	/* by item_kind */
	struct sync_product_report product[KIND_PRODUCTS];
	size_t product_skipped[KIND_PRODUCTS];
	size_t nokey;		/* encrypted items no key of ours opens */
};

/*
 * Run one sync. A product that fails (401/403/404, network, a page link
 * that is foreign or loops, a page that is not a list) is recorded in
 * rep->product and the catalog's products, while the others sync; an
 * item whose media fails is recorded against the item (catalog_fail) and
 * probed again after its backoff. Returns an error only when the catalog
 * fails (disk, memory); see sync_outcome for how the sync went.
 */
int sync_run(struct catalog *cat, struct media *m,
	const struct sync_options *o, struct sync_report *rep,
	struct tfs_error *err) __attribute__((warn_unused_result));

/* sync_outcome: some items or products failed, the rest synced. */
#define SYNC_PARTIAL 1

/*
 * How a finished sync went: TFS_OK; TFS_ERR_AUTH when the credentials
 * were refused (401); TFS_ERR_NETWORK when every product offered failed
 * on the network; SYNC_PARTIAL when some products or items failed.
 */
int sync_outcome(const struct sync_report *rep);

/* "video recordings", "compositions", "voice recordings", "transcripts". */
const char *sync_kind_name(enum item_kind kind);

/* The failure class of an error code ("network", "forbidden", …). */
const char *sync_error_class(int code);

#endif
