#!/bin/sh
# gen-board.sh BOARD.conf: prints a C header that defines EKB_BOARD_DEFAULT_TEXT,
# the board file's text as a string literal (compiled into the binary as its
# default configuration; parsed at start by board_parse like --board FILE).
set -eu
[ $# -eq 1 ] && [ -r "$1" ] || { echo "usage: gen-board.sh BOARD.conf" >&2; exit 2; }
printf '/* generated from %s by tools/gen-board.sh: do not edit */\n' "$1"
printf '#define EKB_BOARD_DEFAULT_TEXT \\\n'
sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' -e 's/^/    "/' -e 's/$/\\n" \\/' "$1"
printf '    ""\n'
