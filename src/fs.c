/* SPDX-License-Identifier: MIT */
/* fs.c - FUSE operations over a snapshot of the catalog. */
#define _GNU_SOURCE	/* pthread_rwlock, strndup */
/* 3.12: fuse_parse_cmdline and fuse_session_loop_mt with struct
 * fuse_loop_config */
#define FUSE_USE_VERSION 312
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <malloc.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <time.h>
#include <unistd.h>

/*
 * The low-level API: the tree's own inode numbers are the kernel's node
 * ids. The high-level one keeps a node, a name and two hash entries per
 * path the kernel has looked up (~600 bytes an item after an ls -lR of
 * 20,000 items), and libfuse 3.14's drops the opendir flags that let the
 * kernel keep listings (fixed in 3.16.1).
 */
#include <fuse_lowlevel.h>

#include "twiliofs/fs.h"
#include "twiliofs/log.h"

#ifndef TFS_VERSION
#define TFS_VERSION "unknown"
#endif

/* statfs(2)'s f_type of a FUSE file system (linux/magic.h). */
#define FUSE_SUPER_MAGIC 0x65735546

enum node_type { NODE_DIR, NODE_FILE, NODE_LINK, NODE_STATUS };

/*
 * One entry of the tree. A mount of a million recordings holds a million
 * of these: only what getattr and readdir need lives here (the rest of an
 * item stays in the catalog, read on open and for xattrs), allocated from
 * the tree's arena, name inline.
 */
struct node {
	uint64_t ino;			/* also the kernel's node id */
	int64_t mtime;
	struct node *parent;		/* NULL for the root */
	union {
		struct {
			/* By name once built; while building, room for
			 * a power of two of them (at least 4). */
			struct node **kids;
			uint32_t nkids;
			uint32_t version;	/* of its listing */
		} dir;
		struct {
			int64_t size;		/* plaintext bytes */
			uint32_t version;	/* ETag, size, mtime */
		} file;
		const struct node *target;	/* symlinks: the file */
	} u;
	uint8_t type;			/* enum node_type */
	char name[];
};

/* Memory that lives and dies with one tree: no free per node. */
struct chunk {
	struct chunk *next;
	size_t used, cap;
	max_align_t mem[];
};

/* Nodes by inode number: open addressing, at most 4/5 full. */
struct ino_index {
	struct node **slot;
	size_t cap, n;
};

struct tree {
	struct node *root;
	struct ino_index nodes;		/* all, by the kernel's ids */
	struct chunk *arena;
	struct status *status;		/* what status.json says of it */
	struct fs_snapshot_info info;
};

struct fs {
	const struct fs_config *cfg;
	pthread_rwlock_t lock;		/* guards tree */
	struct tree *tree;
	uid_t uid;
	gid_t gid;
	mode_t fmode, dmode;		/* permission bits of files, dirs */
	time_t mounted;
	struct fuse_session *se;	/* for invalidations */
	pthread_t loop_thread;		/* runs the session's loop */
	atomic_int loop_done;		/* it has returned */
	pthread_t refresher;
	int refresher_running;
	pthread_mutex_t stop_mu;
	pthread_cond_t stop_cv;
	int stopping;
	atomic_int cancel;		/* set to cut a refresh short */
	time_t swapped;			/* the tree was last built */
	pthread_mutex_t sync_mu;	/* guards the sync* fields */
	struct status_sync sync;	/* the refresh under way, if any */
	enum item_kind sync_kind;	/* the kind being listed */
	size_t sync_listed_before;	/* records of the kinds before it */
};

/* An open file: a reader, or status.json's text as of open. */
struct open_file {
	struct reader *r;
	char *text;
	size_t text_len;
	char *path;			/* for messages */
	char sid[ITEM_SID_LEN + 1];	/* the item read, for stale() */
	int part;
	atomic_int stale_noted;		/* stale() said once per open */
};

/* The object changed upstream: the next refresh probes it again. */
static void
note_stale(struct fs *fs, struct open_file *of)
{
	if (fs->cfg->stale != NULL && !atomic_exchange(&of->stale_noted, 1))
		fs->cfg->stale(fs->cfg->arg, of->sid, of->part);
}

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
	case TFS_ERR_INTERRUPTED:
		return EINTR;
	default:	/* integrity, truncation, network, expiry, I/O */
		return EIO;
	}
}

/* The request this thread serves, if any: readers ask whether it was
 * interrupted while they wait (fs_interrupted). */
static _Thread_local fuse_req_t serving;

