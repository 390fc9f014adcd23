/* SPDX-License-Identifier: MIT */
/*
 * setup.c - keys generate|register|list|remove and encryption
 * status|enable|disable: the REST calls of account setup (shapes from
 * Twilio's OpenAPI spec) and what they print.
 */
#define _GNU_SOURCE	/* gethostname */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "twiliofs/envelope.h"
#include "twiliofs/io.h"
#include "twiliofs/json.h"
#include "twiliofs/kind.h"
#include "twiliofs/log.h"
#include "twiliofs/setup.h"

#define FORM_MAX 8192
#define NAME_MAX_CHARS 64	/* Twilio's FriendlyName limit */
#define LIST_MAX_PAGES 100	/* keys and services: a few, never more */

/* The encryption setting of one Video resource (…Settings/Default). */
static const struct {
	const char *target, *path, *what;
} video[] = {
	{ "video-recordings", "/v1/RecordingSettings/Default",
	    "Video recordings" },
	{ "video-compositions", "/v1/CompositionSettings/Default",
	    "Video compositions" },
};

static int
fail(struct tfs_error *err)
{
	cli_report(err);
	return cli_exit_status(err->code);
}

/* Append name=value, percent-encoded as a form wants, to buf. */
static int
form_add(char *buf, size_t cap, const char *name, const char *value)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t n = strlen(buf);
	const unsigned char *p;

	if (n + strlen(name) + 2 >= cap)
		return -1;
	n += (size_t)snprintf(buf + n, cap - n, "%s%s=", n ? "&" : "", name);
	for (p = (const unsigned char *)value; *p != '\0'; p++) {
		if (n + 4 >= cap)
			return -1;
		if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		    (*p >= '0' && *p <= '9') || strchr("-._~", *p) != NULL) {
			buf[n++] = (char)*p;
		} else {
			buf[n++] = '%';
			buf[n++] = hex[*p >> 4];
			buf[n++] = hex[*p & 15];
		}
	}
	buf[n] = '\0';
	return 0;
}

/* base(host) + path into out; TFS_ERR_CONFIG when it does not fit. */
static int
api_url(struct twilio *t, const char *host, const char *path, char *out,
    size_t cap, struct tfs_error *err)
{
	int w = snprintf(out, cap, "%s%s", twilio_base(t, host), path);

	if (w < 0 || (size_t)w >= cap)
		return tfs_error_set(err, TFS_ERR_CONFIG, "API URL too long");
	return TFS_OK;
}

/* A text member of json, "true" or "false" for a boolean, or "". */
static void
member(const char *json, const char *path, char *out, size_t cap)
{
	char type[16];

	if (json_value(json, path, type, sizeof(type), out, cap) != 1)
		out[0] = '\0';
	else if (strcmp(type, "true") == 0 || strcmp(type, "false") == 0)
		(void)snprintf(out, cap, "%s", type);
	else if (strcmp(type, "text") != 0)
		out[0] = '\0';
}

/* A Public Key SID from the API, checked: never trusted as sent. */
static int
key_sid(const char *json, const char *path, char *out, size_t cap)
{
	member(json, path, out, cap);
	if (out[0] != '\0' && !envelope_is_public_key_sid(out)) {
		log_msg(TFS_LOG_WARN, "the API named a key '%.40s', which is "
		    "no Public Key SID; ignored", out);
		out[0] = '\0';
	}
	return out[0] != '\0';
}

/*
 * Each record of a list (key) from url on, page after page: fn(record
 * JSON, arg). A next page must lie under the same API base.
 */
static int
list_each(struct twilio *t, const char *host, const char *url,
    const char *key, void (*fn)(const char *rec, void *arg), void *arg,
    struct tfs_error *err)
{
	char next[2048], path[64], *rec = NULL, *json = NULL;
	const char *base = twilio_base(t, host);
	size_t i, pages = 0;
	int rc = TFS_OK;

