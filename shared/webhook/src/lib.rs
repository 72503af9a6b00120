//! Webhook signature verification and signing: Standard Webhooks (`v1` HMAC-SHA256 and `v1a`
//! ed25519, also Svix, Clerk, Resend and Supabase Auth Hooks), Stripe, GitHub, Shopify, Slack,
//! Paddle, Lemon Squeezy, Razorpay, Linear, Zoom, Twitch, Discord, Square, Twilio, Intercom,
//! Vercel and SendGrid (one module each, with its header names and a `sign` function; [`sign`]
//! signs as any of them).
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
//!   [`WebhookError::code`]. A header that carries one value (ids, timestamps, the
//!   single-valued signatures) must appear once; repeated Standard Webhooks signature
//!   headers are read as one list. Values longer than [`MAX_HEADER_LEN`] are malformed;
//! - where the provider signs a timestamp, it must lie within the tolerance (default 300 s);
//! - Square and Twilio sign the request URL: [`Verifier::verify_request`] takes it;
//! - error messages and `Debug` output never contain a secret or say which secret matched.

mod crypto;
mod error;
mod headers;
mod secret;

pub mod discord;
pub mod github;
pub mod intercom;
pub mod lemonsqueezy;
pub mod linear;
pub mod paddle;
pub mod razorpay;
pub mod sendgrid;
pub mod shopify;
pub mod slack;
pub mod square;
pub mod standard;
pub mod stripe;
pub mod twilio;
pub mod twitch;
pub mod vercel;
pub mod zoom;

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
    /// Standard Webhooks, Svix, Clerk, Resend and Supabase Auth Hooks (see [`standard`]).
    StandardWebhooks,
    /// Stripe (see [`stripe`]).
    Stripe,
    /// GitHub (see [`github`]).
    GitHub,
    /// Shopify (see [`shopify`]).
    Shopify,
    /// Slack (see [`slack`]).
    Slack,
    /// Paddle Billing (see [`paddle`]).
    Paddle,
    /// Lemon Squeezy (see [`lemonsqueezy`]).
    LemonSqueezy,
    /// Razorpay (see [`razorpay`]).
    Razorpay,
    /// Linear (see [`linear`]).
    Linear,
    /// Zoom (see [`zoom`]).
    Zoom,
    /// Twitch EventSub (see [`twitch`]).
    Twitch,
    /// Discord interactions (see [`discord`]).
    Discord,
    /// Square (see [`square`]); signs the notification URL.
    Square,
    /// Twilio (see [`twilio`]); signs the request URL.
    Twilio,
    /// Intercom (see [`intercom`]).
    Intercom,
    /// Vercel (see [`vercel`]).
    Vercel,
    /// SendGrid's signed Event Webhook (see [`sendgrid`]).
    SendGrid,
}