int
fs_interrupted(void)
{
	return serving != NULL && fuse_req_interrupted(serving);
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

/* A 32-bit mix of v into h: versions of listings and objects. */
static uint32_t
mix(uint32_t h, uint64_t v)
{
	h ^= (uint32_t)v ^ (uint32_t)(v >> 32);
	return h * 16777619u;
}

/* --- building a tree --- */

#define CHUNK_BYTES (1 << 20)

static void *
arena_alloc(struct tree *t, size_t n)
{
	struct chunk *c = t->arena;
	size_t cap;
	void *p;

	/* Nodes hold no wider field than 8 bytes: no 16-byte rounding. */
	n = (n + _Alignof(struct node) - 1) / _Alignof(struct node) *
	    _Alignof(struct node);
	if (c == NULL || c->cap - c->used < n) {
		cap = n > CHUNK_BYTES ? n : CHUNK_BYTES;
		c = malloc(sizeof(*c) + cap);
		if (c == NULL)
			return NULL;
		c->next = t->arena;
		c->used = 0;
		c->cap = cap;
		t->arena = c;
	}
	p = (char *)c->mem + c->used;
	c->used += n;
	return p;
}

static struct node *
node_new(struct tree *t, const char *name, enum node_type type,
    const char *key)
{
	size_t len = strlen(name);
	struct node *n = arena_alloc(t, sizeof(*n) + len + 1);

	if (n == NULL)
		return NULL;
	memset(n, 0, sizeof(*n));
	memcpy(n->name, name, len + 1);
	n->type = (uint8_t)type;
	n->ino = key != NULL ? fnv1a(key) : 1;
	return n;
}

/* A room link's name is its file's: kept once, in the file's node. */
static const char *
node_name(const struct node *n)
{
	return n->type == NODE_LINK ? n->u.target->name : n->name;
}

/* The kids arrays are the only memory of a tree outside its arena. */
static void
node_free_kids(struct node *n)
{
	uint32_t i;

	if (n == NULL || n->type != NODE_DIR)
		return;
	for (i = 0; i < n->u.dir.nkids; i++)
		node_free_kids(n->u.dir.kids[i]);
	free(n->u.dir.kids);
}

static struct node *
find_kid(const struct node *dir, const char *name, size_t len)
{
	size_t lo = 0, hi = dir->u.dir.nkids, mid;
	int c;

	while (lo < hi) {
		mid = (lo + hi) / 2;
		c = strncmp(node_name(dir->u.dir.kids[mid]), name, len);
		if (c == 0 && node_name(dir->u.dir.kids[mid])[len] != '\0')
			c = 1;
		if (c == 0)
			return dir->u.dir.kids[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

/*
 * Append kid to dir (sorted once the tree is built, in O(n log n): a
 * sorted insert per kid made a 20,000-link rooms directory quadratic).
 * dir's mtime follows its newest entry. NULL when out of memory.
 */
static struct node *
add_kid(struct node *dir, struct node *kid)
{
	struct node **grown;
	uint32_t n = dir->u.dir.nkids;

	if (kid == NULL)
		return NULL;
	/* Full at 0 and at each power of two from 4 on: double. */
	if (n == 0 || (n >= 4 && (n & (n - 1)) == 0)) {
		grown = realloc(dir->u.dir.kids, (n == 0 ? 4 : 2 * (size_t)n) *
		    sizeof(*grown));
		if (grown == NULL)
			return NULL;
		dir->u.dir.kids = grown;
	}
	dir->u.dir.kids[dir->u.dir.nkids++] = kid;
	kid->parent = dir;
	if (kid->mtime > dir->mtime)
		dir->mtime = kid->mtime;
	return kid;
}

/*
 * Nodes by inode (a hash of their path): the directories while building
 * (finding "video/rooms/RM…" again is O(1), whatever order items come
 * in), and every node of a built tree (the kernel names them by it).
 */
static struct node *
index_find(const struct ino_index *x, uint64_t ino)
{
	size_t i;

	if (x->cap == 0)
		return NULL;
	for (i = ino % x->cap; x->slot[i] != NULL; i = (i + 1) % x->cap)
		if (x->slot[i]->ino == ino)
			return x->slot[i];
	return NULL;
}

static void
index_put(struct ino_index *x, struct node *n)
{
	size_t i;

	for (i = n->ino % x->cap; x->slot[i] != NULL; i = (i + 1) % x->cap)
		;
	x->slot[i] = n;
	x->n++;
}

/* Room for cap slots (any number: inode numbers are hashes already). */
static int
index_resize(struct ino_index *x, size_t cap)
{
	struct ino_index big = { calloc(cap, sizeof(*big.slot)), cap, 0 };
	size_t i;

	if (big.slot == NULL)
		return -1;
	for (i = 0; i < x->cap; i++)
		if (x->slot[i] != NULL)
			index_put(&big, x->slot[i]);
	free(x->slot);
	*x = big;
	return 0;
}

/* Add n, growing at 4/5 full (linear probing stays short). */
static int
index_add(struct ino_index *x, struct node *n)
{
	if (5 * (x->n + 1) > 4 * x->cap &&
	    index_resize(x, x->cap == 0 ? 64 : 2 * x->cap) != 0)
		return -1;
	index_put(x, n);
	return 0;
}

struct build {
	struct tree *t;
	struct ino_index dirs;
	int failed;
};

/* The directory at path (made as needed), e.g. "video/recordings". */
static struct node *
mkdirs(struct build *b, const char *path, time_t mtime)
{
	char key[512];
	struct node *dir = b->t->root, *kid;
	const char *p = path, *slash;
	size_t len;

	while (*p != '\0') {
		slash = strchr(p, '/');
		len = slash != NULL ? (size_t)(slash - p) : strlen(p);
		if (snprintf(key, sizeof(key), "dir:%.*s",
		    (int)(p - path + len), path) >= (int)sizeof(key))
			return NULL;
		kid = index_find(&b->dirs, fnv1a(key));
		if (kid == NULL) {
			kid = node_new(b->t, key + 4 + (p - path), NODE_DIR,
			    key);
			if (kid == NULL || add_kid(dir, kid) == NULL ||
			    index_add(&b->dirs, kid) != 0)
				return NULL;
			kid->name[len] = '\0';
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

static int
by_name(const void *a, const void *b)
{
	return strcmp(node_name(*(struct node *const *)a),
	    node_name(*(struct node *const *)b));
}

/* Sort every listing once, drop repeated names, give it a version. */
static void
finish_dir(struct node *dir)
{
	struct node **k = dir->u.dir.kids, **fit;
	uint32_t i, n = 0, v = 2166136261u;

	if (dir->u.dir.nkids > 1)
		qsort(k, dir->u.dir.nkids, sizeof(*k), by_name);
	for (i = 0; i < dir->u.dir.nkids; i++) {
		if (n > 0 && strcmp(node_name(k[n - 1]), node_name(k[i])) ==
		    0) {
			node_free_kids(k[i]);
			continue;
		}
		k[n++] = k[i];
		/* Names too: a file may keep its inode under a new name. */
		v = mix(mix(v, k[i]->ino), fnv1a(node_name(k[i])));
		if (k[i]->type == NODE_DIR)
			finish_dir(k[i]);
	}
	dir->u.dir.nkids = n;
	dir->u.dir.version = v;
	/* Built once, read many times: no spare slots. */
	fit = n > 0 ? realloc(k, n * sizeof(*k)) : NULL;
	if (n == 0)
		free(k);
	dir->u.dir.kids = n == 0 ? NULL : fit != NULL ? fit : k;
}

static size_t
count_nodes(const struct node *n)
{
	size_t c = 1;
	uint32_t i;

	for (i = 0; n->type == NODE_DIR && i < n->u.dir.nkids; i++)
		c += count_nodes(n->u.dir.kids[i]);
	return c;
}

/* Index n and everything under it by inode; -1 when out of memory. */
static int
index_tree(struct ino_index *x, struct node *n)
{
	uint32_t i;

	if (index_add(x, n) != 0)
		return -1;
	for (i = 0; n->type == NODE_DIR && i < n->u.dir.nkids; i++)
		if (index_tree(x, n->u.dir.kids[i]) != 0)
			return -1;
	return 0;
}

/* The item's file name and directory, as the tree shows them. */
static void
item_place(const struct item *it, const struct kind_info *ki,
    const char *day, char *dir, size_t dcap, char *file, size_t fcap)
{
	if (ki->parts_dir == NULL) {
		(void)snprintf(dir, dcap, "%s/%s", ki->dir, day);
		(void)snprintf(file, fcap, "%s.%s", it->sid,
		    it->container[0] ? it->container : "bin");
	} else if (it->part == ITEM_PART_MAIN) {
		(void)snprintf(dir, dcap, "%s/%s/%s", ki->dir, day, it->sid);
		(void)snprintf(file, fcap, "%s", ki->main_file);
	} else {
		(void)snprintf(dir, dcap, "%s/%s/%s/%s", ki->dir, day,
		    it->sid, ki->parts_dir);
		(void)snprintf(file, fcap, "%d.json", it->part);
	}
}

/* video/rooms/RM…/<file> -> ../../recordings|compositions/DAY/file:
 * the link keeps the file's node, its text is made when asked. */
static int
add_room_link(struct build *b, const struct item *it, const char *file,
    const struct node *f)
{
	char dir[96], key[160];
	struct node *d, *l;
	time_t when = (time_t)it->date_created;

	(void)snprintf(dir, sizeof(dir), "video/rooms/%s", it->room_sid);
	(void)snprintf(key, sizeof(key), "room:%s/%s", it->room_sid, file);
	d = mkdirs(b, dir, when);
	l = d != NULL ? node_new(b->t, "", NODE_LINK, key) : NULL;
	if (l == NULL)
		return -1;
	l->u.target = f;
	l->mtime = when;
	return add_kid(d, l) != NULL ? 0 : -1;
}

static int
add_item(const struct item *it, void *arg)
{
	struct build *b = arg;
	char dir[256], file[96], key[160], day[16];
	struct node *d, *f;
	struct tm tm;
	time_t when = (time_t)it->date_created;
	const struct kind_info *ki = kind_info(it->kind);

	if (ki == NULL || !status_note(b->t->status, it))
		return 0;
	(void)strftime(day, sizeof(day), "%Y-%m-%d", gmtime_r(&when, &tm));
	item_place(it, ki, day, dir, sizeof(dir), file, sizeof(file));
	(void)snprintf(key, sizeof(key), "item:%s/%d", it->sid, it->part);
	d = mkdirs(b, dir, when);
	f = d != NULL ? node_new(b->t, file, NODE_FILE, key) : NULL;
	if (f != NULL) {
		f->mtime = when;
		f->u.file.size = it->env.plaintext_size > 0 ?
		    it->env.plaintext_size : 0;
		f->u.file.version = mix(mix((uint32_t)fnv1a(it->etag),
		    (uint64_t)f->u.file.size), (uint64_t)f->mtime);
		f = add_kid(d, f);
	}
	if (f == NULL || (ki->rooms && it->room_sid[0] != '\0' &&
	    add_room_link(b, it, file, f) != 0)) {
		b->failed = 1;
		return -1;
	}
	return 0;
}

static void
tree_free(struct tree *t)
{
	struct chunk *c, *next;

	if (t == NULL)
		return;
	node_free_kids(t->root);
	free(t->nodes.slot);
	for (c = t->arena; c != NULL; c = next) {
		next = c->next;
		free(c);
	}
	status_free(t->status);
	free(t);
}

/* A fresh tree from the catalog (the fixed directories always exist). */
static int
tree_build(struct fs *fs, struct tree **out, struct tfs_error *err)
{
	static const char *const fixed[] = { "video/recordings",
	    "video/compositions", "video/rooms", "voice/recordings",
	    "intelligence/transcripts" };
	struct build b = { NULL, { NULL, 0, 0 }, 0 };
	struct node *dot, *st;
	size_t i;
	int rc;

	*out = NULL;
	b.t = calloc(1, sizeof(*b.t));
	if (b.t == NULL || (b.t->root = node_new(b.t, "", NODE_DIR, NULL)) ==
	    NULL || (b.t->status = status_new()) == NULL) {
		tree_free(b.t);
		return tfs_error_set(err, TFS_ERR_NOMEM, "out of memory");
	}
	b.t->root->mtime = fs->mounted;
	for (i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++)
		if (mkdirs(&b, fixed[i], 0) == NULL)
			b.failed = 1;
	rc = fs->cfg->snapshot(fs->cfg->arg, add_item, &b, &b.t->info, err);
	status_set_last_sync(b.t->status, b.t->info.last_sync);
	for (i = 0; i < KIND_PRODUCTS; i++)
		status_set_product(b.t->status, (enum kind_product)i,
		    &b.t->info.products[i]);
	dot = mkdirs(&b, ".twiliofs", fs->mounted);
	st = dot != NULL ? add_kid(dot, node_new(b.t, "status.json",
	    NODE_STATUS, "status")) : NULL;
	if (st != NULL)
		st->mtime = fs->mounted;
	free(b.dirs.slot);
	finish_dir(b.t->root);
	/* Sized once, 4/5 full: a tree's index is its biggest array. */
	if (index_resize(&b.t->nodes, count_nodes(b.t->root) * 5 / 4 + 1) !=
	    0 || index_tree(&b.t->nodes, b.t->root) != 0)
		b.failed = 1;
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
fs_of(fuse_req_t req)
{
	return fuse_req_userdata(req);
}

/* The node the kernel calls ino in tree t; NULL if t has none. */
static struct node *
node_of(struct tree *t, fuse_ino_t ino)
{
	return ino == FUSE_ROOT_ID ? t->root : index_find(&t->nodes, ino);
}

/* n's path from the root ("/video/…"); -1 if longer than cap. */
static int
node_path(const struct node *n, char *buf, size_t cap)
{
	const struct node *up[16];
	size_t depth = 0, len = 0;
	int w;

	for (; n != NULL && n->parent != NULL; n = n->parent) {
		if (depth == sizeof(up) / sizeof(up[0]))
			return -1;
		up[depth++] = n;
	}
	(void)snprintf(buf, cap, "/");
	while (depth > 0) {
		w = snprintf(buf + len, cap - len, "/%s",
		    node_name(up[--depth]));
		if (w < 0 || (size_t)w >= cap - len)
			return -1;
		len += (size_t)w;
	}
	return 0;
}

/* Room links' texts fit this; paths are a few dozen bytes. */
#define LINK_TEXT_MAX 512

/*
 * A room's link's text, into buf (LINK_TEXT_MAX bytes): from video/rooms/RM…
 * up to video, then the file's path under video. Its length, 0 if none.
 */
static size_t
link_text(const struct node *l, char *buf)
{
	char path[LINK_TEXT_MAX];
	const char *under;
	int w;

	buf[0] = '\0';
	if (node_path(l->u.target, path, sizeof(path)) != 0 ||
	    (under = strchr(path + 1, '/')) == NULL)
		return 0;
	w = snprintf(buf, LINK_TEXT_MAX, "../..%s", under);
	if (w > 0 && w < LINK_TEXT_MAX)
		return (size_t)w;
	buf[0] = '\0';
	return 0;
}

static int
same_target(const struct node *a, const struct node *b)
{
	char ta[LINK_TEXT_MAX], tb[LINK_TEXT_MAX];

	(void)link_text(a, ta);
	(void)link_text(b, tb);
	return strcmp(ta, tb) == 0;
}

/* status.json's text for tree t (the caller frees it). */
static char *
status_text(struct fs *fs, struct tree *t, size_t *len)
{
	char last_sid[ITEM_SID_LEN + 1] = "";
	struct status_mount m;

	memset(&m, 0, sizeof(m));
	if (fs->cfg->readers != NULL)
		reader_pool_failures(fs->cfg->readers, &m.read_integrity,
		    last_sid);
	m.version = TFS_VERSION;
	m.account_sid = fs->cfg->account_sid;
	pthread_mutex_lock(&fs->sync_mu);
	m.sync = fs->sync;
	pthread_mutex_unlock(&fs->sync_mu);
	m.offline = fs->cfg->offline;
	m.read_integrity_sid = last_sid;
	return status_render(t->status, &m, len);
}

static void
fill_stat(struct fs *fs, struct tree *t, const struct node *n,
    struct stat *st)
{
	char *text, text_buf[LINK_TEXT_MAX];
	size_t len = 0;

	memset(st, 0, sizeof(*st));
	st->st_ino = n->ino;
	st->st_uid = fs->uid;
	st->st_gid = fs->gid;
	st->st_mtime = st->st_ctime = st->st_atime = n->mtime;
	st->st_nlink = 1;
	switch (n->type) {
	case NODE_DIR:
		st->st_mode = S_IFDIR | fs->dmode;
		st->st_nlink = 2;
		break;
	case NODE_FILE:
		st->st_mode = S_IFREG | fs->fmode;
		st->st_size = n->u.file.size;
		/* No sum that could overflow, whatever the size. */
		st->st_blocks = st->st_size / 512 + (st->st_size % 512 != 0);
		break;
	case NODE_LINK:
		st->st_mode = S_IFLNK | 0777;
		st->st_size = (off_t)link_text(n, text_buf);
		break;
	case NODE_STATUS:
		st->st_mode = S_IFREG | fs->fmode;
		text = status_text(fs, t, &len);
		st->st_size = (off_t)len;
		free(text);
		break;
	}
}

/* What the kernel may keep of n: everything for as long as a tree lives
 * (a new tree invalidates what changed: invalidate_changed). */
#define KEEP_S 300.0
/* How long "no such entry" is kept: new items come with a refresh. */
#define KEEP_ABSENT_S 1.0

/* status.json's text (so its size) changes all through a sync: its
 * attributes are never kept: a stat says the size of now (an open
 * reads the text as of its open). */
static double
attr_keep(const struct node *n)
{
	return n->type == NODE_STATUS ? 0.0 : KEEP_S;
}

static void
fill_entry(struct fs *fs, struct tree *t, const struct node *n,
    struct fuse_entry_param *e)
{
	memset(e, 0, sizeof(*e));
	e->ino = n->ino;
	fill_stat(fs, t, n, &e->attr);
	e->attr_timeout = attr_keep(n);
	e->entry_timeout = KEEP_S;
}

/* --- FUSE operations --- */

static void
op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct fs *fs = fs_of(req);
	struct fuse_entry_param e;
	struct node *dir, *n = NULL;
	int rc = 0;

	pthread_rwlock_rdlock(&fs->lock);
	dir = node_of(fs->tree, parent);
	if (dir == NULL)
		rc = ENOENT;
	else if (dir->type != NODE_DIR)
		rc = ENOTDIR;
	else
		n = find_kid(dir, name, strlen(name));
	if (n != NULL)
		fill_entry(fs, fs->tree, n, &e);
	pthread_rwlock_unlock(&fs->lock);
	if (rc != 0) {
		fuse_reply_err(req, rc);
		return;
	}
	if (n == NULL) {
		memset(&e, 0, sizeof(e));	/* kept as absent a while */
		e.entry_timeout = KEEP_ABSENT_S;
	}
	fuse_reply_entry(req, &e);
}

static void
op_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fs *fs = fs_of(req);
	double keep = 0;
	struct stat st;
	struct node *n;

	(void)fi;
	pthread_rwlock_rdlock(&fs->lock);
	n = node_of(fs->tree, ino);
	if (n != NULL) {
		fill_stat(fs, fs->tree, n, &st);
		keep = attr_keep(n);
	}
	pthread_rwlock_unlock(&fs->lock);
	if (n == NULL)
		fuse_reply_err(req, ENOENT);
	else
		fuse_reply_attr(req, &st, keep);
}

/*
 * Entry k of dir's listing into buf (at most room bytes), at offset k
 * ("." and ".." are 0 and 1); its length, more than room if it did not
 * fit. With readdirplus the kernel takes each entry's attributes from
 * the listing: no lookup per entry for ls -l or rsync.
 */
static size_t
add_dirent(fuse_req_t req, struct tree *t, const struct node *dir,
    size_t k, int plus, char *buf, size_t room)
{
	struct fs *fs = fs_of(req);
	struct fuse_entry_param e;
	const char *name = k == 0 ? "." : "..";

	memset(&e, 0, sizeof(e));
	if (k >= 2) {
		name = node_name(dir->u.dir.kids[k - 2]);
		fill_entry(fs, t, dir->u.dir.kids[k - 2], &e);
	} else {
		/* No entry for these two: the kernel knows them. */
		e.attr.st_ino = k == 0 || dir->parent == NULL ? dir->ino :
		    dir->parent->ino;
		e.attr.st_mode = S_IFDIR;
	}
	if (plus)
		return fuse_add_direntry_plus(req, buf, room, name, &e,
		    (off_t)k + 1);
	return fuse_add_direntry(req, buf, room, name, &e.attr, (off_t)k + 1);
}

static void
readdir_common(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
    int plus)
{
	struct fs *fs = fs_of(req);
	size_t k, used = 0, len;
	struct node *dir;
	char *buf = malloc(size);
	int rc = 0;

	if (buf == NULL) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	pthread_rwlock_rdlock(&fs->lock);
	dir = node_of(fs->tree, ino);
	if (dir == NULL)
		rc = ENOENT;
	else if (dir->type != NODE_DIR)
		rc = ENOTDIR;
	for (k = off < 0 ? 0 : (size_t)off; rc == 0 && k < (size_t)
	    dir->u.dir.nkids + 2; k++) {
		len = add_dirent(req, fs->tree, dir, k, plus, buf + used,
		    size - used);
		if (len > size - used)
			break;
		used += len;
	}
	pthread_rwlock_unlock(&fs->lock);
	if (rc != 0)
		fuse_reply_err(req, rc);
	else
		fuse_reply_buf(req, buf, used);
	free(buf);
}

static void
op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
    struct fuse_file_info *fi)
{
	(void)fi;
	readdir_common(req, ino, size, off, 0);
}

static void
op_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
    struct fuse_file_info *fi)
{
	(void)fi;
	readdir_common(req, ino, size, off, 1);
}

/* Listings change only with a new tree, which invalidates what changed:
 * the kernel may keep them. */
static void
op_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	(void)ino;
	fi->cache_readdir = 1;
	fi->keep_cache = 1;
	fuse_reply_open(req, fi);
}

static void
op_readlink(fuse_req_t req, fuse_ino_t ino)
{
	struct fs *fs = fs_of(req);
	char target[LINK_TEXT_MAX];
	struct node *n;
	int rc = 0;

	pthread_rwlock_rdlock(&fs->lock);
	n = node_of(fs->tree, ino);
	if (n == NULL)
		rc = ENOENT;
	else if (n->type != NODE_LINK)
		rc = EINVAL;
	else if (link_text(n, target) == 0)
		rc = EIO;	/* cannot be: paths are short */
	pthread_rwlock_unlock(&fs->lock);
	if (rc != 0)
		fuse_reply_err(req, rc);
	else
		fuse_reply_readlink(req, target);
}

/*
 * The (sid, part) of the file at path, as the tree names files: …/DAY/
 * SID.ext, …/DAY/SID/main_file, …/DAY/SID/parts_dir/N.json. 0, or -1 for
 * a path that names no item.
 */
static int
item_key(const char *path, char sid[ITEM_SID_LEN + 1], int *part)
{
	const char *c[8], *p = path;
	const struct kind_info *ki;
	char *end;
	size_t n = 0;
	long v;

	while (*p != '\0' && n < 8) {
		while (*p == '/')
			p++;
		if (*p != '\0')
			c[n++] = p;
		p += strcspn(p, "/");
	}
	*part = 0;
	sid[0] = '\0';
	if (n < 2)
		return -1;
	/* A flat kind's file, or a transcript's directory. */
	(void)snprintf(sid, ITEM_SID_LEN + 1, "%s", c[n - 1]);
	ki = kind_info(kind_of_sid(sid));
	if (ki != NULL && ki->parts_dir == NULL &&
	    c[n - 1][ITEM_SID_LEN] == '.')
		return 0;
	(void)snprintf(sid, ITEM_SID_LEN + 1, "%s", c[n - 2]);
	ki = kind_info(kind_of_sid(sid));
	if (ki != NULL && ki->parts_dir != NULL &&
	    c[n - 2][ITEM_SID_LEN] == '/')
		return 0;
	if (n < 3)
		return -1;
	(void)snprintf(sid, ITEM_SID_LEN + 1, "%s", c[n - 3]);
	ki = kind_info(kind_of_sid(sid));
	if (ki == NULL || ki->parts_dir == NULL ||
	    c[n - 3][ITEM_SID_LEN] != '/')
		return -1;
	v = strtol(c[n - 1], &end, 10);
	if (v < 1 || v > 1000000 || strcmp(end, ".json") != 0)
		return -1;
	*part = (int)v;
	return 0;
}

/* The whole item of the file at path, from the catalog. */
static int
item_at(struct fs *fs, const char *path, struct item *it,
    struct tfs_error *err)
{
	char sid[ITEM_SID_LEN + 1];
	int part;

	memset(it, 0, sizeof(*it));
	if (item_key(path, sid, &part) != 0)
		return tfs_error_set(err, TFS_ERR_NOTFOUND, "%s names no item",
		    path);
	return fs->cfg->item(fs->cfg->arg, sid, part, it, err);
}

/*
 * Which node ino is, and its path (cap bytes): its type, or -1 if the
 * tree has no such node.
 */
static int
node_at(struct fs *fs, fuse_ino_t ino, char *path, size_t cap)
{
	struct node *n;
	int type = -1;

	pthread_rwlock_rdlock(&fs->lock);
	n = node_of(fs->tree, ino);
	if (n != NULL && node_path(n, path, cap) == 0)
		type = n->type;
	pthread_rwlock_unlock(&fs->lock);
	return type;
}

static void
free_open_file(struct open_file *of)
{
	if (of == NULL)
		return;
	reader_close(of->r);
	free(of->text);
	free(of->path);
	free(of);
}

/* An open item: its reader, from the catalog's whole item. */
static int
open_item(struct fs *fs, struct open_file *of)
{
	struct tfs_error err = { 0, "" };
	struct item it;
	int rc;

	rc = item_at(fs, of->path, &it, &err);
	if (rc == TFS_OK)
		rc = reader_open(fs->cfg->readers, &it, &of->r, &err);
	if (rc != TFS_OK) {
		log_msg(TFS_LOG_WARN, "%s: %s", of->path, err.detail[0] ?
		    err.detail : tfs_strerror(rc));
		if (rc == TFS_ERR_CHANGED && fs->cfg->stale != NULL)
			fs->cfg->stale(fs->cfg->arg, it.sid, it.part);
		return to_errno(rc);
	}
	memcpy(of->sid, it.sid, sizeof(of->sid));
	of->part = it.part;
	return 0;
}

static void
op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fs *fs = fs_of(req);
	struct open_file *of = NULL;
	char path[512];
	int type, rc = 0;

	if ((fi->flags & O_ACCMODE) != O_RDONLY) {
		fuse_reply_err(req, EROFS);
		return;
	}
	type = node_at(fs, ino, path, sizeof(path));
	if (type < 0)
		rc = ENOENT;
	else if (type == NODE_DIR)
		rc = EISDIR;
	else if ((of = calloc(1, sizeof(*of))) == NULL ||
	    (of->path = strdup(path)) == NULL)
		rc = ENOMEM;
	if (rc == 0 && type == NODE_STATUS) {
		pthread_rwlock_rdlock(&fs->lock);
		of->text = status_text(fs, fs->tree, &of->text_len);
		pthread_rwlock_unlock(&fs->lock);
		rc = of->text == NULL ? ENOMEM : 0;
	} else if (rc == 0) {
		serving = req;
		rc = open_item(fs, of);
		serving = NULL;
	}
	if (rc != 0) {
		free_open_file(of);
		fuse_reply_err(req, rc);
		return;
	}
	fi->fh = (uint64_t)(uintptr_t)of;
	/* The content never changes: let the page cache keep it. Status
	 * changes: always ask us. */
	fi->keep_cache = type != NODE_STATUS;
	fi->direct_io = type == NODE_STATUS;
	if (fuse_reply_open(req, fi) != 0)
		free_open_file(of);	/* interrupted: no release comes */
}

static void
op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
    struct fuse_file_info *fi)
{
	struct open_file *of = (struct open_file *)(uintptr_t)fi->fh;
	struct tfs_error err = { 0, "" };
	size_t got = 0;
	char *buf;
	int rc;

	(void)ino;
	/* Replied from a buffer of this request's own: the reply lets the
	 * reader go on, and its close (release, on another thread) may
	 * free the open file before fuse_reply_buf has returned. */
	if ((buf = malloc(size > 0 ? size : 1)) == NULL) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	if (of->text != NULL) {
		got = (size_t)off >= of->text_len ? 0 : of->text_len -
		    (size_t)off < size ? of->text_len - (size_t)off : size;
		memcpy(buf, of->text + (got > 0 ? off : 0), got);
		fuse_reply_buf(req, buf, got);
		free(buf);
		return;
	}
	serving = req;
	rc = reader_read(of->r, buf, size, off, &got, &err);
	serving = NULL;
	if (rc != TFS_OK) {
		if (rc == TFS_ERR_CHANGED)
			note_stale(fs_of(req), of);
		log_msg(TFS_LOG_WARN, "%s: read at %lld: %s", of->path,
		    (long long)off, err.detail[0] ? err.detail :
		    tfs_strerror(rc));
		fuse_reply_err(req, to_errno(rc));
	} else
		fuse_reply_buf(req, buf, got);
	free(buf);
}

static void
op_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	(void)ino;
	free_open_file((struct open_file *)(uintptr_t)fi->fh);
	fuse_reply_err(req, 0);
}