	(void)snprintf(next, sizeof(next), "%s", url);
	rec = malloc(FORM_MAX);
	if (rec == NULL)
		return tfs_error_set(err, TFS_ERR_NOMEM, "out of memory");
	while (next[0] != '\0' && rc == TFS_OK && pages++ < LIST_MAX_PAGES) {
		rc = twilio_call(t, "GET", next, NULL, &json, err);
		for (i = 0; rc == TFS_OK; i++) {
			(void)snprintf(path, sizeof(path), "$.%s[%zu]", key, i);
			if (json_value(json, path, NULL, 0, rec, FORM_MAX) != 1)
				break;
			fn(rec, arg);
		}
		if (rc == TFS_OK)
			member(json, "$.meta.next_page_url", next,
			    sizeof(next));
		if (rc == TFS_OK && next[0] != '\0' &&
		    strncmp(next, base, strlen(base)) != 0) {
			log_msg(TFS_LOG_WARN, "the API's next-page link leaves "
			    "%s; not followed", base);
			next[0] = '\0';
		}
		free(json);
		json = NULL;
	}
	free(rec);
	return rc;
}

/* ---- keys ---- */

int
setup_generate(const struct cli_setup *su)
{
	struct tfs_error err = { 0, "" };

	if (keyring_generate(su->bits, su->out, &err) != TFS_OK)
		return fail(&err);
	printf("%s/private_key.pem\n%s/public_key.pem\n", su->out, su->out);
	log_msg(TFS_LOG_WARN, "an RSA-%d key pair; next: twiliofs keys "
	    "register %s/private_key.pem (keep the private key safe: "
	    "without it, what Twilio encrypts for it is lost)", su->bits,
	    su->out);
	return CLI_EXIT_OK;
}

/* The first of -k's ':'-separated paths: where register installs. */
static int
keys_dir(const struct cli_account *a, char *out, size_t cap,
    struct tfs_error *err)
{
	struct stat st;
	size_t n;

	if (a->keys == NULL || a->keys[0] == '\0')
		return tfs_error_set(err, TFS_ERR_CONFIG, "keys register: no "
		    "keys directory to install the private key into: give "
		    "-k DIR or set TWILIOFS_KEYS");
	n = strcspn(a->keys, ":");
	if (n >= cap)
		return tfs_error_set(err, TFS_ERR_CONFIG, "keys directory "
		    "path too long");
	memcpy(out, a->keys, n);
	out[n] = '\0';
	if (stat(out, &st) == 0 && !S_ISDIR(st.st_mode))
		return tfs_error_set(err, TFS_ERR_CONFIG, "keys register: %s "
		    "is a file; the first of -k must be a directory to "
		    "install the private key into", out);
	return TFS_OK;
}

/* FriendlyName when --name is not given: where and what it came from. */
static void
default_name(const char *file, char *out, size_t cap)
{
	char host[64] = "";
	const char *base = strrchr(file, '/');

	(void)gethostname(host, sizeof(host) - 1);
	(void)snprintf(out, cap, "twiliofs %.20s %.30s", host,
	    base != NULL ? base + 1 : file);
}