impl Scheme {
    /// Every scheme, in a fixed order.
    pub const ALL: [Scheme; 17] = [
        Scheme::StandardWebhooks,
        Scheme::Stripe,
        Scheme::GitHub,
        Scheme::Shopify,
        Scheme::Slack,
        Scheme::Paddle,
        Scheme::LemonSqueezy,
        Scheme::Razorpay,
        Scheme::Linear,
        Scheme::Zoom,
        Scheme::Twitch,
        Scheme::Discord,
        Scheme::Square,
        Scheme::Twilio,
        Scheme::Intercom,
        Scheme::Vercel,
        Scheme::SendGrid,
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
            Scheme::Slack => &[slack::SIGNATURE_HEADER, slack::TIMESTAMP_HEADER],
            Scheme::Paddle => &[paddle::SIGNATURE_HEADER],
            Scheme::LemonSqueezy => &[lemonsqueezy::SIGNATURE_HEADER],
            Scheme::Razorpay => &[razorpay::SIGNATURE_HEADER, razorpay::EVENT_ID_HEADER],
            Scheme::Linear => &[linear::SIGNATURE_HEADER, linear::DELIVERY_HEADER],
            Scheme::Zoom => &[zoom::SIGNATURE_HEADER, zoom::TIMESTAMP_HEADER],
            Scheme::Twitch => &[
                twitch::SIGNATURE_HEADER,
                twitch::ID_HEADER,
                twitch::TIMESTAMP_HEADER,
            ],
            Scheme::Discord => &[discord::SIGNATURE_HEADER, discord::TIMESTAMP_HEADER],
            Scheme::Square => &[square::SIGNATURE_HEADER],
            Scheme::Twilio => &[twilio::SIGNATURE_HEADER, twilio::IDEMPOTENCY_HEADER],
            Scheme::Intercom => &[intercom::SIGNATURE_HEADER],
            Scheme::Vercel => &[vercel::SIGNATURE_HEADER],
            Scheme::SendGrid => &[sendgrid::SIGNATURE_HEADER, sendgrid::TIMESTAMP_HEADER],
        }
    }

    /// Whether the signature covers the request URL, which [`Verifier::verify_request`] must
    /// then be given (Square, Twilio).
    pub fn needs_url(self) -> bool {
        matches!(self, Scheme::Square | Scheme::Twilio)
    }

    /// The canonical lower-case name (`FromStr` accepts it back).
    pub fn as_str(self) -> &'static str {
        match self {
            Scheme::StandardWebhooks => "standard",
            Scheme::Stripe => "stripe",
            Scheme::GitHub => "github",
            Scheme::Shopify => "shopify",
            Scheme::Slack => "slack",
            Scheme::Paddle => "paddle",
            Scheme::LemonSqueezy => "lemonsqueezy",
            Scheme::Razorpay => "razorpay",
            Scheme::Linear => "linear",
            Scheme::Zoom => "zoom",
            Scheme::Twitch => "twitch",
            Scheme::Discord => "discord",
            Scheme::Square => "square",
            Scheme::Twilio => "twilio",
            Scheme::Intercom => "intercom",
            Scheme::Vercel => "vercel",
            Scheme::SendGrid => "sendgrid",
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
#[error("unknown webhook scheme")]
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
            _ => Scheme::ALL
                .into_iter()
                .find(|scheme| scheme.as_str() == name)
                .ok_or(UnknownScheme),
        }
    }
}

/// What a successful verification tells about the request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// The delivery id to deduplicate on: `webhook-id`/`svix-id` and Twitch's message id
    /// (signed), or `X-GitHub-Delivery`, `X-Shopify-Webhook-Id`, `X-Razorpay-Event-Id`,
    /// `Linear-Delivery`, `I-Twilio-Idempotency-Token` (present but not signed); `None` where
    /// the event id is only in the body, or when the optional header is absent.
    pub id: Option<String>,
    /// The signed timestamp in Unix seconds, for schemes that sign one (Standard Webhooks,
    /// Stripe, Slack, Paddle, Linear's body, Zoom, Twitch, Discord, SendGrid).
    pub timestamp: Option<i64>,
}

/// Verifies webhook requests of one scheme against one or more secrets.
///
/// `Debug` shows the scheme and settings; secrets print as `<redacted>`.
#[derive(Debug, Clone)]
pub struct Verifier {
    scheme: Scheme,
    /// The scheme's check, chosen when the verifier is built.
    check: Check,
    secrets: Vec<Secret>,
    tolerance_secs: u64,
    max_body: usize,
}

impl Verifier {
    /// A verifier for `scheme` with every secret in `secrets` (a request passes if it matches
    /// any). For Standard Webhooks each string may itself join several secrets with `|` and is
    /// parsed by [`Secret::standard`]; Discord's is a hex ed25519 public key
    /// ([`Secret::ed25519_hex`]), SendGrid's a base64 DER P-256 public key
    /// ([`Secret::p256_base64`]); for the other schemes each string is used as it is
    /// ([`Secret::raw`]). No secret at all, or any invalid one, is
    /// [`WebhookError::InvalidSecret`].
    #[inline(always)]
    pub fn new<S: AsRef<str>>(scheme: Scheme, secrets: &[S]) -> Result<Self, WebhookError> {
        let mut parsed = Vec::with_capacity(secrets.len());
        for secret in secrets {
            let secret = secret.as_ref();
            match scheme {
                Scheme::StandardWebhooks => parsed.extend(Secret::standard(secret)?),
                Scheme::Discord => parsed.push(Secret::ed25519_hex(secret)?),
                Scheme::SendGrid => parsed.push(Secret::p256_base64(secret)?),
                _ => parsed.push(Secret::raw(secret)?),
            }
        }
        Self::from_secrets(scheme, parsed)
    }

