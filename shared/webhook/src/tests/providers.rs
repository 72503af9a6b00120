//! The provider schemes (Slack to SendGrid): one hostile-header table and one tamper loop,
//! run for each scheme from a description of its headers, plus what is particular to some
//! (URLs, Linear's body timestamp, Twitch's RFC 3339 timestamps, challenge helpers).

use super::*;

/// The provider schemes these generic tables cover: all but the first four (Standard
/// Webhooks, Stripe, GitHub, Shopify have their own tables).
const PROVIDERS: &[Scheme] = Scheme::ALL.split_at(4).1;

/// Headers present but not covered by the signature (changing them never fails a request).
const UNSIGNED: [&str; 3] = [
    razorpay::EVENT_ID_HEADER,
    linear::DELIVERY_HEADER,
    twilio::IDEMPOTENCY_HEADER,
];

fn has_timestamp(scheme: Scheme) -> bool {
    !matches!(
        scheme,
        Scheme::LemonSqueezy
            | Scheme::Razorpay
            | Scheme::Linear
            | Scheme::Square
            | Scheme::Twilio
            | Scheme::Intercom
            | Scheme::Vercel
    )
}

/// `headers` with `name`'s value replaced (or the header removed when `value` is `None`).
fn with(headers: &Headers, name: &str, value: Option<&[u8]>) -> Headers {
    let mut out: Headers = headers
        .iter()
        .filter(|(n, _)| !n.eq_ignore_ascii_case(name))
        .cloned()
        .collect();
    if let Some(value) = value {
        let name = headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map_or("x-added", |(n, _)| *n);
        out.push((name, value.to_vec()));
    }
    out
}

fn code(result: Result<Verified, WebhookError>) -> Result<(), &'static str> {
    result.map(|_| ()).map_err(|e| e.code())
}

#[test]
fn each_provider_signs_and_verifies_with_its_id_and_timestamp() {
    for &scheme in PROVIDERS {
        let headers = valid_headers(scheme);
        let verified = verifier(scheme).verify_at(&headers, BODY, TS).unwrap();
        let expected_ts = has_timestamp(scheme).then_some(TS);
        assert_eq!(verified.timestamp, expected_ts, "{scheme}");
        let expected_id = (scheme == Scheme::Twitch).then(|| ID.to_owned());
        assert_eq!(verified.id, expected_id, "{scheme}");
        // Every header the scheme sends is one it reads.
        for (name, _) in &headers {
            assert!(scheme.headers().contains(name), "{scheme}: {name}");
        }
        // Rotation: an old secret beside the current one passes; the old one alone does not.
        let other = match scheme {
            Scheme::Discord => discord::public_key(&"11".repeat(32)).unwrap(),
            Scheme::SendGrid => STD_SECRET_2.to_owned(), // any invalid key is caught below
            _ => "an_older_secret".to_owned(),
        };
        if scheme != Scheme::SendGrid {
            let both = Verifier::new(scheme, &[other.as_str(), secret_of(scheme)]).unwrap();
            assert!(both.verify_at(&headers, BODY, TS).is_ok(), "{scheme}");
            let old = Verifier::new(scheme, &[other.as_str()]).unwrap();
            assert_eq!(
                code(old.verify_at(&headers, BODY, TS)),
                Err("no_matching_signature")
            );
        } else {
            assert!(Verifier::new(scheme, &[other.as_str()]).is_err());
        }
    }
}

