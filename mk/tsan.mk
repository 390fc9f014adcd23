# mk/tsan.mk - make tsan: twiliofs under ThreadSanitizer, put to the load
# test (tests/integration/test_load.sh: 16 readers and ls -lR on one
# mount, with the refresh thread swapping trees). TSan and ASan cannot
# share a binary, so it has its own objects in build/tsan. The libraries
# (libfuse, libcurl, OpenSSL, SQLite) are not instrumented: their own
# internals are suppressed in tests/tsan.supp, never a frame of ours.
# The test sets TSAN_OPTIONS: reports go to its work directory, and any
# report, or the daemon's TSan exit code, fails it. `make check` runs the
# same test with this binary (tests/run.sh), hence the prerequisite.
TSAN_OBJ = $(SRC:src/%.c=build/tsan/%.o)
TSAN_FLAGS = -fsanitize=thread -fno-omit-frame-pointer

build/tsan/%.o: src/%.c $(HDR) build/config.mk
	@mkdir -p build/tsan
	$(CC) $(CSTD) $(WARN) -O1 -g $(TSAN_FLAGS) $(PKG_CFLAGS) $(CPPFLAGS) \
		-DTFS_SANITIZED -c -o $@ $<

build/tsan/twiliofs: $(TSAN_OBJ)
	$(CC) $(TSAN_FLAGS) -o $@ $(TSAN_OBJ) $(PKG_LIBS)

tsan: build/tsan/twiliofs test-deps
	@TWILIOFS=$(CURDIR)/build/tsan/twiliofs \
		TFS_WORK=$(CURDIR)/build/tsan/work \
		bash tests/integration/test_load.sh

check: build/tsan/twiliofs

.PHONY: tsan
