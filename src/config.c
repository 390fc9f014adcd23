/* SPDX-License-Identifier: MIT */
/* config.c - the config file's profiles ([name] sections of name = value). */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "twiliofs/config.h"

#define CONFIG_MAX (64 * 1024)	/* a settings file, not a database */

static char path[4096];
/* The file's text: the values handed out point into it, for good. */
static char *text;

const char *
config_path(void)
{
	const char *xdg = getenv("XDG_CONFIG_HOME"), *home = getenv("HOME");

	if (path[0] == '\0') {
		if (xdg != NULL && xdg[0] == '/')
			(void)snprintf(path, sizeof(path),
			    "%s/twiliofs/config", xdg);
		else if (home != NULL && home[0] == '/')
			(void)snprintf(path, sizeof(path),
			    "%s/.config/twiliofs/config", home);
	}
	return path;
}

/* The whole file into text; 0 and text NULL when there is none. */
static int
slurp(int *secretive_ok, struct tfs_error *err)
{
	struct stat st;
	ssize_t r;
	size_t got = 0;
	int fd;

	fd = open(config_path(), O_RDONLY | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT)
		return TFS_OK;
	if (fd < 0)
		return tfs_error_set(err, TFS_ERR_CONFIG, "%s: cannot open: "
		    "%s", path, strerror(errno));
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) ||
	    st.st_size > CONFIG_MAX) {
		close(fd);
		return tfs_error_set(err, TFS_ERR_CONFIG, "%s: not a regular "
		    "file of at most %d bytes", path, CONFIG_MAX);
	}
	/* Settings others may change could send our credentials elsewhere
	 * (endpoint, cafile): refused, as ssh refuses such files. */
	if ((st.st_mode & (S_IWGRP | S_IWOTH)) != 0) {
		close(fd);
		return tfs_error_set(err, TFS_ERR_CONFIG, "%s is writable by "
		    "group or others; run: chmod go-w %s", path, path);
	}
	*secretive_ok = (st.st_mode & (S_IRWXG | S_IRWXO)) == 0;
	text = calloc(1, (size_t)st.st_size + 1);
	while (text != NULL && got < (size_t)st.st_size) {
		r = read(fd, text + got, (size_t)st.st_size - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		got += (size_t)r;
	}
	close(fd);
	if (text == NULL || got < (size_t)st.st_size)
		return tfs_error_set(err, TFS_ERR_CONFIG, "%s: cannot read "
		    "it", path);
	return TFS_OK;
}

static char *
trim(char *s)
{
	char *e;

	while (isspace((unsigned char)*s))
		s++;
	e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = '\0';
	return s;
}

static int
is_secret(const char *name)
{
	return strcmp(name, "api_secret") == 0 ||
	    strcmp(name, "auth_token") == 0;
}

/* One line: a [section], a name = value, or nothing. */
static int
parse_line(char *line, int n, char **section, char **name, char **value,
    struct tfs_error *err)
{
	char *eq, *v, *e;
	size_t len;

	*name = NULL;
	line = trim(line);
	if (line[0] == '\0' || line[0] == '#' || line[0] == ';')
		return TFS_OK;
	len = strlen(line);
	if (line[0] == '[') {
		if (line[len - 1] != ']' || len < 3)
			return tfs_error_set(err, TFS_ERR_CONFIG, "%s:%d: "
			    "[profile] expected", path, n);
		line[len - 1] = '\0';
		*section = trim(line + 1);
		return TFS_OK;
	}
	eq = strchr(line, '=');
	if (eq == NULL) {	/* a flag: offline, allow_other */
		*name = line;
		*value = NULL;
		if (line[strspn(line, "abcdefghijklmnopqrstuvwxyz_-")] != '\0')
			return tfs_error_set(err, TFS_ERR_CONFIG, "%s:%d: name "
			    "= value, or a flag (offline), expected", path, n);
		for (e = line; *e != '\0'; e++)
			if (*e == '-')
				*e = '_';
		return TFS_OK;
	}
	*eq = '\0';
	*name = trim(line);
	v = trim(eq + 1);
	/* A name is a word: "= x" or "a b = x" is a typo, said as such. */
	if ((*name)[0] == '\0' || (*name)[strspn(*name, "abcdefghijklmnopqrstu"
	    "vwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-")] != '\0')
		return tfs_error_set(err, TFS_ERR_CONFIG, "%s:%d: a name of "
		    "letters, digits, - and _ expected before '='", path, n);
	/* Dashes or underscores, as for -o: one spelling from here on, so
	 * "api-secret" is the secret it names. */
	for (e = *name; *e != '\0'; e++)
		if (*e == '-')
			*e = '_';
	len = strlen(v);
	if (len >= 2 && (v[0] == '"' || v[0] == '\'') && v[len - 1] == v[0]) {
		v[len - 1] = '\0';
		v++;
	}
	*value = v;
	return TFS_OK;
}

int
config_read(const char *profile, int explicit,
    int (*set)(const char *name, char *value, void *arg), void *arg,
    struct tfs_error *err)
{
	int rc, private_ok = 1;

	if (profile == NULL)
		profile = "default";
	rc = config_path()[0] != '\0' ? slurp(&private_ok, err) : TFS_OK;
	if (rc != TFS_OK)
		return rc;
	if (text == NULL)
		return explicit ? tfs_error_set(err, TFS_ERR_CONFIG, "profile "
		    "'%.40s': there is no config file %s", profile,
		    path[0] ? path : "(set HOME)") : TFS_OK;
	return config_parse(text, private_ok, profile, explicit, set, arg,
	    err);
}

int
config_parse(char *text, int private_ok, const char *profile, int explicit,
    int (*set)(const char *name, char *value, void *arg), void *arg,
    struct tfs_error *err)
{
	char *line, *next, *section = NULL, *name, *value = NULL;
	int rc, n = 0, found = 0, secret = 0;

	for (line = text; line != NULL; line = next) {
		next = strchr(line, '\n');
		if (next != NULL)
			*next++ = '\0';
		n++;
		rc = parse_line(line, n, &section, &name, &value, err);
		if (rc != TFS_OK)
			return rc;
		/* A secret in any profile of a file others may read: the
		 * whole file is refused. */
		secret = name != NULL && is_secret(name);
		if (secret && !private_ok)
			return tfs_error_set(err, TFS_ERR_CONFIG, "%s holds a "
			    "secret and is readable by group or others; run: "
			    "chmod 600 %s", path, path);
		if (section == NULL || strcmp(section, profile) != 0)
			continue;
		found = 1;
		if (name != NULL && (rc = set(name, value, arg)) != 0)
			return tfs_error_set(err, rc, "%s:%d: %s", path, n,
			    is_secret(name) ? "this secret is refused" :
			    "this setting is refused (see above)");
	}
	if (!found && explicit)
		return tfs_error_set(err, TFS_ERR_CONFIG, "%s has no "
		    "[%.40s] profile", path, profile);
	return TFS_OK;
}
