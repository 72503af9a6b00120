#!/usr/bin/env bash
# Fuzzes webhook verification (fuzz/fuzz_targets/webhook_verify.rs) with cargo-fuzz/libFuzzer.
#
#   scripts/fuzz.sh            # 1,000,000 executions (the default)
#   RUNS=5000000 scripts/fuzz.sh
#   scripts/fuzz.sh -max_total_time=600   # extra arguments go to libFuzzer
#   scripts/fuzz.sh --update-lock         # regenerate fuzz/Cargo.lock from Cargo.lock, then stop
#
# fuzz/Cargo.lock (tracked; the fuzz crate is a workspace of its own) is Cargo.lock plus
# libfuzzer-sys: every crate both use is at Cargo.lock's version. A run refuses a stale one
# rather than rewriting it (the tree stays clean); scripts/check-locks.sh (make lint) checks it.
# cargo-fuzz $CARGO_FUZZ_VERSION is installed into .tools/cargo (gitignored) when missing. The toolchain is the
# project's stable one: RUSTC_BOOTSTRAP=1 lets it accept the -Z flags cargo-fuzz passes. The
# sanitizer is off: the crate forbids unsafe code, so AddressSanitizer would only slow it down;
# libFuzzer's coverage guidance and its panic detection are what matter here.
# Exits non-zero if the target panics (the crashing input is saved under fuzz/artifacts/).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

CARGO_FUZZ_VERSION=0.13.2
target="webhook_verify"
runs="${RUNS:-1000000}"
tools="$root/.tools/cargo"
export PATH="$tools/bin:$PATH"

if [ "${1:-}" = --update-lock ]; then
    # Start from the workspace's lock (same versions), let cargo drop what the fuzz crate does
    # not use and add libfuzzer-sys, kept at the version the old lock had.
    old="$(awk '/^name = "libfuzzer-sys"$/ { getline; gsub(/"/, "", $3); print $3 }' fuzz/Cargo.lock 2>/dev/null || true)"
    cp Cargo.lock fuzz/Cargo.lock
    cargo metadata --quiet --format-version 1 --manifest-path fuzz/Cargo.toml >/dev/null
    if [ -n "$old" ]; then cargo update --quiet --manifest-path fuzz/Cargo.toml -p libfuzzer-sys --precise "$old"; fi
    echo "fuzz.sh: fuzz/Cargo.lock regenerated from Cargo.lock"
    exit 0
fi
cargo metadata --locked --quiet --format-version 1 --manifest-path fuzz/Cargo.toml >/dev/null ||
    { echo "fuzz.sh: fuzz/Cargo.lock is stale (Cargo.lock or fuzz/Cargo.toml moved): run scripts/fuzz.sh --update-lock and commit it" >&2; exit 1; }

if [ "$(cargo-fuzz --version 2>/dev/null | awk '{ print $2 }')" != "$CARGO_FUZZ_VERSION" ]; then
    echo "fuzz.sh: installing cargo-fuzz $CARGO_FUZZ_VERSION into .tools/cargo (a few minutes, once)" >&2
    cargo install cargo-fuzz --version "$CARGO_FUZZ_VERSION" --locked --root "$tools"
fi

export RUSTC_BOOTSTRAP=1
corpus="fuzz/corpus/$target"   # grows between runs (gitignored)
seeds="fuzz/seeds/$target"     # correctly signed requests (tracked)
mkdir -p "$corpus"

cd fuzz
cargo fuzz build --sanitizer none "$target"
start=$(date +%s)
cargo fuzz run --sanitizer none "$target" "../$corpus" "../$seeds" -- \
    -runs="$runs" -print_final_stats=1 "$@"
echo "fuzz.sh: $target: $runs runs without a crash in $(( $(date +%s) - start )) s"
