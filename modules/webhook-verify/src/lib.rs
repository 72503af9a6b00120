//! `webhook-verify`: webhook signature verification for JavaScript, compiled to wasm.
//!
//! A thin binding of [`edge_webhook`]. The public API (`verifyWebhook`, `signWebhook`,
//! `signStripe`) is `js/mod.js`, typed by `js/mod.d.ts`: it reads the caller's options (getters,
//! Proxies, `Headers`, iterables, Node-style `string[]` values) in JavaScript, where that is
//! cheap and where a throwing getter is caught, and hands this module only primitives: the
//! scheme name, secret strings, the values of the scheme's own headers packed into one string,
//! and the body as bytes or a string. Every rule of verification lives in `edge_webhook`.
//!
//! A [`WebhookVerifier`] is built once per secret and settings (`mod.js` reuses the last one),
//! then [`WebhookVerifier::verify`] costs one call into wasm; the outcome (code, message,
//! timestamp, id) is read from it only when needed.

use edge_webhook::{sign, twitch, zoom, Scheme, SignInput, Verified, Verifier, WebhookError};
use wasm_bindgen::prelude::*;

/// The scheme `name` names (`FromStr` spelling rules): its canonical name followed by the
/// lower-case names of the headers it reads, joined by `,`; `None` for an unknown scheme.
#[wasm_bindgen(js_name = schemeInfo)]
pub fn scheme_info(name: &str) -> Option<String> {
    let scheme: Scheme = name.parse().ok()?;
    let mut info = vec![scheme.as_str()];
    info.extend_from_slice(scheme.headers());
    Some(info.join(","))
}

/// Every scheme's canonical name, joined by `, ` (for messages).
#[wasm_bindgen(js_name = schemeNames)]
pub fn scheme_names() -> String {
    Scheme::ALL.map(Scheme::as_str).join(", ")
}

/// Signs `body` as `scheme` would send it ([`edge_webhook::sign`]): `["ok", name, value, ...]`
/// or `["error", code, message]`. `mod.js` has checked the id and the timestamp.
#[wasm_bindgen(js_name = signRequest)]
pub fn sign_request(
    scheme: &str,
    secret: &str,
    id: Option<String>,
    timestamp: f64,
    url: Option<String>,
    body: &[u8],
) -> Vec<String> {
    let Ok(scheme) = scheme.parse::<Scheme>() else {
        return vec![
            "error".into(),
            "invalid_input".into(),
            "unknown scheme".into(),
        ];
    };
    let input = SignInput {
        body,
        timestamp: timestamp as i64,
        id: id.as_deref(),
        url: url.as_deref(),
    };
    match sign(scheme, secret, &input) {
        Ok(headers) => std::iter::once("ok".to_owned())
            .chain(headers.into_iter().flat_map(|(n, v)| [n.to_owned(), v]))
            .collect(),
        Err(e) => vec!["error".into(), e.code().into(), e.to_string()],
    }
}

/// Zoom's `endpoint.url_validation` answer: the hex HMAC of `plain_token`.
#[wasm_bindgen(js_name = zoomEncryptedToken)]
pub fn zoom_encrypted_token(secret: &str, plain_token: &str) -> String {
    zoom::url_validation(secret, plain_token)
}

/// The `challenge` of a Twitch `webhook_callback_verification` body, if it has one.
#[wasm_bindgen(js_name = twitchChallenge)]
pub fn twitch_challenge(body: &[u8]) -> Option<String> {
    twitch::challenge(body)
}

/// A verifier for one scheme, its secrets and settings, and the outcome of its last call.
#[wasm_bindgen]
pub struct WebhookVerifier {
    scheme: Scheme,
    secrets: Vec<String>,
    tolerance_secs: u64,
    max_body: usize,
    verifier: Option<Verifier>,
    outcome: Result<Verified, WebhookError>,
    /// Which collected header value (by position) is the verified id, if one is.
    id_index: Option<usize>,
}

#[wasm_bindgen]
impl WebhookVerifier {
    /// A verifier for the scheme `mod.js` got from [`scheme_info`] (an unknown name falls back
    /// to Standard Webhooks, which `mod.js` never asks for). `tolerance` and `max_body` are
    /// non-negative; `Infinity` saturates to no limit.
    #[wasm_bindgen(constructor)]
    pub fn new(scheme: &str, tolerance: f64, max_body: f64) -> WebhookVerifier {
        Self {
            scheme: scheme.parse().unwrap_or(Scheme::StandardWebhooks),
            secrets: Vec::new(),
            tolerance_secs: tolerance as u64,
            max_body: max_body as usize,
            verifier: None,
            outcome: Err(WebhookError::InvalidSecret),
            id_index: None,
        }
    }

    /// Adds one secret (a request passes if it matches any).
    #[wasm_bindgen(js_name = addSecret)]
    pub fn add_secret(&mut self, secret: &str) {
        self.secrets.push(secret.to_owned());
    }

    /// Parses the secrets: `true` if they are usable, else the outcome is `invalid_secret`.
    pub fn build(&mut self) -> bool {
        self.verifier = Verifier::new(self.scheme, &self.secrets)
            .map(|v| v.with_tolerance_secs(self.tolerance_secs))
            .map(|v| v.with_max_body(self.max_body))
            .map_err(|e| self.outcome = Err(e))
            .ok();
        self.secrets.clear(); // parsed: no second copy kept
        self.verifier.is_some()
    }

