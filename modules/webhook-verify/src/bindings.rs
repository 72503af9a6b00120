//! The wasm exports: read the options object, call [`crate::core`], hand back a plain object.
//!
//! Nothing here may throw or panic, whatever the caller passes: every read that can run caller
//! code (a getter, a Proxy trap, an iterator, `Headers.get`) goes through a `catch` import, so a
//! JS exception becomes an `invalid_input` result instead of unwinding through wasm frames.
//! No `RefCell` borrow is held across a call into JS (a getter may call back into us).
//!
//! Costs that matter at a few microseconds per call: every wasm-to-JS call (~50 ns), every
//! string made in wasm for JS (a `TextDecoder` call, ~0.4 µs in Deno) and every string copied in
//! (~0.1 µs). So: the body is copied once (bytes with `Uint8Array.prototype.set`, strings with
//! `TextEncoder.encodeInto` straight into wasm memory), only the scheme's headers are copied,
//! constant JS strings are made once ([`Interned`]), the result's `id` is the caller's own JS
//! string, and the verifier of the last single-string secret is reused ([`CachedVerifier`]).

use std::cell::RefCell;
use std::rc::Rc;

use edge_webhook::{Scheme, Verifier};
use js_sys::{Array, ArrayBuffer, Function, JsString, Object, Reflect, Symbol, Uint8Array};
use serde::Serialize;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

use crate::core::{self, Failure, MAX_HEADER_ENTRIES};

#[wasm_bindgen(typescript_custom_section)]
const TYPES: &'static str = r#"
/** A scheme name (case-insensitive; `-` and `_` are ignored). */
export type WebhookScheme = "standard" | "standardwebhooks" | "standard-webhooks" | "stripe" | "github" | "shopify";

/**
 * Request headers: a fetch `Headers`, a plain object (values may be `string[]`, as Node's
 * `req.headers`), or an iterable of `[name, value]` pairs (an array, a `Map`). Names are
 * matched case-insensitively; only the scheme's own headers are read.
 */
export type WebhookHeaders =
  | Headers
  | { readonly [name: string]: string | readonly string[] | undefined }
  | Iterable<readonly [string, string]>;

/** The raw body exactly as received; a string is encoded as UTF-8 (like `TextEncoder`). */
export type WebhookBody = string | Uint8Array | ArrayBuffer;

export interface VerifyWebhookOptions {
  scheme: WebhookScheme;
  /**
   * One secret or several (a request passes if it matches any). Standard Webhooks:
   * `whsec_<base64>` (also bare base64 or Supabase's `v1,whsec_...`), `whpk_`/`whsk_` ed25519
   * keys, several joined with `|`. Stripe, GitHub, Shopify: the secret string as it is.
   */
  secrets: string | readonly string[];
  headers: WebhookHeaders;
  body: WebhookBody;
  /** Current time in Unix seconds (default: `Date.now() / 1000`). */
  now?: number;
  /** Allowed clock skew in seconds (default 300; `Infinity` disables the check). */
  toleranceSeconds?: number;
  /** Largest body accepted, in bytes (default 262144); larger is `body_too_large`. */
  maxBodyBytes?: number;
}

/** Stable machine codes: the library's, plus `invalid_input` for arguments of the wrong shape. */
export type WebhookErrorCode =
  | "missing_header"
  | "malformed_header"
  | "timestamp_out_of_tolerance"
  | "no_matching_signature"
  | "body_too_large"
  | "invalid_secret"
  | "invalid_input";

/** A rejection. `message` names fields and headers, never secrets or signatures. */
export interface WebhookFailure {
  ok: false;
  code: WebhookErrorCode;
  message: string;
}

export interface WebhookVerified {
  ok: true;
  /** Delivery id to deduplicate on (`webhook-id`/`svix-id`, `X-GitHub-Delivery`, `X-Shopify-Webhook-Id`). */
  id?: string;
  /** The signed Unix timestamp (Standard Webhooks, Stripe). */
  timestamp?: number;
}

