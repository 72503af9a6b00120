#!/usr/bin/env bash
# Everything `make test` runs, in order, with one closing line `N passed, N failed` that counts
# every test of every suite plus each lint/format check (as one each).
#   1. cargo fmt --check; clippy -D warnings (native and wasm32); deno fmt --check; deno lint
#   2. cargo test (shared/ and the crates, natively)
#   3. Deno unit tests of the wasm modules and wrappers (tests/unit)
#   4. end-to-end tests against the local stack (tests/e2e; started here if not running, and
#      stopped again at the end if this script started it)
set -uo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
mkdir -p "$LOGS"
export NO_COLOR=1

passed=0
failed=0
failures=()

check() { # name command...: a lint/format step counts as one test
  local name="$1"; shift
  echo "== $name"
  if "$@"; then passed=$((passed + 1)); else failed=$((failed + 1)); failures+=("$name"); fi
}

count_cargo() { # log
  local p f
  p=$(grep -Eo 'test result: [A-Za-z]+\. [0-9]+ passed; [0-9]+ failed' "$1" | awk '{s+=$4} END {print s+0}')
  f=$(grep -Eo 'test result: [A-Za-z]+\. [0-9]+ passed; [0-9]+ failed' "$1" | awk '{s+=$6} END {print s+0}')
  passed=$((passed + p)); failed=$((failed + f))
}

count_deno() { # log
  local line p f
  line=$(grep -E '^(ok|FAILED) \| [0-9]+ passed' "$1" | tail -n 1)
  p=$(sed -E 's/^[A-Z a-z]+\| ([0-9]+) passed.*/\1/' <<<"$line"); p=${p:-0}
  f=$(sed -E 's/.*\| ([0-9]+) failed.*/\1/' <<<"$line"); [[ "$f" =~ ^[0-9]+$ ]] || f=0
  passed=$((passed + p)); failed=$((failed + f))
}

suite() { # name kind(cargo|deno) command...
  local name="$1" kind="$2"; shift 2
  local log="$LOGS/test-$name.log"
  echo "== $name"
  "$@" 2>&1 | tee "$log"
  local rc=${PIPESTATUS[0]}
  local before=$((passed + failed))
  if [ "$kind" = cargo ]; then count_cargo "$log"; else count_deno "$log"; fi
  if [ "$rc" != 0 ]; then
    failures+=("$name")
    # A suite that failed without reporting a failed test (it did not build, say) counts once.
    if [ "$((passed + failed))" = "$before" ] || ! grep -Eq '([1-9][0-9]*) failed' "$log"; then failed=$((failed + 1)); fi
  fi
}

# 1. format and lint
check "cargo fmt" cargo fmt --all -- --check
check "clippy (native)" cargo clippy --workspace --all-targets --quiet -- -D warnings
check "clippy (wasm32)" cargo clippy --workspace --target wasm32-unknown-unknown --release --quiet -- -D warnings
check "deno fmt" "$DENO" fmt --check --quiet
check "deno lint" "$DENO" lint --quiet

# 2. Rust unit and property tests
suite cargo-test cargo cargo test --workspace

# 3. Deno tests of the wasm modules and wrappers
suite deno-unit deno "$DENO" test --allow-read --allow-env --allow-write=/tmp --allow-net=127.0.0.1 tests/unit/

# 4. end to end on the local stack
started=0
if ! curl -sf -o /dev/null --max-time 1 "http://127.0.0.1:$API_PORT/health"; then
  echo "== starting the local stack"
  if "$ROOT/scripts/stack.sh" start >"$LOGS/test-stack.log" 2>&1; then started=1; else cat "$LOGS/test-stack.log"; fi
else
  # Reuse the running stack, but make sure it serves the wasm just built and the migrations.
  "$ROOT/scripts/stack.sh" refresh >/dev/null
fi
# The README's first call: process-order on the seeded pending order returns its total. Only
# while that order is still pending (always on a fresh database, as in CI).
seeded="$(psql_db -At -c "select status from public.orders where id = 1" 2>/dev/null || true)"
if [ "$seeded" = pending ]; then
  check "README curl: process-order on the seeded order returns its total" bash -c \
    "curl -s -X POST http://127.0.0.1:$API_PORT/functions/v1/process-order -H 'Authorization: Bearer $SERVICE_ROLE_KEY' \
       -H 'Content-Type: application/json' -d '{\"order_id\": 1}' | tee /dev/stderr | grep -q '\"total_amount\":6227'"
else
  echo "== README curl check skipped: the seeded order is already $seeded (make reset to rebuild)"
fi
suite e2e deno "$DENO" test --allow-all tests/e2e/
[ "$started" = 1 ] && "$ROOT/scripts/stack.sh" stop >/dev/null

echo
[ ${#failures[@]} -gt 0 ] && echo "failed: ${failures[*]}"
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
