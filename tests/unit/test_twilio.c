/* SPDX-License-Identifier: MIT */
/*
 * test_twilio.c - API hosts for every region/edge/endpoint combination,
 * list, resource and media URLs, SID kinds, next-page links (joined,
 * rewritten onto the configured base, or refused) and where credentials
 * go; and the JSON helper they use.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "twiliofs/json.h"
#include "twiliofs/kind.h"
#include "twiliofs/twilio.h"
#include "unit.h"

#define AC "AC0123456789abcdef0123456789abcdef"

static void
check_base(const char *endpoint, const char *region, const char *edge,
    const char *product, const char *want)
{
	struct twilio_config c = { AC, "SKx", "secret", endpoint, region,
	    edge };
	char out[256];
	int rc;

	rc = twilio_base_url(&c, product, out, sizeof(out));
	CHECK(rc == TFS_OK && strcmp(out, want) == 0, "endpoint %s region %s "
	    "edge %s product %s: got '%s', want '%s'", endpoint ? endpoint :
	    "-", region ? region : "-", edge ? edge : "-", product,
	    rc == TFS_OK ? out : "(error)", want);
}

static void
test_hosts(void)
{
	struct twilio_config c = { AC, "SKx", "s", NULL, NULL, NULL };
	char tiny[16];

	check_base(NULL, NULL, NULL, "video", "https://video.twilio.com");
	check_base(NULL, NULL, NULL, "api", "https://api.twilio.com");
	check_base(NULL, "", "", "intelligence",
	    "https://intelligence.twilio.com");
	/* Twilio's example: api.dublin.ie1.twilio.com */
	check_base(NULL, "ie1", "dublin", "api",
	    "https://api.dublin.ie1.twilio.com");
	check_base(NULL, "ie1", "dublin", "video",
	    "https://video.dublin.ie1.twilio.com");
	/* A region alone: {product}.{region}.twilio.com */
	check_base(NULL, "au1", NULL, "video", "https://video.au1.twilio.com");
	/* An edge alone implies us1. */
	check_base(NULL, NULL, "ashburn", "api",
	    "https://api.ashburn.us1.twilio.com");
	/* The endpoint override wins, trailing slashes dropped. */
	check_base("https://127.0.0.1:8443", "ie1", "dublin", "video",
	    "https://127.0.0.1:8443/video");
	check_base("https://proxy.example/tw//", NULL, NULL, "accounts",
	    "https://proxy.example/tw/accounts");
	CHECK(twilio_base_url(&c, "intelligence", tiny, sizeof(tiny)) !=
	    TFS_OK, "a base that does not fit must be an error");
}

static void
test_urls(void)
{
	struct twilio_config c = { AC, "SKx", "s", "https://h:1", NULL, NULL };
	struct twilio *t = NULL;
	struct tfs_error err = { 0, "" };
	enum item_kind kind;
	char out[512];

	CHECK_RC(twilio_new(&t, &c, NULL, &err), TFS_OK, "twilio_new");
	if (t == NULL)
		return;
	CHECK(twilio_list_url(t, ITEM_VIDEO_RECORDING, 0, out, sizeof(out)) ==
	    TFS_OK && strcmp(out, "https://h:1/video/v1/Recordings?"
	    "PageSize=100") == 0, "video list: %s", out);
	CHECK(twilio_list_url(t, ITEM_COMPOSITION, 5000, out, sizeof(out)) ==
	    TFS_OK && strcmp(out, "https://h:1/video/v1/Compositions?"
	    "PageSize=100") == 0, "compositions capped at 100: %s", out);
	CHECK(twilio_list_url(t, ITEM_VOICE_RECORDING, 2, out, sizeof(out)) ==
	    TFS_OK && strcmp(out, "https://h:1/api/2010-04-01/Accounts/" AC
	    "/Recordings.json?PageSize=2") == 0, "voice list: %s", out);
	CHECK(twilio_list_url(t, ITEM_TRANSCRIPT, 0, out, sizeof(out)) ==
	    TFS_OK && strcmp(out, "https://h:1/intelligence/v2/Transcripts?"
	    "PageSize=1000") == 0, "transcript list: %s", out);
	CHECK(strcmp(twilio_kind_base(t, ITEM_VOICE_RECORDING),
	    "https://h:1/api") == 0, "voice base: %s",
	    twilio_kind_base(t, ITEM_VOICE_RECORDING));
	CHECK(twilio_resource_url(t, "RE0123456789abcdef0123456789abcdef",
	    &kind, out, sizeof(out)) == TFS_OK && kind ==
	    ITEM_VOICE_RECORDING && strcmp(out, "https://h:1/api/2010-04-01/"
	    "Accounts/" AC "/Recordings/RE0123456789abcdef0123456789abcdef"
	    ".json") == 0, "voice resource: %s", out);
	CHECK(twilio_media_api_url(t, ITEM_VIDEO_RECORDING,
	    "RT0123456789abcdef0123456789abcdef", 0, out, sizeof(out)) ==
	    TFS_OK && strcmp(out, "https://h:1/video/v1/Recordings/"
	    "RT0123456789abcdef0123456789abcdef/Media") == 0, "media: %s",
	    out);
	CHECK(twilio_media_api_url(t, ITEM_TRANSCRIPT,
	    "GT0123456789abcdef0123456789abcdef", 2, out, sizeof(out)) ==
	    TFS_OK && strcmp(out, "https://h:1/intelligence/v2/Transcripts/"
	    "GT0123456789abcdef0123456789abcdef/OperatorResults/Encrypted") ==
	    0, "operator results: %s", out);
	CHECK(twilio_media_api_url(t, ITEM_VOICE_RECORDING,
	    "RE0123456789abcdef0123456789abcdef", 0, out, sizeof(out)) ==
	    TFS_OK && strstr(out, "/Recordings/RE0123456789abcdef0123456789"
	    "abcdef.wav") != NULL, "voice media: %s", out);
	CHECK(twilio_resource_url(t, "XX0123456789abcdef0123456789abcdef",
	    &kind, out, sizeof(out)) != TFS_OK && kind == 0,
	    "an unknown prefix must be refused");
	twilio_free(t);
}

