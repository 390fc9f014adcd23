/* SPDX-License-Identifier: MIT */
/* objcache.c - verified GCM ciphertext kept on disk. */
#define _GNU_SOURCE	/* O_TMPFILE */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "twiliofs/io.h"
#include "twiliofs/log.h"
#include "twiliofs/objcache.h"

#define CACHE_SIZE_DEFAULT (2LL * 1024 * 1024 * 1024)
/* Integrity failures remembered (so a bad object is not fetched again
 * and again by a retrying player). */
#define FAILED_MAX 64
/* Named temp files (when O_TMPFILE is missing) older than this are
 * leftovers of a crash. */
#define STALE_TMP_S 3600

/* An object that is open, or being downloaded. */
struct held {
	struct held *next;
	int refs;			/* openers that hold it */
	int busy;			/* a download or naming under way */
	int fd;			/* verified, unnamed yet; or -1 */
	char tmp[PATH_MAX];		/* its temp name, if it has one */
	char name[OBJCACHE_KEY_LEN];
};

struct objcache {
	pthread_mutex_t mu;
	pthread_cond_t cv;		/* a download or naming ended */
	struct held *held;
	char failed[FAILED_MAX][OBJCACHE_KEY_LEN];
	size_t nfailed;
	int over;			/* above its size */
	long long size;
	char dir[PATH_MAX];		/* cache_dir/objects */
};

/* --- names --- */

/*
 * The file's name: SID, part, and a hash of what identifies the object
 * (ETag, size, IV, wrapped key): a changed object or envelope gets a new
 * name, so a stale file is never decrypted with the wrong key.
 */
static int
cache_key(const struct item *it, long long ct_size, char *out, size_t cap,
    struct tfs_error *err)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0, i;
	char size[32], hex[17];
	EVP_MD_CTX *ctx;
	int ok;

	for (i = 0; it->sid[i] != '\0'; i++)
		if (!((it->sid[i] >= '0' && it->sid[i] <= '9') ||
		    (it->sid[i] >= 'a' && it->sid[i] <= 'z') ||
		    (it->sid[i] >= 'A' && it->sid[i] <= 'Z')))
			break;
	if (i == 0 || it->sid[i] != '\0' || it->part < 0)
		return tfs_error_set(err, TFS_ERR_USAGE, "'%.40s' part %d: not "
		    "a SID", it->sid, it->part);
	(void)snprintf(size, sizeof(size), "|%lld|", ct_size);
	ctx = EVP_MD_CTX_new();
	ok = ctx != NULL && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) > 0 &&
	    EVP_DigestUpdate(ctx, it->etag, strlen(it->etag)) > 0 &&
	    EVP_DigestUpdate(ctx, size, strlen(size)) > 0 &&
	    EVP_DigestUpdate(ctx, it->env.iv, it->env.iv_len) > 0 &&
	    EVP_DigestUpdate(ctx, it->env.wrapped_cek,
	    it->env.wrapped_cek_len) > 0 &&
	    EVP_DigestFinal_ex(ctx, md, &mdlen) > 0 && mdlen >= 8;
	EVP_MD_CTX_free(ctx);
	if (!ok)
		return tfs_error_set(err, TFS_ERR_CRYPTO, "%s: SHA-256 failed",
		    it->sid);
	for (i = 0; i < 8; i++)
		(void)snprintf(hex + 2 * i, 3, "%02x", md[i]);
	if (snprintf(out, cap, "%s.%d.%s", it->sid, it->part, hex) >=
	    (int)cap)
		return tfs_error_set(err, TFS_ERR_USAGE, "%s: SID too long",
		    it->sid);
	return TFS_OK;
}

/* --- holds --- */

/* With oc->mu. */
static struct held *
held_find(struct objcache *oc, const char *name)
{
	struct held *k;

	for (k = oc->held; k != NULL; k = k->next)
		if (strcmp(k->name, name) == 0)
			return k;
	return NULL;
}

/* Hold name (safe from eviction); NULL if out of memory. With oc->mu. */
static struct held *
held_get(struct objcache *oc, const char *name)
{
	struct held *k = held_find(oc, name);

	if (k == NULL) {
		k = calloc(1, sizeof(*k));
		if (k == NULL)
			return NULL;
		k->fd = -1;
		(void)snprintf(k->name, sizeof(k->name), "%s", name);
		k->next = oc->held;
		oc->held = k;
	}
	k->refs++;
	return k;
}

