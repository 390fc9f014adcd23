/* SPDX-License-Identifier: MIT */
/* http.c - libcurl requests with retries, ranges and strict TLS. */
#define _GNU_SOURCE	/* strcasestr, nanosleep */
#include <ctype.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <curl/curl.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "twiliofs/http.h"
#include "twiliofs/log.h"

#define HEADERS_MAX (64 * 1024)
#define ERROR_BODY_MAX (64 * 1024)
#define BACKOFF_CAP_MS 10000L
#define STREAM_BUFFER (256L * 1024)
#define BACKOFF_SLICE_MS 100L
#ifndef TFS_VERSION
#define TFS_VERSION "unknown"
#endif
#define USER_AGENT "twiliofs/" TFS_VERSION

struct http {
	CURL *curl;
	X509_STORE *trust;		/* a reference to the shared store */
	struct http_config cfg;
	char errbuf[CURL_ERROR_SIZE];
};

/* State of one request across its attempts. */
struct xfer {
	const struct http_request *req;
	struct http_response *resp;
	size_t cap;			/* body cap */
	long long delivered;		/* given to on_data, all attempts */
	long long resume_from;		/* offset this attempt asks for */
	long long skip;			/* to drop: set on the first
					 * chunk if a 200 ignored Range */
	int body_started;		/* first chunk of this attempt seen */
	int aborted;			/* on_data said stop */
	int too_big;			/* collected body over cap */
	int cancelled;			/* the caller gave up: its code */
	const char *validator;		/* req's, or the first answer's */
	int bad;			/* an answer that is not what was
					 * asked for: its TFS_ERR_ code */
	char bad_detail[160];
	char *hdr;			/* this attempt's header block */
	size_t hdr_len;
	long retry_after_s;		/* from Retry-After, or -1 */
	CURL *curl;
};

/*
 * What every handle of the process shares: TLS sessions and DNS answers
 * (a CURLSH with its locks), and the trust store, parsed once: loading
 * the system's CA bundle took a sixth of the CPU of a cold read when
 * every new connection did it (libcurl's own CA cache lives in one
 * handle, and --cafile went through a callback that bypassed it).
 */
static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static int curl_init_rc;
static CURLSH *share;
static pthread_mutex_t share_mu[CURL_LOCK_DATA_LAST];
static pthread_mutex_t trust_mu = PTHREAD_MUTEX_INITIALIZER;
static X509_STORE *trust;		/* for trust_cafile */
static char *trust_cafile;		/* "" for none */

static void
share_lock(CURL *c, curl_lock_data d, curl_lock_access a, void *arg)
{
	(void)c;
	(void)a;
	(void)arg;
	pthread_mutex_lock(&share_mu[d]);
}

static void
share_unlock(CURL *c, curl_lock_data d, void *arg)
{
	(void)c;
	(void)arg;
	pthread_mutex_unlock(&share_mu[d]);
}

static void
curl_global(void)
{
	int i;

	curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ?
	    0 : -1;
	for (i = 0; i < CURL_LOCK_DATA_LAST; i++)
		(void)pthread_mutex_init(&share_mu[i], NULL);
	share = curl_share_init();
	if (share == NULL)
		return;		/* works, only without sharing */
	if (curl_share_setopt(share, CURLSHOPT_LOCKFUNC, share_lock) !=
	    CURLSHE_OK || curl_share_setopt(share, CURLSHOPT_UNLOCKFUNC,
	    share_unlock) != CURLSHE_OK || curl_share_setopt(share,
	    CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION) != CURLSHE_OK ||
	    curl_share_setopt(share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS) !=
	    CURLSHE_OK) {
		(void)curl_share_cleanup(share);
		share = NULL;
	}
}

/*
 * The CAs libcurl would trust (its built-in bundle and directory, else
 * OpenSSL's defaults), plus cafile: added, never replacing them.
 */