export type VerifyWebhookResult = WebhookVerified | WebhookFailure;

export interface SignWebhookOptions {
  /** `whsec_<base64>` (HMAC `v1`) or `whsk_<base64>` (ed25519 `v1a`); several joined with `|`. */
  secret: string;
  /** The message id: 1 to 256 visible ASCII characters without `.`. */
  id: string;
  /** Unix seconds, non-negative (default: now). */
  timestamp?: number;
  body: WebhookBody;
}

export interface StandardWebhookHeaders {
  "webhook-id": string;
  "webhook-timestamp": string;
  "webhook-signature": string;
}

export type SignWebhookResult = { ok: true; headers: StandardWebhookHeaders } | WebhookFailure;

export interface SignStripeOptions {
  /** The endpoint secret (`whsec_...`), used as it is. */
  secret: string;
  /** Unix seconds, non-negative (default: now). */
  timestamp?: number;
  body: WebhookBody;
}

export type SignStripeResult = { ok: true; headers: { "stripe-signature": string } } | WebhookFailure;
"#;

#[wasm_bindgen]
extern "C" {
    /// Any object, read through getters that may run caller code (so each one may throw).
    type Props;
    #[wasm_bindgen(method, getter, catch)]
    fn scheme(this: &Props) -> Result<JsValue, JsValue>;
    #[wasm_bindgen(method, getter, catch)]
    fn secrets(this: &Props) -> Result<JsValue, JsValue>;
    #[wasm_bindgen(method, getter, catch)]
    fn secret(this: &Props) -> Result<JsValue, JsValue>;
    #[wasm_bindgen(method, getter, catch)]
    fn headers(this: &Props) -> Result<JsValue, JsValue>;
    #[wasm_bindgen(method, getter, catch)]
    fn body(this: &Props) -> Result<JsValue, JsValue>;
    #[wasm_bindgen(method, getter, catch)]
    fn now(this: &Props) -> Result<JsValue, JsValue>;
    #[wasm_bindgen(method, getter, catch, js_name = toleranceSeconds)]
    fn tolerance_seconds(this: &Props) -> Result<JsValue, JsValue>;
    #[wasm_bindgen(method, getter, catch, js_name = maxBodyBytes)]
    fn max_body_bytes(this: &Props) -> Result<JsValue, JsValue>;
    #[wasm_bindgen(method, getter, catch)]
    fn id(this: &Props) -> Result<JsValue, JsValue>;
    #[wasm_bindgen(method, getter, catch)]
    fn timestamp(this: &Props) -> Result<JsValue, JsValue>;
    #[wasm_bindgen(method, getter, catch)]
    fn length(this: &Props) -> Result<JsValue, JsValue>;
    #[wasm_bindgen(method, getter, catch)]
    fn next(this: &Props) -> Result<JsValue, JsValue>;
    #[wasm_bindgen(method, getter, catch)]
    fn done(this: &Props) -> Result<JsValue, JsValue>;
    #[wasm_bindgen(method, getter, catch)]
    fn value(this: &Props) -> Result<JsValue, JsValue>;
    #[wasm_bindgen(method, getter, catch)]
    fn read(this: &Props) -> Result<JsValue, JsValue>;
    #[wasm_bindgen(method, getter, catch)]
    fn written(this: &Props) -> Result<JsValue, JsValue>;

    /// `TextEncoder`, to write a string body straight into wasm memory as UTF-8.
    type TextEncoder;
    #[wasm_bindgen(constructor, catch)]
    fn new() -> Result<TextEncoder, JsValue>;
    /// `encodeInto(text, dest)`: `{ read, written }` (UTF-16 units read, bytes written).
    #[wasm_bindgen(method, catch, js_name = encodeInto)]
    fn encode_into(this: &TextEncoder, text: &JsValue, dest: &mut [u8]) -> Result<Props, JsValue>;

    /// The success result, a plain object filled with named stores (which V8 keeps on one
    /// hidden class; dynamic `Reflect.set` keys are several times slower).
    #[wasm_bindgen(js_name = Object)]
    type Outcome;
    #[wasm_bindgen(constructor, js_class = "Object")]
    fn new() -> Outcome;
    #[wasm_bindgen(method, setter = ok)]
    fn set_ok(this: &Outcome, ok: bool);
    #[wasm_bindgen(method, setter = id)]
    fn set_id(this: &Outcome, id: &JsValue);
    #[wasm_bindgen(method, setter = timestamp)]
    fn set_timestamp(this: &Outcome, timestamp: f64);

    /// A fetch `Headers` (the `instanceof` check is false where `Headers` does not exist).
    #[wasm_bindgen(js_name = Headers)]
    type FetchHeaders;
    #[wasm_bindgen(method, catch)]
    fn get(this: &FetchHeaders, name: &JsValue) -> Result<JsValue, JsValue>;

    #[wasm_bindgen(js_namespace = Object, js_name = entries, catch)]
    fn object_entries(value: &JsValue) -> Result<Array, JsValue>;
    #[wasm_bindgen(js_namespace = Object, js_name = keys, catch)]
    fn object_keys(value: &JsValue) -> Result<Array, JsValue>;
    /// `Array.prototype.join` (the separator passed as a JS string made once).
    #[wasm_bindgen(method, js_name = join)]
    fn join_with(this: &Props, separator: &JsValue) -> JsValue;
    #[wasm_bindgen(js_namespace = Array, js_name = isArray, catch)]
    fn is_array(value: &JsValue) -> Result<bool, JsValue>;
    #[wasm_bindgen(js_namespace = ArrayBuffer, js_name = isView)]
    fn is_view(value: &JsValue) -> bool;
    /// `Uint8Array`, for a constructor that may throw.
    #[wasm_bindgen(js_name = Uint8Array)]
    type ByteView;
    /// `new Uint8Array(buffer)` over a whole `ArrayBuffer` (no copy).
    #[wasm_bindgen(constructor, catch, js_class = "Uint8Array")]
    fn new(buffer: &ArrayBuffer) -> Result<ByteView, JsValue>;
    /// `Uint8Array.prototype.set.call(dst, src)`: one copy from a JS byte array into wasm memory.
    #[wasm_bindgen(js_namespace = Uint8Array, js_name = "prototype.set.call", catch)]
    fn copy_into(dst: &mut [u8], src: &Uint8Array) -> Result<(), JsValue>;
}