/* The value of xattr name (user.twilio.…) of it into out; 0 if none. */
static int
xattr_value(struct fs *fs, const struct item *it, const char *name,
    char *out, size_t cap)
{
	const char *v = NULL;
	char num[32];

	name += 12;
	if (strcmp(name, "sid") == 0)
		v = it->sid;
	else if (strcmp(name, "kind") == 0)
		v = it->part > 0 ? kind_info(it->kind)->part_xattr :
		    kind_info(it->kind)->xattr;
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
	} else if (strcmp(name, "encryption") == 0)
		v = fs->cfg->cipher_name(fs->cfg->arg, it);
	if (v == NULL || v[0] == '\0')
		return 0;
	(void)snprintf(out, cap, "%s", v);
	return 1;
}

static const char *const xattr_names[] = { "sid", "kind", "room_sid",
    "participant_sid", "call_sid", "track_name", "duration", "codec",
    "encryption", "public_key_sid" };

/*
 * The item of a file, for its xattrs: ENOENT (no such node), ENODATA
 * (not an item's file: a directory, a link, status.json), or 0.
 */
static int
xattr_item(struct fs *fs, fuse_ino_t ino, struct item *it)
{
	struct tfs_error err = { 0, "" };
	char path[512];
	int type;

	type = node_at(fs, ino, path, sizeof(path));
	if (type < 0)
		return ENOENT;
	if (type != NODE_FILE)
		return ENODATA;
	if (item_at(fs, path, it, &err) != TFS_OK)
		return ENODATA;
	return 0;
}

