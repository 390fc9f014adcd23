/* SPDX-License-Identifier: MIT */
/*
 * fuzz_headers.c - envelope_from_headers on any bytes: the header dump of
 * a media download (curl -D, wget -S), which the media store (or whoever
 * is in the middle) writes. Seeds: the test account's nginx answers (200,
 * 206, a 302 followed), the fixtures' dumps and the unit tests' forms.
 */
#include "twiliofs/envelope.h"

#include "fuzz.h"

/* What a successful parse promises its users (reader, catalog). */
static void
check_envelope(const struct envelope *env)
{
	FUZZ_CHECK(env->scheme == ENVELOPE_CBC || env->scheme == ENVELOPE_GCM);
	FUZZ_CHECK(env->iv_len == (env->scheme == ENVELOPE_CBC ? 16u : 12u));
	FUZZ_CHECK(env->wrapped_cek_len > 0 &&
	    env->wrapped_cek_len <= ENVELOPE_MAX_WRAPPED);
	FUZZ_CHECK(env->plaintext_size >= -1 && env->ciphertext_size >= -1);
	FUZZ_CHECK(env->public_key_sid[0] == '\0');
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct tfs_error err = { 0, "" };
	struct envelope env;
	int rc;

	envelope_init(&env);
	/* Not NUL-terminated: the parser must stay within size bytes. */
	rc = envelope_from_headers(&env, (const char *)data, size, &err);
	if (rc == TFS_OK) {
		check_envelope(&env);
		return 0;
	}
	FUZZ_CHECK(rc == TFS_ERR_ENVELOPE && err.code == rc);
	/* One line that names the problem, whatever the input held. */
	FUZZ_CHECK(err.detail[0] != '\0' && strchr(err.detail, '\n') == NULL);
	return 0;
}
