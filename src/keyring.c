/* SPDX-License-Identifier: MIT */
/* keyring.c - load RSA private keys; unwrap CEKs by SID, then by trial. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/decoder.h>
#include <openssl/encoder.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>

#include "twiliofs/io.h"
#include "twiliofs/keyring.h"
#include "twiliofs/log.h"

/* Key and passphrase files are small; a bigger one is a mistake. */
#define KEY_FILE_MAX (64 * 1024)
#define PASSPHRASE_MAX 1024

struct keyring_entry {
	EVP_PKEY *pkey;
	char sid[ENVELOPE_SID_LEN + 1];	/* "" when the name has none */
};

struct keyring {
	struct keyring_entry *v;
	size_t n, cap;
	/*
	 * 1 + the entry that last opened a key the envelope did not name
	 * the key of (video's never do): an account's items are mostly
	 * for one key, tried first; one RSA operation per item, not one
	 * per key before it. A hint shared by threads, not the keys.
	 */
	atomic_size_t hint;
};

/* What a passphrase callback saw, to explain a failed decode. */
struct passphrase {
	const char *text;	/* NULL: none given */
	size_t len;
	int asked;
};

/* "CR<32 hex>.pem|.der|.key" names the key's Public Key SID. */
static void
sid_from_name(const char *path, char sid[ENVELOPE_SID_LEN + 1])
{
	const char *base = strrchr(path, '/');
	char cand[ENVELOPE_SID_LEN + 1];

	base = base != NULL ? base + 1 : path;
	sid[0] = '\0';
	if (strlen(base) != ENVELOPE_SID_LEN + 4 || base[ENVELOPE_SID_LEN] !=
	    '.')
		return;
	if (strcmp(base + ENVELOPE_SID_LEN, ".pem") != 0 &&
	    strcmp(base + ENVELOPE_SID_LEN, ".der") != 0 &&
	    strcmp(base + ENVELOPE_SID_LEN, ".key") != 0)
		return;
	memcpy(cand, base, ENVELOPE_SID_LEN);
	cand[ENVELOPE_SID_LEN] = '\0';
	if (envelope_is_public_key_sid(cand))
		memcpy(sid, cand, sizeof(cand));
}

/*
 * Read a whole small file into a fresh buffer (*buf, *len); st gets its
 * status. Errors: TFS_ERR_CONFIG with a detail naming path.
 */
static int
read_small_file(const char *path, const char *what, unsigned char **buf,
    size_t *len, struct stat *st, struct tfs_error *err)
{
	unsigned char *b = NULL;
	size_t got = 0;
	ssize_t r;
	int fd, rc = TFS_ERR_CONFIG;

	*buf = NULL;
	*len = 0;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return tfs_error_set(err, TFS_ERR_CONFIG, "%s: cannot open %s: "
		    "%s", path, what, strerror(errno));
	if (fstat(fd, st) != 0 || !S_ISREG(st->st_mode)) {
		tfs_error_set(err, rc, "%s: %s is not a regular file", path,
		    what);
		goto out;
	}
	if (st->st_size > KEY_FILE_MAX) {
		tfs_error_set(err, rc, "%s: %s is larger than %d bytes; is "
		    "it the right file?", path, what, KEY_FILE_MAX);
		goto out;
	}
	b = malloc((size_t)st->st_size + 1);
	if (b == NULL) {
		rc = tfs_error_set(err, TFS_ERR_NOMEM, "out of memory");
		goto out;
	}
	while (got < (size_t)st->st_size) {
		r = read(fd, b + got, (size_t)st->st_size - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			tfs_error_set(err, rc, "%s: cannot read %s: %s", path,
			    what, r < 0 ? strerror(errno) : "file shrank");
			goto out;
		}
		got += (size_t)r;
	}
	b[got] = '\0';
	*buf = b;
	*len = got;
	b = NULL;
	rc = TFS_OK;
out:
	if (b != NULL) {
		OPENSSL_cleanse(b, (size_t)st->st_size + 1);
		free(b);
	}
	close(fd);
	return rc;
}