/* Answer a getxattr or listxattr of size bytes with len bytes of v. */
static void
reply_xattr(fuse_req_t req, size_t size, const char *v, size_t len)
{
	if (size == 0)
		fuse_reply_xattr(req, len);
	else if (size < len)
		fuse_reply_err(req, ERANGE);
	else
		fuse_reply_buf(req, v, len);
}

static void
op_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size)
{
	struct fs *fs = fs_of(req);
	struct item it;
	char v[256];
	int rc;

	/* ls -l asks for security.selinux and ACLs on every entry. These
	 * namespaces are not supported here: EOPNOTSUPP, what the VFS says
	 * for a namespace a file system has no handler for, lets ls stop
	 * asking after the first entry of the mount (ENODATA would have
	 * it ask again for every one). Other user.* names: no such xattr. */
	if (strncmp(name, "user.", 5) != 0)
		rc = EOPNOTSUPP;
	else if (strncmp(name, "user.twilio.", 12) != 0)
		rc = ENODATA;
	else if ((rc = xattr_item(fs, ino, &it)) == 0 &&
	    !xattr_value(fs, &it, name, v, sizeof(v)))
		rc = ENODATA;
	if (rc != 0)
		fuse_reply_err(req, rc);
	else
		reply_xattr(req, size, v, strlen(v));
}

