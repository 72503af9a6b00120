//! Square: `x-square-hmacsha256-signature: <base64 HMAC-SHA256(signature key, notification URL
//! + body)>`. The URL is the subscription's notification URL exactly as configured in Square,
//! passed to [`Verifier::verify_request`](crate::Verifier::verify_request). No timestamp; the
//! event id is in the body. The legacy SHA-1 `x-square-signature` header is never read.

use super::crypto::{decode_base64, encode_base64, hmac_sha256};
use super::headers::{self};
use super::{Request, Verified, WebhookError};

/// The signature header (lower-case; lookups ignore case).
pub const SIGNATURE_HEADER: &str = "x-square-hmacsha256-signature";

/// The signature header value for `body` posted to `url`: padded base64.
pub fn sign(secret: &str, url: &str, body: &[u8]) -> String {
    encode_base64(&hmac_sha256(secret.as_bytes(), &[url.as_bytes(), body]).unwrap_or_default())
}

pub(crate) fn verify(r: &Request<'_>) -> Result<Verified, WebhookError> {
    let (secrets, headers, body, url) = (r.secrets, r.headers, r.body, r.url);
    let value = headers::required(headers, SIGNATURE_HEADER)?;
    let url = url.ok_or(WebhookError::MissingUrl)?;
    let candidate = decode_base64(value).ok_or(WebhookError::NoMatchingSignature)?;
    super::match_any_hmac(secrets, &[url.as_bytes(), body], &candidate)?;
    Ok(Verified {
        id: None,
        timestamp: None,
    })
}
