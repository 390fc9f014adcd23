/* SPDX-License-Identifier: MIT */
/*
 * main.c - twiliofs: wires cli, keyring, envelope and decrypt together.
 * The only place that knows every module.
 */
#define _GNU_SOURCE	/* O_TMPFILE, explicit_bzero */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>
#ifdef HAVE_SYS_PRCTL_H
#include <sys/prctl.h>
#endif

#include <curl/curl.h>
#include <openssl/crypto.h>
#include <sqlite3.h>

#include "twiliofs/catalog.h"
#include "twiliofs/cli.h"
#include "twiliofs/config.h"
#include "twiliofs/decrypt.h"
#include "twiliofs/crypto.h"
#include "twiliofs/envelope.h"
#include "twiliofs/fs.h"
#include "twiliofs/io.h"
#include "twiliofs/http.h"
#include "twiliofs/json.h"
#include "twiliofs/keyring.h"
#include "twiliofs/log.h"
#include "twiliofs/media.h"
#include "twiliofs/reader.h"
#include "twiliofs/setup.h"
#include "twiliofs/sync.h"
#include "twiliofs/kind.h"
#include "twiliofs/twilio.h"

/* Header dumps and encryption details are small. */
#define ENVELOPE_FILE_MAX (1024 * 1024)
/* twiliofs sync lists everything once a day, else incrementally. */
#define FULL_SYNC_EVERY 86400

/*
 * Keys and CEKs live in this process's memory: keep them out of core
 * files (and, on Linux, out of reach of ptrace by other processes).
 */
static void
no_core_dumps(void)
{
	struct rlimit rl = { 0, 0 };

	(void)setrlimit(RLIMIT_CORE, &rl);
#if defined(HAVE_SYS_PRCTL_H) && defined(PR_SET_DUMPABLE) && \
    !defined(TFS_SANITIZED)
	/* (LeakSanitizer needs to ptrace us, so not in the test build.) */
	(void)prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
#endif
}

/* Read a whole small text file (NUL-terminated) for an envelope flag. */
static int
read_text_file(const char *path, const char *flag, char **out,
    size_t *out_len, struct tfs_error *err)
{
	struct stat st;
	size_t got = 0;
	ssize_t r;
	char *buf;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return tfs_error_set(err, TFS_ERR_IO, "%s: cannot open the %s "
		    "file: %s", path, flag, strerror(errno));
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) ||
	    st.st_size > ENVELOPE_FILE_MAX) {
		close(fd);
		return tfs_error_set(err, TFS_ERR_IO, "%s: the %s file must "
		    "be a regular file of at most %d bytes", path, flag,
		    ENVELOPE_FILE_MAX);
	}
	buf = malloc((size_t)st.st_size + 1);
	if (buf == NULL) {
		close(fd);
		return tfs_error_set(err, TFS_ERR_NOMEM, "out of memory");
	}
	while (got < (size_t)st.st_size) {
		r = read(fd, buf + got, (size_t)st.st_size - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			close(fd);
			free(buf);
			return tfs_error_set(err, TFS_ERR_IO, "%s: cannot read "
			    "the %s file: %s", path, flag, r < 0 ?
			    strerror(errno) : "file shrank");
		}
		got += (size_t)r;
	}
	close(fd);
	buf[got] = '\0';
	*out = buf;
	*out_len = got;
	return TFS_OK;
}

/* Build the envelope from whichever of --headers/--details/--cek given. */
static int
load_envelope(const struct cli_decrypt *o, struct envelope *env,
    struct tfs_error *err)
{
	char *text = NULL;
	size_t len;
	int rc;

	envelope_init(env);
	if (o->headers_file != NULL) {
		rc = read_text_file(o->headers_file, "--headers", &text, &len,
		    err);
		if (rc == TFS_OK && (rc = envelope_from_headers(env, text, len,
		    err)) != TFS_OK) {
			/* Name the file: the detail alone does not. */
			struct tfs_error inner = *err;

			tfs_error_clear(err);
			tfs_error_set(err, rc, "%s: %s", o->headers_file,
			    inner.detail);
		}
	} else if (o->details != NULL) {
		if (o->details[0] == '{' || o->details[0] == '"')
			rc = envelope_from_details(env, o->details, err);
		else {
			rc = read_text_file(o->details, "--details", &text,
			    &len, err);
			if (rc == TFS_OK)
				rc = envelope_from_details(env, text, err);
		}
	} else {
		rc = envelope_from_b64(env, o->cek_b64, o->iv_b64, err);
	}
	free(text);
	if (rc == TFS_OK && o->public_key_sid != NULL)
		rc = envelope_set_public_key_sid(env, o->public_key_sid, err);
	return rc;
}

