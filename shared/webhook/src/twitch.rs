//! Twitch EventSub: `Twitch-Eventsub-Message-Signature: sha256=<hex HMAC-SHA256(secret, id +
//! timestamp + body)>` over the `Twitch-Eventsub-Message-Id` and
//! `Twitch-Eventsub-Message-Timestamp` (RFC 3339) header values as sent. The timestamp must lie
//! within the tolerance (Twitch says ten minutes); the message id is returned as
//! [`Verified::id`] (it is signed). A subscription is confirmed by answering its
//! `webhook_callback_verification` message with [`challenge`].

use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use super::crypto::{decode_lower_hex, hmac_sha256};
use super::headers;
use super::{Request, Verified, WebhookError};

/// The signature header (lower-case; lookups ignore case).
pub const SIGNATURE_HEADER: &str = "twitch-eventsub-message-signature";
/// The message id header (signed), returned as [`Verified::id`].
pub const ID_HEADER: &str = "twitch-eventsub-message-id";
/// The RFC 3339 timestamp header (signed).
pub const TIMESTAMP_HEADER: &str = "twitch-eventsub-message-timestamp";
/// The message type header: `notification`, `webhook_callback_verification` or `revocation`.
pub const TYPE_HEADER: &str = "twitch-eventsub-message-type";

/// The RFC 3339 form of `timestamp` as Twitch sends it (`2023-07-19T14:56:51Z`).
pub fn format_timestamp(timestamp: i64) -> Option<String> {
    OffsetDateTime::from_unix_timestamp(timestamp)
        .ok()?
        .format(&Rfc3339)
        .ok()
}

/// The signature header value for message `id` sent at `timestamp` (the RFC 3339 text exactly
/// as sent): `sha256=<hex>`.
pub fn sign(secret: &str, id: &str, timestamp: &str, body: &[u8]) -> String {
    let parts: [&[u8]; 3] = [id.as_bytes(), timestamp.as_bytes(), body];
    let tag = hmac_sha256(secret.as_bytes(), &parts).unwrap_or_default();
    format!("sha256={}", hex::encode(tag))
}

#[derive(serde::Deserialize)]
struct Challenge {
    challenge: String,
}

/// The `challenge` of a verified `webhook_callback_verification` body, to answer with as
/// `text/plain` and status 200; `None` if the body has none.
pub fn challenge(body: &[u8]) -> Option<String> {
    serde_json::from_slice::<Challenge>(body)
        .ok()
        .map(|c| c.challenge)
}

pub(crate) fn verify(r: &Request<'_>) -> Result<Verified, WebhookError> {
    let (secrets, headers, body) = (r.secrets, r.headers, r.body);
    let (now_unix, tolerance_secs) = (r.now_unix, r.tolerance_secs);
    let value = headers::required(headers, SIGNATURE_HEADER)?;
    let id = headers::required(headers, ID_HEADER)?;
    let id_text = headers::text(id, ID_HEADER)?;
    let ts = headers::required(headers, TIMESTAMP_HEADER)?;
    let malformed = WebhookError::MalformedHeader(TIMESTAMP_HEADER);
    let text = std::str::from_utf8(ts).map_err(|_| malformed.clone())?;
    let timestamp = OffsetDateTime::parse(text, &Rfc3339)
        .map_err(|_| malformed)?
        .unix_timestamp();
    super::check_timestamp(timestamp, now_unix, tolerance_secs)?;
    let candidate = value
        .strip_prefix(b"sha256=")
        .and_then(decode_lower_hex)
        .ok_or(WebhookError::NoMatchingSignature)?;
    super::match_any_hmac(secrets, &[id, ts, body], &candidate)?;
    Ok(Verified {
        id: Some(id_text),
        timestamp: Some(timestamp),
    })
}