static int
keys_register(const struct cli *cli, struct twilio *t)
{
	const struct cli_setup *su = &cli->setup;
	struct tfs_error err = { 0, "" };
	struct keyring *one = NULL;
	char dir[4096], url[512], name[NAME_MAX_CHARS + 1], sid[40];
	char installed[4200], *pem = NULL, *form = NULL, *json = NULL;
	struct stat st;
	int rc;

	rc = keys_dir(&cli->account, dir, sizeof(dir), &err);
	/* Everything that could stop the install is checked before the
	 * key is registered: never a key registered and not installed. */
	if (rc == TFS_OK && (stat(su->arg, &st) != 0 || !S_ISREG(st.st_mode)))
		rc = tfs_error_set(&err, TFS_ERR_USAGE, "keys register: %s "
		    "is not a file; give the one private key file to "
		    "register", su->arg);
	if (rc == TFS_OK && (io_make_dirs(dir) != 0 || access(dir, W_OK) !=
	    0))
		rc = tfs_error_set(&err, TFS_ERR_CONFIG, "keys register: "
		    "cannot install into %s: %s", dir, strerror(errno));
	if (rc == TFS_OK)
		rc = keyring_load(&one, su->arg, cli->account.passphrase_file,
		    &err);
	if (rc == TFS_OK)
		rc = keyring_public_pem(one, 0, &pem, &err);
	if (rc == TFS_OK && (form = calloc(1, FORM_MAX)) == NULL)
		rc = tfs_error_set(&err, TFS_ERR_NOMEM, "out of memory");
	if (rc == TFS_OK) {
		if (su->name != NULL)
			(void)snprintf(name, sizeof(name), "%s", su->name);
		else
			default_name(su->arg, name, sizeof(name));
		if (form_add(form, FORM_MAX, "PublicKey", pem) != 0 ||
		    form_add(form, FORM_MAX, "FriendlyName", name) != 0)
			rc = tfs_error_set(&err, TFS_ERR_USAGE, "keys "
			    "register: the public key is too long");
	}
	if (rc == TFS_OK)
		rc = api_url(t, "accounts", "/v1/Credentials/PublicKeys", url,
		    sizeof(url), &err);
	if (rc == TFS_OK)
		rc = twilio_call(t, "POST", url, form, &json, &err);
	if (rc == TFS_OK && (json == NULL || !key_sid(json, "$.sid", sid,
	    sizeof(sid))))
		rc = tfs_error_set(&err, TFS_ERR_PROTOCOL, "keys register: "
		    "the API answered without a Public Key SID; see "
		    "'twiliofs keys list' before trying again");
	if (rc == TFS_OK) {
		printf("%s\n", sid);
		rc = keyring_install(su->arg, dir, sid, installed,
		    sizeof(installed), &err);
		if (rc == TFS_OK)
			log_msg(TFS_LOG_WARN, "registered as %s; private key "
			    "installed as %s", sid, installed);
		else
			log_msg(TFS_LOG_ERROR, "registered as %s, but the "
			    "private key was not installed; copy it yourself: "
			    "install -m 600 %s %s/%s.pem", sid, su->arg, dir,
			    sid);
	}
	free(json);
	free(form);
	free(pem);
	keyring_free(one);
	return rc == TFS_OK ? CLI_EXIT_OK : fail(&err);
}

struct key_list {
	const struct keyring *kr;
	size_t n;
};

static void
print_key(const char *rec, void *arg)
{
	struct key_list *kl = arg;
	char sid[40], name[200], date[64];

	if (!key_sid(rec, "$.sid", sid, sizeof(sid)))
		return;
	member(rec, "$.friendly_name", name, sizeof(name));
	member(rec, "$.date_created", date, sizeof(date));
	printf("%s  %-5s  %-25.25s  %s\n", sid, kl->kr == NULL ? "?" :
	    keyring_has(kl->kr, sid) ? "local" : "-", date, name);
	kl->n++;
}

static int
keys_list(struct twilio *t, const struct keyring *kr)
{
	struct tfs_error err = { 0, "" };
	struct key_list kl = { kr, 0 };
	char url[512];
	int rc;

	rc = api_url(t, "accounts", "/v1/Credentials/PublicKeys?PageSize=50",
	    url, sizeof(url), &err);
	if (rc == TFS_OK)
		rc = list_each(t, "accounts", url, "credentials", print_key,
		    &kl, &err);
	if (rc != TFS_OK)
		return fail(&err);
	if (kr == NULL)
		log_msg(TFS_LOG_WARN, "%zu Public Keys; give -k to see which "
		    "have a private key here", kl.n);
	return CLI_EXIT_OK;
}

/* GET one Public Key: its JSON into *json; a clear line when unknown. */
static int
get_key(struct twilio *t, const char *sid, char **json,
    struct tfs_error *err)
{
	char url[512];
	int rc;