static int
run_decrypt(const struct cli_decrypt *o)
{
	struct tfs_error err = { 0, "" };
	struct keyring *keys = NULL;
	struct envelope env;
	struct decrypt_request req;
	int rc;

	rc = load_envelope(o, &env, &err);
	if (rc == TFS_OK)
		rc = keyring_load(&keys, o->keys, o->passphrase_file, &err);
	if (rc == TFS_OK) {
		log_msg(TFS_LOG_INFO, "%zu private key(s) loaded; envelope: "
		    "%s%s%s", keyring_count(keys), env.scheme == ENVELOPE_GCM ?
		    "AES-256-GCM" : "AES-CBC", env.public_key_sid[0] ?
		    ", wrapped for " : "", env.public_key_sid);
		req.input = o->input;
		req.input_fd = -1;
		req.output = o->output;
		req.env = &env;
		req.keys = keys;
		rc = decrypt_file(&req, &err);
	}
	keyring_free(keys);
	if (rc != TFS_OK)
		cli_report(&err);
	return cli_exit_status(rc);
}

/* Everything a command talking to the account holds. */
struct session {
	char user[128];
	char secret[512];	/* wiped in session_close */
	char cache_dir[PATH_MAX];
	struct keyring *keys;	/* NULL when none were configured */
	struct catalog *cat;	/* NULL unless asked for */
	struct media *media;	/* its API client: media_api() */
};

/* Credentials: a credentials file, else the environment. Never argv. */
static int
credentials(const struct cli_account *a, struct session *s,
    struct tfs_error *err)
{
	char key[128] = "", token[512] = "", acct[64] = "";
	const char *v;
	int rc = TFS_OK;

	if (a->credentials_file != NULL && !(a->credentials_from_config &&
	    (getenv("TWILIO_API_KEY") != NULL ||
	    getenv("TWILIO_AUTH_TOKEN") != NULL))) {
		rc = cli_read_credentials(a->credentials_file, key,
		    sizeof(key), s->secret, sizeof(s->secret), token,
		    sizeof(token), acct, sizeof(acct), err);
	} else if (getenv("TWILIO_API_KEY") != NULL ||
	    getenv("TWILIO_AUTH_TOKEN") != NULL) {
		if ((v = getenv("TWILIO_API_KEY")) != NULL)
			(void)snprintf(key, sizeof(key), "%s", v);
		if ((v = getenv("TWILIO_API_SECRET")) != NULL)
			(void)snprintf(s->secret, sizeof(s->secret), "%s", v);
		if ((v = getenv("TWILIO_AUTH_TOKEN")) != NULL)
			(void)snprintf(token, sizeof(token), "%s", v);
	} else {	/* the config file's profile, last */
		(void)snprintf(key, sizeof(key), "%s", a->api_key != NULL ?
		    a->api_key : "");
		cli_take_secret(a->api_secret, s->secret, sizeof(s->secret));
		cli_take_secret(a->auth_token, token, sizeof(token));
	}
	if (rc != TFS_OK)
		goto out;
	if (key[0] != '\0' && s->secret[0] != '\0') {
		(void)snprintf(s->user, sizeof(s->user), "%s", key);
	} else if (key[0] != '\0') {
		rc = tfs_error_set(err, TFS_ERR_CONFIG, "TWILIO_API_KEY is set "
		    "but TWILIO_API_SECRET is not; set both");
	} else if (token[0] != '\0') {
		(void)snprintf(s->user, sizeof(s->user), "%s",
		    a->account_sid);
		(void)snprintf(s->secret, sizeof(s->secret), "%s", token);
	} else {
		rc = tfs_error_set(err, TFS_ERR_CONFIG, "no credentials: set "
		    "TWILIO_API_KEY and TWILIO_API_SECRET (or "
		    "TWILIO_AUTH_TOKEN), give --credentials FILE, or put "
		    "api_key and api_secret in %s", config_path());
	}
out:
	explicit_bzero(token, sizeof(token));
	return rc;
}

/* mkdir -p, new directories 0700. */
static int
make_dirs(const char *path, struct tfs_error *err)
{
	if (io_make_dirs(path) != 0)
		return tfs_error_set(err, TFS_ERR_CONFIG, "%s: cannot create: "
		    "%s", path, strerror(errno));
	return TFS_OK;
}

static int
cache_dir(const struct cli_account *a, char *out, size_t cap,
    struct tfs_error *err)
{
	const char *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
	int w;