static void
test_sids(void)
{
	CHECK(kind_of_sid("RT0123456789abcdef0123456789abcdef") ==
	    ITEM_VIDEO_RECORDING, "RT");
	CHECK(kind_of_sid("CJ0123456789ABCDEF0123456789abcdef") ==
	    ITEM_COMPOSITION, "CJ, upper-case hex");
	CHECK(kind_of_sid("GT0123456789abcdef0123456789abcdef") ==
	    ITEM_TRANSCRIPT, "GT");
	CHECK(kind_of_sid("RE0123456789abcdef0123456789abcde") == 0,
	    "33 characters");
	CHECK(kind_of_sid("RE0123456789abcdef0123456789abcdeg") == 0,
	    "not hex");
	CHECK(kind_of_sid("RT0123456789abcdef0123456789abcdef/x") == 0,
	    "trailing path");
	CHECK(kind_of_sid(NULL) == 0, "NULL");
}

static void
test_json(void)
{
	const char *doc = "{\"redirect_to\":\"https://s/x?a=1&b=2\","
	    "\"locations\":[\"u1\",\"u2\"],\"n\":3,\"z\":null,"
	    "\"o\":{\"k\":\"v\"}}";
	char type[16], out[64], small[4];

	CHECK(json_value(doc, "$.redirect_to", type, sizeof(type), out,
	    sizeof(out)) == 1 && strcmp(type, "text") == 0 &&
	    strcmp(out, "https://s/x?a=1&b=2") == 0, "redirect_to: %s", out);
	CHECK(json_value(doc, "$.locations[1]", NULL, 0, out, sizeof(out)) ==
	    1 && strcmp(out, "u2") == 0, "locations[1]: %s", out);
	CHECK(json_value(doc, "$.locations[2]", NULL, 0, out, sizeof(out)) ==
	    0, "locations[2] is absent");
	CHECK(json_value(doc, "$.n", type, sizeof(type), out, sizeof(out)) ==
	    1 && strcmp(type, "integer") == 0 && strcmp(out, "3") == 0,
	    "n: %s %s", type, out);
	CHECK(json_value(doc, "$.z", type, sizeof(type), NULL, 0) == 1 &&
	    strcmp(type, "null") == 0, "z is null: %s", type);
	CHECK(json_value(doc, "$.o", type, sizeof(type), out, sizeof(out)) ==
	    1 && strcmp(type, "object") == 0 && strcmp(out, "{\"k\":\"v\"}") ==
	    0, "o: %s", out);
	CHECK(json_value(doc, "$.redirect_to", NULL, 0, small, sizeof(small))
	    == -1, "a value too big for its buffer is an error");
	CHECK(json_value("{not json", "$.a", NULL, 0, out, sizeof(out)) == -1,
	    "invalid JSON is an error");
	CHECK(json_value(doc, "$.missing", NULL, 0, out, sizeof(out)) == 0,
	    "absent key");
}

