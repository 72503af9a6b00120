//! Linear: `Linear-Signature: <hex HMAC-SHA256(signing secret, body)>`. The timestamp is inside
//! the signed body (`webhookTimestamp`, Unix milliseconds): after the signature matches it must
//! lie within the tolerance (Linear recommends a minute). A body without a numeric
//! `webhookTimestamp` is accepted on its signature alone, as Linear's SDK does, with
//! [`Verified::timestamp`] `None`. `Linear-Delivery` (not signed) is returned as
//! [`Verified::id`].

use super::{Digest, Request, Verified, WebhookError};

/// The signature header (lower-case; lookups ignore case).
pub const SIGNATURE_HEADER: &str = "linear-signature";
/// The delivery id header, returned as [`Verified::id`].
pub const DELIVERY_HEADER: &str = "linear-delivery";

/// The `Linear-Signature` value for `body`: lower-case hex. The body must carry its own
/// `webhookTimestamp`.
pub fn sign(secret: &str, body: &[u8]) -> String {
    super::body_hmac_sign(Digest::Sha256, secret, "", body)
}

#[derive(serde::Deserialize)]
struct Timestamped {
    #[serde(rename = "webhookTimestamp")]
    webhook_timestamp: Option<u64>,
}

pub(crate) fn verify(r: &Request<'_>) -> Result<Verified, WebhookError> {
    let body = r.body;
    let (now_unix, tolerance_secs) = (r.now_unix, r.tolerance_secs);
    let id = Some(DELIVERY_HEADER);
    let verified = super::body_hmac_verify(Digest::Sha256, SIGNATURE_HEADER, "", id, r)?;
    let millis = serde_json::from_slice::<Timestamped>(body)
        .ok()
        .and_then(|t| t.webhook_timestamp);
    let Some(millis) = millis else {
        return Ok(verified);
    };
    let timestamp = i64::try_from(millis / 1000).map_err(|_| WebhookError::MalformedBody)?;
    super::check_timestamp(timestamp, now_unix, tolerance_secs)?;
    Ok(Verified {
        timestamp: Some(timestamp),
        ..verified
    })
}
