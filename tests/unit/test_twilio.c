/* SPDX-License-Identifier: MIT */
/*
 * test_twilio.c - API hosts for every region/edge/endpoint combination,
 * list, resource and media URLs, SID kinds; and the JSON helper they use.
 */
#include <stdlib.h>
#include <string.h>

#include "twiliofs/json.h"
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
	CHECK(twilio_kind_of_sid("RT0123456789abcdef0123456789abcdef") ==
	    ITEM_VIDEO_RECORDING, "RT");
	CHECK(twilio_kind_of_sid("CJ0123456789ABCDEF0123456789abcdef") ==
	    ITEM_COMPOSITION, "CJ, upper-case hex");
	CHECK(twilio_kind_of_sid("GT0123456789abcdef0123456789abcdef") ==
	    ITEM_TRANSCRIPT, "GT");
	CHECK(twilio_kind_of_sid("RE0123456789abcdef0123456789abcde") == 0,
	    "33 characters");
	CHECK(twilio_kind_of_sid("RE0123456789abcdef0123456789abcdeg") == 0,
	    "not hex");
	CHECK(twilio_kind_of_sid("RT0123456789abcdef0123456789abcdef/x") == 0,
	    "trailing path");
	CHECK(twilio_kind_of_sid(NULL) == 0, "NULL");
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

int
main(void)
{
	unit_begin("test_twilio");
	test_hosts();
	test_urls();
	test_sids();
	test_json();
	return unit_done();
}