	if (a->cache_dir != NULL)
		w = snprintf(out, cap, "%s", a->cache_dir);
	else if (xdg != NULL && xdg[0] == '/')
		w = snprintf(out, cap, "%s/twiliofs/%s", xdg, a->account_sid);
	else if (home != NULL && home[0] == '/')
		w = snprintf(out, cap, "%s/.cache/twiliofs/%s", home,
		    a->account_sid);
	else
		return tfs_error_set(err, TFS_ERR_CONFIG, "no cache "
		    "directory: set HOME or XDG_CACHE_HOME, or give "
		    "--cache-dir");
	if (w < 0 || (size_t)w >= cap)
		return tfs_error_set(err, TFS_ERR_CONFIG, "cache directory "
		    "path too long");
	return TFS_OK;
}

static void
session_close(struct session *s)
{
	catalog_close(s->cat);
	media_free(s->media);
	keyring_free(s->keys);
	explicit_bzero(s->secret, sizeof(s->secret));
	memset(s, 0, sizeof(*s));
}

/* The API settings of account a with the session's credentials. */
static struct twilio_config
api_config(const struct cli_account *a, const struct session *s)
{
	struct twilio_config tc = { 0 };

	tc.account_sid = a->account_sid;
	tc.username = s->user;
	tc.password = s->secret;
	tc.endpoint = a->endpoint;
	tc.region = a->region;
	tc.edge = a->edge;
	return tc;
}

/*
 * The API and media client of account a with the session's credentials
 * and HTTP settings hc: the one place it is made, for the session, the
 * refresh thread, the mount's check and the mount's reads.
 */
static int
media_open(const struct cli_account *a, const struct session *s,
    struct http_config hc, int offline, struct media **out,
    struct tfs_error *err)
{
	struct media_config mc;

	memset(&mc, 0, sizeof(mc));
	mc.api = api_config(a, s);
	mc.http = hc;
	mc.http.cafile = a->cafile;
	mc.keys = s->keys;
	mc.ttl = a->ttl;
	mc.offline = offline;
	return media_new(out, &mc, err);
}

static int
session_open(const struct cli *cli, int with_catalog, struct session *s,
    struct tfs_error *err)
{
	const struct cli_account *a = &cli->account;
	struct http_config hc = { 0 };
	int rc;

	memset(s, 0, sizeof(*s));
	if (kind_of_sid(a->account_sid) != 0 ||
	    strncmp(a->account_sid, "AC", 2) != 0 ||
	    strlen(a->account_sid) != 34)
		return tfs_error_set(err, TFS_ERR_CONFIG, "account SID "
		    "'%.40s' is not AC followed by 32 hex digits",
		    a->account_sid);
	rc = credentials(a, s, err);
	if (rc == TFS_OK && a->keys != NULL && a->keys[0] != '\0')
		rc = keyring_load(&s->keys, a->keys, a->passphrase_file, err);
	if (rc == TFS_OK)
		rc = media_open(a, s, hc, 0, &s->media, err);
	if (rc == TFS_OK)
		rc = cache_dir(a, s->cache_dir, sizeof(s->cache_dir), err);
	if (rc == TFS_OK && with_catalog) {
		rc = make_dirs(s->cache_dir, err);
		if (rc == TFS_OK)
			rc = catalog_open(&s->cat, s->cache_dir, err);
	}
	if (rc != TFS_OK)
		session_close(s);
	return rc;
}

static int
sync_summary(struct catalog *cat, const struct sync_report *rep,
    struct tfs_error *err)
{
	struct catalog_counts c;
	int kind, rc = TFS_OK;

	for (kind = 1; rc == TFS_OK && kind <= ITEM_KINDS; kind++) {
		rc = catalog_count(cat, (enum item_kind)kind, &c, err);
		if (rc == TFS_OK)
			cli_sync_summary((enum item_kind)kind,
			    &rep->kind[kind], &c);
	}
	return rc;
}

/* One line per failed product, and per kind and class of failed items. */
struct problem_tally {
	enum item_kind kind;
	char class[16];
	size_t n;
	char first[ITEM_SID_LEN + 1];
};

static void
tally_flush(struct problem_tally *t)
{
	struct tfs_error e = { 0, "" };

	if (t->n == 0)
		return;
	tfs_error_set(&e, TFS_ERR_NETWORK, "%s: %zu item%s failed (%s, "
	    "first %s); retried at the next sync; see .twiliofs/status.json",
	    sync_kind_name(t->kind), t->n, t->n == 1 ? "" : "s", t->class,
	    t->first);
	cli_report(&e);
	t->n = 0;
}

