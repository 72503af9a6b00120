//! Shopify: `X-Shopify-Hmac-Sha256: <base64 HMAC-SHA256(secret, body)>`.
//!
//! There is no timestamp: replay protection is deduplication on `X-Shopify-Webhook-Id`, which
//! the verifier returns as [`Verified::id`]. That header is *not* covered by the signature.

use super::crypto::{decode_base64, encode_base64, hmac_sha256};
use super::headers;
use super::{Request, Verified, WebhookError};

/// The signature header (lower-case; lookups ignore case).
pub const SIGNATURE_HEADER: &str = "x-shopify-hmac-sha256";
/// The webhook id header, returned as [`Verified::id`].
pub const WEBHOOK_ID_HEADER: &str = "x-shopify-webhook-id";

/// The `X-Shopify-Hmac-Sha256` header value for `body`: padded base64.
pub fn sign(secret: &str, body: &[u8]) -> String {
    // HMAC accepts every key: the error branch cannot be taken.
    encode_base64(&hmac_sha256(secret.as_bytes(), &[body]).unwrap_or_default())
}

/// Verifies a Shopify request (the body size is checked by the caller).
pub(crate) fn verify(r: &Request<'_>) -> Result<Verified, WebhookError> {
    let (secrets, headers, body) = (r.secrets, r.headers, r.body);
    let value = headers::required(headers, SIGNATURE_HEADER)?;
    let id = headers::optional_text(headers, WEBHOOK_ID_HEADER)?;
    let candidate = decode_base64(value).ok_or(WebhookError::NoMatchingSignature)?;
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

    // Computed independently with OpenSSL 3.0:
    //   printf '%s' '{"id":820982911946154508,"email":"jon@doe.ca"}' \
    //     | openssl dgst -sha256 -hmac 'shpss_0123456789abcdef' -binary | base64
    const SECRET: &str = "shpss_0123456789abcdef";
    const BODY: &[u8] = br#"{"id":820982911946154508,"email":"jon@doe.ca"}"#;
    const SIGNATURE: &str = "aBxDl7TIm+jKnZNAFIid6PatdSKxxrLF1u6Ndgukxp8=";

    #[test]
    fn openssl_vector_signs_and_verifies() {
        assert_eq!(sign(SECRET, BODY), SIGNATURE);
        let verifier = Verifier::new(Scheme::Shopify, &[SECRET]).unwrap();
        let hdrs = [
            ("x-shopify-hmac-sha256", SIGNATURE),
            (
                "x-shopify-webhook-id",
                "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043",
            ),
        ];
        let verified = verifier.verify(&hdrs, BODY, 0).unwrap();
        assert_eq!(
            verified.id.as_deref(),
            Some("b54557e4-bdd9-4b37-8a5f-bf7d70bcd043")
        );
        assert_eq!(
            verifier.verify(&hdrs, &BODY[1..], 0),
            Err(WebhookError::NoMatchingSignature)
        );
    }
}
