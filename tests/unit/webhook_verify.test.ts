// The `webhook-verify` wasm module from TypeScript (wasm-pkg/webhook-verify/mod.js).
//
//   scripts/build-wasm.sh webhook-verify
//   node_modules/.bin/deno test --allow-read tests/unit/webhook_verify.test.ts
//
// 1. The loader instantiates from bytes, synchronously: no fetch(), no streaming WebAssembly API
//    (Supabase's edge-runtime cannot fetch module files; plain Deno would not notice).
// 2. Published vectors and interop with npm:standardwebhooks and npm:stripe, both directions.
// 3. Any tampered byte of body, id, timestamp, secret or signature fails.
// 4. No input makes it throw: every bad call answers { ok: false, code, message }.
import { createHmac } from "node:crypto";
import Stripe from "npm:stripe";
import { Webhook } from "npm:standardwebhooks";
import { assert, assertEquals } from "../assert.ts";

import type { WebhookBody, WebhookHeaders } from "../../wasm-pkg/webhook-verify/mod.js";

// Type-only imports are erased: the module itself is loaded below, under the fetch stubs.
type WebhookModule = typeof import("../../wasm-pkg/webhook-verify/mod.js");

// --- 1. Load the module with fetch and the streaming APIs stubbed out (before anything else
// imports it, and with a cache-busting query so that mod.js is evaluated here).
const loaderCalls: string[] = [];
let loaderError: unknown;
let loaderProbe: unknown;
{
  const saved = {
    fetch: globalThis.fetch,
    instantiateStreaming: WebAssembly.instantiateStreaming,
    compileStreaming: WebAssembly.compileStreaming,
  };
  globalThis.fetch = (input: RequestInfo | URL) => {
    loaderCalls.push(`fetch ${input}`);
    return Promise.reject(new TypeError("NetworkError when attempting to fetch resource"));
  };
  WebAssembly.instantiateStreaming = () => {
    loaderCalls.push("instantiateStreaming");
    return Promise.reject(new Error("instantiateStreaming used"));
  };
  WebAssembly.compileStreaming = () => {
    loaderCalls.push("compileStreaming");
    return Promise.reject(new Error("compileStreaming used"));
  };
  try {
    const probe: WebhookModule = await import(
      `../../wasm-pkg/webhook-verify/mod.js?loader-probe=${crypto.randomUUID()}`
    );
    loaderProbe = probe.verifyWebhook({
      scheme: "github",
      secrets: "It's a Secret to Everybody",
      headers: { "X-Hub-Signature-256": "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17" },
      body: "Hello, World!",
    });
  } catch (e) {
    loaderError = e;
  } finally {
    globalThis.fetch = saved.fetch;
    WebAssembly.instantiateStreaming = saved.instantiateStreaming;
    WebAssembly.compileStreaming = saved.compileStreaming;
  }
}
// The other tests run even when the probe failed (the loader test then reports why).
const mod: WebhookModule = await import(`../../wasm-pkg/webhook-verify/mod.js?tests=${crypto.randomUUID()}`);
const { signStripe, signWebhook, verifyWebhook } = mod;

// The Standard Webhooks spec's published vector.
const SECRET = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
const ID = "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk";
const TS = 1649367553;
const BODY = '{"email":"test@example.com","username":"test_user"}';
const SIGNATURE = "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw=";
const HEADERS = { "webhook-id": ID, "webhook-timestamp": String(TS), "webhook-signature": SIGNATURE };

const CODES = new Set([
  "missing_header",
  "malformed_header",
  "timestamp_out_of_tolerance",
  "no_matching_signature",
  "body_too_large",
  "invalid_secret",
  "invalid_input",
]);
const encoder = new TextEncoder();
const nowSeconds = () => Math.floor(Date.now() / 1000);

function assertOk(result: unknown, what = "result"): void {
  const r = result as { ok?: unknown };
  assert(r !== null && typeof r === "object" && r.ok === true, `${what}: expected ok, got ${JSON.stringify(result)}`);
}

