// @ts-self-types="./mod.d.ts"
/**
 * Webhook signature verification in wasm, for any JavaScript runtime (Deno, Node 18+, Bun,
 * Supabase's edge-runtime, workers). Every function returns `{ ok: true, ... }` or
 * `{ ok: false, code, message }` and never throws.
 *
 * This file reads the caller's options (in JavaScript: getters and Proxy traps may throw, and
 * reading them here is cheaper than from wasm), then hands primitives to the wasm binding. The
 * wasm bytes come from `wasm.js` by a static import and are instantiated synchronously with
 * `initSync`: never `fetch()`, never a file read, so any bundler ships them.
 *
 * @module
 */
import {
  initSync,
  schemeInfo,
  schemeNames,
  signRequest as signRaw,
  twitchChallenge as twitchChallengeRaw,
  WebhookVerifier,
  zoomEncryptedToken,
} from "./index.js";
import { wasmBytes } from "./wasm.js";

initSync({ module: wasmBytes });

/** The most header entries (pairs, object keys, values of one header) read from one request. */
const MAX_HEADER_ENTRIES = 4096;
/** The largest body the sign functions take (64 MiB). */
const MAX_SIGN_BODY = 64 << 20;
const DEFAULT_TOLERANCE = 300;
const DEFAULT_MAX_BODY = 256 * 1024;

class Invalid extends Error {}
const fail = (code, message) => ({ ok: false, code, message });
const invalid = (message) => {
  throw new Invalid(message);
};
/** Runs `f`; an exception becomes `{ ok: false, code: "invalid_input" }`. */
function guard(f) {
  try {
    return f();
  } catch (e) {
    const message = e instanceof Invalid ? e.message : "reading an argument threw";
    return fail("invalid_input", message);
  }
}

// The real length of a typed array (a subclass may override `length`).
const byteLengthOf = Object.getOwnPropertyDescriptor(
  Object.getPrototypeOf(Uint8Array.prototype),
  "byteLength",
).get;
const HeadersClass = typeof Headers === "function" ? Headers : undefined;

/** `{ name, headers }` per scheme spelling, from the wasm module's own table. */
const schemeCache = new Map();
function schemeOf(value) {
  if (typeof value !== "string") invalid("`scheme` must be a string");
  let scheme = schemeCache.get(value);
  if (scheme === undefined) {
    const info = value.length <= 64 ? schemeInfo(value) : undefined;
    if (info === undefined) {
      invalid(`\`scheme\` must be one of: ${schemeNames()}`);
    }
    const [name, ...headers] = info.split(",");
    scheme = { name, headers };
    if (schemeCache.size < 64) schemeCache.set(value, scheme);
  }
  return scheme;
}

/** `undefined` is absent; anything else must be a number. */
function optionalNumber(value, what) {
  if (value === undefined) return undefined;
  if (typeof value !== "number") invalid(`\`${what}\` must be a number`);
  return value;
}
/** Whole Unix seconds from a finite number within ±2^53 (default: now). */
function unixSeconds(value, what) {
  const seconds = optionalNumber(value, what) ?? Date.now() / 1000;
  if (
    !Number.isFinite(seconds) || Math.abs(seconds) > Number.MAX_SAFE_INTEGER
  ) {
    invalid(`\`${what}\` must be a finite number of Unix seconds`);
  }
  return Math.floor(seconds);
}
/** A non-negative limit (default `fallback`); `Infinity` means none. */
function limit(value, what, fallback) {
  const n = optionalNumber(value, what) ?? fallback;
  if (!(n >= 0)) {
    invalid(`\`${what}\` must be a non-negative number (or Infinity)`);
  }
  return Math.floor(n);
}

/** The body as `{ text }` or `{ bytes }`, and a lower bound of its UTF-8 length. */
function bodyOf(value) {
  if (typeof value === "string") {
    return { text: value, minLength: value.length };
  }
  let bytes;
  if (ArrayBuffer.isView(value) && value instanceof Uint8Array) bytes = value;
  else if (value instanceof ArrayBuffer) bytes = new Uint8Array(value);
  else invalid("`body` must be a string, a Uint8Array or an ArrayBuffer");
  const length = byteLengthOf.call(bytes);
  if (bytes.length !== length) {
    invalid("`body` must be a string, a Uint8Array or an ArrayBuffer");
  }
  return { bytes, minLength: length };
}

/** A reused buffer for string bodies: `encodeInto` it, then one copy into wasm memory. */
let scratch = new Uint8Array(4096);
const encoder = new TextEncoder();
/** A string as UTF-8 (lone surrogates become U+FFFD), in `scratch` (valid until the next call). */
function utf8(text) {
  // Every UTF-16 unit takes at most 3 bytes; ASCII fits in one pass of `length` bytes.
  for (const size of [text.length, text.length * 3]) {
    if (scratch.length < size) {
      scratch = new Uint8Array(Math.max(size, scratch.length * 2));
    }
    const { read, written } = encoder.encodeInto(text, scratch);
    if (read === text.length) return scratch.subarray(0, written);
  }
  return encoder.encode(text); // not reached: 3 bytes per unit always suffice
}

