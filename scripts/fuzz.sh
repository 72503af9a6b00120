#!/usr/bin/env bash
# Fuzzes webhook verification (fuzz/fuzz_targets/webhook_verify.rs) with cargo-fuzz/libFuzzer.
#
#   scripts/fuzz.sh            # 1,000,000 executions (the default)
#   RUNS=5000000 scripts/fuzz.sh
#   scripts/fuzz.sh -max_total_time=600   # extra arguments go to libFuzzer
#
# cargo-fuzz is installed into .tools/cargo (gitignored) when missing. The toolchain is the
# project's stable one: RUSTC_BOOTSTRAP=1 lets it accept the -Z flags cargo-fuzz passes. The
# sanitizer is off: the crate forbids unsafe code, so AddressSanitizer would only slow it down;
# libFuzzer's coverage guidance and its panic detection are what matter here.
# Exits non-zero if the target panics (the crashing input is saved under fuzz/artifacts/).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

target="webhook_verify"
runs="${RUNS:-1000000}"
tools="$root/.tools/cargo"
export PATH="$tools/bin:$PATH"

if ! command -v cargo-fuzz >/dev/null 2>&1; then
    echo "fuzz.sh: installing cargo-fuzz into .tools/cargo" >&2
    cargo install cargo-fuzz --locked --root "$tools"
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
