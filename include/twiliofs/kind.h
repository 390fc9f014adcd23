/* SPDX-License-Identifier: MIT */
/*
 * kind.h - the one table of kinds: everything twiliofs knows about each
 * kind of item (SID prefix, directory, API product, list / resource /
 * media URLs, page size limit, where its envelope comes from, names for
 * messages, status.json and xattrs) and what its status values mean.
 * sync, twilio, catalog and fs read it; nobody else spells these out.
 * No I/O.
 */
#ifndef TWILIOFS_KIND_H
#define TWILIOFS_KIND_H

#include <stddef.h>

#include "twiliofs/item.h"

/* The API products (host names); a product serves one or more kinds. */
enum kind_product {
	PRODUCT_VIDEO = 0,	/* video.twilio.com */
	PRODUCT_VOICE = 1,	/* api.twilio.com */
	PRODUCT_INTELLIGENCE = 2	/* intelligence.twilio.com */
};
#define KIND_PRODUCTS 3

struct kind_info {
	enum item_kind kind;
	const char *prefix;		/* SID prefix: "RT" */
	const char *name;		/* for messages: "video recordings" */
	const char *id;			/* status.json key */
	const char *xattr;		/* user.twilio.kind value */
	const char *dir;		/* in the mount: "video/recordings" */
	enum kind_product product;
	/*
	 * Paths under the product's base URL; "{AC}" is the account SID,
	 * "{SID}" the item's. part_media_path: a transcript's operator
	 * results (parts >= 1), else NULL.
	 */
	const char *list_path;
	const char *resource_path;
	const char *media_path;
	const char *part_media_path;
	const char *list_key;		/* the list's key in a page */
	int page_max;			/* the API's largest PageSize */
	int media_ttl;			/* the media URL takes ?Ttl= */
	int media_may_be_body;		/* may answer 200 with the media
					 * itself, not a redirect */
	int envelope_listed;		/* encryption_details in the record
					 * (else: headers of the media) */
	/*
	 * How a record names its file's container: the member holding it
	 * (lower-cased, one of containers), else fixed; for video
	 * recordings the "type" member decides between audio_container and
	 * video_container.
	 */
	const char *container_member;
	const char *containers;		/* allowed values, "a,b" */
	const char *audio_container, *video_container;
	const char *fixed_container;
	/* Where the media URL comes from: links.<media_link>, or for voice
	 * the record's uri with .wav for .json (media_link NULL). */
	const char *media_link;
	/* Media kept in the customer's own storage: this member says so. */
	const char *external_member;
	/* Set (to null) in records stored without encryption, or NULL. */
	const char *encryption_member;
	int rooms;			/* linked under video/rooms/RM… */
	/*
	 * Items with parts are a directory each (DIR/DAY/SID/): the main
	 * part is main_file, part n is parts_dir/n.json, whose
	 * user.twilio.kind is part_xattr. NULL: a file DIR/DAY/SID.ext.
	 */
	const char *main_file, *parts_dir, *part_xattr;
};

/* The row of kind (1..ITEM_KINDS), or NULL. */
const struct kind_info *kind_info(enum item_kind kind);

/* Whether sid is prefix (two letters: "RT", "RM", "CA", …) and 32 hex
 * digits: safe as a file name, never trusted otherwise. */
int kind_sid_shaped(const char *sid, const char *prefix);

/* The kind a SID's prefix names (34 characters, hex after the prefix), or
 * 0. */
enum item_kind kind_of_sid(const char *sid);

/* "video", "api", "intelligence": the host label and endpoint path. */
const char *kind_product_host(enum kind_product p);
/* "Video", "Voice", "Intelligence": for messages and status.json. */
const char *kind_product_name(enum kind_product p);
/* "video", "voice", "intelligence": status.json keys. */
const char *kind_product_id(enum kind_product p);

/*
 * Whether Twilio offers product p in region (NULL or "" means the
 * default, us1): ie1 and au1 have no Video; ie1 has no Intelligence.
 */
int kind_product_offered(enum kind_product p, const char *region);

/* What a status value means, for every kind. */
enum kind_state {
	STATE_DONE,		/* "completed": has media */
	STATE_PROCESSING,	/* not finished upstream (or unknown) */
	STATE_FAILED,		/* failed, absent, error, canceled, … */
	STATE_DELETED
};
enum kind_state kind_state_of(const char *status);

/*
 * fmt with {AC} and {SID} replaced, appended to base. TFS_ERR_RANGE when
 * it does not fit cap.
 */
int kind_path(const char *base, const char *fmt, const char *account,
	const char *sid, char *out, size_t cap)
	__attribute__((warn_unused_result));

#endif