static X509_STORE *
trust_build(CURL *probe, const char *cafile, struct tfs_error *err)
{
	X509_STORE *st = X509_STORE_new();
	char *bundle = NULL, *dir = NULL;
	int ok;

	if (st == NULL) {
		(void)tfs_error_set(err, TFS_ERR_NOMEM, "out of memory");
		return NULL;
	}
	(void)curl_easy_getinfo(probe, CURLINFO_CAINFO, &bundle);
	(void)curl_easy_getinfo(probe, CURLINFO_CAPATH, &dir);
	if (bundle == NULL && dir == NULL)
		ok = X509_STORE_set_default_paths(st) == 1;
	else
		ok = (bundle == NULL || X509_STORE_load_file(st, bundle) == 1 ||
		    dir != NULL) && (dir == NULL ||
		    X509_STORE_load_path(st, dir) == 1 || bundle != NULL);
	if (!ok)
		log_msg(TFS_LOG_WARN, "the system's CA certificates (%s) "
		    "cannot be read: only --cafile is trusted", bundle != NULL ?
		    bundle : dir != NULL ? dir : "OpenSSL's default paths");
	if (cafile != NULL && X509_STORE_load_file(st, cafile) != 1) {
		X509_STORE_free(st);
		(void)tfs_error_set(err, TFS_ERR_CONFIG, "%s: cannot read it "
		    "as PEM CA certificates (--cafile)", cafile);
		return NULL;
	}
	return st;
}

/* The process's trust store for cafile (one reference for the caller). */
static X509_STORE *
trust_get(CURL *probe, const char *cafile, struct tfs_error *err)
{
	const char *key = cafile != NULL ? cafile : "";
	X509_STORE *st;

	pthread_mutex_lock(&trust_mu);
	if (trust != NULL && strcmp(trust_cafile, key) == 0) {
		st = trust;
		(void)X509_STORE_up_ref(st);
		pthread_mutex_unlock(&trust_mu);
		return st;
	}
	st = trust_build(probe, cafile, err);
	/* The first is kept for the process's life; another cafile (not
	 * seen in one process) gets a store of its own. */
	if (st != NULL && trust == NULL &&
	    (trust_cafile = strdup(key)) != NULL) {
		trust = st;
		(void)X509_STORE_up_ref(st);
	}
	pthread_mutex_unlock(&trust_mu);
	return st;
}

/* Every new TLS context verifies against the shared store. */
static CURLcode
use_trust(CURL *curl, void *sslctx, void *arg)
{
	(void)curl;
	SSL_CTX_set1_cert_store((SSL_CTX *)sslctx, arg);
	return CURLE_OK;
}

int
http_new(struct http **out, const struct http_config *cfg,
    struct tfs_error *err)
{
	struct http *h;

	*out = NULL;
	pthread_once(&curl_once, curl_global);
	if (curl_init_rc != 0)
		return tfs_error_set(err, TFS_ERR_NETWORK, "libcurl failed to "
		    "initialise");
	h = calloc(1, sizeof(*h));
	if (h == NULL)
		return tfs_error_set(err, TFS_ERR_NOMEM, "out of memory");
	h->cfg = *cfg;
	if (h->cfg.connect_timeout_ms <= 0)
		h->cfg.connect_timeout_ms = 10000;
	if (h->cfg.api_timeout_ms <= 0)
		h->cfg.api_timeout_ms = 60000;
	if (h->cfg.stall_seconds <= 0)
		h->cfg.stall_seconds = 30;
	if (h->cfg.max_retries <= 0)
		h->cfg.max_retries = 5;
	if (h->cfg.backoff_ms <= 0)
		h->cfg.backoff_ms = 250;
	if (h->cfg.max_retry_after_s <= 0)
		h->cfg.max_retry_after_s = 60;
	h->curl = curl_easy_init();
	if (h->curl == NULL) {
		free(h);
		return tfs_error_set(err, TFS_ERR_NOMEM, "out of memory");
	}
	h->trust = trust_get(h->curl, cfg->cafile, err);
	if (h->trust == NULL) {
		http_free(h);
		return err != NULL && err->code != 0 ? err->code :
		    TFS_ERR_NOMEM;
	}
	*out = h;
	return TFS_OK;
}

void
http_free(struct http *h)
{
	if (h == NULL)
		return;
	curl_easy_cleanup(h->curl);
	X509_STORE_free(h->trust);
	free(h);
}

void
http_request_init(struct http_request *req, const char *url)
{
	memset(req, 0, sizeof(*req));
	req->url = url;
	req->range_start = -1;
	req->range_end = -1;
	req->expect_total = -1;
}

void
http_response_free(struct http_response *resp)
{
	if (resp == NULL)
		return;
	free(resp->body);
	free(resp->headers);
	resp->body = NULL;
	resp->headers = NULL;
}

