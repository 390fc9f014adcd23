/* SPDX-License-Identifier: MIT */
/*
 * test_sync.c - unit tests of sync.h that need no server: a catalog with
 * pending items and a media layer whose every request fails on the
 * network (offline media; an API endpoint on a port that refuses). The
 * probes run on several threads: each is recorded once, the products
 * whose media fail SYNC_NETWORK_STREAK times in a row stop, progress is
 * reported on the calling thread and reaches the total, a cancel stops
 * the handing out, and the report and the catalog's failures agree for
 * one thread and for many. Catalogs live in a private directory under
 * TFS_WORK (or TMPDIR, or /tmp) that is removed at the end.
 */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif

#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "twiliofs/catalog.h"
#include "twiliofs/media.h"
#include "twiliofs/sync.h"

#include "unit.h"

#define AC "AC0123456789abcdef0123456789abcdef"

static char scratch[4096];	/* our private directory */
static char endpoint[64];	/* https://127.0.0.1:<a port that refuses> */

/* A page of n video recordings (RT…<first + i>), newest first. */
static char *
video_page(int first, int n)
{
	size_t cap = (size_t)n * 200 + 64, len;
	char *s = unit_xmalloc(cap);
	int i;

	len = (size_t)snprintf(s, cap, "{\"recordings\":[");
	for (i = 0; i < n; i++)
		len += (size_t)snprintf(s + len, cap - len, "%s{\"sid\":"
		    "\"RT%032x\",\"status\":\"completed\",\"date_created\":"
		    "\"2024-05-01T10:%02d:%02dZ\",\"type\":\"audio\","
		    "\"links\":{\"media\":\"https://v/%d\"}}", i ? "," : "",
		    first + i, (n - i) / 60 % 60, (n - i) % 60, first + i);
	(void)snprintf(s + len, cap - len, "]}");
	return s;
}

/* A page of n voice recordings (RE…), encryption_details included. */
static char *
voice_page(int n)
{
	size_t cap = (size_t)n * 400 + 64, len;
	char *s = unit_xmalloc(cap);
	int i;

	len = (size_t)snprintf(s, cap, "{\"recordings\":[");
	for (i = 0; i < n; i++)
		len += (size_t)snprintf(s + len, cap - len, "%s{\"sid\":"
		    "\"RE%032x\",\"status\":\"completed\",\"date_created\":"
		    "\"Wed, 01 May 2024 10:00:%02d +0000\",\"uri\":"
		    "\"/2010-04-01/Accounts/" AC "/Recordings/RE%032x.json\","
		    "\"encryption_details\":{\"type\":\"rsa-aes\","
		    "\"encrypted_cek\":\"AAAA\",\"iv\":\"AAAAAAAAAAAAAAAA\","
		    "\"public_key_sid\":\"CR%032x\"}}", i ? "," : "", i + 1,
		    i % 60, i + 1, 1);
	(void)snprintf(s + len, cap - len, "]}");
	return s;
}

/* A catalog in scratch/name with nv video and nr voice items pending. */
static struct catalog *
pending_cat(const char *name, int nv, int nr)
{
	struct catalog *cat = NULL;
	struct catalog_page pg;
	struct tfs_error err;
	char dir[4096], *json;
	int rc;

	tfs_error_clear(&err);
	rc = catalog_open(&cat, unit_path(dir, sizeof(dir), scratch, name),
	    &err);
	if (!CHECK_RC(rc, TFS_OK, "open %s: %s", dir, err.detail))
		return NULL;
	json = video_page(1, nv);
	rc = catalog_ingest_page(cat, ITEM_VIDEO_RECORDING, json, NULL, 1,
	    &pg, &err);
	CHECK(rc == TFS_OK && pg.added == (size_t)nv, "video page: %s",
	    err.detail);
	free(json);
	json = voice_page(nr);
	rc = catalog_ingest_page(cat, ITEM_VOICE_RECORDING, json,
	    "https://127.0.0.1:1/api", 1, &pg, &err);
	CHECK(rc == TFS_OK && pg.added == (size_t)nr, "voice page: %s",
	    err.detail);
	free(json);
	return cat;
}

