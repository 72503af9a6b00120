#!/usr/bin/env bash
# Build every functions/<name> and modules/<name> crate to wasm-pkg/<name>/: cargo (wasm32, size-tuned release
# profile) -> wasm-bindgen CLI (--target web; the wrapper instantiates from bytes, never with
# fetch) -> wasm-opt -Oz -> wasm.js, a module exporting the wasm bytes so that they travel in the
# static import graph (the Supabase CLI's bundler ships only what literal static imports reach).
# Usage: scripts/build-wasm.sh [--dev] [name...]   (no name: every crate above)
#   --dev  skip wasm-opt (make dev: seconds instead of ~10 s per module; a larger wasm that
#          behaves the same). The next build without --dev optimises it again.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

WASM_BINDGEN="$TOOLS/cargo/bin/wasm-bindgen"
WASM_OPT="$ROOT/node_modules/.bin/wasm-opt"
[ -x "$WASM_BINDGEN" ] || die "wasm-bindgen CLI missing: run 'make tools'"
[ -x "$WASM_OPT" ] || die "wasm-opt missing: run 'make tools'"
[ -x "$DENO" ] || die "deno missing: run 'make tools'"

mode=opt
if [ "${1:-}" = --dev ]; then mode=dev; shift; fi
names=("$@")
if [ ${#names[@]} -eq 0 ]; then
  for d in functions/*/ modules/*/ tests/fixtures/*/; do [ -f "$d/Cargo.toml" ] && names+=("$(basename "$d")"); done
fi
pkgs=(); for n in "${names[@]}"; do pkgs+=(-p "$n"); done
cargo build --quiet --target wasm32-unknown-unknown --release "${pkgs[@]}"

# The tools' versions, once (wasm-opt is binaryen's JS build: ~1 s per start under node).
tool_versions="$("$WASM_BINDGEN" --version | tr -dc "0-9.")-$("$WASM_OPT" --version | tr -dc '0-9.')"
for n in "${names[@]}"; do
  lib="${n//-/_}"
  out="wasm-pkg/$n"
  input="target/wasm32-unknown-unknown/release/$lib.wasm"
  # Skip wasm-bindgen + wasm-opt (seconds per module) when cargo's output, the tools and this
  # script are what the package was last built from.
  stamp="$(cat "$input" "$0" "$ROOT/scripts/embed-wasm.ts" | sha256sum | cut -c1-16)-$tool_versions-$mode"
  extras=(); for extra in functions/"$n"/js modules/"$n"/js; do [ -d "$extra" ] && extras+=("$extra"); done
  if [ -f "$out/.built-from" ] && [ "$(cat "$out/.built-from")" = "$stamp" ] && [ -f "$out/wasm.js" ]; then
    for extra in "${extras[@]}"; do cp -r "$extra"/. "$out"/; done
    printf '%-16s %8d bytes (unchanged)\n' "$n" "$(stat -c %s "$out/index_bg.wasm")"
    continue
  fi
  rm -rf "$out"; mkdir -p "$out"
  "$WASM_BINDGEN" --target web --experimental-reset-state-function --out-name index --out-dir "$out" "$input"
  [ "$mode" = dev ] || "$WASM_OPT" -Oz --strip-debug --strip-producers --enable-bulk-memory --enable-nontrapping-float-to-int --enable-sign-ext --enable-mutable-globals \
    --enable-reference-types --enable-multivalue \
    "$out/index_bg.wasm" -o "$out/index_bg.wasm"
  "$DENO" run --quiet --allow-read="$out" --allow-write="$out" "$ROOT/scripts/embed-wasm.ts" "$out"
  # A module may ship hand-written JS/TS next to the generated glue (modules/<name>/js/).
  for extra in "${extras[@]}"; do cp -r "$extra"/. "$out"/; done
  echo "$stamp" >"$out/.built-from"
  printf '%-16s %8d bytes%s\n' "$n" "$(stat -c %s "$out/index_bg.wasm")" "$([ "$mode" = dev ] && echo " (--dev: not optimised)")"
done
