/* SPDX-License-Identifier: MIT */
/* twilio.c - the REST API: hosts, list URLs, GETs, media resolution. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>

#include "twiliofs/json.h"
#include "twiliofs/kind.h"
#include "twiliofs/log.h"
#include "twiliofs/twilio.h"

#define BASE_MAX 512
#define SECRET_MAX 512
/* API answers we parse are small; a page of 1000 records is not. */
#define PAGE_MAX (64 * 1024 * 1024)

struct twilio {
	struct http *http;		/* borrowed */
	char account_sid[ITEM_SID_LEN + 1];
	char username[128];
	char password[SECRET_MAX];	/* secret: wiped in twilio_free */
	char base[KIND_PRODUCTS][BASE_MAX];	/* by enum kind_product */
	char accounts[BASE_MAX];	/* the Accounts API (Public Keys) */
};

int
twilio_base_url(const struct twilio_config *cfg, const char *product,
    char *out, size_t cap)
{
	const char *region = cfg->region, *edge = cfg->edge;
	size_t n;
	int w;

	if (cfg->endpoint != NULL && cfg->endpoint[0] != '\0') {
		n = strlen(cfg->endpoint);
		while (n > 0 && cfg->endpoint[n - 1] == '/')
			n--;
		w = snprintf(out, cap, "%.*s/%s", (int)n, cfg->endpoint,
		    product);
	} else {
		if (edge != NULL && edge[0] != '\0' &&
		    (region == NULL || region[0] == '\0'))
			region = "us1";	/* an edge alone implies us1 */
		w = snprintf(out, cap, "https://%s%s%s%s%s.twilio.com", product,
		    edge != NULL && edge[0] ? "." : "", edge != NULL ? edge :
		    "", region != NULL && region[0] ? "." : "",
		    region != NULL ? region : "");
	}
	if (w < 0 || (size_t)w >= cap)
		return TFS_ERR_CONFIG;
	return TFS_OK;
}

int
twilio_new(struct twilio **out, const struct twilio_config *cfg,
    struct http *http, struct tfs_error *err)
{
	struct twilio *t;
	int p, bad = 0;

	*out = NULL;
	t = calloc(1, sizeof(*t));
	if (t == NULL)
		return tfs_error_set(err, TFS_ERR_NOMEM, "out of memory");
	t->http = http;
	for (p = 0; p < KIND_PRODUCTS; p++)
		if (twilio_base_url(cfg, kind_product_host(p), t->base[p],
		    sizeof(t->base[p])) != TFS_OK)
			bad = 1;
	if (twilio_base_url(cfg, "accounts", t->accounts,
	    sizeof(t->accounts)) != TFS_OK)
		bad = 1;
	if (bad || snprintf(t->account_sid, sizeof(t->account_sid), "%s",
	    cfg->account_sid) >= (int)sizeof(t->account_sid) ||
	    snprintf(t->username, sizeof(t->username), "%s", cfg->username) >=
	    (int)sizeof(t->username) ||
	    snprintf(t->password, sizeof(t->password), "%s", cfg->password) >=
	    (int)sizeof(t->password)) {
		twilio_free(t);
		return tfs_error_set(err, TFS_ERR_CONFIG, "account SID, "
		    "credentials or endpoint too long");
	}
	*out = t;
	return TFS_OK;
}

void
twilio_free(struct twilio *t)
{
	if (t == NULL)
		return;
	OPENSSL_cleanse(t, sizeof(*t));
	free(t);
}

const char *
twilio_kind_base(const struct twilio *t, enum item_kind kind)
{
	const struct kind_info *ki = kind_info(kind);

	return t->base[ki != NULL ? ki->product : PRODUCT_VOICE];
}

const char *
twilio_base(const struct twilio *t, const char *host)
{
	int p;

	if (strcmp(host, "accounts") == 0)
		return t->accounts;
	for (p = 0; p < KIND_PRODUCTS; p++)
		if (strcmp(host, kind_product_host(p)) == 0)
			return t->base[p];
	return NULL;
}

