/* SPDX-License-Identifier: MIT */
/*
 * config.h - the config file, $XDG_CONFIG_HOME/twiliofs/config (else
 * ~/.config/twiliofs/config): profiles of settings, so that a command line
 * need not repeat them.
 *
 *   # comments (whole lines) and blank lines are ignored
 *   # [default] is used when no --profile is given
 *   [default]
 *   account_sid = AC…
 *   credentials = /home/me/.config/twiliofs/credentials
 *   keys = /home/me/.config/twiliofs/keys
 *   # --profile backup
 *   [backup]
 *   region = ie1
 *
 * Names are those of -o (account and mount options), plus api_key,
 * api_secret and auth_token. A file holding a secret that group or others
 * may read is refused, as ssh refuses such keys. The command line wins
 * over the environment, which wins over the file.
 */
#ifndef TWILIOFS_CONFIG_H
#define TWILIOFS_CONFIG_H

#include "twiliofs/error.h"

/*
 * Read the file and call set(name, value, arg) for each setting of
 * profile ("default" when NULL), in file order; set returns 0 to go on,
 * or an error code that stops the reading (its message said). explicit:
 * the user asked for this profile, so the file and the profile must
 * exist. Values stay valid for the life of the process. Called once.
 * TFS_ERR_CONFIG (one line naming the file and line) on a bad file.
 */
int config_read(const char *profile, int explicit,
	int (*set)(const char *name, char *value, void *arg), void *arg,
	struct tfs_error *err) __attribute__((warn_unused_result));

/*
 * What config_read does once the file is read: text (changed in place;
 * the values point into it) of a file others may read unless private_ok.
 */
int config_parse(char *text, int private_ok, const char *profile,
	int explicit, int (*set)(const char *name, char *value, void *arg),
	void *arg, struct tfs_error *err) __attribute__((warn_unused_result));

/* The path config_read reads (for messages and --help). */
const char *config_path(void);

#endif
