/* SPDX-License-Identifier: MIT */
/*
 * test_keyring.c - unit tests of keyring.h against the fixtures
 * (TFS_FIXTURES): loading a directory, single files and ':'-lists of every
 * key format, encrypted keys with and without (the right) passphrase, the
 * permission checks ssh also makes, files that are not keys, and unwrap by
 * Public Key SID then by trial. Scratch files go to a private directory
 * under TFS_WORK (or TMPDIR, or /tmp) that is removed at the end.
 */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif

#include <ctype.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "twiliofs/envelope.h"
#include "twiliofs/keyring.h"

#include "fixtures.h"
#include "unit.h"

static char scratch[4096];	/* our private directory */
static char fxdir[4096];	/* TFS_FIXTURES */
static char keysdir[4096];	/* TFS_FIXTURES/keys */
static char passfile[4096];	/* TFS_FIXTURES/passphrase */
static char sids[6][40];	/* A B C D E X */

static const char *
sid_of(char letter)
{
	const char *p = strchr(fx_letters, letter);

	return p != NULL ? sids[p - fx_letters] : "";
}

/* Copy src to dst with mode; exits 99 on failure (not the code's fault). */
static void
copy_file(const char *src, const char *dst, mode_t mode)
{
	unsigned char *buf;
	size_t len;
	FILE *f;

	buf = unit_read_file(src, &len);
	if (buf == NULL) {
		fprintf(stderr, "test: cannot read %s\n", src);
		exit(99);
	}
	f = fopen(dst, "wb");
	if (f == NULL || fwrite(buf, 1, len, f) != len || fclose(f) != 0 ||
	    chmod(dst, mode) != 0) {
		fprintf(stderr, "test: cannot write %s\n", dst);
		exit(99);
	}
	free(buf);
}

static void
write_file(const char *dst, const char *text, mode_t mode)
{
	FILE *f = fopen(dst, "wb");

	if (f == NULL || fputs(text, f) < 0 || fclose(f) != 0 ||
	    chmod(dst, mode) != 0) {
		fprintf(stderr, "test: cannot write %s\n", dst);
		exit(99);
	}
}

/* A new empty directory scratch/name, 0700; its path into buf. */
static char *
new_dir(char *buf, size_t cap, const char *name)
{
	unit_path(buf, cap, scratch, name);
	if (mkdir(buf, 0700) != 0) {
		fprintf(stderr, "test: cannot make %s\n", buf);
		exit(99);
	}
	return buf;
}

/*
 * keyring_load expecting TFS_ERR_CONFIG whose detail contains want (if
 * not NULL; case-insensitive) and is one line.
 */
static void
load_fails(const char *what, const char *paths, const char *pass,
    const char *want)
{
	struct keyring *kr = NULL;
	struct tfs_error err;
	int rc;

	tfs_error_clear(&err);
	rc = keyring_load(&kr, paths, pass, &err);
	if (!CHECK_RC(rc, TFS_ERR_CONFIG, "%s", what)) {
		if (rc == TFS_OK)
			keyring_free(kr);
		return;
	}
	CHECK_DETAIL(&err, "%s", what);
	if (want != NULL)
		CHECK(unit_has_ci(err.detail, want), "%s: the detail does not "
		    "say \"%s\": %s", what, want, err.detail);
}

/* keyring_load expecting success with n keys; the keyring or NULL. */
static struct keyring *
load_ok(const char *what, const char *paths, const char *pass, size_t n)
{
	struct keyring *kr = NULL;
	struct tfs_error err;
	int rc;

	tfs_error_clear(&err);
	rc = keyring_load(&kr, paths, pass, &err);
	if (!CHECK_RC(rc, TFS_OK, "%s: %s", what, err.detail))
		return NULL;
	if (!CHECK(kr != NULL, "%s: no keyring", what))
		return NULL;
	CHECK(keyring_count(kr) == n, "%s: %zu keys, want %zu", what,
	    keyring_count(kr), n);
	return kr;
}

/* ----------------------------------------------------------------- */

static void
test_load_dir(void)
{
	struct keyring *kr;

	kr = load_ok("keys/ with the passphrase", keysdir, passfile, 5);
	keyring_free(kr);
	load_fails("keys/ without a passphrase (key C is encrypted)",
	    keysdir, NULL, "passphrase");
	keyring_free(NULL);
}