void
http_origin(const char *url, char *out, size_t cap)
{
	const char *p = strstr(url, "://");
	size_t n;

	p = p != NULL ? p + 3 : url;
	n = strcspn(p, "/?#");
	n += (size_t)(p - url);
	if (n >= cap)
		n = cap - 1;
	memcpy(out, url, n);
	out[n] = '\0';
}

static int
append(char **buf, size_t *len, const char *p, size_t n, size_t cap)
{
	char *grown;

	if (*len + n > cap)
		return -1;
	grown = realloc(*buf, *len + n + 1);
	if (grown == NULL)
		return -1;
	memcpy(grown + *len, p, n);
	*len += n;
	grown[*len] = '\0';
	*buf = grown;
	return 0;
}

/* A decimal number of at most 18 digits at *p (no sign, no overflow). */
static long long
number(const char **p)
{
	long long v = 0;
	int n = 0;

	while (isdigit((unsigned char)**p) && n < 18) {
		v = v * 10 + (**p - '0');
		(*p)++;
		n++;
	}
	return n == 0 || isdigit((unsigned char)**p) ? -1 : v;
}

/*
 * "bytes a-b/total" (or "bytes * /total"): the range and total, each -1
 * when absent or not a plain number. The caller checks them against what
 * it asked for.
 */
static void
parse_content_range(const char *v, struct http_response *resp)
{
	const char *p = v + strspn(v, " ");
	long long a, b;

	if (strncasecmp(p, "bytes ", 6) != 0)
		return;
	p += 6;
	if (*p == '*') {
		p++;
	} else {
		a = number(&p);
		if (*p++ != '-')
			return;
		b = number(&p);
		if (a < 0 || b < a)
			return;
		resp->range_start = a;
		resp->range_end = b;
	}
	if (*p++ == '/' && isdigit((unsigned char)*p))
		resp->total_size = number(&p);
}

static void
copy_trimmed(char *dst, size_t cap, const char *v, size_t n)
{
	while (n > 0 && (v[n - 1] == '\r' || v[n - 1] == '\n' ||
	    v[n - 1] == ' '))
		n--;
	if (n >= cap)
		n = cap - 1;
	memcpy(dst, v, n);
	dst[n] = '\0';
}

static size_t
on_header(char *p, size_t size, size_t nmemb, void *arg)
{
	struct xfer *x = arg;
	size_t n = size * nmemb;
	char val[128];

	if (n >= 5 && strncasecmp(p, "HTTP/", 5) == 0) {
		/* A new response (after 100 Continue, say): start over. */
		x->hdr_len = 0;
		x->retry_after_s = -1;
		x->resp->etag[0] = '\0';
		x->resp->last_modified[0] = '\0';
		x->resp->range_start = -1;
		x->resp->range_end = -1;
		x->resp->total_size = -1;
	}
	if (append(&x->hdr, &x->hdr_len, p, n, HEADERS_MAX) != 0)
		return 0;
	if (n > 12 && strncasecmp(p, "Retry-After:", 12) == 0) {
		copy_trimmed(val, sizeof(val), p + 12, n - 12);
		if (isdigit((unsigned char)val[strspn(val, " ")]))
			x->retry_after_s = strtol(val, NULL, 10);
	} else if (n > 5 && strncasecmp(p, "ETag:", 5) == 0) {
		copy_trimmed(x->resp->etag, sizeof(x->resp->etag),
		    p + 5 + strspn(p + 5, " "), n - 5 - strspn(p + 5, " "));
	} else if (n > 14 && strncasecmp(p, "Last-Modified:", 14) == 0) {
		copy_trimmed(x->resp->last_modified,
		    sizeof(x->resp->last_modified), p + 14 + strspn(p + 14,
		    " "), n - 14 - strspn(p + 14, " "));
	} else if (n > 14 && strncasecmp(p, "Content-Range:", 14) == 0) {
		copy_trimmed(val, sizeof(val), p + 14, n - 14);
		parse_content_range(val, x->resp);
	}
	return n;
}

/*
 * The bytes delivered are of this version of the object: an attempt that
 * resumes them must find it again (If-Range and the check), also when
 * the caller named no validator.
 */
static void
pin_validator(struct xfer *x)
{
	struct http_response *resp = x->resp;

	if (x->validator == NULL || x->validator[0] == '\0')
		(void)snprintf(resp->validator, sizeof(resp->validator), "%s",
		    resp->etag[0] ? resp->etag : resp->last_modified);
	else if (x->validator != resp->validator)
		(void)snprintf(resp->validator, sizeof(resp->validator), "%s",
		    x->validator);
	x->validator = resp->validator;
}

