//! Everything that does not touch a `JsValue`: option validation, the JS-facing result shapes
//! and the calls into [`edge_webhook`]. Built and tested natively too.

use edge_webhook::{github, shopify, standard, stripe, Scheme, Verified, Verifier, WebhookError};
use serde::Serialize;

/// The code of a call whose arguments have the wrong type or shape (never a library code).
pub const INVALID_INPUT: &str = "invalid_input";

/// The most header entries (pairs, object keys, values of one header) read from one request.
/// Bounds the work on hostile or endless iterables; Node's own default is 2000 headers.
pub const MAX_HEADER_ENTRIES: usize = 4096;

/// The largest body `signWebhook`/`signStripe` take: 64 MiB (a cap so that an absurd input is
/// an error rather than a wasm out-of-memory trap).
pub const MAX_SIGN_BODY: usize = 64 << 20;

/// `Number.MAX_SAFE_INTEGER`: the largest integer a JS number holds exactly.
const MAX_SAFE_INTEGER: f64 = 9_007_199_254_740_991.0;

/// `{ ok: false, code, message }`. The message names the field or header at fault, never a
/// value, so it never contains a secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Failure {
    ok: bool,
    /// A stable machine code: [`WebhookError::code`] or [`INVALID_INPUT`].
    pub code: &'static str,
    /// A human-readable reason.
    pub message: String,
}

impl Failure {
    /// An [`INVALID_INPUT`] failure.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self {
            ok: false,
            code: INVALID_INPUT,
            message: message.into(),
        }
    }
}

impl From<WebhookError> for Failure {
    fn from(error: WebhookError) -> Self {
        Self {
            ok: false,
            code: error.code(),
            message: error.to_string(),
        }
    }
}

/// `{ ok: true, id?, timestamp? }`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Verification {
    ok: bool,
    /// The delivery id to deduplicate on, when the scheme has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The signed Unix timestamp (a JS number: exact up to 2^53), when the scheme has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<f64>,
}

impl From<Verified> for Verification {
    fn from(verified: Verified) -> Self {
        Self {
            ok: true,
            id: verified.id,
            timestamp: verified.timestamp.map(|t| t as f64),
        }
    }
}

/// `{ ok: true, headers }`: the headers to send with a signed request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Signed<H> {
    ok: bool,
    /// Header name to value.
    pub headers: H,
}

impl<H> Signed<H> {
    fn new(headers: H) -> Self {
        Self { ok: true, headers }
    }
}

/// The three Standard Webhooks headers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StandardHeaders {
    /// `webhook-id`.
    #[serde(rename = "webhook-id")]
    pub id: String,
    /// `webhook-timestamp` (decimal Unix seconds).
    #[serde(rename = "webhook-timestamp")]
    pub timestamp: String,
    /// `webhook-signature` (space-separated `v1,<base64>` / `v1a,<base64>` entries).
    #[serde(rename = "webhook-signature")]
    pub signature: String,
}

/// The one Stripe header.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StripeHeaders {
    /// `stripe-signature`: `t=<unix>,v1=<hex>`.
    #[serde(rename = "stripe-signature")]
    pub signature: String,
}

/// The scheme named by `name` (see [`Scheme`]'s `FromStr`), else [`INVALID_INPUT`].
pub fn scheme(name: &str) -> Result<Scheme, Failure> {
    name.parse().map_err(|_| {
        Failure::invalid("`scheme` must be \"standard\", \"stripe\", \"github\" or \"shopify\"")
    })
}

/// The lower-case names of every header `scheme` may read. Headers not listed here are never
/// copied into wasm: the library reads nothing else, so leaving them out changes no result.
pub fn scheme_headers(scheme: Scheme) -> &'static [&'static str] {
    const STANDARD: [&str; 6] = [
        standard::WEBHOOK_HEADERS.id,
        standard::WEBHOOK_HEADERS.timestamp,
        standard::WEBHOOK_HEADERS.signature,
        standard::SVIX_HEADERS.id,
        standard::SVIX_HEADERS.timestamp,
        standard::SVIX_HEADERS.signature,
    ];
    const STRIPE: [&str; 1] = [stripe::SIGNATURE_HEADER];
    const GITHUB: [&str; 2] = [github::SIGNATURE_HEADER, github::DELIVERY_HEADER];
    const SHOPIFY: [&str; 2] = [shopify::SIGNATURE_HEADER, shopify::WEBHOOK_ID_HEADER];
    match scheme {
        Scheme::StandardWebhooks => &STANDARD,
        Scheme::Stripe => &STRIPE,
        Scheme::GitHub => &GITHUB,
        Scheme::Shopify => &SHOPIFY,
    }
}