/// JS values made once and reused: header names, the scheme names, a
/// `TextEncoder`. Creating a JS string from wasm costs a `TextDecoder` call per string.
struct Interned {
    iterator: JsValue,
    newline: JsValue,
    encoder: Option<TextEncoder>,
    /// `(canonical lower-case scheme name, scheme)`: compared with `===` before any copy.
    schemes: Vec<(JsValue, Scheme)>,
    /// `(lower-case header name, the same as a JS string)` for every scheme's headers.
    header_names: Vec<(&'static str, JsValue)>,
}

impl Interned {
    fn new() -> Self {
        let header_names = Scheme::ALL
            .iter()
            .flat_map(|&scheme| core::scheme_headers(scheme))
            .map(|&name| (name, JsValue::from_str(name)))
            .collect();
        Self {
            iterator: Symbol::iterator().into(),
            newline: JsValue::from_str("\n"),
            encoder: TextEncoder::new().ok(),
            schemes: Scheme::ALL
                .iter()
                .map(|&scheme| (JsValue::from_str(scheme.as_str()), scheme))
                .collect(),
            header_names,
        }
    }

    fn header_name(&self, name: &'static str) -> Option<&JsValue> {
        self.header_names
            .iter()
            .find(|(known, _)| std::ptr::eq(*known, name))
            .map(|(_, js)| js)
    }
}

/// The last verifier built from a single secret string, reused while the caller passes the same
/// string (`===`) and settings: parsing a secret, above all an ed25519 public key, is not free.
/// It keeps that one secret in wasm memory between calls, as the caller's own string does in JS.
struct CachedVerifier {
    scheme: Scheme,
    secret: JsValue,
    tolerance: Option<u64>,
    max_body: Option<usize>,
    verifier: Rc<Verifier>,
}

thread_local! {
    static INTERNED: Interned = Interned::new();
    static LAST_VERIFIER: RefCell<Option<CachedVerifier>> = const { RefCell::new(None) };
}

/// Verifies a webhook request: `{ ok: true, id?, timestamp? }` or `{ ok: false, code, message }`.
/// Never throws.
#[wasm_bindgen(js_name = verifyWebhook, unchecked_return_type = "VerifyWebhookResult")]
pub fn verify_webhook(
    #[wasm_bindgen(unchecked_param_type = "VerifyWebhookOptions")] options: JsValue,
) -> JsValue {
    match verify(&options) {
        Ok(verified) => verified,
        Err(failure) => to_js(Err::<(), _>(failure)),
    }
}

/// Signs a Standard Webhooks message: `{ ok: true, headers: { "webhook-id", "webhook-timestamp",
/// "webhook-signature" } }` or `{ ok: false, code, message }`. Never throws.
#[wasm_bindgen(js_name = signWebhook, unchecked_return_type = "SignWebhookResult")]
pub fn sign_webhook(
    #[wasm_bindgen(unchecked_param_type = "SignWebhookOptions")] options: JsValue,
) -> JsValue {
    to_js(sign_standard(&options))
}

/// Signs a Stripe event payload: `{ ok: true, headers: { "stripe-signature" } }` (as Stripe's
/// `generateTestHeaderString`) or `{ ok: false, code, message }`. Never throws.
#[wasm_bindgen(js_name = signStripe, unchecked_return_type = "SignStripeResult")]
pub fn sign_stripe(
    #[wasm_bindgen(unchecked_param_type = "SignStripeOptions")] options: JsValue,
) -> JsValue {
    to_js(sign_stripe_inner(&options))
}

fn verify(options: &JsValue) -> Result<JsValue, Failure> {
    let props = object(options, "options")?;
    let scheme = scheme(read(props.scheme(), "scheme")?)?;
    let secrets = read(props.secrets(), "secrets")?;
    let tolerance = optional_number(
        read(props.tolerance_seconds(), "toleranceSeconds")?,
        "toleranceSeconds",
    )?
    .map(core::tolerance_secs)
    .transpose()?;
    let max_body = optional_number(
        read(props.max_body_bytes(), "maxBodyBytes")?,
        "maxBodyBytes",
    )?
    .map(core::max_body)
    .transpose()?;
    let verifier = verifier(scheme, secrets, tolerance, max_body)?;
    let now = unix_seconds_or_now(read(props.now(), "now")?, "now")?;
    // The size is checked before anything is copied: an oversized body is never read.
    let body = Body::new(read(props.body(), "body")?)?;
    if body.min_len > verifier.max_body() {
        return Err(core::body_too_large(verifier.max_body()));
    }
    let headers = Headers::collect(read(props.headers(), "headers")?, scheme)?;
    let verified = core::verify(&verifier, &headers.pairs, &body.into_bytes()?, now)?;
    Ok(headers.verified_to_js(&verified))
}

fn sign_standard(options: &JsValue) -> Result<core::Signed<core::StandardHeaders>, Failure> {
    let props = object(options, "options")?;
    let secret = string(read(props.secret(), "secret")?, "secret")?;
    let id = string(read(props.id(), "id")?, "id")?;
    let timestamp = unix_seconds_or_now(read(props.timestamp(), "timestamp")?, "timestamp")?;
    let body = Body::new(read(props.body(), "body")?)?.for_signing()?;
    core::sign_standard(&secret, &id, timestamp, &body)
}

fn sign_stripe_inner(options: &JsValue) -> Result<core::Signed<core::StripeHeaders>, Failure> {
    let props = object(options, "options")?;
    let secret = string(read(props.secret(), "secret")?, "secret")?;
    let timestamp = unix_seconds_or_now(read(props.timestamp(), "timestamp")?, "timestamp")?;
    let body = Body::new(read(props.body(), "body")?)?.for_signing()?;
    core::sign_stripe(&secret, timestamp, &body)
}

/// The value as a plain JS object. Serialising these small structs cannot fail; if it ever
/// did, the answer is still an object and still `ok: false`.
fn to_js<T: Serialize>(result: Result<T, Failure>) -> JsValue {
    let serialized = match &result {
        Ok(value) => serde_wasm_bindgen::to_value(value),
        Err(failure) => serde_wasm_bindgen::to_value(failure),
    };
    serialized.unwrap_or_else(|_| {
        let fallback = Object::new();
        let _ = Reflect::set(&fallback, &"ok".into(), &JsValue::FALSE);
        let _ = Reflect::set(&fallback, &"code".into(), &core::INVALID_INPUT.into());
        let _ = Reflect::set(
            &fallback,
            &"message".into(),
            &"unserialisable result".into(),
        );
        fallback.into()
    })
}

/// A caller exception while reading `what` (a throwing getter, a revoked Proxy, ...).
fn threw(what: &str) -> Failure {
    Failure::invalid(format!("reading `{what}` threw"))
}

fn read(value: Result<JsValue, JsValue>, what: &str) -> Result<JsValue, Failure> {
    value.map_err(|_| threw(what))
}

/// `value` as an object whose properties may be read (not null, not a primitive).
fn object<'v>(value: &'v JsValue, what: &str) -> Result<&'v Props, Failure> {
    if value.is_object() || value.is_function() {
        Ok(value.unchecked_ref())
    } else {
        Err(Failure::invalid(format!("`{what}` must be an object")))
    }
}

