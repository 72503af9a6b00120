//! The few primitives every scheme shares: HMAC-SHA256 over parts, a constant-time tag check that
//! insists on the exact digest length, and strict decoders for signatures.

use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use base64::engine::DecodePaddingMode;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

use super::WebhookError;

/// Length of an HMAC-SHA256 tag in bytes.
pub(crate) const TAG_LEN: usize = 32;

/// An HMAC-SHA256 tag.
pub(crate) type Tag = [u8; TAG_LEN];

/// Base64 that accepts a secret with or without its `=` padding (as people paste them).
const LENIENT: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// HMAC-SHA256 of the concatenation of `parts` under `key`. HMAC takes keys of any length, so
/// the error branch is unreachable in practice; it maps to [`WebhookError::InvalidSecret`]
/// rather than a panic.
pub(crate) fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> Result<Tag, WebhookError> {
    let mut mac =
        <Hmac<Sha256> as Mac>::new_from_slice(key).map_err(|_| WebhookError::InvalidSecret)?;
    for part in parts {
        mac.update(part);
    }
    Ok(mac.finalize().into_bytes().into())
}

/// Whether `candidate` is exactly `expected`, compared in constant time. A candidate of any other
/// length (empty, truncated, padded) never matches.
pub(crate) fn tag_matches(expected: &Tag, candidate: &[u8]) -> bool {
    candidate.len() == TAG_LEN && bool::from(expected.as_slice().ct_eq(candidate))
}

/// Strict, canonical, padded base64 (what signatures are sent as).
pub(crate) fn decode_base64(value: &[u8]) -> Option<Vec<u8>> {
    STANDARD.decode(value).ok()
}

/// Base64 with or without padding (for configured secrets).
pub(crate) fn decode_base64_lenient(value: &[u8]) -> Option<Vec<u8>> {
    LENIENT.decode(value).ok()
}

/// Padded base64 encoding.
pub(crate) fn encode_base64(bytes: &[u8]) -> String {
    STANDARD.encode(bytes)
}

/// Lower-case hex only (what Stripe and GitHub send). Upper case is refused so that a signature
/// has exactly one accepted spelling.
pub(crate) fn decode_lower_hex(value: &[u8]) -> Option<Vec<u8>> {
    if !value.iter().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        return None;
    }
    hex::decode(value).ok()
}

/// HMAC-SHA1 of the concatenation of `parts` under `key` (Twilio, Intercom, Vercel).
pub(crate) fn hmac_sha1(key: &[u8], parts: &[&[u8]]) -> [u8; 20] {
    // HMAC takes keys of any length: `new_from_slice` cannot fail.
    let Ok(mut mac) = <Hmac<sha1::Sha1> as Mac>::new_from_slice(key) else {
        return [0; 20];
    };
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().into()
}

/// SHA-256 of `bytes`.
pub(crate) fn sha256(bytes: &[u8]) -> [u8; 32] {
    use sha2::Digest as _;
    Sha256::digest(bytes).into()
}

/// Whether `candidate` is exactly `expected` (same length), compared in constant time.
pub(crate) fn bytes_match(expected: &[u8], candidate: &[u8]) -> bool {
    candidate.len() == expected.len() && bool::from(expected.ct_eq(candidate))
}
