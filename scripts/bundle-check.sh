#!/usr/bin/env bash
# The deploy-shape check (scripts/bundle-check.ts): every function bundled alone, run without
# read permission, answering a preflight and a wasm-served GET. Needs `make build` first.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
exec "$DENO" run --allow-all --no-prompt scripts/bundle-check.ts "$@"
