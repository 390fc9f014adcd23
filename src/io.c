/* SPDX-License-Identifier: MIT */
/* io.c - whole writes to a file descriptor; mkdir -p; new files. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <sys/stat.h>
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

int
io_make_dirs(const char *path)
{
	char buf[PATH_MAX];
	struct stat st;
	size_t i;

	if (snprintf(buf, sizeof(buf), "%s", path) >= (int)sizeof(buf)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	for (i = 1; buf[i] != '\0'; i++) {
		if (buf[i] != '/')
			continue;
		buf[i] = '\0';
		if (mkdir(buf, 0700) != 0 && errno != EEXIST)
			return -1;
		buf[i] = '/';
	}
	if (mkdir(buf, 0700) == 0)
		return 0;
	if (errno != EEXIST)
		return -1;
	if (stat(buf, &st) != 0)
		return -1;
	if (!S_ISDIR(st.st_mode)) {
		errno = ENOTDIR;
		return -1;
	}
	return 0;
}

int
io_write_new(const char *path, const void *p, size_t len, mode_t mode)
{
	char tmp[PATH_MAX];
	int fd, e;

	if (snprintf(tmp, sizeof(tmp), "%s.%ld.tmp", path,
	    (long)getpid()) >= (int)sizeof(tmp)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
	    mode);
	if (fd < 0)
		return -1;
	/* The mode asked for, whatever the umask. */
	e = fchmod(fd, mode) != 0 || io_write_all(fd, p, len) != 0 ||
	    fsync(fd) != 0 ? errno : 0;
	if (close(fd) != 0 && e == 0)
		e = errno;
	if (e != 0) {
		(void)unlink(tmp);
		errno = e;
		return -1;
	}
	/* link(2), unlike rename(2), never replaces what is there. */
	e = link(tmp, path) == 0 ? 0 : errno;
	(void)unlink(tmp);
	errno = e;
	return e == 0 ? 0 : -1;
}
