/* SPDX-License-Identifier: MIT */
/*
 * item.h - one media object of the account, as the API describes it and
 * the catalog stores it. A plain value type shared by twilio, catalog and
 * (later) fs; no functions.
 */
#ifndef TWILIOFS_ITEM_H
#define TWILIOFS_ITEM_H

#include "twiliofs/envelope.h"

enum item_kind {
	ITEM_VIDEO_RECORDING = 1,	/* RT…, video v1 Recordings */
	ITEM_COMPOSITION = 2,		/* CJ…, video v1 Compositions */
	ITEM_VOICE_RECORDING = 3,	/* RE…, 2010 Recordings.json */
	ITEM_TRANSCRIPT = 4		/* GT…, intelligence Transcripts */
};
#define ITEM_KINDS 4

/*
 * Part of an item: 0 for the media itself (for a transcript: its
 * sentences); 1..n for a transcript's operator results, in the order of
 * the API's locations[].
 */
#define ITEM_PART_MAIN 0

#define ITEM_SID_LEN 34
#define ITEM_URL_MAX 2048

/* Fill only through twilio / catalog; a value, copied freely. */
struct item {
	char sid[ITEM_SID_LEN + 1];
	int part;
	enum item_kind kind;
	char status[24];		/* "completed", "processing", … */
	int error_code;			/* 0 when none */
	long long date_created;		/* Unix seconds, UTC */
	long long duration;		/* seconds; -1 unknown */
	char room_sid[ITEM_SID_LEN + 1];
	char participant_sid[ITEM_SID_LEN + 1];
	char call_sid[ITEM_SID_LEN + 1];
	char track_name[256];
	char codec[16];			/* lower case: "vp8", "opus" */
	char container[8];		/* ext.: mka mkv mp4 webm wav json */
	/*
	 * Where the media is found: for video the API's /Media URL (answers
	 * 302 + redirect_to), for voice the .wav URL, for a transcript the
	 * Sentences/Encrypted URL (answers 200 + location) or, for an
	 * operator result, the OperatorResults/Encrypted URL (answers 200 +
	 * locations[], of which this part is number part - 1). API URLs
	 * only: signed media URLs expire and are never stored.
	 */
	char media_url[ITEM_URL_MAX];
	/*
	 * The envelope; for voice it comes with the listing
	 * (encryption_details), for the others from the media download's
	 * headers (media_known).
	 * env.scheme ENVELOPE_NONE with media_known set: not encrypted.
	 * env.plaintext_size / ciphertext_size: exact sizes once known (-1).
	 */
	struct envelope env;
	int media_known;
	char etag[96];
	/* Why the media is not fetched: "external" (in the customer's own
	 * storage), "unencrypted" (a transcript stored without encryption:
	 * not served), or "". */
	char hold[16];
	int key_state;			/* 0 unchecked, 1 a key opens it,
					 * 2 no key of ours does */
	char fail_class[16];		/* the last media failure, or "" */
};

#endif
