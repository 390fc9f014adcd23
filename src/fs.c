/* SPDX-License-Identifier: MIT */
/* fs.c - FUSE operations over a snapshot of the catalog. */
#define _GNU_SOURCE	/* pthread_rwlock, strndup */
#define FUSE_USE_VERSION 31
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <fuse.h>

#include "twiliofs/fs.h"
#include "twiliofs/log.h"

#ifndef TFS_VERSION
#define TFS_VERSION "unknown"
#endif

#define STATUS_MAX 8192

enum node_type { NODE_DIR, NODE_FILE, NODE_LINK, NODE_STATUS };

struct node {
	char *name;
	enum node_type type;
	uint64_t ino;
	time_t mtime;
	struct node **kids;		/* directories: sorted by name */
	size_t nkids, capkids;
	struct item *item;		/* files */
	char *target;			/* symlinks */
	const char *cipher;		/* files: cipher name, once known */
};

/* What status.json counts, per kind. */
struct kind_counts {
	size_t files, processing, failed, pending;
};

struct tree {
	struct node *root;
	struct kind_counts counts[ITEM_KINDS + 1];
	struct fs_snapshot_info info;
};

struct fs {
	const struct fs_config *cfg;
	pthread_rwlock_t lock;		/* guards tree */
	struct tree *tree;
	uid_t uid;
	gid_t gid;
	time_t mounted;
	struct fuse *fuse;		/* for invalidations (set in init) */
	pthread_t refresher;
	int refresher_running;
	pthread_mutex_t stop_mu;
	pthread_cond_t stop_cv;
	int stopping;
};

/* An open file: a reader, or status.json's text as of open. */
struct open_file {
	struct reader *r;
	char *text;
	size_t text_len;
};

/* --- errno: the one table --- */

static int
to_errno(int code)
{
	switch (code) {
	case TFS_OK:
		return 0;
	case TFS_ERR_NOTFOUND:
		return ENOENT;
	case TFS_ERR_NOKEY:
	case TFS_ERR_AUTH:
		return EACCES;
	case TFS_ERR_NOMEM:
		return ENOMEM;
	case TFS_ERR_RANGE:
		return EINVAL;
	default:	/* integrity, truncation, network, expiry, I/O */
		return EIO;
	}
}

/* --- inode numbers: stable across remounts, derived from names --- */

static uint64_t
fnv1a(const char *s)
{
	uint64_t h = 0xcbf29ce484222325ULL;

	for (; *s != '\0'; s++) {
		h ^= (unsigned char)*s;
		h *= 0x100000001b3ULL;
	}
	/* 0 is invalid and 1 is the root's. */
	return h < 2 ? h + 2 : h;
}

/* --- building a tree --- */

static struct node *
node_new(const char *name, enum node_type type, const char *key)
{
	struct node *n = calloc(1, sizeof(*n));

	if (n == NULL)
		return NULL;
	n->name = strdup(name);
	if (n->name == NULL) {
		free(n);
		return NULL;
	}
	n->type = type;
	n->ino = key != NULL ? fnv1a(key) : 1;
	return n;
}

static void
node_free(struct node *n)
{
	size_t i;

	if (n == NULL)
		return;
	for (i = 0; i < n->nkids; i++)
		node_free(n->kids[i]);
	free(n->kids);
	free(n->item);
	free(n->target);
	free(n->name);
	free(n);
}

