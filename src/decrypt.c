/* SPDX-License-Identifier: MIT */
/* decrypt.c - stream one downloaded object through its cipher to a sink. */
#define _GNU_SOURCE	/* O_TMPFILE, linkat */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "twiliofs/crypto.h"
#include "twiliofs/decrypt.h"
#include "twiliofs/io.h"

/* Bytes read per step; two such buffers are the whole working set. */
#define CHUNK (256 * 1024)

/*
 * Where plaintext goes. A regular file appears only on commit: it is
 * written to a temp file in the directory of the file OUTPUT leads to (a
 * symlink is written through) and renamed onto it. stdout, a device or a
 * FIFO is written in place, like cp and curl -o do, so it is a stream:
 * nothing written to it can be withdrawn.
 */
struct sink {
	int fd;
	const char *path;		/* OUTPUT as given; NULL for stdout */
	int stream;			/* in place: cannot be withdrawn */
	char final[PATH_MAX];		/* the file OUTPUT leads to */
	char dir[PATH_MAX];		/* its directory */
	char base[PATH_MAX];		/* its last component */
	char tmp[PATH_MAX];		/* temp name; "" if anonymous */
	int anonymous;			/* O_TMPFILE: unnamed */
};

/* The object being read. */
struct source {
	int fd;
	const char *name;		/* for messages */
	int seekable;
	long long size;			/* -1 unless seekable */
	int owned;			/* we opened fd: close it */
	int known;			/* dev and ino are set */
	dev_t dev;			/* which file it is, so that */
	ino_t ino;			/* OUTPUT cannot be it */
};

/* Read until cap bytes or end of input; *got is what was read. */
static int
read_full(struct source *src, unsigned char *buf, size_t cap, size_t *got,
    struct tfs_error *err)
{
	ssize_t r;

	*got = 0;
	while (*got < cap) {
		r = read(src->fd, buf + *got, cap - *got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return tfs_error_set(err, TFS_ERR_IO, "%s: read "
			    "failed: %s", src->name, strerror(errno));
		if (r == 0)
			break;
		*got += (size_t)r;
	}
	return TFS_OK;
}

static int
pread_full(struct source *src, unsigned char *buf, size_t len, off_t off,
    struct tfs_error *err)
{
	size_t got = 0;
	ssize_t r;

	while (got < len) {
		r = pread(src->fd, buf + got, len - got, off + (off_t)got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return tfs_error_set(err, TFS_ERR_IO, "%s: read "
			    "failed: %s", src->name, r < 0 ? strerror(errno) :
			    "file shrank while being read");
		got += (size_t)r;
	}
	return TFS_OK;
}

static int
source_open(struct source *src, const char *input, int fd,
    struct tfs_error *err)
{
	struct stat st;