/* With oc->mu. */
static void
held_put(struct objcache *oc, struct held *k)
{
	struct held **kp;

	if (--k->refs > 0 || k->busy || k->fd >= 0)
		return;
	for (kp = &oc->held; *kp != NULL; kp = &(*kp)->next)
		if (*kp == k) {
			*kp = k->next;
			free(k);
			return;
		}
}

/* With oc->mu. */
static int
failed_has(const struct objcache *oc, const char *name)
{
	size_t i, n = oc->nfailed < FAILED_MAX ? oc->nfailed : FAILED_MAX;

	for (i = 0; i < n; i++)
		if (strcmp(oc->failed[i], name) == 0)
			return 1;
	return 0;
}

/* --- the directory --- */

/* Remove named temp files a crashed download left. */
static void
clean_stale_tmp(const char *dir)
{
	struct dirent *de;
	struct stat st;
	DIR *d;

	d = opendir(dir);
	if (d == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		if (strncmp(de->d_name, ".tmp-", 5) != 0)
			continue;
		if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW)
		    == 0 && S_ISREG(st.st_mode) &&
		    time(NULL) - st.st_mtime > STALE_TMP_S)
			(void)unlinkat(dirfd(d), de->d_name, 0);
	}
	closedir(d);
}

struct cached {
	char name[OBJCACHE_KEY_LEN];
	long long size;
	struct timespec mtime;
};

static int
by_mtime(const void *a, const void *b)
{
	const struct cached *x = a, *y = b;

	if (x->mtime.tv_sec != y->mtime.tv_sec)
		return x->mtime.tv_sec < y->mtime.tv_sec ? -1 : 1;
	if (x->mtime.tv_nsec != y->mtime.tv_nsec)
		return x->mtime.tv_nsec < y->mtime.tv_nsec ? -1 : 1;
	return strcmp(x->name, y->name);
}

/*
 * Keep the cache within its size: delete the least recently used files
 * (mtime, touched at every open) that nobody holds.
 */
static void
evict(struct objcache *oc)
{
	struct cached *v = NULL, *nv;
	struct dirent *de;
	struct stat st;
	size_t n = 0, cap = 0, i;
	long long total = 0;
	DIR *d;

	d = opendir(oc->dir);
	if (d == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.' ||
		    strlen(de->d_name) >= OBJCACHE_KEY_LEN ||
		    fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) !=
		    0 || !S_ISREG(st.st_mode))
			continue;
		if (n == cap) {
			cap = cap == 0 ? 64 : cap * 2;
			nv = realloc(v, cap * sizeof(*v));
			if (nv == NULL)
				goto out;
			v = nv;
		}
		memcpy(v[n].name, de->d_name, strlen(de->d_name) + 1);
		v[n].size = (long long)st.st_size;
		v[n].mtime = st.st_mtim;
		total += v[n].size;
		n++;
	}
	if (total > oc->size && n > 0)
		qsort(v, n, sizeof(*v), by_mtime);
	for (i = 0; i < n && total > oc->size; i++) {
		pthread_mutex_lock(&oc->mu);
		if (held_find(oc, v[i].name) == NULL &&
		    unlinkat(dirfd(d), v[i].name, 0) == 0) {
			total -= v[i].size;
			log_msg(TFS_LOG_DEBUG, "cache: evicted %s", v[i].name);
		}
		pthread_mutex_unlock(&oc->mu);
	}
	pthread_mutex_lock(&oc->mu);
	oc->over = total > oc->size;
	pthread_mutex_unlock(&oc->mu);
out:
	closedir(d);
	free(v);
}

int
objcache_new(struct objcache **out, const char *cache_dir, long long size,
    struct tfs_error *err)
{
	struct objcache *oc;
	int rc;