#[test]
fn hostile_provider_headers() {
    for &scheme in PROVIDERS {
        let v = verifier(scheme);
        let valid = valid_headers(scheme);
        let signature = scheme.headers()[0];
        let sig_value = valid
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(signature))
            .unwrap()
            .1
            .clone();
        let run = |name: &str, headers: Headers, expect: Result<(), &'static str>| {
            let got = code(v.verify_at(&headers, BODY, TS));
            assert_eq!(got, expect, "{scheme}: {name}");
        };
        let no_match = Err("no_matching_signature");
        let malformed = Err("malformed_header");

        run("valid", valid.clone(), Ok(()));
        let upper: Headers = valid
            .iter()
            .map(|(n, value)| (n.to_ascii_uppercase().leak() as &str, value.clone()))
            .collect();
        run("upper-case names", upper, Ok(()));
        run(
            "signature missing",
            with(&valid, signature, None),
            Err("missing_header"),
        );
        let mut dup = valid.clone();
        dup.push((signature, sig_value.clone()));
        run("signature duplicated", dup, malformed);
        run(
            "1 MB signature",
            with(&valid, signature, Some(&huge())),
            malformed,
        );
        let empty = if scheme == Scheme::Paddle {
            malformed
        } else {
            no_match
        };
        run("empty signature", with(&valid, signature, Some(b"")), empty);
        run(
            "non-UTF-8 signature",
            with(&valid, signature, Some(b"\xff\xfe\x80")),
            empty,
        );
        let truncated = &sig_value[..sig_value.len() - 2];
        run(
            "truncated signature",
            with(&valid, signature, Some(truncated)),
            no_match,
        );
        let mut longer = sig_value.clone();
        longer.extend_from_slice(b"00");
        let longer_expect = if scheme == Scheme::Paddle {
            Ok(())
        } else {
            no_match
        };
        if scheme != Scheme::Paddle {
            run(
                "signature with 00 appended",
                with(&valid, signature, Some(&longer)),
                longer_expect,
            );
        }
        let upper_sig = sig_value.to_ascii_uppercase();
        if upper_sig != sig_value
            && !matches!(scheme, Scheme::Square | Scheme::Twilio | Scheme::SendGrid)
        {
            // Hex schemes accept only lower-case hex: one spelling per signature.
            let expect = if scheme == Scheme::Paddle {
                malformed
            } else {
                no_match
            };
            run(
                "upper-case signature",
                with(&valid, signature, Some(&upper_sig)),
                expect,
            );
        }
        let mut padded = b"  ".to_vec();
        padded.extend_from_slice(&sig_value);
        padded.extend_from_slice(b"\t");
        run(
            "signature with surrounding spaces",
            with(&valid, signature, Some(&padded)),
            Ok(()),
        );
        run("no headers", vec![], Err("missing_header"));
        // The signed timestamp, where the scheme has one in a header.
        if has_timestamp(scheme) && scheme != Scheme::Paddle {
            let ts_name = match scheme {
                Scheme::Twitch => twitch::TIMESTAMP_HEADER,
                _ => scheme.headers()[1],
            };
            run(
                "timestamp missing",
                with(&valid, ts_name, None),
                Err("missing_header"),
            );
            let mut dup = valid.clone();
            dup.push((ts_name, TS.to_string().into()));
            run("timestamp duplicated", dup, malformed);
            for bad in ["", "abc", "-1", "1e9", "１２", "99999999999999999999"] {
                run(bad, with(&valid, ts_name, Some(bad.as_bytes())), malformed);
            }
            for (skew, expect) in [
                (300, Ok(())),
                (-300, Ok(())),
                (301, Err("timestamp_out_of_tolerance")),
                (-301, Err("timestamp_out_of_tolerance")),
            ] {
                let got = code(v.verify_at(&valid, BODY, TS + skew));
                assert_eq!(got, expect, "{scheme}: now = TS + {skew}");
            }
            let off = verifier(scheme).with_tolerance_secs(u64::MAX);
            assert!(off.verify_at(&valid, BODY, i64::MAX).is_ok(), "{scheme}");
        }
        // URL-bound schemes: no URL, another URL.
        if scheme.needs_url() {
            assert_eq!(
                code(v.verify(&valid, BODY, TS)),
                Err("missing_url"),
                "{scheme}"
            );
            let other = v.verify_request(&valid, BODY, Some("https://example.com/other"), TS);
            assert_eq!(code(other), no_match, "{scheme}");
        } else {
            assert!(
                v.verify(&valid, BODY, TS).is_ok(),
                "{scheme}: the URL is ignored"
            );
        }
    }
}