/* Whether the validator v is an entity tag (else an HTTP date). */
static int
is_etag(const char *v)
{
	return v[0] == '"' || strncmp(v, "W/", 2) == 0;
}

/* Record why an answer is not what was asked for (x->bad, its detail). */
static void __attribute__((format(printf, 3, 4)))
refuse(struct xfer *x, int code, const char *fmt, ...)
{
	va_list ap;

	x->bad = code;
	va_start(ap, fmt);
	(void)vsnprintf(x->bad_detail, sizeof(x->bad_detail), fmt, ap);
	va_end(ap);
}

/* The object's validator must be the one asked for. */
static void
check_validator(struct xfer *x)
{
	const char *v = x->validator, *got;

	if (v == NULL || v[0] == '\0')
		return;
	got = is_etag(v) ? x->resp->etag : x->resp->last_modified;
	if (strcmp(got, v) == 0)
		return;
	x->bad = TFS_ERR_CHANGED;
	(void)snprintf(x->bad_detail, sizeof(x->bad_detail), "its %s is now "
	    "%.60s, not %.60s", is_etag(v) ? "ETag" : "Last-Modified",
	    got[0] ? got : "absent", v);
}

/*
 * Before the first byte of an answer is delivered: is it the object and
 * the range that were asked for? Only a 200 (all of it: the bytes before
 * the range are skipped) or a 206 whose Content-Range is exactly the
 * range asked, of the size expected. Sets x->bad when not.
 */
static void
check_answer(struct xfer *x, long status)
{
	const struct http_request *req = x->req;
	const struct http_response *resp = x->resp;
	long long total = resp->total_size, first = x->resume_from, last;
	curl_off_t cl = -1;

	if (status != 200 && status != 206) {
		refuse(x, TFS_ERR_PROTOCOL, "it answered HTTP %ld, neither "
		    "200 nor 206", status);
		return;
	}
	check_validator(x);
	if (x->bad != 0)
		return;
	if (status == 200 && total < 0 && curl_easy_getinfo(x->curl,
	    CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &cl) == CURLE_OK)
		total = cl;
	if (req->expect_total >= 0 && total >= 0 &&
	    total != req->expect_total) {
		refuse(x, TFS_ERR_CHANGED, "it is %lld bytes now, not %lld",
		    total, req->expect_total);
		return;
	}
	if (req->expect_total >= 0 && total < 0 && status == 206) {
		refuse(x, TFS_ERR_PROTOCOL, "its Content-Range gives no total "
		    "size (%lld bytes expected)", req->expect_total);
		return;
	}
	if (status != 206 || total < 0)
		return;
	last = req->range_suffix > 0 || req->range_end < 0 ||
	    req->range_end > total - 1 ? total - 1 : req->range_end;
	if (req->range_suffix > 0)
		first = total > req->range_suffix ? total - req->range_suffix :
		    0;
	if (resp->range_start != first || resp->range_end != last)
		refuse(x, TFS_ERR_PROTOCOL, "it answered bytes %lld-%lld "
		    "where %lld-%lld were asked for", resp->range_start,
		    resp->range_end, first, last);
}

static size_t
on_body(char *p, size_t size, size_t nmemb, void *arg)
{
	struct xfer *x = arg;
	size_t n = size * nmemb, skip, cap;
	long status = 0;

	(void)curl_easy_getinfo(x->curl, CURLINFO_RESPONSE_CODE, &status);
	if (x->req->on_data == NULL || status < 200 || status > 299) {
		/* Collect: the answer itself, or an error's body. */
		cap = status >= 200 && status <= 299 ? x->cap : ERROR_BODY_MAX;
		if (append(&x->resp->body, &x->resp->body_len, p, n, cap)
		    != 0) {
			x->too_big = 1;
			return 0;
		}
		return n;
	}
	if (!x->body_started) {
		/* A 200 to a ranged request sends the whole object. */
		x->body_started = 1;
		x->skip = status == 200 ? x->resume_from : 0;
		check_answer(x, status);
		if (x->bad != 0)
			return 0;
		pin_validator(x);
	}
	skip = x->skip > 0 ? (size_t)(x->skip < (long long)n ? x->skip :
	    (long long)n) : 0;
	x->skip -= (long long)skip;
	if (n > skip && x->req->on_data(p + skip, n - skip, x->req->arg)
	    != 0) {
		x->aborted = 1;
		return 0;
	}
	x->delivered += (long long)(n - skip);
	return n;
}