	*out = NULL;
	oc = calloc(1, sizeof(*oc));
	if (oc == NULL)
		return tfs_error_set(err, TFS_ERR_NOMEM, "out of memory");
	if (pthread_mutex_init(&oc->mu, NULL) != 0) {
		free(oc);
		return tfs_error_set(err, TFS_ERR_NOMEM, "out of memory");
	}
	if (pthread_cond_init(&oc->cv, NULL) != 0) {
		pthread_mutex_destroy(&oc->mu);
		free(oc);
		return tfs_error_set(err, TFS_ERR_NOMEM, "out of memory");
	}
	oc->size = size > 0 ? size : CACHE_SIZE_DEFAULT;
	rc = TFS_OK;
	if (snprintf(oc->dir, sizeof(oc->dir), "%s/objects", cache_dir) >=
	    (int)sizeof(oc->dir))
		rc = tfs_error_set(err, TFS_ERR_CONFIG, "%s: cache directory "
		    "path too long", cache_dir);
	if (rc == TFS_OK && io_make_dirs(oc->dir) != 0)
		rc = tfs_error_set(err, TFS_ERR_IO, "%s: cannot create the "
		    "cache directory: %s", oc->dir, strerror(errno));
	if (rc != TFS_OK) {
		objcache_free(oc);
		return rc;
	}
	clean_stale_tmp(oc->dir);
	evict(oc);
	*out = oc;
	return TFS_OK;
}

/* --- downloads --- */

/* A 0600 file for a download: unnamed if the kernel can. */
static int
tmp_open(const struct objcache *oc, char *tmp, size_t cap,
    struct tfs_error *err)
{
	int fd = -1;

	tmp[0] = '\0';
#ifdef O_TMPFILE
	fd = open(oc->dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (fd >= 0)
		return fd;
#endif
	if (snprintf(tmp, cap, "%s/.tmp-XXXXXX", oc->dir) >= (int)cap) {
		tmp[0] = '\0';
		return tfs_error_set(err, TFS_ERR_IO, "%s: path too long",
		    oc->dir);
	}
	fd = mkstemp(tmp);
	if (fd < 0) {
		tmp[0] = '\0';
		return tfs_error_set(err, TFS_ERR_IO, "%s: cannot create a "
		    "download file: %s", oc->dir, strerror(errno));
	}
	(void)fcntl(fd, F_SETFD, FD_CLOEXEC);
	return fd;
}

/*
 * Give a verified download its name, once its bytes are on disk (a
 * crash must never leave a named file that is not the verified object).
 */
static void
name_download(const struct objcache *oc, int fd, const char *tmp,
    const char *name)
{
	char path[PATH_MAX], proc[64];
	int ok;

	if (snprintf(path, sizeof(path), "%s/%s", oc->dir, name) >=
	    (int)sizeof(path))
		return;
	if (fdatasync(fd) != 0) {
		log_msg(TFS_LOG_WARN, "%s: cannot write the cache: %s", path,
		    strerror(errno));
		if (tmp[0] != '\0')
			(void)unlink(tmp);
		return;
	}
	if (tmp[0] != '\0') {
		ok = rename(tmp, path) == 0;
	} else {
		(void)snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
		ok = linkat(AT_FDCWD, proc, AT_FDCWD, path,
		    AT_SYMLINK_FOLLOW) == 0 || errno == EEXIST;
	}
	if (!ok)
		log_msg(TFS_LOG_WARN, "%s: cannot keep the verified download "
		    "in the cache (%s); it was used for that open only", path,
		    strerror(errno));
}

/* The named file of name, if it is what we would have written. */
static int
open_cached(const struct objcache *oc, const char *name, long long ct_size)
{
	char path[PATH_MAX];
	struct stat st;
	int fd;

	if (snprintf(path, sizeof(path), "%s/%s", oc->dir, name) >=
	    (int)sizeof(path))
		return -1;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return -1;
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) &&
	    (long long)st.st_size == ct_size) {
		(void)futimens(fd, NULL);	/* recently used */
		return fd;
	}
	/* Not what we would have written: do not trust it. */
	close(fd);
	(void)unlink(path);
	return -1;
}

