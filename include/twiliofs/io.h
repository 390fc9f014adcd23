/* SPDX-License-Identifier: MIT */
/* io.h - whole writes to a file descriptor, whatever write(2) splits;
 * mkdir -p; a new file written whole or not at all. */
#ifndef TWILIOFS_IO_H
#define TWILIOFS_IO_H

#include <stddef.h>
#include <sys/types.h>

/*
 * Write all len bytes of p to fd, retrying short writes and EINTR.
 * 0, or -1 with errno set by the failing write.
 */
int io_write_all(int fd, const void *p, size_t len)
	__attribute__((warn_unused_result));

/*
 * mkdir -p: path and every missing parent, new ones 0700; path must end
 * up a directory. 0, or -1 with errno (ENAMETOOLONG, ENOTDIR, …).
 */
int io_make_dirs(const char *path) __attribute__((warn_unused_result));

/*
 * Create path with mode holding the len bytes of p, never replacing
 * anything there: written and synced under a temporary name in the same
 * directory, then linked to path (EEXIST if path exists, a link
 * included). 0, or -1 with errno; nothing is left behind on failure.
 */
int io_write_new(const char *path, const void *p, size_t len, mode_t mode)
	__attribute__((warn_unused_result));

#endif
