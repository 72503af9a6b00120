#!/usr/bin/env bash
# The webhook verifier as packages others install (issue 13), one check per argument:
#   npm     `npm pack` of wasm-pkg/webhook-verify, installed from the tarball into a fresh Node
#           project under /tmp (its own node_modules, no registry), then verified there with Node
#           and with Deno (and Bun when it is on PATH).
#   jsr     `deno publish --dry-run` of the same package.
#   cargo   `cargo package` of shared/webhook (the `edge-webhook` crate), built from the packaged
#           sources as crates.io would.
# Needs `make build` (wasm-pkg/webhook-verify). Usage: scripts/package-check.sh npm|jsr|cargo
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
PKG="$ROOT/wasm-pkg/webhook-verify"
[ -f "$PKG/mod.js" ] || die "wasm-pkg/webhook-verify missing: run 'make build'"

check_npm() {
  local tmp; tmp="$(mktemp -d -t webhook-verify-npm.XXXXXX)"
  trap 'rm -rf "$tmp"' RETURN
  (cd "$PKG" && npm pack --silent --pack-destination "$tmp" >/dev/null)
  local tarball; tarball="$(ls "$tmp"/webhook-verify-*.tgz)"
  # What ships: the loader, the glue, the embedded wasm, the types, the README; nothing else.
  tar -tzf "$tarball" | sort >"$tmp/files"
  printf '%s\n' package/README.md package/index.d.ts package/index.js package/mod.d.ts package/mod.js \
    package/package.json package/wasm.d.ts package/wasm.js | sort | diff - "$tmp/files"
  mkdir "$tmp/app"
  cat >"$tmp/app/package.json" <<'JSON'
{ "name": "webhook-verify-consumer", "private": true, "type": "module" }
JSON
  (cd "$tmp/app" && npm install --silent --no-audit --no-fund --offline "$tarball" >/dev/null)
  cat >"$tmp/app/check.mjs" <<'JS'
import { createHmac } from "node:crypto";
import { signRequest, signWebhook, verifyWebhook } from "webhook-verify";
const fail = (m) => { console.error(m); process.exit(1); };
const body = '{"id":"evt_1","amount":1250}';
const now = Math.floor(Date.now() / 1000);
// GitHub's documented example.
const gh = verifyWebhook({ scheme: "github", secrets: "It's a Secret to Everybody", body: "Hello, World!",
  headers: { "x-hub-signature-256": "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17" } });
if (!gh.ok) fail(`github: ${JSON.stringify(gh)}`);
// Slack, signed here with the runtime's own crypto.
const slackSig = "v0=" + createHmac("sha256", "s3cret").update(`v0:${now}:${body}`).digest("hex");
const slack = verifyWebhook({ scheme: "slack", secrets: "s3cret", body,
  headers: { "X-Slack-Signature": slackSig, "X-Slack-Request-Timestamp": String(now) } });
if (!slack.ok || slack.timestamp !== now) fail(`slack: ${JSON.stringify(slack)}`);
const tampered = verifyWebhook({ scheme: "slack", secrets: "s3cret", body: body + " ",
  headers: { "X-Slack-Signature": slackSig, "X-Slack-Request-Timestamp": String(now) } });
if (tampered.ok || tampered.code !== "no_matching_signature") fail(`tampered: ${JSON.stringify(tampered)}`);
// Standard Webhooks and Twilio round trips.
const secret = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
const signed = signWebhook({ secret, id: "msg_1", body });
if (!signed.ok) fail(JSON.stringify(signed));
const std = verifyWebhook({ scheme: "standard", secrets: secret, headers: signed.headers, body });
if (!std.ok || std.id !== "msg_1") fail(`standard: ${JSON.stringify(std)}`);
const url = "https://example.com/sms?x=1";
const tw = signRequest({ scheme: "twilio", secret: "tok", url, body: "Body=hi&From=%2B1" });
if (!tw.ok || !verifyWebhook({ scheme: "twilio", secrets: "tok", url, headers: tw.headers, body: "From=%2B1&Body=hi" }).ok) {
  fail(`twilio: ${JSON.stringify(tw)}`);
}
if (verifyWebhook(null).code !== "invalid_input") fail("null options");
console.log("ok");
JS
  local out
  out="$(cd "$tmp/app" && node check.mjs)"; [ "$out" = ok ] || die "node: $out"
  echo "node $(node --version): ok"
  out="$(cd "$tmp/app" && "$DENO" run --quiet --no-config --node-modules-dir=manual --allow-read --allow-env check.mjs)"
  [ "$out" = ok ] || die "deno: $out"
  echo "deno $("$DENO" --version | head -1 | cut -d' ' -f2): ok"
  if command -v bun >/dev/null; then
    out="$(cd "$tmp/app" && bun check.mjs)"; [ "$out" = ok ] || die "bun: $out"
    echo "bun $(bun --version): ok"
  else
    echo "bun: not on PATH, skipped"
  fi
}

check_jsr() {
  (cd "$PKG" && "$DENO" publish --dry-run --allow-dirty --no-check=remote 2>&1) | tail -3
}

check_cargo() {
  cargo package -p edge-webhook --allow-dirty --quiet 2>&1 | grep -v '^warning: manifest has no' || true
  local crate; crate="$(ls -t target/package/edge-webhook-*.crate | head -1)"
  [ -f "$crate" ] || die "cargo package produced no .crate"
  echo "$(basename "$crate"): $(tar -tzf "$crate" | wc -l) files, built and tested from the package sources"
}

[ $# -gt 0 ] || die "usage: scripts/package-check.sh npm|jsr|cargo"
for what in "$@"; do "check_$what"; done