fn string(value: JsValue, what: &str) -> Result<String, Failure> {
    value
        .as_string()
        .ok_or_else(|| Failure::invalid(format!("`{what}` must be a string")))
}

/// The scheme: the canonical names are recognised with `===` (no copy), others are parsed.
fn scheme(value: JsValue) -> Result<Scheme, Failure> {
    let known = INTERNED.with(|interned| {
        interned
            .schemes
            .iter()
            .find(|(name, _)| *name == value)
            .map(|&(_, scheme)| scheme)
    });
    match known {
        Some(scheme) => Ok(scheme),
        None => core::scheme(&string(value, "scheme")?),
    }
}

/// `undefined` is absent; anything else must be a number.
fn optional_number(value: JsValue, what: &str) -> Result<Option<f64>, Failure> {
    if value.is_undefined() {
        return Ok(None);
    }
    value
        .as_f64()
        .map(Some)
        .ok_or_else(|| Failure::invalid(format!("`{what}` must be a number")))
}

fn unix_seconds_or_now(value: JsValue, what: &str) -> Result<i64, Failure> {
    let seconds = optional_number(value, what)?.unwrap_or_else(|| js_sys::Date::now() / 1000.0);
    core::unix_seconds(seconds, what)
}

/// `length` of an array-like as an index bound, capped.
fn array_length(array: &Props, what: &str) -> Result<u32, Failure> {
    let length = read(array.length(), what)?.as_f64().unwrap_or(0.0);
    if length > MAX_HEADER_ENTRIES as f64 {
        return Err(Failure::invalid(format!("`{what}` has too many entries")));
    }
    Ok(length as u32) // non-negative and small here; NaN and negatives become 0
}

