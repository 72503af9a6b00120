//! Fuzzes webhook verification for every scheme: no input may panic, and a freshly signed body
//! must always verify. (The `http::HeaderMap` adapter is a three-line lookup covered by unit
//! tests; leaving `http` out keeps this crate independent of the version the workspace pins.)
//!
//! Input layout: byte 0 picks the clock (`BASE_NOW` plus `(byte as i8) * 8` seconds; `0x7f` and
//! `0x80` are `i64::MAX` and `i64::MIN`); the rest is `name:value` lines, an empty line, then
//! the body. Seeds in `fuzz/seeds/webhook_verify/` hold correctly signed requests.

#![no_main]

use std::sync::OnceLock;

use edge_webhook::{github, shopify, standard, stripe, Scheme, Verifier};
use libfuzzer_sys::fuzz_target;

/// The timestamp the seeds are signed at (the Standard Webhooks published vector's).
const BASE_NOW: i64 = 1_649_367_553;
const STANDARD_SECRET: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
/// RFC 8032 test 1 public key: seeds carry `v1a` entries made with its secret half.
const STANDARD_PUBLIC_KEY: &str = "whpk_11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=";
const STRIPE_SECRET: &str = "whsec_5c1d0a0b6e4f4e8b9a7c3d2e1f0a9b8c";
const GITHUB_SECRET: &str = "It's a Secret to Everybody";
const SHOPIFY_SECRET: &str = "shpss_0123456789abcdef";
const PROVIDER_SECRET: &str = "provider_secret_0123456789";
const DISCORD_PUBLIC_KEY: &str = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";
const SENDGRID_PUBLIC_KEY: &str = "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE3bp61D4ldcqbKkoXGiMj1KV5uKOKEsM04vxTFzW5J+ydX/gMHwcGfYlQKZvmxhQaBlCymBOKSCH6w60Dh/I9Sg==";

/// One verifier per scheme, built once (in `Scheme::ALL` order).
fn verifiers() -> &'static [Verifier; Scheme::ALL.len()] {
    static VERIFIERS: OnceLock<[Verifier; Scheme::ALL.len()]> = OnceLock::new();
    VERIFIERS.get_or_init(|| {
        Scheme::ALL.map(|scheme| {
            let secrets: &[&str] = match scheme {
                Scheme::StandardWebhooks => &[STANDARD_SECRET, STANDARD_PUBLIC_KEY],
                Scheme::Stripe => &[STRIPE_SECRET],
                Scheme::GitHub => &[GITHUB_SECRET],
                Scheme::Shopify => &[SHOPIFY_SECRET],
                Scheme::Discord => &[DISCORD_PUBLIC_KEY],
                Scheme::SendGrid => &[SENDGRID_PUBLIC_KEY],
                _ => &[PROVIDER_SECRET],
            };
            Verifier::new(scheme, secrets).expect("the fuzz secrets are valid")
        })
    })
}

/// A fuzz input taken apart: the clock, the header pairs and the body.
type Request<'a> = (i64, Vec<(&'a [u8], &'a [u8])>, &'a [u8]);

fn split_input(data: &[u8]) -> Request<'_> {
    let Some((&clock, rest)) = data.split_first() else {
        return (BASE_NOW, Vec::new(), &[]);
    };
    let now = match clock {
        0x7f => i64::MAX,
        0x80 => i64::MIN,
        c => BASE_NOW + i64::from(c as i8) * 8,
    };
    let (head, body) = match rest.windows(2).position(|w| w == b"\n\n") {
        Some(i) => (&rest[..i], &rest[i + 2..]),
        None => (rest, &[][..]),
    };
    let headers = head
        .split(|&b| b == b'\n')
        .filter(|line| !line.is_empty())
        .map(|line| match line.iter().position(|&b| b == b':') {
            Some(i) => (&line[..i], &line[i + 1..]),
            None => (line, &[][..]),
        })
        .collect();
    (now, headers, body)
}

fuzz_target!(|data: &[u8]| {
    let (now, pairs, body) = split_input(data);
    for verifier in verifiers() {
        let scheme = verifier.scheme();
        match verifier.verify_request(&pairs, body, Some("https://example.com/hook"), now) {
            // Only a correctly signed seed (or a mutation that kept it intact) gets here: what
            // it reports must be consistent with the scheme and the clock.
            Ok(verified) => {
                let age = verified
                    .timestamp
                    .map(|ts| i128::from(now) - i128::from(ts));
                match scheme {
                    Scheme::StandardWebhooks => {
                        assert!(verified.id.is_some());
                        assert!(age.is_some_and(|age| age.abs() <= 300));
                    }
                    Scheme::Stripe => {
                        assert!(verified.id.is_none());
                        assert!(age.is_some_and(|age| age <= 300));
                    }
                    Scheme::GitHub | Scheme::Shopify => assert!(age.is_none()),
                    // Provider schemes with a signed timestamp report it within the tolerance
                    // (Linear's lives in the body and may be absent).
                    _ => assert!(age.is_none_or(|age| age.abs() <= 300)),
                }
            }
            Err(err) => assert!(!err.code().is_empty()),
        }
    }

    // Whatever the body, signing it now must verify now.
    let id = "msg_fuzz";
    let signed: [(&str, String); 4] = [
        (
            "webhook-signature",
            standard::sign(STANDARD_SECRET, id, BASE_NOW, body).expect("valid secret"),
        ),
        (
            "stripe-signature",
            stripe::sign(STRIPE_SECRET, BASE_NOW, body),
        ),
        ("x-hub-signature-256", github::sign(GITHUB_SECRET, body)),
        ("x-shopify-hmac-sha256", shopify::sign(SHOPIFY_SECRET, body)),
    ];
    let timestamp = BASE_NOW.to_string();
    for (verifier, (name, signature)) in verifiers().iter().zip(signed) {
        let headers = [
            ("webhook-id", id),
            ("webhook-timestamp", timestamp.as_str()),
            (name, signature.as_str()),
        ];
        let result = verifier.verify(&headers, body, BASE_NOW);
        if body.len() <= verifier.max_body() {
            assert!(result.is_ok(), "{}: {result:?}", verifier.scheme());
        }
    }
});
