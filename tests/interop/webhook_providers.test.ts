// The provider schemes of `wasm-pkg/webhook-verify/mod.js` (Slack to SendGrid), from TypeScript.
//
//   scripts/build-wasm.sh webhook-verify
//   node_modules/.bin/deno test --node-modules-dir=none --allow-read --allow-env --allow-net --allow-sys tests/interop/
//
// 1. Every scheme: what signRequest signs, verifyWebhook accepts; any changed body byte, a
//    missing header, another secret fail; `now` outside the tolerance fails where there is one.
// 2. Published examples (Slack's, Twilio's).
// 3. Interop with each provider's own npm SDK, both ways: what their signer signs, we verify;
//    what we sign, they verify (twilio, @slack/bolt, @paddle/paddle-node-sdk,
//    discord-interactions, @sendgrid/eventwebhook, svix, @octokit/webhooks-methods). The
//    providers without an SDK are checked against the algorithm written with node:crypto.
// The npm packages come through Deno's `npm:` specifiers (cached under DENO_DIR; a fresh
// machine downloads them on the first run).
import { createHash, createHmac, generateKeyPairSync, sign as nodeSign } from "node:crypto";
import { Buffer } from "node:buffer";
import { assert, assertEquals } from "../assert.ts";
import {
  schemes,
  signRequest,
  twitchChallenge,
  verifyWebhook,
  type WebhookScheme,
  zoomUrlValidation,
} from "../../wasm-pkg/webhook-verify/mod.js";

const TS = 1_700_000_000;
const BODY = '{"id":"evt_1","type":"order.paid","data":{"amount":1250,"note":"Zoë 🚀"}}';
const URL_ = "https://example.com/hooks/provider?account=1";
const SECRET = "provider_secret_0123456789";
const ID = "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W";
const encoder = new TextEncoder();

// Discord: an ed25519 key pair (RFC 8032's first test key). SendGrid: a P-256 key pair.
const DISCORD_SEED = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60";
const DISCORD_PUBLIC = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";
const sendgridKeys = generateKeyPairSync("ec", { namedCurve: "P-256" });
const SENDGRID_PRIVATE = sendgridKeys.privateKey.export({ type: "pkcs8", format: "der" }).toString("base64");
const SENDGRID_PUBLIC = sendgridKeys.publicKey.export({ type: "spki", format: "der" }).toString("base64");

// The provider schemes: all but the first four (Standard Webhooks, Stripe, GitHub, Shopify).
const SCHEMES = schemes.slice(4);
const WITH_TIMESTAMP = new Set(["slack", "paddle", "zoom", "twitch", "discord", "sendgrid"]);
const verifyingSecret = (s: string) => s === "discord" ? DISCORD_PUBLIC : s === "sendgrid" ? SENDGRID_PUBLIC : SECRET;
const signingSecret = (s: string) => s === "discord" ? DISCORD_SEED : s === "sendgrid" ? SENDGRID_PRIVATE : SECRET;

function signed(scheme: WebhookScheme, body: string | Uint8Array = BODY, timestamp = TS): Record<string, string> {
  const r = signRequest({ scheme, secret: signingSecret(scheme), id: ID, timestamp, url: URL_, body });
  assert(r.ok, `${scheme}: ${JSON.stringify(r)}`);
  return r.headers;
}

function verify(scheme: WebhookScheme, headers: Record<string, string>, extra: Record<string, unknown> = {}) {
  return verifyWebhook({ scheme, secrets: verifyingSecret(scheme), headers, body: BODY, url: URL_, now: TS, ...extra });
}

function code(result: { ok: boolean; code?: string }): string | undefined {
  return result.ok ? undefined : result.code;
}