	src->seekable = 0;
	src->size = -1;
	src->owned = 0;
	src->known = 0;
	if (fd >= 0) {
		src->fd = fd;
		src->name = input;
		if (lseek(fd, 0, SEEK_SET) != 0)
			return tfs_error_set(err, TFS_ERR_IO, "%s: cannot "
			    "rewind: %s", input, strerror(errno));
	} else if (strcmp(input, "-") == 0) {
		src->fd = STDIN_FILENO;
		src->name = "stdin";
	} else {
		src->fd = open(input, O_RDONLY | O_CLOEXEC);
		src->name = input;
		src->owned = 1;
		if (src->fd < 0)
			return tfs_error_set(err, TFS_ERR_IO, "%s: cannot open "
			    "input: %s", input, strerror(errno));
	}
	if (fstat(src->fd, &st) != 0)
		return TFS_OK;
	src->known = 1;
	src->dev = st.st_dev;
	src->ino = st.st_ino;
	if (S_ISREG(st.st_mode)) {
		src->seekable = 1;
		src->size = (long long)st.st_size;
	}
	return TFS_OK;
}

static void
source_close(struct source *src)
{
	if (src->owned && src->fd >= 0)
		close(src->fd);
}

static const char *
sink_label(const struct sink *s)
{
	return s->path != NULL ? s->path : "stdout";
}

/* Replace path, a symlink, by the path it names, as open(2) reads it. */
static int
follow_link(char *path, const char *output, struct tfs_error *err)
{
	char link[PATH_MAX], dir[PATH_MAX];
	ssize_t len;
	int n;

	len = readlink(path, link, sizeof(link));
	if (len < 0)
		return tfs_error_set(err, TFS_ERR_IO, "%s: cannot read the "
		    "symbolic link %s: %s", output, path, strerror(errno));
	if ((size_t)len == sizeof(link))
		return tfs_error_set(err, TFS_ERR_IO, "%s: path too long",
		    output);
	link[len] = '\0';
	(void)snprintf(dir, sizeof(dir), "%s", path);
	/* A relative target is relative to the link's own directory. */
	if (link[0] == '/')
		n = snprintf(path, PATH_MAX, "%s", link);
	else
		n = snprintf(path, PATH_MAX, "%s/%s", dirname(dir), link);
	if (n >= PATH_MAX)
		return tfs_error_set(err, TFS_ERR_IO, "%s: path too long",
		    output);
	return TFS_OK;
}

/*
 * The kernel's protected_symlinks rule, which following a link by hand
 * would bypass: in a sticky, world-writable directory (/tmp) a link is
 * followed only if it is ours or the directory owner's, so nobody can
 * plant /tmp/out.wav -> /etc/passwd for a root `get` to replace.
 */
static int
link_trusted(const char *link, const struct stat *lst, const char *output,
    struct tfs_error *err)
{
	char dir[PATH_MAX];
	struct stat dst;

	(void)snprintf(dir, sizeof(dir), "%s", link);
	if (stat(dirname(dir), &dst) != 0 || !(dst.st_mode & S_ISVTX) ||
	    !(dst.st_mode & S_IWOTH) || lst->st_uid == geteuid() ||
	    lst->st_uid == dst.st_uid)
		return TFS_OK;
	return tfs_error_set(err, TFS_ERR_USAGE, "%s: a symbolic link of uid "
	    "%ld in a sticky world-writable directory; not followed (as "
	    "protected_symlinks does); remove it or give another output path",
	    output, (long)lst->st_uid);
}

/*
 * Follow OUTPUT's symlinks to the file they lead to, s->final; *exists
 * says whether it does (then *st describes it). A dangling link leads to
 * the name it holds: that file is created, the link kept, as cp does.
 */
static int
sink_follow(struct sink *s, struct stat *st, int *exists,
    struct tfs_error *err)
{
	int hops, rc;