/**
 * The values of the scheme's headers, packed for the wasm call: `layout` holds (name index,
 * length) per value, `values` their concatenation, `originals` each value as given.
 */
function collectHeaders(value, names, isStandard) {
  const layout = [];
  const originals = [];
  const push = (index, header) => {
    if (typeof header === "string") {
      layout.push(index, header.length);
      originals.push(header);
    } else if (header === undefined || header === null) {
      // absent
    } else if (Array.isArray(header)) {
      if (header.length > MAX_HEADER_ENTRIES) {
        invalid("`headers` has too many entries");
      }
      for (let i = 0; i < header.length; i++) {
        if (typeof header[i] !== "string") {
          invalid(`header \`${names[index]}\` must be a string or string[]`);
        }
        layout.push(index, header[i].length);
        originals.push(header[i]);
      }
    } else {
      invalid(`header \`${names[index]}\` must be a string or string[]`);
    }
    if (originals.length > MAX_HEADER_ENTRIES) {
      invalid("`headers` has too many entries");
    }
  };
  const indexOf = (name) => typeof name === "string" && name.length <= 64 ? names.indexOf(name.toLowerCase()) : -1;
  if (HeadersClass !== undefined && value instanceof HeadersClass) {
    // `Headers` matches names case-insensitively itself and joins repeats with ", ".
    for (let i = 0; i < names.length; i++) {
      // Standard Webhooks reads `svix-*` only when no `webhook-*` header is present.
      if (isStandard && i === 3 && originals.length > 0) break;
      push(i, value.get(names[i]));
    }
  } else if (
    value === null || (typeof value !== "object" && typeof value !== "function")
  ) {
    invalid(
      "`headers` must be a Headers, a plain object or an iterable of [name, value] pairs",
    );
  } else if (typeof value[Symbol.iterator] === "function") {
    const iterator = value[Symbol.iterator]();
    for (let n = 0;; n++) {
      if (n > MAX_HEADER_ENTRIES) invalid("`headers` has too many entries");
      const step = iterator.next();
      if (step === null || typeof step !== "object") {
        invalid("`headers` iterator results must be objects");
      }
      if (step.done) break;
      const pair = step.value;
      if (
        pair === null || typeof pair !== "object" || typeof pair[0] !== "string"
      ) {
        invalid("`headers` entries must be [name, value] pairs");
      }
      const index = indexOf(pair[0]);
      if (index >= 0) push(index, pair[1]);
    }
  } else {
    const keys = Object.keys(value);
    if (keys.length > MAX_HEADER_ENTRIES) {
      invalid("`headers` has too many entries");
    }
    for (const key of keys) {
      const index = indexOf(key);
      if (index >= 0) push(index, value[key]);
    }
  }
  return {
    layout: new Uint32Array(layout),
    values: originals.join(""),
    originals,
  };
}

/** The last verifier built from a single secret string, reused while the settings are the same. */
let last;
/** A built verifier for these settings (`owned`: the caller frees it), or a failure. */
function verifierFor(scheme, secrets, tolerance, maxBody) {
  const single = typeof secrets === "string";
  if (
    single && last !== undefined && last.secrets === secrets &&
    last.scheme === scheme.name &&
    last.tolerance === tolerance && last.maxBody === maxBody
  ) return { verifier: last.verifier, owned: false };
  let list = [secrets];
  if (!single) {
    const notStrings = "`secrets` must be a string or an array of strings";
    if (!Array.isArray(secrets) || secrets.length > MAX_HEADER_ENTRIES) {
      invalid(notStrings);
    }
    list = Array.from(secrets);
    if (list.some((s) => typeof s !== "string")) invalid(notStrings);
  }
  const verifier = new WebhookVerifier(scheme.name, tolerance, maxBody);
  for (const secret of list) verifier.addSecret(secret);
  if (!verifier.build()) {
    const failure = fail(verifier.code(), verifier.message());
    verifier.free();
    return { failure };
  }
  if (!single) return { verifier, owned: true };
  last?.verifier.free();
  last = { secrets, scheme: scheme.name, tolerance, maxBody, verifier };
  return { verifier, owned: false };
}

/** Verifies a webhook request. See `VerifyWebhookOptions` in mod.d.ts. */
export function verifyWebhook(options) {
  return guard(() => {
    if (options === null || typeof options !== "object") {
      invalid("`options` must be an object");
    }
    const scheme = schemeOf(options.scheme);
    const tolerance = limit(
      options.toleranceSeconds,
      "toleranceSeconds",
      DEFAULT_TOLERANCE,
    );
    const maxBody = limit(
      options.maxBodyBytes,
      "maxBodyBytes",
      DEFAULT_MAX_BODY,
    );
    const { verifier, owned, failure } = verifierFor(
      scheme,
      options.secrets,
      tolerance,
      maxBody,
    );
    if (failure) return failure;
    try {
      const now = unixSeconds(options.now, "now");
      // The size is checked before anything is copied: an oversized body is never read.
      const body = bodyOf(options.body);
      if (body.minLength > maxBody) {
        return fail("body_too_large", `body larger than ${maxBody} bytes`);
      }
      const { layout, values, originals } = collectHeaders(
        options.headers,
        scheme.headers,
        scheme.name === "standard",
      );
      const url = options.url;
      if (url !== undefined && typeof url !== "string") invalid("`url` must be a string");
      const ok = verifier.verify(layout, values, body.bytes ?? utf8(body.text), now, url);
      if (!ok) return fail(verifier.code(), verifier.message());
      const out = { ok: true };
      const idIndex = verifier.idIndex();
      const id = idIndex !== undefined ? originals[idIndex] : verifier.id();
      if (id !== undefined) out.id = id;
      const timestamp = verifier.timestamp();
      if (timestamp !== undefined) out.timestamp = timestamp;
      return out;
    } finally {
      if (owned) verifier.free();
    }
  });
}