static int
tally_failure(const struct catalog_failure *f, void *arg)
{
	struct problem_tally *t = arg;

	if (t->n > 0 && (t->kind != f->kind || strcmp(t->class, f->class)))
		tally_flush(t);
	if (t->n++ == 0) {
		t->kind = f->kind;
		(void)snprintf(t->class, sizeof(t->class), "%s", f->class);
		(void)snprintf(t->first, sizeof(t->first), "%s", f->sid);
	}
	return 0;
}

static int
sync_problems(struct catalog *cat, const struct sync_report *rep,
    struct tfs_error *err)
{
	const struct sync_product_report *pr;
	struct problem_tally t;
	struct tfs_error e;
	int p, rc;

	for (p = 0; p < KIND_PRODUCTS; p++) {
		pr = &rep->product[p];
		if (pr->code == TFS_OK)
			continue;
		tfs_error_clear(&e);
		tfs_error_set(&e, pr->code, "%s %s: %s",
		    kind_product_name((enum kind_product)p),
		    pr->unavailable ? "skipped" : "failed", pr->detail);
		cli_report(&e);
	}
	memset(&t, 0, sizeof(t));
	rc = catalog_foreach_failure(cat, tally_failure, &t, err);
	tally_flush(&t);
	if (rep->nokey > 0) {
		tfs_error_clear(&e);
		tfs_error_set(&e, TFS_ERR_NOKEY, "%zu encrypted item%s no key "
		    "of ours opens (reads give EACCES); add the keys "
		    "status.json names with -k", rep->nokey, rep->nokey == 1 ?
		    "" : "s");
		cli_report(&e);
	}
	return rc;
}

static int
run_sync(const struct cli *cli)
{
	struct tfs_error err = { 0, "" };
	struct cli_progress_state ps;
	struct sync_options o = { 0 };
	struct sync_report rep;
	struct session s;
	int rc, outcome = TFS_OK;

	rc = session_open(cli, 1, &s, &err);
	if (rc == TFS_OK) {
		cli_progress_init(&ps);
		/* Incremental, but a kind whose last whole listing is a
		 * day old (or never made) is listed whole: --full always,
		 * --incremental only when never made. */
		o.incremental = cli->listing != 1;
		o.full_every = cli->listing < 0 ? 0 : FULL_SYNC_EVERY;
		o.page_size = cli->account.page_size;
		o.region = cli->account.region;
		o.retry_all = 1;	/* asked for now: no backoff */
		o.progress = cli_progress;
		o.arg = &ps;
		rc = sync_run(s.cat, s.media, &o, &rep, &err);
		cli_progress_end(&ps);
		if (rc == TFS_OK)
			rc = sync_summary(s.cat, &rep, &err);
		if (rc == TFS_OK)
			rc = sync_problems(s.cat, &rep, &err);
		if (rc == TFS_OK)
			outcome = sync_outcome(&rep);
		session_close(&s);
	}
	if (rc != TFS_OK)
		cli_report(&err);
	if (rc == TFS_OK && outcome == SYNC_PARTIAL)
		return CLI_EXIT_PARTIAL;
	return cli_exit_status(rc != TFS_OK ? rc : outcome);
}

/* An unnamed 0600 file for ciphertext: gone when we exit, however. */
static int
anonymous_file(const char *dir, struct tfs_error *err)
{
	char path[PATH_MAX];
	int fd = -1;

#ifdef O_TMPFILE
	fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
#endif
	if (fd < 0) {
		if (snprintf(path, sizeof(path), "%s/.get-XXXXXX", dir) >=
		    (int)sizeof(path))
			return tfs_error_set(err, TFS_ERR_IO, "path too long");
		fd = mkstemp(path);
		if (fd >= 0)
			(void)unlink(path);
	}
	if (fd < 0)
		return tfs_error_set(err, TFS_ERR_IO, "%s: cannot create a "
		    "download file: %s", dir, strerror(errno));
	return fd;
}

/* The item's state from its resource; for voice, its envelope too. */
static int
get_resource(struct session *s, struct item *it, struct tfs_error *err)
{
	char url[ITEM_URL_MAX], status[32] = "", type[16] = "", code[16] = "";
	char *json = NULL;
	int rc;

	rc = twilio_resource_url(media_api(s->media), it->sid, &it->kind, url,
	    sizeof(url));
	if (rc != TFS_OK || it->kind == 0)
		return tfs_error_set(err, TFS_ERR_USAGE, "'%.40s' is not the "
		    "SID of a video recording (RT…), composition (CJ…), "
		    "voice "
		    "recording (RE…) or transcript (GT…)", it->sid);
	rc = twilio_get_json(media_api(s->media), it->kind, url, &json, err);
	if (rc != TFS_OK)
		return rc;
	(void)json_value(json, "$.status", NULL, 0, status, sizeof(status));
	(void)json_value(json, "$.error_code", NULL, 0, code, sizeof(code));
	if (strcmp(status, "completed") != 0) {
		rc = tfs_error_set(err, TFS_ERR_NOTFOUND, "%s is %s%s%s; only "
		    "completed items have media", it->sid, status[0] ? status :
		    "in an unknown state", code[0] ? ", error " : "", code);
	} else if (kind_info(it->kind)->envelope_listed &&
	    json_value(json, "$.encryption_details", type, sizeof(type), NULL,
	    0) == 1 && strcmp(type, "null") != 0) {
		rc = envelope_from_details(&it->env, json, err);
	}
	free(json);
	return rc;
}