Deno.test("every provider scheme: signRequest output verifies, tampering and other secrets fail", () => {
  assertEquals(SCHEMES, [
    "slack",
    "paddle",
    "lemonsqueezy",
    "razorpay",
    "linear",
    "zoom",
    "twitch",
    "discord",
    "square",
    "twilio",
    "intercom",
    "vercel",
    "sendgrid",
  ]);
  for (const scheme of SCHEMES) {
    const headers = signed(scheme);
    const result = verify(scheme, headers);
    assert(result.ok, `${scheme}: ${JSON.stringify(result)}`);
    assertEquals(result.timestamp, WITH_TIMESTAMP.has(scheme) ? TS : undefined, scheme);
    assertEquals(result.id, scheme === "twitch" ? ID : undefined, scheme);
    // The same request as bytes, as a fetch Headers, and with upper-case names.
    assert(verify(scheme, headers, { body: encoder.encode(BODY) }).ok, `${scheme} bytes`);
    assert(verifyWebhook({ ...baseOf(scheme), headers: new Headers(headers) }).ok, `${scheme} Headers`);
    const upper = Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.toUpperCase(), v]));
    assert(verify(scheme, upper).ok, `${scheme} upper-case names`);
    // Every changed body byte fails.
    const bytes = encoder.encode(BODY);
    for (let i = 0; i < bytes.length; i++) {
      const tampered = bytes.slice();
      tampered[i] ^= 0x01;
      assertEquals(code(verify(scheme, headers, { body: tampered })), "no_matching_signature", `${scheme} byte ${i}`);
    }
    // Every changed character of every signed header value fails.
    for (const [name, value] of Object.entries(headers)) {
      for (let i = 0; i < value.length; i++) {
        const c = value.charCodeAt(i) ^ 0x01;
        const changed = value.slice(0, i) + String.fromCharCode(c) + value.slice(i + 1);
        const r = verify(scheme, { ...headers, [name]: changed });
        assert(!r.ok, `${scheme}: ${name}[${i}] changed still verifies`);
      }
    }
    // Missing headers, another secret, and the clock.
    assertEquals(code(verify(scheme, {})), "missing_header", scheme);
    if (scheme !== "discord" && scheme !== "sendgrid") {
      assertEquals(code(verify(scheme, headers, { secrets: "another_secret" })), "no_matching_signature", scheme);
      assert(verify(scheme, headers, { secrets: ["another_secret", SECRET] }).ok, `${scheme} rotation`);
    }
    if (WITH_TIMESTAMP.has(scheme)) {
      assertEquals(code(verify(scheme, headers, { now: TS + 301 })), "timestamp_out_of_tolerance", scheme);
      assertEquals(code(verify(scheme, headers, { now: TS - 301 })), "timestamp_out_of_tolerance", scheme);
      assert(verify(scheme, headers, { now: TS + 10_000, toleranceSeconds: Infinity }).ok, scheme);
    }
    if (scheme === "square" || scheme === "twilio") {
      assertEquals(code(verify(scheme, headers, { url: undefined })), "missing_url", scheme);
      assertEquals(code(verify(scheme, headers, { url: `${URL_}&x=1` })), "no_matching_signature", scheme);
    }
    assertEquals(code(verify(scheme, headers, { url: 42 })), "invalid_input", scheme);
    const failure = verify(scheme, headers, { secrets: "x" + SECRET }) as { message?: string };
    assert(!failure.message?.includes(SECRET), `${scheme}: the message has the secret`);
  }
});

function baseOf(scheme: WebhookScheme) {
  return { scheme, secrets: verifyingSecret(scheme), body: BODY, url: URL_, now: TS };
}

Deno.test("published examples: Slack's signing example and Twilio's form example", () => {
  // api.slack.com/authentication/verifying-requests-from-slack
  const slackBody = "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V" +
    "&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=" +
    "https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN" +
    "&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
  const slack = verifyWebhook({
    scheme: "slack",
    secrets: "8f742231b10e8888abcd99yyyzzz85a5",
    headers: {
      "X-Slack-Request-Timestamp": "1531420618",
      "X-Slack-Signature": "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503",
    },
    body: slackBody,
    now: 1531420618,
  });
  assertEquals(slack, { ok: true, timestamp: 1531420618 });
  // twilio.com/docs/usage/webhooks/webhooks-security (auth token 12345), as in twilio-node's tests.
  const form = "CallSid=CA1234567890ABCDE&Caller=%2B12349013030&Digits=1234&From=%2B12349013030&To=%2B18005551212";
  const twilio = (url: string, body: string) =>
    verifyWebhook({
      scheme: "twilio",
      secrets: "12345",
      headers: { "X-Twilio-Signature": "0/KCTR6DLpKmkAf8muzZqo1nDgQ=" },
      body,
      url,
    });
  assertEquals(twilio("https://mycompany.com/myapp.php?foo=1&bar=2", form), { ok: true });
  assertEquals(twilio("https://mycompany.com:443/myapp.php?foo=1&bar=2", form), { ok: true });
  assertEquals(code(twilio("https://mycompany.com/myapp.php?foo=1&bar=3", form)), "no_matching_signature");
  assertEquals(code(twilio("https://mycompany.com/myapp.php?foo=1&bar=2", form + "&x=1")), "no_matching_signature");
});

