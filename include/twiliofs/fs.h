/* SPDX-License-Identifier: MIT */
/*
 * fs.h - the FUSE filesystem: the account's items as a read-only tree
 * (DESIGN.md §3), served from an in-memory snapshot of the catalog that a
 * background thread refreshes; reads go through reader. The only place
 * that turns project errors into errno values. No HTTP, no SQL.
 */
#ifndef TWILIOFS_FS_H
#define TWILIOFS_FS_H

#include <stdatomic.h>

#include "twiliofs/error.h"
#include "twiliofs/item.h"
#include "twiliofs/reader.h"
#include "twiliofs/status.h"
#include "twiliofs/sync.h"

/* Facts about a snapshot that status.json shows. */
struct fs_snapshot_info {
	char last_sync[32];	/* ISO-8601 UTC, or "" if never */
	struct status_product products[KIND_PRODUCTS];
};

struct fs_config {
	const char *mountpoint;
	const char *account_sid;
	int foreground, debug, single_thread, allow_other, offline;
	const char *fuse_opts;		/* extra -o options for FUSE */
	/*
	 * Owner shown for every entry (-1: the mounting user's), and the
	 * umask of the modes: directories 0777 & ~umask, files (and
	 * status.json) 0666 & ~umask, symlinks 0777. -1: 077, or 022 with
	 * allow_other. Writes fail with EROFS whatever the modes say.
	 */
	long long uid, gid;
	int umask;
	long refresh;			/* seconds; 0: never */
	struct reader_pool *readers;	/* borrowed */
	/*
	 * Call add for every item of the catalog and fill info; runs in
	 * the daemon (after fork), at start and after each refresh.
	 */
	int (*snapshot)(void *arg, int (*add)(const struct item *it,
	    void *add_arg), void *add_arg, struct fs_snapshot_info *info,
	    struct tfs_error *err);
	/*
	 * Bring the catalog up to date with the API (the refresh); give up
	 * early once *cancel is set (the mount is going away). progress
	 * (called on the same thread) hears how far it has got: the tree is
	 * rebuilt now and then during a long first sync.
	 */
	int (*refresh_catalog)(void *arg, const atomic_int *cancel,
	    void (*progress)(const struct sync_progress *p, void *parg),
	    void *parg, struct tfs_error *err);
	/* The catalog was never synced: mount at once (an empty tree) and
	 * fill it in the background, the refresh's first run. */
	int first_sync;
	/*
	 * The object of it changed upstream (ETag or size): have the next
	 * refresh probe it again. May be NULL.
	 */
	void (*stale)(void *arg, const char *sid, int part);
	/*
	 * The whole item (sid, part) from the catalog: the tree keeps only
	 * what stat and readdir need. Called on open and for xattrs, from
	 * any thread. TFS_ERR_NOTFOUND when the catalog has it no more.
	 */
	int (*item)(void *arg, const char *sid, int part, struct item *it,
	    struct tfs_error *err);
	/* "aes-256-cbc", "aes-128-cbc", "aes-256-gcm" or "none" for it. */
	const char *(*cipher_name)(void *arg, const struct item *it);
	void *arg;
};

/*
 * Mount and serve until unmounted (fusermount3 -u) or until SIGINT,
 * SIGTERM or SIGHUP (then it unmounts itself); daemonizes unless
 * cfg->foreground, once the first tree is built and the mount is there.
 * Refuses, before mounting, a mountpoint that is not a directory, is
 * already a mount point, or is a dead mount (ENOTCONN). Returns 0 (also
 * after a signal), or TFS_ERR_CONFIG when the mount could not be set up
 * (detail says why and what to do), TFS_ERR_IO if the session failed.
 */
int fs_main(const struct fs_config *cfg, struct tfs_error *err)
	__attribute__((warn_unused_result));

/*
 * The checks fs_main makes of mnt before mounting, for callers that want
 * to fail before a long first sync: TFS_OK, or TFS_ERR_CONFIG with a
 * detail naming mnt and the fix (not a directory; already a mount point;
 * a dead mount, ENOTCONN: run fusermount3 -u).
 */
int fs_check_mountpoint(const char *mnt, struct tfs_error *err)
	__attribute__((warn_unused_result));

/* Whether the FUSE request the calling thread serves was interrupted
 * (its caller got a signal): 0 outside a request. */
int fs_interrupted(void);

/* The libfuse running (for --version). */
const char *fs_fuse_version(void);

#endif