/// The verifier for these settings: the cached one when the secret is the same single string.
fn verifier(
    scheme: Scheme,
    secrets: JsValue,
    tolerance: Option<u64>,
    max_body: Option<usize>,
) -> Result<Rc<Verifier>, Failure> {
    let single = secrets.is_string();
    if single {
        let cached = LAST_VERIFIER.with(|last| {
            let last = last.try_borrow().ok()?;
            let last = last.as_ref()?;
            let same = last.scheme == scheme
                && last.tolerance == tolerance
                && last.max_body == max_body
                && last.secret == secrets; // `===` on two strings runs no caller code
            same.then(|| Rc::clone(&last.verifier))
        });
        if let Some(verifier) = cached {
            return Ok(verifier);
        }
    }
    let verifier = Rc::new(core::verifier(
        scheme,
        &secret_list(&secrets)?,
        tolerance,
        max_body,
    )?);
    if single {
        LAST_VERIFIER.with(|last| {
            if let Ok(mut last) = last.try_borrow_mut() {
                *last = Some(CachedVerifier {
                    scheme,
                    secret: secrets,
                    tolerance,
                    max_body,
                    verifier: Rc::clone(&verifier),
                });
            }
        });
    }
    Ok(verifier)
}

/// A string or an array of strings.
fn secret_list(value: &JsValue) -> Result<Vec<String>, Failure> {
    if let Some(secret) = value.as_string() {
        return Ok(vec![secret]);
    }
    let not_strings = || Failure::invalid("`secrets` must be a string or an array of strings");
    if !is_array(value).unwrap_or(false) {
        return Err(not_strings());
    }
    (0..array_length(value.unchecked_ref(), "secrets")?)
        .map(|i| {
            let item = Reflect::get_u32(value, i).map_err(|_| threw("secrets"))?;
            item.as_string().ok_or_else(not_strings)
        })
        .collect()
}