Deno.test("Zoom's url_validation and Twitch's challenge helpers", () => {
  const zoom = zoomUrlValidation({ secret: "zoom_secret_token", plainToken: "qgg8vlvZRS6UYooatFL8Aw" });
  const expected = createHmac("sha256", "zoom_secret_token").update("qgg8vlvZRS6UYooatFL8Aw").digest("hex");
  assertEquals(zoom, { ok: true, plainToken: "qgg8vlvZRS6UYooatFL8Aw", encryptedToken: expected });
  assertEquals(code(zoomUrlValidation({ secret: "", plainToken: "x" })), "invalid_secret");
  assertEquals(code(zoomUrlValidation({ secret: "s", plainToken: 5 } as never)), "invalid_input");
  assertEquals(code(zoomUrlValidation(null as never)), "invalid_input");
  const challenge = '{"challenge":"pogchamp-kappa-360noscope-vohiyo","subscription":{"id":"f1c2a387"}}';
  assertEquals(twitchChallenge(challenge), { ok: true, challenge: "pogchamp-kappa-360noscope-vohiyo" });
  assertEquals(twitchChallenge(encoder.encode(challenge)), { ok: true, challenge: "pogchamp-kappa-360noscope-vohiyo" });
  assertEquals(code(twitchChallenge("{}")), "malformed_body");
  assertEquals(code(twitchChallenge(42 as never)), "invalid_input");
});

Deno.test("interop without an SDK: the documented algorithms written with node:crypto, both ways", () => {
  const hmac = (algo: string, parts: string[], enc: "hex" | "base64" = "hex") => {
    const h = createHmac(algo, SECRET);
    for (const p of parts) h.update(p);
    return h.digest(enc);
  };
  const ts = String(TS);
  const theirs: [WebhookScheme, Record<string, string>][] = [
    ["lemonsqueezy", { "X-Signature": hmac("sha256", [BODY]) }],
    ["razorpay", { "X-Razorpay-Signature": hmac("sha256", [BODY]), "X-Razorpay-Event-Id": "evt_9" }],
    ["linear", { "Linear-Signature": hmac("sha256", [BODY]), "Linear-Delivery": "d-1" }],
    ["zoom", { "x-zm-signature": `v0=${hmac("sha256", [`v0:${ts}:`, BODY])}`, "x-zm-request-timestamp": ts }],
    ["intercom", { "X-Hub-Signature": `sha1=${hmac("sha1", [BODY])}` }],
    ["vercel", { "x-vercel-signature": hmac("sha1", [BODY]) }],
    ["square", { "x-square-hmacsha256-signature": hmac("sha256", [URL_, BODY], "base64") }],
  ];
  const twitchTs = "2023-11-14T22:13:20.123456789Z";
  theirs.push(["twitch", {
    "Twitch-Eventsub-Message-Id": ID,
    "Twitch-Eventsub-Message-Timestamp": twitchTs,
    "Twitch-Eventsub-Message-Signature": `sha256=${hmac("sha256", [ID, twitchTs, BODY])}`,
  }]);
  for (const [scheme, headers] of theirs) {
    const r = verify(scheme, headers);
    assert(r.ok, `${scheme}: ${JSON.stringify(r)}`);
    if (scheme === "razorpay") assertEquals(r.id, "evt_9");
    if (scheme === "linear") assertEquals(r.id, "d-1");
    // And ours equals theirs, header for header (Twitch: the timestamp format differs).
    if (scheme !== "twitch") {
      const ours = signed(scheme);
      for (const [name, value] of Object.entries(ours)) {
        const their = Object.entries(headers).find(([n]) => n.toLowerCase() === name)?.[1];
        assertEquals(value, their, `${scheme} ${name}`);
      }
    }
  }
});