/* --- next-page links --- */

#define PORT "8443"
#define EP "https://127.0.0.1:" PORT
#define RT1 "RT0123456789abcdef0123456789abcdef"

static struct twilio *
mk(const char *endpoint, const char *region, const char *edge)
{
	struct twilio_config c = { AC, "SKx", "secret", endpoint, region,
	    edge };
	struct tfs_error err = { 0, "" };
	struct twilio *t = NULL;

	CHECK_RC(twilio_new(&t, &c, NULL, &err), TFS_OK, "twilio_new: %s",
	    err.detail);
	return t;
}

/* link must become want. */
static void
page_ok(const struct twilio *t, enum item_kind kind, const char *link,
    const char *want)
{
	struct tfs_error err;
	char out[1024];
	int rc;

	tfs_error_clear(&err);
	memset(out, 0, sizeof(out));
	rc = twilio_page_url(t, kind, link, out, sizeof(out), &err);
	if (CHECK_RC(rc, TFS_OK, "page link %s: %s", link, err.detail))
		CHECK(strcmp(out, want) == 0, "page link %s: got %s, want %s",
		    link, out, want);
}

/* link must be refused, the detail naming origin. */
static void
page_refused(const struct twilio *t, enum item_kind kind, const char *link,
    const char *origin)
{
	struct tfs_error err;
	char out[1024];
	int rc;

	tfs_error_clear(&err);
	(void)snprintf(out, sizeof(out), "untouched");
	rc = twilio_page_url(t, kind, link, out, sizeof(out), &err);
	if (!CHECK_RC(rc, TFS_ERR_PROTOCOL, "page link %s (got %s)", link,
	    rc == TFS_OK ? out : "an error"))
		return;
	CHECK_DETAIL(&err, "page link %s", link);
	CHECK(strstr(err.detail, origin) != NULL, "page link %s: the detail "
	    "does not name %s: %s", link, origin, err.detail);
}

