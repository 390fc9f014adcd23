/* SPDX-License-Identifier: MIT */
/*
 * status.h - what .twiliofs/status.json says: counts per kind, each
 * product's last sync, and what is wrong, by class, with the SIDs
 * concerned. Gathered item by item while fs builds a tree from the
 * catalog, then rendered as JSON (schema in twiliofs(1), "STATUS FILE";
 * keep it stable: scripts and monitoring read it). No I/O.
 */
#ifndef TWILIOFS_STATUS_H
#define TWILIOFS_STATUS_H

#include <stddef.h>

#include "twiliofs/error.h"
#include "twiliofs/item.h"
#include "twiliofs/kind.h"

/* status.json's "schema" member: raised when a member changes meaning. */
#define STATUS_SCHEMA 2
/* SIDs listed per class; "count" still counts them all. */
#define STATUS_SIDS 100

/* One API product's last sync, as the catalog recorded it. */
struct status_product {
	long long last_ok, last_try;	/* Unix seconds; 0 never */
	char class[16];			/* "" when fine */
	char detail[TFS_ERROR_DETAIL];
	long long skipped;		/* malformed records left out */
};

struct status;

/* A new, empty status; NULL when out of memory. */
struct status *status_new(void);
void status_free(struct status *st);

/*
 * Count it; returns 1 if it is served as a file (completed, media known,
 * not held), else 0.
 */
int status_note(struct status *st, const struct item *it);

void status_set_product(struct status *st, enum kind_product p,
	const struct status_product *sp);
void status_set_last_sync(struct status *st, const char *iso);

/* Facts of the running mount that are not in the catalog. */
/* A sync under way in the mount (its refresh, or the first fill). */
struct status_sync {
	int running;
	int first;			/* the catalog was never synced */
	int probing;			/* 0: listing, 1: probing media */
	size_t listed;			/* records listed so far */
	size_t probed, to_probe;	/* media probed so far / in all */
};

struct status_mount {
	const char *version, *account_sid;
	int offline;
	struct status_sync sync;
	size_t read_integrity;		/* tag/padding failures, reads */
	const char *read_integrity_sid;	/* the last one, or "" */
};

/* The JSON text (malloc'd, *len bytes, NUL-terminated), or NULL. */
char *status_render(const struct status *st, const struct status_mount *m,
	size_t *len);

#endif