/// The request headers a scheme reads, as `(lower-case name, value)` pairs, with the JS string
/// of each value (handed back as the result's `id` without a round trip through UTF-8).
#[derive(Default)]
struct Headers {
    pairs: Vec<(&'static str, String)>,
    originals: Vec<JsValue>,
}

impl Headers {
    fn collect(value: JsValue, scheme: Scheme) -> Result<Self, Failure> {
        let names = core::scheme_headers(scheme);
        let mut out = Self::default();
        if let Some(fetch) = value.dyn_ref::<FetchHeaders>() {
            // `Headers` matches names case-insensitively itself and joins repeats with ", ".
            for (i, &name) in names.iter().enumerate() {
                // Standard Webhooks reads the `svix-` family only when no `webhook-` header is
                // present (see `edge_webhook::standard`): skip three lookups then.
                if scheme == Scheme::StandardWebhooks && i == 3 && !out.pairs.is_empty() {
                    break;
                }
                let key = INTERNED.with(|interned| interned.header_name(name).cloned());
                let key = key.unwrap_or_else(|| JsValue::from_str(name));
                let header = fetch.get(&key).map_err(|_| threw("headers"))?;
                out.push(name, header)?;
            }
            return Ok(out);
        }
        if !value.is_object() {
            return Err(Failure::invalid(
                "`headers` must be a Headers, a plain object or an iterable of [name, value] pairs",
            ));
        }
        let iterator = INTERNED.with(|interned| Reflect::get(&value, &interned.iterator));
        let iterator = iterator.map_err(|_| threw("headers"))?;
        if let Some(iterator) = iterator.dyn_ref::<Function>() {
            for_each_entry(&value, iterator, |pair| {
                let pair_error =
                    || Failure::invalid("`headers` entries must be [name, value] pairs");
                if !pair.is_object() {
                    return Err(pair_error());
                }
                let name = Reflect::get_u32(&pair, 0).map_err(|_| threw("headers"))?;
                let name = name.as_string().ok_or_else(pair_error)?;
                match core::match_header(names, &name) {
                    Some(known) => {
                        let value = Reflect::get_u32(&pair, 1).map_err(|_| threw("headers"))?;
                        out.push(known, value)
                    }
                    None => Ok(()),
                }
            })?;
        } else if !out.collect_object_by_keys(&value, names)? {
            out.collect_object_by_entries(&value, names)?;
        }
        Ok(out)
    }