	if (snprintf(s->final, sizeof(s->final), "%s", s->path) >=
	    (int)sizeof(s->final))
		return tfs_error_set(err, TFS_ERR_IO, "%s: path too long",
		    s->path);
	for (hops = 0; hops <= 40; hops++) {
		*exists = lstat(s->final, st) == 0;
		if (!*exists && errno != ENOENT && errno != ENOTDIR)
			return tfs_error_set(err, TFS_ERR_IO, "%s: cannot use "
			    "it as the output: %s", s->path, strerror(errno));
		if (!*exists || !S_ISLNK(st->st_mode))
			return TFS_OK;
		rc = link_trusted(s->final, st, s->path, err);
		if (rc == TFS_OK)
			rc = follow_link(s->final, s->path, err);
		if (rc != TFS_OK)
			return rc;
	}
	return tfs_error_set(err, TFS_ERR_IO, "%s: too many levels of "
	    "symbolic links", s->path);
}

/*
 * Split s->final into its directory and name. For a file still to be
 * created, say plainly when that directory is missing.
 */
static int
sink_place(struct sink *s, int exists, struct tfs_error *err)
{
	char buf[PATH_MAX];
	struct stat st;
	size_t len = strlen(s->final);

	if (!exists && len > 0 && s->final[len - 1] == '/')
		return tfs_error_set(err, TFS_ERR_USAGE, "%s: ends in '/', "
		    "so names a directory; give a file name for the output",
		    s->path);
	/* dirname() and basename() may modify their argument: copy first. */
	(void)snprintf(buf, sizeof(buf), "%s", s->final);
	(void)snprintf(s->dir, sizeof(s->dir), "%s", dirname(buf));
	(void)snprintf(buf, sizeof(buf), "%s", s->final);
	(void)snprintf(s->base, sizeof(s->base), "%s", basename(buf));
	if (exists)
		return TFS_OK;
	if (stat(s->dir, &st) == 0) {
		if (S_ISDIR(st.st_mode))
			return TFS_OK;
		errno = ENOTDIR;
	}
	if (errno == ENOTDIR)
		return tfs_error_set(err, TFS_ERR_IO, "%s: %s is not a "
		    "directory", s->path, s->dir);
	if (errno == ENOENT)
		return tfs_error_set(err, TFS_ERR_IO, "%s: directory %s does "
		    "not exist; create it, or give another output path",
		    s->path, s->dir);
	return TFS_OK;	/* anything else: creating the file will say */
}

/*
 * A device or a FIFO is written in place, as cp and curl -o do: opened
 * without O_CREAT or O_TRUNC, never replaced, never chmod'ed.
 */
static int
sink_open_special(struct sink *s, const struct stat *st,
    struct tfs_error *err)
{
	struct stat now;

	if (S_ISSOCK(st->st_mode))
		return tfs_error_set(err, TFS_ERR_USAGE, "%s: is a socket; "
		    "give a file name for the output", s->path);
	s->stream = 1;
	s->fd = open(s->final, O_WRONLY | O_NOCTTY | O_CLOEXEC);
	if (s->fd < 0)
		return tfs_error_set(err, TFS_ERR_IO, "%s: cannot open "
		    "output: %s", s->path, strerror(errno));
	/* Replaced since we looked: it may now be a file we would clobber. */
	if (fstat(s->fd, &now) != 0 || now.st_dev != st->st_dev ||
	    now.st_ino != st->st_ino)
		return tfs_error_set(err, TFS_ERR_IO, "%s: changed while it "
		    "was being opened; try again", s->path);
	return TFS_OK;
}

/* A 0600 file in s->dir that nobody sees until sink_commit names it. */
static int
sink_open_temp(struct sink *s, struct tfs_error *err)
{
#ifdef O_TMPFILE
	/*
	 * An unnamed file in the output's directory: if we are killed
	 * mid-way, the kernel drops it, so no partial plaintext is left.
	 */
	s->fd = open(s->dir, O_TMPFILE | O_WRONLY | O_CLOEXEC, 0600);
	if (s->fd >= 0) {
		s->anonymous = 1;
		return TFS_OK;
	}
	if (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL)
		return tfs_error_set(err, TFS_ERR_IO, "%s: cannot create "
		    "output in %s: %s", s->path, s->dir, strerror(errno));
#endif
	/* Fallback: a named 0600 temp file beside it, removed on failure. */
	if (snprintf(s->tmp, sizeof(s->tmp), "%s/.%s.twiliofs-XXXXXX", s->dir,
	    s->base) >= (int)sizeof(s->tmp)) {
		s->tmp[0] = '\0';
		return tfs_error_set(err, TFS_ERR_IO, "%s: path too long",
		    s->path);
	}
	s->fd = mkstemp(s->tmp);
	if (s->fd < 0) {
		s->tmp[0] = '\0';
		return tfs_error_set(err, TFS_ERR_IO, "%s: cannot create "
		    "output: %s", s->path, strerror(errno));
	}
	return TFS_OK;
}

/*
 * Open where the plaintext goes. Refused before anything is read: OUTPUT
 * that is the input itself (by any name), a directory, a socket.
 */
static int
sink_open(struct sink *s, const char *output, const struct source *src,
    struct tfs_error *err)
{
	struct stat st;
	int exists = 0, rc;

