#!/usr/bin/env bash
# `make dev-check`: proves `make dev` on the running stack (started here if needed). Runs the
# watcher (scripts/dev.ts), makes one real change to one function's Rust (order-events' body
# limit, functions/order-events/src/lib.rs, 256 KiB -> 4321 bytes), and checks that
#   - the function serves the change (a 5000-byte POST answers 413 "larger than 4321 bytes")
#     within DEV_CHECK_LIMIT seconds (20) of the edit,
#   - only order-events got a new process (pids from the gateway's /health),
# then restores the file, checks the original limit is served again by a new process (the
# others still untouched), stops the watcher and rebuilds order-events optimised (as make build).
# The file is restored on any exit.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
LIMIT="${DEV_CHECK_LIMIT:-20}"
FN=order-events
SRC="functions/$FN/src/lib.rs"
FROM="max_body = edge_webhook::DEFAULT_MAX_BODY"
TO="max_body = 4321"
grep -qF "$FROM" "$SRC" || die "$SRC no longer has '$FROM': update the probe in $0"

scripts/stack.sh start >/dev/null
mkdir -p "$LOGS"
backup="$(mktemp)"
cp -p "$SRC" "$backup"
watch_log="$LOGS/dev-check.log"
: >"$watch_log"
watcher=""
cleanup() {
  local rc=$?
  if ! cmp -s "$backup" "$SRC"; then cp -p "$backup" "$SRC"; fi
  rm -f "$backup"
  if [ -n "$watcher" ]; then kill -TERM -- "-$watcher" 2>/dev/null || true; fi
  if [ "$rc" -ne 0 ]; then echo "dev-check FAILED; the watcher's output ($watch_log):" >&2; cat "$watch_log" >&2; fi
  exit "$rc"
}
trap cleanup EXIT
setsid "$DENO" run --quiet --allow-read --allow-run --allow-env scripts/dev.ts >"$watch_log" 2>&1 </dev/null &
watcher=$!
for _ in $(seq 300); do grep -q "^dev: watching" "$watch_log" && break; sleep 0.1; done
grep -q "^dev: watching" "$watch_log" || die "the watcher did not start"

pids() { curl -s --max-time 2 "$API_URL/health" | grep -oE '"name":"[^"]+","ready":(true|false),"port":[0-9]+,"pid":([0-9]+|null)' | sed -E 's/^"name":"([^"]+)".*"pid":([0-9]+|null)$/\1 \2/' | LC_ALL=C sort; }
probe() { head -c 5000 /dev/zero | tr '\0' a | curl -s --max-time 5 -X POST --data-binary @- "$API_URL/functions/v1/$FN" || true; }
others() { grep -v "^$FN " <<<"$1"; }
# Waits until probe's answer contains $1 (or, with "!", no longer does); prints the seconds.
wait_for() { # text [!]
  local t0 now body
  t0="$(date +%s%N)"
  while :; do
    body="$(probe)"
    if [ "${2:-}" = "!" ]; then [[ "$body" != *"$1"* && -n "$body" ]] && break; else [[ "$body" == *"$1"* ]] && break; fi
    now="$(date +%s%N)"
    [ $(((now - t0) / 1000000000)) -lt 120 ] || die "not served after 120 s (last answer: $body)"
    sleep 0.2
  done
  now="$(date +%s%N)"
  awk -v ns=$((now - t0)) 'BEGIN { printf "%.1f", ns / 1e9 }'
}

before="$(pids)"
[[ "$(probe)" != *"larger than 4321 bytes"* ]] || die "$FN already has the probe's limit: wasm-pkg/$FN is stale (make build)"
sed -i "s/$FROM/$TO/" "$SRC"
served="$(wait_for "larger than 4321 bytes")"
changed="$(pids)"
cp -p "$backup" "$SRC"; touch "$SRC"
restored="$(wait_for "larger than 4321 bytes" !)"
after="$(pids)"

fail=0
[ "$(others "$before")" = "$(others "$changed")" ] || { echo "other functions restarted after the edit:"; diff <(others "$before") <(others "$changed"); fail=1; }
[ "$(others "$before")" = "$(others "$after")" ] || { echo "other functions restarted after the restore:"; diff <(others "$before") <(others "$after"); fail=1; }
old_pid="$(grep "^$FN " <<<"$before" | cut -d' ' -f2)"
mid_pid="$(grep "^$FN " <<<"$changed" | cut -d' ' -f2)"
new_pid="$(grep "^$FN " <<<"$after" | cut -d' ' -f2)"
{ [ "$old_pid" != "$mid_pid" ] && [ "$mid_pid" != "$new_pid" ]; } || { echo "$FN was not restarted: pids $old_pid $mid_pid $new_pid"; fail=1; }
awk -v s="$served" -v l="$LIMIT" 'BEGIN { exit !(s <= l) }' || { echo "the edit was served after $served s (limit $LIMIT s)"; fail=1; }
echo "make dev: an edit of $SRC was served in $served s (limit $LIMIT s), its revert in $restored s;"
echo "  only $FN restarted (pid $old_pid -> $mid_pid -> $new_pid); $(others "$before" | wc -l) others kept their pid"
[ "$fail" = 0 ] || exit 1
# Leave order-events built as make build builds it (the watcher skipped wasm-opt).
kill -TERM -- "-$watcher" 2>/dev/null || true; watcher=""
scripts/build-wasm.sh "$FN" >/dev/null && scripts/stack.sh reload >/dev/null
echo "dev-check passed"