Deno.test("interop: npm:twilio signs, we verify; we sign, npm:twilio validates (form and JSON)", async () => {
  const twilio = (await import("npm:twilio@5")).default;
  const url = "https://example.com/twilio/sms?tenant=7";
  const params = { Body: "Hello Zoë 🚀", From: "+14155550100", To: "+14155550199", MessageSid: "SM1", NumMedia: "0" };
  const form = new URLSearchParams(params).toString();
  const signature = twilio.getExpectedTwilioSignature(SECRET, url, params);
  const ours = (body: string, u: string, sig: string) =>
    verifyWebhook({ scheme: "twilio", secrets: SECRET, headers: { "X-Twilio-Signature": sig }, body, url: u });
  assertEquals(ours(form, url, signature), { ok: true });
  const mine = signRequest({ scheme: "twilio", secret: SECRET, url, body: form });
  assert(mine.ok);
  assert(twilio.validateRequest(SECRET, mine.headers["x-twilio-signature"], url, params), "twilio rejected ours");
  assert(!twilio.validateRequest(SECRET, mine.headers["x-twilio-signature"], url, { ...params, Body: "x" }));
  // JSON body: bodySHA256 in the URL.
  const json = JSON.stringify({ event: "status", sid: "SM1" });
  const hash = createHash("sha256").update(json).digest("hex");
  const jsonUrl = `${url}&bodySHA256=${hash}`;
  const jsonSig = twilio.getExpectedTwilioSignature(SECRET, jsonUrl, {});
  assertEquals(ours(json, jsonUrl, jsonSig), { ok: true });
  assertEquals(code(ours(json + " ", jsonUrl, jsonSig)), "no_matching_signature");
  const mineJson = signRequest({ scheme: "twilio", secret: SECRET, url: jsonUrl, body: json });
  assert(mineJson.ok);
  assert(twilio.validateRequestWithBody(SECRET, mineJson.headers["x-twilio-signature"], jsonUrl, json));
});

Deno.test("interop: @slack/bolt's verifier accepts ours; Slack's documented signer verifies here", async () => {
  const { isValidSlackRequest } = await import("npm:@slack/bolt@4");
  const now = Math.floor(Date.now() / 1000);
  const mine = signed("slack", BODY, now);
  const valid = (headers: Record<string, string>, body = BODY) =>
    isValidSlackRequest({
      signingSecret: SECRET,
      body,
      headers: {
        "x-slack-signature": headers["x-slack-signature"],
        "x-slack-request-timestamp": Number(headers["x-slack-request-timestamp"]),
      },
    });
  assert(valid(mine), "bolt rejected ours");
  assert(!valid(mine, BODY + " "), "bolt accepted a tampered body");
  const theirs = {
    "x-slack-request-timestamp": String(now),
    "x-slack-signature": `v0=${createHmac("sha256", SECRET).update(`v0:${now}:${BODY}`).digest("hex")}`,
  };
  assert(valid(theirs));
  assertEquals(verifyWebhook({ scheme: "slack", secrets: SECRET, headers: theirs, body: BODY }), {
    ok: true,
    timestamp: now,
  });
});

Deno.test("interop: @paddle/paddle-node-sdk verifies ours; its format verifies here", async () => {
  const { Paddle } = await import("npm:@paddle/paddle-node-sdk@2");
  const paddle = new Paddle("pdl_sdbx_apikey_0000000000000000000000000_0000000000000000000000_000");
  const body = JSON.stringify({
    event_id: "evt_01h",
    event_type: "transaction.paid",
    occurred_at: "2024-01-01T00:00:00.000Z",
    notification_id: "ntf_01h",
    data: { id: "txn_01h" },
  });
  const now = Math.floor(Date.now() / 1000);
  const mine = signed("paddle", body, now)["paddle-signature"];
  assert(await paddle.webhooks.isSignatureValid(body, SECRET, mine), "paddle rejected ours");
  assert(!(await paddle.webhooks.isSignatureValid(body + " ", SECRET, mine)), "paddle accepted a tampered body");
  // Paddle's format, several h1 entries during a rotation.
  const h1 = createHmac("sha256", SECRET).update(`${now}:${body}`).digest("hex");
  const theirs = `ts=${now};h1=${"0".repeat(64)};h1=${h1}`;
  assert(await paddle.webhooks.isSignatureValid(body, SECRET, theirs));
  assertEquals(verifyWebhook({ scheme: "paddle", secrets: SECRET, headers: { "Paddle-Signature": theirs }, body }), {
    ok: true,
    timestamp: now,
  });
});