/* Refuse secrets that other users can read, as ssh does. */
static int
check_private_mode(const char *path, const char *what, const struct stat *st,
    struct tfs_error *err)
{
	if ((st->st_mode & (S_IRWXG | S_IRWXO)) == 0)
		return TFS_OK;
	return tfs_error_set(err, TFS_ERR_CONFIG, "%s: %s is readable by "
	    "group or others (mode %04o); run: chmod 600 %s", path, what,
	    (unsigned)(st->st_mode & 07777), path);
}

static int
read_passphrase(const char *path, char **out, size_t *out_len,
    struct tfs_error *err)
{
	unsigned char *buf;
	struct stat st;
	size_t len;
	int rc;

	rc = read_small_file(path, "passphrase file", &buf, &len, &st, err);
	if (rc != TFS_OK)
		return rc;
	rc = check_private_mode(path, "passphrase file", &st, err);
	if (rc == TFS_OK && len > PASSPHRASE_MAX)
		rc = tfs_error_set(err, TFS_ERR_CONFIG, "%s: passphrase is "
		    "longer than %d bytes", path, PASSPHRASE_MAX);
	if (rc != TFS_OK) {
		OPENSSL_cleanse(buf, len);
		free(buf);
		return rc;
	}
	/* The passphrase is the first line, without its line end. */
	len = strcspn((char *)buf, "\r\n");
	buf[len] = '\0';
	*out = (char *)buf;
	*out_len = len;
	return TFS_OK;
}

static int
passphrase_cb(char *pass, size_t pass_size, size_t *pass_len,
    const OSSL_PARAM params[], void *arg)
{
	struct passphrase *pp = arg;

	(void)params;
	pp->asked = 1;
	if (pp->text == NULL || pp->len > pass_size)
		return 0;
	memcpy(pass, pp->text, pp->len);
	*pass_len = pp->len;
	return 1;
}

/* Whether pkey holds the private half (a public key decodes too). */
static int
has_private_rsa(EVP_PKEY *pkey)
{
	BIGNUM *d = NULL;
	int ok;

	if (!EVP_PKEY_is_a(pkey, "RSA"))
		return 0;
	ok = EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_RSA_D, &d) > 0;
	BN_clear_free(d);
	return ok;
}

/* Decode one RSA private key from data in any format OpenSSL knows. */
static EVP_PKEY *
decode_key(const unsigned char *data, size_t len, struct passphrase *pp)
{
	OSSL_DECODER_CTX *dctx;
	EVP_PKEY *pkey = NULL;

	dctx = OSSL_DECODER_CTX_new_for_pkey(&pkey, NULL, NULL, "RSA",
	    EVP_PKEY_KEYPAIR, NULL, NULL);
	if (dctx == NULL)
		return NULL;
	if (OSSL_DECODER_CTX_set_passphrase_cb(dctx, passphrase_cb, pp) > 0)
		(void)OSSL_DECODER_from_data(dctx, &data, &len);
	OSSL_DECODER_CTX_free(dctx);
	ERR_clear_error();
	if (pkey != NULL && !has_private_rsa(pkey)) {
		EVP_PKEY_free(pkey);
		pkey = NULL;
	}
	return pkey;
}

static int
add_entry(struct keyring *kr, EVP_PKEY *pkey, const char *path)
{
	struct keyring_entry *v;
	size_t cap;

	if (kr->n == kr->cap) {
		cap = kr->cap == 0 ? 8 : kr->cap * 2;
		v = realloc(kr->v, cap * sizeof(*v));
		if (v == NULL)
			return TFS_ERR_NOMEM;
		kr->v = v;
		kr->cap = cap;
	}
	kr->v[kr->n].pkey = pkey;
	sid_from_name(path, kr->v[kr->n].sid);
	kr->n++;
	return TFS_OK;
}

