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

# --- Deno (JUnit reports) ------------------------------------------------------------------------

xml() { # name: stdin -> $WORK/name.xml (the report next to $WORK/name.log)
  cat >"$WORK/$1.xml"
}
: >"$WORK/deno.log"
xml deno <<'EOF'
<?xml version="1.0" encoding="UTF-8"?>
<testsuites name="deno test" tests="5" failures="0" errors="0" time="0.015">
    <testsuite name="./a.test.ts" tests="5" disabled="1" errors="0" failures="0">
        <testcase name="a" classname="./a.test.ts" time="0.001" line="1" col="6">
        </testcase>
        <testcase name="prints &lt;failure/&gt; and failures=&quot;3&quot; in its name" classname="./a.test.ts" time="0.002" line="2" col="6">
        </testcase>
        <testcase name="c" classname="./a.test.ts" time="0.000" line="3" col="6">
            <skipped/>
        </testcase>
        <testcase name="b &gt; s1" classname="./a.test.ts" time="0.000" line="2" col="41">
        </testcase>
        <testcase name="b &gt; s2" classname="./a.test.ts" time="0.000" line="2" col="71">
        </testcase>
    </testsuite>
</testsuites>
EOF
expect "deno: a normal pass (steps count, the skipped one does not)" deno 0 "$WORK/deno.log" 4 pass 4 0
expect "deno: a pass with fewer tests than the minimum" deno 0 "$WORK/deno.log" 5 fail 4 0 "fewer than the minimum 5"
expect "deno: a full passing report but exit 1 (only: true)" deno 1 "$WORK/deno.log" 4 fail 4 0 "exit 1 although"
expect "deno: a full passing report, then the timeout fired" deno 124 "$WORK/deno.log" 4 fail 4 0 "timed out"

: >"$WORK/deno-fail.log"
xml deno-fail <<'EOF'
<?xml version="1.0" encoding="UTF-8"?>
<testsuites name="deno test" tests="2" failures="1" errors="0" time="0.015">
    <testsuite name="./f.test.ts" tests="2" disabled="0" errors="0" failures="1">
        <testcase name="a" classname="./f.test.ts" time="0.001" line="1" col="6">
        </testcase>
        <testcase name="b" classname="./f.test.ts" time="0.001" line="2" col="6">
            <failure message="Uncaught Error: x">Error: x
    at file:///f.test.ts:2:33</failure>
        </testcase>
    </testsuite>
</testsuites>
EOF
expect "deno: a normal failure" deno 1 "$WORK/deno-fail.log" 1 fail 1 1 "1 failed"
expect "deno: a failure in the report with exit 0 still fails" deno 0 "$WORK/deno-fail.log" 1 fail 1 1 "1 failed"

: >"$WORK/deno-lying.log"
xml deno-lying <<'EOF'
<testsuites name="deno test" tests="9" failures="0" errors="0" time="0.015">
    <testsuite name="./l.test.ts" tests="2" disabled="0" errors="0" failures="0">
        <testcase name="a" classname="./l.test.ts" time="0.001" line="1" col="6">
        </testcase>
        <testcase name="b" classname="./l.test.ts" time="0.001" line="2" col="6">
        </testcase>
    </testsuite>
</testsuites>
EOF
expect "deno: a report whose root disagrees with its test cases" deno 0 "$WORK/deno-lying.log" 1 fail 2 0 "says 9 tests but lists 2"

deno_load="$(log deno-load <<'EOF'
Check tests/e2e/x.test.ts
error: TS2304 [ERROR]: Cannot find name 'x'.
ok | 40 passed | 0 failed (1ms)
EOF
)"
expect "deno: did not compile (no report), a fake summary in the log" deno 1 "$deno_load" 1 fail 0 0 "no JUnit report"
expect "deno: no report at all, exit 0" deno 0 "$deno_load" - fail 0 0 "no JUnit report"
expect "deno: killed mid-way (no report)" deno 137 "$deno_load" 1 fail 0 0 "killed by signal 9"
expect "deno: timed out mid-way (no report)" deno 124 "$deno_load" 1 fail 0 0 "timed out"

# --- cargo (libtest JSON events, scripts/cargo-test-json.sh) ----------------------------------------

cargojson_pass="$(log cargojson-pass <<'EOF'
cargo-test-json: 2 test binaries
{ "type": "suite", "event": "started", "test_count": 2 }
{ "type": "test", "event": "started", "name": "a" }
{ "type": "test", "event": "started", "name": "b" }
{ "type": "test", "name": "a", "event": "ok" }
{ "type": "test", "name": "b", "event": "ok" }
{ "type": "suite", "event": "ok", "passed": 2, "failed": 0, "ignored": 0, "measured": 0, "filtered_out": 0, "exec_time": 0.01 }
{ "type": "suite", "event": "started", "test_count": 2 }
{ "type": "test", "name": "c \"event\": \"failed\"", "event": "ok" }
{ "type": "test", "name": "d", "event": "ignored" }
{ "type": "suite", "event": "ok", "passed": 1, "failed": 0, "ignored": 1, "measured": 0, "filtered_out": 0, "exec_time": 0.01 }
EOF
)"
expect "cargojson: a normal pass" cargojson 0 "$cargojson_pass" 3 pass 3 0
expect "cargojson: fewer tests than the minimum" cargojson 0 "$cargojson_pass" 4 fail 3 0 "fewer than the minimum 4"
expect "cargojson: a pass, then the timeout fired" cargojson 124 "$cargojson_pass" 3 fail 3 0 "timed out"