	*json = NULL;
	if (!envelope_is_public_key_sid(sid))
		return tfs_error_set(err, TFS_ERR_USAGE, "'%.40s' is not a "
		    "Public Key SID (CR and 32 hex digits); see 'twiliofs "
		    "keys list'", sid);
	rc = api_url(t, "accounts", "/v1/Credentials/PublicKeys/", url,
	    sizeof(url), err);
	if (rc == TFS_OK && strlen(url) + strlen(sid) < sizeof(url))
		strncat(url, sid, sizeof(url) - strlen(url) - 1);
	if (rc == TFS_OK)
		rc = twilio_call(t, "GET", url, NULL, json, err);
	if (rc == TFS_ERR_NOTFOUND) {
		tfs_error_clear(err);
		rc = tfs_error_set(err, TFS_ERR_CONFIG, "no Public Key %s in "
		    "this account; see 'twiliofs keys list'", sid);
	}
	return rc;
}

/* Whether the user said yes on the terminal. */
static int
confirmed(const char *question)
{
	char line[16];

	fprintf(stderr, "%s [y/N] ", question);
	fflush(stderr);
	if (fgets(line, sizeof(line), stdin) == NULL)
		return 0;
	return line[0] == 'y' || line[0] == 'Y';
}

static int
keys_remove(const struct cli *cli, struct twilio *t)
{
	const char *sid = cli->setup.arg;
	struct tfs_error err = { 0, "" };
	char url[512], name[200], q[400], *json = NULL;
	int rc;

	rc = get_key(t, sid, &json, &err);
	if (rc != TFS_OK)
		return fail(&err);
	member(json, "$.friendly_name", name, sizeof(name));
	free(json);
	json = NULL;
	if (!cli->setup.yes) {
		if (!isatty(STDIN_FILENO)) {
			log_msg(TFS_LOG_ERROR, "keys remove: not asked on a "
			    "terminal; add --yes to remove %s", sid);
			return CLI_EXIT_USAGE;
		}
		(void)snprintf(q, sizeof(q), "Remove Public Key %s (%s)? "
		    "What was encrypted for it still needs its private key, "
		    "which is kept.", sid, name);
		if (!confirmed(q)) {
			log_msg(TFS_LOG_WARN, "nothing removed");
			return CLI_EXIT_USAGE;
		}
	}
	(void)snprintf(url, sizeof(url), "%s/v1/Credentials/PublicKeys/%s",
	    twilio_base(t, "accounts"), sid);
	rc = twilio_call(t, "DELETE", url, NULL, &json, &err);
	free(json);
	if (rc != TFS_OK)
		return fail(&err);
	log_msg(TFS_LOG_WARN, "removed %s; its private key is kept (it "
	    "still decrypts what was encrypted for it)", sid);
	return CLI_EXIT_OK;
}

/* ---- encryption ---- */

static const char voice_console[] = "Voice recording encryption is set in "
    "the Console only (Voice > Settings > General > Voice Recording "
    "Encryption); the API cannot read or change it";

/* "local private key" or its absence, for a key SID. */
static const char *
local_word(const struct keyring *kr, const char *sid)
{
	if (kr == NULL)
		return "";
	return keyring_has(kr, sid) ? ", private key here" :
	    ", NO private key here";
}

/* One Video setting's state on stdout; TFS_OK or why it is unknown. */
static int
video_status(struct twilio *t, const struct keyring *kr, size_t i,
    struct tfs_error *err)
{
	char url[512], on[8], key[40], *json = NULL;
	int rc;

	rc = api_url(t, "video", video[i].path, url, sizeof(url), err);
	if (rc == TFS_OK)
		rc = twilio_call(t, "GET", url, NULL, &json, err);
	if (rc != TFS_OK) {
		printf("%-20s unknown (%s)\n", video[i].target,
		    tfs_strerror(rc));
		return rc;
	}
	member(json, "$.encryption_enabled", on, sizeof(on));
	(void)key_sid(json, "$.encryption_key_sid", key, sizeof(key));
	free(json);
	if (strcmp(on, "true") == 0)
		printf("%-20s on, key %s%s\n", video[i].target, key[0] ? key :
		    "(none named)", key[0] ? local_word(kr, key) : "");
	else
		printf("%-20s off\n", video[i].target);
	return TFS_OK;
}

