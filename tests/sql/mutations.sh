#!/usr/bin/env bash
# Mutation check of tests/sql (issue 14): for each mutation in tests/sql/_mutations.ts (one rule
# deleted from a SQL function with CREATE OR REPLACE, in the test databases only), run the suite
# and require that at least one test fails. Exits non-zero if a mutation survives.
#
# The migrated database is built once, as a template; each mutation gets a copy of it with the
# mutation applied, itself a template the test files copy (SQL_TEST_TEMPLATE, see _db.ts). A
# mutation's run stops at its first failing test (--fail-fast): the files named in its `killers`
# run first, then, only if they all pass, the others; a mutation survives only when every test
# of tests/sql passed. Every database of the check is dropped at the end.
# Needs the database (scripts/db.sh start); honours PG_PORT like the other scripts.
set -euo pipefail
source "$(dirname "$0")/../../scripts/lib.sh"
cd "$ROOT"
run="m$$" # the tag of this check's databases; a mutation's run is tagged ${run}x<n>
template() { "$DENO" run --allow-all tests/sql/_template.ts "$@"; }
current=""
cleanup() { template drop-run "$run" || true; [ -z "$current" ] || template drop-run "$current" || true; }
trap cleanup EXIT
trap 'exit 143' TERM INT
export SQL_TEST_RUN="$run"
base="sql_tests_${run}__base"
if ! template create "$base"; then
  echo "error: cannot build the template database (is the database running? scripts/db.sh start)" >&2
  exit 2
fi
mapfile -t all < <(ls tests/sql/*.test.ts)
listed="$(template mutations)" || { echo "error: cannot list the mutations" >&2; exit 2; }
mapfile -t known <<<"$listed"
[ -n "$listed" ] || { echo "error: no mutations in tests/sql/_mutations.ts" >&2; exit 2; }
mutations=("$@")
if [ ${#mutations[@]} = 0 ]; then mutations=("${known[@]%% *}"); fi
# The unmutated suite must pass first (else a "killed" would mean nothing); it also type-checks
# the files once, so that the runs below need not (--no-check).
if ! SQL_TEST_TEMPLATE="$base" timeout 600 "$DENO" test --allow-all "${all[@]}" >/dev/null 2>&1; then
  echo "error: tests/sql fails without any mutation" >&2
  exit 2
fi
# The names of the failed tests in a `deno test` output, or nothing.
failed_tests() { sed 's/\x1b\[[0-9;]*m//g' | grep -E '^.* \.\.\. FAILED' | sed 's/ \.\.\. FAILED.*//' || true; }
# Runs test files on mutation $2's template $1 until the first failure; prints the failed tests.
run_files() { # template mutation file...
  local tpl="$1" m="$2"
  shift 2
  SQL_TEST_TEMPLATE="$tpl" SQL_TEST_MUTATE="$m" timeout 600 "$DENO" test --no-check --fail-fast --allow-all "$@" 2>&1 | failed_tests || true
}
survived=0 n=0
for m in "${mutations[@]}"; do
  n=$((n + 1)) current="${run}x$n"
  export SQL_TEST_RUN="$current"
  killers=()
  for line in "${known[@]}"; do
    if [ "${line%% *}" = "$m" ]; then read -r -a killers <<<"${line#"$m"}"; fi
  done
  others=()
  for f in "${all[@]}"; do
    [[ " ${killers[*]} " == *" $f "* ]] || others+=("$f")
  done
  tpl="sql_tests_${current}__mutated"
  if ! err="$(template create "$tpl" --from "$base" --mutate "$m" 2>&1)"; then
    echo "ERROR $m: the mutation did not apply"; printf '%s\n' "$err" | grep -m1 "mutation\|rror"; survived=1
    template drop-run "$current" >/dev/null 2>&1 || true; current=""
    continue
  fi
  # The named files first; the others only if those all passed.
  failed="" where=killers
  if [ ${#killers[@]} -gt 0 ]; then failed="$(run_files "$tpl" "$m" "${killers[@]}")"; fi
  if [ -z "$failed" ] && [ ${#others[@]} -gt 0 ]; then where=others failed="$(run_files "$tpl" "$m" "${others[@]}")"; fi
  template drop-run "$current" >/dev/null 2>&1 || true # this mutation's template and copies
  current=""
  if [ -n "$failed" ]; then
    note=""
    if [ "$where" = others ] && [ ${#killers[@]} -gt 0 ]; then note=" (not by its named killers: update _mutations.ts)"; fi
    echo "killed   $m by$note:"; printf '%s\n' "$failed" | sed 's/^/           /'
  else
    echo "SURVIVED $m"; survived=1
  fi
done
exit "$survived"