static void
test_load_files(void)
{
	struct keyring *kr;
	char path[4096], list[16384];
	size_t i;

	/* Each key file on its own, each format. */
	for (i = 0; i < 6; i++) {
		if (!CHECK(fx_key_path(fxdir, fx_letters[i], path,
		    sizeof(path)) == 0, "no file for key %c", fx_letters[i]))
			continue;
		kr = load_ok(path, path, fx_letters[i] == 'C' ? passfile :
		    NULL, 1);
		keyring_free(kr);
	}
	if (fx_key_path(fxdir, 'C', path, sizeof(path)) == 0)
		load_fails("encrypted key C alone, no passphrase", path, NULL,
		    "passphrase");

	/* ':'-separated lists. */
	if (fx_key_path(fxdir, 'A', path, sizeof(path)) == 0) {
		(void)snprintf(list, sizeof(list), "%s:%s/stranger.pem", path,
		    fxdir);
		kr = load_ok("A:stranger", list, NULL, 2);
		keyring_free(kr);
	}
	(void)snprintf(list, sizeof(list), "%s/stranger.pem:%s", fxdir,
	    keysdir);
	kr = load_ok("stranger:keys/", list, passfile, 6);
	keyring_free(kr);
	(void)snprintf(list, sizeof(list), "%s:%s/nonexistent.pem", keysdir,
	    fxdir);
	load_fails("a list naming a missing file", list, passfile, NULL);
}

static void
test_load_refusals(void)
{
	struct keyring *kr;
	char dir[4096], path[4096], a[4096], pub[4096], loose[4096];
	char list[8300];
	static const mode_t bad_modes[] = { 0644, 0640, 0604, 0660, 0606,
	    0700 | 0040, 0755 };
	size_t i;

	if (fx_key_path(fxdir, 'A', a, sizeof(a)) != 0) {
		CHECK(0, "no file for key A");
		return;
	}
	unit_path(pub, sizeof(pub), keysdir, "public.pem");

	/* Loose permissions on a key file, named or in a directory. */
	new_dir(dir, sizeof(dir), "loose");
	unit_path(loose, sizeof(loose), dir, "key.pem");
	for (i = 0; i < sizeof(bad_modes) / sizeof(bad_modes[0]); i++) {
		char what[128];

		copy_file(a, loose, bad_modes[i]);
		(void)snprintf(what, sizeof(what), "a key file of mode %04o",
		    (unsigned)bad_modes[i]);
		load_fails(what, loose, NULL, "readable by group or others");
		(void)snprintf(what, sizeof(what), "a directory with a key "
		    "file of mode %04o", (unsigned)bad_modes[i]);
		load_fails(what, dir, NULL, "readable by group or others");
	}
	copy_file(a, loose, 0600);
	kr = load_ok("the same key file at 0600", loose, NULL, 1);
	keyring_free(kr);
	copy_file(a, loose, 0400);
	kr = load_ok("the same key file at 0400", loose, NULL, 1);
	keyring_free(kr);

	/* A loose passphrase file. */
	unit_path(path, sizeof(path), dir, "passphrase");
	copy_file(passfile, path, 0644);
	load_fails("a passphrase file of mode 0644", keysdir, path,
	    "readable by group or others");

	/* A wrong passphrase. */
	write_file(path, "not the passphrase\n", 0600);
	load_fails("keys/ with a wrong passphrase", keysdir, path,
	    "passphrase");
	if (fx_key_path(fxdir, 'C', a, sizeof(a)) == 0)
		load_fails("key C with a wrong passphrase", a, path,
		    "passphrase");
	(void)fx_key_path(fxdir, 'A', a, sizeof(a));

	/* Explicitly named files that hold no private key. */
	load_fails("a public key named explicitly", pub, NULL, NULL);
	if (snprintf(list, sizeof(list), "%s:%s", a, pub) < (int)sizeof(list))
		load_fails("a key, then a public key, in a list", list, NULL,
		    NULL);
	unit_path(path, sizeof(path), dir, "notes.txt");
	write_file(path, "these are not the keys you are looking for\n",
	    0600);
	load_fails("a text file named explicitly", path, NULL, NULL);
	unit_path(path, sizeof(path), dir, "empty.pem");
	write_file(path, "", 0600);
	load_fails("an empty file named explicitly", path, NULL, NULL);
	unit_path(path, sizeof(path), dir, "broken.pem");
	write_file(path, "-----BEGIN RSA PRIVATE KEY-----\nMIIEow==\n"
	    "-----END RSA PRIVATE KEY-----\n", 0600);
	load_fails("a truncated PEM key named explicitly", path, NULL, NULL);
	unit_path(path, sizeof(path), scratch, "does-not-exist.pem");
	load_fails("a missing file", path, NULL, NULL);

	/* Directories without any private key. */
	new_dir(dir, sizeof(dir), "nokeys");
	copy_file(pub, unit_path(path, sizeof(path), dir, "public.pem"),
	    0600);
	write_file(unit_path(path, sizeof(path), dir, "README"),
	    "keys go here\n", 0600);
	load_fails("a directory with only non-key files", dir, NULL, NULL);
	new_dir(dir, sizeof(dir), "empty");
	load_fails("an empty directory", dir, NULL, NULL);

	/* Non-keys in a key directory are skipped, readable or not. */
	new_dir(dir, sizeof(dir), "mixed");
	copy_file(a, unit_path(path, sizeof(path), dir, "a.pem"), 0600);
	copy_file(pub, unit_path(path, sizeof(path), dir, "public.pem"),
	    0644);
	write_file(unit_path(path, sizeof(path), dir, "README"),
	    "keys go here\n", 0644);
	new_dir(path, sizeof(path), "mixed/sub");
	copy_file(a, unit_path(loose, sizeof(loose), path, "b.pem"), 0600);
	kr = load_ok("a key, a public key, a README and a subdirectory", dir,
	    NULL, 1);
	keyring_free(kr);
}

