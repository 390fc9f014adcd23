/* SPDX-License-Identifier: MIT */
/*
 * test_log.c - one line per message (control characters escaped), the
 * level filter, and the rate limit with its "dropped" report.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "twiliofs/log.h"
#include "unit.h"

/* Run fn with stderr captured into buf; returns the bytes captured. */
static size_t
capture(void (*fn)(void), char *buf, size_t cap)
{
	FILE *tmp = tmpfile();
	int saved = dup(STDERR_FILENO);
	size_t n = 0;

	if (tmp == NULL || saved < 0)
		return 0;
	fflush(stderr);
	dup2(fileno(tmp), STDERR_FILENO);
	fn();
	fflush(stderr);
	dup2(saved, STDERR_FILENO);
	close(saved);
	rewind(tmp);
	n = fread(buf, 1, cap - 1, tmp);
	buf[n] = '\0';
	fclose(tmp);
	return n;
}

static size_t
count_lines(const char *s)
{
	size_t n = 0;

	for (; *s != '\0'; s++)
		n += *s == '\n';
	return n;
}

static void
hostile(void)
{
	log_msg(TFS_LOG_WARN, "name %s end", "a\nb\rc\x1b[2J");
}

static void
levels(void)
{
	log_set_level(TFS_LOG_WARN);
	log_msg(TFS_LOG_INFO, "hidden info");
	log_msg(TFS_LOG_WARN, "shown warning");
}

static void
flood(void)
{
	int i;

	for (i = 0; i < 500; i++)
		log_msg(TFS_LOG_WARN, "flood %d", i);
}

static void
after(void)
{
	log_msg(TFS_LOG_WARN, "after the flood");
}

/* Wait until the start of a new second, so a burst fits in one. */
static void
next_second(void)
{
	struct timespec ten_ms = { 0, 10 * 1000 * 1000 };
	time_t t = time(NULL);

	while (time(NULL) == t)
		nanosleep(&ten_ms, NULL);
}

int
main(void)
{
	static char out[1 << 16];

	unit_begin("test_log");
	capture(hostile, out, sizeof(out));
	CHECK(count_lines(out) == 1 && strncmp(out, "twiliofs: name a\\x0ab"
	    "\\x0dc\\x1b[2J end\n", 36) == 0, "control characters must be "
	    "escaped into one line: '%s'", out);

	next_second();
	capture(levels, out, sizeof(out));
	CHECK(strstr(out, "hidden info") == NULL && strstr(out,
	    "shown warning") != NULL, "level filter: '%s'", out);

	next_second();
	capture(flood, out, sizeof(out));
	CHECK(count_lines(out) == LOG_BURST, "a burst of 500 in one second "
	    "gave %zu lines, want %d", count_lines(out), LOG_BURST);
	CHECK(strstr(out, "flood 0\n") != NULL && strstr(out, "flood 49\n") !=
	    NULL && strstr(out, "flood 50\n") == NULL, "the first %d lines "
	    "go out, the rest are held back", LOG_BURST);

	next_second();
	capture(after, out, sizeof(out));
	CHECK(count_lines(out) == 2 && strstr(out, "450 more messages were "
	    "dropped") != NULL && strstr(out, "after the flood") != NULL,
	    "the next second reports the dropped count first: '%s'", out);
	return unit_done();
}
