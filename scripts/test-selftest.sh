#!/usr/bin/env bash
# Self-test of the test counter (scripts/test-lib.sh): crafted runner outputs and exit codes,
# each with the verdict and counts it must get. Exits non-zero if any case is judged wrongly.
# `make test` runs it first and `make check` runs it too; it needs only bash and coreutils.
set -uo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
export TEST_LOGS="$WORK"
# shellcheck source=test-lib.sh
source "$HERE/test-lib.sh"

wrong=0
cases=0

# expect NAME KIND RC LOG MIN VERDICT PASSED FAILED [NOTE-SUBSTRING]
expect() {
  local name="$1" kind="$2" rc="$3" log="$4" min="$5" want="$6" want_p="$7" want_f="$8" want_note="${9:-}"
  local out verdict passed failed note status
  out="$("judge_$kind" "$rc" "$log" "$min")"
  status=$?
  read -r verdict passed failed note <<<"$out"
  cases=$((cases + 1))
  local ok=1
  [ "$verdict" = "$want" ] || ok=0
  [ "$passed" = "$want_p" ] || ok=0
  [ "$failed" = "$want_f" ] || ok=0
  # The return status agrees with the printed verdict.
  { [ "$want" = pass ] && [ "$status" = 0 ]; } || { [ "$want" = fail ] && [ "$status" != 0 ]; } || ok=0
  if [ -n "$want_note" ] && [[ "$note" != *"$want_note"* ]]; then ok=0; fi
  if [ "$ok" = 1 ]; then
    printf 'ok     %-64s -> %s\n' "$name" "$out"
  else
    printf 'WRONG  %-64s -> %s (expected %s %s %s %s)\n' "$name" "$out" "$want" "$want_p" "$want_f" "$want_note"
    wrong=$((wrong + 1))
  fi
}

log() { # name: stdin -> $WORK/name.log, prints the path
  cat >"$WORK/$1.log"
  echo "$WORK/$1.log"
}

# --- Deno -------------------------------------------------------------------------------------------

deno_pass="$(log deno-pass <<'EOF'
Check tests/unit/a.test.ts
running 3 tests from ./tests/unit/a.test.ts
a ... ok (256µs)
b ...
  s1 ... ok (0ms)
  s2 ... ok (0ms)
b ... ok (656µs)
c ... ignored (0ms)
running 1 test from ./tests/unit/b.test.ts
d ... ok (1ms)

ok | 3 passed (2 steps) | 0 failed | 1 ignored (1m 8s)

EOF
)"
expect "deno: a normal pass" deno 0 "$deno_pass" 3 pass 3 0
expect "deno: a pass with fewer tests than the minimum" deno 0 "$deno_pass" 4 fail 3 0 "fewer than the minimum 4"
expect "deno: a full pass summary but exit 1" deno 1 "$deno_pass" 3 fail 3 0 "exit 1 although"
expect "deno: a full pass summary, then the timeout fired" deno 124 "$deno_pass" 3 fail 3 0 "timed out"

deno_only="$(log deno-only <<'EOF'
running 1 test from ./only_test.ts
a ... ok (275µs)

ok | 1 passed | 0 failed | 1 filtered out (6ms)

error: Test failed because the "only" option was used
EOF
)"
expect "deno: exit 1 with \"0 failed\" (only: true)" deno 1 "$deno_only" 1 fail 1 0 "exit 1 although"
expect "deno: \"filtered out\" fails even with exit 0" deno 0 "$deno_only" 1 fail 1 0 "filtered out"

deno_fail="$(log deno-fail <<'EOF'
running 2 tests from ./fail_test.ts
a ... ok (238µs)
b ... FAILED (416µs)

 ERRORS 

b => ./fail_test.ts:2:6
error: Error: boom

 FAILURES 

b => ./fail_test.ts:2:6

FAILED | 1 passed | 1 failed (6ms)

error: Test failed
EOF
)"
expect "deno: a normal failure" deno 1 "$deno_fail" 1 fail 1 1 "1 failed"
expect "deno: a failure summary with exit 0 still fails" deno 0 "$deno_fail" 1 fail 1 1 "1 failed"

deno_load="$(log deno-load <<'EOF'
Check tests/e2e/x.test.ts
error: TS2304 [ERROR]: Cannot find name 'x'.
EOF
)"
expect "deno: did not compile (no summary)" deno 1 "$deno_load" 1 fail 0 0 "no Deno summary line"
expect "deno: no summary at all, exit 0" deno 0 "$deno_load" - fail 0 0 "no Deno summary line"

