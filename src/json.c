/* SPDX-License-Identifier: MIT */
/* json.c - values out of JSON text through SQLite's JSON functions. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "twiliofs/json.h"

/*
 * Each thread keeps one private in-memory database and its prepared
 * statement: opening a database for every call cost ~10 % of a cold
 * sync's CPU. Only the thread that opened a connection ever uses it, so
 * it needs no mutex (SQLITE_OPEN_NOMUTEX). The key's destructor finalizes
 * and closes it when the thread exits.
 *
 * fork: the mount daemonizes with fork after some work (it checks the
 * API, through here, on the thread that forks). A :memory: database holds
 * no file descriptor, and the child has only the forking thread, so using
 * that thread's copy in the child would even work; but the project keeps
 * SQLite connections from crossing a fork (main.c), as SQLite does not
 * promise that a connection survives one. So the prepare handler closes
 * the forking thread's connection first: parent and child open a new one
 * at their next call. The other threads' connections reach the child only
 * as memory no thread there can name: never used, never closed there.
 */
struct json_conn {
	sqlite3 *db;
	sqlite3_stmt *st;
};

static const char json_sql[] = "SELECT json_valid(?1), json_type(?1, ?2), "
    "json_extract(?1, ?2)";
static pthread_once_t conn_once = PTHREAD_ONCE_INIT;
static pthread_key_t conn_key;
static int conn_kept;	/* the key and the fork handler are in place */

static void
conn_free(void *arg)
{
	struct json_conn *c = arg;

	if (c == NULL)
		return;
	sqlite3_finalize(c->st);
	sqlite3_close(c->db);
	free(c);
}

static void
conn_before_fork(void)
{
	struct json_conn *c = pthread_getspecific(conn_key);

	if (c != NULL) {
		(void)pthread_setspecific(conn_key, NULL);
		conn_free(c);
	}
}

/* Without the key or the handler (no memory), every call has its own. */
static void
conn_init(void)
{
	if (pthread_key_create(&conn_key, conn_free) != 0)
		return;
	if (pthread_atfork(conn_before_fork, NULL, NULL) != 0)
		return;
	conn_kept = 1;
}

static struct json_conn *
conn_open(void)
{
	struct json_conn *c = calloc(1, sizeof(*c));

	if (c == NULL)
		return NULL;
	if (sqlite3_open_v2(":memory:", &c->db, SQLITE_OPEN_READWRITE |
	    SQLITE_OPEN_MEMORY | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(c->db, json_sql, -1, &c->st, NULL) !=
	    SQLITE_OK) {
		conn_free(c);
		return NULL;
	}
	return c;
}

/* The calling thread's connection; *own set when the caller must free it
 * (not kept for the thread). */
static struct json_conn *
conn_get(int *own)
{
	struct json_conn *c;

	*own = 0;
	(void)pthread_once(&conn_once, conn_init);
	if (conn_kept && (c = pthread_getspecific(conn_key)) != NULL)
		return c;
	if ((c = conn_open()) == NULL)
		return NULL;
	if (!conn_kept || pthread_setspecific(conn_key, c) != 0)
		*own = 1;
	return c;
}

/* Copy column col of st into out (capacity cap); -1 if it does not fit. */
static int
copy_column(sqlite3_stmt *st, int col, char *out, size_t cap)
{
	const unsigned char *t = sqlite3_column_text(st, col);
	int n = sqlite3_column_bytes(st, col);

	if (t == NULL)
		t = (const unsigned char *)"";
	if (n < 0 || (size_t)n >= cap)
		return -1;
	memcpy(out, t, (size_t)n);
	out[n] = '\0';
	return 0;
}

int
json_value(const char *json, const char *path, char *type, size_t type_cap,
    char *out, size_t out_cap)
{
	sqlite3_stmt *st;
	struct json_conn *c;
	int own, rc = -1;

	if ((c = conn_get(&own)) == NULL)
		return -1;
	st = c->st;
	if (sqlite3_bind_text(st, 1, json, -1, SQLITE_STATIC) != SQLITE_OK ||
	    sqlite3_bind_text(st, 2, path, -1, SQLITE_STATIC) != SQLITE_OK ||
	    sqlite3_step(st) != SQLITE_ROW)
		goto out;
	if (sqlite3_column_int(st, 0) != 1)
		goto out;
	if (sqlite3_column_type(st, 1) == SQLITE_NULL) {
		rc = 0;
		goto out;
	}
	if (type != NULL && copy_column(st, 1, type, type_cap) != 0)
		goto out;
	if (out != NULL && copy_column(st, 2, out, out_cap) != 0)
		goto out;
	rc = 1;
out:
	/* Ready for the next call, holding no pointer to the caller's text
	 * (a failed step's error is this call's, already counted). */
	(void)sqlite3_reset(st);
	(void)sqlite3_clear_bindings(st);
	if (own)
		conn_free(c);
	return rc;
}
