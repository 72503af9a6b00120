#!/usr/bin/env bash
# `make bench`: every benchmark, each printing its own Markdown table. Starts the local stack if
# it is not running (and stops it again afterwards).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
started=0
if ! curl -sf -o /dev/null --max-time 1 "http://127.0.0.1:$API_PORT/health"; then
  scripts/stack.sh start >/dev/null; started=1
else
  scripts/stack.sh refresh >/dev/null
fi
trap '[ "$started" = 1 ] && scripts/stack.sh stop >/dev/null' EXIT

echo "## wasm modules (bench/sizes.ts)"
"$DENO" run --allow-read bench/sizes.ts
echo; echo "## bundled functions (scripts/bundle-check.ts --bench)"
"$DENO" run --allow-all scripts/bundle-check.ts --bench 7
for b in bench/webhook_verify.ts bench/process_order.ts bench/outbox.ts bench/webhooks.ts; do
  [ -f "$b" ] || continue
  echo; echo "## $b"
  "$DENO" run --allow-all "$b"
done
