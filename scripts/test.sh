#!/usr/bin/env bash
# Everything `make test` runs, in order, with a per-suite table and one closing line
# `N passed, N failed` that counts every test of every suite plus each check (lint/format steps,
# the README call, the counter self-test) as one each. Setup steps (starting the stack) are not
# counted, but a failed one fails the run.
#
#   scripts/test.sh [group...]     default: selftest lint unit deno-test package sql e2e (what `make test` runs)
#     selftest   the counter's self-test on crafted logs (scripts/test-selftest.sh)
#     lint       cargo fmt --check; clippy -D warnings (native and wasm32); deno fmt --check; deno lint;
#                the lockfiles current (scripts/check-locks.sh)
#     unit       cargo test --workspace
#     deno-test  Deno tests of the wasm modules and wrappers (tests/unit; needs `make build`), and
#                the webhook schemes' interop with the providers' npm SDKs (tests/interop; Deno
#                `npm:` specifiers cached under DENO_DIR, downloaded on the first run)
#     package    webhook-verify as packages: npm pack + install into a /tmp Node project + verify
#                with Node and Deno (Bun if present); deno publish --dry-run; cargo package of
#                edge-webhook (scripts/package-check.sh; needs `make build`)
#     sql        the SQL rules against PostgreSQL (tests/sql; starts the database if needed)
#     e2e        the README call and tests/e2e against the local stack (started here if it is not
#                running, and stopped again at the end if this script started it; needs `make build`)
#     check      the fast loop (`make check`): selftest, cargo fmt --check, clippy (native),
#                cargo test of the shared/ crates, deno fmt --check, deno lint. No stack, no wasm build.
#
# How a suite is judged (scripts/test-lib.sh): the runner's own exit code AND its own
# machine-readable report (libtest's JSON events through scripts/cargo-test-json.sh; the JUnit
# file Deno writes, named @JUNIT@ in the command; doc tests, which have none on stable, by
# their strict `test result:` lines), each under a timeout, with at least the minimum number of tests below. A runner that exits
# non-zero, is killed, times out, or reports fewer tests than its minimum fails the run.
#
# Adding a suite: one line in the group that needs it (or a new group below),
#   suite <name> <cargojson|cargo|deno|check> <minimum tests or -> <timeout> <command...>
# and a MIN_* variable here for its current count. Setup that is not a test: setup <name>
# <timeout> <command...>. See the "LEAD:" markers for the places kept for the next suites.
set -uo pipefail
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/test-lib.sh"
cd "$ROOT"
mkdir -p "$LOGS"
TEST_LOGS="$LOGS"
# A NEW stack database is built as an upgrade (scripts/db.sh): the migrations before this
# version, the live data of that schema's code (scripts/sql/live-before-<version>.sql), then the
# newer migrations; the e2e suite runs on it (tests/e2e/upgraded.test.ts checks the live data).
# STACK_UPGRADE_FROM= (empty) builds it straight, as make start does.
export STACK_UPGRADE_FROM="${STACK_UPGRADE_FROM-20261204001000}"
export NO_COLOR=1 CARGO_TERM_COLOR=never

# The least number of tests each suite must report: the counts when these were last set. A
# suite that silently shrinks (a file no longer picked up, tests skipped) fails. Raise them when
# you add tests; lower them only on purpose, in the same commit that removes tests.
# Deno counts are JUnit <testcase> elements: tests and their steps.
MIN_CARGO_TEST=188        # cargo test --workspace: unit and property tests (libtest JSON)
MIN_CARGO_DOC=4           # cargo test --workspace --doc
MIN_CARGO_TEST_SHARED=184 # the four shared/ crates (the fast loop), without doc tests
MIN_DENO_UNIT=33          # tests/unit
MIN_INTEROP=12            # tests/interop (provider schemes, their SDKs both ways)
MIN_E2E=118               # tests/e2e
MIN_E2E_NEW=117           # tests/e2e with FUNCTION_KEYS=new (one legacy-key test fewer)
MIN_BROWSER=3             # tests/browser (headless Chromium)
MIN_BROWSER_NEW=2         # tests/browser with FUNCTION_KEYS=new
MIN_SQL=111               # tests/sql (the SQL rules against PostgreSQL, two sessions where it matters)

run_selftest() {
  suite "counter self-test" check - 2m scripts/test-selftest.sh
}

