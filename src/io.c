/* SPDX-License-Identifier: MIT */
/* io.c - whole writes to a file descriptor. */
#include <errno.h>
#include <unistd.h>

#include "twiliofs/io.h"

int
io_write_all(int fd, const void *p, size_t len)
{
	const unsigned char *c = p;
	ssize_t w;

	while (len > 0) {
		w = write(fd, c, len);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -1;
		c += w;
		len -= (size_t)w;
	}
	return 0;
}