static void
op_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
	struct fs *fs = fs_of(req);
	char list[1024], v[256], name[64];
	size_t i, total = 0, len;
	struct item it;
	int rc;

	rc = xattr_item(fs, ino, &it);
	if (rc == ENODATA) {
		reply_xattr(req, size, "", 0);
		return;
	}
	for (i = 0; rc == 0 && i < sizeof(xattr_names) /
	    sizeof(xattr_names[0]); i++) {
		(void)snprintf(name, sizeof(name), "user.twilio.%s",
		    xattr_names[i]);
		if (!xattr_value(fs, &it, name, v, sizeof(v)))
			continue;
		len = strlen(name) + 1;
		memcpy(list + total, name, len);
		total += len;
	}
	if (rc != 0)
		fuse_reply_err(req, rc);
	else
		reply_xattr(req, size, list, total);
}

/* --- refresh --- */

/* Drop what the kernel keeps of inode ino: attributes, pages, listing. */
static void
forget_inode(struct fs *fs, uint64_t ino)
{
	(void)fuse_lowlevel_notify_inval_inode(fs->se, ino, 0, 0);
}

/* Drop the kernel's entry name of directory dir (and all under it). */
static void
forget_entry(struct fs *fs, uint64_t dir, const char *name)
{
	(void)fuse_lowlevel_notify_inval_entry(fs->se, dir, name,
	    strlen(name));
}

/*
 * What the kernel caches of the old tree and the new one no longer says:
 * a file whose object changed upstream (another ETag or size) keeps its
 * name and inode, so its pages go; a listing that changed (entries added
 * or gone) goes, and so do the entries that are gone or changed type or
 * target. Both listings are sorted: one walk of the two side by side.
 */