static void
test_page_url(void)
{
	struct twilio *t;
	struct tfs_error err;
	char small[40];

	t = mk(EP, NULL, NULL);
	if (t == NULL)
		return;
	/* Relative (next_page_uri) joins the kind's base. */
	page_ok(t, ITEM_VIDEO_RECORDING, "/v1/Recordings?PageSize=5&Page=1",
	    EP "/video/v1/Recordings?PageSize=5&Page=1");
	page_ok(t, ITEM_VOICE_RECORDING, "/2010-04-01/Accounts/" AC
	    "/Recordings.json?Page=1", EP "/api/2010-04-01/Accounts/" AC
	    "/Recordings.json?Page=1");
	page_ok(t, ITEM_TRANSCRIPT, "/v2/Transcripts?Page=1",
	    EP "/intelligence/v2/Transcripts?Page=1");
	/* Absolute under the configured base: as it is. */
	page_ok(t, ITEM_VIDEO_RECORDING, EP "/video/v1/Recordings?Page=1",
	    EP "/video/v1/Recordings?Page=1");
	page_ok(t, ITEM_COMPOSITION, EP "/video/v1/Compositions?Page=2",
	    EP "/video/v1/Compositions?Page=2");
	/* Twilio's own host of the product: onto the configured base. */
	page_ok(t, ITEM_VIDEO_RECORDING,
	    "https://video.twilio.com/v1/Recordings?Page=1",
	    EP "/video/v1/Recordings?Page=1");
	page_ok(t, ITEM_VIDEO_RECORDING,
	    "https://video.twilio.com:443/v1/Recordings?Page=1",
	    EP "/video/v1/Recordings?Page=1");
	page_ok(t, ITEM_VIDEO_RECORDING,
	    "https://video.dublin.ie1.twilio.com/v1/Recordings?Page=1",
	    EP "/video/v1/Recordings?Page=1");
	page_ok(t, ITEM_VOICE_RECORDING, "https://api.twilio.com/2010-04-01/"
	    "Accounts/" AC "/Recordings.json?Page=1", EP "/api/2010-04-01/"
	    "Accounts/" AC "/Recordings.json?Page=1");
	page_ok(t, ITEM_TRANSCRIPT,
	    "https://intelligence.twilio.com/v2/Transcripts?Page=1",
	    EP "/intelligence/v2/Transcripts?Page=1");

	/* Refused: other hosts, schemes, look-alikes, other products. */
	page_refused(t, ITEM_VIDEO_RECORDING,
	    "https://evil.example/v1/Recordings?Page=1", "evil.example");
	page_refused(t, ITEM_VIDEO_RECORDING,
	    "http://video.twilio.com/v1/Recordings?Page=1",
	    "http://video.twilio.com");
	page_refused(t, ITEM_VIDEO_RECORDING,
	    "https://video.twilio.com.evil.com/v1/Recordings?Page=1",
	    "video.twilio.com.evil.com");
	page_refused(t, ITEM_VIDEO_RECORDING,
	    "https://video.twilio.com@evil.com/v1/Recordings?Page=1",
	    "evil.com");
	page_refused(t, ITEM_VIDEO_RECORDING,
	    "https://video.twilio.com:8443/v1/Recordings?Page=1",
	    "video.twilio.com:8443");
	page_refused(t, ITEM_VIDEO_RECORDING,
	    "https://evilvideo.twilio.com/v1/Recordings?Page=1",
	    "evilvideo.twilio.com");
	page_refused(t, ITEM_VIDEO_RECORDING,
	    "https://api.twilio.com/2010-04-01/Accounts/" AC
	    "/Recordings.json?Page=1", "api.twilio.com");
	page_refused(t, ITEM_VOICE_RECORDING,
	    "https://video.twilio.com/v1/Recordings?Page=1",
	    "video.twilio.com");
	page_refused(t, ITEM_VIDEO_RECORDING,
	    "https://localhost:" PORT "/video/v1/Recordings?Page=1",
	    "localhost:" PORT);
	page_refused(t, ITEM_VIDEO_RECORDING,
	    "https://127.0.0.1:8444/video/v1/Recordings?Page=1",
	    "127.0.0.1:8444");
	page_refused(t, ITEM_VIDEO_RECORDING, "http://127.0.0.1:" PORT
	    "/video/v1/Recordings?Page=1", "http://127.0.0.1:" PORT);
	page_refused(t, ITEM_VIDEO_RECORDING, EP "x/video/v1/Recordings",
	    EP "x");
	page_refused(t, ITEM_VIDEO_RECORDING, EP "@evil.com/video/v1/R",
	    "evil.com");
	page_refused(t, ITEM_VIDEO_RECORDING, EP "/videox/v1/Recordings",
	    EP);
	page_refused(t, ITEM_VIDEO_RECORDING, "ftp://video.twilio.com/v1/R",
	    "ftp://video.twilio.com");
	page_refused(t, ITEM_VIDEO_RECORDING, "v1/Recordings?Page=1",
	    "v1");

	/* Too long for out: an error, not a cut URL. */
	tfs_error_clear(&err);
	CHECK_RC(twilio_page_url(t, ITEM_VIDEO_RECORDING,
	    "/v1/Recordings?Page=1&PageToken=PA" RT1, small, sizeof(small),
	    &err), TFS_ERR_PROTOCOL, "a link too long for out");
	CHECK_DETAIL(&err, "a link too long for out");
	twilio_free(t);

	/* No endpoint: a region and edge make the base, and Twilio's
	 * default hosts move onto it. */
	t = mk(NULL, "ie1", "dublin");
	if (t == NULL)
		return;
	CHECK(strcmp(twilio_kind_base(t, ITEM_VOICE_RECORDING),
	    "https://api.dublin.ie1.twilio.com") == 0, "ie1 base %s",
	    twilio_kind_base(t, ITEM_VOICE_RECORDING));
	page_ok(t, ITEM_VOICE_RECORDING, "https://api.twilio.com/2010-04-01/"
	    "Accounts/" AC "/Recordings.json?PageSize=50&Page=1",
	    "https://api.dublin.ie1.twilio.com/2010-04-01/Accounts/" AC
	    "/Recordings.json?PageSize=50&Page=1");
	page_ok(t, ITEM_VOICE_RECORDING, "https://api.dublin.ie1.twilio.com/"
	    "2010-04-01/Accounts/" AC "/Recordings.json?Page=2",
	    "https://api.dublin.ie1.twilio.com/2010-04-01/Accounts/" AC
	    "/Recordings.json?Page=2");
	page_ok(t, ITEM_VOICE_RECORDING, "/2010-04-01/Accounts/" AC
	    "/Recordings.json?Page=3", "https://api.dublin.ie1.twilio.com/"
	    "2010-04-01/Accounts/" AC "/Recordings.json?Page=3");
	page_refused(t, ITEM_VOICE_RECORDING, "https://api.twilio.com.evil.com"
	    "/2010-04-01/Accounts/" AC "/Recordings.json",
	    "api.twilio.com.evil.com");
	page_refused(t, ITEM_VOICE_RECORDING, "https://api.dublin.ie1."
	    "twilio.com.evil.com/2010-04-01/", "evil.com");
	twilio_free(t);
}

