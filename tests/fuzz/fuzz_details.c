/* SPDX-License-Identifier: MIT */
/*
 * fuzz_details.c - the envelope of a voice recording as the API gives it:
 * envelope_from_details on the input as JSON text (an encryption_details
 * object, its callback string form, a whole Recording), and
 * envelope_from_b64 on the input cut at its first newline (--cek, --iv).
 * Seeds: the fixtures' .details files, the unit tests' forms, and base64
 * pairs of the fixtures.
 */
#include "twiliofs/envelope.h"

#include "fuzz.h"

static void
check_envelope(const struct envelope *env)
{
	FUZZ_CHECK(env->scheme == ENVELOPE_CBC || env->scheme == ENVELOPE_GCM);
	FUZZ_CHECK(env->iv_len == (env->scheme == ENVELOPE_CBC ? 16u : 12u));
	FUZZ_CHECK(env->wrapped_cek_len > 0 &&
	    env->wrapped_cek_len <= ENVELOPE_MAX_WRAPPED);
	FUZZ_CHECK(env->public_key_sid[0] == '\0' ||
	    envelope_is_public_key_sid(env->public_key_sid));
}

static void
check_result(int rc, const struct envelope *env, const struct tfs_error *err)
{
	if (rc == TFS_OK) {
		check_envelope(env);
		return;
	}
	FUZZ_CHECK(rc == TFS_ERR_ENVELOPE && err->code == rc);
	FUZZ_CHECK(err->detail[0] != '\0' &&
	    strchr(err->detail, '\n') == NULL);
}

/* Base64 of n characters (no padding) decodes to exactly n * 6 / 8. */
static void
check_b64(const char *s)
{
	unsigned char out[ENVELOPE_MAX_WRAPPED];
	size_t n, len;

	if (envelope_b64_decode(s, out, sizeof(out), &len) != TFS_OK)
		return;
	s += strspn(s, " \t\n\v\f\r");
	n = strcspn(s, "= \t\n\v\f\r");
	FUZZ_CHECK(len == n * 6 / 8);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct tfs_error err = { 0, "" };
	struct envelope env;
	char *text, *iv;
	int rc;

	text = fuzz_string(data, size);
	envelope_init(&env);
	rc = envelope_from_details(&env, text, &err);
	check_result(rc, &env, &err);

	iv = strchr(text, '\n');
	if (iv != NULL) {
		*iv++ = '\0';
		envelope_init(&env);
		tfs_error_clear(&err);
		rc = envelope_from_b64(&env, text, iv, &err);
		check_result(rc, &env, &err);
		check_b64(text);
	}
	free(text);
	return 0;
}