static int
fits(int w, size_t cap)
{
	return w >= 0 && (size_t)w < cap ? TFS_OK : TFS_ERR_RANGE;
}

int
twilio_list_url(const struct twilio *t, enum item_kind kind, int page_size,
    char *out, size_t cap)
{
	const struct kind_info *ki = kind_info(kind);
	size_t n;

	if (ki == NULL || kind_path(twilio_kind_base(t, kind), ki->list_path,
	    t->account_sid, "", out, cap) != TFS_OK)
		return TFS_ERR_RANGE;
	if (page_size <= 0 || page_size > ki->page_max)
		page_size = ki->page_max;
	n = strlen(out);
	return fits(snprintf(out + n, cap - n, "?PageSize=%d", page_size),
	    cap - n);
}

int
twilio_resource_url(const struct twilio *t, const char *sid,
    enum item_kind *kind, char *out, size_t cap)
{
	const struct kind_info *ki;

	*kind = kind_of_sid(sid);
	ki = kind_info(*kind);
	if (ki == NULL)
		return TFS_ERR_RANGE;
	return kind_path(twilio_kind_base(t, *kind), ki->resource_path,
	    t->account_sid, sid, out, cap);
}

int
twilio_media_api_url(const struct twilio *t, enum item_kind kind,
    const char *sid, int part, char *out, size_t cap)
{
	const struct kind_info *ki = kind_info(kind);
	const char *path;

	if (ki == NULL)
		return TFS_ERR_RANGE;
	path = part > 0 ? ki->part_media_path : ki->media_path;
	if (path == NULL)
		return TFS_ERR_RANGE;
	return kind_path(twilio_kind_base(t, kind), path, t->account_sid, sid,
	    out, cap);
}

/*
 * Whether url lies under one of the configured API bases (product,
 * region, edge, endpoint): the only URLs our credentials may go to. The
 * character after the base must end the origin or its path segment, so
 * "https://api.twilio.com@evil" or "…/video-evil" do not pass.
 */
static int
api_url_ok(const struct twilio *t, const char *url)
{
	const char *base;
	size_t n;
	int p;

	for (p = 0; p <= KIND_PRODUCTS; p++) {
		base = p < KIND_PRODUCTS ? t->base[p] : t->accounts;
		n = strlen(base);
		if (strncmp(url, base, n) == 0 && (url[n] == '/' ||
		    url[n] == '?' || url[n] == '\0'))
			return 1;
	}
	return 0;
}

void
twilio_authorize(const struct twilio *t, struct http_request *req)
{
	if (req->url != NULL && api_url_ok(t, req->url)) {
		req->username = t->username;
		req->password = t->password;
	}
}

/*
 * The rest of url (path and query) if it names Twilio's own host of
 * product: https://{product}[.{edge}][.{region}].twilio.com[:443]/…, as
 * real next-page links do whatever region asked; else NULL.
 */
static const char *
twilio_host_rest(const char *url, const char *product)
{
	static const char suffix[] = ".twilio.com";
	size_t plen = strlen(product), hlen, i;
	const char *host, *end;

	if (strncasecmp(url, "https://", 8) != 0)
		return NULL;
	host = url + 8;
	hlen = strcspn(host, "/?#");
	end = host + hlen;
	if (hlen > 4 && strncmp(end - 4, ":443", 4) == 0)
		hlen -= 4;
	if (hlen < plen + sizeof(suffix) - 1 || strncasecmp(host, product,
	    plen) != 0 || (host[plen] != '.') || strncasecmp(host + hlen -
	    (sizeof(suffix) - 1), suffix, sizeof(suffix) - 1) != 0)
		return NULL;
	for (i = plen; i < hlen; i++)
		if (!isalnum((unsigned char)host[i]) && host[i] != '.' &&
		    host[i] != '-')
			return NULL;
	return *end == '\0' ? "/" : end;
}