Deno.test("interop: discord-interactions verifies ours; node:crypto ed25519 signatures verify here", async () => {
  const { verifyKey } = await import("npm:discord-interactions@4");
  const now = String(Math.floor(Date.now() / 1000));
  const mine = signed("discord", BODY, Number(now));
  assert(await verifyKey(BODY, mine["x-signature-ed25519"], now, DISCORD_PUBLIC), "discord-interactions rejected ours");
  assert(!(await verifyKey(BODY + " ", mine["x-signature-ed25519"], now, DISCORD_PUBLIC)));
  // Theirs: Discord signs timestamp + body with ed25519 (node:crypto with the same key pair).
  const { createPrivateKey } = await import("node:crypto");
  const pkcs8 = Buffer.concat([
    Buffer.from("302e020100300506032b657004220420", "hex"),
    Buffer.from(DISCORD_SEED, "hex"),
  ]);
  const key = createPrivateKey({ key: pkcs8, format: "der", type: "pkcs8" });
  const sig = nodeSign(null, Buffer.from(now + BODY), key).toString("hex");
  assert(await verifyKey(BODY, sig, now, DISCORD_PUBLIC));
  const headers = { "X-Signature-Ed25519": sig, "X-Signature-Timestamp": now };
  assertEquals(verifyWebhook({ scheme: "discord", secrets: DISCORD_PUBLIC, headers, body: BODY }), {
    ok: true,
    timestamp: Number(now),
  });
});

Deno.test("interop: @sendgrid/eventwebhook verifies ours; node:crypto ECDSA signatures verify here", async () => {
  const mod = await import("npm:@sendgrid/eventwebhook@8");
  const EventWebhook = mod.EventWebhook ?? mod.default.EventWebhook;
  const ew = new EventWebhook();
  const publicKey = ew.convertPublicKeyToECDSA(SENDGRID_PUBLIC);
  const payload = '[{"email":"a@example.com","event":"delivered","sg_event_id":"e1","timestamp":1700000000}]\r\n';
  const now = String(Math.floor(Date.now() / 1000));
  const mine = signed("sendgrid", payload, Number(now));
  const sig = mine["x-twilio-email-event-webhook-signature"];
  assert(ew.verifySignature(publicKey, payload, sig, now), "@sendgrid/eventwebhook rejected ours");
  assert(!ew.verifySignature(publicKey, payload + " ", sig, now));
  for (let i = 0; i < 5; i++) {
    const theirs = nodeSign("sha256", Buffer.from(now + payload), sendgridKeys.privateKey).toString("base64");
    assert(ew.verifySignature(publicKey, payload, theirs, now));
    const headers = {
      "X-Twilio-Email-Event-Webhook-Signature": theirs,
      "X-Twilio-Email-Event-Webhook-Timestamp": now,
    };
    assertEquals(verifyWebhook({ scheme: "sendgrid", secrets: SENDGRID_PUBLIC, headers, body: payload }), {
      ok: true,
      timestamp: Number(now),
    });
  }
});

Deno.test("interop: npm:svix signs and verifies Standard Webhooks with us, both ways", async () => {
  const { Webhook } = await import("npm:svix@1");
  const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
  const wh = new Webhook(secret);
  const now = Math.floor(Date.now() / 1000);
  const signature = wh.sign(ID, new Date(now * 1000), BODY);
  const headers = { "svix-id": ID, "svix-timestamp": String(now), "svix-signature": signature };
  assertEquals(verifyWebhook({ scheme: "standard", secrets: secret, headers, body: BODY }), {
    ok: true,
    id: ID,
    timestamp: now,
  });
  const mine = signRequest({ scheme: "standard", secret, id: ID, timestamp: now, body: BODY });
  assert(mine.ok);
  const h = mine.headers;
  wh.verify(BODY, {
    "svix-id": h["webhook-id"],
    "svix-timestamp": h["webhook-timestamp"],
    "svix-signature": h["webhook-signature"],
  });
  let rejected = false;
  try {
    wh.verify(BODY + " ", { "svix-id": ID, "svix-timestamp": String(now), "svix-signature": h["webhook-signature"] });
  } catch {
    rejected = true;
  }
  assert(rejected, "svix accepted a tampered body");
});