/*
 * Load the key in path. explicit: the user named this file, so it must be
 * a private key; otherwise (found in a directory) non-keys are skipped.
 */
static int
load_file(struct keyring *kr, const char *path, int explicit,
    const char *pass, size_t pass_len, struct tfs_error *err)
{
	struct passphrase pp = { pass, pass_len, 0 };
	unsigned char *data;
	EVP_PKEY *pkey;
	struct stat st;
	size_t len;
	int rc;

	rc = read_small_file(path, "key file", &data, &len, &st, err);
	if (rc != TFS_OK)
		return rc;
	pkey = decode_key(data, len, &pp);
	OPENSSL_cleanse(data, len);
	free(data);
	if (pkey == NULL) {
		if (pp.asked && pass == NULL)
			return tfs_error_set(err, TFS_ERR_CONFIG, "%s: key is "
			    "encrypted; give its passphrase with "
			    "--key-passphrase-file FILE", path);
		if (pp.asked)
			return tfs_error_set(err, TFS_ERR_CONFIG, "%s: wrong "
			    "passphrase (from --key-passphrase-file) for this "
			    "encrypted key", path);
		if (explicit)
			return tfs_error_set(err, TFS_ERR_CONFIG, "%s: no RSA "
			    "private key in this file (PEM or DER, PKCS#1 or "
			    "PKCS#8 expected)", path);
		log_msg(TFS_LOG_DEBUG, "%s: not an RSA private key, skipped",
		    path);
		return TFS_OK;
	}
	rc = check_private_mode(path, "private key", &st, err);
	if (rc == TFS_OK)
		rc = add_entry(kr, pkey, path);
	if (rc != TFS_OK) {
		EVP_PKEY_free(pkey);
		return rc == TFS_ERR_NOMEM ? tfs_error_set(err, rc,
		    "out of memory") : rc;
	}
	log_msg(TFS_LOG_DEBUG, "%s: loaded RSA-%d key%s%s", path,
	    EVP_PKEY_get_bits(pkey), kr->v[kr->n - 1].sid[0] ? " for " : "",
	    kr->v[kr->n - 1].sid);
	return TFS_OK;
}

static int
cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Load every key file in dir (name order, dot files skipped). */
static int
load_dir(struct keyring *kr, const char *dir, const char *pass,
    size_t pass_len, struct tfs_error *err)
{
	char **names = NULL, **grown, path[4096];
	size_t n = 0, cap = 0, i;
	struct dirent *de;
	struct stat st;
	DIR *d;
	int rc = TFS_OK;

	d = opendir(dir);
	if (d == NULL)
		return tfs_error_set(err, TFS_ERR_CONFIG, "%s: cannot read "
		    "key directory: %s", dir, strerror(errno));
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		if (n == cap) {
			cap = cap == 0 ? 16 : cap * 2;
			grown = realloc(names, cap * sizeof(*names));
			if (grown == NULL) {
				rc = TFS_ERR_NOMEM;
				goto out;
			}
			names = grown;
		}
		names[n] = strdup(de->d_name);
		if (names[n] == NULL) {
			rc = TFS_ERR_NOMEM;
			goto out;
		}
		n++;
	}
	if (n > 0)
		qsort(names, n, sizeof(*names), cmp_names);
	for (i = 0; i < n && rc == TFS_OK; i++) {
		if (snprintf(path, sizeof(path), "%s/%s", dir, names[i]) >=
		    (int)sizeof(path)) {
			rc = tfs_error_set(err, TFS_ERR_CONFIG, "%s/%s: path "
			    "too long", dir, names[i]);
			break;
		}
		/* Media, notes and the like may share the directory. */
		if (stat(path, &st) != 0 || !S_ISREG(st.st_mode) ||
		    st.st_size > KEY_FILE_MAX)
			continue;
		rc = load_file(kr, path, 0, pass, pass_len, err);
	}
