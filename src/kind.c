/* SPDX-License-Identifier: MIT */
/* kind.c - the one table of kinds, and what status values mean. */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "twiliofs/error.h"
#include "twiliofs/kind.h"

static const struct kind_info kinds[ITEM_KINDS + 1] = {
	[ITEM_VIDEO_RECORDING] = {
		.kind = ITEM_VIDEO_RECORDING, .prefix = "RT",
		.name = "video recordings", .id = "video_recordings",
		.xattr = "video_recording", .dir = "video/recordings",
		.product = PRODUCT_VIDEO,
		.list_path = "/v1/Recordings",
		.resource_path = "/v1/Recordings/{SID}",
		.media_path = "/v1/Recordings/{SID}/Media",
		.list_key = "recordings", .page_max = 100, .media_ttl = 1,
		.container_member = "container_format",
		.containers = "mka,mkv", .audio_container = "mka",
		.video_container = "mkv", .media_link = "media",
		.external_member = "media_external_location", .rooms = 1,
	},
	[ITEM_COMPOSITION] = {
		.kind = ITEM_COMPOSITION, .prefix = "CJ",
		.name = "compositions", .id = "compositions",
		.xattr = "composition", .dir = "video/compositions",
		.product = PRODUCT_VIDEO,
		.list_path = "/v1/Compositions",
		.resource_path = "/v1/Compositions/{SID}",
		.media_path = "/v1/Compositions/{SID}/Media",
		.list_key = "compositions", .page_max = 100, .media_ttl = 1,
		.container_member = "format", .containers = "mp4,webm",
		.media_link = "media",
		.external_member = "media_external_location", .rooms = 1,
	},
	[ITEM_VOICE_RECORDING] = {
		.kind = ITEM_VOICE_RECORDING, .prefix = "RE",
		.name = "voice recordings", .id = "voice_recordings",
		.xattr = "voice_recording", .dir = "voice/recordings",
		.product = PRODUCT_VOICE,
		.list_path = "/2010-04-01/Accounts/{AC}/Recordings.json",
		.resource_path = "/2010-04-01/Accounts/{AC}/Recordings/"
		    "{SID}.json",
		.media_path = "/2010-04-01/Accounts/{AC}/Recordings/{SID}.wav",
		.list_key = "recordings", .page_max = 1000,
		.media_may_be_body = 1, .envelope_listed = 1,
		.fixed_container = "wav",
		/* "When stored externally, the full URL" of the media. */
		.external_member = "media_url",
	},
	[ITEM_TRANSCRIPT] = {
		.kind = ITEM_TRANSCRIPT, .prefix = "GT",
		.name = "transcripts", .id = "transcripts",
		.xattr = "transcript", .dir = "intelligence/transcripts",
		.product = PRODUCT_INTELLIGENCE,
		.list_path = "/v2/Transcripts",
		.resource_path = "/v2/Transcripts/{SID}",
		.media_path = "/v2/Transcripts/{SID}/Sentences/Encrypted",
		.part_media_path = "/v2/Transcripts/{SID}/OperatorResults/"
		    "Encrypted",
		.list_key = "transcripts", .page_max = 1000,
		.fixed_container = "json",
		.media_link = "encrypted_sentences",
		.encryption_member = "encryption_credential_sid",
		.main_file = "sentences.json", .parts_dir = "operator-results",
		.part_xattr = "operator_result",
	},
};

const struct kind_info *
kind_info(enum item_kind kind)
{
	if ((int)kind < 1 || (int)kind > ITEM_KINDS)
		return NULL;
	return &kinds[kind];
}

int
kind_sid_shaped(const char *sid, const char *prefix)
{
	size_t i;

	if (sid == NULL || prefix == NULL || strlen(sid) != ITEM_SID_LEN ||
	    strncmp(sid, prefix, 2) != 0)
		return 0;
	for (i = 2; i < ITEM_SID_LEN; i++)
		if (!isxdigit((unsigned char)sid[i]))
			return 0;
	return 1;
}

enum item_kind
kind_of_sid(const char *sid)
{
	int k;

	for (k = 1; k <= ITEM_KINDS; k++)
		if (kind_sid_shaped(sid, kinds[k].prefix))
			return (enum item_kind)k;
	return 0;
}

static const struct {
	const char *host, *name, *id;
	const char *absent;	/* regions without it, space-separated */
} products[KIND_PRODUCTS] = {
	[PRODUCT_VIDEO] = { "video", "Video", "video", " ie1 au1 " },
	[PRODUCT_VOICE] = { "api", "Voice", "voice", "" },
	[PRODUCT_INTELLIGENCE] = { "intelligence", "Intelligence",
	    "intelligence", " ie1 " },
};

const char *
kind_product_host(enum kind_product p)
{
	return products[p].host;
}

const char *
kind_product_name(enum kind_product p)
{
	return products[p].name;
}

const char *
kind_product_id(enum kind_product p)
{
	return products[p].id;
}

int
kind_product_offered(enum kind_product p, const char *region)
{
	char word[32];

	if (region == NULL || region[0] == '\0' ||
	    strlen(region) > sizeof(word) - 3 || strchr(region, ' '))
		return 1;
	(void)snprintf(word, sizeof(word), " %s ", region);
	return strstr(products[p].absent, word) == NULL;
}

enum kind_state
kind_state_of(const char *status)
{
	static const char *const failed[] = { "failed", "absent", "error",
	    "canceled", "invalid" };
	size_t i;

	if (strcmp(status, "completed") == 0)
		return STATE_DONE;
	if (strcmp(status, "deleted") == 0)
		return STATE_DELETED;
	for (i = 0; i < sizeof(failed) / sizeof(failed[0]); i++)
		if (strcmp(status, failed[i]) == 0)
			return STATE_FAILED;
	/* processing, in-progress, queued, enqueued, new, or one we do not
	 * know yet: it may still complete. */
	return STATE_PROCESSING;
}

int
kind_path(const char *base, const char *fmt, const char *account,
    const char *sid, char *out, size_t cap)
{
	size_t n, len = 0;
	const char *p, *v;

	n = strlen(base);
	if (n >= cap)
		return TFS_ERR_RANGE;
	memcpy(out, base, n);
	len = n;
	for (p = fmt; *p != '\0'; p++) {
		v = NULL;
		if (strncmp(p, "{AC}", 4) == 0)
			v = account;
		else if (strncmp(p, "{SID}", 5) == 0)
			v = sid;
		if (v != NULL) {
			n = strlen(v);
			if (len + n >= cap)
				return TFS_ERR_RANGE;
			memcpy(out + len, v, n);
			len += n;
			p += p[1] == 'A' ? 3 : 4;
			continue;
		}
		if (len + 1 >= cap)
			return TFS_ERR_RANGE;
		out[len++] = *p;
	}
	out[len] = '\0';
	return TFS_OK;
}
