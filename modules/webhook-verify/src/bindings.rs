//! The wasm exports: read the options object, call [`crate::core`], hand back a plain object.
//!
//! Nothing here may throw or panic, whatever the caller passes: every read that can run caller
//! code (a getter, a Proxy trap, an iterator, `Headers.get`) goes through a `catch` import, so a
//! JS exception becomes an `invalid_input` result instead of unwinding through wasm frames.

use edge_shared::webhook::Scheme;
use js_sys::{Array, ArrayBuffer, Function, JsString, Reflect, Symbol, Uint8Array};
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

    /// A fetch `Headers` (the `instanceof` check is false where `Headers` does not exist).
    #[wasm_bindgen(js_name = Headers)]
    type FetchHeaders;
    #[wasm_bindgen(method, catch)]
    fn get(this: &FetchHeaders, name: &str) -> Result<JsValue, JsValue>;

    #[wasm_bindgen(js_namespace = Object, js_name = entries, catch)]
    fn object_entries(value: &JsValue) -> Result<Array, JsValue>;
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

/// Verifies a webhook request: `{ ok: true, id?, timestamp? }` or `{ ok: false, code, message }`.
/// Never throws.
#[wasm_bindgen(js_name = verifyWebhook, unchecked_return_type = "VerifyWebhookResult")]
pub fn verify_webhook(
    #[wasm_bindgen(unchecked_param_type = "VerifyWebhookOptions")] options: JsValue,
) -> JsValue {
    to_js(verify(&options))
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

fn verify(options: &JsValue) -> Result<core::Verification, Failure> {
    let props = object(options, "options")?;
    let scheme = core::scheme(&string(read(props.scheme(), "scheme")?, "scheme")?)?;
    let secrets = secrets(read(props.secrets(), "secrets")?)?;
    let tolerance = optional_number(read(props.tolerance_seconds(), "toleranceSeconds")?, "toleranceSeconds")?
        .map(core::tolerance_secs)
        .transpose()?;
    let max_body = optional_number(read(props.max_body_bytes(), "maxBodyBytes")?, "maxBodyBytes")?
        .map(core::max_body)
        .transpose()?;
    let verifier = core::verifier(scheme, &secrets, tolerance, max_body)?;
    let now = unix_seconds_or_now(read(props.now(), "now")?, "now")?;
    // The size is checked before anything is copied: an oversized body is never read.
    let body = Body::new(read(props.body(), "body")?)?;
    if body.min_len > verifier.max_body() {
        return Err(core::body_too_large(verifier.max_body()));
    }
    let headers = headers(read(props.headers(), "headers")?, scheme)?;
    core::verify(&verifier, &headers, &body.into_bytes()?, now)
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
        let fallback = js_sys::Object::new();
        let _ = Reflect::set(&fallback, &"ok".into(), &JsValue::FALSE);
        let _ = Reflect::set(&fallback, &"code".into(), &core::INVALID_INPUT.into());
        let _ = Reflect::set(&fallback, &"message".into(), &"unserialisable result".into());
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

/// A string or an array of strings.
fn secrets(value: JsValue) -> Result<Vec<String>, Failure> {
    if let Some(secret) = value.as_string() {
        return Ok(vec![secret]);
    }
    let not_strings = || Failure::invalid("`secrets` must be a string or an array of strings");
    if !is_array(&value).unwrap_or(false) {
        return Err(not_strings());
    }
    let array: &Props = value.unchecked_ref();
    (0..array_length(array, "secrets")?)
        .map(|i| {
            let item = Reflect::get_u32(&value, i).map_err(|_| threw("secrets"))?;
            item.as_string().ok_or_else(not_strings)
        })
        .collect()
}

/// The request headers `scheme` reads, as `(lower-case name, value)` pairs.
fn headers(value: JsValue, scheme: Scheme) -> Result<Vec<(&'static str, String)>, Failure> {
    let names = core::scheme_headers(scheme);
    let mut out = Vec::new();
    if let Some(fetch) = value.dyn_ref::<FetchHeaders>() {
        // `Headers` already matches names case-insensitively and joins repeats with ", ".
        for &name in names {
            let header = fetch.get(name).map_err(|_| threw("headers"))?;
            if let Some(header) = header.as_string() {
                out.push((name, header));
            }
        }
        return Ok(out);
    }
    if !value.is_object() {
        return Err(Failure::invalid(
            "`headers` must be a Headers, a plain object or an iterable of [name, value] pairs",
        ));
    }
    let iterator = Reflect::get(&value, &Symbol::iterator()).map_err(|_| threw("headers"))?;
    if let Some(iterator) = iterator.dyn_ref::<Function>() {
        for_each_entry(&value, iterator, |pair| {
            let pair_error = || Failure::invalid("`headers` entries must be [name, value] pairs");
            if !pair.is_object() {
                return Err(pair_error());
            }
            let name = Reflect::get_u32(&pair, 0).map_err(|_| threw("headers"))?;
            let name = name.as_string().ok_or_else(pair_error)?;
            match core::match_header(names, &name) {
                Some(known) => {
                    let value = Reflect::get_u32(&pair, 1).map_err(|_| threw("headers"))?;
                    push_values(&mut out, known, value)
                }
                None => Ok(()),
            }
        })?;
    } else {
        // Object.entries runs the getters; what it returns is plain data.
        let entries = object_entries(&value).map_err(|_| threw("headers"))?;
        if entries.length() as usize > MAX_HEADER_ENTRIES {
            return Err(Failure::invalid("`headers` has too many entries"));
        }
        for entry in entries.iter() {
            let entry: Array = entry.unchecked_into();
            let Some(name) = entry.get(0).as_string() else {
                continue;
            };
            if let Some(known) = core::match_header(names, &name) {
                push_values(&mut out, known, entry.get(1))?;
            }
        }
    }
    Ok(out)
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

/// Adds a header value: a string, or each string of an array (Node's repeated headers);
/// `undefined` and `null` are absent.
fn push_values(
    out: &mut Vec<(&'static str, String)>,
    name: &'static str,
    value: JsValue,
) -> Result<(), Failure> {
    let not_string = || Failure::invalid(format!("header `{name}` must be a string or string[]"));
    if let Some(value) = value.as_string() {
        out.push((name, value));
    } else if value.is_undefined() || value.is_null() {
    } else if is_array(&value).unwrap_or(false) {
        let array: &Props = value.unchecked_ref();
        for i in 0..array_length(array, "headers")? {
            let item = Reflect::get_u32(&value, i).map_err(|_| threw("headers"))?;
            out.push((name, item.as_string().ok_or_else(not_string)?));
        }
    } else {
        return Err(not_string());
    }
    if out.len() > MAX_HEADER_ENTRIES {
        return Err(Failure::invalid("`headers` has too many entries"));
    }
    Ok(())
}

/// A body not yet copied into wasm memory.
struct Body {
    source: BodySource,
    /// A lower bound of its length in bytes (UTF-8 never takes fewer bytes than UTF-16 units).
    min_len: usize,
}

enum BodySource {
    Text(JsValue),
    Bytes(Uint8Array),
}

impl Body {
    fn new(value: JsValue) -> Result<Self, Failure> {
        let invalid = || Failure::invalid("`body` must be a string, a Uint8Array or an ArrayBuffer");
        if let Some(text) = value.dyn_ref::<JsString>() {
            return Ok(Self {
                min_len: text.length() as usize,
                source: BodySource::Text(value),
            });
        }
        // `isView` is false for a Proxy, so the copy below reads real bytes, runs no traps.
        let bytes = if is_view(&value) && value.is_instance_of::<Uint8Array>() {
            value.unchecked_into::<Uint8Array>()
        } else if let Some(buffer) = value.dyn_ref::<ArrayBuffer>() {
            ByteView::new(buffer).map_err(|_| invalid())?.unchecked_into()
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
            BodySource::Text(text) => Ok(text.as_string().unwrap_or_default().into_bytes()),
            BodySource::Bytes(bytes) => {
                // A length that cannot be allocated (a subclass may lie) is an error, not an abort.
                let mut out = Vec::new();
                out.try_reserve_exact(self.min_len)
                    .map_err(|_| Failure::invalid("`body` is too large to copy"))?;
                out.resize(self.min_len, 0);
                copy_into(&mut out, &bytes).map_err(|_| threw("body"))?;
                Ok(out)
            }
        }
    }
}