#[test]
fn hostile_paddle_signature_items() {
    let v = verifier(Scheme::Paddle);
    let h1 = &paddle::sign(secret_of(Scheme::Paddle), TS, BODY)[format!("ts={TS};h1=").len()..];
    let cases = [
        (format!("ts={TS};h1={h1}"), Ok(())),
        (format!(" ts = {TS} ; h1 = {h1} "), Ok(())),
        (format!("h1={h1};ts={TS}"), Ok(())),
        (format!("ts={TS};h1={};h1={h1}", "0".repeat(64)), Ok(())),
        (format!("ts={TS};h0={h1}"), Err("no_matching_signature")),
        (format!("ts={TS};h1="), Err("no_matching_signature")),
        (format!("h1={h1}"), Err("malformed_header")),
        (format!("ts={TS};ts={TS};h1={h1}"), Err("malformed_header")),
        (format!("ts=x;h1={h1}"), Err("malformed_header")),
        (
            format!(
                "ts={TS};{}",
                vec!["h1=00"; MAX_SIGNATURE_ENTRIES + 1].join(";")
            ),
            Err("malformed_header"),
        ),
        (format!("ts={TS},h1={h1}"), Err("malformed_header")),
    ];
    for (value, expect) in cases {
        let got = code(v.verify(&[("paddle-signature", value.as_str())], BODY, TS));
        assert_eq!(got, expect, "{value}");
    }
}

#[test]
fn tampering_provider_requests_fails() {
    const MASKS: [u8; 3] = [0x01, 0x20, 0x80];
    let mut checked = 0;
    for &scheme in PROVIDERS {
        let v = verifier(scheme);
        let valid = valid_headers(scheme);
        assert!(v.verify_at(&valid, BODY, TS).is_ok(), "{scheme}");
        for mask in MASKS {
            for i in 0..BODY.len() {
                let mut body = BODY.to_vec();
                body[i] ^= mask;
                assert!(
                    v.verify_at(&valid, &body, TS).is_err(),
                    "{scheme}: body byte {i}"
                );
                checked += 1;
            }
            for (name, value) in &valid {
                if UNSIGNED.contains(name) {
                    continue;
                }
                for i in 0..value.len() {
                    let mut value = value.clone();
                    value[i] ^= mask;
                    let headers = with(&valid, name, Some(&value));
                    assert!(
                        v.verify_at(&headers, BODY, TS).is_err(),
                        "{scheme}: {name} byte {i}"
                    );
                    checked += 1;
                }
            }
            if scheme.needs_url() {
                for i in 0..URL.len() {
                    let mut url = URL.as_bytes().to_vec();
                    url[i] ^= mask;
                    let Ok(url) = String::from_utf8(url) else {
                        continue;
                    };
                    let got = v.verify_request(&valid, BODY, Some(&url), TS);
                    assert!(got.is_err(), "{scheme}: URL byte {i}: {url}");
                    checked += 1;
                }
            }
            if !matches!(scheme, Scheme::Discord | Scheme::SendGrid) {
                let secret = secret_of(scheme).as_bytes();
                for i in 0..secret.len() {
                    let mut s = secret.to_vec();
                    s[i] ^= mask;
                    let Ok(s) = String::from_utf8(s) else {
                        continue;
                    };
                    let v = Verifier::new(scheme, &[s]).unwrap();
                    assert!(
                        v.verify_at(&valid, BODY, TS).is_err(),
                        "{scheme}: secret byte {i}"
                    );
                    checked += 1;
                }
            }
        }
    }
    assert!(checked > 5000, "only {checked} tamperings");
}