static void
invalidate_changed(struct fs *fs, const struct node *was,
    const struct node *now)
{
	const struct node *a, *b;
	uint32_t i = 0, j = 0;
	int c;

	if (was->u.dir.version != now->u.dir.version)
		forget_inode(fs, now->ino);
	while (i < was->u.dir.nkids || j < now->u.dir.nkids) {
		a = i < was->u.dir.nkids ? was->u.dir.kids[i] : NULL;
		b = j < now->u.dir.nkids ? now->u.dir.kids[j] : NULL;
		c = a == NULL ? 1 : b == NULL ? -1 : strcmp(node_name(a),
		    node_name(b));
		if (c == 0 && a->type == NODE_DIR && b->type == NODE_DIR)
			invalidate_changed(fs, a, b);
		else if (c < 0 || (c == 0 && (a->type != b->type ||
		    a->ino != b->ino || (a->type == NODE_LINK &&
		    !same_target(a, b))))) {
			forget_entry(fs, was->ino, node_name(a));
			forget_inode(fs, a->ino);
		} else if (c == 0 && a->type == NODE_FILE &&
		    a->u.file.version != b->u.file.version)
			forget_inode(fs, a->ino);
		i += c <= 0;
		j += c >= 0;
	}
}

static int stopping(struct fs *fs);

/* A new tree from the catalog in place of the old; on the refresher only. */
static void
swap_tree(struct fs *fs)
{
	struct tfs_error err = { 0, "" };
	struct tree *t, *old;

	/* What the sync freed back to the system before a second tree is
	 * built beside the first: that is the daemon's peak. */
	(void)malloc_trim(0);
	if (tree_build(fs, &t, &err) != TFS_OK) {
		log_msg(TFS_LOG_WARN, "refresh: %s", err.detail);
		return;
	}
	pthread_rwlock_wrlock(&fs->lock);
	old = fs->tree;
	fs->tree = t;
	pthread_rwlock_unlock(&fs->lock);
	/* Only this thread swaps trees: old is ours alone now. */
	if (fs->se != NULL)
		invalidate_changed(fs, old->root, t->root);
	tree_free(old);
	(void)malloc_trim(0);	/* the old tree's memory, too */
	fs->swapped = time(NULL);
}

/* Seconds between trees shown while a first sync fills the mount. */
#define FILL_SWAP_S 5

/* How far the refresh has got: for status.json, and a first sync's
 * tree now and then (what is probed so far). */
static void
refresh_progress(const struct sync_progress *p, void *arg)
{
	struct fs *fs = arg;
	int first;

	pthread_mutex_lock(&fs->sync_mu);
	if (p->kind != fs->sync_kind) {
		fs->sync_listed_before = fs->sync.listed;
		fs->sync_kind = p->kind;
	}
	fs->sync.probing = p->probing;
	if (!p->probing)
		fs->sync.listed = fs->sync_listed_before + p->items;
	fs->sync.probed = p->done;
	fs->sync.to_probe = p->total;
	first = fs->sync.first;
	pthread_mutex_unlock(&fs->sync_mu);
	if (first && time(NULL) - fs->swapped >= FILL_SWAP_S &&
	    !stopping(fs))
		swap_tree(fs);
}

static void
sync_state(struct fs *fs, int running, int first)
{
	pthread_mutex_lock(&fs->sync_mu);
	memset(&fs->sync, 0, sizeof(fs->sync));
	fs->sync.running = running;
	fs->sync.first = first;
	fs->sync_kind = 0;
	fs->sync_listed_before = 0;
	pthread_mutex_unlock(&fs->sync_mu);
}

/*
 * Refresh every cfg->refresh seconds; a mount of a catalog never synced
 * starts with its first sync at once (and, with refresh 0, stops there).
 */
static void *
refresher(void *arg)
{
	struct fs *fs = arg;
	struct tfs_error err;
	struct timespec until;
	int stop, first = fs->cfg->first_sync, rc;

	for (;; first = 0) {
		if (!first && fs->cfg->refresh <= 0)
			break;
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += first ? 0 : fs->cfg->refresh;
		pthread_mutex_lock(&fs->stop_mu);
		while (!fs->stopping && pthread_cond_timedwait(&fs->stop_cv,
		    &fs->stop_mu, &until) == 0)
			;
		stop = fs->stopping;
		pthread_mutex_unlock(&fs->stop_mu);
		if (stop)
			break;
		tfs_error_clear(&err);
		sync_state(fs, 1, first);
		rc = fs->cfg->refresh_catalog(fs->cfg->arg, &fs->cancel,
		    refresh_progress, fs, &err);
		sync_state(fs, 0, 0);
		if (rc != TFS_OK)
			log_msg(TFS_LOG_WARN, "refresh: %s; still serving the "
			    "catalog as it was", err.detail);
		if (stopping(fs))
			break;	/* libfuse is going away: swap nothing */
		if (rc == TFS_OK || first)
			swap_tree(fs);
	}
	return NULL;
}

/* The refresher, with every signal blocked: SIGTERM is the loop's. */
static int
start_refresher(struct fs *fs)
{
	sigset_t all, old;
	int rc;

	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	rc = pthread_create(&fs->refresher, NULL, refresher, fs);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return rc;
}

/*
 * Our inode numbers are stable, and what the kernel may cache changes
 * only when a refresh swaps the tree, which invalidates what changed
 * (invalidate_changed): entries, attributes, listings and link targets
 * are kept long (KEEP_S).
 */
static void
op_init(void *data, struct fuse_conn_info *conn)
{
	struct fs *fs = data;

	if (conn->capable & FUSE_CAP_CACHE_SYMLINKS)
		conn->want |= FUSE_CAP_CACHE_SYMLINKS;
	/* Threads are started here, in the daemon, after the fork; not
	 * once a signal has stopped the mount (the stopper may have run
	 * before this). */
	pthread_mutex_lock(&fs->stop_mu);
	if (!fs->stopping && (fs->cfg->refresh > 0 || fs->cfg->first_sync) &&
	    !fs->cfg->offline && start_refresher(fs) == 0)
		fs->refresher_running = 1;
	pthread_mutex_unlock(&fs->stop_mu);
}

/*
 * Stop the refresh thread and wait for it. Called as soon as the loop
 * ends, before the session its invalidations go through is unmounted;
 * a refresh under way finishes its sync but swaps no tree.
 */
static void
stop_refresher(struct fs *fs)
{
	int running;

	atomic_store(&fs->cancel, 1);
	pthread_mutex_lock(&fs->stop_mu);
	fs->stopping = 1;	/* for good: init starts none after this */
	pthread_cond_signal(&fs->stop_cv);
	running = fs->refresher_running;
	fs->refresher_running = 0;
	pthread_mutex_unlock(&fs->stop_mu);
	if (running)
		pthread_join(fs->refresher, NULL);
}

static int
stopping(struct fs *fs)
{
	int stop;

	pthread_mutex_lock(&fs->stop_mu);
	stop = fs->stopping;
	pthread_mutex_unlock(&fs->stop_mu);
	return stop;
}

static void
op_destroy(void *data)
{
	stop_refresher(data);
}

/* Left to libfuse: forget (no state per inode here: an inode is found
 * by its number in whatever tree is current), releasedir, statfs. */
static const struct fuse_lowlevel_ops ops = {
	.init = op_init,
	.destroy = op_destroy,
	.lookup = op_lookup,
	.getattr = op_getattr,
	.opendir = op_opendir,
	.readdir = op_readdir,
	.readdirplus = op_readdirplus,
	.readlink = op_readlink,
	.open = op_open,
	.read = op_read,
	.release = op_release,
	.getxattr = op_getxattr,
	.listxattr = op_listxattr,
};

/* --- mounting --- */

