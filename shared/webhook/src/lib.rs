//! Webhook signature verification and signing: Standard Webhooks (`v1` HMAC-SHA256 and `v1a`
//! ed25519, also Svix and Supabase Auth Hooks), Stripe, GitHub and Shopify.
//!
//! A [`Verifier`] holds a [`Scheme`], its secrets (several, for rotation), a timestamp tolerance
//! and a body cap. [`Verifier::verify`] takes the request headers (an [`http::HeaderMap`] or a
//! list of `(name, value bytes)` pairs, see [`HeaderSource`]), the raw body bytes exactly as
//! received, and the current time in Unix seconds. The clock is never read here, so this runs
//! on `wasm32-unknown-unknown` and tests choose their own `now`.
//!
//! ```
//! use edge_webhook::{github, Scheme, Verifier};
//!
//! let verifier = Verifier::new(Scheme::GitHub, &["It's a Secret to Everybody"])?;
//! let body = b"Hello, World!";
//! let headers = [("X-Hub-Signature-256", github::sign("It's a Secret to Everybody", body))];
//! let verified = verifier.verify(&headers, body, 1_700_000_000)?;
//! assert_eq!(verified.id, None);
//! # Ok::<(), edge_webhook::WebhookError>(())
//! ```
//!
//! What every scheme guarantees:
//! - the body is checked against the cap before anything is hashed;
//! - signatures are decoded first and must have exactly the digest's length (an empty `v1,`
//!   never passes), then compared in constant time;
//! - unknown signature versions are ignored and one valid entry among invalid ones passes;
//! - no header content (non-UTF-8, huge, duplicated) panics: it is an error with a stable
//!   [`WebhookError::code`]. A header that carries one value (ids, timestamps, the Stripe,
//!   GitHub and Shopify signatures) must appear once; repeated Standard Webhooks signature
//!   headers are read as one list. Values longer than [`MAX_HEADER_LEN`] are malformed;
//! - error messages and `Debug` output never contain a secret or say which secret matched.

mod crypto;
mod error;
mod headers;
mod secret;

pub mod github;
pub mod shopify;
pub mod standard;
pub mod stripe;

#[cfg(test)]
mod tests;

use std::fmt;
use std::str::FromStr;

pub use error::WebhookError;
pub use headers::{HeaderSource, MAX_HEADER_LEN, MAX_SIGNATURE_ENTRIES};
pub use secret::{Secret, STANDARD_HMAC_KEY_LEN};

/// Default timestamp tolerance: 5 minutes, as every scheme's reference library uses.
pub const DEFAULT_TOLERANCE_SECS: u64 = 300;

/// Default body cap: 256 KiB (Standard Webhooks recommends payloads under 20 KB).
pub const DEFAULT_MAX_BODY: usize = 256 * 1024;

/// A webhook signature scheme.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scheme {
    /// Standard Webhooks, Svix and Supabase Auth Hooks (see [`standard`]).
    StandardWebhooks,
    /// Stripe (see [`stripe`]).
    Stripe,
    /// GitHub (see [`github`]).
    GitHub,
    /// Shopify (see [`shopify`]).
    Shopify,
}

impl Scheme {
    /// Every scheme, in a fixed order.
    pub const ALL: [Scheme; 4] = [
        Scheme::StandardWebhooks,
        Scheme::Stripe,
        Scheme::GitHub,
        Scheme::Shopify,
    ];

    /// The lower-case names of every header this scheme may read, and nothing else: a caller
    /// that copies headers out of another runtime (a JS object, say) needs only these.
    pub fn headers(self) -> &'static [&'static str] {
        match self {
            Scheme::StandardWebhooks => &[
                standard::WEBHOOK_HEADERS.id,
                standard::WEBHOOK_HEADERS.timestamp,
                standard::WEBHOOK_HEADERS.signature,
                standard::SVIX_HEADERS.id,
                standard::SVIX_HEADERS.timestamp,
                standard::SVIX_HEADERS.signature,
            ],
            Scheme::Stripe => &[stripe::SIGNATURE_HEADER],
            Scheme::GitHub => &[github::SIGNATURE_HEADER, github::DELIVERY_HEADER],
            Scheme::Shopify => &[shopify::SIGNATURE_HEADER, shopify::WEBHOOK_ID_HEADER],
        }
    }

    /// The canonical lower-case name (`FromStr` accepts it back).
    pub fn as_str(self) -> &'static str {
        match self {
            Scheme::StandardWebhooks => "standard",
            Scheme::Stripe => "stripe",
            Scheme::GitHub => "github",
            Scheme::Shopify => "shopify",
        }
    }
}

