//! Caller authentication, natively: real ES256/RS256/HS256 signatures made here with fixed test
//! keys, and every way a credential can be wrong.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use p256::ecdsa::signature::Signer as _;
use rsa::pkcs8::DecodePrivateKey as _;
use rsa::traits::PublicKeyParts as _;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::jwt::{self, JwtError};
use super::*;

const NOW: i64 = 1_800_000_000;
const SECRET_KEY: &str = "sb_secret_N7UND0UgjKTVK-Uodkm0Hg_xSvEMPvz";
const OTHER_SECRET_KEY: &str = "sb_secret_second-key-while-rotating-000000";
const PUBLISHABLE_KEY: &str = "sb_publishable_ACJWlzQHlZjBrEguHvfOxg_3BJgxAaH";
const JWT_SECRET: &str = "super-secret-jwt-token-with-at-least-32-characters-long";
const SERVICE: &str = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJpc3MiOiJzdXBhYmFzZS1kZW1vIiwicm9sZSI6InNlcnZpY2Vfcm9sZSIsImV4cCI6MTk4MzgxMjk5Nn0.EGIM96RAZx35lJzdJsyH-qQwv8Hdp7fsn3W0YpN81IU";
const ANON: &str = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJpc3MiOiJzdXBhYmFzZS1kZW1vIiwicm9sZSI6ImFub24iLCJleHAiOjE5ODM4MTI5OTZ9.CRXP1A7WOeoJeXxjNni43kdQwgnWNReilDMblYTn_I0";
const USER_ID: &str = "00000000-0000-4000-8000-000000000001";
/// A 2048-bit RSA key made with `openssl genpkey` for these tests only.
const RSA_PEM: &str = include_str!("testdata/rsa-test-key.pem");
/// Too short for RS256 (RFC 7518 asks for 2048 bits): its JWK must be skipped.
const RSA_1024_PEM: &str = include_str!("testdata/rsa-1024-test-key.pem");

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn es_key(seed: u8) -> p256::ecdsa::SigningKey {
    p256::ecdsa::SigningKey::from_bytes(&[seed; 32].into()).unwrap()
}

fn rsa_key(pem: &str) -> rsa::RsaPrivateKey {
    rsa::RsaPrivateKey::from_pkcs8_pem(pem).unwrap()
}

fn ec_jwk(key: &p256::ecdsa::SigningKey, kid: &str) -> Value {
    let point = key.verifying_key().to_encoded_point(false);
    json!({"kty": "EC", "crv": "P-256", "alg": "ES256", "use": "sig", "kid": kid,
           "x": b64(point.x().unwrap()), "y": b64(point.y().unwrap()), "key_ops": ["verify"]})
}

fn rsa_jwk(key: &rsa::RsaPrivateKey, kid: &str) -> Value {
    json!({"kty": "RSA", "alg": "RS256", "kid": kid,
           "n": b64(&key.n().to_bytes_be()), "e": b64(&key.e().to_bytes_be())})
}

/// The project's set: ES256 key "es-1" and RS256 key "rs-1".
fn jwks_json() -> Value {
    json!({"keys": [ec_jwk(&es_key(1), "es-1"), rsa_jwk(&rsa_key(RSA_PEM), "rs-1")]})
}

fn jwks() -> Jwks {
    Jwks::parse(&jwks_json().to_string()).unwrap()
}

