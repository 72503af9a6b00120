//! Stripe: `Stripe-Signature: t=<unix>,v1=<hex>[,v1=<hex>...]`, the hex HMAC-SHA256 of
//! `{t}.{body}` keyed with the whole secret string (`whsec_...` as it is, not decoded).
//!
//! Only `v1` entries count (`v0` and anything else is ignored, so a sender cannot downgrade);
//! several `v1` entries are allowed while a secret is rolled, and one match is enough. Items are
//! comma-separated `key=value` pairs; spaces around items, keys and values are tolerated.
//! Exactly one `t` is required. The timestamp must lie within the tolerance in the past *and* in
//! the future. Stripe's own libraries bound only the past; we also refuse a `t` far ahead, so a
//! signature captured with a future timestamp (a leaked signing key, a test harness) cannot be
//! replayed for as long as that future lasts. A sender's clock up to the tolerance ahead is fine.

use super::crypto::{decode_lower_hex, hmac_sha256, tag_matches};
use super::headers;
use super::{Request, Verified, WebhookError};

/// The header Stripe signs with (lower-case; lookups ignore case).
pub const SIGNATURE_HEADER: &str = "stripe-signature";

/// The `Stripe-Signature` header value for `body` sent at `timestamp` under `secret` (the whole
/// string is the key), as Stripe's `generateTestHeaderString` makes it: `t=<unix>,v1=<hex>`.
pub fn sign(secret: &str, timestamp: i64, body: &[u8]) -> String {
    let t = timestamp.to_string();
    // HMAC accepts every key: the error branch cannot be taken.
    let tag = hmac_sha256(secret.as_bytes(), &[t.as_bytes(), b".", body]).unwrap_or_default();
    format!("t={t},v1={}", hex::encode(tag))
}

/// Verifies a Stripe request (the body size is checked by the caller).
pub(crate) fn verify(r: &Request<'_>) -> Result<Verified, WebhookError> {
    let (secrets, headers, body) = (r.secrets, r.headers, r.body);
    let (now_unix, tolerance_secs) = (r.now_unix, r.tolerance_secs);
    let value = headers::required(headers, SIGNATURE_HEADER)?;
    let (t, candidates) = headers::timestamped_list(value, b',', (b"t", b"v1"), SIGNATURE_HEADER)?;
    let timestamp = headers::unix_seconds(t, SIGNATURE_HEADER)?;
    super::check_timestamp(timestamp, now_unix, tolerance_secs)?;

    let t = timestamp.to_string();
    let tags = secrets
        .iter()
        .filter_map(|s| s.hmac_sha256(&[t.as_bytes(), b".", body]))
        .collect::<Vec<_>>();
    let matched = candidates
        .iter()
        .filter_map(|candidate| decode_lower_hex(candidate))
        .any(|candidate| tags.iter().any(|tag| tag_matches(tag, &candidate)));
    if matched {
        Ok(Verified {
            id: None,
            timestamp: Some(timestamp),
        })
    } else {
        Err(WebhookError::NoMatchingSignature)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Scheme, Verifier};

    // Computed independently with OpenSSL 3.0:
    //   printf '%s' '1700000000.{"id":"evt_test_webhook","object":"event"}' \
    //     | openssl dgst -sha256 -hmac 'whsec_5c1d0a0b6e4f4e8b9a7c3d2e1f0a9b8c'
    const SECRET: &str = "whsec_5c1d0a0b6e4f4e8b9a7c3d2e1f0a9b8c";
    const TS: i64 = 1_700_000_000;
    const BODY: &[u8] = br#"{"id":"evt_test_webhook","object":"event"}"#;
    const HEX: &str = "6eac414e79f82d68a344b01550f647b102e856cd4500fd6cd314c39bbeaf7536";

    #[test]
    fn openssl_vector_signs_and_verifies() {
        let header = sign(SECRET, TS, BODY);
        assert_eq!(header, format!("t={TS},v1={HEX}"));
        let verifier = Verifier::new(Scheme::Stripe, &[SECRET]).unwrap();
        let verified = verifier
            .verify(&[("Stripe-Signature", header)], BODY, TS)
            .unwrap();
        assert_eq!(verified.timestamp, Some(TS));
        assert_eq!(verified.id, None);
    }

    #[test]
    fn the_whole_secret_string_is_the_key() {
        // Decoding the part after `whsec_` (as Standard Webhooks does) must not verify.
        let decoded = crate::crypto::decode_base64_lenient(&SECRET.as_bytes()[6..]);
        let key = decoded.expect("the test secret happens to be valid base64");
        let tag = hmac_sha256(&key, &[TS.to_string().as_bytes(), b".", BODY]).unwrap();
        let header = format!("t={TS},v1={}", hex::encode(tag));
        let verifier = Verifier::new(Scheme::Stripe, &[SECRET]).unwrap();
        let err = verifier
            .verify(&[("stripe-signature", header)], BODY, TS)
            .unwrap_err();
        assert_eq!(err, WebhookError::NoMatchingSignature);
    }

    #[test]
    fn past_and_future_are_bounded() {
        let verifier = Verifier::new(Scheme::Stripe, &[SECRET]).unwrap();
        let hdrs = [("stripe-signature", sign(SECRET, TS, BODY))];
        assert!(verifier.verify(&hdrs, BODY, TS + 300).is_ok());
        assert_eq!(
            verifier.verify(&hdrs, BODY, TS + 301),
            Err(WebhookError::TimestampOutOfTolerance)
        );
        assert!(verifier.verify(&hdrs, BODY, TS - 300).is_ok());
        assert_eq!(
            verifier.verify(&hdrs, BODY, TS - 301),
            Err(WebhookError::TimestampOutOfTolerance)
        );
        assert_eq!(
            verifier.verify(&hdrs, BODY, TS - 365 * 86_400),
            Err(WebhookError::TimestampOutOfTolerance)
        );
        let strict = verifier.with_tolerance_secs(10);
        assert!(strict.verify(&hdrs, BODY, TS + 10).is_ok());
        assert!(strict.verify(&hdrs, BODY, TS + 11).is_err());
    }
}