/* Media that fail every request on the network, at once. */
static struct media *
failing_media(void)
{
	struct media_config mc;
	struct media *m = NULL;
	struct tfs_error err;

	memset(&mc, 0, sizeof(mc));
	mc.api.account_sid = AC;
	mc.api.username = "SK0123456789abcdef0123456789abcdef";
	mc.api.password = "secret";
	mc.api.endpoint = endpoint;
	mc.http.max_retries = 1;
	mc.http.backoff_ms = 1;
	mc.http.connect_timeout_ms = 2000;
	mc.offline = 1;		/* probes: no connection at all */
	tfs_error_clear(&err);
	CHECK_RC(media_new(&m, &mc, &err), TFS_OK, "media_new: %s",
	    err.detail);
	return m;
}

struct watch {
	pthread_t caller;
	int foreign;		/* progress heard on another thread */
	int calls;
	size_t done, total;
	int backwards;		/* done went down while probing */
	size_t cancel_at;	/* cancel once done reaches it (0: never) */
	size_t cancelled_at;	/* done when it did */
	atomic_int *cancel;
};

static void
on_progress(const struct sync_progress *p, void *arg)
{
	struct watch *w = arg;

	if (!pthread_equal(pthread_self(), w->caller))
		w->foreign = 1;
	w->calls++;
	if (!p->probing)
		return;
	if (p->done < w->done)
		w->backwards = 1;
	w->done = p->done;
	w->total = p->total;
	if (w->cancel_at > 0 && p->done >= w->cancel_at &&
	    !atomic_exchange(w->cancel, 1))
		w->cancelled_at = p->done;
}

static int
count_failure(const struct catalog_failure *f, void *arg)
{
	size_t *n = arg;

	(void)f;
	(*n)++;
	return 0;
}

/* Run one sync of cat through m with threads probes at once. */
static void
run(struct catalog *cat, struct media *m, int threads, struct watch *w,
    atomic_int *cancel, struct sync_report *rep)
{
	struct sync_options o;
	struct tfs_error err;

	memset(&o, 0, sizeof(o));
	o.probe_threads = threads;
	o.retry_all = 1;
	o.progress = on_progress;
	o.arg = w;
	o.cancel = cancel;
	w->caller = pthread_self();
	tfs_error_clear(&err);
	CHECK_RC(sync_run(cat, m, &o, rep, &err), TFS_OK, "sync_run: %s",
	    err.detail);
}

/*
 * Every product fails on the network: listings and probes. Video stops
 * after SYNC_NETWORK_STREAK failures in a row (and the probes already
 * under way); voice, with fewer items, has each probed once.
 */
static void
test_streak(const char *name, int threads)
{
	struct catalog *cat = pending_cat(name, 40, 3);
	struct media *m = failing_media();
	struct sync_report rep;
	struct tfs_error err;
	struct watch w;
	size_t failures = 0, vfail, extra;

	if (cat == NULL || m == NULL)
		goto out;
	memset(&w, 0, sizeof(w));
	run(cat, m, threads, &w, NULL, &rep);
	CHECK(rep.product[PRODUCT_VIDEO].code == TFS_ERR_NETWORK &&
	    rep.product[PRODUCT_VOICE].code == TFS_ERR_NETWORK, "listing "
	    "failures: video %d voice %d", rep.product[PRODUCT_VIDEO].code,
	    rep.product[PRODUCT_VOICE].code);
	CHECK(sync_outcome(&rep) == TFS_ERR_NETWORK, "outcome %d",
	    sync_outcome(&rep));
	CHECK(rep.product[PRODUCT_VIDEO].probe_down, "%d threads: video "
	    "media not taken as down", threads);
	CHECK(!rep.product[PRODUCT_VOICE].probe_down, "%d threads: voice "
	    "down after 3 failures", threads);
	vfail = rep.kind[ITEM_VIDEO_RECORDING].probe_failed;
	extra = threads > 1 ? (size_t)threads - 1 : 0;
	CHECK(vfail >= SYNC_NETWORK_STREAK && vfail <= SYNC_NETWORK_STREAK +
	    extra, "%d threads: %zu video probes failed", threads, vfail);
	CHECK(rep.kind[ITEM_VOICE_RECORDING].probe_failed == 3 &&
	    rep.kind[ITEM_VOICE_RECORDING].probed == 0, "%d threads: voice "
	    "%zu failed", threads, rep.kind[ITEM_VOICE_RECORDING].probe_failed);
	/* Recorded once each, in the catalog as in the report. */
	tfs_error_clear(&err);
	CHECK_RC(catalog_foreach_failure(cat, count_failure, &failures, &err),
	    TFS_OK, "failures: %s", err.detail);
	CHECK(failures == vfail + 3, "%d threads: %zu failures recorded, "
	    "%zu reported", threads, failures, vfail + 3);
	/* Progress: on our thread, every pending item counted. */
	CHECK(!w.foreign, "progress called on a worker thread");
	CHECK(!w.backwards && w.total == 43 && w.done == 43, "%d threads: "
	    "progress %zu of %zu", threads, w.done, w.total);
out:
	media_free(m);
	catalog_close(cat);
}

