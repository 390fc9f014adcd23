/* SPDX-License-Identifier: MIT */
/* io.h - whole writes to a file descriptor, whatever write(2) splits;
 * mkdir -p. */
#ifndef TWILIOFS_IO_H
#define TWILIOFS_IO_H

#include <stddef.h>

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

#endif
