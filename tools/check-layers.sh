#!/bin/sh
# check-layers.sh: the dependency rule of docs/architecture.md, checked on
# the code. Every file of src/, include/ and port/ belongs to a module (its
# name without the extension) and every module to a layer (the table
# below, bottom up). Fails on:
#   - an #include "x.h" of a higher layer (upward include);
#   - a cycle among modules (same-layer includes are allowed, cycles not);
#   - <immintrin.h>, <arm_neon.h> (or other SIMD headers) outside kern_*;
#   - sqlite3_ calls or <sqlite3.h> outside the store (store*.c), search.c, bm25.c
#     and selftest.c;
#   - a file no layer claims.
# --graph prints the module graph (module -> modules it includes, with
# layers) instead of checking. --selftest plants each kind of violation in
# a copy of the tree and fails unless every one is caught. EKB_TREE: the
# tree to check (default: this checkout).
set -u
self=$(cd "$(dirname "$0")" && pwd)/$(basename "$0")
if [ "${1:-}" = "--selftest" ]; then
  t=$(mktemp -d); trap 'rm -rf "$t"' EXIT
  root=$(cd "$(dirname "$0")/.." && pwd)
  fails=0
  for plant in 'src/utf8.c|#include "srv.h"' 'src/vq.c|#include "hnsw.h"' 'src/store.c|#include <immintrin.h>' \
               'src/proto.c|static void f(void) { sqlite3_free(0); }' 'src/newmod.c|int x;'; do
    rm -rf "$t/tree"; mkdir -p "$t/tree"; cp -r "$root/src" "$root/include" "$root/port" "$t/tree/"
    f=${plant%%|*}; line=${plant#*|}
    printf '%s\n' "$line" >>"$t/tree/$f"
    if EKB_TREE="$t/tree" sh "$self" >/dev/null 2>&1; then echo "check-layers selftest: NOT caught: $line in $f"; fails=1; fi
  done
  EKB_TREE="$root" sh "$self" >/dev/null 2>&1 || { echo "check-layers selftest: the real tree fails"; fails=1; }
  [ $fails -eq 0 ] && echo "check-layers selftest: ok (upward include, cycle, SIMD header, SQLite call, unknown module: each caught)"
  exit $fails
fi
cd "${EKB_TREE:-$(dirname "$0")/..}" || exit 2
mode=check
[ "${1:-}" = "--graph" ] && mode=graph

files=$(ls src/*.c src/*.h include/*.h port/*.c 2>/dev/null)
# module: layer (first matching pattern wins; an ERE on the module name)
layers='
^(version|board_default)$ 0 generated
^(ekb_err|ekb_limits|ekb_assert|err|port|cpu|fake|linux|util|arena|log|crypto|pool|board|gov|utf8|lru|hist)$ 0 base
^(kern.*|app)$ 1 kernels
^(gguf.*|tok.*|jsonl|lex)$ 2 formats
^wt$ 3 weights
^(llm|bert|use)$ 4 models
^embed$ 5 embed
^(vq|hnsw.*|names)$ 6 vectors
^(store.*|chunk)$ 7 store
^(search|snippet|bm25|link|rel|path|find|ask)$ 8 search
^proto$ 9 protocol
^srv.*$ 10 server
^(main|cli_.*|cmds|selftest)$ 11 front-ends
'

# "file module" lines, then "file included-module" edges
awk -v mode="$mode" -v layers="$layers" '
function modof(path,   m) { m = path; sub(/.*\//, "", m); sub(/\.[ch]$/, "", m); sub(/_(int|impl)$/, "", m); return m }
function layerof(m,   i) { for (i = 1; i <= nl; i++) if (m ~ pat[i]) return lay[i]; return -1 }
BEGIN {
    n = split(layers, L, "\n")
    for (i = 1; i <= n; i++) {
        if (L[i] == "") continue
        split(L[i], f, " ")
        nl++; pat[nl] = f[1]; lay[nl] = f[2] + 0; lname[f[2] + 0] = f[3]
    }
    bad = 0
}
FNR == 1 { m = modof(FILENAME); mods[m] = 1; file[m] = FILENAME; if (layerof(m) < 0) { print "check-layers: " FILENAME ": no layer for module " m; bad = 1 } }
/^[ \t]*#[ \t]*include[ \t]*"/ {
    inc = $0; sub(/^[^"]*"/, "", inc); sub(/".*/, "", inc); t = modof(inc)
    if (t != m && !((m SUBSEP t) in edge)) { edge[m, t] = 1; out[m] = out[m] " " t }
    if (layerof(t) > layerof(m))
        { printf "check-layers: %s:%d: upward include of %s (layer %d %s) from %s (layer %d %s)\n", FILENAME, FNR, inc, layerof(t), lname[layerof(t)], m, layerof(m), lname[layerof(m)]; bad = 1 }
}
/^[ \t]*#[ \t]*include[ \t]*<(immintrin|x86intrin|emmintrin|smmintrin|arm_neon|arm_sve)\.h>/ {
    if (m !~ /^kern/) { printf "check-layers: %s:%d: SIMD header outside the kernel files\n", FILENAME, FNR; bad = 1 }
}
/sqlite3_|<sqlite3\.h>/ && $0 !~ /^[ \t]*(\*|\/\*|\/\/)/ {
    code = $0; gsub(/\/\*.*\*\//, "", code); sub(/\/\*.*/, "", code); sub(/\/\/.*/, "", code)
    if (code ~ /sqlite3_|<sqlite3\.h>/ && m !~ /^store/ && m != "search" && m != "bm25" && m != "selftest") { printf "check-layers: %s:%d: SQLite outside the store and search modules\n", FILENAME, FNR; bad = 1 }
}
function dfs(u,   k, v, lst, nk) {
    color[u] = 1; stack[++sp] = u
    nk = split(out[u], lst, " ")
    for (k = 1; k <= nk; k++) {
        v = lst[k]
        if (!(v in mods)) continue
        if (color[v] == 1) { cyc = v; for (j = sp; j >= 1 && stack[j] != v; j--) cyc = stack[j] " -> " cyc; print "check-layers: include cycle: " v " -> " cyc; bad = 1 }
        else if (color[v] == 0) dfs(v)
    }
    sp--; color[u] = 2
}
END {
    if (mode == "graph") {
        lname[-1] = "(no layer)"
        for (l = -1; l <= 11; l++)
            for (u in mods) if (layerof(u) == l) {
                nk = split(out[u], lst, " "); s = ""
                for (k = 1; k <= nk; k++) if (lst[k] in mods) s = s " " lst[k]
                printf "%2d %-10s %-16s ->%s\n", l, lname[l], u, s
            }
        exit 0
    }
    for (u in mods) color[u] = 0
    for (u in mods) if (color[u] == 0) dfs(u)
    if (bad) exit 1
    printf "check-layers: ok (%d modules, %d layers; no upward include, no cycle, SIMD only in kern_*, SQLite only in store*/search/bm25)\n", length(mods), 12
}' $files >"${TMPDIR:-/tmp}/check-layers.$$"
rc=$?
if [ "$mode" = graph ]; then sort -n -k1,1 -k3,3 "${TMPDIR:-/tmp}/check-layers.$$"; else cat "${TMPDIR:-/tmp}/check-layers.$$"; fi
rm -f "${TMPDIR:-/tmp}/check-layers.$$"
exit $rc