/* --- where credentials go --- */

static void
auth_check(const struct twilio *t, const char *url, int want)
{
	struct http_request req;
	int got;

	http_request_init(&req, url);
	twilio_authorize(t, &req);
	got = req.username != NULL || req.password != NULL;
	CHECK(got == want, "%s: credentials %s", url ? url : "(null)",
	    got ? "attached" : "not attached");
	if (want && got)
		CHECK(strcmp(req.username, "SKx") == 0 &&
		    strcmp(req.password, "secret") == 0, "%s: wrong "
		    "credentials attached", url);
}

static void
test_authorize(void)
{
	struct twilio *t;
	struct tfs_error err;
	char *json = (char *)"untouched";

	t = mk(EP, NULL, NULL);
	if (t == NULL)
		return;
	auth_check(t, EP "/video/v1/Recordings/" RT1 "/Media", 1);
	auth_check(t, EP "/api/2010-04-01/Accounts/" AC "/Recordings/RE"
	    "0123456789abcdef0123456789abcdef.wav", 1);
	auth_check(t, EP "/intelligence/v2/Transcripts", 1);
	auth_check(t, EP "/video?PageSize=1", 1);
	auth_check(t, EP "/video", 1);
	auth_check(t, EP "/videox", 0);
	auth_check(t, EP "/video@x", 0);
	auth_check(t, EP "/video-evil/v1", 0);
	auth_check(t, EP, 0);
	auth_check(t, EP "/", 0);
	auth_check(t, EP "/other/v1", 0);
	auth_check(t, "https://127.0.0.1:8444/video/v1/Recordings", 0);
	auth_check(t, "https://127.0.0.1:844/video/v1/Recordings", 0);
	auth_check(t, "http://127.0.0.1:" PORT "/video/v1/Recordings", 0);
	auth_check(t, "https://localhost:" PORT "/video/v1/Recordings", 0);
	auth_check(t, EP "@evil.com/video/v1/Recordings", 0);
	/* Signed media-store URLs never get them. */
	auth_check(t, "https://media.example/v1/" RT1 "?Expires=1&"
	    "Signature=abc", 0);
	auth_check(t, "https://com-twilio-us1-video-recording.s3.amazonaws."
	    "com/ACx/" RT1, 0);
	/* Without an endpoint, twilio.com's own hosts are not ours. */
	auth_check(t, "https://video.twilio.com/v1/Recordings/" RT1 "/Media",
	    0);
	auth_check(t, NULL, 0);

	/* twilio_get_json refuses an outside URL before any request (no
	 * http handle here: a request would crash). */
	tfs_error_clear(&err);
	CHECK_RC(twilio_get_json(t, ITEM_VIDEO_RECORDING,
	    "https://evil.example/v1/Recordings", &json, &err),
	    TFS_ERR_PROTOCOL, "get_json of an outside URL");
	CHECK_DETAIL(&err, "get_json of an outside URL");
	CHECK(strstr(err.detail, "evil.example") != NULL, "detail: %s",
	    err.detail);
	CHECK(json == NULL, "json not cleared");
	twilio_free(t);

	t = mk(NULL, NULL, NULL);
	if (t == NULL)
		return;
	auth_check(t, "https://api.twilio.com/2010-04-01/Accounts/" AC
	    "/Recordings/RE0123456789abcdef0123456789abcdef.wav", 1);
	auth_check(t, "https://video.twilio.com/v1/Recordings/" RT1 "/Media",
	    1);
	auth_check(t, "https://intelligence.twilio.com/v2/Transcripts", 1);
	auth_check(t, "https://api.twilio.com.evil.com/2010-04-01", 0);
	auth_check(t, "https://api.twilio.com@evil.com/2010-04-01", 0);
	auth_check(t, "http://api.twilio.com/2010-04-01", 0);
	auth_check(t, "https://api.ie1.twilio.com/2010-04-01", 0);
	/* The Accounts API holds the Public Keys (twiliofs keys): an API
	 * base too, but only its own host. */
	auth_check(t, "https://accounts.twilio.com/v1/Credentials", 1);
	auth_check(t, "https://accounts.twilio.com.evil.com/v1", 0);
	auth_check(t, "https://accounts.ie1.twilio.com/v1/Credentials", 0);
	twilio_free(t);
}

int
main(void)
{
	unit_begin("test_twilio");
	test_hosts();
	test_urls();
	test_sids();
	test_json();
	test_page_url();
	test_authorize();
	return unit_done();
}