#[test]
fn asymmetric_keys_are_parsed_strictly() {
    for bad in [
        "",
        "zz",
        &"ab".repeat(31),
        &"ab".repeat(33),
        SENDGRID_PUBLIC,
    ] {
        assert!(
            Verifier::new(Scheme::Discord, &[bad]).is_err(),
            "discord {bad}"
        );
    }
    assert!(Verifier::new(Scheme::Discord, &[DISCORD_PUBLIC.to_uppercase()]).is_ok());
    assert_eq!(discord::public_key(DISCORD_SEED).unwrap(), DISCORD_PUBLIC);
    assert_eq!(
        sendgrid::public_key(SENDGRID_PRIVATE).unwrap(),
        SENDGRID_PUBLIC
    );
    for bad in [
        "",
        "AAAA",
        DISCORD_PUBLIC,
        SENDGRID_PRIVATE,
        &SENDGRID_PUBLIC[..40],
    ] {
        assert!(
            Verifier::new(Scheme::SendGrid, &[bad]).is_err(),
            "sendgrid {bad}"
        );
    }
    let pem = format!(
        "-----BEGIN PUBLIC KEY-----\n{}\n{}\n-----END PUBLIC KEY-----\n",
        &SENDGRID_PUBLIC[..64],
        &SENDGRID_PUBLIC[64..]
    );
    assert!(Verifier::new(Scheme::SendGrid, &[pem]).is_ok());
    // A key of one scheme's kind is refused by another's verifier.
    let ed = Secret::ed25519_hex(DISCORD_PUBLIC).unwrap();
    assert!(Verifier::from_secrets(Scheme::Slack, vec![ed.clone()]).is_err());
    assert!(Verifier::from_secrets(Scheme::SendGrid, vec![ed]).is_err());
    let p = Secret::p256_base64(SENDGRID_PUBLIC).unwrap();
    assert!(Verifier::from_secrets(Scheme::StandardWebhooks, vec![p.clone()]).is_err());
    assert!(Verifier::from_secrets(Scheme::Discord, vec![p]).is_err());
    assert!(!format!("{:?}", Secret::p256_base64(SENDGRID_PUBLIC).unwrap()).contains("MFkw"));
}