static struct node *
find_kid(const struct node *dir, const char *name, size_t len)
{
	size_t lo = 0, hi = dir->nkids, mid;
	int c;

	while (lo < hi) {
		mid = (lo + hi) / 2;
		c = strncmp(dir->kids[mid]->name, name, len);
		if (c == 0 && dir->kids[mid]->name[len] != '\0')
			c = 1;
		if (c == 0)
			return dir->kids[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

/* Add kid to dir, keeping the kids sorted; dir's mtime follows its
 * newest entry. Returns kid, or the existing node of that name. */
static struct node *
add_kid(struct node *dir, struct node *kid)
{
	struct node **grown;
	size_t pos;

	for (pos = dir->nkids; pos > 0 &&
	    strcmp(dir->kids[pos - 1]->name, kid->name) > 0; pos--)
		;
	if (pos > 0 && strcmp(dir->kids[pos - 1]->name, kid->name) == 0) {
		node_free(kid);
		return dir->kids[pos - 1];
	}
	if (dir->nkids == dir->capkids) {
		dir->capkids = dir->capkids == 0 ? 8 : dir->capkids * 2;
		grown = realloc(dir->kids, dir->capkids * sizeof(*grown));
		if (grown == NULL) {
			node_free(kid);
			return NULL;
		}
		dir->kids = grown;
	}
	memmove(dir->kids + pos + 1, dir->kids + pos,
	    (dir->nkids - pos) * sizeof(*dir->kids));
	dir->kids[pos] = kid;
	dir->nkids++;
	if (kid->mtime > dir->mtime)
		dir->mtime = kid->mtime;
	return kid;
}

/* The directory at path (made as needed), e.g. "video/recordings". */
static struct node *
mkdirs(struct node *root, const char *path, time_t mtime)
{
	char key[512], name[256];
	struct node *dir = root, *kid;
	const char *p = path, *slash;
	size_t len;

	while (*p != '\0') {
		slash = strchr(p, '/');
		len = slash != NULL ? (size_t)(slash - p) : strlen(p);
		if (len >= sizeof(name))
			return NULL;
		memcpy(name, p, len);
		name[len] = '\0';
		kid = find_kid(dir, name, len);
		if (kid == NULL) {
			(void)snprintf(key, sizeof(key), "dir:%.*s",
			    (int)(p - path + len), path);
			kid = add_kid(dir, node_new(name, NODE_DIR, key));
			if (kid == NULL)
				return NULL;
		}
		if (mtime > kid->mtime)
			kid->mtime = mtime;
		if (mtime > dir->mtime)
			dir->mtime = mtime;
		dir = kid;
		p += len;
		if (*p == '/')
			p++;
	}
	return dir;
}

static const char *
kind_dir(enum item_kind kind)
{
	switch (kind) {
	case ITEM_VIDEO_RECORDING:
		return "video/recordings";
	case ITEM_COMPOSITION:
		return "video/compositions";
	case ITEM_VOICE_RECORDING:
		return "voice/recordings";
	case ITEM_TRANSCRIPT:
		return "intelligence/transcripts";
	}
	return "other";
}

struct build {
	struct tree *t;
	int failed;
};

/* Count it in status.json's numbers; whether it becomes a file. */
static int
count_item(struct tree *t, const struct item *it)
{
	struct kind_counts *c = &t->counts[it->kind];

	if (strcmp(it->status, "completed") != 0) {
		if (strcmp(it->status, "processing") == 0 ||
		    strcmp(it->status, "in-progress") == 0 ||
		    strcmp(it->status, "queued") == 0 ||
		    strcmp(it->status, "enqueued") == 0)
			c->processing++;
		else if (strcmp(it->status, "deleted") != 0)
			c->failed++;
		return 0;
	}
	if (!it->media_known) {
		c->pending++;
		return 0;
	}
	c->files++;
	return 1;
}

static int
add_item(const struct item *it, void *arg)
{
	struct build *b = arg;
	char dir[256], file[96], key[160], day[16], target[256];
	struct node *d, *f, *l;
	struct tm tm;
	time_t when = (time_t)it->date_created;

	if (it->kind < 1 || it->kind > ITEM_KINDS ||
	    !count_item(b->t, it))
		return 0;
	(void)strftime(day, sizeof(day), "%Y-%m-%d", gmtime_r(&when, &tm));
	if (it->kind == ITEM_TRANSCRIPT && it->part == 0)
		(void)snprintf(dir, sizeof(dir), "%s/%s/%s", kind_dir(it->kind),
		    day, it->sid);
	else if (it->kind == ITEM_TRANSCRIPT)
		(void)snprintf(dir, sizeof(dir), "%s/%s/%s/operator-results",
		    kind_dir(it->kind), day, it->sid);
	else
		(void)snprintf(dir, sizeof(dir), "%s/%s", kind_dir(it->kind),
		    day);
	if (it->kind == ITEM_TRANSCRIPT && it->part == 0)
		(void)snprintf(file, sizeof(file), "sentences.json");
	else if (it->kind == ITEM_TRANSCRIPT)
		(void)snprintf(file, sizeof(file), "%d.json", it->part);
	else
		(void)snprintf(file, sizeof(file), "%s.%s", it->sid,
		    it->container[0] ? it->container : "bin");
	(void)snprintf(key, sizeof(key), "item:%s/%d", it->sid, it->part);
	d = mkdirs(b->t->root, dir, when);
	f = d != NULL ? node_new(file, NODE_FILE, key) : NULL;
	if (f != NULL) {
		f->mtime = when;
		f->item = malloc(sizeof(*f->item));
		if (f->item == NULL) {
			node_free(f);
			f = NULL;
		} else {
			*f->item = *it;
			f = add_kid(d, f);
		}
	}
	if (f == NULL) {
		b->failed = 1;
		return -1;
	}
	/* video/rooms/RM…/<file> -> ../../recordings|compositions/DAY/file */
	if ((it->kind == ITEM_VIDEO_RECORDING || it->kind == ITEM_COMPOSITION)
	    && it->room_sid[0] != '\0') {
		(void)snprintf(dir, sizeof(dir), "video/rooms/%s",
		    it->room_sid);
		(void)snprintf(target, sizeof(target), "../../%s/%s/%s",
		    it->kind == ITEM_VIDEO_RECORDING ? "recordings" :
		    "compositions", day, file);
		(void)snprintf(key, sizeof(key), "room:%s/%s", it->room_sid,
		    file);
		d = mkdirs(b->t->root, dir, when);
		l = d != NULL ? node_new(file, NODE_LINK, key) : NULL;
		if (l != NULL) {
			l->mtime = when;
			l->target = strdup(target);
			l = l->target != NULL ? add_kid(d, l) : (node_free(l),
			    NULL);
		}
		if (l == NULL) {
			b->failed = 1;
			return -1;
		}
	}
	return 0;
}

static void
tree_free(struct tree *t)
{
	if (t == NULL)
		return;
	node_free(t->root);
	free(t);
}

/* A fresh tree from the catalog (the fixed directories always exist). */
static int
tree_build(struct fs *fs, struct tree **out, struct tfs_error *err)
{
	static const char *const fixed[] = { "video/recordings",
	    "video/compositions", "video/rooms", "voice/recordings",
	    "intelligence/transcripts" };
	struct build b = { NULL, 0 };
	struct node *dot, *st;
	size_t i;
	int rc;

	*out = NULL;
	b.t = calloc(1, sizeof(*b.t));
	if (b.t == NULL || (b.t->root = node_new("", NODE_DIR, NULL)) ==
	    NULL) {
		tree_free(b.t);
		return tfs_error_set(err, TFS_ERR_NOMEM, "out of memory");
	}
	b.t->root->mtime = fs->mounted;
	for (i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++)
		if (mkdirs(b.t->root, fixed[i], 0) == NULL)
			b.failed = 1;
	rc = fs->cfg->snapshot(fs->cfg->arg, add_item, &b, &b.t->info, err);
	dot = mkdirs(b.t->root, ".twiliofs", fs->mounted);
	st = dot != NULL ? add_kid(dot, node_new("status.json", NODE_STATUS,
	    "status")) : NULL;
	if (st != NULL)
		st->mtime = fs->mounted;
	if (rc == TFS_OK && (b.failed || st == NULL))
		rc = tfs_error_set(err, TFS_ERR_NOMEM, "out of memory while "
		    "building the tree");
	if (rc != TFS_OK) {
		tree_free(b.t);
		return rc;
	}
	*out = b.t;
	return TFS_OK;
}

/* --- lookups (under the read lock) --- */

static struct fs *
fs_of_context(void)
{
	return fuse_get_context()->private_data;
}

static struct node *
lookup(struct tree *t, const char *path)
{
	struct node *n = t->root;
	const char *p = path, *slash;
	size_t len;

	while (*p == '/')
		p++;
	while (*p != '\0' && n != NULL) {
		if (n->type != NODE_DIR)
			return NULL;
		slash = strchr(p, '/');
		len = slash != NULL ? (size_t)(slash - p) : strlen(p);
		n = find_kid(n, p, len);
		p += len;
		while (*p == '/')
			p++;
	}
	return n;
}

/* status.json's text for tree t (the caller frees it). */
static char *
status_text(struct fs *fs, struct tree *t, size_t *len)
{
	static const char *const names[] = { "", "video_recordings",
	    "compositions", "voice_recordings", "transcripts" };
	char last_sid[ITEM_SID_LEN + 1] = "", *buf;
	size_t failures = 0, off = 0;
	int k, w;

	buf = malloc(STATUS_MAX);
	if (buf == NULL)
		return NULL;
	if (fs->cfg->readers != NULL)
		reader_pool_failures(fs->cfg->readers, &failures, last_sid);
	w = snprintf(buf, STATUS_MAX, "{\n  \"version\": \"%s\",\n"
	    "  \"account_sid\": \"%s\",\n  \"offline\": %s,\n"
	    "  \"last_sync\": %s%s%s,\n  \"kinds\": {\n", TFS_VERSION,
	    fs->cfg->account_sid, fs->cfg->offline ? "true" : "false",
	    t->info.last_sync[0] ? "\"" : "", t->info.last_sync[0] ?
	    t->info.last_sync : "null", t->info.last_sync[0] ? "\"" : "");
	off = w > 0 ? (size_t)w : 0;
	for (k = 1; k <= ITEM_KINDS && off < STATUS_MAX; k++) {
		w = snprintf(buf + off, STATUS_MAX - off, "    \"%s\": "
		    "{\"files\": %zu, \"processing\": %zu, \"failed\": %zu, "
		    "\"pending\": %zu}%s\n", names[k], t->counts[k].files,
		    t->counts[k].processing, t->counts[k].failed,
		    t->counts[k].pending, k < ITEM_KINDS ? "," : "");
		off += w > 0 ? (size_t)w : 0;
	}
	if (off < STATUS_MAX) {
		w = snprintf(buf + off, STATUS_MAX - off, "  },\n"
		    "  \"errors\": {\"integrity_failures\": %zu, "
		    "\"last_integrity_failure\": %s%s%s}\n}\n", failures,
		    last_sid[0] ? "\"" : "", last_sid[0] ? last_sid : "null",
		    last_sid[0] ? "\"" : "");
		off += w > 0 ? (size_t)w : 0;
	}
	if (off >= STATUS_MAX)
		off = STATUS_MAX - 1;
	*len = off;
	return buf;
}

static void
fill_stat(struct fs *fs, struct tree *t, const struct node *n,
    struct stat *st)
{
	int open = fs->cfg->allow_other;
	char *text;
	size_t len = 0;

	memset(st, 0, sizeof(*st));
	st->st_ino = n->ino;
	st->st_uid = fs->uid;
	st->st_gid = fs->gid;
	st->st_mtime = st->st_ctime = st->st_atime = n->mtime;
	st->st_nlink = 1;
	switch (n->type) {
	case NODE_DIR:
		st->st_mode = S_IFDIR | (open ? 0555 : 0500);
		st->st_nlink = 2;
		break;
	case NODE_FILE:
		st->st_mode = S_IFREG | (open ? 0444 : 0400);
		st->st_size = n->item->env.plaintext_size > 0 ?
		    n->item->env.plaintext_size : 0;
		st->st_blocks = (st->st_size + 511) / 512;
		break;
	case NODE_LINK:
		st->st_mode = S_IFLNK | 0777;
		st->st_size = (off_t)strlen(n->target);
		break;
	case NODE_STATUS:
		st->st_mode = S_IFREG | (open ? 0444 : 0400);
		text = status_text(fs, t, &len);
		st->st_size = (off_t)len;
		free(text);
		break;
	}
}

/*
 * status.json's size is cached by the kernel like any attribute; when what
 * it reports changes, drop the cached one so stat and read agree.
 */
static void
status_changed(struct fs *fs)
{
	if (fs->fuse != NULL)
		(void)fuse_invalidate_path(fs->fuse, "/.twiliofs/status.json");
}

/* --- FUSE operations --- */

static int
op_getattr(const char *path, struct stat *st, struct fuse_file_info *fi)
{
	struct fs *fs = fs_of_context();
	struct node *n;
	int rc = -ENOENT;

	(void)fi;
	pthread_rwlock_rdlock(&fs->lock);
	n = lookup(fs->tree, path);
	if (n != NULL) {
		fill_stat(fs, fs->tree, n, st);
		rc = 0;
	}
	pthread_rwlock_unlock(&fs->lock);
	return rc;
}

static int
op_readdir(const char *path, void *buf, fuse_fill_dir_t fill, off_t off,
    struct fuse_file_info *fi, enum fuse_readdir_flags flags)
{
	struct fs *fs = fs_of_context();
	struct stat st;
	struct node *n;
	size_t i;
	int rc = 0;

	(void)off;
	(void)fi;
	(void)flags;
	pthread_rwlock_rdlock(&fs->lock);
	n = lookup(fs->tree, path);
	if (n == NULL)
		rc = -ENOENT;
	else if (n->type != NODE_DIR)
		rc = -ENOTDIR;
	else {
		fill(buf, ".", NULL, 0, 0);
		fill(buf, "..", NULL, 0, 0);
		for (i = 0; i < n->nkids; i++) {
			fill_stat(fs, fs->tree, n->kids[i], &st);
			if (fill(buf, n->kids[i]->name, &st, 0, 0) != 0)
				break;
		}
	}
	pthread_rwlock_unlock(&fs->lock);
	return rc;
}

static int
op_readlink(const char *path, char *buf, size_t size)
{
	struct fs *fs = fs_of_context();
	struct node *n;
	int rc = -ENOENT;

	pthread_rwlock_rdlock(&fs->lock);
	n = lookup(fs->tree, path);
	if (n != NULL && n->type != NODE_LINK)
		rc = -EINVAL;
	else if (n != NULL) {
		(void)snprintf(buf, size, "%s", n->target);
		rc = 0;
	}
	pthread_rwlock_unlock(&fs->lock);
	return rc;
}

static int
op_open(const char *path, struct fuse_file_info *fi)
{
	struct fs *fs = fs_of_context();
	struct tfs_error err = { 0, "" };
	struct open_file *of;
	struct item it;
	struct node *n;
	int rc, is_status = 0;

	if ((fi->flags & O_ACCMODE) != O_RDONLY)
		return -EROFS;
	pthread_rwlock_rdlock(&fs->lock);
	n = lookup(fs->tree, path);
	rc = n == NULL ? -ENOENT : n->type == NODE_DIR ? -EISDIR : 0;
	if (rc == 0 && n->type == NODE_FILE)
		it = *n->item;
	is_status = rc == 0 && n->type == NODE_STATUS;
	of = rc == 0 ? calloc(1, sizeof(*of)) : NULL;
	if (rc == 0 && of == NULL)
		rc = -ENOMEM;
	if (rc == 0 && is_status) {
		of->text = status_text(fs, fs->tree, &of->text_len);
		if (of->text == NULL)
			rc = -ENOMEM;
	}
	pthread_rwlock_unlock(&fs->lock);
	if (rc == 0 && !is_status) {
		rc = reader_open(fs->cfg->readers, &it, &of->r, &err);
		if (rc != TFS_OK) {
			log_msg(TFS_LOG_WARN, "%s: %s", path, err.detail[0] ?
			    err.detail : tfs_strerror(rc));
			if (rc == TFS_ERR_INTEGRITY)
				status_changed(fs);
			rc = -to_errno(rc);
		}
	}
	if (rc != 0) {
		if (of != NULL)
			free(of->text);
		free(of);
		return rc;
	}
	fi->fh = (uint64_t)(uintptr_t)of;
	/* The content never changes: let the page cache keep it. Status
	 * changes: always ask us. */
	fi->keep_cache = !is_status;
	fi->direct_io = is_status;
	return 0;
}

static int
op_read(const char *path, char *buf, size_t size, off_t off,
    struct fuse_file_info *fi)
{
	struct open_file *of = (struct open_file *)(uintptr_t)fi->fh;
	struct tfs_error err = { 0, "" };
	size_t got = 0;
	int rc;

	if (of->text != NULL) {
		if ((size_t)off >= of->text_len)
			return 0;
		got = of->text_len - (size_t)off < size ? of->text_len -
		    (size_t)off : size;
		memcpy(buf, of->text + off, got);
		return (int)got;
	}
	rc = reader_read(of->r, buf, size, off, &got, &err);
	if (rc != TFS_OK) {
		if (rc == TFS_ERR_INTEGRITY)
			status_changed(fs_of_context());
		log_msg(TFS_LOG_WARN, "%s: read at %lld: %s", path,
		    (long long)off, err.detail[0] ? err.detail :
		    tfs_strerror(rc));
		return -to_errno(rc);
	}
	return (int)got;
}

static int
op_release(const char *path, struct fuse_file_info *fi)
{
	struct open_file *of = (struct open_file *)(uintptr_t)fi->fh;

	(void)path;
	if (of == NULL)
		return 0;
	reader_close(of->r);
	free(of->text);
	free(of);
	return 0;
}

/* The value of xattr name for n into out; 0 if it has none. */
static int
xattr_value(struct fs *fs, struct node *n, const char *name, char *out,
    size_t cap)
{
	static const char *const kinds[] = { "", "video_recording",
	    "composition", "voice_recording", "transcript" };
	const struct item *it = n->item;
	const char *v = NULL;
	char num[32];

	if (n->type != NODE_FILE || strncmp(name, "user.twilio.", 12) != 0)
		return 0;
	name += 12;
	if (strcmp(name, "sid") == 0)
		v = it->sid;
	else if (strcmp(name, "kind") == 0)
		v = it->kind == ITEM_TRANSCRIPT && it->part > 0 ?
		    "operator_result" : kinds[it->kind];
	else if (strcmp(name, "room_sid") == 0)
		v = it->room_sid;
	else if (strcmp(name, "participant_sid") == 0)
		v = it->participant_sid;
	else if (strcmp(name, "call_sid") == 0)
		v = it->call_sid;
	else if (strcmp(name, "track_name") == 0)
		v = it->track_name;
	else if (strcmp(name, "codec") == 0)
		v = it->codec;
	else if (strcmp(name, "public_key_sid") == 0)
		v = it->env.public_key_sid;
	else if (strcmp(name, "duration") == 0 && it->duration >= 0) {
		(void)snprintf(num, sizeof(num), "%lld", it->duration);
		v = num;
	} else if (strcmp(name, "encryption") == 0) {
		if (n->cipher == NULL)
			n->cipher = fs->cfg->cipher_name(fs->cfg->arg, it);
		v = n->cipher;
	}
	if (v == NULL || v[0] == '\0')
		return 0;
	(void)snprintf(out, cap, "%s", v);
	return 1;
}

static const char *const xattr_names[] = { "sid", "kind", "room_sid",
    "participant_sid", "call_sid", "track_name", "duration", "codec",
    "encryption", "public_key_sid" };

static int
op_getxattr(const char *path, const char *name, char *value, size_t size)
{
	struct fs *fs = fs_of_context();
	char v[256];
	struct node *n;
	size_t len;
	int rc;

	/* The write lock: the cipher name may be cached into the node. */
	pthread_rwlock_wrlock(&fs->lock);
	n = lookup(fs->tree, path);
	rc = n == NULL ? -ENOENT : xattr_value(fs, n, name, v, sizeof(v)) ?
	    0 : -ENODATA;
	pthread_rwlock_unlock(&fs->lock);
	if (rc != 0)
		return rc;
	len = strlen(v);
	if (size == 0)
		return (int)len;
	if (size < len)
		return -ERANGE;
	memcpy(value, v, len);
	return (int)len;
}

static int
op_listxattr(const char *path, char *list, size_t size)
{
	struct fs *fs = fs_of_context();
	char v[256], name[64];
	size_t i, total = 0, len;
	struct node *n;
	int rc = 0;

	pthread_rwlock_wrlock(&fs->lock);
	n = lookup(fs->tree, path);
	if (n == NULL)
		rc = -ENOENT;
	for (i = 0; rc == 0 && i < sizeof(xattr_names) /
	    sizeof(xattr_names[0]); i++) {
		(void)snprintf(name, sizeof(name), "user.twilio.%s",
		    xattr_names[i]);
		if (!xattr_value(fs, n, name, v, sizeof(v)))
			continue;
		len = strlen(name) + 1;
		if (size > 0 && total + len > size) {
			rc = -ERANGE;
			break;
		}
		if (size > 0)
			memcpy(list + total, name, len);
		total += len;
	}
	pthread_rwlock_unlock(&fs->lock);
	return rc != 0 ? rc : (int)total;
}

/* --- refresh --- */

static void *
refresher(void *arg)
{
	struct fs *fs = arg;
	struct tfs_error err;
	struct timespec until;
	struct tree *t, *old;
	int stop;

	for (;;) {
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += fs->cfg->refresh;
		pthread_mutex_lock(&fs->stop_mu);
		while (!fs->stopping && pthread_cond_timedwait(&fs->stop_cv,
		    &fs->stop_mu, &until) == 0)
			;
		stop = fs->stopping;
		pthread_mutex_unlock(&fs->stop_mu);
		if (stop)
			break;
		tfs_error_clear(&err);
		if (fs->cfg->refresh_catalog(fs->cfg->arg, &err) != TFS_OK) {
			log_msg(TFS_LOG_WARN, "refresh: %s; still serving the "
			    "catalog as it was", err.detail);
			continue;
		}
		tfs_error_clear(&err);
		if (tree_build(fs, &t, &err) != TFS_OK) {
			log_msg(TFS_LOG_WARN, "refresh: %s", err.detail);
			continue;
		}
		pthread_rwlock_wrlock(&fs->lock);
		old = fs->tree;
		fs->tree = t;
		pthread_rwlock_unlock(&fs->lock);
		tree_free(old);
		status_changed(fs);
	}
	return NULL;
}

static void *
op_init(struct fuse_conn_info *conn, struct fuse_config *cfg)
{
	struct fs *fs = fuse_get_context()->private_data;

	(void)conn;
	fs->fuse = fuse_get_context()->fuse;
	/* Our inode numbers are stable; names and sizes never change. */
	cfg->use_ino = 1;
	cfg->readdir_ino = 1;
	cfg->entry_timeout = 60;
	cfg->attr_timeout = 60;
	cfg->negative_timeout = 1;
	if (!fs->cfg->foreground)
		log_use_syslog();
	/* Threads are started here, in the daemon, after the fork. */
	if (fs->cfg->refresh > 0 && !fs->cfg->offline &&
	    pthread_create(&fs->refresher, NULL, refresher, fs) == 0)
		fs->refresher_running = 1;
	return fs;
}

static void
op_destroy(void *data)
{
	struct fs *fs = data;

	if (!fs->refresher_running)
		return;
	pthread_mutex_lock(&fs->stop_mu);
	fs->stopping = 1;
	pthread_cond_signal(&fs->stop_cv);
	pthread_mutex_unlock(&fs->stop_mu);
	pthread_join(fs->refresher, NULL);
	fs->refresher_running = 0;
}

static const struct fuse_operations ops = {
	.init = op_init,
	.destroy = op_destroy,
	.getattr = op_getattr,
	.readdir = op_readdir,
	.readlink = op_readlink,
	.open = op_open,
	.read = op_read,
	.release = op_release,
	.getxattr = op_getxattr,
	.listxattr = op_listxattr,
};

int
fs_main(const struct fs_config *cfg, struct tfs_error *err)
{
	char opts[1400];
	char *argv[12];
	struct fs fs;
	int argc = 0, rc;

	memset(&fs, 0, sizeof(fs));
	fs.cfg = cfg;
	fs.uid = getuid();
	fs.gid = getgid();
	fs.mounted = time(NULL);
	pthread_rwlock_init(&fs.lock, NULL);
	pthread_mutex_init(&fs.stop_mu, NULL);
	pthread_cond_init(&fs.stop_cv, NULL);
	/*
	 * The first tree is built before the fork, so a mount never shows
	 * up empty; the snapshot reads the catalog without network.
	 */
	rc = tree_build(&fs, &fs.tree, err);
	if (rc != TFS_OK)
		goto out;
	if (snprintf(opts, sizeof(opts), "ro,fsname=twiliofs:%s,"
	    "subtype=twiliofs,default_permissions%s%s", cfg->account_sid,
	    cfg->fuse_opts != NULL && cfg->fuse_opts[0] ? "," : "",
	    cfg->fuse_opts != NULL ? cfg->fuse_opts : "") >=
	    (int)sizeof(opts)) {
		rc = tfs_error_set(err, TFS_ERR_CONFIG, "mount options too "
		    "long");
		goto out;
	}
	argv[argc++] = "twiliofs";
	argv[argc++] = (char *)cfg->mountpoint;
	argv[argc++] = "-o";
	argv[argc++] = opts;
	if (cfg->foreground)
		argv[argc++] = "-f";
	if (cfg->debug)
		argv[argc++] = "-d";
	if (cfg->single_thread)
		argv[argc++] = "-s";
	argv[argc] = NULL;
	if (fuse_main(argc, argv, &ops, &fs) != 0)
		rc = tfs_error_set(err, TFS_ERR_CONFIG, "%s: cannot mount; "
		    "see the FUSE message above (is it an empty directory "
		    "you own, and is /dev/fuse there?)", cfg->mountpoint);
out:
	pthread_rwlock_wrlock(&fs.lock);
	tree_free(fs.tree);
	fs.tree = NULL;
	pthread_rwlock_unlock(&fs.lock);
	pthread_rwlock_destroy(&fs.lock);
	pthread_mutex_destroy(&fs.stop_mu);
	pthread_cond_destroy(&fs.stop_cv);
	return rc;
}