static void
print_service(const char *rec, void *arg)
{
	const struct keyring *kr = arg;
	char sid[40], name[200], key[40], logging[8];

	member(rec, "$.sid", sid, sizeof(sid));
	if (!kind_sid_shaped(sid, "GA"))
		return;
	member(rec, "$.unique_name", name, sizeof(name));
	(void)key_sid(rec, "$.encryption_credential_sid", key, sizeof(key));
	member(rec, "$.data_logging", logging, sizeof(logging));
	printf("intelligence %s (%s): %s%s%s%s\n", sid, name, key[0] ? "on, "
	    "key " : "off", key, key[0] ? local_word(kr, key) : "",
	    strcmp(logging, "true") == 0 ? "; data logging on: Twilio keeps "
	    "an unencrypted copy of transcripts" : "");
}

static int
encryption_status(const struct cli *cli, struct twilio *t,
    const struct keyring *kr)
{
	const char *region = cli->account.region;
	struct tfs_error err = { 0, "" };
	char url[512];
	size_t i;
	int rc, worst = TFS_OK;

	for (i = 0; i < sizeof(video) / sizeof(video[0]); i++) {
		if (!kind_product_offered(PRODUCT_VIDEO, region)) {
			printf("%-20s not offered in region %s\n",
			    video[i].target, region);
			continue;
		}
		tfs_error_clear(&err);	/* each its own message */
		rc = video_status(t, kr, i, &err);
		if (rc != TFS_OK) {
			cli_report(&err);
			worst = worst == TFS_ERR_AUTH ? worst : rc;
		}
	}
	if (!kind_product_offered(PRODUCT_INTELLIGENCE, region)) {
		printf("intelligence         not offered in region %s\n",
		    region);
		rc = TFS_OK;
		goto voice;
	}
	tfs_error_clear(&err);
	rc = api_url(t, "intelligence", "/v2/Services?PageSize=50", url,
	    sizeof(url), &err);
	if (rc == TFS_OK)
		rc = list_each(t, "intelligence", url, "services",
		    print_service, (void *)kr, &err);
	if (rc != TFS_OK) {
		printf("intelligence         unknown (%s)\n",
		    tfs_strerror(rc));
		cli_report(&err);
		worst = worst == TFS_ERR_AUTH ? worst : rc;
	}
voice:
	printf("voice                see the Console: %s\n", voice_console);
	/* Refused credentials are the whole command's failure (2); a
	 * product that could not be read, a partial answer (5). */
	if (worst == TFS_ERR_AUTH)
		return CLI_EXIT_CONFIG;
	return worst != TFS_OK ? CLI_EXIT_PARTIAL : CLI_EXIT_OK;
}

/* POST a Video setting: on with key, or off; checked in the answer. */
static int
video_set(struct twilio *t, size_t i, const char *key,
    struct tfs_error *err)
{
	/* What a POST leaves out may be reset (the API calls it Create):
	 * the settings it has are sent back as they are. */
	static const char *const keep[][2] = {
		{ "$.aws_credentials_sid", "AwsCredentialsSid" },
		{ "$.aws_s3_url", "AwsS3Url" },
		{ "$.aws_storage_enabled", "AwsStorageEnabled" },
	};
	char url[512], name[NAME_MAX_CHARS + 1], form[FORM_MAX], on[8];
	char got[40], v[2048], *json = NULL;
	size_t k;
	int rc, bad = 0;