out:
	if (rc == TFS_ERR_NOMEM)
		tfs_error_set(err, rc, "out of memory");
	for (i = 0; i < n; i++)
		free(names[i]);
	free(names);
	closedir(d);
	return rc;
}

static int
load_path(struct keyring *kr, const char *path, const char *pass,
    size_t pass_len, struct tfs_error *err)
{
	struct stat st;

	if (stat(path, &st) != 0)
		return tfs_error_set(err, TFS_ERR_CONFIG, "%s: cannot use "
		    "key path: %s", path, strerror(errno));
	if (S_ISDIR(st.st_mode))
		return load_dir(kr, path, pass, pass_len, err);
	return load_file(kr, path, 1, pass, pass_len, err);
}

int
keyring_load(struct keyring **out, const char *paths,
    const char *passphrase_file, struct tfs_error *err)
{
	struct keyring *kr = NULL;
	char *list = NULL, *p, *next, *pass = NULL;
	size_t pass_len = 0;
	int rc;

	*out = NULL;
	if (paths == NULL || paths[0] == '\0')
		return tfs_error_set(err, TFS_ERR_CONFIG, "no private keys "
		    "given; use -k FILE|DIR or set TWILIOFS_KEYS");
	if (passphrase_file != NULL) {
		rc = read_passphrase(passphrase_file, &pass, &pass_len, err);
		if (rc != TFS_OK)
			return rc;
	}
	kr = calloc(1, sizeof(*kr));
	list = strdup(paths);
	if (kr == NULL || list == NULL) {
		rc = tfs_error_set(err, TFS_ERR_NOMEM, "out of memory");
		goto out;
	}
	rc = TFS_OK;
	for (p = list; p != NULL && rc == TFS_OK; p = next) {
		next = strchr(p, ':');
		if (next != NULL)
			*next++ = '\0';
		if (*p != '\0')
			rc = load_path(kr, p, pass, pass_len, err);
	}
	if (rc == TFS_OK && kr->n == 0)
		rc = tfs_error_set(err, TFS_ERR_CONFIG, "no RSA private key "
		    "found in %s; give the private key files with -k", paths);
	if (rc == TFS_OK) {
		*out = kr;
		kr = NULL;
	}
out:
	if (pass != NULL) {
		OPENSSL_cleanse(pass, pass_len);
		free(pass);
	}
	free(list);
	keyring_free(kr);
	return rc;
}

size_t
keyring_count(const struct keyring *kr)
{
	return kr != NULL ? kr->n : 0;
}

/* Try entry i; on success copy its SID out. */
static int
try_entry(const struct keyring *kr, size_t i, const struct envelope *env,
    struct crypto_cek *cek, char *used_sid)
{
	int rc;

	rc = crypto_rsa_unwrap(kr->v[i].pkey, env->scheme, env->wrapped_cek,
	    env->wrapped_cek_len, cek);
	log_msg(TFS_LOG_DEBUG, "unwrap with key %zu%s%s: %s", i + 1,
	    kr->v[i].sid[0] ? " " : "", kr->v[i].sid, rc == TFS_OK ? "ok" :
	    "no");
	if (rc == TFS_OK && used_sid != NULL)
		memcpy(used_sid, kr->v[i].sid, sizeof(kr->v[i].sid));
	return rc;
}

int
keyring_unwrap(const struct keyring *kr, const struct envelope *env,
    struct crypto_cek *cek, char used_sid[ENVELOPE_SID_LEN + 1],
    struct tfs_error *err)
{
	const char *want = env->public_key_sid;
	int rc, crypto_failed = 0, have_named = 0, named;
	size_t i, pass, hint = atomic_load(&kr->hint);