int
twilio_page_url(const struct twilio *t, enum item_kind kind,
    const char *link, char *out, size_t cap, struct tfs_error *err)
{
	const struct kind_info *ki = kind_info(kind);
	const char *base = twilio_kind_base(t, kind), *rest;
	char origin[256];

	if (ki == NULL)
		return tfs_error_set(err, TFS_ERR_USAGE, "no such kind");
	if (link[0] == '/')
		rest = link;	/* next_page_uri: relative to the product */
	else if (strncmp(link, base, strlen(base)) == 0 &&
	    strchr("/?", link[strlen(base)]) != NULL &&
	    link[strlen(base)] != '\0')
		rest = NULL;	/* under this kind's own base */
	else if ((rest = twilio_host_rest(link, kind_product_host(
	    ki->product))) == NULL) {
		http_origin(link, origin, sizeof(origin));
		return tfs_error_set(err, TFS_ERR_PROTOCOL, "%s: the API's "
		    "next-page link points to %s, which is not a configured "
		    "API host; not followed (credentials go to the API "
		    "only)", ki->name, origin);
	}
	if (fits(rest != NULL ? snprintf(out, cap, "%s%s", base, rest) :
	    snprintf(out, cap, "%s", link), cap) != TFS_OK)
		return tfs_error_set(err, TFS_ERR_PROTOCOL, "%s: the API's "
		    "next-page link is longer than %zu bytes", ki->name,
		    cap - 1);
	return TFS_OK;
}

/* Make url absolute against kind's base (next_page_uri is relative). */
static int
absolute(const struct twilio *t, enum item_kind kind, const char *url,
    char *out, size_t cap)
{
	if (url[0] == '/')
		return fits(snprintf(out, cap, "%s%s", twilio_kind_base(t,
		    kind), url), cap);
	return fits(snprintf(out, cap, "%s", url), cap);
}

/* Map an API answer's status to an error with a useful detail. */
static int
api_status(const struct twilio *t, const char *url,
    const struct http_response *resp, struct tfs_error *err)
{
	char origin[256], msg[160] = "";

	http_origin(url, origin, sizeof(origin));
	if (resp->body != NULL)
		(void)json_value(resp->body, "$.message", NULL, 0, msg,
		    sizeof(msg));
	if (resp->status == 401)
		return tfs_error_set(err, TFS_ERR_AUTH, "%s refused the "
		    "credentials of %s (HTTP 401%s%s); check TWILIO_API_KEY "
		    "and TWILIO_API_SECRET (or TWILIO_AUTH_TOKEN)", origin,
		    t->username, msg[0] ? ": " : "", msg);
	/* Known credentials, no access: a restricted key, a product the
	 * account or region lacks. Not a credentials problem. */
	if (resp->status == 403)
		return tfs_error_set(err, TFS_ERR_FORBIDDEN, "%s refused "
		    "access to %s (HTTP 403%s%s): a restricted API key, or a "
		    "product not enabled for this account or region",
		    origin, t->username, msg[0] ? ": " : "", msg);
	if (resp->status == 404)
		return tfs_error_set(err, TFS_ERR_NOTFOUND, "%s: not found "
		    "(HTTP 404%s%s)", origin, msg[0] ? ": " : "", msg);
	return tfs_error_set(err, TFS_ERR_NETWORK, "%s answered HTTP %ld%s%s",
	    origin, resp->status, msg[0] ? ": " : "", msg);
}

/*
 * A request to an API URL with credentials (method NULL: a GET); resp is
 * the caller's to free. The one place credentials are attached for API
 * answers: only under a configured base.
 */
static int
api_request(struct twilio *t, const char *method, const char *url,
    const char *form, size_t cap, struct http_response *resp,
    struct tfs_error *err)
{
	struct http_request req;
	char origin[256];

