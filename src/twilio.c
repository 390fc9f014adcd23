/* SPDX-License-Identifier: MIT */
/* twilio.c - the REST API: hosts, list URLs, GETs, media resolution. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "twiliofs/json.h"
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
	char video[BASE_MAX];
	char api[BASE_MAX];
	char intelligence[BASE_MAX];
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

	*out = NULL;
	t = calloc(1, sizeof(*t));
	if (t == NULL)
		return tfs_error_set(err, TFS_ERR_NOMEM, "out of memory");
	t->http = http;
	if (snprintf(t->account_sid, sizeof(t->account_sid), "%s",
	    cfg->account_sid) >= (int)sizeof(t->account_sid) ||
	    snprintf(t->username, sizeof(t->username), "%s", cfg->username) >=
	    (int)sizeof(t->username) ||
	    snprintf(t->password, sizeof(t->password), "%s", cfg->password) >=
	    (int)sizeof(t->password) ||
	    twilio_base_url(cfg, "video", t->video, sizeof(t->video)) != 0 ||
	    twilio_base_url(cfg, "api", t->api, sizeof(t->api)) != 0 ||
	    twilio_base_url(cfg, "intelligence", t->intelligence,
	    sizeof(t->intelligence)) != 0) {
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
	switch (kind) {
	case ITEM_VIDEO_RECORDING:
	case ITEM_COMPOSITION:
		return t->video;
	case ITEM_VOICE_RECORDING:
		return t->api;
	case ITEM_TRANSCRIPT:
		return t->intelligence;
	}
	return t->api;
}

enum item_kind
twilio_kind_of_sid(const char *sid)
{
	size_t i;

	if (sid == NULL || strlen(sid) != ITEM_SID_LEN)
		return 0;
	for (i = 2; i < ITEM_SID_LEN; i++)
		if (!isxdigit((unsigned char)sid[i]))
			return 0;
	if (strncmp(sid, "RT", 2) == 0)
		return ITEM_VIDEO_RECORDING;
	if (strncmp(sid, "CJ", 2) == 0)
		return ITEM_COMPOSITION;
	if (strncmp(sid, "RE", 2) == 0)
		return ITEM_VOICE_RECORDING;
	if (strncmp(sid, "GT", 2) == 0)
		return ITEM_TRANSCRIPT;
	return 0;
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
	/* The documented maxima: video lists take 100, the others 1000. */
	int max = kind == ITEM_VIDEO_RECORDING || kind == ITEM_COMPOSITION ?
	    100 : 1000;

	if (page_size <= 0 || page_size > max)
		page_size = max;
	switch (kind) {
	case ITEM_VIDEO_RECORDING:
		return fits(snprintf(out, cap, "%s/v1/Recordings?PageSize=%d",
		    t->video, page_size), cap);
	case ITEM_COMPOSITION:
		return fits(snprintf(out, cap, "%s/v1/Compositions?PageSize=%d",
		    t->video, page_size), cap);
	case ITEM_VOICE_RECORDING:
		return fits(snprintf(out, cap, "%s/2010-04-01/Accounts/%s/"
		    "Recordings.json?PageSize=%d", t->api, t->account_sid,
		    page_size), cap);
	case ITEM_TRANSCRIPT:
		return fits(snprintf(out, cap, "%s/v2/Transcripts?PageSize=%d",
		    t->intelligence, page_size), cap);
	}
	return TFS_ERR_RANGE;
}

int
twilio_resource_url(const struct twilio *t, const char *sid,
    enum item_kind *kind, char *out, size_t cap)
{
	*kind = twilio_kind_of_sid(sid);
	switch (*kind) {
	case ITEM_VIDEO_RECORDING:
		return fits(snprintf(out, cap, "%s/v1/Recordings/%s", t->video,
		    sid), cap);
	case ITEM_COMPOSITION:
		return fits(snprintf(out, cap, "%s/v1/Compositions/%s",
		    t->video, sid), cap);
	case ITEM_VOICE_RECORDING:
		return fits(snprintf(out, cap, "%s/2010-04-01/Accounts/%s/"
		    "Recordings/%s.json", t->api, t->account_sid, sid), cap);
	case ITEM_TRANSCRIPT:
		return fits(snprintf(out, cap, "%s/v2/Transcripts/%s",
		    t->intelligence, sid), cap);
	}
	return TFS_ERR_RANGE;
}

int
twilio_media_api_url(const struct twilio *t, enum item_kind kind,
    const char *sid, int part, char *out, size_t cap)
{
	switch (kind) {
	case ITEM_VIDEO_RECORDING:
		return fits(snprintf(out, cap, "%s/v1/Recordings/%s/Media",
		    t->video, sid), cap);
	case ITEM_COMPOSITION:
		return fits(snprintf(out, cap, "%s/v1/Compositions/%s/Media",
		    t->video, sid), cap);
	case ITEM_VOICE_RECORDING:
		return fits(snprintf(out, cap, "%s/2010-04-01/Accounts/%s/"
		    "Recordings/%s.wav", t->api, t->account_sid, sid), cap);
	case ITEM_TRANSCRIPT:
		return fits(snprintf(out, cap, "%s/v2/Transcripts/%s/%s/"
		    "Encrypted", t->intelligence, sid, part == 0 ?
		    "Sentences" : "OperatorResults"), cap);
	}
	return TFS_ERR_RANGE;
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
	if (resp->status == 401 || resp->status == 403)
		return tfs_error_set(err, TFS_ERR_AUTH, "%s refused the "
		    "credentials of %s (HTTP %ld%s%s); check TWILIO_API_KEY "
		    "and TWILIO_API_SECRET (or TWILIO_AUTH_TOKEN)", origin,
		    t->username, resp->status, msg[0] ? ": " : "", msg);
	if (resp->status == 404)
		return tfs_error_set(err, TFS_ERR_NOTFOUND, "%s: not found "
		    "(HTTP 404%s%s)", origin, msg[0] ? ": " : "", msg);
	return tfs_error_set(err, TFS_ERR_NETWORK, "%s answered HTTP %ld%s%s",
	    origin, resp->status, msg[0] ? ": " : "", msg);
}

/* GET an API URL with credentials; resp is the caller's to free. */
static int
api_get(struct twilio *t, const char *url, size_t cap,
    struct http_response *resp, struct tfs_error *err)
{
	struct http_request req;

	http_request_init(&req, url);
	req.username = t->username;
	req.password = t->password;
	req.body_cap = cap;
	return http_perform(t->http, &req, resp, err);
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

int
twilio_resolve_media(struct twilio *t, enum item_kind kind,
    const char *api_url, int part, int ttl, char *out, size_t cap,
    size_t *count, struct tfs_error *err)
{
	struct http_response resp;
	char url[ITEM_URL_MAX];
	size_t n = 0;
	int rc, index = part > 0 ? part - 1 : 0;

	/* Only video /Media takes a lifetime for its signed URL. */
	if ((kind == ITEM_VIDEO_RECORDING || kind == ITEM_COMPOSITION) &&
	    ttl > 0)
		rc = fits(snprintf(url, sizeof(url), "%s%sTtl=%d", api_url,
		    strchr(api_url, '?') != NULL ? "&" : "?", ttl),
		    sizeof(url));
	else
		rc = fits(snprintf(url, sizeof(url), "%s", api_url),
		    sizeof(url));
	if (rc != TFS_OK)
		return tfs_error_set(err, TFS_ERR_NETWORK, "URL too long");
	rc = api_get(t, url, 1024 * 1024, &resp, err);
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