static int
run_get(const struct cli *cli)
{
	struct tfs_error err = { 0, "" };
	struct cli_progress_state ps;
	struct decrypt_request req;
	struct envelope env;
	struct session s;
	struct item it;
	long long size;
	int rc, fd = -1;

	cli_progress_init(&ps);
	ps.what = cli->sid;
	memset(&it, 0, sizeof(it));
	(void)snprintf(it.sid, sizeof(it.sid), "%s", cli->sid);
	it.part = cli->part;
	envelope_init(&it.env);
	rc = session_open(cli, 0, &s, &err);
	if (rc != TFS_OK)
		goto report;
	rc = get_resource(&s, &it, &err);
	if (rc == TFS_OK && it.part > 0 &&
	    kind_info(it.kind)->part_media_path == NULL)
		rc = tfs_error_set(&err, TFS_ERR_USAGE, "--part is for "
		    "transcripts' operator results only");
	if (rc == TFS_OK)
		rc = make_dirs(s.cache_dir, &err);
	if (rc == TFS_OK && (fd = anonymous_file(s.cache_dir, &err)) < 0)
		rc = fd;
	envelope_init(&env);
	if (rc == TFS_OK)
		rc = media_download(s.media, &it, fd, &env, &size,
		    cli_progress_bytes, &ps, &err);
	cli_progress_end(&ps);
	if (rc == TFS_OK && kind_info(it.kind)->envelope_listed)
		env = it.env;
	if (rc == TFS_OK && env.scheme != ENVELOPE_NONE && s.keys == NULL)
		rc = tfs_error_set(&err, TFS_ERR_CONFIG, "%s is encrypted%s%s "
		    "and no private keys were given: use -k or set "
		    "TWILIOFS_KEYS", it.sid, env.public_key_sid[0] ?
		    " for " : "", env.public_key_sid);
	if (rc == TFS_OK) {
		log_msg(TFS_LOG_INFO, "%s: %lld bytes downloaded", it.sid,
		    size);
		req.input = it.sid;
		req.input_fd = fd;
		req.output = cli->output;
		req.env = &env;
		req.keys = s.keys;
		rc = decrypt_file(&req, &err);
	}
	if (fd >= 0)
		close(fd);
	session_close(&s);
report:
	if (rc != TFS_OK)
		cli_report(&err);
	return cli_exit_status(rc);
}

/* What the mount's callbacks need: the daemon opens its own handles. */
struct mount_ctx {
	const struct cli *cli;
	struct session *s;	/* credentials, keys, cache_dir */
	struct media *media;	/* the daemon's: reads and refreshes */
	pthread_mutex_t items_mu;	/* guards items */
	struct catalog *items;	/* the daemon's: items read on open */
};

/* One item from the daemon's own catalog connection (opened at first
 * use: no SQLite connection crosses the fork). */
static int
item_of(void *arg, const char *sid, int part, struct item *it,
    struct tfs_error *err)
{
	struct mount_ctx *m = arg;
	int rc = TFS_OK;

	pthread_mutex_lock(&m->items_mu);
	if (m->items == NULL)
		rc = catalog_open(&m->items, m->s->cache_dir, err);
	if (rc == TFS_OK)
		rc = catalog_get(m->items, sid, part, it, err);
	pthread_mutex_unlock(&m->items_mu);
	return rc;
}

static int
snapshot_catalog(void *arg, int (*add)(const struct item *, void *),
    void *add_arg, struct fs_snapshot_info *info, struct tfs_error *err)
{
	struct mount_ctx *m = arg;
	struct catalog *cat = NULL;
	int rc;

	struct catalog_product cp;
	int p;

	rc = catalog_open(&cat, m->s->cache_dir, err);
	if (rc == TFS_OK)
		rc = catalog_foreach(cat, add, add_arg, err);
	if (rc == TFS_OK && catalog_meta_get(cat, "last_sync",
	    info->last_sync, sizeof(info->last_sync), NULL) != TFS_OK)
		info->last_sync[0] = '\0';
	for (p = 0; rc == TFS_OK && p < KIND_PRODUCTS; p++) {
		rc = catalog_product_get(cat, (enum kind_product)p, &cp, err);
		info->products[p].last_ok = cp.last_ok;
		info->products[p].last_try = cp.last_try;
		info->products[p].skipped = cp.skipped;
		(void)snprintf(info->products[p].class,
		    sizeof(info->products[p].class), "%s", cp.class);
		(void)snprintf(info->products[p].detail,
		    sizeof(info->products[p].detail), "%s", cp.detail);
	}
	catalog_close(cat);
	return rc;
}