	if (output == NULL || strcmp(output, "-") == 0) {
		s->fd = STDOUT_FILENO;
		s->stream = 1;
		return TFS_OK;
	}
	s->path = output;
	if (output[0] == '\0')
		return tfs_error_set(err, TFS_ERR_USAGE, "OUTPUT is empty; "
		    "give a file name, or '-' for stdout");
	/*
	 * A pipe or device the kernel reaches through magic links
	 * (/dev/stdout -> /proc/self/fd/1 -> "pipe:[N]", or >(cmd)) has no
	 * path to follow by hand: open it as the kernel resolves it.
	 */
	if (stat(output, &st) == 0 && (S_ISFIFO(st.st_mode) ||
	    S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode))) {
		if (snprintf(s->final, sizeof(s->final), "%s", output) >=
		    (int)sizeof(s->final))
			return tfs_error_set(err, TFS_ERR_IO, "%s: path too "
			    "long", output);
		exists = 1;
	} else {
		rc = sink_follow(s, &st, &exists, err);
		if (rc != TFS_OK)
			return rc;
	}
	if (exists && src->known && st.st_dev == src->dev &&
	    st.st_ino == src->ino)
		return tfs_error_set(err, TFS_ERR_USAGE, "%s: is the same file "
		    "as the input; give another output path", output);
	if (exists && S_ISDIR(st.st_mode))
		return tfs_error_set(err, TFS_ERR_USAGE, "%s: is a directory; "
		    "give a file name for the output", output);
	if (exists && !S_ISREG(st.st_mode))
		return sink_open_special(s, &st, err);
	rc = sink_place(s, exists, err);
	if (rc == TFS_OK)
		rc = sink_open_temp(s, err);
	return rc;
}

static int
sink_write(struct sink *s, const unsigned char *p, size_t len,
    struct tfs_error *err)
{
	if (len == 0 || io_write_all(s->fd, p, len) == 0)
		return TFS_OK;
	return tfs_error_set(err, TFS_ERR_IO, "%s: write failed: %s",
	    sink_label(s), strerror(errno));
}

/* Give an anonymous file a temporary name beside its destination. */
static int
sink_name(struct sink *s, struct tfs_error *err)
{
	char proc[64];
	unsigned int i;

	(void)snprintf(proc, sizeof(proc), "/proc/self/fd/%d", s->fd);
	for (i = 0; i < 100; i++) {
		if (snprintf(s->tmp, sizeof(s->tmp), "%s/.%s.twiliofs-%ld-%u",
		    s->dir, s->base, (long)getpid(), i) >= (int)sizeof(s->tmp))
			break;
		if (linkat(AT_FDCWD, proc, AT_FDCWD, s->tmp,
		    AT_SYMLINK_FOLLOW) == 0)
			return TFS_OK;
		if (errno != EEXIST)
			break;
	}
	s->tmp[0] = '\0';
	return tfs_error_set(err, TFS_ERR_IO, "%s: cannot create output: %s",
	    s->path, strerror(errno));
}

/* Make the verified output visible under its name. */
static int
sink_commit(struct sink *s, struct tfs_error *err)
{
	int rc;

	if (s->path == NULL)
		return TFS_OK;
	if (s->stream) {
		rc = close(s->fd);
		s->fd = -1;
		if (rc != 0)
			return tfs_error_set(err, TFS_ERR_IO, "%s: write "
			    "failed: %s", s->path, strerror(errno));
		return TFS_OK;
	}
	if (fsync(s->fd) != 0)
		return tfs_error_set(err, TFS_ERR_IO, "%s: write failed: %s",
		    s->path, strerror(errno));
	if (s->anonymous) {
		rc = sink_name(s, err);
		if (rc != TFS_OK)
			return rc;
	}
	if (rename(s->tmp, s->final) != 0)
		return tfs_error_set(err, TFS_ERR_IO, "%s: cannot rename "
		    "output into place: %s", s->path, strerror(errno));
	s->tmp[0] = '\0';
	close(s->fd);
	s->fd = -1;
	return TFS_OK;
}

/* Drop whatever was written (no-op after a commit). */
static void
sink_abort(struct sink *s)
{
	if (s->path == NULL)
		return;
	if (s->tmp[0] != '\0')
		(void)unlink(s->tmp);
	if (s->fd >= 0)
		close(s->fd);
	s->fd = -1;
}

/* Two CHUNK-sized buffers, wiped when done: one holds plaintext. */
struct buffers {
	unsigned char *in;
	unsigned char *out;
};

static int
buffers_alloc(struct buffers *b, struct tfs_error *err)
{
	b->in = malloc(CHUNK + 2 * CRYPTO_BLOCK);
	b->out = malloc(CHUNK + 2 * CRYPTO_BLOCK);
	if (b->in == NULL || b->out == NULL)
		return tfs_error_set(err, TFS_ERR_NOMEM, "out of memory");
	return TFS_OK;
}

static void
buffers_free(struct buffers *b)
{
	if (b->out != NULL)
		OPENSSL_cleanse(b->out, CHUNK + 2 * CRYPTO_BLOCK);
	free(b->in);
	free(b->out);
}

/* --- unencrypted objects --- */

static int
copy_plain(struct source *src, struct sink *snk, struct buffers *b,
    struct tfs_error *err)
{
	size_t got;
	int rc;

