//! The public API's smaller promises: header maps, error codes, redaction, configuration.

use super::*;

#[test]
fn http_header_map_is_a_header_source() {
    use ::http::{HeaderMap, HeaderName, HeaderValue};
    let mut map = HeaderMap::new();
    for (name, value) in valid_headers(Scheme::StandardWebhooks) {
        map.insert(
            HeaderName::from_static(name),
            HeaderValue::from_bytes(&value).unwrap(),
        );
    }
    let verifier = verifier(Scheme::StandardWebhooks);
    assert_eq!(
        verifier.verify(&map, BODY, TS).unwrap().id.as_deref(),
        Some(ID)
    );
    // Duplicated and non-UTF-8 (obs-text) values arrive as they are.
    map.append(
        "webhook-signature",
        HeaderValue::from_bytes(b"v1,\xff\xfe").unwrap(),
    );
    assert!(verifier.verify(&map, BODY, TS).is_ok());
    map.append("webhook-id", HeaderValue::from_static("msg_other"));
    assert_eq!(
        verifier.verify(&map, BODY, TS).unwrap_err().code(),
        "malformed_header"
    );
    assert_eq!(
        verifier.verify(&HeaderMap::new(), BODY, TS).unwrap_err(),
        WebhookError::MissingHeader("webhook-id")
    );
}

#[test]
fn error_codes_are_stable_and_distinct() {
    let all = [
        (WebhookError::MissingHeader("x"), "missing_header"),
        (WebhookError::MalformedHeader("x"), "malformed_header"),
        (
            WebhookError::TimestampOutOfTolerance,
            "timestamp_out_of_tolerance",
        ),
        (WebhookError::NoMatchingSignature, "no_matching_signature"),
        (WebhookError::BodyTooLarge { limit: 1 }, "body_too_large"),
        (WebhookError::InvalidSecret, "invalid_secret"),
    ];
    for (err, code) in &all {
        assert_eq!(err.code(), *code);
    }
    assert_eq!(
        WebhookError::InvalidSecret.status(),
        ::http::StatusCode::INTERNAL_SERVER_ERROR
    );
    assert_eq!(
        WebhookError::NoMatchingSignature.status(),
        ::http::StatusCode::BAD_REQUEST
    );
    assert_eq!(
        WebhookError::BodyTooLarge { limit: 9 }.to_string(),
        "body larger than 9 bytes"
    );
}

#[test]
fn secrets_never_show() {
    let secrets = [
        STD_SECRET,
        "whsk_nWGxne/9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A=",
    ];
    let v = Verifier::new(Scheme::StandardWebhooks, &secrets).unwrap();
    let mut shown = format!("{v:?}");
    for headers in [
        valid_headers(Scheme::StandardWebhooks),
        std_headers(ID, "1", b"v1,AAAA"),
        vec![],
    ] {
        if let Err(e) = v.verify(&headers, BODY, TS) {
            shown += &format!("{e} {e:?}");
        }
    }
    for bad in [
        "whsec_C2FVsBQIhrscChlQIMV+b5sS",
        "whsk_C2FVsBQIhrscChlQIMV+b5sSYspob7oD",
    ] {
        let e = Verifier::new(Scheme::StandardWebhooks, &[bad]).unwrap_err();
        shown += &format!("{e} {e:?}");
    }
    assert!(shown.contains("<redacted>"), "{shown}");
    for fragment in ["C2FVsBQI", "nWGxne", "whsec_", "whsk_"] {
        assert!(!shown.contains(fragment), "{fragment} leaked in {shown}");
    }
    let raw = Verifier::new(Scheme::GitHub, &[GITHUB_SECRET]).unwrap();
    assert!(!format!("{raw:?}").contains("Secret to Everybody"));
}

#[test]
fn invalid_configuration_is_rejected() {
    let none: [&str; 0] = [];
    for scheme in Scheme::ALL {
        assert_eq!(
            Verifier::new(scheme, &none).unwrap_err(),
            WebhookError::InvalidSecret
        );
        assert_eq!(
            Verifier::new(scheme, &[""]).unwrap_err(),
            WebhookError::InvalidSecret
        );
    }
    let ed = Secret::standard("whpk_11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=").unwrap();
    assert!(Verifier::from_secrets(Scheme::StandardWebhooks, ed.clone()).is_ok());
    assert!(Verifier::from_secrets(Scheme::GitHub, ed).is_err());
    let v = verifier(Scheme::Stripe)
        .with_tolerance_secs(5)
        .with_max_body(10);
    assert_eq!(
        (v.scheme(), v.tolerance_secs(), v.max_body()),
        (Scheme::Stripe, 5, 10)
    );
    assert_eq!(
        verifier(Scheme::Stripe).tolerance_secs(),
        DEFAULT_TOLERANCE_SECS
    );
}

#[test]
fn scheme_names_parse() {
    for (name, scheme) in [
        ("standard", Scheme::StandardWebhooks),
        ("standardwebhooks", Scheme::StandardWebhooks),
        ("Standard-Webhooks", Scheme::StandardWebhooks),
        ("standard_webhooks", Scheme::StandardWebhooks),
        ("stripe", Scheme::Stripe),
        ("GitHub", Scheme::GitHub),
        (" shopify ", Scheme::Shopify),
    ] {
        assert_eq!(name.parse::<Scheme>(), Ok(scheme), "{name}");
    }
    for scheme in Scheme::ALL {
        assert_eq!(scheme.to_string().parse::<Scheme>(), Ok(scheme));
    }
    for bad in ["", "svix2", "paypal", "stripe!"] {
        assert_eq!(bad.parse::<Scheme>(), Err(UnknownScheme), "{bad}");
    }
}

#[test]
fn tolerance_is_configurable_and_overflow_free() {
    let headers = valid_headers(Scheme::StandardWebhooks);
    let v = verifier(Scheme::StandardWebhooks).with_tolerance_secs(10);
    assert!(v.verify(&headers, BODY, TS + 10).is_ok());
    assert!(v.verify(&headers, BODY, TS + 11).is_err());
    assert!(v.verify(&headers, BODY, TS - 11).is_err());
    let off = v.with_tolerance_secs(u64::MAX);
    assert!(off.verify(&headers, BODY, i64::MIN).is_ok());
    assert!(off.verify(&headers, BODY, i64::MAX).is_ok());
    assert!(check_timestamp(i64::MAX, i64::MIN, 0).is_err());
    assert!(check_timestamp(i64::MIN, i64::MAX, 0).is_err());
    assert!(check_timestamp(7, 7, 0).is_ok());
}

#[test]
fn scheme_headers_are_all_a_verifier_reads() {
    for scheme in Scheme::ALL {
        let names = scheme.headers();
        assert!(
            names.iter().all(|n| *n == n.to_ascii_lowercase()),
            "{scheme}"
        );
        let mut headers = valid_headers(scheme);
        headers.push(("x-unrelated", b"1".to_vec()));
        let kept: Headers = headers
            .iter()
            .filter(|(n, _)| names.iter().any(|k| k.eq_ignore_ascii_case(n)))
            .cloned()
            .collect();
        assert_eq!(
            kept.len(),
            headers.len() - 1,
            "{scheme}: a signed header is not listed"
        );
        assert!(
            verifier(scheme).verify_at(&kept, BODY, TS).is_ok(),
            "{scheme}"
        );
    }
}