/* An object changed upstream: the next refresh probes it again. */
static void
mark_stale(void *arg, const char *sid, int part)
{
	struct mount_ctx *m = arg;
	struct catalog *cat = NULL;
	struct tfs_error err = { 0, "" };

	if (catalog_open(&cat, m->s->cache_dir, &err) != TFS_OK ||
	    catalog_mark_stale(cat, sid, part, &err) != TFS_OK)
		log_msg(TFS_LOG_WARN, "%s: %s", sid, err.detail);
	catalog_close(cat);
}

/* One sync with handles of its own (it runs on the refresh thread). */
static int
refresh_catalog(void *arg, const atomic_int *cancel,
    void (*progress)(const struct sync_progress *p, void *parg), void *parg,
    struct tfs_error *err)
{
	struct mount_ctx *m = arg;
	struct sync_options o = { 0 };
	struct catalog *cat = NULL;
	struct sync_report rep;
	int rc;

	rc = catalog_open(&cat, m->s->cache_dir, err);
	o.page_size = m->cli->account.page_size;
	o.region = m->cli->account.region;	/* failed items: backoff */
	o.cancel = cancel;
	o.progress = progress;
	o.arg = parg;
	o.incremental = 1;
	o.full_every = m->cli->mount.full_refresh;
	/* The mount's own media: its signed URLs serve both. */
	if (rc == TFS_OK)
		rc = sync_run(cat, m->media, &o, &rep, err);
	catalog_close(cat);
	return rc;
}

static const char *
cipher_name(void *arg, const struct item *it)
{
	struct mount_ctx *m = arg;
	struct crypto_cek cek = { { 0 }, 0 };
	const char *name = NULL;

	if (it->env.scheme != ENVELOPE_CBC)
		return crypto_cipher_name(it->env.scheme, 32);
	/* 128- or 256-bit: only the unwrapped key says. */
	if (m->s->keys != NULL && keyring_unwrap(m->s->keys, &it->env, &cek,
	    NULL, NULL) == TFS_OK)
		name = crypto_cipher_name(ENVELOPE_CBC, cek.len);
	crypto_cek_wipe(&cek);
	return name;
}

/*
 * Before mounting on an existing catalog: are the credentials still good?
 * One small list request per product offered: refused credentials are an
 * error now, not a silent EACCES on every read later; a product the key
 * may not read, or an API out of reach, only a warning (the catalog is
 * served as it is).
 */
static int
check_api(struct session *s, const struct cli *cli, struct tfs_error *err)
{
	/* A mount at boot without network must not wait minutes here. */
	struct http_config hc = { .connect_timeout_ms = 5000,
	    .api_timeout_ms = 15000, .max_retries = 1 };
	const struct kind_info *ki;
	struct tfs_error e;
	struct media *media = NULL;
	struct twilio *tw = NULL;
	char url[ITEM_URL_MAX], *json;
	int p, k, rc;

	rc = media_open(&cli->account, s, hc, 0, &media, err);
	if (rc == TFS_OK)
		tw = media_api(media);
	for (p = 0; rc == TFS_OK && p < KIND_PRODUCTS; p++) {
		if (!kind_product_offered(p, cli->account.region))
			continue;
		for (k = 1; k <= ITEM_KINDS; k++)
			if (kind_info((enum item_kind)k)->product ==
			    (enum kind_product)p)
				break;
		ki = kind_info((enum item_kind)k);
		if (twilio_list_url(tw, ki->kind, 1, url, sizeof(url)) !=
		    TFS_OK)
			continue;
		tfs_error_clear(&e);
		json = NULL;
		rc = twilio_get_json(tw, ki->kind, url, &json, &e);
		free(json);
		if (rc == TFS_ERR_AUTH) {
			*err = e;
			break;
		}
		if (rc != TFS_OK)
			log_msg(TFS_LOG_WARN, "%s: %s; serving the catalog "
			    "as it is", kind_product_name(p), e.detail);
		if (rc == TFS_ERR_NETWORK)
			p = KIND_PRODUCTS;	/* unreachable: ask no more */
		rc = TFS_OK;
	}
	media_free(media);
	return rc;
}

