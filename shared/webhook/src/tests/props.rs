//! Property tests: random headers never panic nor verify; sign -> verify always passes.

use proptest::prelude::*;

use super::*;

/// Header names the schemes read, plus noise, in random case.
fn header_name() -> impl Strategy<Value = String> {
    let names = prop::sample::select(vec![
        "webhook-id",
        "webhook-timestamp",
        "webhook-signature",
        "svix-id",
        "svix-timestamp",
        "svix-signature",
        "stripe-signature",
        "x-hub-signature-256",
        "x-github-delivery",
        "x-shopify-hmac-sha256",
        "x-shopify-webhook-id",
        "content-type",
    ]);
    (names, any::<bool>()).prop_map(|(n, upper)| {
        if upper {
            n.to_uppercase()
        } else {
            n.to_owned()
        }
    })
}

/// The bytes the header parsers split on or decode, plus two that are never UTF-8 alone.
const ALPHABET: &[u8] = b"v1a,=t. \t0123456789abcdefAZ+/-_\xff\x80";

/// Mostly short values built from the characters the parsers split on, sometimes arbitrary or
/// long bytes.
fn header_value() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        4 => prop::collection::vec(prop::sample::select(ALPHABET.to_vec()), 0..120),
        2 => prop::collection::vec(any::<u8>(), 0..64),
        1 => (0usize..20_000).prop_map(|n| vec![b','; n]),
    ]
}

fn secret_bytes() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(any::<u8>(), 24..=64)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn random_headers_never_panic_nor_verify(
        headers in prop::collection::vec((header_name(), header_value()), 0..8),
        body in prop::collection::vec(any::<u8>(), 0..256),
        now in any::<i64>(),
    ) {
        for scheme in Scheme::ALL {
            let result = verifier(scheme).verify(&headers, &body, now);
            prop_assert!(result.is_err(), "{scheme} accepted random headers");
        }
    }

    #[test]
    fn sign_then_verify_roundtrips(
        key in secret_bytes(),
        seed in any::<[u8; 32]>(),
        raw_secret in "[ -~]{1,64}",
        id in "[A-Za-z0-9_-]{1,40}",
        ts in 0i64..=4_102_444_800,
        skew in -300i64..=300,
        body in prop::collection::vec(any::<u8>(), 0..2048),
    ) {
        roundtrip(&key, seed, &raw_secret, &id, ts, skew, &body)?;
    }
}

/// Signs with every scheme and verifies at `ts + skew` (Stripe: `ts + |skew|`, past only).
fn roundtrip(
    key: &[u8],
    seed: [u8; 32],
    raw_secret: &str,
    id: &str,
    ts: i64,
    skew: i64,
    body: &[u8],
) -> Result<(), TestCaseError> {
    let now = ts + skew;
    let hmac = format!("whsec_{}", crypto::encode_base64(key));
    let ed = format!("whsk_{}", crypto::encode_base64(&seed));
    for secret in [&hmac, &ed] {
        let sig = standard::sign(secret, id, ts, body).unwrap();
        let headers = std_headers(id, &ts.to_string(), sig.as_bytes());
        let verifier = Verifier::new(Scheme::StandardWebhooks, &[secret]).unwrap();
        let expected = Verified {
            id: Some(id.to_owned()),
            timestamp: Some(ts),
        };
        prop_assert_eq!(verifier.verify(&headers, body, now), Ok(expected));
    }

    let headers = [("Stripe-Signature", stripe::sign(raw_secret, ts, body))];
    let verifier = Verifier::new(Scheme::Stripe, &[raw_secret]).unwrap();
    let expected = Verified {
        id: None,
        timestamp: Some(ts),
    };
    prop_assert_eq!(
        verifier.verify(&headers, body, ts + skew.abs()),
        Ok(expected)
    );

    let headers = [("X-Hub-Signature-256", github::sign(raw_secret, body))];
    let verifier = Verifier::new(Scheme::GitHub, &[raw_secret]).unwrap();
    prop_assert!(verifier.verify(&headers, body, now).is_ok());

    let headers = [("X-Shopify-Hmac-Sha256", shopify::sign(raw_secret, body))];
    let verifier = Verifier::new(Scheme::Shopify, &[raw_secret]).unwrap();
    prop_assert!(verifier.verify(&headers, body, now).is_ok());

    // Every provider scheme: what `sign` makes verifies (the asymmetric ones with the fixture
    // keys, the others with the random secret).
    for &scheme in &Scheme::ALL[4..] {
        let (signing, verifying) = match scheme {
            Scheme::Discord | Scheme::SendGrid => (signing_secret_of(scheme), secret_of(scheme)),
            _ => (raw_secret, raw_secret),
        };
        let input = SignInput {
            body,
            timestamp: ts,
            id: Some(id),
            url: Some(URL),
        };
        let headers = sign(scheme, signing, &input).unwrap();
        let verifier = Verifier::new(scheme, &[verifying]).unwrap();
        let result = verifier.verify_request(&headers, body, Some(URL), now);
        prop_assert!(result.is_ok(), "{}: {:?}", scheme, result);
    }
    Ok(())
}
