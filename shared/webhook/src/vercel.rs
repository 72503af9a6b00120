//! Vercel: `x-vercel-signature: <hex HMAC-SHA1(integration or webhook secret, body)>`. No
//! timestamp and no delivery id header (the event id is in the body).

use super::{Digest, Request, Verified, WebhookError};

/// The signature header (lower-case; lookups ignore case).
pub const SIGNATURE_HEADER: &str = "x-vercel-signature";

/// The `x-vercel-signature` value for `body`: lower-case hex.
pub fn sign(secret: &str, body: &[u8]) -> String {
    super::body_hmac_sign(Digest::Sha1, secret, "", body)
}

pub(crate) fn verify(r: &Request<'_>) -> Result<Verified, WebhookError> {
    super::body_hmac_verify(Digest::Sha1, SIGNATURE_HEADER, "", None, r)
}