	if (env->scheme == ENVELOPE_NONE || env->wrapped_cek_len == 0)
		return tfs_error_set(err, TFS_ERR_ENVELOPE, "no wrapped "
		    "content key in the envelope");
	/* Pass 0: the key named for the SID; 1: the last that opened one;
	 * 2: every other key. */
	for (pass = 0; pass < 3; pass++) {
		for (i = 0; i < kr->n; i++) {
			named = want[0] != '\0' &&
			    strcasecmp(kr->v[i].sid, want) == 0;
			if (pass == 0 ? !named : named || (pass == 1) !=
			    (i + 1 == hint))
				continue;
			have_named |= named;
			rc = try_entry(kr, i, env, cek, used_sid);
			if (rc == TFS_OK) {
				if (!named)	/* see hint */
					atomic_store(&((struct keyring *)
					    kr)->hint, i + 1);
				return TFS_OK;
			}
			crypto_failed |= rc == TFS_ERR_CRYPTO;
		}
	}
	if (crypto_failed)
		return tfs_error_set(err, TFS_ERR_CRYPTO, "OpenSSL failed "
		    "while unwrapping the content key");
	if (want[0] == '\0')
		return tfs_error_set(err, TFS_ERR_NOKEY, "no key in the "
		    "keyring opens the content key (tried %zu keys; the "
		    "envelope does not name its Public Key SID); add the "
		    "matching private key with -k", kr->n);
	if (have_named)
		return tfs_error_set(err, TFS_ERR_NOKEY, "no key in the "
		    "keyring opens the content key wrapped for %s: the file "
		    "named for it is not that Public Key's private half "
		    "(tried %zu keys)", want, kr->n);
	return tfs_error_set(err, TFS_ERR_NOKEY, "no key in the keyring "
	    "opens the content key wrapped for %s (tried %zu keys); add "
	    "that key, e.g. as %s.pem, with -k", want, kr->n, want);
}

void
keyring_free(struct keyring *kr)
{
	size_t i;

	if (kr == NULL)
		return;
	/* EVP_PKEY_free clears the private components as it frees them. */
	for (i = 0; i < kr->n; i++)
		EVP_PKEY_free(kr->v[i].pkey);
	free(kr->v);
	free(kr);
}

int
keyring_has(const struct keyring *kr, const char *sid)
{
	size_t i;

	for (i = 0; kr != NULL && i < kr->n; i++)
		if (strcmp(kr->v[i].sid, sid) == 0)
			return 1;
	return 0;
}

/* pkey as PEM of structure (SubjectPublicKeyInfo, PrivateKeyInfo). */
static int
encode_pem(EVP_PKEY *pkey, int selection, const char *structure,
    unsigned char **out, size_t *len)
{
	OSSL_ENCODER_CTX *ectx;
	int ok;

	*out = NULL;
	*len = 0;
	ectx = OSSL_ENCODER_CTX_new_for_pkey(pkey, selection, "PEM",
	    structure, NULL);
	ok = ectx != NULL && OSSL_ENCODER_to_data(ectx, out, len) > 0;
	OSSL_ENCODER_CTX_free(ectx);
	ERR_clear_error();
	return ok ? TFS_OK : TFS_ERR_CRYPTO;
}

int
keyring_public_pem(const struct keyring *kr, size_t i, char **pem,
    struct tfs_error *err)
{
	unsigned char *der;
	size_t len;

	*pem = NULL;
	if (kr == NULL || i >= kr->n)
		return tfs_error_set(err, TFS_ERR_USAGE, "no such key");
	if (encode_pem(kr->v[i].pkey, EVP_PKEY_PUBLIC_KEY,
	    "SubjectPublicKeyInfo", &der, &len) != TFS_OK)
		return tfs_error_set(err, TFS_ERR_CRYPTO, "cannot write the "
		    "public key as PEM");
	*pem = malloc(len + 1);
	if (*pem != NULL) {
		memcpy(*pem, der, len);
		(*pem)[len] = '\0';
	}
	OPENSSL_free(der);
	return *pem != NULL ? TFS_OK : tfs_error_set(err, TFS_ERR_NOMEM,
	    "out of memory");
}