/* Whether a transport failure may go away if we try again. */
static int
transient(CURLcode rc)
{
	switch (rc) {
	case CURLE_COULDNT_CONNECT:
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_OPERATION_TIMEDOUT:
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_PARTIAL_FILE:
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_HTTP2:
	case CURLE_HTTP2_STREAM:
		return 1;
	default:
		return 0;
	}
}

static void
sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) != 0)
		;
}

static int
add_header(struct curl_slist **list, const char *field)
{
	struct curl_slist *l = curl_slist_append(*list, field);

	if (l == NULL)
		return 1;
	*list = l;
	return 0;
}

/* libcurl polls this during a transfer: give up when the caller does. */
static int
on_progress(void *arg, curl_off_t dt, curl_off_t dn, curl_off_t ut,
    curl_off_t un)
{
	struct xfer *x = arg;

	(void)dt;
	(void)dn;
	(void)ut;
	(void)un;
	x->cancelled = x->req->cancelled(x->req->cancel_arg);
	return x->cancelled != 0;
}

/* Set every option of one attempt on a freshly reset handle. */
static int
setup(struct http *h, struct xfer *x, struct curl_slist **hdrs)
{
	const struct http_request *req = x->req;
	char range[64] = "", field[192];
	long long start = req->range_start;
	CURL *c = h->curl;
	int bad = 0;

	/* Keeps live connections; drops every option of the last request,
	 * credentials included. */
	curl_easy_reset(c);
	if (req->range_suffix > 0) {
		(void)snprintf(range, sizeof(range), "-%lld",
		    req->range_suffix);
	} else if (start >= 0 || x->delivered > 0) {
		/* Resume after the bytes already delivered. */
		start = (start < 0 ? 0 : start) + x->delivered;
		if (req->range_end >= 0)
			(void)snprintf(range, sizeof(range), "%lld-%lld",
			    start, req->range_end);
		else
			(void)snprintf(range, sizeof(range), "%lld-", start);
	}
	bad |= curl_easy_setopt(c, CURLOPT_URL, req->url) != CURLE_OK;
	bad |= curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "https") != CURLE_OK;
	bad |= curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L) != CURLE_OK;
	bad |= curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L) != CURLE_OK;
	bad |= curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L) != CURLE_OK;
	bad |= curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L) != CURLE_OK;
	bad |= curl_easy_setopt(c, CURLOPT_USERAGENT, USER_AGENT) != CURLE_OK;
	bad |= curl_easy_setopt(c, CURLOPT_ERRORBUFFER, h->errbuf) != CURLE_OK;
	bad |= curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS,
	    h->cfg.connect_timeout_ms) != CURLE_OK;
	/* Bodies we collect are small: cap the whole request. Streams may
	 * be long: abort only when they stall. */
	if (req->on_data == NULL)
		bad |= curl_easy_setopt(c, CURLOPT_TIMEOUT_MS,
		    h->cfg.api_timeout_ms) != CURLE_OK;
	/* Streams: bigger reads, fewer calls per MiB (curl(1) uses 100K). */
	else
		bad |= curl_easy_setopt(c, CURLOPT_BUFFERSIZE, STREAM_BUFFER) !=
		    CURLE_OK;
	bad |= curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1024L) != CURLE_OK;
	bad |= curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME,
	    h->cfg.stall_seconds) != CURLE_OK;
	bad |= curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header) !=
	    CURLE_OK;
	bad |= curl_easy_setopt(c, CURLOPT_HEADERDATA, x) != CURLE_OK;
	bad |= curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body) != CURLE_OK;
	bad |= curl_easy_setopt(c, CURLOPT_WRITEDATA, x) != CURLE_OK;
	/* Trust: the shared store only; curl loads no bundle of its own. */
	bad |= curl_easy_setopt(c, CURLOPT_CAINFO, NULL) != CURLE_OK;
	bad |= curl_easy_setopt(c, CURLOPT_CAPATH, NULL) != CURLE_OK;
	bad |= curl_easy_setopt(c, CURLOPT_SSL_CTX_FUNCTION, use_trust) !=
	    CURLE_OK;
	bad |= curl_easy_setopt(c, CURLOPT_SSL_CTX_DATA, h->trust) !=
	    CURLE_OK;
	if (share != NULL)
		bad |= curl_easy_setopt(c, CURLOPT_SHARE, share) != CURLE_OK;
	if (req->cancelled != NULL) {
		bad |= curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION,
		    on_progress) != CURLE_OK;
		bad |= curl_easy_setopt(c, CURLOPT_XFERINFODATA, x) !=
		    CURLE_OK;
		bad |= curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L) != CURLE_OK;
	}
	if (range[0] != '\0')
		bad |= curl_easy_setopt(c, CURLOPT_RANGE, range) != CURLE_OK;
	if (req->method != NULL && strcmp(req->method, "POST") == 0)
		bad |= curl_easy_setopt(c, CURLOPT_COPYPOSTFIELDS,
		    req->form != NULL ? req->form : "") != CURLE_OK;
	else if (req->method != NULL)
		bad |= curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST,
		    req->method) != CURLE_OK;
	/* libcurl resends a request whose reused connection died before
	 * an answer: a change goes out on a connection of its own. */
	if (req->method != NULL)
		bad |= curl_easy_setopt(c, CURLOPT_FRESH_CONNECT, 1L) !=
		    CURLE_OK || curl_easy_setopt(c, CURLOPT_FORBID_REUSE,
		    1L) != CURLE_OK;
	if (req->username != NULL) {
		bad |= curl_easy_setopt(c, CURLOPT_HTTPAUTH, CURLAUTH_BASIC) !=
		    CURLE_OK;
		bad |= curl_easy_setopt(c, CURLOPT_USERNAME, req->username) !=
		    CURLE_OK;
		bad |= curl_easy_setopt(c, CURLOPT_PASSWORD, req->password) !=
		    CURLE_OK;
		bad |= add_header(hdrs, "Accept: application/json");
	}
	/* If-Range takes a strong ETag or a date, never a weak ETag. */
	if (x->validator != NULL && x->validator[0] != '\0' &&
	    range[0] != '\0' && strncmp(x->validator, "W/", 2) != 0) {
		(void)snprintf(field, sizeof(field), "If-Range: %s",
		    x->validator);
		bad |= add_header(hdrs, field);
	}
	if (*hdrs != NULL)
		bad |= curl_easy_setopt(c, CURLOPT_HTTPHEADER, *hdrs) !=
		    CURLE_OK;
	x->resume_from = range[0] != '\0' && req->range_suffix <= 0 ? start :
	    0;
	x->body_started = 0;
	x->skip = 0;
	return bad ? -1 : 0;
}