/* Look for one encrypted item a key of ours opens; stop at the first. */
struct key_probe {
	const struct keyring *keys;
	size_t encrypted, tried, opened;
};

static int
probe_key(const struct item *it, void *arg)
{
	struct key_probe *kp = arg;
	struct crypto_cek cek = { { 0 }, 0 };

	if (kind_state_of(it->status) != STATE_DONE || !it->media_known ||
	    it->env.scheme == ENVELOPE_NONE)
		return 0;
	kp->encrypted++;
	if (kp->keys == NULL || kp->opened || kp->tried >= 20)
		return 0;
	kp->tried++;
	if (keyring_unwrap(kp->keys, &it->env, &cek, NULL, NULL) == TFS_OK)
		kp->opened = 1;
	crypto_cek_wipe(&cek);
	return 0;
}

/* A mount whose keys open nothing says so at start, not per read. */
static void
warn_keys(struct session *s)
{
	struct key_probe kp = { s->keys, 0, 0, 0 };

	if (catalog_foreach(s->cat, probe_key, &kp, NULL) != TFS_OK ||
	    kp.encrypted == 0 || kp.opened)
		return;
	if (s->keys == NULL)
		log_msg(TFS_LOG_WARN, "no private keys given (-k or "
		    "TWILIOFS_KEYS): the %zu encrypted files will fail with "
		    "EACCES", kp.encrypted);
	else
		log_msg(TFS_LOG_WARN, "no key given opens any of the %zu "
		    "encrypted items tried (of %zu): reads will fail with "
		    "EACCES; check -k (status.json names the keys needed)",
		    kp.tried, kp.encrypted);
}

static int
run_mount(const struct cli *cli)
{
	const struct cli_mount *mo = &cli->mount;
	struct tfs_error err = { 0, "" };
	struct reader_config rcfg;
	struct reader_pool *pool = NULL;
	struct http_config hc = { 0 };
	struct mount_ctx ctx;
	struct fs_config fcfg;
	char stamp[32], real[PATH_MAX];
	struct session s;
	int rc, first = 0;

	/* Owned by another user, but only we may enter (no allow_other). */
	if (!mo->allow_other && ((mo->uid >= 0 && mo->uid != (long long)
	    getuid()) || (mo->gid >= 0 && mo->gid != (long long)getgid())))
		log_msg(TFS_LOG_WARN, "uid= or gid= names another user, but "
		    "without allow_other only you may enter the mount; add "
		    "-o allow_other for a backup user");
	/* A bad mount point is said before any network or first sync. */
	rc = fs_check_mountpoint(mo->mountpoint, &err);
	if (rc == TFS_OK)
		rc = session_open(cli, 1, &s, &err);
	if (rc != TFS_OK)
		goto report;
	/* The daemon runs in /: every path it uses must be absolute. */
	if (realpath(s.cache_dir, real) == NULL)
		rc = tfs_error_set(&err, TFS_ERR_CONFIG, "%s: %s", s.cache_dir,
		    strerror(errno));
	else
		(void)snprintf(s.cache_dir, sizeof(s.cache_dir), "%s", real);
	/*
	 * A catalog never synced: the mount appears at once and fills in
	 * the background (status.json says how far), so a million items do
	 * not keep it from appearing. Refused credentials fail now either
	 * way, not as EACCES later.
	 */
	first = rc == TFS_OK && catalog_meta_get(s.cat, "last_sync", stamp,
	    sizeof(stamp), NULL) != TFS_OK;
	if (rc == TFS_OK && !mo->offline)
		rc = check_api(&s, cli, &err);
	if (rc == TFS_OK && first && !mo->offline)
		log_msg(TFS_LOG_WARN, "first sync of this account: the mount "
		    "fills in as it goes (see .twiliofs/status.json)");
	if (rc == TFS_OK)
		warn_keys(&s);
	/* No SQLite connection or live connection may cross the fork: the
	 * daemon's media is a new one, with no connection yet. */
	catalog_close(s.cat);
	s.cat = NULL;
	media_free(s.media);
	s.media = NULL;
	ctx.cli = cli;
	ctx.s = &s;
	ctx.media = NULL;
	ctx.items = NULL;
	pthread_mutex_init(&ctx.items_mu, NULL);
	hc.stall_seconds = mo->read_timeout;
	if (rc == TFS_OK)
		rc = media_open(&cli->account, &s, hc, mo->offline, &ctx.media,
		    &err);
	memset(&rcfg, 0, sizeof(rcfg));
	rcfg.media = ctx.media;
	rcfg.keys = s.keys;
	rcfg.cache_dir = s.cache_dir;
	rcfg.cache_size = mo->cache_size;
	rcfg.offline = mo->offline;
	rcfg.streams = mo->streams;
	rcfg.read_timeout = mo->read_timeout;
	rcfg.interrupted = fs_interrupted;
	if (rc == TFS_OK)
		rc = reader_pool_new(&pool, &rcfg, &err);
	memset(&fcfg, 0, sizeof(fcfg));
	fcfg.mountpoint = mo->mountpoint;
	fcfg.account_sid = cli->account.account_sid;
	fcfg.foreground = mo->foreground;
	fcfg.debug = mo->debug;
	fcfg.single_thread = mo->single_thread;
	fcfg.allow_other = mo->allow_other;
	fcfg.uid = mo->uid;
	fcfg.gid = mo->gid;
	fcfg.umask = mo->umask;
	fcfg.offline = mo->offline;
	fcfg.fuse_opts = mo->fuse_opts;
	fcfg.refresh = mo->refresh;
	fcfg.first_sync = first;
	fcfg.readers = pool;
	fcfg.snapshot = snapshot_catalog;
	fcfg.refresh_catalog = refresh_catalog;
	fcfg.cipher_name = cipher_name;
	fcfg.item = item_of;
	fcfg.stale = mark_stale;
	fcfg.arg = &ctx;
	if (rc == TFS_OK)
		rc = fs_main(&fcfg, &err);
	/* Media first: fetches of files left open end before their pool. */
	media_free(ctx.media);
	reader_pool_free(pool);
	catalog_close(ctx.items);
	pthread_mutex_destroy(&ctx.items_mu);
	session_close(&s);
report:
	if (rc != TFS_OK)
		cli_report(&err);
	return cli_exit_status(rc);
}