/** The options object, and its body as bytes to sign. */
function signingInput(options) {
  if (options === null || typeof options !== "object") {
    invalid("`options` must be an object");
  }
  const secret = options.secret;
  if (typeof secret !== "string") invalid("`secret` must be a string");
  return { secret, options };
}
function bodyToSign(value) {
  const body = bodyOf(value);
  if (body.minLength > MAX_SIGN_BODY) return undefined;
  return body.bytes ?? encoder.encode(body.text);
}
function signedTimestamp(value) {
  const timestamp = unixSeconds(value, "timestamp");
  if (timestamp < 0) invalid("`timestamp` must be non-negative Unix seconds");
  return timestamp;
}
const tooLarge = () => fail("body_too_large", `body larger than ${MAX_SIGN_BODY} bytes`);

/** Signs with the wasm module: `{ ok: true, headers }` or a failure. */
function signed(scheme, secret, id, timestamp, url, body) {
  const out = signRaw(scheme, secret, id, timestamp, url, body);
  if (out[0] !== "ok") return fail(out[1], out[2]);
  const headers = {};
  for (let i = 1; i < out.length; i += 2) headers[out[i]] = out[i + 1];
  return { ok: true, headers };
}

/** Signs as `scheme` from the options of `signWebhook` or `signStripe`. */
function signAs(scheme, options) {
  return guard(() => {
    const { secret } = signingInput(options);
    const id = scheme === "standard" ? messageId(options.id, true) : undefined;
    const timestamp = signedTimestamp(options.timestamp);
    const body = bodyToSign(options.body);
    if (body === undefined) return tooLarge();
    return signed(scheme, secret, id, timestamp, undefined, body);
  });
}

/** Signs a Standard Webhooks message. See `SignWebhookOptions` in mod.d.ts. */
export const signWebhook = (options) => signAs("standard", options);

/** Signs a Stripe event payload like Stripe's `generateTestHeaderString`. */
export const signStripe = (options) => signAs("stripe", options);

/** Every scheme's canonical name, in the library's order. */
export const schemes = Object.freeze(schemeNames().split(", "));

/** Signs a request as `scheme` sends it. See `SignRequestOptions` in mod.d.ts. */
export function signRequest(options) {
  return guard(() => {
    const { secret } = signingInput(options);
    const scheme = schemeOf(options.scheme);
    const needsId = scheme.name === "standard" || scheme.name === "twitch";
    const id = needsId ? messageId(options.id, scheme.name === "standard") : undefined;
    const timestamp = signedTimestamp(options.timestamp);
    const url = options.url;
    if (url !== undefined && typeof url !== "string") {
      invalid("`url` must be a string");
    }
    const body = bodyToSign(options.body);
    if (body === undefined) return tooLarge();
    return signed(scheme.name, secret, id, timestamp, url, body);
  });
}

/** 1 to 256 visible ASCII characters (without `.` for Standard Webhooks: its separator). */
function messageId(id, noDot) {
  const pattern = noDot ? /^[\x21-\x2d\x2f-\x7e]{1,256}$/ : /^[\x21-\x7e]{1,256}$/;
  if (typeof id !== "string" || !pattern.test(id)) {
    invalid(
      `\`id\` must be 1 to 256 visible ASCII characters${noDot ? " without `.`" : ""}`,
    );
  }
  return id;
}

/** Zoom's `endpoint.url_validation` answer. See mod.d.ts. */
export function zoomUrlValidation(options) {
  return guard(() => {
    const { secret } = signingInput(options);
    const plainToken = options.plainToken;
    if (typeof plainToken !== "string" || plainToken.length > 1024) {
      invalid("`plainToken` must be a string");
    }
    if (secret === "") return fail("invalid_secret", "invalid webhook secret");
    return {
      ok: true,
      plainToken,
      encryptedToken: zoomEncryptedToken(secret, plainToken),
    };
  });
}

/** The challenge of a (verified) Twitch `webhook_callback_verification` body. See mod.d.ts. */
export function twitchChallenge(body) {
  return guard(() => {
    const bytes = bodyToSign(body);
    if (bytes === undefined) return tooLarge();
    const challenge = twitchChallengeRaw(bytes);
    if (challenge === undefined) {
      return fail("malformed_body", "no `challenge` in the body");
    }
    return { ok: true, challenge };
  });
}
