// Every webhook scheme of wasm-pkg/webhook-verify at 1 KB, and ours against each provider SDK's own
// verify where one exists (svix, @octokit/webhooks-methods, @slack/bolt, @paddle/paddle-node-sdk,
// discord-interactions, twilio, @sendgrid/eventwebhook), side by side in one interleaved run
// (bench/timing.ts). Each implementation must accept the request and reject a tampered body
// before it is timed.
//
//   scripts/build-wasm.sh webhook-verify
//   node_modules/.bin/deno run --node-modules-dir=none --allow-all bench/webhook_providers.ts
//
// Environment: BENCH_BATCHES (default 7), BENCH_BATCH_MS (default 60), BENCH_SIZE (bytes, default 1024).
import { generateKeyPairSync } from "node:crypto";
import { Webhook as Svix } from "npm:svix@1";
import { verify as octokitVerify } from "npm:@octokit/webhooks-methods@5";
import { isValidSlackRequest } from "npm:@slack/bolt@4";
import { Paddle } from "npm:@paddle/paddle-node-sdk@2";
import { verifyKey } from "npm:discord-interactions@4";
import twilio from "npm:twilio@5";
import * as sendgrid from "npm:@sendgrid/eventwebhook@8";
import { schemes, signRequest, verifyWebhook, type WebhookScheme } from "../wasm-pkg/webhook-verify/mod.js";
import { env, fmt, type Impl, measure } from "./timing.ts";

const BATCHES = Number(env("BENCH_BATCHES") ?? 7);
const BATCH_MS = Number(env("BENCH_BATCH_MS") ?? 60);
const SIZE = Number(env("BENCH_SIZE") ?? 1024);

const now = Math.floor(Date.now() / 1000);
const SECRET = "provider_secret_0123456789";
const STANDARD_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const URL_ = "https://example.com/hooks/provider?account=1";
const DISCORD_SEED = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60";
const DISCORD_PUBLIC = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";
const keys = generateKeyPairSync("ec", { namedCurve: "P-256" });
const SENDGRID_PRIVATE = keys.privateKey.export({ type: "pkcs8", format: "der" }).toString("base64");
const SENDGRID_PUBLIC = keys.publicKey.export({ type: "spki", format: "der" }).toString("base64");

/** A JSON body of exactly `size` ASCII bytes. */
function jsonBody(size: number): string {
  const head = '{"type":"invoice.paid","data":{"note":"';
  const tail = '"}}';
  return head + "x".repeat(size - head.length - tail.length) + tail;
}
/** A form body of exactly `size` bytes, as Twilio posts. */
function formBody(size: number): { form: string; params: Record<string, string> } {
  const params: Record<string, string> = { From: "+14155550100", To: "+14155550199", MessageSid: "SM1", Body: "" };
  const base = new URLSearchParams(params).toString().length;
  params.Body = "x".repeat(size - base);
  return { form: new URLSearchParams(params).toString(), params };
}

const SCHEMES = schemes;
const signingSecret = (s: string) =>
  s === "standard" ? STANDARD_SECRET : s === "discord" ? DISCORD_SEED : s === "sendgrid" ? SENDGRID_PRIVATE : SECRET;
const verifyingSecret = (s: string) =>
  s === "standard" ? STANDARD_SECRET : s === "discord" ? DISCORD_PUBLIC : s === "sendgrid" ? SENDGRID_PUBLIC : SECRET;

const json = jsonBody(SIZE);
const { form, params } = formBody(SIZE);
const paddle = new Paddle("pdl_sdbx_apikey_0000000000000000000000000_0000000000000000000000_000");
const EventWebhook = (sendgrid as unknown as { EventWebhook?: new () => unknown }).EventWebhook ??
  (sendgrid as unknown as { default: { EventWebhook: new () => unknown } }).default.EventWebhook;
// deno-lint-ignore no-explicit-any
const ew: any = new EventWebhook();
const sendgridKey = ew.convertPublicKeyToECDSA(SENDGRID_PUBLIC);

