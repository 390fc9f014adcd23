# twiliofs - GNU make. Targets: all check bench install uninstall clean
# dist lint. Missing Debian packages are installed by
# scripts/install-deps.sh (as root, or through sudo).
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

# Compiler and linker flags of the libraries, found once the packages
# are there (make re-reads this file after building it).
NO_DEPS_GOALS = clean distclean lint dist
ifeq ($(filter $(NO_DEPS_GOALS),$(MAKECMDGOALS)),)
-include build/config.mk
endif

build/config.mk: scripts/install-deps.sh config.mk
	@sh scripts/install-deps.sh build
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

test-deps:
	@sh scripts/install-deps.sh test

# Everything: unit tests and CLI tests under the sanitizers, plus the
# memory-bound checks against the optimised binary.
check: twiliofs build/asan/twiliofs $(UNIT_BIN) test-deps
	@sh tests/run.sh

# The bundled demo account, mounted at ./demo-mnt (see README).
demo: twiliofs test-deps
	@sh scripts/demo.sh

demo-stop:
	@sh scripts/demo-stop.sh

bench: twiliofs test-deps
	@sh tests/bench/run.sh

lint:
	@sh scripts/lint.sh

install: twiliofs
	mkdir -p $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(MANPREFIX)/man1
	cp -f twiliofs $(DESTDIR)$(PREFIX)/bin/twiliofs
	chmod 755 $(DESTDIR)$(PREFIX)/bin/twiliofs
	sed 's/VERSION/$(VERSION)/g' man/twiliofs.1 \
		> $(DESTDIR)$(MANPREFIX)/man1/twiliofs.1
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

.PHONY: all check demo demo-stop bench lint install uninstall dist clean test-deps