	do {
		rc = read_full(src, b->in, CHUNK, &got, err);
		if (rc == TFS_OK)
			rc = sink_write(snk, b->in, got, err);
	} while (rc == TFS_OK && got == CHUNK);
	return rc;
}

/* --- AES-CBC --- */

static int
cbc_truncated(const struct source *src, long long have, long long want,
    const char *why, struct tfs_error *err)
{
	return tfs_error_set(err, TFS_ERR_TRUNCATED, "%s: truncated: %lld "
	    "bytes where %s says %lld; download it again", src->name, have,
	    why, want);
}

/*
 * Check a ciphertext length against what the envelope promised, before
 * (seekable input) or after (pipe) reading it.
 */
static int
cbc_check_length(const struct source *src, const struct envelope *env,
    long long size, struct tfs_error *err)
{
	long long want;

	if (env->ciphertext_size >= 0 && size < env->ciphertext_size)
		return cbc_truncated(src, size, env->ciphertext_size,
		    "Content-Length", err);
	if (env->plaintext_size >= 0) {
		want = (env->plaintext_size / CRYPTO_BLOCK + 1) * CRYPTO_BLOCK;
		if (size < want)
			return cbc_truncated(src, size, want,
			    "x-amz-meta-x-amz-unencrypted-content-length",
			    err);
		if (size > want)
			return tfs_error_set(err, TFS_ERR_INTEGRITY, "%s: %lld "
			    "bytes, longer than the %lld that "
			    "x-amz-meta-x-amz-unencrypted-content-length "
			    "allows; is it the object these headers belong "
			    "to?", src->name, size, want);
	}
	if (env->ciphertext_size >= 0 && size > env->ciphertext_size)
		return tfs_error_set(err, TFS_ERR_INTEGRITY, "%s: %lld bytes, "
		    "longer than its Content-Length %lld; is it the object "
		    "these headers belong to?", src->name, size,
		    env->ciphertext_size);
	if (size == 0 || size % CRYPTO_BLOCK != 0)
		return tfs_error_set(err, TFS_ERR_TRUNCATED, "%s: truncated: "
		    "%lld bytes is not a whole number of 16-byte AES blocks",
		    src->name, size);
	return TFS_OK;
}

static int
bad_padding(const struct source *src, struct tfs_error *err)
{
	return tfs_error_set(err, TFS_ERR_INTEGRITY, "%s: bad padding in the "
	    "last AES block: the file is tampered or truncated, or the key "
	    "is wrong; no plaintext was written", src->name);
}

/* The padding must leave exactly the length the headers announced. */
static int
cbc_check_plain_len(const struct source *src, const struct envelope *env,
    long long size, size_t pad, struct tfs_error *err)
{
	if (env->plaintext_size < 0 ||
	    size - (long long)pad == env->plaintext_size)
		return TFS_OK;
	return tfs_error_set(err, TFS_ERR_INTEGRITY, "%s: padding gives %lld "
	    "bytes of plaintext but the headers say %lld; the file or the "
	    "key is wrong", src->name, size - (long long)pad,
	    env->plaintext_size);
}

/*
 * With random access, check the final block's padding before writing the
 * first byte: CBC has no tag, so this is the only integrity check.
 */
static int
cbc_precheck(struct source *src, struct crypto_cbc *cbc,
    const struct envelope *env, struct tfs_error *err)
{
	unsigned char tail[2 * CRYPTO_BLOCK], last[CRYPTO_BLOCK];
	const unsigned char *prev;
	size_t pad;
	int rc;

	rc = cbc_check_length(src, env, src->size, err);
	if (rc != TFS_OK)
		return rc;
	if (src->size == CRYPTO_BLOCK) {
		rc = pread_full(src, tail + CRYPTO_BLOCK, CRYPTO_BLOCK, 0, err);
		prev = env->iv;
	} else {
		rc = pread_full(src, tail, sizeof(tail),
		    (off_t)(src->size - (long long)sizeof(tail)), err);
		prev = tail;
	}
	if (rc == TFS_OK)
		rc = crypto_cbc_decrypt(cbc, prev, tail + CRYPTO_BLOCK,
		    CRYPTO_BLOCK, last);
	if (rc == TFS_OK && crypto_cbc_pad_len(last, &pad) != TFS_OK)
		rc = bad_padding(src, err);
	if (rc == TFS_OK)
		rc = cbc_check_plain_len(src, env, src->size, pad, err);
	OPENSSL_cleanse(last, sizeof(last));
	return rc;
}

/*
 * Decrypt the whole stream, holding back the last block until the end so
 * its padding can be stripped (and checked, for inputs we could not
 * check in advance).
 */
static int
cbc_stream(struct source *src, struct sink *snk, struct crypto_cbc *cbc,
    const struct envelope *env, struct buffers *b, struct tfs_error *err)
{
	unsigned char prev[CRYPTO_BLOCK], next_prev[CRYPTO_BLOCK];
	const size_t cap = CHUNK + CRYPTO_BLOCK;
	size_t have = 0, got, pad;
	long long total = 0;
	int rc;

	memcpy(prev, env->iv, CRYPTO_BLOCK);
	for (;;) {
		rc = read_full(src, b->in + have, cap - have, &got, err);
		if (rc != TFS_OK)
			return rc;
		have += got;
		total += (long long)got;
		if (have < cap)
			break;
		/* Keep the last block back: it may be the padded one. */
		memcpy(next_prev, b->in + CHUNK - CRYPTO_BLOCK, CRYPTO_BLOCK);
		rc = crypto_cbc_decrypt(cbc, prev, b->in, CHUNK, b->out);
		if (rc == TFS_OK)
			rc = sink_write(snk, b->out, CHUNK, err);
		if (rc != TFS_OK)
			return rc;
		memcpy(prev, next_prev, CRYPTO_BLOCK);
		memmove(b->in, b->in + CHUNK, CRYPTO_BLOCK);
		have = CRYPTO_BLOCK;
	}
	rc = cbc_check_length(src, env, total, err);
	if (rc != TFS_OK)
		return rc;
	rc = crypto_cbc_decrypt(cbc, prev, b->in, have, b->out);
	if (rc != TFS_OK)
		return rc;
	if (crypto_cbc_pad_len(b->out + have - CRYPTO_BLOCK, &pad) != TFS_OK)
		return bad_padding(src, err);
	rc = cbc_check_plain_len(src, env, total, pad, err);
	if (rc != TFS_OK)
		return rc;
	return sink_write(snk, b->out, have - pad, err);
}

static int
decrypt_cbc(struct source *src, struct sink *snk, const struct crypto_cek *cek,
    const struct envelope *env, struct buffers *b, struct tfs_error *err)
{
	struct crypto_cbc *cbc = NULL;
	int rc;

	rc = crypto_cbc_new(&cbc, cek);
	if (rc != TFS_OK)
		return tfs_error_set(err, rc, "%s: cannot set up AES-CBC: %s",
		    src->name, tfs_strerror(rc));
	if (src->seekable)
		rc = cbc_precheck(src, cbc, env, err);
	if (rc == TFS_OK)
		rc = cbc_stream(src, snk, cbc, env, b, err);
	crypto_cbc_free(cbc);
	return rc;
}

/* --- AES-256-GCM --- */

static int
gcm_check_length(const struct source *src, const struct envelope *env,
    long long size, struct tfs_error *err)
{
	if (size < CRYPTO_GCM_TAG)
		return tfs_error_set(err, TFS_ERR_TRUNCATED, "%s: truncated: "
		    "%lld bytes, shorter than the 16-byte GCM tag", src->name,
		    size);
	if (env->ciphertext_size >= 0 && size < env->ciphertext_size)
		return tfs_error_set(err, TFS_ERR_TRUNCATED, "%s: truncated: "
		    "%lld bytes where Content-Length says %lld; download it "
		    "again", src->name, size, env->ciphertext_size);
	if (env->plaintext_size >= 0 &&
	    size - CRYPTO_GCM_TAG < env->plaintext_size)
		return tfs_error_set(err, TFS_ERR_TRUNCATED, "%s: truncated: "
		    "%lld bytes where the unencrypted length %lld needs %lld",
		    src->name, size, env->plaintext_size,
		    env->plaintext_size + CRYPTO_GCM_TAG);
	return TFS_OK;
}

static int
tag_mismatch(const struct source *src, struct tfs_error *err)
{
	return tfs_error_set(err, TFS_ERR_INTEGRITY, "%s: authentication tag "
	    "does not match: the file is tampered or truncated, or not the "
	    "object this envelope belongs to; no plaintext was written",
	    src->name);
}

/*
 * One pass over the input through GCM. With snk NULL only the tag is
 * checked; otherwise plaintext goes to snk as it is decrypted, which the
 * caller may do only where it can still be withdrawn (a temp file) or
 * after a verify-only pass.
 */
static int
gcm_pass(struct source *src, struct sink *snk, const struct crypto_cek *cek,
    const struct envelope *env, struct buffers *b, struct tfs_error *err)
{
	struct crypto_gcm *gcm = NULL;
	size_t got, out_len;
	uint64_t plain_len;
	long long total = 0;
	int rc;

	rc = crypto_gcm_new(&gcm, cek, env->iv, env->iv_len);
	if (rc != TFS_OK)
		return tfs_error_set(err, rc, "%s: cannot set up AES-GCM: %s",
		    src->name, tfs_strerror(rc));
	do {
		rc = read_full(src, b->in, CHUNK, &got, err);
		if (rc != TFS_OK)
			goto out;
		total += (long long)got;
		rc = crypto_gcm_update(gcm, b->in, got, snk ? b->out : NULL,
		    &out_len);
		if (rc == TFS_OK && snk != NULL)
			rc = sink_write(snk, b->out, out_len, err);
		if (rc != TFS_OK)
			goto out;
	} while (got == CHUNK);
	rc = gcm_check_length(src, env, total, err);
	if (rc != TFS_OK)
		goto out;
	rc = crypto_gcm_final(gcm, &plain_len);
	if (rc == TFS_ERR_INTEGRITY)
		rc = tag_mismatch(src, err);
	else if (rc != TFS_OK)
		rc = tfs_error_set(err, rc, "%s: %s", src->name,
		    tfs_strerror(rc));
	else if (env->plaintext_size >= 0 &&
	    (long long)plain_len != env->plaintext_size)
		rc = tfs_error_set(err, TFS_ERR_INTEGRITY, "%s: %llu bytes of "
		    "plaintext but the headers say %lld; is it the object "
		    "these headers belong to?", src->name,
		    (unsigned long long)plain_len, env->plaintext_size);
out:
	crypto_gcm_free(gcm);
	return rc;
}

static int
decrypt_gcm(struct source *src, struct sink *snk, const struct crypto_cek *cek,
    const struct envelope *env, struct buffers *b, struct tfs_error *err)
{
	int rc;

	if (src->seekable) {
		rc = gcm_check_length(src, env, src->size, err);
		if (rc != TFS_OK)
			return rc;
	}
	/* A file sink can be withdrawn: decrypt and verify in one pass. */
	if (!snk->stream)
		return gcm_pass(src, snk, cek, env, b, err);
	if (!src->seekable)
		return tfs_error_set(err, TFS_ERR_USAGE, "%s: AES-GCM input "
		    "from a pipe cannot be verified before it is written to "
		    "%s; give INPUT as a file, or a regular OUTPUT file",
		    src->name, sink_label(snk));
	/* A stream cannot be withdrawn: verify first, then decrypt again. */
	rc = gcm_pass(src, NULL, cek, env, b, err);
	if (rc != TFS_OK)
		return rc;
	if (lseek(src->fd, 0, SEEK_SET) != 0)
		return tfs_error_set(err, TFS_ERR_IO, "%s: cannot rewind: %s",
		    src->name, strerror(errno));
	rc = gcm_pass(src, snk, cek, env, b, err);
	if (rc == TFS_ERR_INTEGRITY || rc == TFS_ERR_TRUNCATED) {
		tfs_error_clear(err);
		rc = tfs_error_set(err, TFS_ERR_INTEGRITY, "%s: the file "
		    "changed while it was being decrypted; the output is not "
		    "trustworthy", src->name);
	}
	return rc;
}

int
decrypt_file(const struct decrypt_request *req, struct tfs_error *err)
{
	struct source src = { .fd = -1, .size = -1 };
	struct sink snk = { .fd = -1 };
	struct buffers b = { NULL, NULL };
	struct crypto_cek cek = { { 0 }, 0 };
	const struct envelope *env = req->env;
	int rc;

	rc = buffers_alloc(&b, err);
	if (rc == TFS_OK)
		rc = source_open(&src, req->input, req->input_fd, err);
	/* OUTPUT first: a wrong one is refused before any key is tried. */
	if (rc == TFS_OK)
		rc = sink_open(&snk, req->output, &src, err);
	if (rc == TFS_OK && env->scheme != ENVELOPE_NONE)
		rc = keyring_unwrap(req->keys, env, &cek, NULL, err);
	if (rc != TFS_OK)
		goto out;
	switch (env->scheme) {
	case ENVELOPE_NONE:
		rc = copy_plain(&src, &snk, &b, err);
		break;
	case ENVELOPE_CBC:
		rc = decrypt_cbc(&src, &snk, &cek, env, &b, err);
		break;
	case ENVELOPE_GCM:
		rc = decrypt_gcm(&src, &snk, &cek, env, &b, err);
		break;
	}
	if (rc == TFS_OK)
		rc = sink_commit(&snk, err);
out:
	if (rc != TFS_OK)
		sink_abort(&snk);
	else if (snk.path != NULL && snk.fd >= 0)
		close(snk.fd);
	crypto_cek_wipe(&cek);
	source_close(&src);
	buffers_free(&b);
	return rc;
}
