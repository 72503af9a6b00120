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

# How the numbers below were measured: quote them with this header.
echo "# make bench, $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "machine: $(nproc) CPUs ($(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo 2>/dev/null || echo "unknown CPU")), $(awk '/^MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo 2>/dev/null), $(uname -sr)"
echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo unknown) (other work on the machine skews the numbers)"
echo "deno $("$DENO" --version | head -1 | cut -d' ' -f2), $(rustc --version | cut -d' ' -f1-2), commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet 2>/dev/null || echo ' (modified)')"
# The benchmarks delete what they add (tests/cleanup.ts): checked at the end.
save_row_counts "$STACK/row-counts-before-bench.txt"
echo

echo "## wasm modules (bench/sizes.ts)"
"$DENO" run --allow-read bench/sizes.ts
echo; echo "## bundled functions (scripts/bundle-check.ts --bench)"
"$DENO" run --allow-all scripts/bundle-check.ts --bench 7
for b in bench/webhook_verify.ts bench/process_order.ts bench/outbox.ts bench/webhooks.ts; do
  [ -f "$b" ] || continue
  echo; echo "## $b"
  "$DENO" run --allow-all "$b"
done
# The providers' SDKs come as `npm:` specifiers from DENO_DIR, not from the shared node_modules.
echo; echo "## bench/webhook_providers.ts"
"$DENO" run --node-modules-dir=none --allow-all bench/webhook_providers.ts
echo
same_row_counts "$STACK/row-counts-before-bench.txt"
