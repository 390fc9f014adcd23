# mk/fuzz.mk - libFuzzer targets (issue 10): make fuzz-check runs each
# target of tests/fuzz for a few seconds on a copy of the seed corpus (part
# of make check); make fuzz FUZZ_SECONDS=300 fuzzes longer, keeping what it
# finds in build/fuzz/corpus. tests/fuzz/run.sh builds (make fuzz-build)
# and runs them; it exits 77 when clang or libFuzzer is missing.
#
# The library (src/*.c but main.c) is built again by clang with the
# fuzzer's coverage and ASan + UBSan, with the same standard, warnings
# (-Werror) and flags as every other build.
FUZZ_CC = clang
FUZZ_SECONDS = 60
FUZZ_SAN = -fsanitize=address,undefined -fno-sanitize-recover=all \
	-fno-omit-frame-pointer
FUZZ_CFLAGS = $(CSTD) $(WARN) -O1 -g $(FUZZ_SAN) $(PKG_CFLAGS) $(CPPFLAGS) \
	-DTFS_SANITIZED

FUZZ_SRC = $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_BIN = $(FUZZ_SRC:tests/fuzz/%.c=build/fuzz/%)
FUZZ_OBJ = $(LIB_SRC:src/%.c=build/fuzz/obj/%.o)

# Static pattern rules: the objects are targets of their own, never
# intermediate files make would skip or delete.
$(FUZZ_OBJ): build/fuzz/obj/%.o: src/%.c $(HDR) build/config.mk
	@mkdir -p build/fuzz/obj
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -c -o $@ $<

$(FUZZ_BIN): build/fuzz/%: tests/fuzz/%.c $(wildcard tests/fuzz/*.h) \
    $(FUZZ_OBJ)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer -o $@ $< $(FUZZ_OBJ) \
		$(PKG_LIBS)

fuzz-build: $(FUZZ_BIN)

# run.sh builds the targets (make fuzz-build), or exits 77 without clang.
FUZZ_RUN = MAKE='$(MAKE)' FUZZ_CC='$(FUZZ_CC)' sh tests/fuzz/run.sh

fuzz:
	@$(FUZZ_RUN) $(FUZZ_SECONDS)

fuzz-check:
	@$(FUZZ_RUN) check

.PHONY: fuzz fuzz-build fuzz-check
