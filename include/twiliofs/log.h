/* SPDX-License-Identifier: MIT */
/*
 * log.h - one-line diagnostics on stderr: "twiliofs: context: reason";
 * in a mount gone into the background, to syslog; and to a log file when
 * one is given (log_open_file).
 *
 * Every message is a single line (embedded newlines and control characters
 * are escaped, so a hostile file name or server string cannot forge extra
 * lines). Messages must never contain secrets; callers pass key SIDs and
 * file names, never key material, CEKs or credentials. Thread-safe.
 *
 * Rate-limited: at most LOG_BURST lines per second (a mount read by a
 * retrying player must not flood the log); what is dropped is counted and
 * reported in one line when logging resumes.
 */

#define LOG_BURST 50
#ifndef TWILIOFS_LOG_H
#define TWILIOFS_LOG_H

#include "twiliofs/error.h"

enum log_level {
	TFS_LOG_ERROR = 0,
	TFS_LOG_WARN = 1,
	TFS_LOG_INFO = 2,
	TFS_LOG_DEBUG = 3
};

/* Messages above level are dropped. Default: TFS_LOG_WARN. */
void log_set_level(enum log_level level);

/* Whether a message at level would be printed (to skip costly formatting). */
int log_enabled(enum log_level level);

/*
 * From now on, send messages to syslog (facility daemon, when there is a
 * syslog socket) instead of stderr: for a mount that has gone into the
 * background. A log file keeps getting them.
 */
void log_use_syslog(void);

/* Whether syslog can receive messages here (/dev/log is a socket). */
int log_syslog_available(void);

/*
 * Also append every message to the file at path, created 0600, each line
 * prefixed with its UTC time. Refused (TFS_ERR_CONFIG, detail says why
 * and what to do) when path is a symbolic link, not a regular file, or
 * writable by group or others. Call once, at start-up; the descriptor is
 * kept for the life of the process (close-on-exec, kept across the
 * mount's fork).
 */
int log_open_file(const char *path, struct tfs_error *err)
	__attribute__((warn_unused_result));

/* Whether a log file is open. */
int log_has_file(void);

/* Print "twiliofs: " followed by the formatted message and a newline. */
void log_msg(enum log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#endif