	memset(resp, 0, sizeof(*resp));
	if (!api_url_ok(t, url)) {
		http_origin(url, origin, sizeof(origin));
		return tfs_error_set(err, TFS_ERR_PROTOCOL, "%s is not a "
		    "configured API host; credentials are not sent there",
		    origin);
	}
	http_request_init(&req, url);
	twilio_authorize(t, &req);
	req.method = method;
	req.form = form;
	req.body_cap = cap;
	return http_perform(t->http, &req, resp, err);
}

static int
api_get(struct twilio *t, const char *url, size_t cap,
    struct http_response *resp, struct tfs_error *err)
{
	return api_request(t, NULL, url, NULL, cap, resp, err);
}

int
twilio_call(struct twilio *t, const char *method, const char *url,
    const char *form, char **json, struct tfs_error *err)
{
	struct http_response resp;
	char msg[200] = "", code[16] = "";
	int rc;

	*json = NULL;
	rc = api_request(t, strcmp(method, "GET") == 0 ? NULL : method, url,
	    form, PAGE_MAX, &resp, err);
	if (rc == TFS_OK && resp.status == 400) {
		/* Twilio's answer to a request it will not take: say it. */
		if (resp.body != NULL) {
			(void)json_value(resp.body, "$.message", NULL, 0, msg,
			    sizeof(msg));
			(void)json_value(resp.body, "$.code", NULL, 0, code,
			    sizeof(code));
		}
		rc = tfs_error_set(err, TFS_ERR_USAGE, "Twilio refused the "
		    "request (HTTP 400%s%s%s%s)", code[0] ? ", error " : "",
		    code, msg[0] ? ": " : "", msg);
	} else if (rc == TFS_OK && resp.status != 200 && resp.status != 201 &&
	    resp.status != 204) {
		rc = api_status(t, url, &resp, err);
	}
	if (rc == TFS_OK && resp.status != 204) {
		*json = resp.body;
		resp.body = NULL;
	}
	http_response_free(&resp);
	return rc;
}

int
twilio_get_json(struct twilio *t, enum item_kind kind, const char *url,
    char **json, struct tfs_error *err)
{
	struct http_response resp;
	char abs[ITEM_URL_MAX];
	int rc;

	*json = NULL;
	if (absolute(t, kind, url, abs, sizeof(abs)) != TFS_OK)
		return tfs_error_set(err, TFS_ERR_NETWORK, "URL too long");
	rc = api_get(t, abs, PAGE_MAX, &resp, err);
	if (rc == TFS_OK && resp.status != 200)
		rc = api_status(t, abs, &resp, err);
	if (rc == TFS_OK && resp.body == NULL)
		rc = tfs_error_set(err, TFS_ERR_NETWORK, "empty answer from "
		    "the API");
	if (rc == TFS_OK) {
		*json = resp.body;
		resp.body = NULL;
	}
	http_response_free(&resp);
	return rc;
}

/*
 * The signed URL in an answer: redirect_to (video 302 body), the
 * Location of a 3xx (voice), location or locations[index] (Intelligence
 * 200). *count gets how many URLs the answer offers.
 */
static int
pick_url(const struct http_response *resp, int index, char *out,
    size_t cap, size_t *count)
{
	char path[48], type[16];
	int r;

	*count = 0;
	if (resp->body != NULL && json_value(resp->body, "$.redirect_to",
	    NULL, 0, out, cap) == 1) {
		*count = 1;
		return index == 0 ? TFS_OK : TFS_ERR_RANGE;
	}
	if (resp->status >= 300 && resp->status < 400) {
		if (resp->location[0] == '\0')
			return TFS_ERR_NETWORK;
		*count = 1;
		return index == 0 ? fits(snprintf(out, cap, "%s",
		    resp->location), cap) : TFS_ERR_RANGE;
	}
	if (resp->body == NULL)
		return TFS_ERR_NETWORK;
	if (json_value(resp->body, "$.location", NULL, 0, out, cap) == 1) {
		*count = 1;
		return index == 0 ? TFS_OK : TFS_ERR_RANGE;
	}
	if (json_value(resp->body, "$.locations", type, sizeof(type), NULL,
	    0) != 1 || strcmp(type, "array") != 0)
		return TFS_ERR_NETWORK;
	for (;;) {
		(void)snprintf(path, sizeof(path), "$.locations[%zu]", *count);
		if (json_value(resp->body, path, NULL, 0, NULL, 0) != 1)
			break;
		(*count)++;
	}
	(void)snprintf(path, sizeof(path), "$.locations[%d]", index);
	r = json_value(resp->body, path, NULL, 0, out, cap);
	return r == 1 ? TFS_OK : TFS_ERR_RANGE;
}

