# twiliofs - GNU make. Targets: all check bench install uninstall clean
# dist lint deps. Building installs nothing: a missing library stops make
# with one line naming its Debian package. `make deps` installs what is
# missing to build and test (scripts/install-deps.sh all, as root or
# through sudo). check and bench install the test tools they lack
# (test-deps); demo installs everything missing (scripts/demo.sh).
include config.mk

.DEFAULT_GOAL := all

SRC = $(wildcard src/*.c)
LIB_SRC = $(filter-out src/main.c,$(SRC))
HDR = $(wildcard include/twiliofs/*.h)
UNIT_SRC = $(wildcard tests/unit/test_*.c)

OBJ = $(SRC:src/%.c=build/obj/%.o)
ASAN_OBJ = $(SRC:src/%.c=build/asan/%.o)
ASAN_LIB_OBJ = $(LIB_SRC:src/%.c=build/asan/%.o)
UNIT_BIN = $(UNIT_SRC:tests/unit/%.c=build/asan/%)

HAVE = $(shell echo '#include <sys/prctl.h>' | $(CC) -E - >/dev/null 2>&1 && echo -DHAVE_SYS_PRCTL_H)
CPPFLAGS += -Iinclude -DTFS_VERSION='"$(VERSION)"' $(HAVE)

# The libraries must be there (pkg-config): if not, stop on one line
# naming their Debian packages. Then their compiler and linker flags
# (make re-reads build/config.mk after building it). Goals that build
# nothing, and those that install what they need, skip both.
NO_DEPS_GOALS = clean distclean lint dist deps test-deps demo demo-stop \
	uninstall
ifeq ($(filter $(NO_DEPS_GOALS),$(MAKECMDGOALS)),)
DEPS_MISSING := $(shell PKG_CONFIG='$(PKG_CONFIG)' PKGS='$(PKGS)' \
	CC='$(CC)' sh scripts/install-deps.sh check)
ifneq ($(DEPS_MISSING),)
$(error $(DEPS_MISSING))
endif
-include build/config.mk
endif

build/config.mk: config.mk
	@mkdir -p build
	@echo "PKG_CFLAGS = $$($(PKG_CONFIG) --cflags $(PKGS))" > $@.tmp
	@echo "PKG_LIBS = $$($(PKG_CONFIG) --libs $(PKGS))" >> $@.tmp
	@mv $@.tmp $@

CFLAGS_ALL = $(CSTD) $(WARN) $(OPT) $(PKG_CFLAGS) $(CPPFLAGS) $(CFLAGS)

all: twiliofs

twiliofs: $(OBJ)
	$(CC) $(LDFLAGS) -o $@ $(OBJ) $(PKG_LIBS)

build/obj/%.o: src/%.c $(HDR) build/config.mk
	@mkdir -p build/obj
	$(CC) $(CFLAGS_ALL) -c -o $@ $<

# The same code under AddressSanitizer + UndefinedBehaviorSanitizer, for
# the tests: the unit tests and an instrumented twiliofs binary.
build/asan/%.o: src/%.c $(HDR) build/config.mk
	@mkdir -p build/asan
	$(CC) $(CSTD) $(WARN) -O1 -g $(SANITIZE) $(PKG_CFLAGS) $(CPPFLAGS) \
		-DTFS_SANITIZED -c -o $@ $<

build/asan/twiliofs: $(ASAN_OBJ)
	$(CC) $(SANITIZE) -o $@ $(ASAN_OBJ) $(PKG_LIBS)

build/asan/test_%: tests/unit/test_%.c $(wildcard tests/unit/*.h) $(ASAN_LIB_OBJ)
	$(CC) $(CSTD) $(WARN) -O1 -g $(SANITIZE) $(PKG_CFLAGS) $(CPPFLAGS) \
		-o $@ $< $(ASAN_LIB_OBJ) $(PKG_LIBS)

# Every Debian package to build and to test: apt-get, as root or through
# sudo; only the missing ones.
deps:
	@sh scripts/install-deps.sh all

test-deps:
	@sh scripts/install-deps.sh test

# Everything: unit tests and CLI tests under the sanitizers, plus the
# memory-bound checks against the optimised binary. Installs the test
# tools that are missing first (test-deps). T=NAME... runs only the
# suites so named (tests/run.sh), e.g. make check T=integration/mount.
check: twiliofs build/asan/twiliofs $(UNIT_BIN) test-deps
	@sh tests/run.sh $(T)

# The bundled demo account, mounted at ./demo-mnt (see README).
# scripts/demo.sh installs what is missing, then builds twiliofs.
demo:
	@sh scripts/demo.sh

demo-stop:
	@sh scripts/demo-stop.sh

bench: twiliofs test-deps
	@sh tests/bench/run.sh

lint:
	@sh scripts/lint.sh

# Hostile input (issue 10): libFuzzer targets (make fuzz) and a
# ThreadSanitizer build (make tsan), each in its own fragment.
include mk/fuzz.mk
include mk/tsan.mk

install: twiliofs
	mkdir -p $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(MANPREFIX)/man1
	cp -f twiliofs $(DESTDIR)$(PREFIX)/bin/twiliofs
	chmod 755 $(DESTDIR)$(PREFIX)/bin/twiliofs
	# The page carries its version (make lint checks it is config.mk's).
	cp -f man/twiliofs.1 $(DESTDIR)$(MANPREFIX)/man1/twiliofs.1
	chmod 644 $(DESTDIR)$(MANPREFIX)/man1/twiliofs.1
	mkdir -p $(DESTDIR)$(COMPLETIONDIR)
	cp -f contrib/twiliofs.bash-completion $(DESTDIR)$(COMPLETIONDIR)/twiliofs
	chmod 644 $(DESTDIR)$(COMPLETIONDIR)/twiliofs

uninstall:
	rm -f $(DESTDIR)$(PREFIX)/bin/twiliofs \
		$(DESTDIR)$(MANPREFIX)/man1/twiliofs.1 \
		$(DESTDIR)$(COMPLETIONDIR)/twiliofs

dist:
	git archive --format=tar.gz --prefix=twiliofs-$(VERSION)/ \
		-o twiliofs-$(VERSION).tar.gz HEAD

clean:
	rm -rf build twiliofs twiliofs-*.tar.gz

.PHONY: all check demo demo-stop bench lint install uninstall dist clean \
	deps test-deps