/* Keep the final attempt's headers and Location in the response. */
static void
finish(struct http *h, struct xfer *x)
{
	char *loc = NULL;

	(void)curl_easy_getinfo(h->curl, CURLINFO_REDIRECT_URL, &loc);
	(void)snprintf(x->resp->location, sizeof(x->resp->location), "%s",
	    loc != NULL ? loc : "");
	x->resp->headers = x->hdr;
	x->resp->headers_len = x->hdr_len;
	x->hdr = NULL;
	if (x->resp->total_size < 0 && x->resp->status == 200) {
		curl_off_t cl = -1;

		(void)curl_easy_getinfo(h->curl,
		    CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &cl);
		x->resp->total_size = cl;
	}
}

/* Wait before attempt number `attempt` (1-based retry count). */
static void
backoff(struct http *h, const struct xfer *x, int attempt)
{
	long ms = h->cfg.backoff_ms;
	int i;

	for (i = 1; i < attempt && ms < BACKOFF_CAP_MS; i++)
		ms *= 2;
	if (ms > BACKOFF_CAP_MS)
		ms = BACKOFF_CAP_MS;
	if (x->retry_after_s >= 0)
		ms = (x->retry_after_s > h->cfg.max_retry_after_s ?
		    h->cfg.max_retry_after_s : x->retry_after_s) * 1000L;
	/* In slices: a caller that gives up does not wait it out. */
	for (; ms > 0; ms -= BACKOFF_SLICE_MS) {
		if (x->req->cancelled != NULL &&
		    x->req->cancelled(x->req->cancel_arg) != 0)
			return;
		sleep_ms(ms < BACKOFF_SLICE_MS ? ms : BACKOFF_SLICE_MS);
	}
}

int
http_perform(struct http *h, const struct http_request *req,
    struct http_response *resp, struct tfs_error *err)
{
	struct xfer x = { 0 };
	struct curl_slist *hdrs = NULL;
	char origin[256];
	CURLcode rc = CURLE_OK;
	int attempt, rv;

