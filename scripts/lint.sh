#!/bin/sh
# SPDX-License-Identifier: MIT
# lint.sh - house-style checks the compiler does not make (style.md):
# banned functions, 80 columns, an SPDX line at the top of every C file.
set -u
cd "$(dirname "$0")/.." || exit 1
files=$(ls src/*.c include/twiliofs/*.h tests/unit/*.c tests/unit/*.h \
	2>/dev/null)
bad=0

# strcpy, sprintf, strcat, gets, atoi and alloca: unbounded or unchecked.
if grep -nE '(^|[^_a-z])(strcpy|sprintf|vsprintf|strcat|gets|atoi|atol|alloca)[[:space:]]*\(' \
    $files; then
	echo "lint: banned function (use snprintf with a check, strtol)" >&2
	bad=1
fi
# Tabs count as 8 columns.
if awk '{ line = $0; gsub(/\t/, "        ", line);
	if (length(line) > 80) { print FILENAME ":" FNR ": " length(line) " columns"; n++ } }
	END { exit n > 0 }' $files; then :; else
	echo "lint: lines longer than 80 columns" >&2
	bad=1
fi
for f in $files; do
	head -n 1 "$f" | grep -q 'SPDX-License-Identifier' || {
		echo "$f: no SPDX-License-Identifier on line 1" >&2
		bad=1
	}
done
[ $bad -eq 0 ] && echo "lint: ok"
exit $bad
