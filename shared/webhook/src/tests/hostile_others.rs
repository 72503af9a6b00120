//! The hostile-header tables of Stripe, GitHub and Shopify, and every scheme's body cap.

use super::*;

#[test]
fn hostile_stripe_headers() {
    let hex = stripe_hex();
    let header = |value: &[u8]| -> Headers { vec![("Stripe-Signature", value.to_vec())] };
    let with = |rest: &str| header(format!("t={TS},{rest}").as_bytes());
    let ok = Ok(());
    let no_match = Err("no_matching_signature");
    let malformed = Err("malformed_header");
    let mut dup = with(&format!("v1={hex}"));
    dup.push(("stripe-signature", format!("t={TS},v1={hex}").into()));
    let mut non_utf8 = format!("t={TS},").into_bytes();
    non_utf8.extend_from_slice(b"\xff=x,v1=\xff\xfe,v0=\x80,");
    non_utf8.extend_from_slice(format!("v1={hex}").as_bytes());
    let too_many = format!(
        "t={TS},{}",
        vec!["v1=00"; MAX_SIGNATURE_ENTRIES + 1].join(",")
    );

    let mut cases = vec![
        case("valid", with(&format!("v1={hex}")), ok),
        case(
            "upper-case name",
            vec![("STRIPE-SIGNATURE", format!("t={TS},v1={hex}").into())],
            ok,
        ),
        case("empty signature `v1=`", with("v1="), no_match),
        case(
            "no v1 at all",
            header(format!("t={TS}").as_bytes()),
            no_match,
        ),
        case("v0 only (downgrade)", with(&format!("v0={hex}")), no_match),
        case("wrong version only", with(&format!("v2={hex}")), no_match),
        case("truncated", with(&format!("v1={}", &hex[..62])), no_match),
        case("odd length", with(&format!("v1={}", &hex[..63])), no_match),
        case("one byte long", with(&format!("v1={hex}00")), no_match),
        case("not hex", with(&format!("v1=zz{}", &hex[2..])), no_match),
        case(
            "upper-case hex",
            with(&format!("v1={}", hex.to_uppercase())),
            no_match,
        ),
        case(
            "base64 instead of hex",
            with("v1=bqxBTnn4LWijRLAVUPZHsQLoVs1FAP1s0xTDm76vdTY="),
            no_match,
        ),
        case(
            "extra spaces",
            header(format!(" t = {TS} ,  v1 = {hex} ").as_bytes()),
            ok,
        ),
        case(
            "several v1, one valid",
            with(&format!("v1={},v1={hex},v0=00", "0".repeat(64))),
            ok,
        ),
        case(
            "items without `=` ignored",
            with(&format!("garbage,,v1={hex}")),
            ok,
        ),
        case(
            "missing t",
            header(format!("v1={hex}").as_bytes()),
            malformed,
        ),
        case(
            "duplicated t",
            header(format!("t={TS},t={TS},v1={hex}").as_bytes()),
            malformed,
        ),
        case(
            "t not a number",
            header(format!("t=abc,v1={hex}").as_bytes()),
            malformed,
        ),
        case(
            "negative t",
            header(format!("t=-{TS},v1={hex}").as_bytes()),
            malformed,
        ),
        case("duplicated headers", dup, malformed),
        case("too many entries", header(too_many.as_bytes()), malformed),
        case("empty header", header(b""), malformed),
        case("1 MB header", header(&huge()), malformed),
        case("non-UTF-8 items around a valid one", header(&non_utf8), ok),
        case(
            "non-UTF-8 t",
            header(&[&b"t=17\xff00,v1="[..], hex.as_bytes()].concat()),
            malformed,
        ),
        case(
            "missing header",
            vec![("x-hub-signature-256", b"sha256=00".to_vec())],
            Err("missing_header"),
        ),
    ];
    // Bounded both ways (Stripe's libraries bound only the past; a year-ahead `t` is refused).
    for (name, now, expect) in [
        ("timestamp 300 s old", TS + 300, ok),
        (
            "timestamp 301 s old",
            TS + 301,
            Err("timestamp_out_of_tolerance"),
        ),
        ("timestamp 300 s ahead", TS - 300, ok),
        (
            "timestamp 301 s ahead",
            TS - 301,
            Err("timestamp_out_of_tolerance"),
        ),
        (
            "clock at i64::MIN",
            i64::MIN,
            Err("timestamp_out_of_tolerance"),
        ),
        (
            "clock at i64::MAX",
            i64::MAX,
            Err("timestamp_out_of_tolerance"),
        ),
    ] {
        cases.push(Case {
            name,
            headers: with(&format!("v1={hex}")),
            now,
            expect,
        });
    }
    run_table(Scheme::Stripe, cases);
}

