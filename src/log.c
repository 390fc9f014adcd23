/* SPDX-License-Identifier: MIT */
/* log.c - one-line diagnostics on stderr. */
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <syslog.h>
#include <time.h>

#include "twiliofs/log.h"

/*
 * The one piece of process-wide state outside main.c: the verbosity, set
 * once at start-up and read from any thread, hence atomic.
 */
static atomic_int log_level = TFS_LOG_WARN;
static atomic_int log_syslog;	/* 1: a daemon, stderr goes nowhere */

/* The rate limit: lines in the current second, and lines dropped. */
static struct {
	pthread_mutex_t mu;
	time_t second;
	unsigned lines;
	unsigned long dropped;
} rate = { PTHREAD_MUTEX_INITIALIZER, 0, 0, 0 };

void
log_use_syslog(void)
{
	openlog("twiliofs", LOG_PID | LOG_NDELAY, LOG_DAEMON);
	atomic_store(&log_syslog, 1);
}

void
log_set_level(enum log_level level)
{
	atomic_store(&log_level, (int)level);
}

int
log_enabled(enum log_level level)
{
	return (int)level <= atomic_load(&log_level);
}

/*
 * Escape control characters so that one call is one line whatever the
 * message holds (file names and server strings are not trusted).
 */
static void
sanitize(char *out, size_t cap, const char *in)
{
	static const char hex[] = "0123456789abcdef";
	size_t o = 0;
	unsigned char c;

	for (; *in != '\0' && o + 5 < cap; in++) {
		c = (unsigned char)*in;
		if (c >= 0x20 && c != 0x7f) {
			out[o++] = (char)c;
			continue;
		}
		out[o++] = '\\';
		out[o++] = 'x';
		out[o++] = hex[c >> 4];
		out[o++] = hex[c & 0xf];
	}
	out[o] = '\0';
}

static void
emit(enum log_level level, const char *line)
{
	if (atomic_load(&log_syslog)) {
		syslog(level == TFS_LOG_ERROR ? LOG_ERR : level ==
		    TFS_LOG_WARN ? LOG_WARNING : level == TFS_LOG_INFO ?
		    LOG_INFO : LOG_DEBUG, "%s", line);
		return;
	}
	/* One fprintf per line: stdio locks the stream, so lines never mix. */
	fprintf(stderr, "twiliofs: %s\n", line);
}

/*
 * Whether a line may go out now; *dropped gets how many were held back
 * since the last line that went out (to be reported first).
 */
static int
admit(unsigned long *dropped)
{
	time_t now = time(NULL);
	int ok;

	pthread_mutex_lock(&rate.mu);
	if (now != rate.second) {
		rate.second = now;
		rate.lines = 0;
	}
	ok = rate.lines < LOG_BURST;
	if (ok) {
		rate.lines++;
		*dropped = rate.dropped;
		rate.dropped = 0;
	} else
		rate.dropped++;
	pthread_mutex_unlock(&rate.mu);
	return ok;
}

void
log_msg(enum log_level level, const char *fmt, ...)
{
	unsigned long dropped = 0;
	char note[96];
	char raw[1024], clean[1024];
	va_list ap;

	if (!log_enabled(level))
		return;
	va_start(ap, fmt);
	(void)vsnprintf(raw, sizeof(raw), fmt, ap);
	va_end(ap);
	sanitize(clean, sizeof(clean), raw);
	if (!admit(&dropped))
		return;
	if (dropped > 0) {
		(void)snprintf(note, sizeof(note), "(%lu more messages were "
		    "dropped: over %d a second)", dropped, LOG_BURST);
		emit(TFS_LOG_WARN, note);
	}
	emit(level, clean);
}
