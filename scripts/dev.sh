#!/usr/bin/env bash
# `make dev`: start (or refresh) the local stack, then watch the sources and rebuild and restart
# only the functions a change affects (scripts/dev.ts). Ctrl-C stops watching; the stack keeps
# running (make stop).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
scripts/stack.sh start >/dev/null
echo "Local stack is running: http://127.0.0.1:$API_PORT (make status for the parts and keys)."
exec "$DENO" run --quiet --allow-read --allow-run --allow-env "$ROOT/scripts/dev.ts"
