#!/usr/bin/env bash
# `deno test` of tests/sql with one template database for the run: the bootstrap and the
# migrations are applied once (tests/sql/_template.ts), each test file's database is a copy of
# it (SQL_TEST_TEMPLATE), and every database of the run is dropped at the end, whatever happened.
# Arguments go to `deno test` (e.g. --junit-path=... --allow-all tests/sql/). Needs the database
# (scripts/db.sh start); honours PG_PORT like the other scripts.
set -euo pipefail
source "$(dirname "$0")/../../scripts/lib.sh"
cd "$ROOT"
export SQL_TEST_RUN="r$$"
cleanup() { "$DENO" run --allow-all tests/sql/_template.ts drop-run "$SQL_TEST_RUN" || true; }
trap cleanup EXIT
trap 'exit 143' TERM INT
export SQL_TEST_TEMPLATE="sql_tests_${SQL_TEST_RUN}__template"
"$DENO" run --allow-all tests/sql/_template.ts create "$SQL_TEST_TEMPLATE"
"$DENO" test "$@"
