/* SPDX-License-Identifier: MIT */
/*
 * twilio.h - Twilio's REST API: hosts (region, edge, endpoint override),
 * list URLs, authenticated GETs, and media URL resolution: video /Media
 * answers 302 + {"redirect_to": URL} (read by us, never auto-followed),
 * voice .wav answers 302 + Location, Intelligence …/Encrypted answers 200
 * + {"location": URL} or {"locations": [URL, …]}. Credentials go to the
 * API only; the signed media URLs are fetched without them. No FUSE, no
 * crypto.
 */
#ifndef TWILIOFS_TWILIO_H
#define TWILIOFS_TWILIO_H

#include <stddef.h>

#include "twiliofs/error.h"
#include "twiliofs/http.h"
#include "twiliofs/item.h"

struct twilio_config {
	const char *account_sid;	/* AC… */
	const char *username;		/* SK… key, or the AC… SID */
	const char *password;		/* API secret or auth token */
	const char *endpoint;		/* ENDPOINT/{product} replaces
					 * https://{product}.twilio.com */
	const char *region;		/* e.g. "ie1", or NULL */
	const char *edge;		/* e.g. "dublin", or NULL */
};

/*
 * The base URL of product ("video", "api", "intelligence", "accounts"):
 * ENDPOINT/product with an endpoint; else
 * https://{product}[.{edge}][.{region}].twilio.com, where an edge alone
 * implies region us1. TFS_ERR_CONFIG if it does not fit cap.
 */
int twilio_base_url(const struct twilio_config *cfg, const char *product,
	char *out, size_t cap) __attribute__((warn_unused_result));

struct twilio;

/* Copies cfg (the secret too; wiped by twilio_free). Borrows http. */
int twilio_new(struct twilio **out, const struct twilio_config *cfg,
	struct http *http, struct tfs_error *err)
	__attribute__((warn_unused_result));
void twilio_free(struct twilio *t);

/* The base URL of host ("video", "api", "intelligence", "accounts"), or
 * NULL for another. */
const char *twilio_base(const struct twilio *t, const char *host);

/* The base URL relative next_page_uri / uri values join onto, per kind. */
const char *twilio_kind_base(const struct twilio *t, enum item_kind kind);

/* First list page of kind; page_size 0 for the API's maximum. */
int twilio_list_url(const struct twilio *t, enum item_kind kind,
	int page_size, char *out, size_t cap)
	__attribute__((warn_unused_result));

/*
 * GET url (absolute, or relative to kind's base when it starts with '/')
 * with credentials (only under a configured base: TFS_ERR_PROTOCOL
 * otherwise); the 200 body into *json (caller frees). Errors:
 * TFS_ERR_AUTH (401: the detail names TWILIO_API_KEY), TFS_ERR_FORBIDDEN
 * (403: the key may not read this product), TFS_ERR_NOTFOUND (404),
 * TFS_ERR_NETWORK.
 */
int twilio_get_json(struct twilio *t, enum item_kind kind, const char *url,
	char **json, struct tfs_error *err)
	__attribute__((warn_unused_result));

/*
 * A call that reads or changes the account's settings: method "GET",
 * "POST" (form: application/x-www-form-urlencoded fields) or "DELETE" on
 * url, which must lie under a configured API base. 200 and 201 give the
 * body in *json (caller frees), 204 gives NULL. A 400 is TFS_ERR_USAGE
 * with Twilio's error code and message; the others as twilio_get_json.
 * A POST or DELETE is never sent twice (see http_request.method).
 */
int twilio_call(struct twilio *t, const char *method, const char *url,
	const char *form, char **json, struct tfs_error *err)
	__attribute__((warn_unused_result));

/* The API URL of one resource's JSON, from its SID (RT, CJ, RE, GT). */
int twilio_resource_url(const struct twilio *t, const char *sid,
	enum item_kind *kind, char *out, size_t cap)
	__attribute__((warn_unused_result));

/*
 * The API URL that resolves to (sid, part)'s media: video /Media, voice
 * .wav, transcript Sentences/Encrypted (part 0) or OperatorResults/
 * Encrypted (part >= 1).
 */
int twilio_media_api_url(const struct twilio *t, enum item_kind kind,
	const char *sid, int part, char *out, size_t cap)
	__attribute__((warn_unused_result));

/*
 * Resolve (kind, part)'s media API URL to a signed URL fetched without
 * credentials (valid ttl seconds where the API takes a Ttl). For part >=
 * 1, the (part-1)th of locations[]. Where the API answers with the media
 * itself (voice .wav as a 200), out is api_url: fetch it through
 * twilio_authorize. *count (may be NULL) gets how many
 * locations the answer listed (1 for single-URL answers).
 */
int twilio_resolve_media(struct twilio *t, enum item_kind kind,
	const char *api_url, int part, int ttl, char *out, size_t cap,
	size_t *count, struct tfs_error *err)
	__attribute__((warn_unused_result));

/*
 * A list page's next-page link, checked and made absolute: relative
 * (next_page_uri) joins kind's base; absolute must lie under a configured
 * API base, or name Twilio's own host of kind's product (any region or
 * edge; rewritten onto the configured base, as Twilio's SDKs do for
 * regions). Anything else: TFS_ERR_PROTOCOL naming the origin.
 */
int twilio_page_url(const struct twilio *t, enum item_kind kind,
	const char *link, char *out, size_t cap, struct tfs_error *err)
	__attribute__((warn_unused_result));

/*
 * Attach the credentials to req if, and only if, its URL lies under a
 * configured API base (voice media may be served by the API itself);
 * signed media-store URLs never get them.
 */
void twilio_authorize(const struct twilio *t, struct http_request *req);

#endif
