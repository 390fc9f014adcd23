/* SPDX-License-Identifier: MIT */
/*
 * fuzz.h - what the libFuzzer targets of tests/fuzz share: the entry
 * points, an invariant check that stops the run where it failed, the
 * input as a C string, a scratch directory.
 */
#ifndef TWILIOFS_FUZZ_H
#define TWILIOFS_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A broken invariant is a crash: libFuzzer keeps the input that did it. */
#define FUZZ_CHECK(cond) do { \
	if (!(cond)) { \
		fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, \
		    __LINE__, #cond); \
		abort(); \
	} \
} while (0)

/* data as a NUL-terminated string of exactly size + 1 bytes (ASan sees a
 * read past it); the caller frees it. */
static inline char *
fuzz_string(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);

	FUZZ_CHECK(s != NULL);
	if (size > 0)
		memcpy(s, data, size);
	s[size] = '\0';
	return s;
}

/*
 * A new 0700 directory, $TMPDIR/name.XXXXXX, into dir (cap bytes). run.sh
 * points TMPDIR at a tmpfs: ext4 writes a truncated file out on close.
 */
static inline void
fuzz_tmpdir(char *dir, size_t cap, const char *name)
{
	const char *t = getenv("TMPDIR");

	if (t == NULL || t[0] == '\0')
		t = "/tmp";
	FUZZ_CHECK(snprintf(dir, cap, "%s/%s.XXXXXX", t, name) < (int)cap);
	FUZZ_CHECK(mkdtemp(dir) != NULL);
}

#endif