	rc = api_url(t, "video", video[i].path, url, sizeof(url), err);
	if (rc == TFS_OK)
		rc = twilio_call(t, "GET", url, NULL, &json, err);
	if (rc != TFS_OK)
		return rc;
	/* FriendlyName is required: keep the one it has. */
	member(json, "$.friendly_name", name, sizeof(name));
	form[0] = '\0';
	for (k = 0; k < sizeof(keep) / sizeof(keep[0]); k++) {
		member(json, keep[k][0], v, sizeof(v));
		if (v[0] != '\0')
			bad |= form_add(form, sizeof(form), keep[k][1], v);
	}
	free(json);
	json = NULL;
	bad |= form_add(form, sizeof(form), "FriendlyName", name[0] ? name :
	    "twiliofs");
	bad |= form_add(form, sizeof(form), "EncryptionEnabled", key != NULL ?
	    "true" : "false");
	if (key != NULL)
		bad |= form_add(form, sizeof(form), "EncryptionKeySid", key);
	if (bad)
		return tfs_error_set(err, TFS_ERR_USAGE, "settings too long");
	rc = twilio_call(t, "POST", url, form, &json, err);
	if (rc != TFS_OK)
		return rc;
	member(json, "$.encryption_enabled", on, sizeof(on));
	(void)key_sid(json, "$.encryption_key_sid", got, sizeof(got));
	free(json);
	if (strcmp(on, key != NULL ? "true" : "false") != 0 ||
	    (key != NULL && strcmp(got, key) != 0))
		return tfs_error_set(err, TFS_ERR_PROTOCOL, "%s: the API took "
		    "the change but answers encryption %s with key '%s'; "
		    "check with 'twiliofs encryption status'", video[i].what,
		    on[0] ? on : "unknown", got);
	return TFS_OK;
}

/* Collects the account's Intelligence service SIDs. */
struct services {
	char sid[4][40];
	size_t n;
};

static void
add_service(const char *rec, void *arg)
{
	struct services *s = arg;
	char sid[40];

	/* It goes into a URL: a service SID, checked, never trusted. */
	member(rec, "$.sid", sid, sizeof(sid));
	if (!kind_sid_shaped(sid, "GA"))
		return;
	if (s->n < 4)
		(void)snprintf(s->sid[s->n], sizeof(s->sid[0]), "%s", sid);
	s->n++;
}

/* --service, or the account's only service. */
static int
pick_service(struct twilio *t, const char *given, char *out, size_t cap,
    struct tfs_error *err)
{
	struct services s = { .n = 0 };
	char url[512];
	int rc;

	if (given != NULL) {
		if (!kind_sid_shaped(given, "GA"))
			return tfs_error_set(err, TFS_ERR_USAGE, "--service "
			    "'%.40s' is not a service SID (GA and 32 hex "
			    "digits)", given);
		(void)snprintf(out, cap, "%s", given);
		return TFS_OK;
	}
	rc = api_url(t, "intelligence", "/v2/Services?PageSize=50", url,
	    sizeof(url), err);
	if (rc == TFS_OK)
		rc = list_each(t, "intelligence", url, "services", add_service,
		    &s, err);
	if (rc != TFS_OK)
		return rc;
	if (s.n != 1)
		return tfs_error_set(err, TFS_ERR_USAGE, "the account has %zu "
		    "Intelligence services; name one with --service GA… "
		    "(see 'twiliofs encryption status')", s.n);
	(void)snprintf(out, cap, "%s", s.sid[0]);
	return TFS_OK;
}

/* POST a service's EncryptionCredentialSid (key, or "" to stop). */
static int
service_set(struct twilio *t, const char *service, const char *key,
    int *logging, struct tfs_error *err)
{
	char url[512], form[256], got[40], dl[8], *json = NULL;
	int rc;

	(void)snprintf(url, sizeof(url), "%s/v2/Services/%s",
	    twilio_base(t, "intelligence"), service);
	form[0] = '\0';
	if (form_add(form, sizeof(form), "EncryptionCredentialSid",
	    key != NULL ? key : "") != 0)
		return tfs_error_set(err, TFS_ERR_USAGE, "settings too long");
	rc = twilio_call(t, "POST", url, form, &json, err);
	if (rc == TFS_ERR_NOTFOUND) {
		tfs_error_clear(err);
		return tfs_error_set(err, TFS_ERR_CONFIG, "no Intelligence "
		    "service %s in this account", service);
	}
	if (rc != TFS_OK)
		return rc;
	(void)key_sid(json, "$.encryption_credential_sid", got, sizeof(got));
	member(json, "$.data_logging", dl, sizeof(dl));
	free(json);
	*logging = strcmp(dl, "true") == 0;
	if (strcmp(got, key != NULL ? key : "") != 0)
		return tfs_error_set(err, TFS_ERR_PROTOCOL, "service %s: the "
		    "API took the change but answers key '%s'; check with "
		    "'twiliofs encryption status'", service, got);
	return TFS_OK;
}

