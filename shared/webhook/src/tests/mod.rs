//! Cross-scheme tests and their fixtures: hostile header tables, single-byte tampering, rotation,
//! the public API's small promises (codes, redaction, `http::HeaderMap`) and property tests
//! (random headers never panic; sign -> verify always passes). Each scheme's published or
//! independently computed vectors live beside it.

mod api;
mod hostile_others;
mod hostile_standard;
mod props;
mod providers;
mod tamper;

use super::*;

type Headers = Vec<(&'static str, Vec<u8>)>;

const STD_SECRET: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
const STD_SECRET_2: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"; // a second 24-byte key
const ID: &str = "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk";
const TS: i64 = 1_649_367_553;
const BODY: &[u8] = br#"{"email":"test@example.com","username":"test_user"}"#;
const STRIPE_SECRET: &str = "whsec_5c1d0a0b6e4f4e8b9a7c3d2e1f0a9b8c";
const GITHUB_SECRET: &str = "It's a Secret to Everybody";
const SHOPIFY_SECRET: &str = "shpss_0123456789abcdef";
const ONE_MB: usize = 1024 * 1024;

/// The request URL the URL-bound schemes sign.
const URL: &str = "https://example.com/hooks/provider?account=1";
/// Discord: the ed25519 seed we sign with, and its public key (what a verifier is given).
const DISCORD_SEED: &str = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60";
const DISCORD_PUBLIC: &str = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";
/// SendGrid: a P-256 private key (PKCS#8 DER, base64) and its public key, made with OpenSSL 3.0.
const SENDGRID_PRIVATE: &str = "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg7frj7wp740ietcEYvsa2KLz0SoTLX4oH23XqtYw1KTuhRANCAATdunrUPiV1ypsqShcaIyPUpXm4o4oSwzTi/FMXNbkn7J1f+AwfBwZ9iVApm+bGFBoGULKYE4pIIfrDrQOH8j1K";
const SENDGRID_PUBLIC: &str = "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE3bp61D4ldcqbKkoXGiMj1KV5uKOKEsM04vxTFzW5J+ydX/gMHwcGfYlQKZvmxhQaBlCymBOKSCH6w60Dh/I9Sg==";

/// The secret a verifier of `scheme` is given.
fn secret_of(scheme: Scheme) -> &'static str {
    match scheme {
        Scheme::StandardWebhooks => STD_SECRET,
        Scheme::Stripe => STRIPE_SECRET,
        Scheme::GitHub => GITHUB_SECRET,
        Scheme::Shopify => SHOPIFY_SECRET,
        Scheme::Discord => DISCORD_PUBLIC,
        Scheme::SendGrid => SENDGRID_PUBLIC,
        _ => "provider_secret_0123456789",
    }
}

/// The secret `scheme` signs with (the private half for the asymmetric ones).
fn signing_secret_of(scheme: Scheme) -> &'static str {
    match scheme {
        Scheme::Discord => DISCORD_SEED,
        Scheme::SendGrid => SENDGRID_PRIVATE,
        _ => secret_of(scheme),
    }
}

fn verifier(scheme: Scheme) -> Verifier {
    Verifier::new(scheme, &[secret_of(scheme)]).unwrap()
}

/// [`Verifier::verify_request`] with [`URL`]: every scheme's requests as the tests sign them.
trait VerifyAt {
    fn verify_at<H: HeaderSource + ?Sized>(
        &self,
        headers: &H,
        body: &[u8],
        now: i64,
    ) -> Result<Verified, WebhookError>;
}

impl VerifyAt for Verifier {
    fn verify_at<H: HeaderSource + ?Sized>(
        &self,
        headers: &H,
        body: &[u8],
        now: i64,
    ) -> Result<Verified, WebhookError> {
        self.verify_request(headers, body, Some(URL), now)
    }
}

fn std_headers(id: &str, ts: &str, sig: &[u8]) -> Headers {
    vec![
        ("webhook-id", id.into()),
        ("webhook-timestamp", ts.into()),
        ("webhook-signature", sig.to_vec()),
    ]
}

fn std_sig() -> String {
    standard::sign(STD_SECRET, ID, TS, BODY).unwrap()
}

fn stripe_hex() -> String {
    stripe::sign(STRIPE_SECRET, TS, BODY)[format!("t={TS},v1=").len()..].to_owned()
}

/// The headers `scheme` sends with `body` at `ts` (id [`ID`], URL [`URL`]).
fn signed_headers(scheme: Scheme, body: &[u8], ts: i64) -> Headers {
    let input = SignInput {
        body,
        timestamp: ts,
        id: Some(ID),
        url: Some(URL),
    };
    sign(scheme, signing_secret_of(scheme), &input)
        .unwrap()
        .into_iter()
        .map(|(name, value)| (name, value.into_bytes()))
        .collect()
}

/// The correct signature headers of `scheme` for `BODY` at `TS`.
fn valid_headers(scheme: Scheme) -> Headers {
    match scheme {
        Scheme::StandardWebhooks => std_headers(ID, &TS.to_string(), std_sig().as_bytes()),
        Scheme::Stripe => vec![(
            "Stripe-Signature",
            stripe::sign(STRIPE_SECRET, TS, BODY).into(),
        )],
        Scheme::GitHub => vec![(
            "X-Hub-Signature-256",
            github::sign(GITHUB_SECRET, BODY).into(),
        )],
        Scheme::Shopify => vec![(
            "X-Shopify-Hmac-Sha256",
            shopify::sign(SHOPIFY_SECRET, BODY).into(),
        )],
        _ => signed_headers(scheme, BODY, TS),
    }
}

/// One row of a hostile-header table: the headers, the clock, and the expected outcome
/// (`Ok(())` or the error code).
struct Case {
    name: &'static str,
    headers: Headers,
    now: i64,
    expect: Result<(), &'static str>,
}

fn case(name: &'static str, headers: Headers, expect: Result<(), &'static str>) -> Case {
    Case {
        name,
        headers,
        now: TS,
        expect,
    }
}

fn run_table(scheme: Scheme, cases: Vec<Case>) {
    let verifier = verifier(scheme);
    for c in cases {
        let got = verifier
            .verify_at(&c.headers, BODY, c.now)
            .map(|_| ())
            .map_err(|e| e.code());
        assert_eq!(got, c.expect, "{scheme}: case `{}`", c.name);
    }
}

fn huge() -> Vec<u8> {
    vec![b'A'; ONE_MB]
}