/** `{ ok: false }` with a known code and a message; returns the code. */
function failureCode(result: unknown, what = "result"): string {
  const r = result as { ok?: unknown; code?: unknown; message?: unknown };
  assert(r !== null && typeof r === "object", `${what}: not an object: ${String(result)}`);
  assert(r.ok === false, `${what}: expected a failure, got ${JSON.stringify(result)}`);
  assert(typeof r.code === "string" && CODES.has(r.code), `${what}: unknown code ${JSON.stringify(r.code)}`);
  assert(typeof r.message === "string" && r.message.length > 0, `${what}: no message`);
  return r.code;
}

function verifyVector(overrides: Record<string, unknown> = {}) {
  return verifyWebhook({ scheme: "standard", secrets: SECRET, headers: HEADERS, body: BODY, now: TS, ...overrides });
}

Deno.test("loader: instantiates from bytes, never fetch() or the streaming WebAssembly APIs", async () => {
  assertEquals(loaderCalls, []);
  assertEquals(loaderError, undefined);
  assertEquals(loaderProbe, { ok: true });
  // And the loader's source says so (a fetch loader could also hide behind a lazy init).
  const source = (await Deno.readTextFile(new URL("../../wasm-pkg/webhook-verify/mod.js", import.meta.url)))
    .replace(/\/\*[\s\S]*?\*\//g, "")
    .replace(/\/\/.*$/gm, "");
  assert(/\binitSync\(/.test(source), "mod.js must use initSync");
  assert(!/fetch\s*\(|instantiateStreaming|compileStreaming|\bdefault\b/.test(source), "mod.js must not fetch");
});

Deno.test("published Standard Webhooks vector verifies with `now` injected, and signWebhook reproduces it", () => {
  assertEquals(verifyVector(), { ok: true, id: ID, timestamp: TS });
  assertEquals(verifyVector({ now: TS + 300 }).ok, true);
  assertEquals(verifyVector({ now: TS - 300 }).ok, true);
  assertEquals(failureCode(verifyVector({ now: TS + 301 })), "timestamp_out_of_tolerance");
  assertEquals(failureCode(verifyVector({ now: TS - 301 })), "timestamp_out_of_tolerance");
  assertEquals(verifyVector({ now: TS + 10_000, toleranceSeconds: Infinity }).ok, true);
  assertEquals(failureCode(verifyVector({ now: TS + 11, toleranceSeconds: 10 })), "timestamp_out_of_tolerance");
  // Without `now`, the real clock (2022 is long past).
  assertEquals(failureCode(verifyVector({ now: undefined })), "timestamp_out_of_tolerance");
  assertEquals(signWebhook({ secret: SECRET, id: ID, timestamp: TS, body: BODY }), {
    ok: true,
    headers: { "webhook-id": ID, "webhook-timestamp": String(TS), "webhook-signature": SIGNATURE },
  });
  // Supabase Auth Hooks' secret form and the bare base64 secret.
  assertEquals(verifyVector({ secrets: `v1,${SECRET}` }).ok, true);
  assertEquals(verifyVector({ secrets: SECRET.slice("whsec_".length) }).ok, true);
});

Deno.test("headers, bodies and secrets in every accepted form", () => {
  const bytes = encoder.encode(BODY);
  const padded = new Uint8Array(bytes.length + 20);
  padded.set(bytes, 7);
  const headerForms: [string, WebhookHeaders][] = [
    ["plain object", HEADERS],
    ["mixed-case object", { "Webhook-Id": ID, "WEBHOOK-TIMESTAMP": String(TS), "webhook-Signature": SIGNATURE }],
    ["Headers", new Headers(HEADERS)],
    ["array of pairs", Object.entries(HEADERS)],
    ["Map", new Map(Object.entries(HEADERS))],
    [
      "generator",
      (function* () {
        yield* Object.entries(HEADERS);
      })(),
    ],
    ["Node-style string[]", { ...HEADERS, "webhook-signature": ["v1,AAAA", SIGNATURE] }],
    ["svix- names", { "svix-id": ID, "svix-timestamp": String(TS), "svix-signature": SIGNATURE }],
    ["with unrelated headers", { host: "x", "content-type": "application/json", ...HEADERS, "user-agent": "y" }],
    ["key with a newline", { "x\ny": "z", ...HEADERS }],
    ["rotation: several entries", { ...HEADERS, "webhook-signature": `v1,bm9wZQ== v2,zzz ${SIGNATURE}` }],
  ];
  const bodyForms: [string, WebhookBody][] = [
    ["string", BODY],
    ["Uint8Array", bytes],
    ["ArrayBuffer", bytes.slice().buffer],
    ["Uint8Array view at an offset", padded.subarray(7, 7 + bytes.length)],
  ];
  for (const [hName, headers] of headerForms) {
    for (const [bName, body] of bodyForms) {
      if (hName === "generator" && bName !== "string") continue; // a generator runs once
      const result = verifyWebhook({ scheme: "standard", secrets: SECRET, headers, body, now: TS });
      assertEquals(result, { ok: true, id: ID, timestamp: TS }, `${hName} + ${bName}`);
    }
  }
  // Scheme spellings, and a list of secrets where one matches.
  for (const scheme of ["standard", "standardwebhooks", "Standard-Webhooks", "STANDARD_WEBHOOKS"]) {
    assertOk(verifyVector({ scheme }), scheme);
  }
  const other = `whsec_${btoa("0123456789abcdef01234567")}`;
  assertOk(verifyVector({ secrets: [other, SECRET] }), "rotation");
  assertOk(verifyVector({ secrets: `${other}|${SECRET}` }), "joined secrets");
  assertEquals(failureCode(verifyVector({ secrets: [other] })), "no_matching_signature");
  // Repeated and missing headers.
  assertEquals(
    failureCode(verifyVector({ headers: [...Object.entries(HEADERS), ["webhook-id", "x"]] })),
    "malformed_header",
  );
  assertEquals(failureCode(verifyVector({ headers: { "webhook-id": ID } })), "missing_header");
  assertEquals(failureCode(verifyVector({ headers: new Headers() })), "missing_header");
});

Deno.test("body cap: larger than maxBodyBytes is body_too_large, strings measured in UTF-8", () => {
  assertEquals(failureCode(verifyVector({ maxBodyBytes: BODY.length - 1 })), "body_too_large");
  assertEquals(failureCode(verifyVector({ maxBodyBytes: 10, body: encoder.encode(BODY) })), "body_too_large");
  assertOk(verifyVector({ maxBodyBytes: BODY.length }));
  const accents = "é".repeat(10); // 10 UTF-16 units, 20 UTF-8 bytes
  assertEquals(failureCode(verifyVector({ maxBodyBytes: 15, body: accents })), "body_too_large");
  assertEquals(failureCode(verifyVector({ maxBodyBytes: 20, body: accents })), "no_matching_signature");
  assertEquals(failureCode(verifyVector({ body: "x".repeat(300 * 1024) })), "body_too_large"); // default 256 KiB
});

Deno.test("interop: npm:standardwebhooks signatures verify here (string and bytes bodies)", () => {
  const payloads = [BODY, "", "{}", '{"name":"Zoë 🚀 naïve","n":1}', "x".repeat(20 * 1024)];
  for (const secret of [SECRET, `whsec_${btoa("k".repeat(64))}`]) {
    const wh = new Webhook(secret);
    for (const payload of payloads) {
      for (const ts of [TS, 1_900_000_000]) {
        const signature = wh.sign(ID, new Date(ts * 1000), payload);
        const headers = { "webhook-id": ID, "webhook-timestamp": String(ts), "webhook-signature": signature };
        for (const body of [payload, encoder.encode(payload)]) {
          const result = verifyWebhook({ scheme: "standard", secrets: secret, headers, body, now: ts });
          assertEquals(result, { ok: true, id: ID, timestamp: ts }, `payload of ${payload.length} chars`);
        }
        // Lone surrogates: strings are encoded like TextEncoder (U+FFFD).
        const lone = `a\ud800b${payload}`;
        const loneSig = wh.sign(ID, new Date(ts * 1000), lone);
        const loneHeaders = { ...headers, "webhook-signature": loneSig };
        assertOk(verifyWebhook({ scheme: "standard", secrets: secret, headers: loneHeaders, body: lone, now: ts }));
      }
    }
  }
});

Deno.test("interop: signWebhook output verifies with npm:standardwebhooks", () => {
  const payloads = [BODY, "", '{"name":"Zoë 🚀"}', "y".repeat(5000)];
  const now = nowSeconds();
  for (const payload of payloads) {
    for (const body of [payload, encoder.encode(payload)]) {
      const signed = signWebhook({ secret: SECRET, id: "msg_interop", timestamp: now, body });
      assert(signed.ok, JSON.stringify(signed));
      new Webhook(SECRET).verify(payload, { ...signed.headers }, { jsonParse: false }); // throws if invalid
      let rejected = false;
      try {
        new Webhook(SECRET).verify(`${payload} `, { ...signed.headers }, { jsonParse: false });
      } catch {
        rejected = true;
      }
      assert(rejected, "npm:standardwebhooks accepted a tampered payload");
    }
  }
  // The timestamp defaults to now.
  const signed = signWebhook({ secret: SECRET, id: "msg_now", body: BODY });
  assert(signed.ok);
  assert(Math.abs(Number(signed.headers["webhook-timestamp"]) - nowSeconds()) <= 5);
  new Webhook(SECRET).verify(BODY, { ...signed.headers });
});

Deno.test("interop: npm:stripe test headers verify here, and signStripe verifies with npm:stripe", async () => {
  const secret = "whsec_test_secret_1234567890";
  const payload = JSON.stringify({ id: "evt_1", object: "event", type: "invoice.paid", data: { note: "Zoë" } });
  const timestamp = 1_700_000_000;
  // Stripe's worker build (the one Deno loads) only has an async crypto provider by default;
  // the sync generateTestHeaderString takes any provider, here node:crypto.
  const nodeHmac = {
    computeHMACSignature: (p: string, s: string) => createHmac("sha256", s).update(p, "utf8").digest("hex"),
  };
  const headers = [
    await Stripe.webhooks.generateTestHeaderStringAsync({ payload, secret, timestamp }),
    Stripe.webhooks.generateTestHeaderString({ payload, secret, timestamp, cryptoProvider: nodeHmac as never }),
    new Stripe("sk_test_x").webhooks.generateTestHeaderString({
      payload,
      secret,
      timestamp,
      cryptoProvider: nodeHmac as never,
    }),
  ];
  for (const header of headers) {
    for (const body of [payload, encoder.encode(payload)]) {
      const result = verifyWebhook({
        scheme: "stripe",
        secrets: secret,
        headers: { "Stripe-Signature": header },
        body,
        now: timestamp + 10,
      });
      assertEquals(result, { ok: true, timestamp });
    }
    assertEquals(
      failureCode(verifyWebhook({
        scheme: "stripe",
        secrets: secret,
        headers: { "stripe-signature": header },
        body: payload,
        now: timestamp + 301,
      })),
      "timestamp_out_of_tolerance",
    );
  }
  const signed = signStripe({ secret, timestamp, body: payload });
  assert(signed.ok, JSON.stringify(signed));
  assertEquals(signed.headers["stripe-signature"], headers[0]);
  const now = nowSeconds();
  const fresh = signStripe({ secret, timestamp: now, body: payload });
  assert(fresh.ok);
  const event = await Stripe.webhooks.constructEventAsync(payload, fresh.headers["stripe-signature"], secret);
  assertEquals(event.id, "evt_1");
  let rejected = false;
  try {
    await Stripe.webhooks.constructEventAsync(`${payload} `, fresh.headers["stripe-signature"], secret);
  } catch {
    rejected = true;
  }
  assert(rejected, "npm:stripe accepted a tampered payload");
  assertEquals(failureCode(signStripe({ secret: "", body: payload })), "invalid_secret");
});

Deno.test("GitHub's documented example and a Shopify signature verify", () => {
  const gh = verifyWebhook({
    scheme: "github",
    secrets: "It's a Secret to Everybody",
    headers: {
      "X-Hub-Signature-256": "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17",
      "X-GitHub-Delivery": "72d3162e-cc78-11e3-81ab-4c9367dc0958",
    },
    body: "Hello, World!",
  });
  assertEquals(gh, { ok: true, id: "72d3162e-cc78-11e3-81ab-4c9367dc0958" });
  const body = '{"id":820982911946154508,"email":"jon@doe.ca"}';
  const hmac = createHmac("sha256", "shpss_secret").update(body).digest("base64");
  const shop = verifyWebhook({
    scheme: "shopify",
    secrets: "shpss_secret",
    headers: new Headers({ "X-Shopify-Hmac-Sha256": hmac, "X-Shopify-Webhook-Id": "b54557e4" }),
    body: encoder.encode(body),
  });
  assertEquals(shop, { ok: true, id: "b54557e4" });
});

/** `s` with the character at `i` replaced by another one from `alphabet`. */
function replaceAt(s: string, i: number, alphabet: string): string {
  const c = alphabet[(alphabet.indexOf(s[i]) + 1) % alphabet.length] ?? alphabet[0];
  return s.slice(0, i) + (c === s[i] ? alphabet[1] : c) + s.slice(i + 1);
}
const B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

Deno.test("tampering: any changed byte of body, id, timestamp, secret or signature fails", () => {
  let checked = 0;
  const expectReject = (result: unknown, what: string) => {
    failureCode(result, what);
    checked++;
  };
  const bytes = encoder.encode(BODY);
  for (let i = 0; i < bytes.length; i++) {
    for (const bit of [0x01, 0x80]) {
      const tampered = bytes.slice();
      tampered[i] ^= bit;
      expectReject(verifyVector({ body: tampered }), `body byte ${i} ^ ${bit}`);
    }
  }
  expectReject(verifyVector({ body: `${BODY} ` }), "body with a trailing space");
  expectReject(verifyVector({ body: BODY.slice(0, -1) }), "truncated body");
  const sig = SIGNATURE.slice(3);
  for (let i = 0; i < sig.length; i++) {
    const signature = `v1,${replaceAt(sig, i, i === sig.length - 1 ? "=A" : B64)}`;
    expectReject(verifyVector({ headers: { ...HEADERS, "webhook-signature": signature } }), `signature char ${i}`);
  }
  for (
    const signature of ["v1,", "v1", "", "v1a,AAAA", `v2,${sig}`, `V1,${sig}`, `v1,${sig.slice(0, -2)}`, `v1,${sig}AA`]
  ) {
    expectReject(verifyVector({ headers: { ...HEADERS, "webhook-signature": signature } }), `signature ${signature}`);
  }
  for (let i = 0; i < ID.length; i++) {
    const id = replaceAt(ID, i, B64.slice(0, 62));
    expectReject(verifyVector({ headers: { ...HEADERS, "webhook-id": id } }), `id char ${i}`);
  }
  for (const delta of [-1, 1, 60, -60]) {
    const headers = { ...HEADERS, "webhook-timestamp": String(TS + delta) };
    assertEquals(failureCode(verifyVector({ headers })), "no_matching_signature", `timestamp ${delta}`);
    checked++;
  }
  const key = SECRET.slice("whsec_".length);
  for (let i = 0; i < key.length; i++) {
    expectReject(verifyVector({ secrets: `whsec_${replaceAt(key, i, B64)}` }), `secret char ${i}`);
  }
  // Stripe: every hex digit of the signature, and the timestamp.
  const secret = "whsec_stripe";
  const header = signStripe({ secret, timestamp: TS, body: BODY });
  assert(header.ok);
  const value = header.headers["stripe-signature"];
  const hexStart = value.indexOf("v1=") + 3;
  for (let i = hexStart; i < value.length; i++) {
    const tampered = replaceAt(value, i, "0123456789abcdef");
    const result = verifyWebhook({
      scheme: "stripe",
      secrets: secret,
      headers: { "stripe-signature": tampered },
      body: BODY,
      now: TS,
    });
    expectReject(result, `stripe hex ${i}`);
  }
  expectReject(
    verifyWebhook({
      scheme: "stripe",
      secrets: secret,
      headers: { "stripe-signature": value.replace(`t=${TS}`, `t=${TS + 1}`) },
      body: BODY,
      now: TS,
    }),
    "stripe timestamp",
  );
  assert(checked > 250, `only ${checked} tamperings checked`);
});

Deno.test("never throws: wrong types and hostile inputs all answer { ok: false, code, message }", () => {
  const huge = "a".repeat(1024 * 1024);
  const throwing = new Proxy({}, {
    get() {
      throw new Error("trap");
    },
    ownKeys() {
      throw new Error("trap");
    },
    getPrototypeOf() {
      throw new Error("trap");
    },
  });
  const revocable = Proxy.revocable({}, {});
  revocable.revoke();
  const getterThrows = Object.defineProperty({}, "scheme", {
    get() {
      throw new Error("getter");
    },
  });
  const endless = {
    *[Symbol.iterator]() {
      for (;;) yield ["x-noise", "1"];
    },
  };
  const nextThrows = {
    [Symbol.iterator]: () => ({
      next() {
        throw new Error("next");
      },
    }),
  };
  class LyingLength extends Uint8Array {
    override get length() {
      return 1e15;
    }
  }
  class ShortLength extends Uint8Array {
    override get length() {
      return 2;
    }
  }
  const manyHeaders = Object.fromEntries(Array.from({ length: 100_000 }, (_, i) => [`x-h${i}`, "v"]));
  const base = { scheme: "standard" as const, secrets: SECRET, headers: HEADERS, body: BODY, now: TS };
  const options: [string, unknown][] = [
    ["undefined", undefined],
    ["null", null],
    ["number", 42],
    ["NaN", NaN],
    ["string", "standard"],
    ["empty object", {}],
    ["array", [base]],
    ["symbol", Symbol("x")],
    ["bigint", 10n],
    ["function", () => base],
    ["throwing Proxy", throwing],
    ["revoked Proxy", revocable.proxy],
    ["throwing getter", getterThrows],
  ];
  const fields: [string, Record<string, unknown>][] = [
    ["scheme number", { scheme: 1 }],
    ["scheme unknown", { scheme: "svix2" }],
    ["scheme null", { scheme: null }],
    ["secrets number", { secrets: 1 }],
    ["secrets [number]", { secrets: [1] }],
    ["secrets []", { secrets: [] }],
    ["secrets [null]", { secrets: [null] }],
    ["secrets object", { secrets: { a: SECRET } }],
    ["secrets empty string", { secrets: "" }],
    ["secrets huge", { secrets: `whsec_${huge}` }],
    ["secrets throwing Proxy", { secrets: throwing }],
    ["secrets sparse huge array", { secrets: new Array(1e6) }],
    ["headers undefined", { headers: undefined }],
    ["headers null", { headers: null }],
    ["headers number", { headers: 5 }],
    ["headers string", { headers: "webhook-id: x" }],
    ["headers [number]", { headers: [1] }],
    ["headers [[1, 2]]", { headers: [[1, 2]] }],
    ["headers value number", { headers: { ...HEADERS, "webhook-id": 7 } }],
    ["headers value object", { headers: { ...HEADERS, "webhook-signature": { v: 1 } } }],
    ["headers value [number]", { headers: { ...HEADERS, "webhook-signature": [1] } }],
    ["headers 1 MB value", { headers: { ...HEADERS, "webhook-signature": huge } }],
    ["headers 1 MB id", { headers: { ...HEADERS, "webhook-id": huge } }],
    ["headers 1 MB Headers value", { headers: new Headers({ ...HEADERS, "webhook-signature": huge }) }],
    ["headers 100k entries", { headers: manyHeaders }],
    ["headers endless iterable", { headers: endless }],
    ["headers next() throws", { headers: nextThrows }],
    ["headers throwing Proxy", { headers: throwing }],
    ["headers revoked Proxy", { headers: revocable.proxy }],
    ["body number", { body: 1 }],
    ["body null", { body: null }],
    ["body undefined", { body: undefined }],
    ["body array", { body: [1, 2, 3] }],
    ["body DataView", { body: new DataView(new ArrayBuffer(4)) }],
    ["body Uint16Array", { body: new Uint16Array(4) }],
    ["body Proxy of Uint8Array", { body: new Proxy(new Uint8Array(4), {}) }],
    ["body lying length", { body: new LyingLength(4) }],
    ["body short length", { body: new ShortLength(8) }],
    ["body throwing Proxy", { body: throwing }],
    ["now string", { now: "1649367553" }],
    ["now NaN", { now: NaN }],
    ["now Infinity", { now: Infinity }],
    ["now 1e300", { now: 1e300 }],
    ["now null", { now: null }],
    ["toleranceSeconds -1", { toleranceSeconds: -1 }],
    ["toleranceSeconds NaN", { toleranceSeconds: NaN }],
    ["toleranceSeconds string", { toleranceSeconds: "300" }],
    ["maxBodyBytes -1", { maxBodyBytes: -1 }],
    ["maxBodyBytes string", { maxBodyBytes: "1" }],
    ["maxBodyBytes 0", { maxBodyBytes: 0 }],
  ];
  for (const [name, value] of options) {
    failureCode(verifyWebhook(value as never), `verifyWebhook(${name})`);
    failureCode(signWebhook(value as never), `signWebhook(${name})`);
    failureCode(signStripe(value as never), `signStripe(${name})`);
  }
  for (const [name, patch] of fields) {
    const result = verifyWebhook({ ...base, ...patch } as never);
    failureCode(result, `verifyWebhook with ${name}`);
    assert(!(result as { message: string }).message.includes("C2FVsBQIhrscChlQIMV"), `${name}: message has the secret`);
  }
  // A 1 MB header name the scheme does not read is ignored.
  assertOk(verifyWebhook({ ...base, headers: { ...HEADERS, [huge]: "x" } }), "1 MB unrelated header name");
  const signBase = { secret: SECRET, id: ID, timestamp: TS, body: BODY };
  // [name, patch, does signStripe fail too?] (Stripe takes any non-empty secret and has no id)
  const signFields: [string, Record<string, unknown>, boolean][] = [
    ["secret number", { secret: 1 }, true],
    ["secret empty", { secret: "" }, true],
    ["secret invalid", { secret: "whsec_short" }, false],
    ["secret public key", { secret: "whpk_11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=" }, false],
    ["id with a dot", { id: "a.b" }, false],
    ["id empty", { id: "" }, false],
    ["id number", { id: 5 }, false],
    ["id 1 MB", { id: huge }, false],
    ["timestamp negative", { timestamp: -1 }, true],
    ["timestamp string", { timestamp: "1" }, true],
    ["timestamp NaN", { timestamp: NaN }, true],
    ["body lying length", { body: new LyingLength(4) }, true],
    ["body short length", { body: new ShortLength(8) }, true],
    ["body object", { body: {} }, true],
    ["body throwing Proxy", { body: throwing }, true],
  ];
  for (const [name, patch, stripeToo] of signFields) {
    const result = signWebhook({ ...signBase, ...patch } as never);
    failureCode(result, `signWebhook with ${name}`);
    assert(!(result as { message: string }).message.includes("C2FVsBQIhrscChlQIMV"), `${name}: message has the secret`);
    const stripe = signStripe({ ...signBase, ...patch } as never);
    if (stripeToo) failureCode(stripe, `signStripe with ${name}`);
    else assertOk(stripe, `signStripe with ${name}`);
  }
  // After all that, the module still works.
  assertEquals(verifyVector(), { ok: true, id: ID, timestamp: TS });
});

Deno.test("header length limit: a value of exactly 8192 bytes is read, 8193 bytes is malformed_header", () => {
  const base = { scheme: "standard" as const, secrets: SECRET, body: BODY, now: TS };
  // The valid signature, padded with an entry of an unknown version (ignored when read).
  const signature = (length: number) => {
    const value = `${SIGNATURE} v0,${"A".repeat(length - SIGNATURE.length - " v0,".length)}`;
    assertEquals(value.length, length);
    return value;
  };
  const id = (length: number) => ID + "x".repeat(length - ID.length);
  for (const asHeaders of [false, true]) {
    const headers = (h: Record<string, string>) => asHeaders ? new Headers(h) : h;
    const at = verifyWebhook({ ...base, headers: headers({ ...HEADERS, "webhook-signature": signature(8192) }) });
    assertEquals(at, { ok: true, id: ID, timestamp: TS }, `8192-byte signature (Headers: ${asHeaders})`);
    const over = verifyWebhook({ ...base, headers: headers({ ...HEADERS, "webhook-signature": signature(8193) }) });
    assertEquals(failureCode(over, "8193-byte signature"), "malformed_header");
    // The id is signed too: at the limit it is read (and fails the signature), past it malformed.
    const idAt = verifyWebhook({ ...base, headers: headers({ ...HEADERS, "webhook-id": id(8192) }) });
    assertEquals(failureCode(idAt, "8192-byte id"), "no_matching_signature");
    const idOver = verifyWebhook({ ...base, headers: headers({ ...HEADERS, "webhook-id": id(8193) }) });
    assertEquals(failureCode(idOver, "8193-byte id"), "malformed_header");
  }
});
