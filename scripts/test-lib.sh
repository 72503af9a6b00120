# The test counter of scripts/test.sh (sourced, not run): how a suite is run, and how its
# result is judged. Everything here is checked on crafted logs by scripts/test-selftest.sh.
# shellcheck shell=bash
#
# A suite's verdict comes from two things only: the runner's own exit code and the runner's own
# summary lines, parsed strictly (anchored, whole-line). Text elsewhere in a log never counts.
#
#   judge_<kind> RC LOG MIN   prints "pass|fail PASSED FAILED NOTE..." and returns 0 on pass.
#     RC   the runner's exit code; 124 means the suite's timeout fired (see run_suite)
#     LOG  the runner's combined stdout and stderr
#     MIN  the least number of tests the suite must report ("-" for none)
#   Kinds:
#     check  a lint/format step or any command judged by its exit code; counts as one test
#     cargojson  scripts/cargo-test-json.sh: libtest's own JSON events. The announced number of
#            binaries must each open a suite (`"event": "started"`, `test_count`) and close it
#            (`"event": "ok"|"failed"` with its counts), and the per-test events must agree
#     cargo  `cargo test` text (doc tests: rustdoc has no machine-readable output on stable):
#            every test binary must print its `test result:` line, with as many tests as its
#            `running N tests` line announced
#     deno   `deno test --junit-path=<log without .log>.xml`: the JUnit report Deno writes once
#            the run ends. Counts are its <testcase> elements (tests and their steps); the root's
#            `tests` and `failures` attributes must agree with them
#
#   suite NAME KIND MIN TIMEOUT COMMAND...   runs COMMAND under `timeout`, tees its output to
#     $TEST_LOGS/test-<name>.log and stdout, judges it and records the result for
#     print_summary. COMMAND may be a shell function (it then runs in `bash -c` and sees only
#     exported variables and the functions defined at the time).
#   setup NAME TIMEOUT COMMAND...   a step that is not a test (starting the stack): a failure
#     fails the run and counts as one failure; a success is not counted.
#   print_summary   the per-suite table, then the closing `N passed, N failed` line; returns 0
#     only if every suite and setup step passed.

TEST_LOGS="${TEST_LOGS:-${LOGS:-/tmp}}"

# --- judging -------------------------------------------------------------------------------------

# A note on an exit code that is not a runner's normal "tests failed" code, or nothing.
rc_note() { # rc
  local rc="$1"
  if [ "$rc" = 124 ]; then
    echo "timed out"
  elif [ "$rc" -gt 128 ] 2>/dev/null; then
    echo "killed by signal $((rc - 128))"
  elif [ "$rc" = 127 ] || [ "$rc" = 126 ]; then
    echo "command not found or not executable (exit $rc)"
  fi
}

join_notes() { # note...: "a; b; c"
  local out="$1"
  shift
  for n in "$@"; do out+="; $n"; done
  echo "$out"
}

judge_check() { # rc log min
  local rc="$1" note
  note="$(rc_note "$rc")"
  if [ "$rc" = 0 ]; then
    echo "pass 1 0"
    return 0
  fi
  echo "fail 0 1 ${note:-exit $rc}"
  return 1
}

# Sums libtest's per-binary summaries. A binary is announced by cargo (`Running ...` or
# `Doc-tests ...`); each must be followed by `running N tests` and then exactly one
# `test result: ...` line whose passed + failed + ignored + measured equals N. A binary that
# was killed or crashed mid-way leaves no result line and fails the suite, whatever came before.
judge_cargo() { # rc log min
  local rc="$1" log="$2" min="$3" parsed note
  note="$(rc_note "$rc")"
  [ -f "$log" ] || { echo "fail 0 0 no log"; return 1; }
  parsed="$(awk '
    function problem(msg) { if (bad == "") bad = msg }
    /^[ \t]+(Running|Doc-tests) / {
      if (open) problem("a test binary gave no result line: " current)
      binaries++; open = 1; announced = -1; current = $0; sub(/^[ \t]+/, "", current); next
    }
    /^running [0-9]+ tests?$/ {
      if (!open) { problem("\"" $0 "\" outside a test binary"); next }
      if (announced >= 0) problem("two \"running N tests\" lines in " current)
      announced = $2 + 0; next
    }
    /^test result: / {
      if ($0 !~ /^test result: (ok|FAILED)\. [0-9]+ passed; [0-9]+ failed; [0-9]+ ignored; [0-9]+ measured; [0-9]+ filtered out; finished in [0-9.]+s$/) {
        problem("unparsable result line: " $0); next
      }
      if (!open) { problem("a result line outside a test binary: " $0); next }
      p = $4 + 0; f = $6 + 0; i = $8 + 0; m = $10 + 0
      if (announced < 0) problem("no \"running N tests\" line before the result of " current)
      else if (p + f + i + m != announced) problem(current ": " announced " announced, " (p + f + i + m) " reported")
      if (($3 == "ok.") != (f == 0)) problem("result word and failure count disagree: " $0)
      passed += p; failed += f; ignored += i; results++; open = 0; next
    }
    END {
      if (open) problem("the last test binary gave no result line (killed?): " current)
      if (bad == "") bad = "-"
      printf "%d %d %d %d %d %s\n", binaries, results, passed, failed, ignored, bad
    }' "$log")"
  local binaries results passed failed ignored bad
  read -r binaries results passed failed ignored bad <<<"$parsed"
  libtest_verdict "$rc" "$note" "$min" "$binaries" "$passed" "$failed" "$ignored" "$bad"
}

