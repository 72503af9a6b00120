#!/usr/bin/env bash
# `make soak`: load plus faults against the local stack (scripts/soak.ts); starts the stack if it
# is not running. SOAK_SECONDS (default 120, at most 300) and SOAK_CLIENTS (default 20).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
if ! curl -sf -o /dev/null --max-time 1 "$API_URL/health"; then scripts/stack.sh start >/dev/null; fi
export STACK PGDATA PG_BIN PGLOG
exec "$DENO" run --allow-all --no-prompt scripts/soak.ts