    /// A verifier from already parsed secrets. Empty is [`WebhookError::InvalidSecret`], and so
    /// is a secret of the wrong kind for the scheme (an ed25519 key for an HMAC scheme, say).
    #[inline(always)]
    pub fn from_secrets(scheme: Scheme, secrets: Vec<Secret>) -> Result<Self, WebhookError> {
        let usable = |s: &Secret| match scheme {
            Scheme::StandardWebhooks => s.p256_key().is_none(),
            Scheme::Discord => s.verifying_key().is_some() && s.hmac_key().is_none(),
            Scheme::SendGrid => s.p256_key().is_some(),
            _ => s.hmac_key().is_some(),
        };
        if secrets.is_empty() || !secrets.iter().all(usable) {
            return Err(WebhookError::InvalidSecret);
        }
        Ok(Self {
            scheme,
            check: scheme_check(scheme),
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
    /// JSON), `now_unix` the current time in Unix seconds. The URL-bound schemes (Square,
    /// Twilio) need [`Verifier::verify_request`] instead: here they fail with
    /// [`WebhookError::MissingUrl`].
    ///
    /// Checks run in this order, so the error says what failed first: body cap, headers
    /// present and well-formed, timestamp tolerance, signatures.
    pub fn verify<H: HeaderSource + ?Sized>(
        &self,
        headers: &H,
        body: &[u8],
        now_unix: i64,
    ) -> Result<Verified, WebhookError> {
        self.verify_request(headers, body, None, now_unix)
    }

    /// [`Verifier::verify`] with the full URL the provider requested (scheme, host, path and
    /// query, exactly as configured with the provider), which Square and Twilio sign. Other
    /// schemes ignore it.
    pub fn verify_request<H: HeaderSource + ?Sized>(
        &self,
        headers: &H,
        body: &[u8],
        url: Option<&str>,
        now_unix: i64,
    ) -> Result<Verified, WebhookError> {
        if body.len() > self.max_body {
            return Err(WebhookError::BodyTooLarge {
                limit: self.max_body,
            });
        }
        let headers: &dyn HeaderSource = &headers;
        (self.check)(&Request {
            secrets: &self.secrets,
            headers,
            body,
            url,
            now_unix,
            tolerance_secs: self.tolerance_secs,
        })
    }
}

/// One request as a scheme's check reads it.
#[derive(Clone, Copy)]
pub(crate) struct Request<'a> {
    secrets: &'a [Secret],
    headers: &'a dyn HeaderSource,
    body: &'a [u8],
    url: Option<&'a str>,
    now_unix: i64,
    tolerance_secs: u64,
}

impl Request<'_> {
    /// The signature header and a Unix-seconds timestamp header that the signature covers:
    /// both required, the timestamp checked against the tolerance. `(signature, timestamp as
    /// sent, timestamp)`.
    fn signed_timestamp(
        &self,
        signature_header: &'static str,
        timestamp_header: &'static str,
    ) -> Result<(&[u8], &[u8], i64), WebhookError> {
        let value = headers::required(self.headers, signature_header)?;
        let ts = headers::required(self.headers, timestamp_header)?;
        let timestamp = headers::unix_seconds(ts, timestamp_header)?;
        check_timestamp(timestamp, self.now_unix, self.tolerance_secs)?;
        Ok((value, ts, timestamp))
    }
}

/// A scheme's verification.
type Check = fn(&Request<'_>) -> Result<Verified, WebhookError>;

/// The check of `scheme`.
#[inline(always)]
fn scheme_check(scheme: Scheme) -> Check {
    match scheme {
        Scheme::StandardWebhooks => standard::verify,
        Scheme::Stripe => stripe::verify,
        Scheme::GitHub => github::verify,
        Scheme::Shopify => shopify::verify,
        Scheme::Slack => slack::verify,
        Scheme::Paddle => paddle::verify,
        Scheme::LemonSqueezy => lemonsqueezy::verify,
        Scheme::Razorpay => razorpay::verify,
        Scheme::Linear => linear::verify,
        Scheme::Zoom => zoom::verify,
        Scheme::Twitch => twitch::verify,
        Scheme::Discord => discord::verify,
        Scheme::Square => square::verify,
        Scheme::Twilio => twilio::verify,
        Scheme::Intercom => intercom::verify,
        Scheme::Vercel => vercel::verify,
        Scheme::SendGrid => sendgrid::verify,
    }
}

/// What [`sign`] signs: the body, and what the scheme puts beside it.
#[derive(Debug, Clone, Copy, Default)]
pub struct SignInput<'a> {
    /// The raw body.
    pub body: &'a [u8],
    /// Unix seconds (schemes with a timestamp).
    pub timestamp: i64,
    /// The message id (Standard Webhooks, Twitch).
    pub id: Option<&'a str>,
    /// The request URL (Square, Twilio).
    pub url: Option<&'a str>,
}

/// The headers a provider would send with `input.body`, signed with `secret` (the same string
/// a [`Verifier`] takes, except for Discord: a 32-byte hex ed25519 seed, and SendGrid: a base64
/// PKCS#8 DER P-256 private key). For tests, relays and local senders. Linear's body must
/// carry its own `webhookTimestamp`; Twilio signs a form body (or, with `bodySHA256` in the
/// URL, the URL alone).
pub fn sign(
    scheme: Scheme,
    secret: &str,
    input: &SignInput<'_>,
) -> Result<Vec<(&'static str, String)>, WebhookError> {
    if secret.is_empty() {
        return Err(WebhookError::InvalidSecret);
    }
    let SignInput {
        body,
        timestamp,
        id,
        url,
    } = *input;
    let t = timestamp.to_string();
    let id = || id.ok_or(WebhookError::MalformedHeader("id"));
    let url = || url.ok_or(WebhookError::MissingUrl);
    Ok(match scheme {
        Scheme::StandardWebhooks => {
            let names = standard::WEBHOOK_HEADERS;
            let signature = standard::sign(secret, id()?, timestamp, body)?;
            vec![
                (names.id, id()?.to_owned()),
                (names.timestamp, t),
                (names.signature, signature),
            ]
        }
        Scheme::Stripe => vec![(
            stripe::SIGNATURE_HEADER,
            stripe::sign(secret, timestamp, body),
        )],
        Scheme::GitHub => vec![(github::SIGNATURE_HEADER, github::sign(secret, body))],
        Scheme::Shopify => vec![(shopify::SIGNATURE_HEADER, shopify::sign(secret, body))],
        Scheme::Slack => vec![
            (
                slack::SIGNATURE_HEADER,
                slack::sign(secret, timestamp, body),
            ),
            (slack::TIMESTAMP_HEADER, t),
        ],
        Scheme::Paddle => vec![(
            paddle::SIGNATURE_HEADER,
            paddle::sign(secret, timestamp, body),
        )],
        Scheme::LemonSqueezy => vec![(
            lemonsqueezy::SIGNATURE_HEADER,
            lemonsqueezy::sign(secret, body),
        )],
        Scheme::Razorpay => vec![(razorpay::SIGNATURE_HEADER, razorpay::sign(secret, body))],
        Scheme::Linear => vec![(linear::SIGNATURE_HEADER, linear::sign(secret, body))],
        Scheme::Zoom => vec![
            (zoom::SIGNATURE_HEADER, zoom::sign(secret, timestamp, body)),
            (zoom::TIMESTAMP_HEADER, t),
        ],
        Scheme::Twitch => {
            let ts = twitch::format_timestamp(timestamp)
                .ok_or(WebhookError::MalformedHeader(twitch::TIMESTAMP_HEADER))?;
            vec![
                (
                    twitch::SIGNATURE_HEADER,
                    twitch::sign(secret, id()?, &ts, body),
                ),
                (twitch::ID_HEADER, id()?.to_owned()),
                (twitch::TIMESTAMP_HEADER, ts),
            ]
        }
        Scheme::Discord => vec![
            (
                discord::SIGNATURE_HEADER,
                discord::sign(secret, timestamp, body)?,
            ),
            (discord::TIMESTAMP_HEADER, t),
        ],
        Scheme::Square => vec![(square::SIGNATURE_HEADER, square::sign(secret, url()?, body))],
        Scheme::Twilio => vec![(twilio::SIGNATURE_HEADER, twilio::sign(secret, url()?, body))],
        Scheme::Intercom => vec![(intercom::SIGNATURE_HEADER, intercom::sign(secret, body))],
        Scheme::Vercel => vec![(vercel::SIGNATURE_HEADER, vercel::sign(secret, body))],
        Scheme::SendGrid => vec![
            (
                sendgrid::SIGNATURE_HEADER,
                sendgrid::sign(secret, timestamp, body)?,
            ),
            (sendgrid::TIMESTAMP_HEADER, t),
        ],
    })
}

/// The HMAC digest a scheme uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Digest {
    Sha256,
    Sha1,
}

