/* SPDX-License-Identifier: MIT */
/*
 * objcache.h - verified ciphertext on disk: the cache of GCM objects.
 *
 * A GCM object is served only once its tag matched, so its first open
 * downloads all of it; the verified ciphertext (never plaintext) is kept
 * in cache_dir/objects (0700, files 0600) for later opens, named by SID,
 * part and a hash of what identifies the object (ETag, size, IV, wrapped
 * key): a changed object gets a new name. Least recently opened files go
 * when the cache is over its size; files that are open stay.
 *
 * One download per object at a time: concurrent openers wait for it and
 * share its result. A download is written to an unnamed file and named
 * only when verified; the name is given (after fdatasync) when the last
 * holder lets go, so the first open does not wait for the disk.
 */
#ifndef TWILIOFS_OBJCACHE_H
#define TWILIOFS_OBJCACHE_H

#include "twiliofs/error.h"
#include "twiliofs/item.h"

#define OBJCACHE_KEY_LEN 64

struct objcache;

/*
 * Creates cache_dir and cache_dir/objects (0700), removes what a crash
 * left, and trims to size (<= 0: 2 GiB). Errors: TFS_ERR_IO,
 * TFS_ERR_CONFIG, TFS_ERR_NOMEM.
 */
int objcache_new(struct objcache **out, const char *cache_dir,
	long long size, struct tfs_error *err)
	__attribute__((warn_unused_result));
/* Once no file of oc is open; downloads not named yet are named now.
 * NULL is a no-op. */
void objcache_free(struct objcache *oc);

/*
 * Writes the whole object into fd and verifies it; anything but TFS_OK
 * leaves nothing in the cache (TFS_ERR_INTEGRITY is remembered: later
 * opens of that object fail at once).
 */
typedef int (*objcache_fill_fn)(int fd, void *arg, struct tfs_error *err);

/*
 * A read-only descriptor of it's verified ciphertext (ct_size bytes) in
 * *fd, and the name it is held under in key (pass it to
 * objcache_release). fill NULL: only what is cached (offline).
 */
int objcache_open(struct objcache *oc, const struct item *it,
	long long ct_size, objcache_fill_fn fill, void *arg, int *fd,
	char key[OBJCACHE_KEY_LEN], struct tfs_error *err)
	__attribute__((warn_unused_result));

/* Close fd and let go of key; the last holder names a new download. */
void objcache_release(struct objcache *oc, const char *key, int fd);

#endif