/* Write one half of pkey to dir/name with mode. */
static int
write_half(EVP_PKEY *pkey, int selection, const char *structure,
    const char *dir, const char *name, mode_t mode, struct tfs_error *err)
{
	unsigned char *pem;
	char path[4096];
	size_t len;
	int rc = TFS_OK;

	if (snprintf(path, sizeof(path), "%s/%s", dir, name) >=
	    (int)sizeof(path))
		return tfs_error_set(err, TFS_ERR_USAGE, "%s: path too long",
		    dir);
	if (encode_pem(pkey, selection, structure, &pem, &len) != TFS_OK)
		return tfs_error_set(err, TFS_ERR_CRYPTO, "cannot write the "
		    "new key as PEM");
	if (io_write_new(path, pem, len, mode) != 0)
		rc = tfs_error_set(err, errno == EEXIST ? TFS_ERR_USAGE :
		    TFS_ERR_IO, "%s: %s%s", path, strerror(errno), errno ==
		    EEXIST ? "; not replaced: choose another --out" : "");
	OPENSSL_clear_free(pem, len);
	return rc;
}

int
keyring_generate(int bits, const char *dir, struct tfs_error *err)
{
	static const char *const names[] = { "private_key.pem",
	    "public_key.pem" };
	char path[4096];
	EVP_PKEY *pkey;
	size_t i;
	int rc;

	if (bits != 2048 && bits != 3072 && bits != 4096)
		return tfs_error_set(err, TFS_ERR_USAGE, "keys generate: "
		    "--bits must be 2048, 3072 or 4096, not %d", bits);
	if (io_make_dirs(dir) != 0)
		return tfs_error_set(err, TFS_ERR_USAGE, "%s: %s", dir,
		    strerror(errno));
	/* Both names free before any work: never half a pair. */
	for (i = 0; i < 2; i++) {
		(void)snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		if (access(path, F_OK) == 0)
			return tfs_error_set(err, TFS_ERR_USAGE, "%s exists; "
			    "not replaced: choose another --out", path);
		if (errno != ENOENT)
			return tfs_error_set(err, TFS_ERR_USAGE, "%s: %s",
			    path, strerror(errno));
	}
	pkey = EVP_RSA_gen((unsigned int)bits);
	if (pkey == NULL)
		return tfs_error_set(err, TFS_ERR_CRYPTO, "cannot generate an "
		    "RSA-%d key", bits);
	rc = write_half(pkey, EVP_PKEY_KEYPAIR, "PrivateKeyInfo", dir,
	    names[0], 0600, err);
	if (rc == TFS_OK) {
		rc = write_half(pkey, EVP_PKEY_PUBLIC_KEY,
		    "SubjectPublicKeyInfo", dir, names[1], 0644, err);
		if (rc != TFS_OK) {
			(void)snprintf(path, sizeof(path), "%s/%s", dir,
			    names[0]);
			(void)unlink(path);
		}
	}
	EVP_PKEY_free(pkey);
	return rc;
}

int
keyring_install(const char *src, const char *dir, const char *sid,
    char *path, size_t cap, struct tfs_error *err)
{
	unsigned char *data;
	struct stat st;
	size_t len;
	int rc, w;

	rc = read_small_file(src, "key file", &data, &len, &st, err);
	if (rc != TFS_OK)
		return rc;
	w = snprintf(path, cap, "%s/%s.%s", dir, sid, strstr((char *)data,
	    "-----BEGIN") != NULL ? "pem" : "der");
	if (w < 0 || (size_t)w >= cap)
		rc = tfs_error_set(err, TFS_ERR_USAGE, "%s: path too long",
		    dir);
	else if (io_make_dirs(dir) != 0 || io_write_new(path, data, len,
	    0600) != 0)
		rc = tfs_error_set(err, errno == EEXIST ? TFS_ERR_USAGE :
		    TFS_ERR_IO, "%s: %s", errno == EEXIST ? path : dir,
		    strerror(errno));
	OPENSSL_cleanse(data, len);
	free(data);
	return rc;
}