/// `<prefix><hex HMAC(secret, body)>`.
fn body_hmac_sign(digest: Digest, secret: &str, prefix: &str, body: &[u8]) -> String {
    let tag = match digest {
        Digest::Sha256 => crypto::hmac_sha256(secret.as_bytes(), &[body])
            .unwrap_or_default()
            .to_vec(),
        Digest::Sha1 => crypto::hmac_sha1(secret.as_bytes(), &[body]).to_vec(),
    };
    format!("{prefix}{}", hex::encode(tag))
}

/// Verifies `<signature header>: <prefix><lower-case hex HMAC(secret, body)>`, returning the
/// optional (unsigned) id header as [`Verified::id`].
fn body_hmac_verify(
    digest: Digest,
    signature_header: &'static str,
    prefix: &str,
    id_header: Option<&'static str>,
    r: &Request<'_>,
) -> Result<Verified, WebhookError> {
    let (secrets, headers, body) = (r.secrets, r.headers, r.body);
    let value = headers::required(headers, signature_header)?;
    let id = match id_header {
        Some(name) => headers::optional_text(headers, name)?,
        None => None,
    };
    let candidate = value
        .strip_prefix(prefix.as_bytes())
        .and_then(crypto::decode_lower_hex)
        .ok_or(WebhookError::NoMatchingSignature)?;
    match digest {
        Digest::Sha256 => match_any_hmac(secrets, &[body], &candidate)?,
        Digest::Sha1 => {
            let matched = secrets
                .iter()
                .filter_map(Secret::hmac_key)
                .any(|key| crypto::bytes_match(&crypto::hmac_sha1(key, &[body]), &candidate));
            if !matched {
                return Err(WebhookError::NoMatchingSignature);
            }
        }
    }
    Ok(Verified {
        id,
        timestamp: None,
    })
}

