/* SPDX-License-Identifier: MIT */
/* sync.c - list the account into the catalog, then probe new media. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "twiliofs/log.h"
#include "twiliofs/sync.h"

const char *
sync_kind_name(enum item_kind kind)
{
	switch (kind) {
	case ITEM_VIDEO_RECORDING:
		return "video recordings";
	case ITEM_COMPOSITION:
		return "compositions";
	case ITEM_VOICE_RECORDING:
		return "voice recordings";
	case ITEM_TRANSCRIPT:
		return "transcripts";
	}
	return "items";
}

static void
report_progress(const struct sync_options *o, struct sync_progress *p)
{
	if (o->progress != NULL)
		o->progress(p, o->arg);
}

/* List every page of kind into the catalog, newest first. */
static int
list_kind(struct catalog *cat, const struct media_ctx *m,
    const struct sync_options *o, enum item_kind kind, long long gen,
    struct sync_kind_report *r, struct tfs_error *err)
{
	struct sync_progress prog = { kind, 0, 0, 0, 0, 0 };
	struct catalog_page page;
	char url[ITEM_URL_MAX];
	char *json = NULL;
	int rc;

	if (twilio_list_url(m->tw, kind, o->page_size, url, sizeof(url)) !=
	    TFS_OK)
		return tfs_error_set(err, TFS_ERR_CONFIG, "list URL too long");
	for (;;) {
		rc = twilio_get_json(m->tw, kind, url, &json, err);
		if (rc == TFS_OK)
			rc = catalog_begin(cat, err);
		if (rc == TFS_OK) {
			rc = catalog_ingest_page(cat, kind, json,
			    twilio_kind_base(m->tw, kind), gen, &page, err);
			if (rc == TFS_OK)
				rc = catalog_commit(cat, err);
			else
				catalog_rollback(cat);
		}
		free(json);
		json = NULL;
		if (rc != TFS_OK)
			return rc;
		r->pages++;
		r->listed += page.items;
		r->added += page.added;
		r->changed += page.changed;
		prog.pages = r->pages;
		prog.items = r->listed;
		report_progress(o, &prog);
		if (page.next[0] == '\0') {
			r->complete = 1;
			return TFS_OK;
		}
		if (o->incremental && page.added == 0 && page.changed == 0)
			return TFS_OK;
		(void)snprintf(url, sizeof(url), "%s", page.next);
	}
}

/* Pending items, gathered first: no HTTP while a query is open. */
struct pending {
	struct item *v;
	size_t n, cap;
};

static int
collect(const struct item *it, void *arg)
{
	struct pending *p = arg;
	struct item *grown;

	if (p->n == p->cap) {
		p->cap = p->cap == 0 ? 64 : p->cap * 2;
		grown = realloc(p->v, p->cap * sizeof(*p->v));
		if (grown == NULL)
			return -1;
		p->v = grown;
	}
	p->v[p->n++] = *it;
	return 0;
}

/* Probe one item (and a transcript's operator results) into the catalog. */
static int
probe_one(struct catalog *cat, const struct media_ctx *m, struct item *it,
    struct sync_report *rep, struct tfs_error *err)
{
	struct tfs_error e = { 0, "" };
	char api[ITEM_URL_MAX];
	struct item part;
	size_t parts = 0, i;
	int rc;

	rc = media_probe(m, it, &parts, &e);
	if (rc == TFS_OK)
		rc = catalog_set_media(cat, it->sid, it->part, it->media_url,
		    &it->env, it->etag, &e);
	for (i = 1; rc == TFS_OK && i <= parts; i++) {
		part = *it;
		part.part = (int)i;
		envelope_init(&part.env);
		part.media_known = 0;
		if (twilio_media_api_url(m->tw, it->kind, it->sid, part.part,
		    api, sizeof(api)) != TFS_OK)
			break;
		rc = media_probe(m, &part, &(size_t){ 0 }, &e);
		if (rc == TFS_OK)
			rc = catalog_set_media(cat, it->sid, part.part, api,
			    &part.env, part.etag, &e);
	}
	if (rc == TFS_OK) {
		rep->kind[it->kind].probed++;
		return TFS_OK;
	}
	rep->kind[it->kind].probe_failed++;
	if (rc == TFS_ERR_AUTH || rc == TFS_ERR_NETWORK ||
	    rc == TFS_ERR_NOMEM) {
		*err = e;
		return rc;
	}
	log_msg(TFS_LOG_WARN, "%s: media not probed: %s", it->sid, e.detail);
	return TFS_OK;
}

static int
probe_pending(struct catalog *cat, const struct media_ctx *m,
    const struct sync_options *o, struct sync_report *rep,
    struct tfs_error *err)
{
	struct sync_progress prog = { 0, 1, 0, 0, 0, 0 };
	struct pending p = { NULL, 0, 0 };
	size_t i;
	int rc;

	rc = catalog_foreach_pending(cat, collect, &p, err);
	if (rc > 0)
		rc = tfs_error_set(err, TFS_ERR_NOMEM, "out of memory");
	prog.total = p.n;
	for (i = 0; rc == TFS_OK && i < p.n; i++) {
		rc = probe_one(cat, m, &p.v[i], rep, err);
		prog.kind = p.v[i].kind;
		prog.done = i + 1;
		report_progress(o, &prog);
	}
	free(p.v);
	return rc;
}

int
sync_run(struct catalog *cat, const struct media_ctx *m,
    const struct sync_options *o, struct sync_report *rep,
    struct tfs_error *err)
{
	char stamp[32];
	struct tm tm;
	long long gen;
	size_t removed;
	time_t now;
	int rc, kind;

	memset(rep, 0, sizeof(*rep));
	rc = catalog_next_generation(cat, &gen, err);
	for (kind = 1; rc == TFS_OK && kind <= ITEM_KINDS; kind++) {
		rc = list_kind(cat, m, o, (enum item_kind)kind, gen,
		    &rep->kind[kind], err);
		if (rc == TFS_OK && rep->kind[kind].complete) {
			rc = catalog_sweep(cat, (enum item_kind)kind, gen,
			    &removed, err);
			rep->kind[kind].removed = removed;
		}
	}
	if (rc == TFS_OK)
		rc = probe_pending(cat, m, o, rep, err);
	if (rc == TFS_OK) {
		now = time(NULL);
		(void)strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%SZ",
		    gmtime_r(&now, &tm));
		rc = catalog_meta_set(cat, "last_sync", stamp, err);
	}
	return rc;
}
