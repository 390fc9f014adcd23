/* SPDX-License-Identifier: MIT */
/*
 * sync.h - fill or refresh the catalog from the API: list every kind
 * (following both paging styles), remove what is gone upstream after a
 * complete listing, then probe the media of new or changed items for their
 * envelope and exact plaintext size.
 */
#ifndef TWILIOFS_SYNC_H
#define TWILIOFS_SYNC_H

#include <stddef.h>

#include "twiliofs/catalog.h"
#include "twiliofs/media.h"

struct sync_progress {
	enum item_kind kind;
	int probing;		/* 0: listing pages; 1: probing media */
	size_t pages;		/* pages listed so far (this kind) */
	size_t items;		/* records listed so far (this kind) */
	size_t done, total;	/* media probed so far / to probe (all) */
};

struct sync_options {
	/*
	 * Stop listing a kind at the first page that holds nothing new or
	 * changed (lists are newest first, so that page is the overlap
	 * with what we know); no removal then, as not everything was seen.
	 */
	int incremental;
	int page_size;		/* 0: the API's maximum */
	void (*progress)(const struct sync_progress *p, void *arg);
	void *arg;
};

struct sync_kind_report {
	size_t pages, listed, added, changed, removed;
	size_t probed, probe_failed;
	int complete;		/* the whole list was seen */
};

struct sync_report {
	struct sync_kind_report kind[ITEM_KINDS + 1];	/* by item_kind */
};

/*
 * Run one sync. Per-item media failures (no key, a 404) are logged and
 * counted, not fatal; TFS_ERR_AUTH and TFS_ERR_NETWORK stop the sync.
 */
int sync_run(struct catalog *cat, const struct media_ctx *m,
	const struct sync_options *o, struct sync_report *rep,
	struct tfs_error *err) __attribute__((warn_unused_result));

/* "video recordings", "compositions", "voice recordings", "transcripts". */
const char *sync_kind_name(enum item_kind kind);

#endif