#[test]
fn hostile_github_headers() {
    let sig = github::sign(GITHUB_SECRET, BODY);
    let hex = &sig["sha256=".len()..];
    let header = |value: &[u8]| -> Headers { vec![("X-Hub-Signature-256", value.to_vec())] };
    let ok = Ok(());
    let no_match = Err("no_matching_signature");
    let malformed = Err("malformed_header");
    let mut dup = header(sig.as_bytes());
    dup.push(("x-hub-signature-256", sig.clone().into()));
    let mut dup_delivery = header(sig.as_bytes());
    dup_delivery.extend([
        ("X-GitHub-Delivery", b"a".to_vec()),
        ("X-GitHub-Delivery", b"b".to_vec()),
    ]);
    let mut bad_delivery = header(sig.as_bytes());
    bad_delivery.push(("X-GitHub-Delivery", b"\xff\xfe".to_vec()));

    run_table(
        Scheme::GitHub,
        vec![
            case("valid", header(sig.as_bytes()), ok),
            case("empty signature `sha256=`", header(b"sha256="), no_match),
            case("empty header", header(b""), no_match),
            case("hex without prefix", header(hex.as_bytes()), no_match),
            case(
                "wrong algorithm prefix",
                header(format!("sha1={hex}").as_bytes()),
                no_match,
            ),
            case(
                "upper-case prefix",
                header(format!("SHA256={hex}").as_bytes()),
                no_match,
            ),
            case(
                "truncated",
                header(&sig.as_bytes()[..sig.len() - 2]),
                no_match,
            ),
            case(
                "one byte long",
                header(format!("{sig}00").as_bytes()),
                no_match,
            ),
            case(
                "not hex",
                header(format!("sha256=zz{}", &hex[2..]).as_bytes()),
                no_match,
            ),
            case(
                "upper-case hex",
                header(format!("sha256={}", hex.to_uppercase()).as_bytes()),
                no_match,
            ),
            case("spaces around", header(format!("  {sig}\t").as_bytes()), ok),
            case(
                "space inside",
                header(format!("sha256= {hex}").as_bytes()),
                no_match,
            ),
            case("duplicated header", dup, malformed),
            case("duplicated delivery id", dup_delivery, malformed),
            case("non-UTF-8 delivery id", bad_delivery, malformed),
            case("1 MB header", header(&huge()), malformed),
            case("non-UTF-8 header", header(b"sha256=\xff\xfe\xfd"), no_match),
            case(
                "legacy sha1 header only",
                vec![("X-Hub-Signature", b"sha1=00".to_vec())],
                Err("missing_header"),
            ),
            Case {
                name: "no timestamp: any clock",
                headers: header(sig.as_bytes()),
                now: i64::MIN,
                expect: ok,
            },
        ],
    );
}

#[test]
fn hostile_shopify_headers() {
    let sig = shopify::sign(SHOPIFY_SECRET, BODY);
    let header = |value: &[u8]| -> Headers { vec![("X-Shopify-Hmac-Sha256", value.to_vec())] };
    let raw = crypto::decode_base64(sig.as_bytes()).unwrap();
    let ok = Ok(());
    let no_match = Err("no_matching_signature");
    let malformed = Err("malformed_header");
    let mut dup = header(sig.as_bytes());
    dup.push(("x-shopify-hmac-sha256", sig.clone().into()));
    let mut bad_id = header(sig.as_bytes());
    bad_id.push(("X-Shopify-Webhook-Id", b"\x80".to_vec()));

    run_table(
        Scheme::Shopify,
        vec![
            case("valid", header(sig.as_bytes()), ok),
            case("empty header", header(b""), no_match),
            case(
                "truncated",
                header(&sig.as_bytes()[..sig.len() - 4]),
                no_match,
            ),
            case(
                "one byte short",
                header(crypto::encode_base64(&raw[..31]).as_bytes()),
                no_match,
            ),
            case(
                "one byte long",
                header(crypto::encode_base64(&[&raw[..], &[0]].concat()).as_bytes()),
                no_match,
            ),
            case("not base64", header(b"%%%%"), no_match),
            case(
                "unpadded",
                header(sig.trim_end_matches('=').as_bytes()),
                no_match,
            ),
            case(
                "hex instead of base64",
                header(hex::encode(&raw).as_bytes()),
                no_match,
            ),
            case(
                "with a version prefix",
                header(format!("v1,{sig}").as_bytes()),
                no_match,
            ),
            case("spaces around", header(format!(" {sig}  ").as_bytes()), ok),
            case("duplicated header", dup, malformed),
            case("non-UTF-8 webhook id", bad_id, malformed),
            case("1 MB header", header(&huge()), malformed),
            case("non-UTF-8 header", header(b"\xff\xfe\xfd\xfc"), no_match),
            case("missing header", vec![], Err("missing_header")),
        ],
    );
}

#[test]
fn body_cap_is_checked_first() {
    for scheme in Scheme::ALL {
        let verifier = verifier(scheme).with_max_body(BODY.len());
        assert!(
            verifier.verify_at(&valid_headers(scheme), BODY, TS).is_ok(),
            "{scheme}"
        );
        let big = [BODY, b" "].concat();
        let no_headers: Headers = vec![];
        let err = verifier.verify(&no_headers, &big, TS).unwrap_err();
        assert_eq!(
            err,
            WebhookError::BodyTooLarge { limit: BODY.len() },
            "{scheme}"
        );
        assert_eq!(err.status(), ::http::StatusCode::PAYLOAD_TOO_LARGE);
        // The default cap is 256 KiB.
        let default = self::verifier(scheme);
        assert_eq!(default.max_body(), DEFAULT_MAX_BODY);
        let over = vec![b'x'; DEFAULT_MAX_BODY + 1];
        assert_eq!(
            default.verify(&no_headers, &over, TS).unwrap_err().code(),
            "body_too_large"
        );
        let at = vec![b'x'; DEFAULT_MAX_BODY];
        assert_ne!(
            default.verify(&no_headers, &at, TS).unwrap_err().code(),
            "body_too_large"
        );
    }
}
