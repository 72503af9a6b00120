#!/usr/bin/env bash
# `make deploy` (after `make build`): check every function's bundle, then deploy each function
# listed in supabase/config.toml with the Supabase CLI:
#   supabase functions deploy <name> [--project-ref $PROJECT_REF] [$DEPLOY_FLAGS]
# Without PROJECT_REF the CLI uses the linked project (`supabase link --project-ref <ref>`).
# DEPLOY_FLAGS passes more flags to every deploy (for example --use-api to bundle on Supabase's
# side instead of in Docker). Fails with one line when the CLI is missing: nothing is deployed.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

# Imports from outside supabase/functions (wasm-pkg/<name>/ at the project root) need this.
MIN_CLI=2.21.2

names=()
while IFS= read -r n; do names+=("$n"); done < <(sed -n 's/^\[functions\.\([A-Za-z0-9_-]*\)\][[:space:]]*$/\1/p' supabase/config.toml)
[ ${#names[@]} -gt 0 ] || die "no [functions.<name>] in supabase/config.toml"
for n in "${names[@]}"; do
  [ -f "supabase/functions/$n/index.ts" ] || die "supabase/functions/$n/index.ts is missing"
  [ -d "wasm-pkg/$n" ] || die "wasm-pkg/$n is missing: run 'make build' first"
done

# The bundle check (each function bundled into one file and run with no read permission).
[ -x scripts/bundle-check.sh ] || die "scripts/bundle-check.sh is missing: cannot check the bundles, not deploying"
scripts/bundle-check.sh

if ! command -v supabase >/dev/null 2>&1; then
  echo "error: supabase CLI not found: install it (>= $MIN_CLI, https://supabase.com/docs/guides/local-development/cli/getting-started), run 'supabase login', then rerun make deploy (PROJECT_REF=<ref>, or 'supabase link' first); nothing was deployed" >&2
  exit 1
fi
version="$(supabase --version 2>/dev/null | grep -Eo '[0-9]+\.[0-9]+\.[0-9]+' | head -n 1 || true)"
if [ -n "$version" ] && [ "$(printf '%s\n%s\n' "$MIN_CLI" "$version" | sort -V | head -n 1)" != "$MIN_CLI" ]; then
  die "supabase CLI $version is too old: $MIN_CLI or later is needed (functions import ../../../wasm-pkg); nothing was deployed"
fi

ref=()
[ -n "${PROJECT_REF:-}" ] && ref=(--project-ref "$PROJECT_REF")
# shellcheck disable=SC2206 # DEPLOY_FLAGS is a list of flags, split on purpose
extra=(${DEPLOY_FLAGS:-})
for n in "${names[@]}"; do
  echo "== supabase functions deploy $n ${ref[*]} ${extra[*]}"
  supabase functions deploy "$n" "${ref[@]}" "${extra[@]}"
done
echo "deployed ${#names[@]} functions: ${names[*]}"
echo "next: make smoke URL=https://${PROJECT_REF:-<project-ref>}.supabase.co KEY=<secret key>"
