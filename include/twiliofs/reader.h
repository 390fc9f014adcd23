/* SPDX-License-Identifier: MIT */
/*
 * reader.h - decrypted bytes of one item, for the mount.
 *
 * CBC (and unencrypted) items are read through windows: plaintext
 * ranges held in memory, each filled by one ranged request that media
 * runs on a worker thread, decrypted as its bytes arrive (a read is
 * served as soon as its own bytes are there, never before the padding
 * of the last block was checked). A read that goes on where another
 * stopped grows its windows (to 4 MiB) and keeps `streams` of them in
 * flight ahead of it: several ranged GETs at once, within one memory
 * budget for all open files, in equal shares among those being read
 * (beyond its share, a read fetches only what it asks for). A read
 * waits with a deadline: no byte for read_timeout seconds fails it with
 * TFS_ERR_NETWORK, and an interrupted caller stops waiting
 * (TFS_ERR_INTERRUPTED); one object's trouble holds no other's reads.
 *
 * GCM items: the first open downloads the object (in `streams` ranges
 * at once) into objcache, verifying the tag, and only then lets reads
 * through; reads decrypt any range of the verified ciphertext with
 * AES-CTR. A failed tag fails every open and read with
 * TFS_ERR_INTEGRITY. Plaintext is never written to disk.
 *
 * Thread-safe: a pool is shared by all FUSE threads; a struct reader may
 * be used by several threads at once (reads of one open file in parallel).
 */
#ifndef TWILIOFS_READER_H
#define TWILIOFS_READER_H

#include <stddef.h>
#include <sys/types.h>

#include "twiliofs/error.h"
#include "twiliofs/item.h"
#include "twiliofs/keyring.h"
#include "twiliofs/media.h"

struct reader_config {
	struct media *media;		/* borrowed: every fetch */
	const struct keyring *keys;	/* borrowed; may be NULL */
	const char *cache_dir;		/* verified GCM ciphertext goes to
					 * cache_dir/objects (0700) */
	long long cache_size;		/* bytes of ciphertext kept; <= 0:
					 * 2 GiB */
	int offline;			/* no network: cached GCM only */
	int streams;			/* requests in flight for one file
					 * read in order; <= 0: 4 */
	int read_timeout;		/* seconds a read may wait without a
					 * byte arriving; <= 0: 30 */
	/* Whether the calling thread's request was interrupted (FUSE);
	 * NULL: never. */
	int (*interrupted)(void);
};

struct reader_pool;

/*
 * A pool for cfg (copied; media and keys borrowed). Creates cache_dir
 * and cache_dir/objects (0700) when cache_dir is set and trims the cache
 * to cache_size; opens no connection and starts no thread (safe before a
 * fork). Errors: TFS_ERR_IO, TFS_ERR_CONFIG, TFS_ERR_NOMEM.
 */
int reader_pool_new(struct reader_pool **out, const struct reader_config *cfg,
	struct tfs_error *err) __attribute__((warn_unused_result));
/* Free pool once every reader of it is closed. NULL is a no-op. */
void reader_pool_free(struct reader_pool *pool);

/* Integrity failures seen so far (for status.json): count, and the last
 * failing SID ("" if none). */
void reader_pool_failures(struct reader_pool *pool, size_t *count,
	char last_sid[ITEM_SID_LEN + 1]);

struct reader;

/*
 * Open it (which must be completed with media_known and an exact
 * plaintext size). Errors: TFS_ERR_NOKEY (no key opens the CEK: the
 * detail names the key SID when known), TFS_ERR_INTEGRITY (GCM tag),
 * TFS_ERR_NETWORK / TFS_ERR_EXPIRED / TFS_ERR_NOTFOUND / TFS_ERR_CHANGED,
 * TFS_ERR_INTERRUPTED, TFS_ERR_NOMEM; also TFS_ERR_NETWORK when offline
 * for anything but cached GCM, TFS_ERR_USAGE if it was not probed,
 * TFS_ERR_CONFIG for GCM without a cache_dir, TFS_ERR_IO when the cache
 * cannot be written.
 */
int reader_open(struct reader_pool *pool, const struct item *it,
	struct reader **out, struct tfs_error *err)
	__attribute__((warn_unused_result));

/*
 * Read exactly len bytes at off into buf (fewer only at end of file;
 * *got says how many). Errors as reader_open, and TFS_ERR_INTEGRITY for
 * bad CBC padding. Never returns unverified or garbage bytes.
 */
int reader_read(struct reader *r, char *buf, size_t len, off_t off,
	size_t *got, struct tfs_error *err) __attribute__((warn_unused_result));

/* Close r (NULL is a no-op) once no reader_read on it is running: its
 * fetches are abandoned and waited for, its plaintext wiped. */
void reader_close(struct reader *r);

#endif
