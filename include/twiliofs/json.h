/* SPDX-License-Identifier: MIT */
/*
 * json.h - read values out of small JSON documents (API answers such as
 * {"redirect_to": …}, encryption_details) with SQLite's JSON functions:
 * the one JSON parser of the project. No I/O.
 */
#ifndef TWILIOFS_JSON_H
#define TWILIOFS_JSON_H

#include <stddef.h>

/*
 * The value at path (SQLite JSON path, e.g. "$.meta.next_page_url") of
 * json: its JSON type name into type ("object", "array", "text",
 * "integer", "real", "true", "false", "null"; may be NULL) and its value
 * as text into out (strings unquoted, objects and arrays as JSON; may be
 * NULL). Returns 1 if present, 0 if absent, -1 if json is not valid JSON
 * or a value does not fit its buffer.
 */
int json_value(const char *json, const char *path, char *type,
	size_t type_cap, char *out, size_t out_cap);

#endif