/// The entry of `names` equal to `name` ignoring ASCII case.
pub fn match_header(names: &[&'static str], name: &str) -> Option<&'static str> {
    names
        .iter()
        .copied()
        .find(|known| known.eq_ignore_ascii_case(name))
}

/// Unix seconds from a JS number: finite and within ±2^53, rounded down.
pub fn unix_seconds(value: f64, field: &str) -> Result<i64, Failure> {
    if value.is_finite() && value.abs() <= MAX_SAFE_INTEGER {
        Ok(value.floor() as i64)
    } else {
        Err(Failure::invalid(format!(
            "`{field}` must be a finite number of Unix seconds"
        )))
    }
}

/// A non-negative count from a JS number, rounded down; `Infinity` means no limit.
fn limit(value: f64, field: &str) -> Result<u64, Failure> {
    if value == f64::INFINITY {
        Ok(u64::MAX)
    } else if value >= 0.0 && value.is_finite() {
        Ok(value.floor() as u64) // `as` saturates
    } else {
        Err(Failure::invalid(format!(
            "`{field}` must be a non-negative number (or Infinity)"
        )))
    }
}

/// The timestamp tolerance in seconds; `Infinity` disables the check.
pub fn tolerance_secs(value: f64) -> Result<u64, Failure> {
    limit(value, "toleranceSeconds")
}

/// The body cap in bytes; `Infinity` means no cap.
pub fn max_body(value: f64) -> Result<usize, Failure> {
    limit(value, "maxBodyBytes").map(|n| usize::try_from(n).unwrap_or(usize::MAX))
}

/// A verifier for `scheme` and `secrets` with the optional settings applied.
pub fn verifier(
    scheme: Scheme,
    secrets: &[String],
    tolerance_secs: Option<u64>,
    max_body: Option<usize>,
) -> Result<Verifier, Failure> {
    let mut verifier = Verifier::new(scheme, secrets)?;
    if let Some(tolerance) = tolerance_secs {
        verifier = verifier.with_tolerance_secs(tolerance);
    }
    if let Some(max) = max_body {
        verifier = verifier.with_max_body(max);
    }
    Ok(verifier)
}

/// The body cap error, for a body known to be too large before it is copied.
pub fn body_too_large(limit: usize) -> Failure {
    WebhookError::BodyTooLarge { limit }.into()
}

/// Verifies one request whose relevant headers were collected as `(lower-case name, value)`.
pub fn verify(
    verifier: &Verifier,
    headers: &[(&'static str, String)],
    body: &[u8],
    now_unix: i64,
) -> Result<Verification, Failure> {
    Ok(verifier.verify(headers, body, now_unix)?.into())
}

/// A message id that verifies everywhere: 1 to 256 visible ASCII characters without `.` (the
/// separator of the signed content, which verifiers reject in ids).
fn check_message_id(id: &str) -> Result<(), Failure> {
    let visible = |b: &u8| b.is_ascii_graphic() && *b != b'.';
    if !id.is_empty() && id.len() <= 256 && id.bytes().all(|b| visible(&b)) {
        Ok(())
    } else {
        Err(Failure::invalid(
            "`id` must be 1 to 256 visible ASCII characters without `.`",
        ))
    }
}

/// A timestamp that verifiers accept: non-negative Unix seconds.
fn check_timestamp(timestamp: i64) -> Result<(), Failure> {
    if timestamp >= 0 {
        Ok(())
    } else {
        Err(Failure::invalid(
            "`timestamp` must be non-negative Unix seconds",
        ))
    }
}

/// Signs a Standard Webhooks message; `secret` as [`standard::sign`] takes it.
pub fn sign_standard(
    secret: &str,
    id: &str,
    timestamp: i64,
    body: &[u8],
) -> Result<Signed<StandardHeaders>, Failure> {
    check_message_id(id)?;
    check_timestamp(timestamp)?;
    let signature = standard::sign(secret, id, timestamp, body)?;
    Ok(Signed::new(StandardHeaders {
        id: id.to_owned(),
        timestamp: timestamp.to_string(),
        signature,
    }))
}

/// Signs a Stripe event payload; the whole `secret` string is the key (empty is invalid).
pub fn sign_stripe(
    secret: &str,
    timestamp: i64,
    body: &[u8],
) -> Result<Signed<StripeHeaders>, Failure> {
    check_timestamp(timestamp)?;
    if secret.is_empty() {
        return Err(WebhookError::InvalidSecret.into());
    }
    Ok(Signed::new(StripeHeaders {
        signature: stripe::sign(secret, timestamp, body),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, to_value};

    const SECRET: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
    const ID: &str = "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk";
    const TS: i64 = 1_649_367_553;
    const BODY: &[u8] = br#"{"email":"test@example.com","username":"test_user"}"#;
    const SIGNATURE: &str = "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw=";

    #[test]
    fn published_vector_round_trips_in_the_js_shape() {
        let signed = sign_standard(SECRET, ID, TS, BODY).unwrap();
        assert_eq!(
            to_value(&signed).unwrap(),
            json!({"ok": true, "headers": {
                "webhook-id": ID, "webhook-timestamp": "1649367553", "webhook-signature": SIGNATURE,
            }})
        );
        let verifier = verifier(Scheme::StandardWebhooks, &[SECRET.into()], None, None).unwrap();
        let headers = [
            ("webhook-id", ID.to_owned()),
            ("webhook-timestamp", TS.to_string()),
            ("webhook-signature", SIGNATURE.to_owned()),
        ];
        let verified = verify(&verifier, &headers, BODY, TS).unwrap();
        assert_eq!(
            to_value(&verified).unwrap(),
            json!({"ok": true, "id": ID, "timestamp": 1_649_367_553.0})
        );
        let failure = verify(&verifier, &headers, b"{}", TS).unwrap_err();
        assert_eq!(
            to_value(&failure).unwrap(),
            json!({"ok": false, "code": "no_matching_signature", "message": "no matching signature"})
        );
    }

    #[test]
    fn stripe_signs_like_generate_test_header_string() {
        let signed = sign_stripe("whsec_test", 1_700_000_000, b"{}").unwrap();
        let header = &signed.headers.signature;
        assert!(header.starts_with("t=1700000000,v1="), "{header}");
        assert_eq!(header.len(), "t=1700000000,v1=".len() + 64);
        let verifier = verifier(Scheme::Stripe, &["whsec_test".into()], None, None).unwrap();
        let headers = [("stripe-signature", header.clone())];
        let verified = verify(&verifier, &headers, b"{}", 1_700_000_000).unwrap();
        assert_eq!(verified.id, None);
        assert_eq!(verified.timestamp, Some(1_700_000_000.0));
        assert_eq!(sign_stripe("", 0, b"").unwrap_err().code, "invalid_secret");
    }

    #[test]
    fn ids_and_timestamps_to_sign_are_checked() {
        for bad in ["", "a.b", "a b", "é", &"x".repeat(257)] {
            assert_eq!(
                sign_standard(SECRET, bad, TS, BODY).unwrap_err().code,
                INVALID_INPUT
            );
        }
        assert_eq!(
            sign_standard(SECRET, ID, -1, BODY).unwrap_err().code,
            INVALID_INPUT
        );
        let failure = sign_standard("whsec_short", ID, TS, BODY).unwrap_err();
        assert_eq!(failure.code, "invalid_secret");
        assert!(!failure.message.contains("whsec_short"));
    }

    #[test]
    fn numbers_are_validated() {
        assert_eq!(unix_seconds(1.9, "now"), Ok(1));
        assert_eq!(unix_seconds(-1.5, "now"), Ok(-2));
        for bad in [f64::NAN, f64::INFINITY, -f64::INFINITY, 1e300] {
            assert_eq!(unix_seconds(bad, "now").unwrap_err().code, INVALID_INPUT);
        }
        assert_eq!(tolerance_secs(f64::INFINITY), Ok(u64::MAX));
        assert_eq!(tolerance_secs(0.0), Ok(0));
        assert_eq!(tolerance_secs(300.7), Ok(300));
        assert_eq!(max_body(1e300), Ok(usize::MAX));
        for bad in [f64::NAN, -1.0, -f64::INFINITY] {
            assert_eq!(tolerance_secs(bad).unwrap_err().code, INVALID_INPUT);
            assert_eq!(max_body(bad).unwrap_err().code, INVALID_INPUT);
        }
    }

    #[test]
    fn scheme_names_and_headers() {
        assert_eq!(scheme("Standard-Webhooks"), Ok(Scheme::StandardWebhooks));
        assert_eq!(scheme("nope").unwrap_err().code, INVALID_INPUT);
        for s in Scheme::ALL {
            for name in scheme_headers(s) {
                assert_eq!(*name, name.to_ascii_lowercase());
                assert_eq!(
                    match_header(scheme_headers(s), &name.to_ascii_uppercase()),
                    Some(*name)
                );
            }
        }
        assert_eq!(
            match_header(scheme_headers(Scheme::Stripe), "webhook-id"),
            None
        );
    }
}
