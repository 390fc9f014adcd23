# twiliofs version and install locations (suckless-style config.mk)
VERSION = 0.1.0

PREFIX ?= /usr/local
MANPREFIX ?= $(PREFIX)/share/man
COMPLETIONDIR ?= $(PREFIX)/share/bash-completion/completions

PKG_CONFIG ?= pkg-config
# Every library the program is built against, through pkg-config.
PKGS = fuse3 openssl libcurl sqlite3

CC ?= cc
CSTD = -std=c11 -D_POSIX_C_SOURCE=200809L
WARN = -Wall -Wextra -Wpedantic -Werror
OPT ?= -O2 -g
SANITIZE = -fsanitize=address,undefined -fno-sanitize-recover=all \
	-fno-omit-frame-pointer