impl fmt::Display for Scheme {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An unknown scheme name was given to [`Scheme::from_str`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown webhook scheme (expected standard, stripe, github or shopify)")]
pub struct UnknownScheme;

impl FromStr for Scheme {
    type Err = UnknownScheme;

    /// Case-insensitive; `-` and `_` are ignored, so `standard`, `standardwebhooks`,
    /// `standard-webhooks` and `Standard_Webhooks` all name Standard Webhooks.
    fn from_str(name: &str) -> Result<Self, Self::Err> {
        let name: String = name
            .trim()
            .chars()
            .filter(|c| !matches!(c, '-' | '_'))
            .map(|c| c.to_ascii_lowercase())
            .collect();
        match name.as_str() {
            "standard" | "standardwebhooks" => Ok(Scheme::StandardWebhooks),
            "stripe" => Ok(Scheme::Stripe),
            "github" => Ok(Scheme::GitHub),
            "shopify" => Ok(Scheme::Shopify),
            _ => Err(UnknownScheme),
        }
    }
}

/// What a successful verification tells about the request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// The delivery id to deduplicate on: `webhook-id`/`svix-id` (signed), `X-GitHub-Delivery`
    /// or `X-Shopify-Webhook-Id` (present but not signed); `None` for Stripe (the event id is
    /// in the body) or when the optional header is absent.
    pub id: Option<String>,
    /// The signed timestamp (Standard Webhooks, Stripe); `None` for GitHub and Shopify.
    pub timestamp: Option<i64>,
}

/// Verifies webhook requests of one scheme against one or more secrets.
///
/// `Debug` shows the scheme and settings; secrets print as `<redacted>`.
#[derive(Debug, Clone)]
pub struct Verifier {
    scheme: Scheme,
    secrets: Vec<Secret>,
    tolerance_secs: u64,
    max_body: usize,
}

impl Verifier {
    /// A verifier for `scheme` with every secret in `secrets` (a request passes if it matches
    /// any). For Standard Webhooks each string may itself join several secrets with `|` and is
    /// parsed by [`Secret::standard`]; for the other schemes each string is used as it is
    /// ([`Secret::raw`]). No secret at all, or any invalid one, is
    /// [`WebhookError::InvalidSecret`].
    pub fn new<S: AsRef<str>>(scheme: Scheme, secrets: &[S]) -> Result<Self, WebhookError> {
        let mut parsed = Vec::with_capacity(secrets.len());
        for secret in secrets {
            match scheme {
                Scheme::StandardWebhooks => parsed.extend(Secret::standard(secret.as_ref())?),
                _ => parsed.push(Secret::raw(secret.as_ref())?),
            }
        }
        Self::from_secrets(scheme, parsed)
    }

    /// A verifier from already parsed secrets. Empty is [`WebhookError::InvalidSecret`], and so
    /// is a scheme other than Standard Webhooks given an ed25519 key.
    pub fn from_secrets(scheme: Scheme, secrets: Vec<Secret>) -> Result<Self, WebhookError> {
        let usable = |s: &Secret| scheme == Scheme::StandardWebhooks || s.hmac_key().is_some();
        if secrets.is_empty() || !secrets.iter().all(usable) {
            return Err(WebhookError::InvalidSecret);
        }
        Ok(Self {
            scheme,
            secrets,
            tolerance_secs: DEFAULT_TOLERANCE_SECS,
            max_body: DEFAULT_MAX_BODY,
        })
    }

    /// Sets the timestamp tolerance in seconds (default [`DEFAULT_TOLERANCE_SECS`]);
    /// `u64::MAX` disables the check. GitHub and Shopify have no timestamp.
    pub fn with_tolerance_secs(mut self, tolerance_secs: u64) -> Self {
        self.tolerance_secs = tolerance_secs;
        self
    }

    /// Sets the body cap in bytes (default [`DEFAULT_MAX_BODY`]).
    pub fn with_max_body(mut self, max_body: usize) -> Self {
        self.max_body = max_body;
        self
    }

    /// The scheme this verifier checks.
    pub fn scheme(&self) -> Scheme {
        self.scheme
    }

    /// The timestamp tolerance in seconds.
    pub fn tolerance_secs(&self) -> u64 {
        self.tolerance_secs
    }

    /// The body cap in bytes.
    pub fn max_body(&self) -> usize {
        self.max_body
    }

    /// Verifies one request: `body` must be the raw bytes as received (never re-serialised
    /// JSON), `now_unix` the current time in Unix seconds.
    ///
    /// Checks run in this order, so the error says what failed first: body cap, headers
    /// present and well-formed, timestamp tolerance, signatures.
    pub fn verify<H: HeaderSource + ?Sized>(
        &self,
        headers: &H,
        body: &[u8],
        now_unix: i64,
    ) -> Result<Verified, WebhookError> {
        if body.len() > self.max_body {
            return Err(WebhookError::BodyTooLarge {
                limit: self.max_body,
            });
        }
        let (secrets, tolerance) = (&self.secrets, self.tolerance_secs);
        match self.scheme {
            Scheme::StandardWebhooks => {
                standard::verify(secrets, headers, body, now_unix, tolerance)
            }
            Scheme::Stripe => stripe::verify(secrets, headers, body, now_unix, tolerance),
            Scheme::GitHub => github::verify(secrets, headers, body),
            Scheme::Shopify => shopify::verify(secrets, headers, body),
        }
    }
}

/// Rejects a `timestamp` more than `tolerance_secs` before `now_unix` and, if `future_too`,
/// more than `tolerance_secs` after it. Computed in `i128`: no overflow whatever the inputs.
fn check_timestamp(timestamp: i64, now_unix: i64, tolerance_secs: u64) -> Result<(), WebhookError> {
    let age = i128::from(now_unix) - i128::from(timestamp);
    let tolerance = i128::from(tolerance_secs);
    if age > tolerance || -age > tolerance {
        Err(WebhookError::TimestampOutOfTolerance)
    } else {
        Ok(())
    }
}

/// `Ok` if `candidate` is the HMAC-SHA256 of `parts` under any of the symmetric `secrets`.
fn match_any_hmac(
    secrets: &[Secret],
    parts: &[&[u8]],
    candidate: &[u8],
) -> Result<(), WebhookError> {
    for tag in secrets.iter().filter_map(|s| s.hmac_sha256(parts)) {
        if crypto::tag_matches(&tag, candidate) {
            return Ok(());
        }
    }
    Err(WebhookError::NoMatchingSignature)
}