/* A cancel stops the handing out; what was under way is recorded. */
static void
test_cancel(const char *name, int threads)
{
	struct catalog *cat = pending_cat(name, 40, 0);
	struct media *m = failing_media();
	struct sync_report rep;
	struct tfs_error err;
	atomic_int cancel;
	struct watch w;
	size_t failures = 0, vfail;

	if (cat == NULL || m == NULL)
		goto out;
	/* Cancelled before it starts: nothing listed, nothing probed. */
	atomic_init(&cancel, 1);
	memset(&w, 0, sizeof(w));
	run(cat, m, threads, &w, &cancel, &rep);
	CHECK(rep.kind[ITEM_VIDEO_RECORDING].pages == 0 &&
	    rep.kind[ITEM_VIDEO_RECORDING].probe_failed == 0, "cancelled: "
	    "%zu probes failed", rep.kind[ITEM_VIDEO_RECORDING].probe_failed);
	/*
	 * Cancelled once progress says an item is done (progress comes at
	 * most once a second, with nothing uncommitted): at most the
	 * threads' probes under way more.
	 */
	atomic_store(&cancel, 0);
	memset(&w, 0, sizeof(w));
	w.cancel_at = 1;
	w.cancel = &cancel;
	run(cat, m, threads, &w, &cancel, &rep);
	vfail = rep.kind[ITEM_VIDEO_RECORDING].probe_failed;
	CHECK(w.cancelled_at >= 1 && vfail >= w.cancelled_at && vfail <=
	    w.cancelled_at + (size_t)threads && vfail < 40, "%d threads: "
	    "%zu probes after a cancel at %zu", threads, vfail,
	    w.cancelled_at);
	tfs_error_clear(&err);
	CHECK_RC(catalog_foreach_failure(cat, count_failure, &failures, &err),
	    TFS_OK, "failures: %s", err.detail);
	CHECK(failures == vfail, "%zu failures recorded, %zu reported",
	    failures, vfail);
out:
	media_free(m);
	catalog_close(cat);
}

int
main(void)
{
	struct sockaddr_in sa;
	socklen_t len = sizeof(sa);
	const char *base;
	int fd;

	unit_begin("test_sync");
	base = getenv("TFS_WORK");
	if (base == NULL || *base == '\0')
		base = getenv("TMPDIR");
	if (base == NULL || *base == '\0')
		base = "/tmp";
	unit_path(scratch, sizeof(scratch), base, "test_sync.XXXXXX");
	if (mkdtemp(scratch) == NULL) {
		fprintf(stderr, "test_sync: cannot make %s\n", scratch);
		return 99;
	}
	/* A port of ours that listens not: connections to it are refused. */
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
	    getsockname(fd, (struct sockaddr *)&sa, &len) != 0) {
		fprintf(stderr, "test_sync: no loopback port\n");
		return 99;
	}
	(void)snprintf(endpoint, sizeof(endpoint), "https://127.0.0.1:%d",
	    (int)ntohs(sa.sin_port));

	test_streak("one", 1);
	test_streak("eight", 8);
	test_streak("default", 0);
	test_cancel("cancel1", 1);
	test_cancel("cancel4", 4);

	(void)close(fd);
	unit_remove_tree(scratch);
	return unit_done();
}