/* Whether mnt (st: its stat) is the root of a mount. */
static int
is_mount_root(const char *mnt, const struct stat *st)
{
	char up[PATH_MAX];
	struct stat ust;
#ifdef STATX_ATTR_MOUNT_ROOT
	struct statx sx;

	/* Exact, also for a btrfs subvolume (a device of its own, no mount) */
	if (statx(AT_FDCWD, mnt, 0, STATX_BASIC_STATS, &sx) == 0 &&
	    (sx.stx_attributes_mask & STATX_ATTR_MOUNT_ROOT) != 0)
		return (sx.stx_attributes & STATX_ATTR_MOUNT_ROOT) != 0;
#endif
	/* Else: a mount point lives on another device than its parent. */
	return snprintf(up, sizeof(up), "%s/..", mnt) < (int)sizeof(up) &&
	    stat(up, &ust) == 0 && ust.st_dev != st->st_dev;
}

/*
 * Refuse, before anything is mounted, what fusermount3 would take but
 * nobody means: a file, a directory that is already a mount point (a
 * second twiliofs would hide the first), and a crashed mount, whose only
 * cure is an unmount.
 */
int
fs_check_mountpoint(const char *mnt, struct tfs_error *err)
{
	struct statfs sfs;
	struct stat st;

	if (stat(mnt, &st) != 0 && errno == ENOTCONN)
		return tfs_error_set(err, TFS_ERR_CONFIG, "%s: a previous "
		    "mount is dead (transport endpoint not connected); run: "
		    "fusermount3 -u %s", mnt, mnt);
	if (stat(mnt, &st) != 0)
		return tfs_error_set(err, TFS_ERR_CONFIG, "%s: %s%s", mnt,
		    strerror(errno), errno == ENOENT ? "; create the "
		    "directory first" : "");
	if (!S_ISDIR(st.st_mode))
		return tfs_error_set(err, TFS_ERR_CONFIG, "%s: not a directory",
		    mnt);
	/*
	 * Only a FUSE mount on it is refused (a second one would hide the
	 * first); bind mounts, container volumes and autofs points are
	 * where users are meant to mount.
	 */
	if (is_mount_root(mnt, &st) && statfs(mnt, &sfs) == 0 &&
	    sfs.f_type == FUSE_SUPER_MAGIC)
		return tfs_error_set(err, TFS_ERR_CONFIG, "%s: already a "
		    "mount point (twiliofs or another file system); unmount "
		    "it first: fusermount3 -u %s", mnt, mnt);
	return TFS_OK;
}

/* twiliofs MNT -o OPTS [-f] [-d] [-s], as fuse_parse_cmdline takes it. */
static int
make_args(const struct fs_config *cfg, struct fuse_args *args,
    struct tfs_error *err)
{
	char opts[1400];
	int bad;

	if (snprintf(opts, sizeof(opts), "ro,fsname=twiliofs:%s,"
	    "subtype=twiliofs,default_permissions%s%s", cfg->account_sid,
	    cfg->fuse_opts != NULL && cfg->fuse_opts[0] ? "," : "",
	    cfg->fuse_opts != NULL ? cfg->fuse_opts : "") >=
	    (int)sizeof(opts))
		return tfs_error_set(err, TFS_ERR_CONFIG, "mount options too "
		    "long");
	bad = fuse_opt_add_arg(args, "twiliofs") != 0 ||
	    fuse_opt_add_arg(args, cfg->mountpoint) != 0 ||
	    fuse_opt_add_arg(args, "-o") != 0 ||
	    fuse_opt_add_arg(args, opts) != 0 ||
	    (cfg->foreground && fuse_opt_add_arg(args, "-f") != 0) ||
	    (cfg->debug && fuse_opt_add_arg(args, "-d") != 0) ||
	    (cfg->single_thread && fuse_opt_add_arg(args, "-s") != 0);
	return bad ? tfs_error_set(err, TFS_ERR_NOMEM, "out of memory") :
	    TFS_OK;
}

/* libfuse's default max_threads, and ours: readers of a stalled object
 * each hold a thread for up to read_timeout, and must not hold them all
 * (a read of another file would wait for one). */
#define LIBFUSE_MAX_THREADS 10
#define MAX_THREADS 64

/*
 * The multi-threaded loop. libfuse 3.14's fuse_main hands an unset
 * max_idle_threads (UINT_MAX) to the setter, which then complains on
 * every mount; set only what the user gave (-o max_idle_threads,
 * max_threads, clone_fd), else libfuse's defaults stand, but for
 * max_threads: ours.
 */
static int
loop_mt(struct fuse_session *se, const struct fuse_cmdline_opts *o,
    const char *fuse_opts)
{
	struct fuse_loop_config *lc = fuse_loop_cfg_create();
	unsigned threads = o->max_threads;
	int res;

	if (lc == NULL)
		return -ENOMEM;
	fuse_loop_cfg_set_clone_fd(lc, (unsigned)o->clone_fd);
	if (o->max_idle_threads != UINT_MAX)
		fuse_loop_cfg_set_idle_threads(lc, o->max_idle_threads);
	if (threads == LIBFUSE_MAX_THREADS && (fuse_opts == NULL ||
	    strstr(fuse_opts, "max_threads=") == NULL))
		threads = MAX_THREADS;
	fuse_loop_cfg_set_max_threads(lc, threads);
	res = fuse_session_loop_mt(se, lc);
	fuse_loop_cfg_destroy(lc);
	return res;
}

/* Said on stderr while there still is one: a daemon without syslog. */
static void
warn_lost_logs(int foreground)
{
	if (foreground || log_has_file() || log_syslog_available())
		return;
	log_msg(TFS_LOG_WARN, "no syslog here (/dev/log is missing): the "
	    "mount's messages will be lost once it is in the background; "
	    "give -o log_file=PATH, or -f");
}

/* --- ending on a signal --- */

/*
 * SIGTERM, SIGINT and SIGHUP end the mount cleanly. libfuse's handlers
 * would end the loop at once; but the refresher may then be in the
 * kernel, sending an invalidation that waits for a directory a lookup
 * holds, and a lookup nobody answers any more never lets it go: the
 * daemon would hang and leave a dead mount. So a signal only wakes the
 * stopper thread (through a pipe: what a handler may do), which stops
 * the refresher while the loop still answers, then ends the loop.
 */
static int stop_pipe[2] = { -1, -1 };
static volatile sig_atomic_t stop_signal;
/* The signals that end the mount, then those set for the stopper's use. */
static const int our_signals[] = { SIGTERM, SIGINT, SIGHUP, SIGUSR2,
    SIGPIPE };
#define NSTOP 3			/* the first NSTOP end the mount */
#define NOURS (sizeof(our_signals) / sizeof(our_signals[0]))
static struct sigaction saved[NOURS];

static void
on_stop_signal(int sig)
{
	int e = errno;

	stop_signal = sig;
	if (write(stop_pipe[1], "", 1) < 0)
		(void)0;	/* full: a wake-up is pending anyway */
	errno = e;
}

/* SIGUSR2, sent to the loop's thread: only interrupts its wait. */
static void
on_wake_signal(int sig)
{
	(void)sig;
}

/* The handlers of before, and no pipe. */
static void
restore_handlers(void)
{
	size_t i;

	for (i = 0; i < NOURS; i++)
		(void)sigaction(our_signals[i], &saved[i], NULL);
	if (stop_pipe[0] >= 0) {
		(void)close(stop_pipe[0]);
		(void)close(stop_pipe[1]);
	}
	stop_pipe[0] = stop_pipe[1] = -1;
}

/*
 * Our handlers, with the pipe; -1 (and nothing changed) if they cannot
 * be set. A stop signal ignored by whoever started us stays ignored
 * (nohup, a background job), as libfuse's handlers left it.
 */
