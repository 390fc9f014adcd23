/* SPDX-License-Identifier: MIT */
/*
 * fs.h - the FUSE filesystem: the account's items as a read-only tree
 * (DESIGN.md §3), served from an in-memory snapshot of the catalog that a
 * background thread refreshes; reads go through reader. The only place
 * that turns project errors into errno values. No HTTP, no SQL.
 */
#ifndef TWILIOFS_FS_H
#define TWILIOFS_FS_H

#include "twiliofs/error.h"
#include "twiliofs/item.h"
#include "twiliofs/reader.h"

/* Facts about a snapshot that status.json shows. */
struct fs_snapshot_info {
	char last_sync[32];	/* ISO-8601 UTC, or "" if never */
};

struct fs_config {
	const char *mountpoint;
	const char *account_sid;
	int foreground, debug, single_thread, allow_other, offline;
	const char *fuse_opts;		/* extra -o options for FUSE */
	long refresh;			/* seconds; 0: never */
	struct reader_pool *readers;	/* borrowed */
	/*
	 * Call add for every item of the catalog and fill info; runs in
	 * the daemon (after fork), at start and after each refresh.
	 */
	int (*snapshot)(void *arg, int (*add)(const struct item *it,
	    void *add_arg), void *add_arg, struct fs_snapshot_info *info,
	    struct tfs_error *err);
	/* Bring the catalog up to date with the API (the refresh). */
	int (*refresh_catalog)(void *arg, struct tfs_error *err);
	/* "aes-256-cbc", "aes-128-cbc", "aes-256-gcm" or "none" for it. */
	const char *(*cipher_name)(void *arg, const struct item *it);
	void *arg;
};

/*
 * Mount and serve until unmounted (fusermount3 -u) or signalled; daemonizes
 * unless cfg->foreground. Returns 0, or TFS_ERR_CONFIG when the mount
 * could not be set up (detail says why).
 */
int fs_main(const struct fs_config *cfg, struct tfs_error *err)
	__attribute__((warn_unused_result));

#endif