# The verdict line of a libtest suite from its parsed counts (judge_cargo, judge_cargojson).
libtest_verdict() { # rc note min binaries passed failed ignored problem-or-dash
  local rc="$1" note="$2" min="$3" binaries="$4" passed="$5" failed="$6" ignored="$7" bad="$8"
  [ "$bad" = "-" ] && bad=""
  local why=()
  [ -n "$note" ] && why+=("$note")
  [ "$rc" != 0 ] && [ -z "$note" ] && why+=("exit $rc")
  [ "$binaries" = 0 ] && why+=("no test binary ran")
  [ -n "$bad" ] && why+=("$bad")
  [ "$failed" != 0 ] && why+=("$failed failed")
  if [ "$min" != "-" ] && [ "$passed" -lt "$min" ]; then
    why+=("$passed passed, fewer than the minimum $min (the suite shrank? update the minimum if intended)")
  fi
  local info="$binaries binaries"
  [ "$ignored" != 0 ] && info+=", $ignored ignored"
  if [ ${#why[@]} = 0 ]; then
    echo "pass $passed $failed $info"
    return 0
  fi
  echo "fail $passed $failed $(join_notes "${why[@]}") ($info)"
  return 1
}

# Sums libtest's JSON events (scripts/cargo-test-json.sh). Strict: a binary that was killed
# leaves a suite without its closing event, and each suite's counts must match its test events.
judge_cargojson() { # rc log min
  local rc="$1" log="$2" min="$3" parsed note
  note="$(rc_note "$rc")"
  [ -f "$log" ] || { echo "fail 0 0 no log"; return 1; }
  parsed="$(awk '
    function problem(msg) { if (bad == "") bad = msg }
    function num(key,   m) {
      if (match($0, "\"" key "\": *[0-9]+")) { m = substr($0, RSTART, RLENGTH); sub(/.*: */, "", m); return m + 0 }
      problem("no " key " in: " $0); return 0
    }
    /^cargo-test-json: [0-9]+ test binaries$/ { announced_bins = $2 + 0; saw_header = 1; next }
    /^\{ *"type": *"suite", *"event": *"started"/ {
      if (open) problem("a test binary ended without its result (killed?)")
      open = 1; started++; count = num("test_count"); ok = 0; fl = 0; ig = 0; next
    }
    /^\{ *"type": *"test",.*"event": *"(ok|failed|ignored)"/ {
      if (!open) { problem("a test event outside a suite"); next }
      if ($0 ~ /"event": *"ok"/) ok++; else if ($0 ~ /"event": *"failed"/) fl++; else ig++
      next
    }
    /^\{ *"type": *"suite", *"event": *"(ok|failed)"/ {
      if (!open) { problem("a suite result without its start"); next }
      p = num("passed"); f = num("failed"); i = num("ignored"); m = num("measured"); fo = num("filtered_out")
      if (p + f + i + m != count) problem(count " tests announced, " (p + f + i + m) " reported")
      if (p != ok || f != fl || i != ig) problem("suite counts disagree with its test events")
      if (($0 ~ /"event": *"ok"/) != (f == 0)) problem("suite event and failure count disagree")
      if (fo != 0) problem(fo " filtered out")
      passed += p; failed += f; ignored += i; results++; open = 0; next
    }
    END {
      if (open) problem("the last test binary ended without its result (killed?)")
      if (!saw_header) problem("no \"cargo-test-json: N test binaries\" line (did not build?)")
      else if (results != announced_bins) problem(announced_bins " binaries announced, " results " reported")
      if (bad == "") bad = "-"
      printf "%d %d %d %d %d %s\n", announced_bins, results, passed, failed, ignored, bad
    }' "$log")"
  local announced results passed failed ignored bad
  read -r announced results passed failed ignored bad <<<"$parsed"
  libtest_verdict "$rc" "$note" "$min" "$results" "$passed" "$failed" "$ignored" "$bad"
}

# The JUnit report of a Deno suite whose log is LOG: LOG with .log replaced by .xml.
junit_path() { echo "${1%.log}.xml"; }

# Judges a `deno test` run by its exit code and the JUnit report it wrote (junit_path LOG).
# Deno writes the report when the run ends: a run that did not start, did not compile or was
# killed has none, or a stale one from an earlier run, which is why the suite deletes it first.
judge_deno() { # rc log min
  local rc="$1" log="$2" min="$3" note xml parsed
  note="$(rc_note "$rc")"
  xml="$(junit_path "$log")"
  local why=() cases=0 failures=0 skipped=0 attr_tests=-1 attr_failures=-1 attr_errors=0
  [ -n "$note" ] && why+=("$note")
  if [ ! -s "$xml" ]; then
    why+=("no JUnit report (did not start, did not compile, or was killed)")
  else
    parsed="$(awk '
      /<testsuites[ >]/ && !root {
        root = 1
        if (match($0, / tests="[0-9]+"/)) t = substr($0, RSTART + 8, RLENGTH - 9) + 0; else t = -1
        if (match($0, / failures="[0-9]+"/)) f = substr($0, RSTART + 11, RLENGTH - 12) + 0; else f = -1
        if (match($0, / errors="[0-9]+"/)) e = substr($0, RSTART + 9, RLENGTH - 10) + 0; else e = 0
      }
      /<testcase[ >]/ { cases++ }
      /<failure[ >\/]/ { failures++ }
      /<error[ >\/]/ { failures++ }
      /<skipped[ >\/]/ { skipped++ }
      END { printf "%d %d %d %d %d %d\n", cases, failures, skipped, (root ? t : -1), (root ? f : -1), e }
    ' "$xml")"
    read -r cases failures skipped attr_tests attr_failures attr_errors <<<"$parsed"
    if [ "$attr_tests" = -1 ]; then
      why+=("the JUnit report has no <testsuites tests=...> root")
    else
      [ "$attr_tests" != "$cases" ] && why+=("the report says $attr_tests tests but lists $cases")
      [ "$attr_failures" != "$failures" ] && [ "$attr_errors" = 0 ] &&
        why+=("the report says $attr_failures failures but lists $failures")
    fi
    [ "$failures" != 0 ] && why+=("$failures failed")
    if [ "$rc" != 0 ] && [ -z "$note" ] && [ "$failures" = 0 ]; then
      why+=("exit $rc although the report lists no failure (only: true, an uncaught error, or a load error)")
    fi
  fi
  local passed=$((cases - failures - skipped))
  [ "$passed" -lt 0 ] && passed=0
  if [ -s "$xml" ] && [ "$min" != "-" ] && [ "$passed" -lt "$min" ]; then
    why+=("$passed passed, fewer than the minimum $min (the suite shrank? update the minimum if intended)")
  fi
  local info=""
  [ "$skipped" != 0 ] && info=" ($skipped ignored)"
  if [ ${#why[@]} = 0 ]; then
    echo "pass $passed $failures${info}"
    return 0
  fi
  echo "fail $passed $failures $(join_notes "${why[@]}")$info"
  return 1
}

# --- running -------------------------------------------------------------------------------------

SUITE_ROWS=()    # "name|kind|verdict|passed|failed|min|secs|note"
TOTAL_PASSED=0
TOTAL_FAILED=0

to_seconds() { # 90 | 90s | 15m | 1h
  case "$1" in
    *h) echo $((${1%h} * 3600)) ;;
    *m) echo $((${1%m} * 60)) ;;
    *s) echo "${1%s}" ;;
    *) echo "$1" ;;
  esac
}

slug() { tr -c 'A-Za-z0-9_.-' '-' <<<"$1" | sed -E 's/-+/-/g; s/^-//; s/-$//'; }

# Run COMMAND under timeout; its output goes to LOG and stdout. Sets RUN_RC and RUN_SECS.
# RUN_RC is 124 when the timeout fired (also when the command had to be killed after it).
run_logged() { # log timeout command...
  local log="$1" limit="$2"
  shift 2
  local start=$SECONDS secs
  local -a cmd=("$@")
  if declare -F "$1" >/dev/null; then
    cmd=(bash -c "$(declare -f); set -o pipefail; \"\$@\"" "$1" "$@")
  fi
  # -k: a runner that ignores TERM is killed 30 s later. Plain tee: the log and stdout.
  timeout -k 30 "$limit" "${cmd[@]}" </dev/null 2>&1 | tee "$log"
  RUN_RC=${PIPESTATUS[0]}
  RUN_SECS=$((SECONDS - start))
  secs="$(to_seconds "$limit")"
  if [ "$RUN_RC" = 137 ] && [ "$RUN_SECS" -ge "$secs" ]; then RUN_RC=124; fi
  if [ "$RUN_RC" = 124 ]; then echo "== TIMEOUT: stopped after $limit"; fi
}

record() { # name kind verdict passed failed min secs note
  SUITE_ROWS+=("$1|$2|$3|$4|$5|$6|$7|$8")
  TOTAL_PASSED=$((TOTAL_PASSED + $4))
  TOTAL_FAILED=$((TOTAL_FAILED + $5))
  # A suite that failed without a failed test (it did not build, shrank, timed out, exited
  # non-zero with "0 failed") counts as one failure, so the closing line never reads "0 failed".
  if [ "$3" != pass ] && [ "$5" = 0 ]; then TOTAL_FAILED=$((TOTAL_FAILED + 1)); fi
}

suite() { # name kind min timeout command...
  local name="$1" kind="$2" min="$3" limit="$4"
  shift 4
  local log
  log="$TEST_LOGS/test-$(slug "$name").log"
  echo "== $name"
  # A Deno suite names its JUnit report @JUNIT@ (see judge_deno); a stale one never counts.
  local xml arg args=()
  xml="$(junit_path "$log")"
  rm -f "$xml"
  for arg in "$@"; do args+=("${arg//@JUNIT@/$xml}"); done
  set -- "${args[@]}"
  run_logged "$log" "$limit" "$@"
  local verdict passed failed note
  read -r verdict passed failed note < <("judge_$kind" "$RUN_RC" "$log" "$min")
  [ "$verdict" = pass ] || echo "== $name FAILED: $note (log: $log)"
  record "$name" "$kind" "$verdict" "$passed" "$failed" "$min" "$RUN_SECS" "$note"
  [ "$verdict" = pass ]
}

setup() { # name timeout command...
  local name="$1" limit="$2"
  shift 2
  local log
  log="$TEST_LOGS/setup-$(slug "$name").log"
  echo "== setup: $name (log: $log)"
  run_logged "$log" "$limit" "$@" >/dev/null
  if [ "$RUN_RC" = 0 ]; then
    SUITE_ROWS+=("setup: $name|setup|ok|-|-|-|$RUN_SECS|not counted")
    return 0
  fi
  local note
  note="$(rc_note "$RUN_RC")"
  cat "$log"
  echo "== setup: $name FAILED: ${note:-exit $RUN_RC}"
  SUITE_ROWS+=("setup: $name|setup|fail|0|1|-|$RUN_SECS|${note:-exit $RUN_RC}")
  TOTAL_FAILED=$((TOTAL_FAILED + 1))
  return 1
}

# A suite that could not run (its setup failed): one failure.
not_run() { # name kind min why
  echo "== $1: not run ($4)"
  record "$1" "$2" "fail" 0 0 "$3" 0 "not run: $4"
}

skipped() { # name why: reported, not counted
  echo "== $1: skipped ($2)"
  SUITE_ROWS+=("$1|skip|skipped|-|-|-|0|$2")
}

print_summary() {
  local row name kind verdict passed failed min secs note failures=()
  echo
  printf '%-44s %-9s %-7s %6s %6s %6s %6s  %s\n' suite kind result passed failed min secs note
  for row in "${SUITE_ROWS[@]}"; do
    IFS='|' read -r name kind verdict passed failed min secs note <<<"$row"
    printf '%-44s %-9s %-7s %6s %6s %6s %6s  %s\n' "${name:0:44}" "$kind" "$verdict" "$passed" "$failed" "$min" \
      "$secs" "$note"
    [ "$verdict" = fail ] && failures+=("$name")
  done
  echo
  if [ ${#failures[@]} -gt 0 ]; then
    local IFS=","
    echo "failed: ${failures[*]}"
  fi
  echo "$TOTAL_PASSED passed, $TOTAL_FAILED failed"
  [ "$TOTAL_FAILED" = 0 ] && [ ${#failures[@]} = 0 ]
}