deno_stray="$(log deno-stray <<'EOF'
running 2 tests from ./tests/e2e/a.test.ts
prints a report ...
------- output -------
retry 1 failed, retry 2 ok: 1 failed
FAILED | 0 passed | 3 failed (1ms)
----- output end -----
prints a report ... ok (3ms)
other ... ok (1ms)

ok | 2 passed | 0 failed (1s)

EOF
)"
expect "deno: stray \"1 failed\" text inside a passing log" deno 0 "$deno_stray" 2 pass 2 0

deno_killed="$(log deno-killed <<'EOF'
running 40 tests from ./tests/e2e/orders.test.ts
first ... ok (3ms)
ok | 40 passed | 0 failed (1ms)
second ...
EOF
)"
expect "deno: killed mid-way after printing a fake summary" deno 137 "$deno_killed" 1 fail 40 0 "killed by signal 9"
expect "deno: timed out mid-way, no summary" deno 124 "$WORK/deno-load.log" 1 fail 0 0 "timed out"

# --- cargo ------------------------------------------------------------------------------------------

cargo_pass="$(log cargo-pass <<'EOF'
   Compiling edge-shared v0.1.0 (/work/shared)
    Finished `test` profile [unoptimized + debuginfo] target(s) in 9.27s
     Running unittests src/lib.rs (target/debug/deps/cancel_order-a40f8b2a18f8a20a)

running 0 tests

test result: ok. 0 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.00s

     Running unittests src/lib.rs (target/debug/deps/edge_shared-f8ebbe9c25bbc730)

running 3 tests
test a ... ok
test b ... ok
test c ... ignored

test result: ok. 2 passed; 0 failed; 1 ignored; 0 measured; 0 filtered out; finished in 4.63s

   Doc-tests edge_shared

running 1 test
test shared/src/lib.rs - (line 3) ... ok

test result: ok. 1 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 1.11s

EOF
)"
expect "cargo: a normal pass" cargo 0 "$cargo_pass" 3 pass 3 0
expect "cargo: a pass with fewer tests than the minimum" cargo 0 "$cargo_pass" 4 fail 3 0 "fewer than the minimum 4"
expect "cargo: a pass, then the timeout fired" cargo 124 "$cargo_pass" 3 fail 3 0 "timed out"

cargo_killed="$(log cargo-killed <<'EOF'
     Running unittests src/lib.rs (target/debug/deps/cancel_order-a40f8b2a18f8a20a)

running 2 tests
test x ... ok
test y ... ok

test result: ok. 2 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.00s

     Running unittests src/lib.rs (target/debug/deps/edge_shared-f8ebbe9c25bbc730)

running 128 tests
test a ... ok
test b ... ok
error: test failed, to rerun pass `-p edge-shared --lib`

Caused by:
  process didn't exit successfully: `/work/target/debug/deps/edge_shared-f8ebbe9c25bbc730` (signal: 9, SIGKILL: kill)
error: 1 target failed:
    `-p edge-shared --lib`
EOF
)"
expect "cargo: one binary passed, the next was killed (exit 101)" cargo 101 "$cargo_killed" 1 fail 2 0 "no result line"
expect "cargo: one binary passed, the next was killed (exit 0)" cargo 0 "$cargo_killed" 1 fail 2 0 "no result line"

cargo_killed_between="$(log cargo-killed-between <<'EOF'
     Running unittests src/lib.rs (target/debug/deps/a-1)

running 1 test
test x ... ok
     Running unittests src/lib.rs (target/debug/deps/b-2)

running 1 test
test y ... ok

test result: ok. 1 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.00s

EOF
)"
expect "cargo: a binary without a result, the next one passed" cargo 0 "$cargo_killed_between" 1 fail 1 0 "no result line: Running"

cargo_fail="$(log cargo-fail <<'EOF'
     Running unittests src/lib.rs (target/debug/deps/edge_shared-f8ebbe9c25bbc730)

running 3 tests
test a ... ok
test b ... FAILED
test c ... ok

failures:

---- b stdout ----
thread 'b' panicked at shared/src/lib.rs:1:1:
assertion failed

failures:
    b

test result: FAILED. 2 passed; 1 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.01s

