//! Razorpay: `X-Razorpay-Signature: <hex HMAC-SHA256(webhook secret, body)>`. No timestamp;
//! `X-Razorpay-Event-Id` (not signed) is returned as [`Verified::id`] to deduplicate on.

use super::{Digest, Request, Verified, WebhookError};

/// The signature header (lower-case; lookups ignore case).
pub const SIGNATURE_HEADER: &str = "x-razorpay-signature";
/// The event id header, returned as [`Verified::id`].
pub const EVENT_ID_HEADER: &str = "x-razorpay-event-id";

/// The `X-Razorpay-Signature` value for `body`: lower-case hex.
pub fn sign(secret: &str, body: &[u8]) -> String {
    super::body_hmac_sign(Digest::Sha256, secret, "", body)
}

pub(crate) fn verify(r: &Request<'_>) -> Result<Verified, WebhookError> {
    let id = Some(EVENT_ID_HEADER);
    super::body_hmac_verify(Digest::Sha256, SIGNATURE_HEADER, "", id, r)
}
