//! Zoom: `x-zm-signature: v0=<hex HMAC-SHA256(secret token, "v0:{timestamp}:{body}")>` with
//! `x-zm-request-timestamp: <unix seconds>`, checked within the tolerance. Zoom validates an
//! endpoint by sending an `endpoint.url_validation` event whose `plainToken` must be answered
//! with its HMAC: [`url_validation`].

use super::crypto::hmac_sha256;
use super::{Request, Verified, WebhookError};

/// The signature header (lower-case; lookups ignore case).
pub const SIGNATURE_HEADER: &str = "x-zm-signature";
/// The timestamp header.
pub const TIMESTAMP_HEADER: &str = "x-zm-request-timestamp";

/// The `x-zm-signature` value for `body` sent at `timestamp`: `v0=<hex>`.
pub fn sign(secret: &str, timestamp: i64, body: &[u8]) -> String {
    super::v0_sign(secret, timestamp, body)
}

/// The `encryptedToken` answering an `endpoint.url_validation` event: the hex HMAC-SHA256 of
/// its `payload.plainToken` under the secret token. Answer (after verifying the request)
/// `{"plainToken": ..., "encryptedToken": ...}` with status 200.
pub fn url_validation(secret: &str, plain_token: &str) -> String {
    hex::encode(hmac_sha256(secret.as_bytes(), &[plain_token.as_bytes()]).unwrap_or_default())
}

pub(crate) fn verify(r: &Request<'_>) -> Result<Verified, WebhookError> {
    super::v0_verify((SIGNATURE_HEADER, TIMESTAMP_HEADER), r)
}

#[cfg(test)]
mod tests {
    // Computed independently with OpenSSL 3.0:
    //   printf '%s' 'qgg8vlvZRS6UYooatFL8Aw' | openssl dgst -sha256 -hmac 'zoom_secret_token' -hex
    #[test]
    fn url_validation_is_the_hex_hmac_of_the_plain_token() {
        assert_eq!(
            super::url_validation("zoom_secret_token", "qgg8vlvZRS6UYooatFL8Aw"),
            "bd48235863f4a6323ccc4963c594908b7c97f88b4a6a95278f4f093690b12726"
        );
    }
}
