//! Paddle Billing: `Paddle-Signature: ts=<unix seconds>;h1=<hex HMAC-SHA256(secret, "{ts}:{body}")>`.
//!
//! Several `h1` entries may be present while a secret is rotated; one match is enough. Other
//! keys are ignored, exactly one `ts` is required, and it must lie within the tolerance (Paddle's
//! SDK allows 5 s; set [`Verifier::with_tolerance_secs`](crate::Verifier::with_tolerance_secs)
//! for that). The event id is in the body (`event_id`).

use super::crypto::{decode_lower_hex, hmac_sha256};
use super::headers;
use super::{Request, Verified, WebhookError};

/// The signature header (lower-case; lookups ignore case).
pub const SIGNATURE_HEADER: &str = "paddle-signature";

/// The `Paddle-Signature` value for `body` sent at `timestamp`: `ts=<unix>;h1=<hex>`.
pub fn sign(secret: &str, timestamp: i64, body: &[u8]) -> String {
    let t = timestamp.to_string();
    let tag = hmac_sha256(secret.as_bytes(), &[t.as_bytes(), b":", body]).unwrap_or_default();
    format!("ts={t};h1={}", hex::encode(tag))
}

pub(crate) fn verify(r: &Request<'_>) -> Result<Verified, WebhookError> {
    let (secrets, headers, body) = (r.secrets, r.headers, r.body);
    let (now_unix, tolerance_secs) = (r.now_unix, r.tolerance_secs);
    let value = headers::required(headers, SIGNATURE_HEADER)?;
    let (ts, candidates) =
        headers::timestamped_list(value, b';', (b"ts", b"h1"), SIGNATURE_HEADER)?;
    let timestamp = headers::unix_seconds(ts, SIGNATURE_HEADER)?;
    super::check_timestamp(timestamp, now_unix, tolerance_secs)?;
    for candidate in candidates.into_iter().filter_map(decode_lower_hex) {
        if super::match_any_hmac(secrets, &[ts, b":", body], &candidate).is_ok() {
            return Ok(Verified {
                id: None,
                timestamp: Some(timestamp),
            });
        }
    }
    Err(WebhookError::NoMatchingSignature)
}
