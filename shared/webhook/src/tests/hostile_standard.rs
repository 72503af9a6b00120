//! The hostile-header table of Standard Webhooks.

use super::*;

#[test]
fn hostile_standard_headers() {
    let sig = std_sig();
    let b64 = &sig[3..];
    let ts = TS.to_string();
    let ok = Ok(());
    let no_match = Err("no_matching_signature");
    let malformed = Err("malformed_header");
    let sig_with = |value: &[u8]| std_headers(ID, &ts, value);
    let mut dup_id = sig_with(sig.as_bytes());
    dup_id.push(("webhook-id", ID.into()));
    let mut dup_ts = sig_with(sig.as_bytes());
    dup_ts.push(("Webhook-Timestamp", ts.clone().into()));
    let mut dup_sig = sig_with(b"v1,AAAA");
    dup_sig.push(("WEBHOOK-SIGNATURE", sig.clone().into()));
    let svix: Headers = std_headers(ID, &ts, sig.as_bytes())
        .into_iter()
        .map(|(n, v)| (n.replace("webhook-", "svix-").leak() as &'static str, v))
        .collect();
    let mut mixed = std_headers(ID, &ts, sig.as_bytes());
    mixed[2].0 = "svix-signature";
    let too_many = [&b"v2,x "[..]; MAX_SIGNATURE_ENTRIES + 1].concat();
    let mut non_utf8_entry = b"\xff\xfe\x80 v1,\xc3\x28 ".to_vec();
    non_utf8_entry.extend_from_slice(sig.as_bytes());

    let mut cases = vec![
        case("valid", sig_with(sig.as_bytes()), ok),
        case("svix- prefix", svix, ok),
        case(
            "upper-case names",
            std_headers(ID, &ts, sig.as_bytes())
                .into_iter()
                .map(|(n, v)| (n.to_uppercase().leak() as &'static str, v))
                .collect(),
            ok,
        ),
        case("empty signature `v1,`", sig_with(b"v1,"), no_match),
        case("empty header", sig_with(b""), no_match),
        case("only spaces", sig_with(b"   "), no_match),
        case(
            "wrong version only",
            sig_with(format!("v2,{b64}").as_bytes()),
            no_match,
        ),
        case(
            "v1a with the HMAC bytes",
            sig_with(format!("v1a,{b64}").as_bytes()),
            no_match,
        ),
        case("no comma", sig_with(b64.as_bytes()), no_match),
        case(
            "truncated",
            sig_with(&sig.as_bytes()[..sig.len() - 4]),
            no_match,
        ),
        case(
            "one byte short",
            sig_with(
                format!(
                    "v1,{}",
                    crypto::encode_base64(&crypto::decode_base64(b64.as_bytes()).unwrap()[..31])
                )
                .as_bytes(),
            ),
            no_match,
        ),
        case(
            "one byte long",
            sig_with(
                format!(
                    "v1,{}",
                    crypto::encode_base64(
                        &[crypto::decode_base64(b64.as_bytes()).unwrap(), vec![0]].concat()
                    )
                )
                .as_bytes(),
            ),
            no_match,
        ),
        case("not base64", sig_with(b"v1,!!!!not-base64!!!!"), no_match),
        case(
            "unpadded base64",
            sig_with(sig.trim_end_matches('=').as_bytes()),
            no_match,
        ),
        case(
            "url-safe alphabet",
            sig_with(sig.replace('+', "-").replace('/', "_").as_bytes()),
            no_match,
        ),
        case(
            "space after comma",
            sig_with(format!("v1, {b64}").as_bytes()),
            no_match,
        ),
        case(
            "extra spaces around entries",
            sig_with(format!("  v1,AAAA    {sig}   v2,zz  ").as_bytes()),
            ok,
        ),
        case(
            "tab separated",
            sig_with(format!("v1,AAAA\t{sig}").as_bytes()),
            ok,
        ),
        case(
            "valid after invalid entries",
            sig_with(format!("v1, v1,AAAA v2,{b64} {sig}").as_bytes()),
            ok,
        ),
        case("duplicated signature headers", dup_sig, ok),
        case("duplicated id", dup_id, malformed),
        case("duplicated timestamp", dup_ts, malformed),
        case("mixed families", mixed, Err("missing_header")),
        case("too many entries", sig_with(&too_many), malformed),
        case("1 MB signature", sig_with(&huge()), malformed),
        case(
            "1 MB id",
            vec![
                ("webhook-id", huge()),
                ("webhook-timestamp", ts.clone().into()),
                ("webhook-signature", sig.clone().into()),
            ],
            malformed,
        ),
        case(
            "1 MB timestamp",
            std_headers(ID, &"1".repeat(ONE_MB), sig.as_bytes()),
            malformed,
        ),
        case(
            "non-UTF-8 entries before a valid one",
            sig_with(&non_utf8_entry),
            ok,
        ),
        case(
            "non-UTF-8 signature only",
            sig_with(b"v1,\xff\xfe\xfd\xfc"),
            no_match,
        ),
        case(
            "non-UTF-8 id",
            vec![
                ("webhook-id", b"msg_\xff".to_vec()),
                ("webhook-timestamp", ts.clone().into()),
                ("webhook-signature", sig.clone().into()),
            ],
            malformed,
        ),
        case(
            "non-UTF-8 timestamp",
            vec![
                ("webhook-id", ID.into()),
                ("webhook-timestamp", b"16493\xff7553".to_vec()),
                ("webhook-signature", sig.clone().into()),
            ],
            malformed,
        ),
        case(
            "id with a dot",
            std_headers("msg.1", &ts, sig.as_bytes()),
            malformed,
        ),
        case("empty id", std_headers("", &ts, sig.as_bytes()), malformed),
        case(
            "timestamp with spaces around",
            std_headers(ID, &format!("  {ts} "), sig.as_bytes()),
            ok,
        ),
        case(
            "timestamp with a sign",
            std_headers(ID, &format!("+{ts}"), sig.as_bytes()),
            malformed,
        ),
        case(
            "negative timestamp",
            std_headers(ID, "-1", sig.as_bytes()),
            malformed,
        ),
        case(
            "fractional timestamp",
            std_headers(ID, &format!("{ts}.0"), sig.as_bytes()),
            malformed,
        ),
        case(
            "timestamp overflowing i64",
            std_headers(ID, "9999999999999999999", sig.as_bytes()),
            malformed,
        ),
        case(
            "empty timestamp",
            std_headers(ID, "", sig.as_bytes()),
            malformed,
        ),
        case(
            "missing id",
            vec![
                ("webhook-timestamp", ts.clone().into()),
                ("webhook-signature", sig.clone().into()),
            ],
            Err("missing_header"),
        ),
        case(
            "missing timestamp",
            vec![
                ("webhook-id", ID.into()),
                ("webhook-signature", sig.clone().into()),
            ],
            Err("missing_header"),
        ),
        case(
            "missing signature",
            vec![
                ("webhook-id", ID.into()),
                ("webhook-timestamp", ts.clone().into()),
            ],
            Err("missing_header"),
        ),
        case("no headers at all", vec![], Err("missing_header")),
    ];
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
            headers: sig_with(sig.as_bytes()),
            now,
            expect,
        });
    }
    run_table(Scheme::StandardWebhooks, cases);
}