interface Row {
  scheme: string;
  ours: Impl;
  sdk?: Impl;
}
const rows: Row[] = [];
for (const scheme of SCHEMES) {
  const body = scheme === "twilio" ? form : json;
  const signed = signRequest({ scheme, secret: signingSecret(scheme), id: "msg_1", timestamp: now, url: URL_, body });
  if (!signed.ok) throw new Error(`${scheme}: ${JSON.stringify(signed)}`);
  const h = signed.headers;
  const options = { scheme, secrets: verifyingSecret(scheme), headers: h, body, url: URL_, now };
  const ours: Impl = { name: `ours ${scheme}`, op: () => verifyWebhook(options), isAsync: false, results: [] };
  if (!verifyWebhook(options).ok || verifyWebhook({ ...options, body: body.replace("x", "y") }).ok) {
    throw new Error(`${scheme}: ours does not accept the request or accepts a tampered one`);
  }
  // The provider SDK's verify, given the same request; [name, op, isAsync].
  type Sdk = [string, (body: string) => unknown, boolean];
  const sdks: Partial<Record<WebhookScheme, Sdk>> = {
    standard: ["svix", (b) => {
      try {
        new Svix(STANDARD_SECRET).verify(b, {
          "svix-id": h["webhook-id"],
          "svix-timestamp": h["webhook-timestamp"],
          "svix-signature": h["webhook-signature"],
        });
        return true;
      } catch {
        return false;
      }
    }, false],
    github: ["@octokit/webhooks-methods", (b) => octokitVerify(SECRET, b, h["x-hub-signature-256"]), true],
    slack: ["@slack/bolt", (b) =>
      isValidSlackRequest({
        signingSecret: SECRET,
        body: b,
        headers: {
          "x-slack-signature": h["x-slack-signature"],
          "x-slack-request-timestamp": Number(h["x-slack-request-timestamp"]),
        },
      }), false],
    paddle: [
      "@paddle/paddle-node-sdk",
      (b) => paddle.webhooks.isSignatureValid(b, SECRET, h["paddle-signature"]),
      true,
    ],
    discord: [
      "discord-interactions",
      (b) => verifyKey(b, h["x-signature-ed25519"], h["x-signature-timestamp"], DISCORD_PUBLIC),
      true,
    ],
    twilio: ["twilio", (b) =>
      twilio.validateRequest(
        SECRET,
        h["x-twilio-signature"],
        URL_,
        b === form ? params : { ...params, Body: "y" },
      ), false],
    sendgrid: ["@sendgrid/eventwebhook", (b) =>
      ew.verifySignature(
        sendgridKey,
        b,
        h["x-twilio-email-event-webhook-signature"],
        h["x-twilio-email-event-webhook-timestamp"],
      ), false],
  };
  const sdk = sdks[scheme];
  let sdkImpl: Impl | undefined;
  if (sdk) {
    const [name, verify, isAsync] = sdk;
    if (!(await verify(body)) || await verify(body.replace("x", "y"))) {
      throw new Error(`${scheme}: ${name} does not accept the request or accepts a tampered one`);
    }
    sdkImpl = { name, op: () => verify(body), isAsync, results: [] };
  }
  rows.push({ scheme, ours, sdk: sdkImpl });
}

const impls = rows.flatMap((r) => r.sdk ? [r.ours, r.sdk] : [r.ours]);
const medians = await measure(impls, BATCHES, BATCH_MS);
const time = new Map(impls.map((impl, i) => [impl, medians[i]]));

console.log(
  `Every scheme's verify at ${SIZE} B, µs per verification (median of ${BATCHES} interleaved batches of >= ${BATCH_MS} ms); ` +
    `Deno ${Deno.version.deno}, ${navigator.hardwareConcurrency} CPUs\n`,
);
console.log("| scheme | ours (wasm) | provider SDK | SDK | SDK time / ours |");
console.log("|---|---:|---|---:|---:|");
const ratios: string[] = [];
for (const { scheme, ours, sdk } of rows) {
  const o = time.get(ours)!;
  if (sdk) {
    const s = time.get(sdk)!;
    console.log(`| ${scheme} | ${fmt(o)} | ${sdk.name} | ${fmt(s)} | ${(s / o).toFixed(2)}x |`);
    ratios.push(`ratio ${scheme}: ours ${fmt(o)} µs vs ${sdk.name} ${fmt(s)} µs = ${(o / s).toFixed(2)}x the time`);
  } else {
    console.log(`| ${scheme} | ${fmt(o)} | (none) | | |`);
  }
}
console.log();
for (const line of ratios) console.log(line);
