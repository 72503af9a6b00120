#!/usr/bin/env bash
# `cargo test` whose results are libtest's own JSON events, for scripts/test-lib.sh to count.
#
#   scripts/cargo-test-json.sh --workspace            # the arguments select packages
#   scripts/cargo-test-json.sh -p edge-orders -p edge-outbox
#
# 1. `cargo test --no-run --message-format=json` builds every unit and integration test binary
#    and names each one (a stable, machine-readable cargo output).
# 2. Each binary then runs from its package's folder (as `cargo test` runs it) with
#    `--format json`: one JSON event per line (`{"type":"suite","event":"started",...}`, one per
#    test, `{"type":"suite","event":"ok"|"failed","passed":N,...}`). libtest still calls that
#    format unstable, so it is unlocked with RUSTC_BOOTSTRAP=1 for the test process only: set
#    at compile time it would change every crate's fingerprint and force rebuilds.
#
# Before the binaries, one line `cargo-test-json: N test binaries` says how many must report.
# Doc tests are not run here: rustdoc has no machine-readable output on stable (test.sh runs
# them as their own suite). Exits non-zero if the build or any binary fails.
set -uo pipefail

built="$(cargo test --no-run --message-format=json-render-diagnostics "$@")" || {
  echo "cargo-test-json: the test binaries did not build" >&2
  exit 101
}
# "<package folder> <executable>" per test binary: compiler artifacts built with the test profile.
pairs="$(sed -n 's/.*"manifest_path":"\([^"]*\)\/Cargo.toml".*"profile":{[^}]*"test":true}.*"executable":"\([^"]*\)".*/\1 \2/p' <<<"$built")"
count="$(grep -c . <<<"$pairs")"
echo "cargo-test-json: $count test binaries"
status=0
while read -r dir exe; do
  [ -n "$exe" ] || continue
  echo "  Running $exe" >&2
  (cd "$dir" && RUSTC_BOOTSTRAP=1 "$exe" -Z unstable-options --format json) || status=101
done <<<"$pairs"
exit "$status"
