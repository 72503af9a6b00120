//! GitHub: `X-Hub-Signature-256: sha256=<hex HMAC-SHA256(secret, body)>`.
//!
//! There is no timestamp: replay protection is deduplication on `X-GitHub-Delivery`, which the
//! verifier returns as [`Verified::id`]. That header is *not* covered by the signature; treat it
//! as a hint and prefer ids inside the verified body where the event has one. The legacy SHA-1
//! `X-Hub-Signature` header is never read.

use super::crypto::{decode_lower_hex, hmac_sha256};
use super::headers;
use super::{Request, Verified, WebhookError};

/// The signature header (lower-case; lookups ignore case).
pub const SIGNATURE_HEADER: &str = "x-hub-signature-256";
/// The delivery id header, returned as [`Verified::id`].
pub const DELIVERY_HEADER: &str = "x-github-delivery";

/// The `X-Hub-Signature-256` header value for `body`: `sha256=<hex>`.
pub fn sign(secret: &str, body: &[u8]) -> String {
    // HMAC accepts every key: the error branch cannot be taken.
    let tag = hmac_sha256(secret.as_bytes(), &[body]).unwrap_or_default();
    format!("sha256={}", hex::encode(tag))
}

/// Verifies a GitHub request (the body size is checked by the caller).
pub(crate) fn verify(r: &Request<'_>) -> Result<Verified, WebhookError> {
    let (secrets, headers, body) = (r.secrets, r.headers, r.body);
    let value = headers::required(headers, SIGNATURE_HEADER)?;
    let id = headers::optional_text(headers, DELIVERY_HEADER)?;
    // Another algorithm prefix is an unknown version: ignored, so nothing matches.
    let candidate = value
        .strip_prefix(b"sha256=")
        .and_then(decode_lower_hex)
        .ok_or(WebhookError::NoMatchingSignature)?;
    super::match_any_hmac(secrets, &[body], &candidate)?;
    Ok(Verified {
        id,
        timestamp: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Scheme, Verifier};

    // GitHub's documented example.
    const SECRET: &str = "It's a Secret to Everybody";
    const BODY: &[u8] = b"Hello, World!";
    const SIGNATURE: &str =
        "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";

    #[test]
    fn documented_vector_signs_and_verifies() {
        assert_eq!(sign(SECRET, BODY), SIGNATURE);
        let verifier = Verifier::new(Scheme::GitHub, &[SECRET]).unwrap();
        let hdrs = [
            ("X-Hub-Signature-256", SIGNATURE),
            ("X-GitHub-Delivery", "72d3162e-cc78-11e3-81ab-4c9367dc0958"),
        ];
        let verified = verifier.verify(&hdrs, BODY, 0).unwrap();
        assert_eq!(
            verified.id.as_deref(),
            Some("72d3162e-cc78-11e3-81ab-4c9367dc0958")
        );
        assert_eq!(verified.timestamp, None);
        // No timestamp: any clock value is fine.
        assert!(verifier.verify(&hdrs, BODY, i64::MIN).is_ok());
        assert!(verifier.verify(&hdrs, BODY, i64::MAX).is_ok());
        assert_eq!(
            verifier.verify(&hdrs, b"Hello, World?", 0),
            Err(WebhookError::NoMatchingSignature)
        );
    }
}
