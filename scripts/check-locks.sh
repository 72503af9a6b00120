#!/usr/bin/env bash
# The lockfiles are current, so that installing and building never rewrites them (a fresh clone
# stays clean after make start, make test, make fuzz). Run by `make lint` (scripts/test.sh lint).
#  - fuzz/Cargo.lock: cargo would not change it (--locked), and every crate it shares with
#    Cargo.lock is at Cargo.lock's version (scripts/fuzz.sh --update-lock regenerates it).
#  - package-lock.json: it has package.json's devDependencies, and an entry for every optional
#    dependency of every package (deno's binaries for each platform; a lock written by npm 11
#    on one platform may hold only that platform's, and then changes on a clone elsewhere).
#    node_modules is installed with `npm ci`, which never writes the lock.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
fail=0

if ! cargo metadata --locked --quiet --format-version 1 --manifest-path fuzz/Cargo.toml >/dev/null; then
  echo "fuzz/Cargo.lock is stale: run scripts/fuzz.sh --update-lock and commit it"
  fail=1
fi
# "name version" lines of a Cargo.lock.
versions() {
  awk '/^\[\[package\]\]/ { n = "" } /^name = / { n = $3; gsub(/"/, "", n) }
    /^version = / && n != "" { v = $3; gsub(/"/, "", v); print n, v; n = "" }' "$1" | LC_ALL=C sort -u
}
drift="$(LC_ALL=C join <(versions Cargo.lock | awk '{ a[$1] = a[$1] " " $2 } END { for (k in a) print k a[k] }' | LC_ALL=C sort) \
  <(versions fuzz/Cargo.lock) | awk '{ found = 0; for (i = 2; i < NF; i++) if ($i == $NF) found = 1; if (!found) print $1, $NF }')"
if [ -n "$drift" ]; then
  echo "fuzz/Cargo.lock has versions Cargo.lock does not (scripts/fuzz.sh --update-lock):"
  echo "$drift"
  fail=1
fi

"$DENO" eval --quiet '
const pkg = JSON.parse(Deno.readTextFileSync("package.json"));
const lock = JSON.parse(Deno.readTextFileSync("package-lock.json"));
const problems = [];
const root = lock.packages?.[""] ?? {};
for (const [name, range] of Object.entries(pkg.devDependencies ?? {})) {
  if (root.devDependencies?.[name] !== range) problems.push(`${name}: package.json ${range}, lock ${root.devDependencies?.[name]}`);
  if (!lock.packages?.[`node_modules/${name}`]) problems.push(`${name}: no node_modules/${name} entry`);
}
for (const [path, entry] of Object.entries(lock.packages ?? {})) {
  for (const dep of Object.keys(entry.optionalDependencies ?? {})) {
    if (!lock.packages[`node_modules/${dep}`]) problems.push(`${path}: optional ${dep} has no entry (another platform)`);
  }
}
if (problems.length) {
  console.log("package-lock.json does not match package.json or lacks platforms (npm install --package-lock-only on npm 10, or add the entries):");
  for (const p of problems) console.log(`  ${p}`);
  Deno.exit(1);
}' || fail=1

[ "$fail" = 0 ] && echo "lockfiles current: fuzz/Cargo.lock (from Cargo.lock), package-lock.json (every platform)"
exit "$fail"