    /// A plain object's headers, reading only the values of the scheme's names: all the keys
    /// cross into wasm as one newline-joined string. `false` (nothing collected) if a key holds
    /// a newline, which no HTTP header name does.
    fn collect_object_by_keys(
        &mut self,
        value: &JsValue,
        names: &[&'static str],
    ) -> Result<bool, Failure> {
        let keys = object_keys(value).map_err(|_| threw("headers"))?;
        let count = keys.length() as usize;
        if count > MAX_HEADER_ENTRIES {
            return Err(Failure::invalid("`headers` has too many entries"));
        }
        // A genuine array of strings: joining it runs no caller code.
        let joined =
            INTERNED.with(|interned| keys.unchecked_ref::<Props>().join_with(&interned.newline));
        let joined = joined.as_string().unwrap_or_default();
        if count == 0 || joined.split('\n').count() != count {
            return Ok(count == 0);
        }
        for (i, key) in joined.split('\n').enumerate() {
            if let Some(known) = core::match_header(names, key) {
                let key = keys.get(i as u32);
                let header = Reflect::get(value, &key).map_err(|_| threw("headers"))?;
                self.push(known, header)?;
            }
        }
        Ok(true)
    }

    /// A plain object's headers through `Object.entries` (any key).
    fn collect_object_by_entries(
        &mut self,
        value: &JsValue,
        names: &[&'static str],
    ) -> Result<(), Failure> {
        // Object.entries runs the getters; what it returns is plain data.
        let entries = object_entries(value).map_err(|_| threw("headers"))?;
        if entries.length() as usize > MAX_HEADER_ENTRIES {
            return Err(Failure::invalid("`headers` has too many entries"));
        }
        for entry in entries.iter() {
            let entry: Array = entry.unchecked_into();
            let Some(name) = entry.get(0).as_string() else {
                continue;
            };
            if let Some(known) = core::match_header(names, &name) {
                self.push(known, entry.get(1))?;
            }
        }
        Ok(())
    }

    /// Adds a header value: a string, or each string of an array (Node's repeated headers);
    /// `undefined` and `null` are absent.
    fn push(&mut self, name: &'static str, value: JsValue) -> Result<(), Failure> {
        let not_string =
            || Failure::invalid(format!("header `{name}` must be a string or string[]"));
        if let Some(text) = value.as_string() {
            self.pairs.push((name, text));
            self.originals.push(value);
        } else if value.is_undefined() || value.is_null() {
        } else if is_array(&value).unwrap_or(false) {
            for i in 0..array_length(value.unchecked_ref(), "headers")? {
                let item = Reflect::get_u32(&value, i).map_err(|_| threw("headers"))?;
                self.pairs
                    .push((name, item.as_string().ok_or_else(not_string)?));
                self.originals.push(item);
            }
        } else {
            return Err(not_string());
        }
        if self.pairs.len() > MAX_HEADER_ENTRIES {
            return Err(Failure::invalid("`headers` has too many entries"));
        }
        Ok(())
    }

    /// `{ ok: true, id?, timestamp? }`, built directly: the id is the caller's own string when
    /// one of the collected values is exactly it (no copy back through UTF-8).
    fn verified_to_js(&self, verified: &core::Verification) -> JsValue {
        let out = Outcome::new();
        out.set_ok(true);
        if let Some(id) = &verified.id {
            match self.pairs.iter().position(|(_, value)| value == id) {
                Some(i) if i < self.originals.len() => out.set_id(&self.originals[i]),
                _ => out.set_id(&JsValue::from_str(id)),
            }
        }
        if let Some(timestamp) = verified.timestamp {
            out.set_timestamp(timestamp);
        }
        out.into()
    }
}

/// Runs `each` on every value of an iterable (at most [`MAX_HEADER_ENTRIES`]).
fn for_each_entry(
    iterable: &JsValue,
    iterator: &Function,
    mut each: impl FnMut(JsValue) -> Result<(), Failure>,
) -> Result<(), Failure> {
    let iterator = iterator.call0(iterable).map_err(|_| threw("headers"))?;
    let props = object(&iterator, "headers iterator")?;
    let next = read(props.next(), "headers")?;
    let next: &Function = next
        .dyn_ref()
        .ok_or_else(|| Failure::invalid("`headers` iterator has no next()"))?;
    for _ in 0..=MAX_HEADER_ENTRIES {
        let step = next.call0(&iterator).map_err(|_| threw("headers"))?;
        let step = object(&step, "headers iterator result")?;
        if read(step.done(), "headers")?.is_truthy() {
            return Ok(());
        }
        each(read(step.value(), "headers")?)?;
    }
    Err(Failure::invalid("`headers` has too many entries"))
}

/// A body not yet copied into wasm memory.
struct Body {
    source: BodySource,
    /// A lower bound of its length in bytes (UTF-8 never takes fewer bytes than UTF-16 units),
    /// exact for bytes.
    min_len: usize,
}

enum BodySource {
    Text(JsValue),
    Bytes(Uint8Array),
}

impl Body {
    fn new(value: JsValue) -> Result<Self, Failure> {
        let invalid =
            || Failure::invalid("`body` must be a string, a Uint8Array or an ArrayBuffer");
        if let Some(text) = value.dyn_ref::<JsString>() {
            return Ok(Self {
                min_len: text.length() as usize,
                source: BodySource::Text(value),
            });
        }
        // `isView` is false for a Proxy, so the copy below reads real bytes and runs no traps.
        let bytes = if is_view(&value) && value.is_instance_of::<Uint8Array>() {
            value.unchecked_into::<Uint8Array>()
        } else if let Some(buffer) = value.dyn_ref::<ArrayBuffer>() {
            ByteView::new(buffer)
                .map_err(|_| invalid())?
                .unchecked_into()
        } else {
            return Err(invalid());
        };
        let length = read(bytes.unchecked_ref::<Props>().length(), "body")?;
        let length = length.as_f64().filter(|n| *n >= 0.0).ok_or_else(invalid)?;
        Ok(Self {
            min_len: length as usize,
            source: BodySource::Bytes(bytes),
        })
    }

    /// The bytes of a body to sign, at most [`core::MAX_SIGN_BODY`].
    fn for_signing(self) -> Result<Vec<u8>, Failure> {
        if self.min_len > core::MAX_SIGN_BODY {
            return Err(core::body_too_large(core::MAX_SIGN_BODY));
        }
        self.into_bytes()
    }

    /// The bytes, copied once into wasm memory.
    fn into_bytes(self) -> Result<Vec<u8>, Failure> {
        match self.source {
            BodySource::Text(text) => encode_utf8(&text, self.min_len),
            BodySource::Bytes(bytes) => {
                let mut out = zeroed(self.min_len)?;
                copy_into(&mut out, &bytes).map_err(|_| threw("body"))?;
                Ok(out)
            }
        }
    }
}

/// `len` zero bytes; a length that cannot be allocated is an error rather than an abort.
fn zeroed(len: usize) -> Result<Vec<u8>, Failure> {
    let mut out = Vec::new();
    out.try_reserve_exact(len)
        .map_err(|_| Failure::invalid("`body` is too large to copy"))?;
    out.resize(len, 0);
    Ok(out)
}

/// A JS string as UTF-8 (lone surrogates become U+FFFD, as `TextEncoder` does), encoded
/// straight into wasm memory: one pass for ASCII, a second, larger buffer otherwise.
fn encode_utf8(text: &JsValue, units: usize) -> Result<Vec<u8>, Failure> {
    let encoded = INTERNED.with(|interned| {
        let encoder = interned.encoder.as_ref()?;
        let attempt = |capacity: usize| -> Option<Result<Vec<u8>, Failure>> {
            let mut out = match zeroed(capacity) {
                Ok(out) => out,
                Err(failure) => return Some(Err(failure)),
            };
            let progress = encoder.encode_into(text, &mut out).ok()?;
            let read = progress.read().ok()?.as_f64()?;
            let written = progress.written().ok()?.as_f64()?;
            if read as usize != units {
                return None;
            }
            out.truncate(written as usize);
            Some(Ok(out))
        };
        // Every UTF-16 unit is at most 3 UTF-8 bytes.
        attempt(units).or_else(|| attempt(units.saturating_mul(3)))
    });
    match encoded {
        Some(result) => result,
        None => Ok(text.as_string().unwrap_or_default().into_bytes()),
    }
}
