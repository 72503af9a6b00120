//! Intercom: `X-Hub-Signature: sha1=<hex HMAC-SHA1(client secret, body)>`. No timestamp and no
//! delivery id header (the notification id is in the body).

use super::{Digest, Request, Verified, WebhookError};

/// The signature header (lower-case; lookups ignore case).
pub const SIGNATURE_HEADER: &str = "x-hub-signature";

/// The `X-Hub-Signature` value for `body`: `sha1=<hex>`.
pub fn sign(secret: &str, body: &[u8]) -> String {
    super::body_hmac_sign(Digest::Sha1, secret, "sha1=", body)
}

pub(crate) fn verify(r: &Request<'_>) -> Result<Verified, WebhookError> {
    super::body_hmac_verify(Digest::Sha1, SIGNATURE_HEADER, "sha1=", None, r)
}
