//! SendGrid Event Webhook (signed): `X-Twilio-Email-Event-Webhook-Signature: <base64 DER ECDSA
//! P-256/SHA-256 signature of timestamp + body>` with `X-Twilio-Email-Event-Webhook-Timestamp`,
//! checked against the verification key SendGrid shows (base64 DER,
//! [`Secret::p256_base64`](crate::Secret::p256_base64)) and within the tolerance.

use p256::ecdsa::signature::{Signer as _, Verifier as _};
use p256::ecdsa::{DerSignature, SigningKey};

use super::crypto::{decode_base64, decode_base64_lenient, encode_base64};
use super::secret::Secret;
use super::{Request, Verified, WebhookError};

/// The signature header (lower-case; lookups ignore case).
pub const SIGNATURE_HEADER: &str = "x-twilio-email-event-webhook-signature";
/// The timestamp header (signed).
pub const TIMESTAMP_HEADER: &str = "x-twilio-email-event-webhook-timestamp";

fn signing_key(pkcs8_base64: &str) -> Result<SigningKey, WebhookError> {
    use p256::pkcs8::DecodePrivateKey as _;
    let der =
        decode_base64_lenient(pkcs8_base64.trim().as_bytes()).ok_or(WebhookError::InvalidSecret)?;
    SigningKey::from_pkcs8_der(&der).map_err(|_| WebhookError::InvalidSecret)
}

/// The base64 DER public key of a base64 PKCS#8 DER private key (what SendGrid shows).
pub fn public_key(pkcs8_base64: &str) -> Result<String, WebhookError> {
    use p256::pkcs8::EncodePublicKey as _;
    let key = p256::PublicKey::from(signing_key(pkcs8_base64)?.verifying_key());
    let der = key
        .to_public_key_der()
        .map_err(|_| WebhookError::InvalidSecret)?;
    Ok(encode_base64(der.as_bytes()))
}

/// The signature header value (base64 DER) for `body` sent at `timestamp`, signed with a base64
/// PKCS#8 DER P-256 private key (SendGrid signs with its own; this is for tests and relays).
pub fn sign(pkcs8_base64: &str, timestamp: i64, body: &[u8]) -> Result<String, WebhookError> {
    let mut message = timestamp.to_string().into_bytes();
    message.extend_from_slice(body);
    let signature: DerSignature = signing_key(pkcs8_base64)?.sign(&message);
    Ok(encode_base64(signature.as_bytes()))
}

pub(crate) fn verify(r: &Request<'_>) -> Result<Verified, WebhookError> {
    let (value, ts, timestamp) = r.signed_timestamp(SIGNATURE_HEADER, TIMESTAMP_HEADER)?;
    let signature = decode_base64(value)
        .and_then(|der| p256::ecdsa::Signature::from_der(&der).ok())
        .ok_or(WebhookError::NoMatchingSignature)?;
    let message = [ts, r.body].concat();
    let matched = r
        .secrets
        .iter()
        .filter_map(Secret::p256_key)
        .any(|key| key.verify(&message, &signature).is_ok());
    if !matched {
        return Err(WebhookError::NoMatchingSignature);
    }
    Ok(Verified {
        id: None,
        timestamp: Some(timestamp),
    })
}
