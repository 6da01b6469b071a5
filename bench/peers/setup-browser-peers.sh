#!/bin/sh
# Installs the browser peers of `npm run bench -- browser` (jax-js, TensorFlow.js with its wasm and
# webgpu backends, onnxruntime-web) into a prefix of their own, outside the project: they are peers
# to time against in a page, not dependencies. Only npm packages are downloaded; install scripts
# are not run (the packages ship their .wasm files).
#   sh bench/peers/setup-browser-peers.sh         (prefix: ~/.cache/tsgrad/peers/browser)
#   BROWSER_PEERS_PREFIX=/some/dir sh bench/peers/setup-browser-peers.sh
set -eu
PREFIX="${BROWSER_PEERS_PREFIX:-${TSGRAD_CACHE_DIR:-$HOME/.cache/tsgrad}/peers/browser}"
mkdir -p "$PREFIX"
# a package.json of its own, so npm does not walk up into an enclosing project
[ -f "$PREFIX/package.json" ] || printf '{ "name": "tsgrad-peer-browser", "private": true }\n' >"$PREFIX/package.json"
npm install --prefix "$PREFIX" --ignore-scripts --no-audit --no-fund \
  "@jax-js/jax@0.1.25" \
  "@tensorflow/tfjs@4.22.0" "@tensorflow/tfjs-backend-wasm@4.22.0" "@tensorflow/tfjs-backend-webgpu@4.22.0" \
  "onnxruntime-web@1.31.1"
echo "installed in $PREFIX"