/* ----------------------------------------------------------------- */

/* The envelope of a fixture vector, from its .details or .headers. */
static int
vector_env(const struct fx_vector *v, struct envelope *env)
{
	struct tfs_error err;
	int rc;

	envelope_init(env);
	tfs_error_clear(&err);
	if (v->details != NULL)
		rc = envelope_from_details(env, v->details, &err);
	else if (v->headers != NULL)
		rc = envelope_from_headers(env, v->headers, v->headers_len,
		    &err);
	else
		rc = envelope_from_b64(env, v->wrapped_b64, v->iv_b64, &err);
	return CHECK_RC(rc, TFS_OK, "%s: envelope: %s", v->name, err.detail) ?
	    0 : -1;
}

/* Unwrap env with kr; check the result against v and want_sid. */
static void
unwrap_ok(const char *what, const struct keyring *kr,
    const struct envelope *env, const struct fx_vector *v,
    const char *want_sid)
{
	struct crypto_cek cek;
	struct tfs_error err;
	char used[ENVELOPE_SID_LEN + 1];
	int rc;

	memset(&cek, 0, sizeof(cek));
	memset(used, 'Z', sizeof(used));
	used[ENVELOPE_SID_LEN] = '\0';
	tfs_error_clear(&err);
	rc = keyring_unwrap(kr, env, &cek, used, &err);
	if (!CHECK_RC(rc, TFS_OK, "%s: %s: %s", v->name, what, err.detail))
		return;
	CHECK(cek.len == v->cek_len && memcmp(cek.bytes, v->cek,
	    v->cek_len) == 0, "%s: %s: CEK differs from .meta", v->name,
	    what);
	CHECK(strcmp(used, want_sid) == 0, "%s: %s: used_sid \"%s\", want "
	    "\"%s\"", v->name, what, used, want_sid);
	crypto_cek_wipe(&cek);
	/* used_sid may be NULL. */
	rc = keyring_unwrap(kr, env, &cek, NULL, NULL);
	CHECK_RC(rc, TFS_OK, "%s: %s, used_sid NULL", v->name, what);
	crypto_cek_wipe(&cek);
}