	memset(resp, 0, sizeof(*resp));
	resp->range_start = -1;
	resp->range_end = -1;
	resp->total_size = -1;
	x.req = req;
	x.resp = resp;
	x.validator = req->validator;
	x.cap = req->body_cap > 0 ? req->body_cap : 4 * 1024 * 1024;
	x.curl = h->curl;
	http_origin(req->url, origin, sizeof(origin));
	for (attempt = 0;; attempt++) {
		if (req->cancelled != NULL &&
		    (x.cancelled = req->cancelled(req->cancel_arg)) != 0) {
			rv = tfs_error_set(err, x.cancelled, "request to %s "
			    "given up: %s", origin, tfs_strerror(x.cancelled));
			goto out;
		}
		free(resp->body);
		resp->body = NULL;
		resp->body_len = 0;
		resp->status = 0;
		x.hdr_len = 0;
		x.retry_after_s = -1;
		x.too_big = 0;
		curl_slist_free_all(hdrs);
		hdrs = NULL;
		h->errbuf[0] = '\0';
		if (setup(h, &x, &hdrs) != 0) {
			rv = tfs_error_set(err, TFS_ERR_NOMEM, "cannot set up "
			    "a request to %s", origin);
			goto out;
		}
		rc = curl_easy_perform(h->curl);
		(void)curl_easy_getinfo(h->curl, CURLINFO_RESPONSE_CODE,
		    &resp->status);
		if (x.bad != 0) {
			rv = tfs_error_set(err, x.bad, "%s: %s", origin,
			    x.bad_detail);
			goto out;
		}
		if (x.cancelled) {
			rv = tfs_error_set(err, x.cancelled, "request to %s "
			    "given up: %s", origin, tfs_strerror(x.cancelled));
			goto out;
		}
		if (x.aborted) {
			rv = tfs_error_set(err, TFS_ERR_IO, "download from %s "
			    "stopped by its consumer", origin);
			goto out;
		}
		if (x.too_big) {
			rv = tfs_error_set(err, TFS_ERR_NETWORK, "%s answered "
			    "more than %zu bytes where a small answer was "
			    "expected", origin, x.cap);
			goto out;
		}
		if (rc == CURLE_OK && resp->status != 429 &&
		    resp->status < 500)
			break;
		if (rc != CURLE_OK && (!transient(rc) || (req->method !=
		    NULL && rc != CURLE_COULDNT_CONNECT &&
		    rc != CURLE_COULDNT_RESOLVE_HOST))) {
			rv = tfs_error_set(err, TFS_ERR_NETWORK, "%s: %s%s",
			    origin, h->errbuf[0] ? h->errbuf :
			    curl_easy_strerror(rc), rc ==
			    CURLE_PEER_FAILED_VERIFICATION ? " (TLS "
			    "certificate not trusted; add its CA with "
			    "--cafile)" : "");
			goto out;
		}
		/* A suffix range cannot be resumed once bytes went out; a
		 * change the server may have made is not made twice. */
		if (attempt >= h->cfg.max_retries || (x.delivered > 0 &&
		    req->range_suffix > 0) || (req->method != NULL &&
		    rc == CURLE_OK && resp->status != 429))
			break;
		log_msg(TFS_LOG_INFO, "%s: %s; retrying (%d of %d)", origin,
		    rc != CURLE_OK ? curl_easy_strerror(rc) : resp->status ==
		    429 ? "429 Too Many Requests" : "server error",
		    attempt + 1, h->cfg.max_retries);
		backoff(h, &x, attempt + 1);
	}
	resp->retries = attempt;
	if (rc != CURLE_OK) {
		rv = tfs_error_set(err, TFS_ERR_NETWORK, "%s: %s after %d "
		    "attempts; check the network and try again", origin,
		    h->errbuf[0] ? h->errbuf : curl_easy_strerror(rc),
		    attempt + 1);
		goto out;
	}
	if (resp->status == 429 || resp->status >= 500) {
		rv = tfs_error_set(err, TFS_ERR_NETWORK, "%s answered HTTP %ld "
		    "after %d attempts; try again later", origin,
		    resp->status, attempt + 1);
		goto out;
	}
	finish(h, &x);
	rv = TFS_OK;
out:
	curl_slist_free_all(hdrs);
	free(x.hdr);
	return rv;
}
