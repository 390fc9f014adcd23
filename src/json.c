/* SPDX-License-Identifier: MIT */
/* json.c - values out of JSON text through SQLite's JSON functions. */
#include <string.h>

#include <sqlite3.h>

#include "twiliofs/json.h"

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
	static const char sql[] = "SELECT json_valid(?1), json_type(?1, ?2), "
	    "json_extract(?1, ?2)";
	sqlite3_stmt *st = NULL;
	sqlite3 *db = NULL;
	int rc = -1;

	/* A private in-memory database: callers may be on any thread. */
	if (sqlite3_open_v2(":memory:", &db, SQLITE_OPEN_READWRITE |
	    SQLITE_OPEN_MEMORY | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK)
		goto out;
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK ||
	    sqlite3_bind_text(st, 1, json, -1, SQLITE_STATIC) != SQLITE_OK ||
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
	sqlite3_finalize(st);
	sqlite3_close(db);
	return rc;
}
