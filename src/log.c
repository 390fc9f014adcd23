/* SPDX-License-Identifier: MIT */
/* log.c - one-line diagnostics on stderr, syslog and a log file. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "twiliofs/log.h"

/*
 * The one piece of process-wide state outside main.c: the verbosity and
 * where lines go, set once at start-up and read from any thread, hence
 * atomic.
 */
enum log_dest { DEST_STDERR, DEST_SYSLOG, DEST_NOWHERE };

static atomic_int log_level = TFS_LOG_WARN;
static atomic_int log_dest;	/* enum log_dest; a daemon has no stderr */
static atomic_int log_fd = -1;	/* the log file, or -1 */

/* The rate limit: lines in the current second, and lines dropped. */
static struct {
	pthread_mutex_t mu;
	time_t second;
	unsigned lines;
	unsigned long dropped;
} rate = { PTHREAD_MUTEX_INITIALIZER, 0, 0, 0 };

int
log_syslog_available(void)
{
	struct stat st;

	return stat("/dev/log", &st) == 0 && S_ISSOCK(st.st_mode);
}

void
log_use_syslog(void)
{
	if (!log_syslog_available()) {
		atomic_store(&log_dest, DEST_NOWHERE);
		return;
	}
	openlog("twiliofs", LOG_PID | LOG_NDELAY, LOG_DAEMON);
	atomic_store(&log_dest, DEST_SYSLOG);
}

/* How the opened log file falls short, or NULL if it will do. */
static const char *
log_file_unfit(int fd, mode_t *mode)
{
	struct stat st;

	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode))
		return "is not a regular file";
	*mode = st.st_mode & 07777;
	/* Anyone who may write it could forge lines or truncate them. */
	if ((st.st_mode & (S_IWGRP | S_IWOTH)) != 0)
		return "is writable by group or others";
	if (st.st_uid != geteuid())
		return "belongs to another user";
	/* A hard link would put our lines into a file named elsewhere. */
	if (st.st_nlink != 1)
		return "has other hard links";
	/* Just made under a strict umask (0000): make it ours to reopen. */
	if ((st.st_mode & S_IRWXU) != (S_IRUSR | S_IWUSR) && st.st_size == 0
	    && fchmod(fd, 0600) == 0)
		*mode = 0600;
	return NULL;
}

int
log_open_file(const char *path, struct tfs_error *err)
{
	const char *why;
	mode_t mode = 0;
	int fd, old;

	/* O_NONBLOCK: a FIFO without a reader must not hang us here. */
	fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW |
	    O_NOCTTY | O_NONBLOCK | O_CLOEXEC, 0600);
	if (fd < 0 && errno == ELOOP)
		return tfs_error_set(err, TFS_ERR_CONFIG, "%s: the log file "
		    "is a symbolic link; give the path of a regular file",
		    path);
	if (fd < 0)
		return tfs_error_set(err, TFS_ERR_CONFIG, "%s: cannot open "
		    "the log file: %s", path, strerror(errno));
	why = log_file_unfit(fd, &mode);
	if (why != NULL) {
		close(fd);
		return tfs_error_set(err, TFS_ERR_CONFIG, "%s: the log file "
		    "%s (mode %04o); give a file of your own, mode 600",
		    path, why, (unsigned)mode);
	}
	old = atomic_exchange(&log_fd, fd);
	if (old >= 0)
		close(old);
	return TFS_OK;
}

int
log_has_file(void)
{
	return atomic_load(&log_fd) >= 0;
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

/* One write per line: with O_APPEND, lines of threads never mix. */
static void
emit_file(int fd, const char *line)
{
	char buf[1100], stamp[32];
	struct tm tm;
	time_t now = time(NULL);
	int n;

	if (strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%SZ",
	    gmtime_r(&now, &tm)) == 0)
		stamp[0] = '\0';
	n = snprintf(buf, sizeof(buf), "%s twiliofs: %s\n", stamp, line);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(buf)) {
		n = (int)sizeof(buf) - 1;
		buf[n - 1] = '\n';
	}
	if (write(fd, buf, (size_t)n) < 0)
		return;	/* nowhere left to say so */
}

static void
emit(enum log_level level, const char *line)
{
	int fd = atomic_load(&log_fd), dest = atomic_load(&log_dest);

	if (fd >= 0)
		emit_file(fd, line);
	if (dest == DEST_SYSLOG)
		syslog(level == TFS_LOG_ERROR ? LOG_ERR : level ==
		    TFS_LOG_WARN ? LOG_WARNING : level == TFS_LOG_INFO ?
		    LOG_INFO : LOG_DEBUG, "%s", line);
	else if (dest == DEST_STDERR)
		/* One fprintf per line: stdio locks the stream. */
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