enum Sign<'a> {
    Es(&'a p256::ecdsa::SigningKey),
    Rs(&'a rsa::RsaPrivateKey),
    Hs(&'a [u8]),
    Raw(Vec<u8>),
}

fn token(header: Value, claims: Value, sign: Sign<'_>) -> String {
    let input = format!(
        "{}.{}",
        b64(header.to_string().as_bytes()),
        b64(claims.to_string().as_bytes())
    );
    let sig = match sign {
        Sign::Es(k) => {
            let s: p256::ecdsa::Signature = k.sign(input.as_bytes());
            s.to_bytes().to_vec()
        }
        Sign::Rs(k) => k
            .sign(
                rsa::Pkcs1v15Sign::new::<Sha256>(),
                &Sha256::digest(input.as_bytes()),
            )
            .unwrap(),
        Sign::Hs(secret) => {
            let mut mac = Hmac::<Sha256>::new_from_slice(secret).unwrap();
            mac.update(input.as_bytes());
            mac.finalize().into_bytes().to_vec()
        }
        Sign::Raw(bytes) => bytes,
    };
    format!("{input}.{}", b64(&sig))
}

fn user_claims() -> Value {
    json!({"sub": USER_ID, "role": "authenticated", "aud": "authenticated",
           "exp": NOW + 3600, "iat": NOW - 10, "iss": "http://127.0.0.1:54321/auth/v1"})
}

fn with(mut claims: Value, changes: Value) -> Value {
    for (k, v) in changes.as_object().unwrap() {
        if v.is_null() {
            claims.as_object_mut().unwrap().remove(k);
        } else {
            claims[k] = v.clone();
        }
    }
    claims
}

fn es256(claims: Value) -> String {
    token(
        json!({"alg": "ES256", "typ": "JWT", "kid": "es-1"}),
        claims,
        Sign::Es(&es_key(1)),
    )
}

fn rs256(claims: Value) -> String {
    let key = rsa_key(RSA_PEM);
    token(
        json!({"alg": "RS256", "typ": "JWT", "kid": "rs-1"}),
        claims,
        Sign::Rs(&key),
    )
}

fn hs256(claims: Value, secret: &str) -> String {
    token(
        json!({"alg": "HS256", "typ": "JWT"}),
        claims,
        Sign::Hs(secret.as_bytes()),
    )
}

/// New keys only: secret and publishable keys, the JWKS; no legacy key, no JWT secret.
fn new_only() -> AuthConfig {
    AuthConfig::default()
        .with_secret_key(SECRET_KEY)
        .with_secret_key(OTHER_SECRET_KEY)
        .with_publishable_key(PUBLISHABLE_KEY)
        .with_jwks(jwks())
}

/// Both systems, as the local stack in legacy mode gives functions.
fn both() -> AuthConfig {
    new_only()
        .with_legacy_keys(SERVICE, ANON)
        .with_jwt_secret(JWT_SECRET.as_bytes())
}

fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (n, v) in pairs {
        h.append(
            ::http::HeaderName::from_bytes(n.as_bytes()).unwrap(),
            v.parse().unwrap(),
        );
    }
    h
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

fn auth_as(config: &AuthConfig, pairs: &[(&str, &str)]) -> Result<Caller> {
    config.authenticate(&headers(pairs), NOW)
}

/// A refusal: a 401 whose body names none of the credentials sent.
fn refused(config: &AuthConfig, pairs: &[(&str, &str)]) -> String {
    let e = auth_as(config, pairs).expect_err("should be refused");
    assert_eq!((e.status(), e.code()), (401, "unauthorized"), "{e}");
    let body = e.to_response();
    let text = String::from_utf8_lossy(body.body()).into_owned();
    for (_, v) in pairs {
        let credential = v.trim_start_matches("Bearer ").trim();
        if credential.len() > 8 {
            assert!(
                !text.contains(credential),
                "the body leaks a credential: {text}"
            );
        }
    }
    for secret in [SECRET_KEY, OTHER_SECRET_KEY, JWT_SECRET, SERVICE] {
        assert!(!text.contains(secret), "{text}");
    }
    e.public_message()
}

fn user(token: &str) -> Caller {
    Caller::user(USER_ID, "authenticated", token)
}

// --- users --------------------------------------------------------------------------------------

#[test]
fn es256_rs256_and_legacy_hs256_users_are_recognised() {
    let es = es256(user_claims());
    let rs = rs256(user_claims());
    let hs = hs256(user_claims(), JWT_SECRET);
    assert_eq!(
        auth_as(&new_only(), &[("authorization", &bearer(&es))]).unwrap(),
        user(&es)
    );
    assert_eq!(
        auth_as(&new_only(), &[("authorization", &bearer(&rs))]).unwrap(),
        user(&rs)
    );
    assert_eq!(
        auth_as(&both(), &[("authorization", &bearer(&hs))]).unwrap(),
        user(&hs)
    );
    // The publishable key as apikey beside the user's JWT (what supabase-js sends).
    let c = auth_as(
        &both(),
        &[("apikey", PUBLISHABLE_KEY), ("authorization", &bearer(&es))],
    )
    .unwrap();
    assert_eq!(c.user_id(), Some(USER_ID));
    assert_eq!(c.scope(), format!("user:{USER_ID}"));
    assert!(!c.is_service_role());
    // The token is kept whole, to forward; Debug does not print it.
    assert!(matches!(&c, Caller::User(u) if u.token == es));
    assert!(!format!("{c:?}").contains(&es));
}

#[test]
fn hs256_is_refused_when_only_a_jwks_is_configured() {
    let hs = hs256(user_claims(), JWT_SECRET);
    let msg = refused(&new_only(), &[("authorization", &bearer(&hs))]);
    assert_eq!(msg, JwtError::UnsupportedAlg.message());
}

#[test]
fn forged_and_tampered_signatures_are_refused() {
    let cfg = both();
    // Signed by a key that is not the project's, under the project key's kid.
    let forged = token(
        json!({"alg": "ES256", "kid": "es-1"}),
        user_claims(),
        Sign::Es(&es_key(2)),
    );
    assert_eq!(
        refused(&cfg, &[("authorization", &bearer(&forged))]),
        JwtError::BadSignature.message()
    );
    // HS256 with another secret.
    let other = hs256(
        user_claims(),
        "not-the-secret-not-the-secret-not-the-secret",
    );
    refused(&cfg, &[("authorization", &bearer(&other))]);
    // A genuine token whose claims were changed afterwards (another user).
    for genuine in [es256(user_claims()), rs256(user_claims())] {
        let parts: Vec<&str> = genuine.split('.').collect();
        let evil = with(
            user_claims(),
            json!({"sub": "00000000-0000-4000-8000-000000000002"}),
        );
        let tampered = format!(
            "{}.{}.{}",
            parts[0],
            b64(evil.to_string().as_bytes()),
            parts[2]
        );
        assert_eq!(
            refused(&cfg, &[("authorization", &bearer(&tampered))]),
            JwtError::BadSignature.message()
        );
        // A flipped bit in the signature.
        let mut sig = URL_SAFE_NO_PAD.decode(parts[2]).unwrap();
        sig[5] ^= 1;
        let flipped = format!("{}.{}.{}", parts[0], parts[1], b64(&sig));
        refused(&cfg, &[("authorization", &bearer(&flipped))]);
        // No signature at all.
        let unsigned = format!("{}.{}.", parts[0], parts[1]);
        refused(&cfg, &[("authorization", &bearer(&unsigned))]);
    }
    // An RS256 signature of the right key but a truncated one.
    let rs = rs256(user_claims());
    let cut = &rs[..rs.len() - 4];
    refused(&cfg, &[("authorization", &bearer(cut))]);
}

#[test]
fn the_key_is_chosen_by_kid_and_algorithm() {
    let cfg = new_only();
    // A kid the set does not have.
    let unknown = token(
        json!({"alg": "ES256", "kid": "es-9"}),
        user_claims(),
        Sign::Es(&es_key(1)),
    );
    assert_eq!(
        refused(&cfg, &[("authorization", &bearer(&unknown))]),
        JwtError::UnknownKey.message()
    );
    // The RSA key's kid on an ES256 token, and the EC key's kid on an RS256 token.
    let crossed = token(
        json!({"alg": "ES256", "kid": "rs-1"}),
        user_claims(),
        Sign::Es(&es_key(1)),
    );
    refused(&cfg, &[("authorization", &bearer(&crossed))]);
    let key = rsa_key(RSA_PEM);
    let crossed = token(
        json!({"alg": "RS256", "kid": "es-1"}),
        user_claims(),
        Sign::Rs(&key),
    );
    refused(&cfg, &[("authorization", &bearer(&crossed))]);
    // An ES256 signature presented as RS256 under the RSA key.
    let es_sig_as_rs = token(
        json!({"alg": "RS256", "kid": "rs-1"}),
        user_claims(),
        Sign::Es(&es_key(1)),
    );
    refused(&cfg, &[("authorization", &bearer(&es_sig_as_rs))]);
    // No kid: any key of the algorithm may verify it, a foreign key still fails.
    let no_kid = token(json!({"alg": "ES256"}), user_claims(), Sign::Es(&es_key(1)));
    assert!(auth_as(&cfg, &[("authorization", &bearer(&no_kid))]).is_ok());
    let no_kid_foreign = token(json!({"alg": "ES256"}), user_claims(), Sign::Es(&es_key(3)));
    refused(&cfg, &[("authorization", &bearer(&no_kid_foreign))]);
    // A kid that is not a string.
    let bad_kid = token(
        json!({"alg": "ES256", "kid": 1}),
        user_claims(),
        Sign::Es(&es_key(1)),
    );
    refused(&cfg, &[("authorization", &bearer(&bad_kid))]);
    // An empty JWKS verifies nothing.
    let empty = AuthConfig::default().with_secret_key(SECRET_KEY);
    refused(&empty, &[("authorization", &bearer(&es256(user_claims())))]);
}

#[test]
fn expiry_and_not_before_are_checked_against_the_clock() {
    let cfg = both();
    for (claims, ok) in [
        (with(user_claims(), json!({"exp": NOW + 1})), true),
        (with(user_claims(), json!({"exp": NOW})), false),
        (with(user_claims(), json!({"exp": NOW - 3600})), false),
        (with(user_claims(), json!({"exp": null})), false),
        (with(user_claims(), json!({"exp": "never"})), false),
        (
            with(user_claims(), json!({"exp": (NOW + 60) as f64 + 0.5})),
            true,
        ),
        (with(user_claims(), json!({"nbf": NOW})), true),
        (with(user_claims(), json!({"nbf": NOW + 1})), false),
        (with(user_claims(), json!({"nbf": NOW + 3600})), false),
        (with(user_claims(), json!({"nbf": "soon"})), false),
    ] {
        for t in [es256(claims.clone()), hs256(claims.clone(), JWT_SECRET)] {
            let got = auth_as(&cfg, &[("authorization", &bearer(&t))]);
            assert_eq!(got.is_ok(), ok, "{claims}");
        }
    }
    let expired = es256(with(user_claims(), json!({"exp": NOW - 1})));
    assert_eq!(
        refused(&cfg, &[("authorization", &bearer(&expired))]),
        "JWT expired"
    );
    let early = es256(with(user_claims(), json!({"nbf": NOW + 60})));
    assert_eq!(
        refused(&cfg, &[("authorization", &bearer(&early))]),
        JwtError::NotYetValid.message()
    );
    // The same token is fine an hour earlier: the clock is the one passed in.
    assert!(cfg
        .authenticate(
            &headers(&[("authorization", &bearer(&expired))]),
            NOW - 3600
        )
        .is_ok());
}

#[test]
fn users_need_the_authenticated_audience_and_a_subject() {
    let cfg = new_only();
    for changes in [
        json!({"aud": "anon"}),
        json!({"aud": null}),
        json!({"aud": ["other", "app"]}),
        json!({"aud": 1}),
        json!({"sub": null}),
        json!({"sub": ""}),
        json!({"sub": 7}),
    ] {
        let t = es256(with(user_claims(), changes.clone()));
        refused(&cfg, &[("authorization", &bearer(&t))]);
    }
    let listed = es256(with(
        user_claims(),
        json!({"aud": ["other", "authenticated"]}),
    ));
    assert!(auth_as(&cfg, &[("authorization", &bearer(&listed))]).is_ok());
    // No role claim: a user of role authenticated.
    let no_role = es256(with(user_claims(), json!({"role": null})));
    assert_eq!(
        auth_as(&cfg, &[("authorization", &bearer(&no_role))])
            .unwrap()
            .role(),
        "authenticated"
    );
}

#[test]
fn alg_none_and_unknown_algorithms_are_refused() {
    let cfg = both();
    let claims = user_claims();
    for alg in [
        "none", "None", "NONE", "", "HS384", "HS512", "ES384", "ES512", "PS256", "RS512", "EdDSA",
    ] {
        for sig in [Vec::new(), vec![0u8; 64], vec![1u8; 256]] {
            let t = token(
                json!({"alg": alg, "kid": "es-1"}),
                claims.clone(),
                Sign::Raw(sig),
            );
            assert_eq!(
                refused(&cfg, &[("authorization", &bearer(&t))]),
                JwtError::UnsupportedAlg.message(),
                "{alg}"
            );
        }
    }
    // No alg at all, or not a string.
    for header in [
        json!({"typ": "JWT"}),
        json!({"alg": 256}),
        json!({"alg": null}),
    ] {
        let t = token(header, claims.clone(), Sign::Raw(vec![0; 64]));
        refused(&cfg, &[("authorization", &bearer(&t))]);
    }
    // A critical extension this code does not understand.
    let crit = token(
        json!({"alg": "ES256", "kid": "es-1", "crit": ["exp"]}),
        claims,
        Sign::Es(&es_key(1)),
    );
    refused(&cfg, &[("authorization", &bearer(&crit))]);
}

#[test]
fn alg_confusion_with_the_public_key_as_hmac_secret_is_refused() {
    let public = es_key(1).verifying_key().to_encoded_point(false);
    let jwk_text = ec_jwk(&es_key(1), "es-1").to_string();
    let rsa_n = rsa_key(RSA_PEM).n().to_bytes_be();
    let set_text = jwks_json().to_string();
    let secrets: [&[u8]; 4] = [
        public.as_bytes(),
        jwk_text.as_bytes(),
        set_text.as_bytes(),
        &rsa_n,
    ];
    for secret in secrets {
        for kid in ["es-1", "rs-1"] {
            let t = token(
                json!({"alg": "HS256", "kid": kid}),
                user_claims(),
                Sign::Hs(secret),
            );
            // Without a legacy secret HS256 is not an option; with one, only that secret counts.
            assert_eq!(
                refused(&new_only(), &[("authorization", &bearer(&t))]),
                JwtError::UnsupportedAlg.message()
            );
            assert_eq!(
                refused(&both(), &[("authorization", &bearer(&t))]),
                JwtError::BadSignature.message()
            );
        }
    }
}

#[test]
fn malformed_tokens_are_refused_without_panicking() {
    let cfg = both();
    let good = es256(user_claims());
    let parts: Vec<&str> = good.split('.').collect();
    let signed_garbage = |payload: &[u8]| {
        let input = format!("{}.{}", parts[0], b64(payload));
        let s: p256::ecdsa::Signature = es_key(1).sign(input.as_bytes());
        format!("{input}.{}", b64(&s.to_bytes()))
    };
    let huge = format!("{}.{}.{}", parts[0], "A".repeat(20_000), parts[2]);
    let cases = vec![
        "x".to_string(),
        "a.b".into(),
        "a.b.c.d".into(),
        "...".into(),
        "abc.def.ghi".into(),
        format!("{}.{}.{}.", parts[0], parts[1], parts[2]),
        format!("{}=.{}.{}", parts[0], parts[1], parts[2]),
        format!("{}.{}.{}=", parts[0], parts[1], parts[2]),
        format!("{}.{}.{}", parts[0], parts[1], parts[2].replace('A', "+")),
        format!("{}.!!!.{}", parts[0], parts[2]),
        format!("{}.{}.{}", b64(b"not json"), parts[1], parts[2]),
        format!("{}.{}.{}", b64(b"[1,2]"), parts[1], parts[2]),
        format!("{}.{}.{}", b64(b"\"ES256\""), parts[1], parts[2]),
        signed_garbage(b"not json"),
        signed_garbage(b"[\"sub\"]"),
        signed_garbage(b"null"),
        huge,
        "\u{1F600}.x.y".into(),
    ];
    for t in cases {
        match header_value(&bearer(&t)) {
            Some(v) => {
                refused(&cfg, &[("authorization", &v)]);
            }
            None => continue, // not a valid header value: cannot arrive
        }
        // And straight through the verifier.
        let keys = jwt::Keys {
            jwks: &jwks(),
            hs256_secret: Some(JWT_SECRET.as_bytes()),
        };
        assert!(jwt::verify(&t, keys, NOW).is_err());
    }
    // Authorization headers that are not a bearer token.
    for value in [
        "Basic dXNlcjpwYXNz",
        "Bearer",
        "Bearer    ",
        "Token abc",
        good.as_str(),
    ] {
        refused(&cfg, &[("authorization", value)]);
    }
    // No credentials at all.
    refused(&cfg, &[]);
    refused(&cfg, &[("apikey", "")]);
}

/// Header values must be visible ASCII: cases that could never arrive are skipped.
fn header_value(v: &str) -> Option<String> {
    ::http::HeaderValue::from_str(v)
        .ok()
        .and_then(|h| h.to_str().ok().map(str::to_owned))
}

// --- API keys and the legacy JWTs -------------------------------------------------------------

#[test]
fn the_secret_key_is_the_service_role_in_apikey_or_as_the_same_bearer() {
    let cfg = new_only();
    for pairs in [
        vec![("apikey", SECRET_KEY.to_string())],
        vec![("authorization", bearer(SECRET_KEY))],
        vec![
            ("apikey", SECRET_KEY.into()),
            ("authorization", bearer(SECRET_KEY)),
        ],
        // Every configured secret key counts (rotation).
        vec![("apikey", OTHER_SECRET_KEY.into())],
        vec![("authorization", format!("bearer {SECRET_KEY}"))],
    ] {
        let pairs: Vec<(&str, &str)> = pairs.iter().map(|(n, v)| (*n, v.as_str())).collect();
        let c = auth_as(&cfg, &pairs).unwrap();
        assert!(c.is_service_role(), "{pairs:?}");
        assert_eq!(c.scope(), "role:service_role");
        assert_eq!(c.user_id(), None);
    }
}

#[test]
fn wrong_or_mismatched_api_keys_are_refused() {
    let cfg = both();
    let near = format!("{}x", &SECRET_KEY[..SECRET_KEY.len() - 1]);
    let prefix = &SECRET_KEY[..SECRET_KEY.len() - 1];
    for pairs in [
        vec![("apikey", near.clone())],
        vec![("apikey", prefix.to_string())],
        vec![("apikey", format!("{SECRET_KEY}x"))],
        vec![("apikey", "sb_secret_".to_string())],
        vec![("authorization", bearer(&near))],
        // A bearer sb_ key that differs from apikey, in both directions.
        vec![
            ("apikey", PUBLISHABLE_KEY.into()),
            ("authorization", bearer(SECRET_KEY)),
        ],
        vec![
            ("apikey", SECRET_KEY.into()),
            ("authorization", bearer(PUBLISHABLE_KEY)),
        ],
        vec![
            ("apikey", SECRET_KEY.into()),
            ("authorization", bearer(OTHER_SECRET_KEY)),
        ],
        vec![
            ("apikey", ANON.into()),
            ("authorization", bearer(SECRET_KEY)),
        ],
        // Not a key at all.
        vec![("apikey", "service_role".into())],
    ] {
        let pairs: Vec<(&str, &str)> = pairs.iter().map(|(n, v)| (*n, v.as_str())).collect();
        refused(&cfg, &pairs);
    }
    // A project without secret keys accepts none.
    let legacy = AuthConfig::default().with_legacy_keys(SERVICE, ANON);
    refused(&legacy, &[("apikey", SECRET_KEY)]);
}

#[test]
fn the_publishable_key_and_the_anon_jwt_are_public() {
    for (cfg, pairs) in [
        (new_only(), vec![("apikey", PUBLISHABLE_KEY)]),
        (
            new_only(),
            vec![
                ("apikey", PUBLISHABLE_KEY),
                ("authorization", &bearer(PUBLISHABLE_KEY) as &str),
            ],
        ),
        (both(), vec![("authorization", &bearer(ANON) as &str)]),
        (both(), vec![("apikey", ANON)]),
        // The anon JWT verified by signature (no exact match configured).
        (
            AuthConfig::default().with_jwt_secret(JWT_SECRET.as_bytes()),
            vec![("authorization", &bearer(ANON) as &str)],
        ),
    ] {
        let c = auth_as(&cfg, &pairs).unwrap();
        assert_eq!(c, Caller::Public, "{pairs:?}");
        assert_eq!(c.scope(), "role:anon");
        let e = c.require_user_or_service().unwrap_err();
        assert_eq!(e.status(), 401);
    }
    // The anon JWT where no legacy key or secret is known: just an unverifiable token.
    refused(&new_only(), &[("authorization", &bearer(ANON))]);
}

#[test]
fn the_legacy_service_role_jwt_is_the_service_role() {
    // Matched exactly (hosted functions know the key but not the JWT secret).
    let exact = AuthConfig::default().with_legacy_keys(SERVICE, ANON);
    assert!(auth_as(&exact, &[("authorization", &bearer(SERVICE))])
        .unwrap()
        .is_service_role());
    assert!(auth_as(&exact, &[("apikey", SERVICE)])
        .unwrap()
        .is_service_role());
    // Verified with the JWT secret: another service_role token of the same project.
    let minted = hs256(json!({"role": "service_role", "exp": NOW + 60}), JWT_SECRET);
    let by_secret = AuthConfig::default().with_jwt_secret(JWT_SECRET.as_bytes());
    assert!(auth_as(&by_secret, &[("authorization", &bearer(&minted))])
        .unwrap()
        .is_service_role());
    // Neither: the legacy key is just an unverifiable HS256 token.
    refused(&new_only(), &[("authorization", &bearer(SERVICE))]);
    // Forged with another secret, or expired.
    let forged = hs256(
        json!({"role": "service_role", "exp": NOW + 60}),
        "x".repeat(40).as_str(),
    );
    refused(&both(), &[("authorization", &bearer(&forged))]);
    let expired = hs256(json!({"role": "service_role", "exp": NOW - 60}), JWT_SECRET);
    refused(&both(), &[("authorization", &bearer(&expired))]);
    // Only the service role passes require_service_role.
    assert!(Caller::ServiceRole.require_service_role("x").is_ok());
    assert_eq!(
        user("t").require_service_role("x").unwrap_err().status(),
        401
    );
    assert_eq!(
        Caller::Public
            .require_service_role("x")
            .unwrap_err()
            .status(),
        401
    );
}

// --- configuration ------------------------------------------------------------------------------

fn env<'a>(pairs: &'a [(&'static str, String)]) -> impl Fn(&str) -> Option<&'a str> + 'a {
    move |name| {
        pairs
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }
}

#[test]
fn config_reads_supabase_env_variables() {
    let vars = [
        (
            "SUPABASE_SECRET_KEYS",
            json!({"default": SECRET_KEY, "ci": OTHER_SECRET_KEY}).to_string(),
        ),
        (
            "SUPABASE_PUBLISHABLE_KEYS",
            json!({"default": PUBLISHABLE_KEY}).to_string(),
        ),
        ("SUPABASE_JWKS", jwks_json().to_string()),
    ];
    let cfg = AuthConfig::from_env(env(&vars)).unwrap();
    assert_eq!(cfg.jwks_len(), 2);
    assert!(auth_as(&cfg, &[("apikey", OTHER_SECRET_KEY)])
        .unwrap()
        .is_service_role());
    assert_eq!(
        auth_as(&cfg, &[("apikey", PUBLISHABLE_KEY)]).unwrap(),
        Caller::Public
    );
    let es = es256(user_claims());
    assert_eq!(
        auth_as(&cfg, &[("authorization", &bearer(&es))]).unwrap(),
        user(&es)
    );
    // No legacy secret in this env: HS256 is refused.
    let hs = hs256(user_claims(), JWT_SECRET);
    refused(&cfg, &[("authorization", &bearer(&hs))]);
    // Debug names what is configured, never a value.
    let debug = format!("{cfg:?}");
    assert!(
        !debug.contains("sb_secret") && !debug.contains("sb_publishable"),
        "{debug}"
    );

    // Singular names, a bare-array JWKS, and both legacy secret names.
    for secret_name in ["JWT_SECRET", "SUPABASE_JWT_SECRET"] {
        let vars = [
            ("SUPABASE_SECRET_KEY", SECRET_KEY.to_string()),
            ("SUPABASE_PUBLISHABLE_KEY", PUBLISHABLE_KEY.to_string()),
            ("SUPABASE_JWKS", jwks_json()["keys"].to_string()),
            (secret_name, JWT_SECRET.to_string()),
        ];
        let cfg = AuthConfig::from_env(env(&vars)).unwrap();
        assert_eq!(cfg.jwks_len(), 2);
        assert!(auth_as(&cfg, &[("apikey", SECRET_KEY)])
            .unwrap()
            .is_service_role());
        assert_eq!(
            auth_as(&cfg, &[("authorization", &bearer(&hs))]).unwrap(),
            user(&hs)
        );
    }
}

#[test]
fn malformed_key_variables_are_a_500_that_names_the_variable_only() {
    for (name, value) in [
        ("SUPABASE_SECRET_KEYS", SECRET_KEY.to_string()),
        ("SUPABASE_SECRET_KEYS", json!({"default": 1}).to_string()),
        ("SUPABASE_SECRET_KEYS", json!({"default": ""}).to_string()),
        ("SUPABASE_PUBLISHABLE_KEYS", "[".into()),
        ("SUPABASE_JWKS", "{".into()),
        ("SUPABASE_JWKS", json!({"no_keys": []}).to_string()),
        ("SUPABASE_JWKS", json!("keys").to_string()),
    ] {
        let vars = [(name, value.clone())];
        let e = AuthConfig::from_env(env(&vars)).unwrap_err();
        assert_eq!(e.status(), 500);
        assert!(e.log_detail().unwrap().contains(name));
        assert!(!e.log_detail().unwrap().contains(SECRET_KEY));
        assert!(!e.body().to_string().contains(name), "the body is generic");
    }
}

#[test]
fn jwks_keeps_only_usable_signing_keys() {
    let es = ec_jwk(&es_key(1), "es-1");
    let mut off_curve = es.clone();
    off_curve["y"] = json!(b64(&[7u8; 32]));
    let mut short_x = es.clone();
    short_x["x"] = json!(b64(&[7u8; 31]));
    let mut enc = es.clone();
    enc["use"] = json!("enc");
    let mut sign_only = es.clone();
    sign_only["key_ops"] = json!(["sign"]);
    let mut p384 = es.clone();
    p384["crv"] = json!("P-384");
    let mut es_as_rs = es.clone();
    es_as_rs["alg"] = json!("RS256");
    let mut with_private = es.clone();
    with_private["d"] = json!(b64(&[1u8; 32]));
    with_private["kid"] = json!("with-d");
    let set = json!([
        es,
        off_curve,
        short_x,
        enc,
        sign_only,
        p384,
        es_as_rs,
        with_private,
        rsa_jwk(&rsa_key(RSA_1024_PEM), "rs-short"),
        rsa_jwk(&rsa_key(RSA_PEM), "rs-1"),
        {"kty": "oct", "k": b64(JWT_SECRET.as_bytes()), "alg": "HS256", "kid": "hs"},
        {"kty": "OKP", "crv": "Ed25519", "x": b64(&[1; 32]), "kid": "ed"},
        {"kty": "RSA", "kid": "rs-no-n", "e": "AQAB"},
        "not an object",
        42,
    ]);
    let jwks = Jwks::parse(&set.to_string()).unwrap();
    assert_eq!(jwks.len(), 3, "{jwks:?}");
    assert_eq!(
        format!("{jwks:?}"),
        r#"[("es-1", "ES256"), ("with-d", "ES256"), ("rs-1", "RS256")]"#
    );
    // An oct key in the set never turns into an HS256 verifier.
    let cfg = AuthConfig::default().with_jwks(jwks);
    let t = token(
        json!({"alg": "HS256", "kid": "hs"}),
        user_claims(),
        Sign::Hs(JWT_SECRET.as_bytes()),
    );
    refused(&cfg, &[("authorization", &bearer(&t))]);
}

#[test]
fn rest_keys_prefer_the_new_keys() {
    let new = [
        (
            "SUPABASE_SECRET_KEYS",
            json!({"ci": OTHER_SECRET_KEY, "default": SECRET_KEY}).to_string(),
        ),
        (
            "SUPABASE_PUBLISHABLE_KEYS",
            json!({"default": PUBLISHABLE_KEY}).to_string(),
        ),
        ("SUPABASE_SERVICE_ROLE_KEY", SERVICE.to_string()),
        ("SUPABASE_ANON_KEY", ANON.to_string()),
    ];
    let keys = RestKeys::from_env(env(&new)).unwrap();
    assert_eq!(keys.service, ServiceKey::Secret(SECRET_KEY.into()));
    assert_eq!(keys.public.as_deref(), Some(PUBLISHABLE_KEY));
    assert!(!format!("{keys:?}").contains("sb_"));
    let only_new = &new[..2];
    assert_eq!(
        RestKeys::from_env(env(only_new)).unwrap().service,
        ServiceKey::Secret(SECRET_KEY.into())
    );
    let legacy = &new[2..];
    let keys = RestKeys::from_env(env(legacy)).unwrap();
    assert_eq!(keys.service, ServiceKey::LegacyJwt(SERVICE.into()));
    assert_eq!(keys.public.as_deref(), Some(ANON));
    let single = [("SUPABASE_SECRET_KEY", SECRET_KEY.to_string())];
    let keys = RestKeys::from_env(env(&single)).unwrap();
    assert_eq!(keys.service, ServiceKey::Secret(SECRET_KEY.into()));
    assert_eq!(keys.public, None);
    let e = RestKeys::from_env(env(&[])).unwrap_err();
    assert_eq!(e.status(), 500);
}

#[test]
fn a_service_role_claim_signed_by_the_project_key_is_the_service_role() {
    // What a gateway mints for a secret key: signed by the project, role service_role, no aud.
    let t = es256(json!({"role": "service_role", "exp": NOW + 60}));
    assert!(auth_as(&new_only(), &[("authorization", &bearer(&t))])
        .unwrap()
        .is_service_role());
    // The same claim under a foreign key is nothing.
    let forged = token(
        json!({"alg": "ES256", "kid": "es-1"}),
        json!({"role": "service_role", "exp": NOW + 60}),
        Sign::Es(&es_key(9)),
    );
    refused(&new_only(), &[("authorization", &bearer(&forged))]);
}

#[test]
fn verified_tokens_are_cached_but_their_time_is_checked_on_every_use() {
    let cfg = new_only();
    let t = es256(with(user_claims(), json!({"exp": NOW + 60})));
    let h = headers(&[("authorization", &bearer(&t))]);
    assert!(cfg.authenticate(&h, NOW).is_ok());
    assert_eq!(cfg.verified_cached(), 1);
    assert!(cfg.authenticate(&h, NOW + 59).is_ok());
    let e = cfg.authenticate(&h, NOW + 60).unwrap_err();
    assert_eq!(e.public_message(), "JWT expired");
    // A refused signature is not cached; a forged token stays refused.
    let forged = token(
        json!({"alg": "ES256", "kid": "es-1"}),
        user_claims(),
        Sign::Es(&es_key(2)),
    );
    refused(&cfg, &[("authorization", &bearer(&forged))]);
    refused(&cfg, &[("authorization", &bearer(&forged))]);
    assert_eq!(cfg.verified_cached(), 1);
    // Bounded: emptied when full.
    let secret = AuthConfig::default().with_jwt_secret(JWT_SECRET.as_bytes());
    for i in 0..(super::VERIFIED_CACHE_SIZE + 3) {
        let t = hs256(with(user_claims(), json!({"jti": i})), JWT_SECRET);
        assert!(auth_as(&secret, &[("authorization", &bearer(&t))]).is_ok());
    }
    assert!(secret.verified_cached() <= super::VERIFIED_CACHE_SIZE);
}
