//! Lemon Squeezy: `X-Signature: <hex HMAC-SHA256(signing secret, body)>`. No timestamp and no
//! delivery id header: deduplicate on the event in the body.

use super::{Digest, Request, Verified, WebhookError};

/// The signature header (lower-case; lookups ignore case).
pub const SIGNATURE_HEADER: &str = "x-signature";

/// The `X-Signature` value for `body`: lower-case hex.
pub fn sign(secret: &str, body: &[u8]) -> String {
    super::body_hmac_sign(Digest::Sha256, secret, "", body)
}

pub(crate) fn verify(r: &Request<'_>) -> Result<Verified, WebhookError> {
    super::body_hmac_verify(Digest::Sha256, SIGNATURE_HEADER, "", None, r)
}