static void
test_unwrap(void)
{
	struct keyring *kr, *kx;
	struct fx_vector v;
	struct envelope env;
	struct crypto_cek cek;
	struct tfs_error err;
	char path[4096], used[ENVELOPE_SID_LEN + 1];
	size_t i;
	int rc, seen_b = 0;

	kr = load_ok("keys/", keysdir, passfile, 5);
	unit_path(path, sizeof(path), fxdir, "stranger.pem");
	kx = load_ok("stranger.pem", path, NULL, 1);
	if (kr == NULL || kx == NULL)
		goto out;
	for (i = 0; i < FX_NVEC; i++) {
		if (!CHECK(fx_vector_load(fxdir, i, 0, &v) == 0, "vector %s",
		    fx_all[i].name))
			continue;
		if (vector_env(&v, &env) != 0) {
			fx_vector_free(&v);
			continue;
		}
		if (v.key == 'X') {
			/* Nobody in keys/ opens it; the detail says who. */
			tfs_error_clear(&err);
			rc = keyring_unwrap(kr, &env, &cek, used, &err);
			CHECK_RC(rc, TFS_ERR_NOKEY, "%s with keys/", v.name);
			CHECK_DETAIL(&err, "%s with keys/", v.name);
			if (env.public_key_sid[0] != '\0')
				CHECK(strstr(err.detail, sid_of('X')) != NULL,
				    "%s: the detail does not name %s: %s",
				    v.name, sid_of('X'), err.detail);
			/* stranger.pem has no SID in its name. */
			unwrap_ok("with stranger.pem", kx, &env, &v, "");
			fx_vector_free(&v);
			continue;
		}
		if (v.key == 'B')
			seen_b++;
		/* By SID when the envelope names it, else by trial. */
		unwrap_ok("keys/", kr, &env, &v, v.key == 'E' ? "" :
		    sid_of(v.key));
		/* A SID no key in the ring has: trial finds it. */
		if (envelope_set_public_key_sid(&env, sid_of('X'), NULL) == 0)
			unwrap_ok("keys/, SID of a missing key", kr, &env, &v,
			    v.key == 'E' ? "" : sid_of(v.key));
		/* The SID of another key in the ring: trial goes on. */
		if (envelope_set_public_key_sid(&env, sid_of(v.key == 'A' ?
		    'B' : 'A'), NULL) == 0)
			unwrap_ok("keys/, SID of another key", kr, &env, &v,
			    v.key == 'E' ? "" : sid_of(v.key));
		/* The stranger's key alone opens none of these. */
		tfs_error_clear(&err);
		rc = keyring_unwrap(kx, &env, &cek, used, &err);
		CHECK_RC(rc, TFS_ERR_NOKEY, "%s with stranger.pem", v.name);
		CHECK_DETAIL(&err, "%s with stranger.pem", v.name);
		if (env.public_key_sid[0] != '\0')
			CHECK(strstr(err.detail, env.public_key_sid) != NULL,
			    "%s: the detail does not name %s: %s", v.name,
			    env.public_key_sid, err.detail);
		fx_vector_free(&v);
	}
	CHECK(seen_b == 2, "%d vectors for key B, want 2", seen_b);
	/* No wrapped key at all. */
	envelope_init(&env);
	tfs_error_clear(&err);
	rc = keyring_unwrap(kr, &env, &cek, used, &err);
	CHECK_RC(rc, TFS_ERR_ENVELOPE, "an envelope without a wrapped key");
	CHECK_DETAIL(&err, "an envelope without a wrapped key");
out:
	keyring_free(kr);
	keyring_free(kx);
}

int
main(void)
{
	const char *fx, *base;
	size_t i;

	unit_begin("test_keyring");
	fx = unit_fixtures();
	if (fx == NULL) {
		fprintf(stderr, "test_keyring: SKIP: TFS_FIXTURES is not set "
		    "(make it with tests/fixtures/mkfixtures.sh DIR)\n");
		return UNIT_SKIP;
	}
	if (snprintf(fxdir, sizeof(fxdir), "%s", fx) >= (int)sizeof(fxdir))
		return 99;
	unit_path(keysdir, sizeof(keysdir), fx, "keys");
	unit_path(passfile, sizeof(passfile), fx, "passphrase");
	for (i = 0; i < 6; i++)
		if (fx_sid(fx, fx_letters[i], sids[i]) != 0)
			CHECK(0, "no SID for key %c in %s/sids",
			    fx_letters[i], fx);
	base = getenv("TFS_WORK");
	if (base == NULL || *base == '\0')
		base = getenv("TMPDIR");
	if (base == NULL || *base == '\0')
		base = "/tmp";
	unit_path(scratch, sizeof(scratch), base, "test_keyring.XXXXXX");
	if (mkdtemp(scratch) == NULL) {
		fprintf(stderr, "test_keyring: cannot make %s\n", scratch);
		return 99;
	}

	test_load_dir();
	test_load_files();
	test_load_refusals();
	test_unwrap();

	unit_remove_tree(scratch);
	return unit_done();
}