/* A 2xx body where a redirect or JSON was expected: the media itself. */
static int
media_body(const void *p, size_t n, void *arg)
{
	(void)p;
	(void)n;
	*(int *)arg = 1;
	return -1;	/* don't download it here */
}

int
twilio_resolve_media(struct twilio *t, enum item_kind kind,
    const char *api_url, int part, int ttl, char *out, size_t cap,
    size_t *count, struct tfs_error *err)
{
	const struct kind_info *ki = kind_info(kind);
	struct http_response resp = { 0 };
	struct http_request req;
	char url[ITEM_URL_MAX];
	size_t n = 0;
	int rc, index = part > 0 ? part - 1 : 0, is_body = 0;

	if (ki == NULL)
		return tfs_error_set(err, TFS_ERR_USAGE, "no such kind");
	if (ki->media_ttl && ttl > 0)
		rc = fits(snprintf(url, sizeof(url), "%s%sTtl=%d", api_url,
		    strchr(api_url, '?') != NULL ? "&" : "?", ttl),
		    sizeof(url));
	else
		rc = fits(snprintf(url, sizeof(url), "%s", api_url),
		    sizeof(url));
	if (rc != TFS_OK)
		return tfs_error_set(err, TFS_ERR_NETWORK, "URL too long");
	if (!api_url_ok(t, url))
		return tfs_error_set(err, TFS_ERR_PROTOCOL, "%s: the media "
		    "URL is not under a configured API host", ki->name);
	http_request_init(&req, url);
	twilio_authorize(t, &req);
	req.body_cap = 1024 * 1024;
	if (ki->media_may_be_body) {
		/* Voice: a 302 to a signed URL, or a 200 with the WAV. */
		req.range_start = 0;
		req.range_end = 0;
		req.on_data = media_body;
		req.arg = &is_body;
	}
	rc = http_perform(t->http, &req, &resp, err);
	if (rc == TFS_ERR_IO && is_body) {
		/* The API URL serves the media: fetch it (with credentials,
		 * twilio_authorize) as the media URL. */
		tfs_error_clear(err);
		http_response_free(&resp);
		if (count != NULL)
			*count = 1;
		if (part > 0)
			return tfs_error_set(err, TFS_ERR_NOTFOUND, "media "
			    "part %d not found: the API lists 1", part);
		return fits(snprintf(out, cap, "%s", api_url), cap) == TFS_OK ?
		    TFS_OK : tfs_error_set(err, TFS_ERR_RANGE, "URL too long");
	}
	if (rc != TFS_OK) {
		http_response_free(&resp);
		return rc;
	}
	if (resp.status != 200 && (resp.status < 300 || resp.status >= 400))
		rc = api_status(t, url, &resp, err);
	else {
		rc = pick_url(&resp, index, out, cap, &n);
		if (rc == TFS_ERR_RANGE)
			rc = tfs_error_set(err, TFS_ERR_NOTFOUND, "media part "
			    "%d not found: the API lists %zu", part, n);
		else if (rc != TFS_OK)
			rc = tfs_error_set(err, TFS_ERR_NETWORK, "the media "
			    "answer (HTTP %ld) holds no redirect_to, Location "
			    "or location", resp.status);
	}
	if (count != NULL)
		*count = n;
	http_response_free(&resp);
	return rc;
}