/* Download name through fill, with k busy. Returns the verified fd. */
static int
download(struct objcache *oc, struct held *k, objcache_fill_fn fill,
    void *arg, struct tfs_error *err)
{
	char tmp[PATH_MAX];
	int fd, rc;

	fd = tmp_open(oc, tmp, sizeof(tmp), err);
	if (fd < 0)
		return fd;
	rc = fill(fd, arg, err);
	pthread_mutex_lock(&oc->mu);
	if (rc == TFS_ERR_INTEGRITY) {
		(void)snprintf(oc->failed[oc->nfailed % FAILED_MAX],
		    OBJCACHE_KEY_LEN, "%s", k->name);
		oc->nfailed++;
	}
	if (rc == TFS_OK) {
		k->fd = fd;
		memcpy(k->tmp, tmp, sizeof(k->tmp));
	}
	pthread_mutex_unlock(&oc->mu);
	if (rc == TFS_OK)
		return fd;
	close(fd);
	if (tmp[0] != '\0')
		(void)unlink(tmp);
	return rc;
}

int
objcache_open(struct objcache *oc, const struct item *it, long long ct_size,
    objcache_fill_fn fill, void *arg, int *fd, char key[OBJCACHE_KEY_LEN],
    struct tfs_error *err)
{
	struct held *k;
	int rc, got = -1;

	*fd = -1;
	rc = cache_key(it, ct_size, key, OBJCACHE_KEY_LEN, err);
	if (rc != TFS_OK)
		return rc;
	pthread_mutex_lock(&oc->mu);
	k = held_get(oc, key);
	if (k == NULL) {
		pthread_mutex_unlock(&oc->mu);
		return tfs_error_set(err, TFS_ERR_NOMEM, "out of memory");
	}
	while (k->busy)
		pthread_cond_wait(&oc->cv, &oc->mu);
	if (failed_has(oc, key))
		rc = tfs_error_set(err, TFS_ERR_INTEGRITY, "%s: its "
		    "authentication tag did not match when it was "
		    "downloaded; nothing of it is served", it->sid);
	else if (k->fd >= 0 && (got = dup(k->fd)) < 0) /* verified, unnamed */
		rc = tfs_error_set(err, TFS_ERR_IO, "%s: %s", it->sid,
		    strerror(errno));
	else if (k->fd < 0)
		got = open_cached(oc, key, ct_size);
	if (rc == TFS_OK && got < 0 && fill == NULL)
		rc = tfs_error_set(err, TFS_ERR_NETWORK, "%s: offline, and "
		    "its verified copy is not in the cache", it->sid);
	if (rc == TFS_OK && got < 0) {
		k->busy = 1;
		pthread_mutex_unlock(&oc->mu);
		rc = download(oc, k, fill, arg, err);
		pthread_mutex_lock(&oc->mu);
		k->busy = 0;
		pthread_cond_broadcast(&oc->cv);
		if (rc >= 0) {
			got = dup(rc);
			rc = got >= 0 ? TFS_OK : tfs_error_set(err, TFS_ERR_IO,
			    "%s: %s", it->sid, strerror(errno));
		}
	}
	if (rc != TFS_OK)
		held_put(oc, k);
	pthread_mutex_unlock(&oc->mu);
	if (rc == TFS_OK)
		*fd = got;
	return rc;
}

void
objcache_release(struct objcache *oc, const char *key, int fd)
{
	struct held *k;
	int over, vfd = -1;

	if (fd >= 0)
		close(fd);
	pthread_mutex_lock(&oc->mu);
	k = held_find(oc, key);
	if (k != NULL && k->refs == 1 && k->fd >= 0) {
		/* The last holder names the download, off the read path. */
		vfd = k->fd;
		k->busy = 1;
		pthread_mutex_unlock(&oc->mu);
		name_download(oc, vfd, k->tmp, k->name);
		close(vfd);
		pthread_mutex_lock(&oc->mu);
		k->fd = -1;
		k->busy = 0;
		pthread_cond_broadcast(&oc->cv);
	}
	if (k != NULL)
		held_put(oc, k);
	over = oc->over || vfd >= 0;
	pthread_mutex_unlock(&oc->mu);
	/* A file the cache could not drop while it was open may go now. */
	if (over)
		evict(oc);
}

void
objcache_free(struct objcache *oc)
{
	struct held *k;

	if (oc == NULL)
		return;
	while ((k = oc->held) != NULL) {
		oc->held = k->next;
		if (k->fd >= 0) {
			name_download(oc, k->fd, k->tmp, k->name);
			close(k->fd);
		}
		free(k);
	}
	pthread_cond_destroy(&oc->cv);
	pthread_mutex_destroy(&oc->mu);
	free(oc);
}