#[test]
fn linear_checks_its_body_timestamp() {
    let v = verifier(Scheme::Linear).with_tolerance_secs(60);
    let body = |ms: i64| format!(r#"{{"action":"create","webhookTimestamp":{ms}}}"#);
    for (ms, now, expect) in [
        (TS * 1000, TS, Ok(())),
        (TS * 1000 + 999, TS + 60, Ok(())),
        (TS * 1000, TS + 61, Err("timestamp_out_of_tolerance")),
        (TS * 1000, TS - 61, Err("timestamp_out_of_tolerance")),
    ] {
        let body = body(ms);
        let headers = signed_headers(Scheme::Linear, body.as_bytes(), TS);
        assert_eq!(
            code(v.verify(&headers, body.as_bytes(), now)),
            expect,
            "{ms} at {now}"
        );
    }
    let body = body(TS * 1000);
    let headers = signed_headers(Scheme::Linear, body.as_bytes(), TS);
    assert_eq!(
        v.verify(&headers, body.as_bytes(), TS).unwrap().timestamp,
        Some(TS)
    );
    // A body without the field verifies on its signature alone (as Linear's SDK).
    assert_eq!(
        v.verify(&valid_headers(Scheme::Linear), BODY, 0)
            .unwrap()
            .timestamp,
        None
    );
}

#[test]
fn twitch_timestamps_and_challenge() {
    let v = verifier(Scheme::Twitch);
    assert_eq!(
        twitch::format_timestamp(TS).unwrap(),
        "2022-04-07T21:39:13Z"
    );
    // Twitch sends nanoseconds; the signature covers the text exactly as sent.
    let ts = "2022-04-07T21:39:13.634234626Z";
    let secret = secret_of(Scheme::Twitch);
    let headers = vec![
        ("Twitch-Eventsub-Message-Id", ID.to_owned()),
        ("Twitch-Eventsub-Message-Timestamp", ts.to_owned()),
        (
            "Twitch-Eventsub-Message-Signature",
            twitch::sign(secret, ID, ts, BODY),
        ),
    ];
    assert_eq!(v.verify(&headers, BODY, TS).unwrap().timestamp, Some(TS));
    for bad in ["2022-04-07T21:39:13", "1649367553", "2022-13-07T21:39:13Z"] {
        let mut h = headers.clone();
        h[1].1 = bad.to_owned();
        assert_eq!(
            code(v.verify(&h, BODY, TS)),
            Err("malformed_header"),
            "{bad}"
        );
    }
    let body =
        br#"{"challenge":"pogchamp-kappa-360noscope-vohiyo","subscription":{"id":"f1c2a387"}}"#;
    assert_eq!(
        twitch::challenge(body).as_deref(),
        Some("pogchamp-kappa-360noscope-vohiyo")
    );
    assert_eq!(twitch::challenge(BODY), None);
}

#[test]
fn twilio_form_and_json_bodies() {
    // Twilio's published example (twilio.com/docs/usage/webhooks/webhooks-security), also in
    // twilio-node's tests: auth token 12345, and these form parameters.
    let token = "12345";
    let url = "https://mycompany.com/myapp.php?foo=1&bar=2";
    let form = "CallSid=CA1234567890ABCDE&Caller=%2B12349013030&Digits=1234&From=%2B12349013030&To=%2B18005551212";
    let v = Verifier::new(Scheme::Twilio, &[token]).unwrap();
    let signature = twilio::sign(token, url, form.as_bytes());
    assert_eq!(signature, "0/KCTR6DLpKmkAf8muzZqo1nDgQ=");
    let headers = [("X-Twilio-Signature", signature.as_str())];
    assert!(v
        .verify_request(&headers, form.as_bytes(), Some(url), 0)
        .is_ok());
    // The same URL with the default port, and parameters in another order.
    let with_port = "https://mycompany.com:443/myapp.php?foo=1&bar=2";
    assert!(v
        .verify_request(&headers, form.as_bytes(), Some(with_port), 0)
        .is_ok());
    let reordered = "To=%2B18005551212&Digits=1234&CallSid=CA1234567890ABCDE&From=%2B12349013030&Caller=%2B12349013030";
    assert!(v
        .verify_request(&headers, reordered.as_bytes(), Some(url), 0)
        .is_ok());
    let changed = form.replace("Digits=1234", "Digits=1235");
    assert!(v
        .verify_request(&headers, changed.as_bytes(), Some(url), 0)
        .is_err());
    // JSON: the URL carries bodySHA256 and the body must hash to it.
    let json = br#"{"property": "value", "boolean": true}"#;
    let json_url =
        twilio::url_with_body_sha256("https://mycompany.com/myapp.php?foo=1&bar=2", json);
    assert_eq!(json_url, "https://mycompany.com/myapp.php?foo=1&bar=2&bodySHA256=0a1ff7634d9ab3b95db5c9a2dfe9416e41502b283a80c7cf19632632f96e6620");
    let signature = twilio::sign(token, &json_url, json);
    let headers = [("X-Twilio-Signature", signature.as_str())];
    assert!(v.verify_request(&headers, json, Some(&json_url), 0).is_ok());
    let tampered = br#"{"property": "value", "boolean": false}"#;
    assert_eq!(
        code(v.verify_request(&headers, tampered, Some(&json_url), 0)),
        Err("no_matching_signature")
    );
}

#[test]
fn slack_and_zoom_share_v0_but_not_headers() {
    let slack = valid_headers(Scheme::Slack);
    assert!(verifier(Scheme::Zoom).verify(&slack, BODY, TS).is_err());
    assert_eq!(
        zoom::sign(secret_of(Scheme::Zoom), TS, BODY),
        slack::sign(secret_of(Scheme::Slack), TS, BODY)
    );
}
