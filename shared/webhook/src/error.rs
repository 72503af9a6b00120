//! The one error type of webhook verification, with a stable machine code per variant.

use thiserror::Error;

/// Why a webhook was rejected (or could not be signed).
///
/// Messages name headers and limits only: they never contain a secret, a computed signature or
/// which of several secrets matched, so they are safe to log and to return to the sender.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum WebhookError {
    /// A header the scheme requires is absent (the lower-case header name).
    #[error("missing header `{0}`")]
    MissingHeader(&'static str),
    /// A header is present but cannot be used: duplicated where only one is allowed, too long,
    /// not UTF-8 where text is required, or not of the scheme's shape.
    #[error("malformed header `{0}`")]
    MalformedHeader(&'static str),
    /// The signed timestamp is too old (or, for Standard Webhooks, too far in the future).
    #[error("timestamp outside the allowed tolerance")]
    TimestampOutOfTolerance,
    /// No signature entry of a known version matched any configured secret.
    #[error("no matching signature")]
    NoMatchingSignature,
    /// The body is larger than the configured cap; it was not hashed.
    #[error("body larger than {limit} bytes")]
    BodyTooLarge {
        /// The cap in bytes.
        limit: usize,
    },
    /// The scheme signs the request URL (Square, Twilio) and none was given.
    #[error("this scheme signs the request URL: pass the URL the provider was configured with")]
    MissingUrl,
    /// The signature matched but the signed body is not what the scheme requires (Linear's
    /// `webhookTimestamp`, Twilio's `bodySHA256`, a form body that does not decode).
    #[error("malformed body")]
    MalformedBody,
    /// A configured secret is empty, has the wrong prefix, is not valid base64 or has the wrong
    /// length (or a public key was given where signing needs a secret key).
    #[error("invalid webhook secret")]
    InvalidSecret,
}

impl WebhookError {
    /// A stable, machine-readable code for logs and JSON error bodies.
    pub fn code(&self) -> &'static str {
        match self {
            Self::MissingHeader(_) => "missing_header",
            Self::MalformedHeader(_) => "malformed_header",
            Self::TimestampOutOfTolerance => "timestamp_out_of_tolerance",
            Self::NoMatchingSignature => "no_matching_signature",
            Self::BodyTooLarge { .. } => "body_too_large",
            Self::InvalidSecret => "invalid_secret",
            Self::MissingUrl => "missing_url",
            Self::MalformedBody => "malformed_body",
        }
    }

    /// The HTTP status to answer with: 413 for an oversized body, 500 for a bad configured
    /// secret (our misconfiguration, not the sender's fault), 400 for every other rejection
    /// (Stripe's documented answer to a bad signature).
    pub fn status(&self) -> ::http::StatusCode {
        use ::http::StatusCode;
        match self {
            Self::BodyTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::InvalidSecret | Self::MissingUrl => StatusCode::INTERNAL_SERVER_ERROR,
            _ => StatusCode::BAD_REQUEST,
        }
    }
}
