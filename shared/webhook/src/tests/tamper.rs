//! Changing any single byte of body, id, timestamp, secret or signature fails; rotation passes.

use super::*;

/// Every copy of `bytes` with exactly one byte changed (xor with `mask`).
fn flips(bytes: &[u8], mask: u8) -> impl Iterator<Item = Vec<u8>> + '_ {
    (0..bytes.len()).map(move |i| {
        let mut copy = bytes.to_vec();
        copy[i] ^= mask;
        copy
    })
}

const MASKS: [u8; 3] = [0x01, 0x20, 0x80];

#[test]
fn tampering_standard_fails() {
    let verifier = verifier(Scheme::StandardWebhooks);
    let sig = std_sig();
    let ts = TS.to_string();
    let check = |headers: Headers, body: &[u8], what: &str| {
        assert!(
            verifier.verify(&headers, body, TS).is_err(),
            "tampered {what} verified"
        );
    };
    assert!(verifier
        .verify(&std_headers(ID, &ts, sig.as_bytes()), BODY, TS)
        .is_ok());
    for mask in MASKS {
        for body in flips(BODY, mask) {
            check(std_headers(ID, &ts, sig.as_bytes()), &body, "body");
        }
        for id in flips(ID.as_bytes(), mask) {
            let headers = vec![
                ("webhook-id", id),
                ("webhook-timestamp", ts.clone().into()),
                ("webhook-signature", sig.clone().into()),
            ];
            check(headers, BODY, "id");
        }
        for t in flips(ts.as_bytes(), mask) {
            let headers = vec![
                ("webhook-id", ID.into()),
                ("webhook-timestamp", t),
                ("webhook-signature", sig.clone().into()),
            ];
            check(headers, BODY, "timestamp");
        }
        for s in flips(sig.as_bytes(), mask) {
            check(std_headers(ID, &ts, &s), BODY, "signature");
        }
        for secret in flips(STD_SECRET.as_bytes(), mask) {
            let Ok(secret) = String::from_utf8(secret) else {
                continue;
            };
            if let Ok(v) = Verifier::new(Scheme::StandardWebhooks, &[secret]) {
                assert!(
                    v.verify(&std_headers(ID, &ts, sig.as_bytes()), BODY, TS)
                        .is_err(),
                    "tampered secret verified"
                );
            }
        }
    }
}

#[test]
fn tampering_other_schemes_fails() {
    for scheme in [Scheme::Stripe, Scheme::GitHub, Scheme::Shopify] {
        let verifier = verifier(scheme);
        let headers = valid_headers(scheme);
        assert!(verifier.verify(&headers, BODY, TS).is_ok());
        let (name, value) = headers[0].clone();
        for mask in MASKS {
            for body in flips(BODY, mask) {
                assert!(
                    verifier.verify(&headers, &body, TS).is_err(),
                    "{scheme}: body"
                );
            }
            // For Stripe this also flips the signed timestamp `t`.
            for v in flips(&value, mask) {
                assert!(
                    verifier.verify(&vec![(name, v)], BODY, TS).is_err(),
                    "{scheme}: header"
                );
            }
            for secret in flips(secret_of(scheme).as_bytes(), mask) {
                let Ok(secret) = String::from_utf8(secret) else {
                    continue;
                };
                let v = Verifier::new(scheme, &[secret]).unwrap();
                assert!(v.verify(&headers, BODY, TS).is_err(), "{scheme}: secret");
            }
        }
    }
}

#[test]
fn rotation_standard() {
    let new_sig = standard::sign(STD_SECRET_2, ID, TS, BODY).unwrap();
    let headers = std_headers(ID, &TS.to_string(), new_sig.as_bytes());
    // Several secrets, one matching: joined with `|` (also in Supabase's form) or as a list.
    for secrets in [
        vec![format!("{STD_SECRET}|{STD_SECRET_2}")],
        vec![format!("v1,{STD_SECRET} | v1,{STD_SECRET_2}")],
        vec![STD_SECRET.to_owned(), STD_SECRET_2.to_owned()],
    ] {
        let v = Verifier::new(Scheme::StandardWebhooks, &secrets).unwrap();
        assert!(v.verify(&headers, BODY, TS).is_ok(), "{secrets:?}");
    }
    let old_only = verifier(Scheme::StandardWebhooks);
    assert!(old_only.verify(&headers, BODY, TS).is_err());
    // Several entries, one valid, in any position.
    let both = standard::sign(&format!("{STD_SECRET}|{STD_SECRET_2}"), ID, TS, BODY).unwrap();
    let reversed: Vec<&str> = both.rsplit(' ').collect();
    for value in [both.clone(), reversed.join(" ")] {
        assert!(old_only
            .verify(
                &std_headers(ID, &TS.to_string(), value.as_bytes()),
                BODY,
                TS
            )
            .is_ok());
    }
}

#[test]
fn rotation_other_schemes() {
    let old = "whsec_old_secret_value";
    for scheme in [Scheme::Stripe, Scheme::GitHub, Scheme::Shopify] {
        let v = Verifier::new(scheme, &[old, secret_of(scheme)]).unwrap();
        assert!(
            v.verify(&valid_headers(scheme), BODY, TS).is_ok(),
            "{scheme}"
        );
        let v = Verifier::new(scheme, &[old]).unwrap();
        assert!(
            v.verify(&valid_headers(scheme), BODY, TS).is_err(),
            "{scheme}"
        );
    }
    // Stripe: several v1 entries during a roll, one valid.
    let old_hex = &stripe::sign(old, TS, BODY)[format!("t={TS},v1=").len()..];
    let header = format!("t={TS},v1={old_hex},v1={}", stripe_hex());
    let v = verifier(Scheme::Stripe);
    assert!(v.verify(&[("stripe-signature", header)], BODY, TS).is_ok());
}
