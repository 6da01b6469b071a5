#!/bin/sh
# Installs llama.cpp's Node binding (node-llama-cpp with its prebuilt linux-x64 CPU binary) into a
# prefix of its own, outside the project: it is a peer for `npm run bench -- llm`, not a dependency
# (its optional GPU packages are hundreds of MB). Only npm packages are downloaded: optional
# packages are omitted and install scripts are not run, so nothing is built and node-llama-cpp's
# postinstall cannot fetch llama.cpp sources or binaries; the prebuilt package is installed by name.
#   sh bench/peers/setup-llama-cpp.sh            (prefix: ~/.cache/tsgrad/peers/llama-cpp)
#   LLAMA_CPP_PREFIX=/some/dir sh bench/peers/setup-llama-cpp.sh
set -eu
VERSION=3.22.1
PREFIX="${LLAMA_CPP_PREFIX:-${TSGRAD_CACHE_DIR:-$HOME/.cache/tsgrad}/peers/llama-cpp}"
mkdir -p "$PREFIX"
# a package.json of its own, so npm does not walk up into an enclosing project
[ -f "$PREFIX/package.json" ] || printf '{ "name": "tsgrad-peer-llama-cpp", "private": true }\n' >"$PREFIX/package.json"
npm install --prefix "$PREFIX" --omit=optional --ignore-scripts --no-audit --no-fund \
  "node-llama-cpp@$VERSION" "@node-llama-cpp/linux-x64@$VERSION"
# Check that the binding loads the prebuilt binary and never tries to build or download one. (A file,
# not `node -e`: the binding tests itself in a forked child, which would rerun the -e code.)
cat >"$PREFIX/check.mjs" <<'JS'
import { getLlama } from 'node-llama-cpp'
const llama = await getLlama({ gpu: false, build: 'never', usePrebuiltBinaries: true, progressLogs: false })
console.log(`node-llama-cpp ready: prebuilt ${llama.buildType === 'prebuilt'}, gpu ${llama.gpu}`)
await llama.dispose()
JS
NODE_LLAMA_CPP_SKIP_DOWNLOAD=true node "$PREFIX/check.mjs"
echo "installed in $PREFIX"