    /// Verifies a request (a string body was encoded as UTF-8 by `mod.js`). `layout` holds, per collected header value, the index of
    /// its name in the scheme's header list and its length in UTF-16 units; `values` is every
    /// value, concatenated. `now` is whole Unix seconds. `true` if the request verifies.
    pub fn verify(
        &mut self,
        layout: &[u32],
        values: &str,
        body: &[u8],
        now: f64,
        url: Option<String>,
    ) -> bool {
        let headers = unpack(self.scheme.headers(), layout, values);
        self.outcome = match &self.verifier {
            Some(verifier) => verifier.verify_request(&headers, body, url.as_deref(), now as i64),
            None => Err(WebhookError::InvalidSecret),
        };
        self.id_index = match &self.outcome {
            Ok(Verified { id: Some(id), .. }) => headers.iter().position(|(_, v)| v == id),
            _ => None,
        };
        self.outcome.is_ok()
    }

    /// The last failure's stable code.
    pub fn code(&self) -> String {
        self.outcome.as_ref().err().map_or("", |e| e.code()).into()
    }

    /// The last failure's message (names headers and limits, never a secret).
    pub fn message(&self) -> String {
        self.outcome
            .as_ref()
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default()
    }

    /// The signed timestamp of the last verified request, if its scheme has one.
    pub fn timestamp(&self) -> Option<f64> {
        self.outcome.as_ref().ok()?.timestamp.map(|t| t as f64)
    }

    /// The position of the collected header value that is the verified id (so JavaScript hands
    /// back its own string), if one is.
    #[wasm_bindgen(js_name = idIndex)]
    pub fn id_index(&self) -> Option<u32> {
        self.id_index.map(|i| i as u32)
    }

    /// The verified id, when it is not one of the values as given (surrounding spaces trimmed).
    pub fn id(&self) -> Option<String> {
        self.outcome.as_ref().ok()?.id.clone()
    }
}

/// `(header name, value)` pairs from the packed form [`WebhookVerifier::verify`] takes. Lengths
/// count UTF-16 units, as JavaScript does; a lone surrogate arrived as U+FFFD, one unit too.
fn unpack<'v>(
    names: &[&'static str],
    layout: &[u32],
    values: &'v str,
) -> Vec<(&'static str, &'v str)> {
    let mut rest = values;
    layout
        .chunks_exact(2)
        .filter_map(|pair| {
            let (name, units) = (*names.get(pair[0] as usize)?, pair[1] as usize);
            let (mut end, mut seen) = (0, 0);
            for c in rest.chars() {
                if seen >= units {
                    break;
                }
                seen += c.len_utf16();
                end += c.len_utf8();
            }
            let (value, tail) = rest.split_at(end);
            rest = tail;
            Some((name, value))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unpack_splits_by_utf16_units() {
        let names = Scheme::StandardWebhooks.headers();
        let pairs = unpack(names, &[0, 3, 2, 4, 2, 0, 9, 1], "abcé🚀zz");
        assert_eq!(
            pairs,
            [
                ("webhook-id", "abc"),
                ("webhook-signature", "é🚀z"),
                ("webhook-signature", ""),
            ]
        );
    }

    #[test]
    fn scheme_info_names_headers() {
        assert_eq!(
            scheme_info("GitHub").as_deref(),
            Some("github,x-hub-signature-256,x-github-delivery")
        );
        assert_eq!(scheme_info("svix2"), None);
    }

    #[test]
    fn sign_request_packs_headers_or_an_error() {
        let signed = sign_request("slack", "s", None, 1.0, None, b"{}");
        assert_eq!(
            signed[..3],
            ["ok", "x-slack-signature", &slack_v0("s", 1, b"{}")]
        );
        assert_eq!(signed[3..], ["x-slack-request-timestamp", "1"]);
        let failed = sign_request("square", "s", None, 1.0, None, b"{}");
        assert_eq!(failed[..2], ["error", "missing_url"]);
        assert_eq!(
            sign_request("nope", "s", None, 1.0, None, b"")[1],
            "invalid_input"
        );
    }

    fn slack_v0(secret: &str, ts: i64, body: &[u8]) -> String {
        edge_webhook::slack::sign(secret, ts, body)
    }

    #[test]
    fn verifier_reports_outcomes() {
        let mut v = WebhookVerifier::new("github", 300.0, f64::INFINITY);
        assert!(!v.build());
        assert_eq!(v.code(), "invalid_secret");
        v.add_secret("It's a Secret to Everybody");
        assert!(v.build());
        let sig = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";
        let values = format!("{sig} d1 ");
        assert!(v.verify(
            &[0, sig.len() as u32, 1, 4],
            &values,
            b"Hello, World!",
            0.0,
            None
        ));
        assert_eq!(
            (v.id(), v.id_index(), v.timestamp()),
            (Some("d1".into()), None, None)
        );
        assert!(!v.verify(&[0, sig.len() as u32], &values, b"Hello", 0.0, None));
        assert_eq!(v.code(), "no_matching_signature");
        assert_eq!(v.message(), "no matching signature");
    }
}