/* enable (key != NULL) or disable one target. */
static int
encryption_set(const struct cli *cli, struct twilio *t,
    const struct keyring *kr)
{
	const struct cli_setup *su = &cli->setup;
	const char *key = su->action == SETUP_ENABLE ? su->key : NULL;
	struct tfs_error err = { 0, "" };
	char service[40], *json = NULL;
	size_t i;
	int rc = TFS_OK, logging = 0;

	if (strcmp(su->arg, "voice") == 0) {
		log_msg(TFS_LOG_ERROR, "nothing changed: %s. %s%s%s",
		    voice_console, key != NULL ? "Choose the Public Key " : "",
		    key != NULL ? key : "", key != NULL ? " there." : "");
		return CLI_EXIT_USAGE;
	}
	for (i = 0; i < sizeof(video) / sizeof(video[0]); i++)
		if (strcmp(su->arg, video[i].target) == 0)
			break;
	if (i == sizeof(video) / sizeof(video[0]) &&
	    strcmp(su->arg, "intelligence") != 0) {
		log_msg(TFS_LOG_ERROR, "encryption: unknown target '%.40s': "
		    "video-recordings, video-compositions, intelligence or "
		    "voice", su->arg);
		return CLI_EXIT_USAGE;
	}
	if (key != NULL) {
		rc = get_key(t, key, &json, &err);
		free(json);
		if (rc != TFS_OK)
			return fail(&err);
		/* What Twilio encrypts for a key we cannot use is lost. */
		if (!keyring_has(kr, key) && !su->force) {
			log_msg(TFS_LOG_ERROR, "no private key for %s among "
			    "-k's keys: what Twilio encrypts for it could not "
			    "be decrypted here; give -k with its private key "
			    "(CR<sid>.pem), or --force", key);
			return CLI_EXIT_CONFIG;
		}
	}
	if (i < sizeof(video) / sizeof(video[0]))
		rc = video_set(t, i, key, &err);
	else if ((rc = pick_service(t, su->service, service, sizeof(service),
	    &err)) == TFS_OK)
		rc = service_set(t, service, key, &logging, &err);
	if (rc != TFS_OK)
		return fail(&err);
	printf("%s: encryption %s%s%s\n", i < sizeof(video) /
	    sizeof(video[0]) ? video[i].target : service, key != NULL ? "on, "
	    "key " : "off", key != NULL ? key : "", "");
	if (key != NULL && i == 0)
		log_msg(TFS_LOG_WARN, "encrypted Video recordings cannot be "
		    "composed: to compose, keep recordings unencrypted and "
		    "encrypt the compositions");
	if (logging)
		log_msg(TFS_LOG_WARN, "service %s has data logging on: Twilio "
		    "keeps a copy of transcripts and operator results that is "
		    "not encrypted with your key (turn it off in the Console)",
		    service);
	return CLI_EXIT_OK;
}

int
setup_run(const struct cli *cli, struct twilio *t, const struct keyring *kr)
{
	switch (cli->setup.action) {
	case SETUP_GENERATE:
		return setup_generate(&cli->setup);
	case SETUP_REGISTER:
		return keys_register(cli, t);
	case SETUP_LIST:
		return keys_list(t, kr);
	case SETUP_REMOVE:
		return keys_remove(cli, t);
	case SETUP_STATUS:
		return encryption_status(cli, t, kr);
	case SETUP_ENABLE:
	case SETUP_DISABLE:
		return encryption_set(cli, t, kr);
	}
	return CLI_EXIT_USAGE;
}
