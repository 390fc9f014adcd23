/* SPDX-License-Identifier: MIT */
/*
 * keyring.h - the customer's RSA private keys and trial unwrap of CEKs.
 *
 * Keys are loaded through OpenSSL's decoders: PEM or DER, PKCS#1 or PKCS#8,
 * encrypted PKCS#8 (or traditional encrypted PEM) with a passphrase file.
 * A file named CR<32 hex>.pem / .der / .key is the key for that Public Key
 * SID. Files holding a private key (and passphrase files) that are
 * readable by group or others are refused, as ssh does. Key material is
 * held by OpenSSL and freed (cleansed) with the keyring.
 */
#ifndef TWILIOFS_KEYRING_H
#define TWILIOFS_KEYRING_H

#include <stddef.h>

#include "twiliofs/crypto.h"
#include "twiliofs/envelope.h"
#include "twiliofs/error.h"

struct keyring;

/*
 * Load every private key named by paths: a ':'-separated list of files and
 * directories (a directory contributes each regular file in it that holds
 * a private key, in name order; other files there are skipped). An
 * explicitly named file must hold a private key. passphrase_file may be
 * NULL. Errors: TFS_ERR_CONFIG (unreadable, loose permissions, not a key,
 * encrypted without passphrase, wrong passphrase, no key at all),
 * TFS_ERR_NOMEM. On success the caller owns *out (keyring_free).
 */
int keyring_load(struct keyring **out, const char *paths,
	const char *passphrase_file, struct tfs_error *err)
	__attribute__((warn_unused_result));

/* Number of keys loaded. */
size_t keyring_count(const struct keyring *kr);

/*
 * Unwrap env's CEK: the key for env->public_key_sid first (if known and
 * present), then every other key in load order. On success *cek holds the
 * key (wipe it with crypto_cek_wipe) and, if used_sid is not NULL, it gets
 * the SID of the key that worked ("" if the file had no SID name).
 * TFS_ERR_NOKEY (detail names the wanted SID) if no key opens it;
 * TFS_ERR_ENVELOPE if env has no wrapped key.
 */
int keyring_unwrap(const struct keyring *kr, const struct envelope *env,
	struct crypto_cek *cek, char used_sid[ENVELOPE_SID_LEN + 1],
	struct tfs_error *err) __attribute__((warn_unused_result));

void keyring_free(struct keyring *kr);

/* Whether a key named for the Public Key sid (CR<sid>.pem …) is loaded. */
int keyring_has(const struct keyring *kr, const char *sid);

/*
 * The public half of key i as `openssl rsa -pubout` writes it (PEM
 * SubjectPublicKeyInfo): what Twilio's Public Key resource takes. *pem is
 * the caller's to free.
 */
int keyring_public_pem(const struct keyring *kr, size_t i, char **pem,
	struct tfs_error *err) __attribute__((warn_unused_result));

/*
 * A new RSA key pair of bits (2048, 3072 or 4096) in dir: private_key.pem
 * (PKCS#8, mode 0600) and public_key.pem (0644), the names Twilio's
 * guides use. Refuses (TFS_ERR_USAGE) when either file exists.
 */
int keyring_generate(int bits, const char *dir, struct tfs_error *err)
	__attribute__((warn_unused_result));

/*
 * Copy the private key file src, as it is (format and encryption kept),
 * into dir as CR<sid>.pem (.der for DER), mode 0600, so that a keyring
 * loading dir maps it to sid. Never replaces a file (TFS_ERR_USAGE).
 * The file's path goes into path.
 */
int keyring_install(const char *src, const char *dir, const char *sid,
	char *path, size_t cap, struct tfs_error *err)
	__attribute__((warn_unused_result));

#endif