run_lint() {
  suite "cargo fmt" check - 10m cargo fmt --all -- --check
  suite "clippy (native)" check - 10m cargo clippy --workspace --all-targets --quiet -- -D warnings
  suite "clippy (wasm32)" check - 10m \
    cargo clippy --workspace --target wasm32-unknown-unknown --release --quiet -- -D warnings
  suite "deno fmt" check - 10m "$DENO" fmt --check --quiet
  suite "deno lint" check - 10m "$DENO" lint --quiet
  suite "lockfiles current (fuzz/Cargo.lock, package-lock.json)" check - 5m scripts/check-locks.sh
}

run_unit() {
  # --no-fail-fast: every binary runs and reports, so the counts are complete.
  suite cargo-test cargojson "$MIN_CARGO_TEST" 15m scripts/cargo-test-json.sh --workspace
  suite cargo-doctest cargo "$MIN_CARGO_DOC" 10m cargo test --workspace --doc --no-fail-fast
}

run_deno_unit() {
  suite deno-unit deno "$MIN_DENO_UNIT" 5m \
    "$DENO" test --junit-path=@JUNIT@ --allow-read --allow-env --allow-write=/tmp --allow-net=127.0.0.1 tests/unit/
  # The providers' SDKs come as `npm:` specifiers from DENO_DIR, not from the shared node_modules.
  suite webhook-interop deno "$MIN_INTEROP" 10m \
    "$DENO" test --junit-path=@JUNIT@ --node-modules-dir=none --allow-read --allow-env --allow-net --allow-sys tests/interop/
  # LEAD: the bundle test goes here (or in its own group), e.g.
  #   suite bundle deno "$MIN_BUNDLE" 10m "$DENO" test --junit-path=@JUNIT@ --allow-all tests/bundle/
}

run_package() {
  suite "package: npm pack, install, verify (node, deno)" check - 5m scripts/package-check.sh npm
  suite "package: deno publish --dry-run" check - 5m scripts/package-check.sh jsr
  suite "package: cargo package edge-webhook" check - 10m scripts/package-check.sh cargo
}

# tests/sql needs the database only (each file gets a scratch database of its own, a copy of the
# run's migrated template: tests/sql/run.sh; all are dropped at the end).
run_sql() {
  setup "database" 5m scripts/db.sh start || { not_run sql deno "$MIN_SQL" "the database did not start"; return; }
  suite sql deno "$MIN_SQL" 10m tests/sql/run.sh --junit-path=@JUNIT@ --allow-all tests/sql/
  # Deleting each rule the SQL enforces (order_changed, per-order claims, the payment recheck,
  # the product lock order, the in-flight check) must turn tests/sql red.
  suite "SQL mutations each caught by tests/sql" check - 10m tests/sql/mutations.sh
}

# The README's first call: process-order on the seeded pending order answers 200 with its
# total. Runs through `suite` (as a check), so it sees only exported variables: the values
# are passed as arguments.
readme_call() { # api_port secret_key body_file deno
  local code
  code="$(curl -s -o "$3" -w '%{http_code}' --max-time 30 -X POST "http://127.0.0.1:$1/functions/v1/process-order" \
    -H "apikey: $2" -H 'Content-Type: application/json' -d '{"order_id": 1}')"
  echo "HTTP $code"
  cat "$3"
  echo
  [ "$code" = 200 ] && "$4" eval --quiet "const b = JSON.parse(Deno.readTextFileSync('$3'));
    Deno.exit(b.order_id === 1 && b.status === 'processed' && b.total_amount === 6227 ? 0 : 1)"
}

# Order 900001 (pending before the upgrade) processed, and nothing left to deliver to
# order-events (dead deliveries aside), within 60 s.
live_settled() {
  local q="select (select status from public.orders where id = 900001) = 'processed'
    and case when exists (select 1 from webhooks.endpoints where url = 'fn:order-events')
      then not exists (select 1 from webhooks.deliveries d join webhooks.endpoints e on e.id = d.endpoint_id
                       where e.url = 'fn:order-events' and d.status = 'pending')
      else not exists (select 1 from public.event_outbox where status = 'pending') end"
  local i
  for i in $(seq 1 120); do
    [ "$(psql_db -At -c "$q" 2>/dev/null)" = t ] && { echo "settled after $((i / 2)) s"; return 0; }
    sleep 0.5
  done
  psql_db -c "select id, status from public.orders where id >= 900001 order by id"
  return 1
}

STARTED_STACK=0
stop_started_stack() {
  if [ "$STARTED_STACK" = 1 ]; then
    "$ROOT/scripts/stack.sh" stop >/dev/null 2>&1
    STARTED_STACK=0
  fi
}
trap stop_started_stack EXIT