error: test failed, to rerun pass `-p edge-shared --lib`
EOF
)"
expect "cargo: a normal failure" cargo 101 "$cargo_fail" 1 fail 2 1 "1 failed"

cargo_stray="$(log cargo-stray <<'EOF'
warning: build script printed: retry 1 failed
     Running unittests src/lib.rs (target/debug/deps/edge_shared-f8ebbe9c25bbc730)

running 2 tests
test retries::one_failed_then_ok ... ok
test report::says_1_failed ... ok

test result: ok. 2 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.01s

EOF
)"
expect "cargo: stray \"1 failed\" text inside a passing log" cargo 0 "$cargo_stray" 2 pass 2 0

cargo_short="$(log cargo-short <<'EOF'
     Running unittests src/lib.rs (target/debug/deps/edge_shared-f8ebbe9c25bbc730)

running 5 tests
test a ... ok

test result: ok. 1 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.01s

EOF
)"
expect "cargo: a result that does not add up to the announced count" cargo 0 "$cargo_short" 1 fail 1 0 "5 announced, 1 reported"

cargo_build="$(log cargo-build <<'EOF'
   Compiling edge-shared v0.1.0 (/work/shared)
error[E0425]: cannot find value `x` in this scope
error: could not compile `edge-shared` (lib test) due to 1 previous error
EOF
)"
expect "cargo: did not compile" cargo 101 "$cargo_build" 1 fail 0 0 "no test binary ran"

# --- check (lint steps: exit code only) -------------------------------------------------------------

: >"$WORK/empty.log"
expect "check: exit 0" check 0 "$WORK/empty.log" - pass 1 0
expect "check: exit 1" check 1 "$WORK/empty.log" - fail 0 1 "exit 1"
expect "check: timed out" check 124 "$WORK/empty.log" - fail 0 1 "timed out"

# --- live: the runner with a real timeout, pipe and exit codes --------------------------------------

live() { # name want-verdict want-note: the last row recorded by suite/setup
  local row name kind verdict passed failed min secs note
  row="${SUITE_ROWS[${#SUITE_ROWS[@]} - 1]}"
  IFS='|' read -r name kind verdict passed failed min secs note <<<"$row"
  cases=$((cases + 1))
  if [ "$verdict" = "$2" ] && [[ "$note" == *"$3"* ]]; then
    printf 'ok     %-64s -> %s %s\n' "$1" "$verdict" "$note"
  else
    printf 'WRONG  %-64s -> %s %s (expected %s %s)\n' "$1" "$verdict" "$note" "$2" "$3"
    wrong=$((wrong + 1))
  fi
}

fake_deno_only() {
  printf 'a ... ok (1ms)\n\nok | 1 passed | 0 failed | 1 filtered out (6ms)\n\nerror: Test failed because the "only" option was used\n'
  return 1
}
fake_cargo_pass() { cat "$1"; }

suite "live: a command that outlives its timeout" check - 1s sleep 5 >/dev/null
live "live: a command that outlives its timeout" fail "timed out"
suite "live: deno-like, exit 1 with 0 failed" deno 1 10s fake_deno_only >/dev/null
live "live: deno-like, exit 1 with 0 failed" fail "exit 1 although"
suite "live: cargo-like pass through the pipe" cargo 3 10s fake_cargo_pass "$cargo_pass" >/dev/null
live "live: cargo-like pass through the pipe" pass "3 binaries"
setup "live: a failing setup step" 10s false >/dev/null
live "live: a failing setup step" fail "exit 1"

# The closing line and status: 3 (cargo) + 1 (the deno-like run) passed; the timeout, the
# deno-like run and the setup step one failure each.
cases=$((cases + 1))
closing="$(print_summary | tail -n 1)"
if print_summary >/dev/null; then summary_rc=0; else summary_rc=1; fi
if [ "$closing" = "4 passed, 3 failed" ] && [ "$summary_rc" = 1 ]; then
  printf 'ok     %-64s -> %s\n' "live: the closing line and status" "$closing (status $summary_rc)"
else
  printf 'WRONG  %-64s -> %s (status %s; expected "4 passed, 3 failed", status 1)\n' "live: the closing line and status" \
    "$closing" "$summary_rc"
  wrong=$((wrong + 1))
fi

echo
if [ "$wrong" != 0 ]; then
  echo "counter self-test: $wrong of $cases cases judged wrongly"
  exit 1
fi
echo "counter self-test: all $cases cases judged right"