Deno.test("interop: @octokit/webhooks-methods signs and verifies GitHub's scheme with us, both ways", async () => {
  const { sign, verify: octoVerify } = await import("npm:@octokit/webhooks-methods@5");
  const signature = await sign(SECRET, BODY);
  const headers = { "X-Hub-Signature-256": signature, "X-GitHub-Delivery": "72d3162e" };
  assertEquals(verifyWebhook({ scheme: "github", secrets: SECRET, headers, body: BODY }), { ok: true, id: "72d3162e" });
  const mine = signRequest({ scheme: "github", secret: SECRET, body: BODY });
  assert(mine.ok);
  assert(await octoVerify(SECRET, BODY, mine.headers["x-hub-signature-256"]), "octokit rejected ours");
  assert(!(await octoVerify(SECRET, BODY + " ", mine.headers["x-hub-signature-256"])));
});

Deno.test("never throws: hostile options to every provider scheme and to the new functions", () => {
  const throwing = new Proxy({}, {
    get() {
      throw new Error("trap");
    },
    ownKeys() {
      throw new Error("trap");
    },
  });
  const huge = "a".repeat(1024 * 1024);
  const failureCode = (r: unknown, what: string) => {
    const f = r as { ok?: unknown; code?: unknown; message?: unknown };
    assert(f !== null && typeof f === "object" && f.ok === false, `${what}: ${JSON.stringify(r)}`);
    assert(typeof f.code === "string" && typeof f.message === "string", what);
    assert(!(f.message as string).includes(SECRET), `${what}: the message has the secret`);
    return f.code as string;
  };
  for (const scheme of SCHEMES) {
    const good = signed(scheme);
    const patches: [string, Record<string, unknown>][] = [
      ["headers Proxy", { headers: throwing }],
      ["headers number", { headers: 5 }],
      ["1 MB signature", { headers: Object.fromEntries(Object.keys(good).map((k) => [k, huge])) }],
      ["non-string values", { headers: Object.fromEntries(Object.keys(good).map((k) => [k, 7])) }],
      ["secrets Proxy", { secrets: throwing }],
      ["secrets []", { secrets: [] }],
      ["secrets huge", { secrets: huge }],
      ["body Proxy", { body: throwing }],
      ["url object", { url: {} }],
      ["now NaN", { now: NaN }],
    ];
    for (const [name, patch] of patches) {
      failureCode(verify(scheme, good, patch), `${scheme}: ${name}`);
    }
    // A 1 MB URL: another URL for the schemes that sign it, ignored by the others.
    const longUrl = verify(scheme, good, { url: huge });
    if (scheme === "square" || scheme === "twilio") {
      assertEquals(failureCode(longUrl, `${scheme}: 1 MB url`), "no_matching_signature");
    } else assert(longUrl.ok, `${scheme}: the URL is ignored`);
    let n = 0;
    const sign = (patch: Record<string, unknown>) =>
      signRequest({ scheme, secret: signingSecret(scheme), id: ID, url: URL_, body: BODY, ...patch } as never);
    for (
      const patch of [{ secret: 1 }, { secret: "" }, { body: throwing }, { timestamp: -1 }, { url: 5 }, { scheme: "x" }]
    ) {
      failureCode(sign(patch), `${scheme}: sign with ${Object.keys(patch)[0]} #${n++}`);
    }
  }
  for (const [name, bad] of [["null", null], ["undefined", undefined], ["42", 42], ["x", "x"], ["Proxy", throwing]]) {
    failureCode(signRequest(bad as never), `signRequest(${name})`);
    failureCode(zoomUrlValidation(bad as never), `zoomUrlValidation(${name})`);
    if (name !== "x") failureCode(twitchChallenge(bad as never), `twitchChallenge(${name})`);
  }
  assertEquals(code(twitchChallenge("x")), "malformed_body");
  // Twitch needs a message id to sign; Square and Twilio a URL.
  assertEquals(code(signRequest({ scheme: "twitch", secret: SECRET, body: BODY })), "invalid_input");
  assertEquals(code(signRequest({ scheme: "square", secret: SECRET, body: BODY })), "missing_url");
  assertEquals(code(signRequest({ scheme: "discord", secret: "zz", body: BODY })), "invalid_secret");
  assertEquals(code(signRequest({ scheme: "sendgrid", secret: SENDGRID_PUBLIC, body: BODY })), "invalid_secret");
  // And the module still works.
  assert(verify("slack", signed("slack")).ok);
});