static int
set_handlers(void)
{
	struct sigaction sa;
	size_t i;
	int bad = 0;

	if (pipe2(stop_pipe, O_CLOEXEC | O_NONBLOCK) != 0)
		return -1;
	for (i = 0; i < NOURS; i++)
		bad |= sigaction(our_signals[i], NULL, &saved[i]);
	memset(&sa, 0, sizeof(sa));
	sigemptyset(&sa.sa_mask);	/* no SA_RESTART: waits end */
	for (i = 0; !bad && i < NOURS; i++) {
		sa.sa_handler = i < NSTOP ? on_stop_signal :
		    our_signals[i] == SIGUSR2 ? on_wake_signal : SIG_IGN;
		if (i < NSTOP && saved[i].sa_handler == SIG_IGN)
			continue;
		bad |= sigaction(our_signals[i], &sa, NULL);
	}
	if (bad)
		restore_handlers();
	return bad ? -1 : 0;
}

/* Wait for a signal (or the loop's end), then end the loop, refresher
 * first. */
static void *
stopper(void *arg)
{
	struct fs *fs = arg;
	struct timespec tick = { 0, 50 * 1000 * 1000 };
	struct pollfd pfd = { stop_pipe[0], POLLIN, 0 };
	char drain[16];

	/* A byte may come without a signal of ours: fuse_daemonize's
	 * parent shares the pipe, and may get one before it exits. */
	while (stop_signal == 0 && !atomic_load(&fs->loop_done))
		if (poll(&pfd, 1, -1) > 0)
			while (read(stop_pipe[0], drain, sizeof(drain)) > 0)
				;
	if (stop_signal == 0)
		return NULL;	/* unmounted: serve stops the rest */
	stop_refresher(fs);
	fuse_session_exit(fs->se);
	/* The loop notices only when its wait is interrupted; a signal
	 * that comes just before it waits is lost: again until it ends. */
	while (!atomic_load(&fs->loop_done)) {
		(void)pthread_kill(fs->loop_thread, SIGUSR2);
		(void)nanosleep(&tick, NULL);
	}
	return NULL;
}

/* The stopper, with every signal blocked: they are the loop's threads'. */
static int
start_stopper(struct fs *fs, pthread_t *t)
{
	sigset_t all, old;
	int rc;

	fs->loop_thread = pthread_self();
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	rc = pthread_create(t, NULL, stopper, fs);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return rc;
}

/*
 * Run the session once mounted: detach, serve until unmounted or
 * signalled. A signal is how systemd and Ctrl-C stop a mount, so it is a
 * clean end (0), like fusermount3 -u; serve unmounts after it.
 */
static int
run_session(struct fs *fs, const struct fuse_cmdline_opts *o,
    struct tfs_error *err)
{
	const struct fs_config *cfg = fs->cfg;
	const char *mnt = cfg->mountpoint;
	struct fuse_session *se = fs->se;
	pthread_t stopper_thread;
	int res;

	warn_lost_logs(o->foreground);
	if (fuse_daemonize(o->foreground) != 0)
		return tfs_error_set(err, TFS_ERR_CONFIG, "%s: cannot go into "
		    "the background; try -f", mnt);
	if (!o->foreground)
		log_use_syslog();
	/* After the fork: threads do not cross it. */
	if (start_stopper(fs, &stopper_thread) != 0)
		return tfs_error_set(err, TFS_ERR_NOMEM, "%s: cannot start a "
		    "thread", mnt);
	res = o->singlethread ? fuse_session_loop(se) : loop_mt(se, o,
	    cfg->fuse_opts);
	atomic_store(&fs->loop_done, 1);
	if (write(stop_pipe[1], "", 1) < 0)
		(void)0;	/* full: the stopper is awake already */
	pthread_join(stopper_thread, NULL);
	if (stop_signal != 0)
		log_msg(TFS_LOG_INFO, "%s: %s: unmounting", mnt,
		    strsignal(stop_signal));
	if (res < 0)
		return tfs_error_set(err, TFS_ERR_IO, "%s: the FUSE session "
		    "failed: %s", mnt, strerror(-res));
	return TFS_OK;
}

/*
 * Parse, new session, mount, daemonize, loop, unmount: so that the loop
 * is configured right and a signal is no failure.
 */
static int
serve(struct fs *fs, struct fuse_args *args, struct tfs_error *err)
{
	const char *mnt = fs->cfg->mountpoint;
	struct fuse_cmdline_opts o;
	struct fuse_session *se = NULL;
	int rc, handlers = 0;

	memset(&o, 0, sizeof(o));
	if (fuse_parse_cmdline(args, &o) != 0 || o.mountpoint == NULL ||
	    (se = fuse_session_new(args, &ops, sizeof(ops), fs)) == NULL) {
		rc = tfs_error_set(err, TFS_ERR_CONFIG, "%s: bad mount "
		    "options; see the FUSE message above", mnt);
		goto out;
	}
	/*
	 * Before the mount: a signal from now on ends the loop at once
	 * and the mount is undone, never left behind dead.
	 */
	if (set_handlers() != 0) {
		rc = tfs_error_set(err, TFS_ERR_IO, "%s: cannot set up the "
		    "signal handlers", mnt);
		goto out;
	}
	handlers = 1;
	if (fuse_session_mount(se, o.mountpoint) != 0) {
		rc = tfs_error_set(err, TFS_ERR_CONFIG, "%s: cannot mount; "
		    "see the FUSE message above (may you mount here, and is "
		    "/dev/fuse there?)", mnt);
		goto out;
	}
	fs->se = se;
	rc = run_session(fs, &o, err);
	stop_refresher(fs);
	fuse_session_unmount(se);
out:
	if (handlers)
		restore_handlers();
	if (se != NULL)
		fuse_session_destroy(se);
	fs->se = NULL;
	free(o.mountpoint);
	return rc;
}

/* Owner and modes (fs.h): read-only anyway, so the modes serve copies. */
static void
set_access(struct fs *fs, const struct fs_config *cfg)
{
	mode_t mask = cfg->umask >= 0 ? (mode_t)cfg->umask :
	    cfg->allow_other ? 022 : 077;

	fs->uid = cfg->uid >= 0 ? (uid_t)cfg->uid : getuid();
	fs->gid = cfg->gid >= 0 ? (gid_t)cfg->gid : getgid();
	fs->dmode = 0777 & ~mask;
	fs->fmode = 0666 & ~mask;
}

int
fs_main(const struct fs_config *cfg, struct tfs_error *err)
{
	struct fuse_args args = FUSE_ARGS_INIT(0, NULL);
	struct fs fs;
	int rc;

	rc = fs_check_mountpoint(cfg->mountpoint, err);
	if (rc != TFS_OK)
		return rc;
	memset(&fs, 0, sizeof(fs));
	fs.cfg = cfg;
	set_access(&fs, cfg);
	fs.mounted = time(NULL);
	fs.swapped = fs.mounted;
	pthread_rwlock_init(&fs.lock, NULL);
	pthread_mutex_init(&fs.stop_mu, NULL);
	pthread_mutex_init(&fs.sync_mu, NULL);
	pthread_cond_init(&fs.stop_cv, NULL);
	/*
	 * The first tree is built before the mount and the fork, so a mount
	 * never shows up empty; the snapshot reads the catalog without
	 * network.
	 */
	rc = tree_build(&fs, &fs.tree, err);
	if (rc == TFS_OK)
		rc = make_args(cfg, &args, err);
	if (rc == TFS_OK)
		rc = serve(&fs, &args, err);
	fuse_opt_free_args(&args);
	pthread_rwlock_wrlock(&fs.lock);
	tree_free(fs.tree);
	fs.tree = NULL;
	pthread_rwlock_unlock(&fs.lock);
	pthread_rwlock_destroy(&fs.lock);
	pthread_mutex_destroy(&fs.stop_mu);
	pthread_mutex_destroy(&fs.sync_mu);
	pthread_cond_destroy(&fs.stop_cv);
	return rc;
}

const char *
fs_fuse_version(void)
{
	return fuse_pkgversion();
}
