//! Discord interactions: `X-Signature-Ed25519: <hex ed25519 signature of timestamp + body>` with
//! `X-Signature-Timestamp: <unix seconds>`, checked against the application's public key (64
//! hex digits, [`Secret::ed25519_hex`](crate::Secret::ed25519_hex)) and within the tolerance.
//! Signatures are checked strictly (`verify_strict`: no small-order keys, canonical encodings).

use ed25519_dalek::{Signature, Signer as _, SigningKey};

use super::secret::Secret;
use super::{Request, Verified, WebhookError};

/// The signature header (lower-case; lookups ignore case).
pub const SIGNATURE_HEADER: &str = "x-signature-ed25519";
/// The timestamp header (signed).
pub const TIMESTAMP_HEADER: &str = "x-signature-timestamp";

fn signing_key(seed_hex: &str) -> Result<SigningKey, WebhookError> {
    let seed = hex::decode(seed_hex.trim()).map_err(|_| WebhookError::InvalidSecret)?;
    let seed = <[u8; 32]>::try_from(seed.as_slice()).map_err(|_| WebhookError::InvalidSecret)?;
    Ok(SigningKey::from_bytes(&seed))
}

/// The public key (64 hex digits) of an ed25519 secret key given as a 32-byte hex seed.
pub fn public_key(seed_hex: &str) -> Result<String, WebhookError> {
    Ok(hex::encode(
        signing_key(seed_hex)?.verifying_key().as_bytes(),
    ))
}

/// The `X-Signature-Ed25519` value (128 hex digits) for `body` sent at `timestamp`, signed with
/// a 32-byte hex seed (Discord signs with its own key; this is for tests and relays).
pub fn sign(seed_hex: &str, timestamp: i64, body: &[u8]) -> Result<String, WebhookError> {
    let key = signing_key(seed_hex)?;
    let mut message = timestamp.to_string().into_bytes();
    message.extend_from_slice(body);
    Ok(hex::encode(key.sign(&message).to_bytes()))
}

pub(crate) fn verify(r: &Request<'_>) -> Result<Verified, WebhookError> {
    let (value, ts, timestamp) = r.signed_timestamp(SIGNATURE_HEADER, TIMESTAMP_HEADER)?;
    let signature = super::crypto::decode_lower_hex(value)
        .and_then(|bytes| Signature::from_slice(&bytes).ok())
        .ok_or(WebhookError::NoMatchingSignature)?;
    let message = [ts, r.body].concat();
    let matched = r
        .secrets
        .iter()
        .filter_map(Secret::verifying_key)
        .any(|key| key.verify_strict(&message, &signature).is_ok());
    if !matched {
        return Err(WebhookError::NoMatchingSignature);
    }
    Ok(Verified {
        id: None,
        timestamp: Some(timestamp),
    })
}
