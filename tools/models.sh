#!/bin/sh
# models.sh: `make models`. Produces quantized model files under $MODELS_DIR
# (default build/models), cached: a file newer than its input is kept.
#   stories260K-q8_0.gguf, stories260K-q4_0.gguf   from ../shared/models/stories260K.gguf
#                                                  (or $EDGEKB_MODEL_DIR) with `edgekb quantize`
# The default embedder (USE-lite from the npm package, converted by
# tools/use2gguf.mjs) is NOT produced yet: its converter's numerics do not
# match the TF.js model (see the closing notes / docs/architecture.md).
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
EDGEKB=${EDGEKB:-$root/build/x86_64-generic/edgekb}
MODELS_DIR=${MODELS_DIR:-$root/build/models}
SRC=${EDGEKB_MODEL_DIR:-$root/../shared/models}
mkdir -p "$MODELS_DIR"
[ -x "$EDGEKB" ] || { echo "models: $EDGEKB missing: run make first" >&2; exit 1; }
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