/// `v0=<hex HMAC-SHA256(secret, "v0:{timestamp}:{body}")>` (Slack, Zoom).
fn v0_sign(secret: &str, timestamp: i64, body: &[u8]) -> String {
    let t = timestamp.to_string();
    let parts: [&[u8]; 4] = [b"v0:", t.as_bytes(), b":", body];
    let tag = crypto::hmac_sha256(secret.as_bytes(), &parts).unwrap_or_default();
    format!("v0={}", hex::encode(tag))
}

/// Verifies a `v0=<hex>` signature header and its Unix-seconds timestamp header (Slack, Zoom).
fn v0_verify(
    (signature_header, timestamp_header): (&'static str, &'static str),
    r: &Request<'_>,
) -> Result<Verified, WebhookError> {
    let (value, ts, timestamp) = r.signed_timestamp(signature_header, timestamp_header)?;
    let (secrets, body) = (r.secrets, r.body);
    let candidate = value
        .strip_prefix(b"v0=")
        .and_then(crypto::decode_lower_hex)
        .ok_or(WebhookError::NoMatchingSignature)?;
    match_any_hmac(secrets, &[b"v0:", ts, b":", body], &candidate)?;
    Ok(Verified {
        id: None,
        timestamp: Some(timestamp),
    })
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