run_e2e() {
  if curl -sf -o /dev/null --max-time 1 "http://127.0.0.1:$API_PORT/health"; then
    # Reuse the running stack, but make sure it serves the wasm just built and the migrations.
    setup "refresh the running stack" 10m scripts/stack.sh refresh ||
      { not_run e2e deno "$MIN_E2E" "the stack did not refresh"; return; }
  else
    STARTED_STACK=1
    setup "start the local stack" 10m scripts/stack.sh start ||
      { not_run e2e deno "$MIN_E2E" "the stack did not start"; return; }
  fi
  # A database built as an upgrade: its live events in flight are delivered before anything is
  # counted (the row counts below must not move under the suites).
  if [ -f "$STACK/upgraded-from" ]; then
    UPGRADED_FROM="$(cat "$STACK/upgraded-from")"; export UPGRADED_FROM
    setup "the upgraded database's live events delivered" 2m live_settled ||
      { not_run e2e deno "$MIN_E2E" "the upgraded database's live events were not delivered"; return; }
  fi
  # Only while the seeded order is still pending (always on a fresh database, as in CI).
  local seeded
  seeded="$(psql_db -At -c "select status from public.orders where id = 1" 2>/dev/null || true)"
  if [ "$seeded" = pending ]; then
    suite "README curl (process-order, order 1)" check - 1m \
      readme_call "$API_PORT" "$SECRET_KEY" "$LOGS/readme-call.json" "$DENO"
  else
    skipped "README curl" "the seeded order is already ${seeded:-unreadable} (make reset to rebuild)"
  fi
  # Every suite below deletes what it adds (tests/cleanup.ts): the row counts of every table
  # must be the same after them (the README call above is the one thing meant to stay).
  setup "row counts before the suites" 2m save_row_counts "$LOGS/row-counts-before-e2e.txt" ||
    { not_run e2e deno "$MIN_E2E" "could not count the rows"; return; }
  suite e2e deno "$MIN_E2E" 15m "$DENO" test --junit-path=@JUNIT@ --allow-all tests/e2e/
  suite browser deno "$MIN_BROWSER" 5m "$DENO" test --junit-path=@JUNIT@ --allow-all tests/browser/
  # The same suite with the new keys only: functions get SUPABASE_PUBLISHABLE_KEYS /
  # SUPABASE_SECRET_KEYS / SUPABASE_JWKS and no legacy key; users get ES256 tokens.
  if setup "functions with the new keys only (FUNCTION_KEYS=new)" 10m env FUNCTION_KEYS=new scripts/stack.sh restart-functions; then
    suite e2e-new-keys deno "$MIN_E2E_NEW" 15m env FUNCTION_KEYS=new "$DENO" test --junit-path=@JUNIT@ --allow-all tests/e2e/
    suite browser-new-keys deno "$MIN_BROWSER_NEW" 5m env FUNCTION_KEYS=new "$DENO" test --junit-path=@JUNIT@ --allow-all tests/browser/
  else
    not_run e2e-new-keys deno "$MIN_E2E" "the functions did not restart with the new keys"
  fi
  setup "functions back to both key systems" 10m env FUNCTION_KEYS=legacy scripts/stack.sh restart-functions || true
  # Load plus faults, short form (make soak runs the long one): invariants and no 5xx outside
  # the moments a part is down.
  suite "soak (30 s, faults, invariants)" check - 10m env SOAK_SECONDS=30 scripts/soak.sh
  suite "e2e, browser and soak left no rows behind" check - 2m same_row_counts "$LOGS/row-counts-before-e2e.txt"
  stop_started_stack
}

run_check() {
  run_selftest
  suite "cargo fmt" check - 10m cargo fmt --all -- --check
  suite "clippy (native)" check - 10m cargo clippy --workspace --all-targets --quiet -- -D warnings
  suite cargo-test-shared cargojson "$MIN_CARGO_TEST_SHARED" 10m \
    scripts/cargo-test-json.sh -p edge-webhook -p edge-platform -p edge-orders -p edge-outbox
  suite "deno fmt" check - 10m "$DENO" fmt --check --quiet
  suite "deno lint" check - 10m "$DENO" lint --quiet
}

groups=("$@")
[ ${#groups[@]} -gt 0 ] || groups=(selftest lint unit deno-test package sql e2e)
for g in "${groups[@]}"; do
  case "$g" in
    selftest) run_selftest ;;
    lint) run_lint ;;
    unit) run_unit ;;
    deno-test) run_deno_unit ;;
    package) run_package ;;
    sql) run_sql ;;
    e2e) run_e2e ;;
    check) run_check ;;
    *) die "unknown group '$g' (selftest lint unit deno-test package sql e2e check)" ;;
  esac
done

echo
echo "took $((SECONDS / 60)) min $((SECONDS % 60)) s"
print_summary