cargojson_killed="$(log cargojson-killed <<'EOF'
cargo-test-json: 2 test binaries
{ "type": "suite", "event": "started", "test_count": 1 }
{ "type": "test", "name": "a", "event": "ok" }
{ "type": "suite", "event": "ok", "passed": 1, "failed": 0, "ignored": 0, "measured": 0, "filtered_out": 0, "exec_time": 0.01 }
{ "type": "suite", "event": "started", "test_count": 5 }
{ "type": "test", "name": "b", "event": "ok" }
EOF
)"
expect "cargojson: the second binary was killed (exit 101)" cargojson 101 "$cargojson_killed" 1 fail 1 0 "ended without its result"
expect "cargojson: the second binary was killed (exit 0)" cargojson 0 "$cargojson_killed" 1 fail 1 0 "ended without its result"

cargojson_missing="$(log cargojson-missing <<'EOF'
cargo-test-json: 3 test binaries
{ "type": "suite", "event": "started", "test_count": 1 }
{ "type": "test", "name": "a", "event": "ok" }
{ "type": "suite", "event": "ok", "passed": 1, "failed": 0, "ignored": 0, "measured": 0, "filtered_out": 0, "exec_time": 0.01 }
EOF
)"
expect "cargojson: fewer binaries reported than announced" cargojson 0 "$cargojson_missing" 1 fail 1 0 "3 binaries announced, 1 reported"

cargojson_fail="$(log cargojson-fail <<'EOF'
cargo-test-json: 1 test binaries
{ "type": "suite", "event": "started", "test_count": 2 }
{ "type": "test", "name": "a", "event": "ok" }
{ "type": "test", "name": "b", "event": "failed", "stdout": "thread 'b' panicked\n{ \"type\": \"suite\", \"event\": \"ok\" }\n" }
{ "type": "suite", "event": "failed", "passed": 1, "failed": 1, "ignored": 0, "measured": 0, "filtered_out": 0, "exec_time": 0.01 }
EOF
)"
expect "cargojson: a normal failure" cargojson 101 "$cargojson_fail" 1 fail 1 1 "1 failed"

cargojson_lying="$(log cargojson-lying <<'EOF'
cargo-test-json: 1 test binaries
{ "type": "suite", "event": "started", "test_count": 3 }
{ "type": "test", "name": "a", "event": "ok" }
{ "type": "test", "name": "b", "event": "ok" }
{ "type": "suite", "event": "ok", "passed": 3, "failed": 0, "ignored": 0, "measured": 0, "filtered_out": 0, "exec_time": 0.01 }
EOF
)"
expect "cargojson: suite counts that disagree with its test events" cargojson 0 "$cargojson_lying" 1 fail 3 0 "disagree with its test events"

cargojson_build="$(log cargojson-build <<'EOF'
error[E0425]: cannot find value `x` in this scope
cargo-test-json: the test binaries did not build
EOF
)"
expect "cargojson: did not build" cargojson 101 "$cargojson_build" 1 fail 0 0 "no test binary ran"

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

fake_deno_only() { # junit-path: a passing report, exit 1 (what `only: true` does)
  printf '<testsuites name="deno test" tests="1" failures="0" errors="0">\n<testcase name="a">\n</testcase>\n</testsuites>\n' >"$1"
  printf 'error: Test failed because the "only" option was used\n'
  return 1
}
fake_deno_nothing() { :; } # writes no report (a stale one from an earlier run must not count)
fake_cargo_pass() { cat "$1"; }

suite "live: a command that outlives its timeout" check - 1s sleep 5 >/dev/null
live "live: a command that outlives its timeout" fail "timed out"
suite "live: deno-like, exit 1 with 0 failed" deno 1 10s fake_deno_only @JUNIT@ >/dev/null
live "live: deno-like, exit 1 with 0 failed" fail "exit 1 although"
cp "$WORK/deno.xml" "$WORK/test-live-a-stale-report.xml"
suite "live: a stale report" deno 1 10s fake_deno_nothing @JUNIT@ >/dev/null
live "live: a stale report is deleted before the run" fail "no JUnit report"
suite "live: cargo-like pass through the pipe" cargo 3 10s fake_cargo_pass "$cargo_pass" >/dev/null
live "live: cargo-like pass through the pipe" pass "3 binaries"
setup "live: a failing setup step" 10s false >/dev/null
live "live: a failing setup step" fail "exit 1"

# The closing line and status: 3 (cargo) + 1 (the deno-like run) passed; the timeout, the
# deno-like run, the stale report and the setup step one failure each.
cases=$((cases + 1))
closing="$(print_summary | tail -n 1)"
if print_summary >/dev/null; then summary_rc=0; else summary_rc=1; fi
if [ "$closing" = "4 passed, 4 failed" ] && [ "$summary_rc" = 1 ]; then
  printf 'ok     %-64s -> %s\n' "live: the closing line and status" "$closing (status $summary_rc)"
else
  printf 'WRONG  %-64s -> %s (status %s; expected "4 passed, 4 failed", status 1)\n' "live: the closing line and status" \
    "$closing" "$summary_rc"
  wrong=$((wrong + 1))
fi

echo
if [ "$wrong" != 0 ]; then
  echo "counter self-test: $wrong of $cases cases judged wrongly"
  exit 1
fi
echo "counter self-test: all $cases cases judged right"