/*
 * Started with stdin, stdout or stderr closed, the next file we open
 * (the log file, say) would take its number, and the daemon's /dev/null
 * over 0-2 would then silently replace it.
 */
/* Ours, and the libraries' as loaded (not as built against). */
static int
print_versions(void)
{
	printf("twiliofs %s\nlibfuse %s, %s, libcurl %s, SQLite %s\n",
	    TFS_VERSION, fs_fuse_version(), OpenSSL_version(OPENSSL_VERSION),
	    curl_version_info(CURLVERSION_NOW)->version,
	    sqlite3_libversion());
	return CLI_EXIT_OK;
}

/* keys and encryption: a session without a catalog; generate: none. */
static int
run_setup(const struct cli *cli)
{
	struct tfs_error err = { 0, "" };
	struct cli nokeys = *cli;
	struct session s;
	int status;

	if (cli->setup.action == SETUP_GENERATE)
		return setup_generate(&cli->setup);
	/* The keys directory may be empty yet (before the first register):
	 * the keys are loaded apart, and their absence is no error here. */
	nokeys.account.keys = NULL;
	if (session_open(&nokeys, 0, &s, &err) != TFS_OK) {
		cli_report(&err);
		return cli_exit_status(err.code);
	}
	if (cli->account.keys != NULL && cli->account.keys[0] != '\0' &&
	    cli->setup.action != SETUP_REGISTER &&
	    keyring_load(&s.keys, cli->account.keys,
	    cli->account.passphrase_file, &err) != TFS_OK)
		log_msg(TFS_LOG_WARN, "%s; going on without local keys",
		    err.detail);
	status = setup_run(cli, media_api(s.media), s.keys);
	session_close(&s);
	return status;
}

static void
std_fds(void)
{
	int fd;

	for (fd = 0; fd <= 2; fd++)
		if (fcntl(fd, F_GETFD) == -1 && errno == EBADF &&
		    open("/dev/null", O_RDWR) != fd)
			_exit(CLI_EXIT_USAGE);
}

int
main(int argc, char **argv)
{
	struct cli cli;
	int status;

	std_fds();
	no_core_dumps();
	status = cli_parse(&cli, argc, argv);
	if (status >= 0)
		return status;
	log_set_level(cli.verbosity >= 2 ? TFS_LOG_DEBUG : cli.verbosity == 1 ?
	    TFS_LOG_INFO : TFS_LOG_WARN);
	switch (cli.command) {
	case CLI_DECRYPT:
		return run_decrypt(&cli.decrypt);
	case CLI_SYNC:
		return run_sync(&cli);
	case CLI_GET:
		return run_get(&cli);
	case CLI_MOUNT:
		return run_mount(&cli);
	case CLI_KEYS:
	case CLI_ENCRYPTION:
		return run_setup(&cli);
	case CLI_VERSION:
		return print_versions();
	}
	return CLI_EXIT_USAGE;
}
