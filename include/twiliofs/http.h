/* SPDX-License-Identifier: MIT */
/*
 * http.h - HTTPS requests through libcurl: connection reuse, Range GETs,
 * bounded timeouts on every call, retries with backoff (429 with
 * Retry-After honoured, 5xx, resets and timeouts), TLS verification always
 * on (a cafile adds a CA to the system's; it never replaces checking).
 * The trust store is parsed once per process and TLS sessions are shared
 * by every handle: a new connection costs a handshake, not a CA bundle.
 *
 * Redirects are never followed: a 3xx is returned to the caller with its
 * Location, so credentials can never travel to another host. Credentials
 * are sent only on requests that carry them (API calls), never to media
 * hosts. No JSON, no crypto.
 *
 * A struct http is one libcurl handle: one per thread.
 */
#ifndef TWILIOFS_HTTP_H
#define TWILIOFS_HTTP_H

#include <stddef.h>

#include "twiliofs/error.h"

struct http;

struct http_config {
	const char *cafile;	/* extra CA bundle (PEM) or NULL */
	long connect_timeout_ms;	/* 0: 10 s */
	long api_timeout_ms;	/* whole-request cap for bodies we collect;
				 * 0: 60 s */
	long stall_seconds;	/* abort a stream slower than 1 KiB/s for
				 * this long; 0: 30 s */
	int max_retries;	/* 0: 5; retries after the first attempt */
	long backoff_ms;	/* first backoff, doubling; 0: 250 ms */
	long max_retry_after_s;	/* Retry-After cap; 0: 60 s */
};

int http_new(struct http **out, const struct http_config *cfg,
	struct tfs_error *err) __attribute__((warn_unused_result));
void http_free(struct http *h);

struct http_request {
	const char *url;
	/*
	 * NULL: a GET. "POST" with form (application/x-www-form-urlencoded,
	 * or NULL for an empty body), or "DELETE". A request that changes
	 * something is retried only where it cannot have been acted on: a
	 * 429, or no connection made.
	 */
	const char *method;
	const char *form;
	const char *username;	/* Basic auth, or NULL for none */
	const char *password;
	long long range_start;	/* -1: no Range */
	long long range_end;	/* inclusive; -1: to the end */
	long long range_suffix;	/* > 0: the last N bytes ("bytes=-N") */
	/*
	 * Body sink. NULL: the body is collected (at most body_cap bytes, an
	 * error beyond) into the response. Otherwise called with each piece
	 * of a 2xx body; a non-zero return aborts the request. After a
	 * retry, the bytes already delivered are not delivered again.
	 */
	int (*on_data)(const void *p, size_t n, void *arg);
	void *arg;
	size_t body_cap;	/* 0: 4 MiB */
	/*
	 * What the object must be: its validator (an ETag, or a
	 * Last-Modified date; also sent as If-Range, so a changed object
	 * answers 200 with all of it rather than a 206 of another version)
	 * and its size. Checked before the first byte of every answer goes
	 * to on_data, with the Content-Range of a 206 against the range
	 * asked: a mismatch ends the request with TFS_ERR_CHANGED (another
	 * version) or TFS_ERR_PROTOCOL (not the range asked for).
	 */
	const char *validator;	/* NULL or "": not checked */
	long long expect_total;	/* -1: not checked */
	/* Polled while the request runs: 0 goes on; a TFS_ERR_ code gives
	 * up at once with that code (a reader interrupted, say). */
	int (*cancelled)(void *arg);
	void *cancel_arg;
};

struct http_response {
	long status;		/* final status after retries */
	char *body;		/* collected body, NUL-terminated, or NULL */
	size_t body_len;
	char *headers;		/* the response's header block (status
				 * line, fields; CRLF), NUL-terminated */
	size_t headers_len;
	char location[2048];	/* Location of a 3xx, or "" */
	char etag[96];
	char last_modified[64];
	char validator[96];	/* the validator (ETag, else Last-Modified)
				 * of the object whose bytes were delivered:
				 * what a resumed request must find again */
	long long range_start;	/* a 206's Content-Range: first and last
				 * byte; -1 when it had none */
	long long range_end;
	long long total_size;	/* object size from Content-Range, or the
				 * Content-Length of a 200; -1 unknown */
	int retries;		/* how many retries it took */
};

/*
 * Perform req. Retries (up to max_retries) on connection failures,
 * timeouts, 429 and 5xx; other statuses are returned as they are, for the
 * caller to interpret (0 is returned with resp->status set). Errors:
 * TFS_ERR_NETWORK after the retries (detail: what, which host),
 * TFS_ERR_NOMEM, TFS_ERR_IO when on_data aborted, the code cancelled
 * returned, TFS_ERR_CHANGED / TFS_ERR_PROTOCOL when the answer is not
 * the object or range asked for (see validator). resp must be released
 * with http_response_free.
 */
int http_perform(struct http *h, const struct http_request *req,
	struct http_response *resp, struct tfs_error *err)
	__attribute__((warn_unused_result));

void http_response_free(struct http_response *resp);

/* A request with everything off: no Range, no auth, collected body. */
void http_request_init(struct http_request *req, const char *url);

/* The scheme://host[:port] of url into out (for messages: never a path
 * or query, which may hold a signature). */
void http_origin(const char *url, char *out, size_t cap);

#endif
