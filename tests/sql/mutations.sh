#!/usr/bin/env bash
# Mutation check of tests/sql (issue 14): for each mutation in tests/sql/_mutations.ts (one rule
# deleted from a SQL function with CREATE OR REPLACE, in the test databases only), run the suite
# and require that at least one test fails. Exits non-zero if a mutation survives.
# Needs the database (scripts/db.sh start); honours PG_PORT like the other scripts.
set -euo pipefail
source "$(dirname "$0")/../../scripts/lib.sh"
cd "$ROOT"
mutations=("$@")
if [ ${#mutations[@]} = 0 ]; then
  mapfile -t mutations < <(grep -oE '^  [a-z_]+: \{' tests/sql/_mutations.ts | tr -d ' :{')
fi
# The unmutated suite must pass first (else a "killed" would mean nothing).
if ! timeout 600 "$DENO" test --allow-all tests/sql/ >/dev/null 2>&1; then
  echo "error: tests/sql fails without any mutation (is the database running? scripts/db.sh start)" >&2
  exit 2
fi
survived=0
for m in "${mutations[@]}"; do
  out="$(SQL_TEST_MUTATE="$m" timeout 600 "$DENO" test --allow-all tests/sql/ 2>&1 || true)"
  failed="$(printf '%s\n' "$out" | sed 's/\x1b\[[0-9;]*m//g' | grep -E '^.* \.\.\. FAILED' | sed 's/ \.\.\. FAILED.*//' || true)"
  if printf '%s\n' "$out" | grep -q "unknown mutation\|mutation $m: text not found"; then
    echo "ERROR $m: the mutation did not apply"; printf '%s\n' "$out" | grep -m1 "mutation" ; survived=1; continue
  fi
  if [ -n "$failed" ]; then
    echo "killed   $m by:"; printf '%s\n' "$failed" | sed 's/^/           /'
  else
    echo "SURVIVED $m"; survived=1
  fi
done
exit "$survived"
