//! Standard Webhooks (also Svix and Supabase Auth Hooks): `v1` (HMAC-SHA256) and `v1a`
//! (ed25519) signatures over `{id}.{timestamp}.{body}`.
//!
//! Headers are `webhook-id`, `webhook-timestamp` and `webhook-signature`, or the same with the
//! `svix-` prefix. The family is chosen once per request (`webhook-` if any of its three headers
//! is present, else `svix-`) so a request never mixes the two. `webhook-signature` is a
//! space-separated list of `version,base64` entries; duplicated signature headers are read as
//! one longer list. Entries of unknown versions are ignored, entries that do not decode to
//! exactly a digest's length never match, and one matching entry is enough. The timestamp must
//! lie within the tolerance in the past *and* in the future, as in the reference libraries.

use ed25519_dalek::{Signature, Signer as _};

use super::crypto::{decode_base64, encode_base64, hmac_sha256, tag_matches, Tag};
use super::headers::{self, HeaderSource, MAX_HEADER_LEN, MAX_SIGNATURE_ENTRIES};
use super::secret::{Secret, SecretKind};
use super::{Request, Verified, WebhookError};

/// The header names of one family (`webhook-*` or `svix-*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeaderNames {
    /// The message id: the same across retries, the idempotency key.
    pub id: &'static str,
    /// Unix seconds of this delivery attempt.
    pub timestamp: &'static str,
    /// The space-separated signature entries.
    pub signature: &'static str,
}

/// `webhook-id`, `webhook-timestamp`, `webhook-signature`.
pub const WEBHOOK_HEADERS: HeaderNames = HeaderNames {
    id: "webhook-id",
    timestamp: "webhook-timestamp",
    signature: "webhook-signature",
};

/// `svix-id`, `svix-timestamp`, `svix-signature`.
pub const SVIX_HEADERS: HeaderNames = HeaderNames {
    id: "svix-id",
    timestamp: "svix-timestamp",
    signature: "svix-signature",
};

/// Signs `body` as message `msg_id` sent at `timestamp` and returns the `webhook-signature`
/// header value. `secret` is parsed like [`Secret::standard`]: a `whsec_` secret gives a
/// `v1,<base64>` entry, a `whsk_` key a `v1a,<base64>` entry, and several secrets joined by `|`
/// give several space-separated entries (as during a rotation). A `whpk_` public key cannot
/// sign: [`WebhookError::InvalidSecret`].
pub fn sign(
    secret: &str,
    msg_id: &str,
    timestamp: i64,
    body: &[u8],
) -> Result<String, WebhookError> {
    let timestamp = timestamp.to_string();
    let entries = Secret::standard(secret)?
        .iter()
        .map(|secret| match secret.kind() {
            SecretKind::Hmac(key) => {
                let tag = hmac_sha256(
                    key,
                    &[msg_id.as_bytes(), b".", timestamp.as_bytes(), b".", body],
                )?;
                Ok(format!("v1,{}", encode_base64(&tag)))
            }
            SecretKind::Ed25519Secret(key) => {
                let signature = key.sign(&signed_content(msg_id.as_bytes(), &timestamp, body));
                Ok(format!("v1a,{}", encode_base64(&signature.to_bytes())))
            }
            SecretKind::Ed25519Public(_) | SecretKind::P256Public(_) => {
                Err(WebhookError::InvalidSecret)
            }
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(entries.join(" "))
}

/// The `whpk_<base64>` public key of a `whsk_<base64>` secret key, to hand to consumers.
pub fn public_key(secret_key: &str) -> Result<String, WebhookError> {
    match Secret::standard(secret_key)?.as_slice() {
        [secret] => match secret.kind() {
            SecretKind::Ed25519Secret(key) => Ok(format!(
                "whpk_{}",
                encode_base64(key.verifying_key().as_bytes())
            )),
            _ => Err(WebhookError::InvalidSecret),
        },
        _ => Err(WebhookError::InvalidSecret),
    }
}

/// `{id}.{timestamp}.{body}` in one buffer (ed25519 needs the whole message).
fn signed_content(id: &[u8], timestamp: &str, body: &[u8]) -> Vec<u8> {
    let mut content = Vec::with_capacity(id.len() + timestamp.len() + body.len() + 2);
    content.extend_from_slice(id);
    content.push(b'.');
    content.extend_from_slice(timestamp.as_bytes());
    content.push(b'.');
    content.extend_from_slice(body);
    content
}

/// Which header family a request uses.
fn header_names<H: HeaderSource + ?Sized>(headers: &H) -> HeaderNames {
    let uses = |names: HeaderNames| {
        [names.id, names.timestamp, names.signature]
            .iter()
            .any(|name| headers::present(headers, name))
    };
    if !uses(WEBHOOK_HEADERS) && uses(SVIX_HEADERS) {
        SVIX_HEADERS
    } else {
        WEBHOOK_HEADERS
    }
}

/// Verifies a Standard Webhooks request (the body size is checked by the caller).
pub(crate) fn verify(r: &Request<'_>) -> Result<Verified, WebhookError> {
    let (secrets, headers, body) = (r.secrets, r.headers, r.body);
    let (now_unix, tolerance_secs) = (r.now_unix, r.tolerance_secs);
    let names = header_names(headers);
    let id = headers::required(headers, names.id)?;
    let id = headers::text(id, names.id)?;
    // A `.` in the id would make `{id}.{timestamp}.{body}` ambiguous (the spec forbids it).
    if id.contains('.') {
        return Err(WebhookError::MalformedHeader(names.id));
    }
    let timestamp = headers::unix_seconds(
        headers::required(headers, names.timestamp)?,
        names.timestamp,
    )?;
    let entries = signature_entries(headers, names.signature)?;
    super::check_timestamp(timestamp, now_unix, tolerance_secs)?;

    let timestamp_text = timestamp.to_string();
    let tags = secrets
        .iter()
        .filter_map(|s| {
            s.hmac_sha256(&[id.as_bytes(), b".", timestamp_text.as_bytes(), b".", body])
        })
        .collect::<Vec<Tag>>();
    let public_keys: Vec<_> = secrets.iter().filter_map(Secret::verifying_key).collect();
    let mut content = None;

    for entry in entries {
        let Some(comma) = entry.iter().position(|&b| b == b',') else {
            continue;
        };
        let (version, encoded) = (&entry[..comma], &entry[comma + 1..]);
        match version {
            b"v1" if !tags.is_empty() => {
                if let Some(candidate) = decode_base64(encoded) {
                    if tags.iter().any(|tag| tag_matches(tag, &candidate)) {
                        return Ok(verified(id, timestamp));
                    }
                }
            }
            b"v1a" if !public_keys.is_empty() => {
                let Some(bytes) = decode_base64(encoded) else {
                    continue;
                };
                let Ok(signature) = Signature::from_slice(&bytes) else {
                    continue;
                };
                let content = content
                    .get_or_insert_with(|| signed_content(id.as_bytes(), &timestamp_text, body));
                if public_keys
                    .iter()
                    .any(|key| key.verify_strict(content, &signature).is_ok())
                {
                    return Ok(verified(id, timestamp));
                }
            }
            _ => {} // unknown versions are ignored
        }
    }
    Err(WebhookError::NoMatchingSignature)
}

fn verified(id: String, timestamp: i64) -> Verified {
    Verified {
        id: Some(id),
        timestamp: Some(timestamp),
    }
}

/// All space-separated entries of every `signature` header, bounded in size and count.
///
/// Fetch's `Headers` joins a repeated header with ", ", so two `webhook-signature` headers
/// arrive as `v1,AAA=, v1,BBB=`: a trailing comma on an entry (never part of base64) is the
/// join, not the signature, and is dropped.
fn signature_entries<'h, H: HeaderSource + ?Sized>(
    headers: &'h H,
    name: &'static str,
) -> Result<Vec<&'h [u8]>, WebhookError> {
    let values = headers.header_values(name);
    if values.is_empty() {
        return Err(WebhookError::MissingHeader(name));
    }
    let mut entries = Vec::new();
    for value in values {
        if value.len() > MAX_HEADER_LEN {
            return Err(WebhookError::MalformedHeader(name));
        }
        entries.extend(
            value
                .split(|b| matches!(b, b' ' | b'\t'))
                .map(|entry| entry.strip_suffix(b",").unwrap_or(entry))
                .filter(|entry| !entry.is_empty()),
        );
        if entries.len() > MAX_SIGNATURE_ENTRIES {
            return Err(WebhookError::MalformedHeader(name));
        }
    }
    Ok(entries)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Scheme, Verifier};

    #[test]
    fn repeated_headers_joined_by_fetch_still_verify() {
        let verifier = Verifier::new(Scheme::StandardWebhooks, &[SECRET]).unwrap();
        let wrong = "v1,AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";
        for joined in [
            format!("{SIGNATURE}, {wrong}"),
            format!("{wrong}, {SIGNATURE}"),
        ] {
            let headers = vec![
                ("webhook-id", ID.to_string()),
                ("webhook-timestamp", TS.to_string()),
                ("webhook-signature", joined.clone()),
            ];
            assert!(verifier.verify(&headers, BODY, TS).is_ok(), "{joined}");
        }
        // A lone "v1," is still an empty signature, not a valid one.
        let headers = vec![
            ("webhook-id", ID.to_string()),
            ("webhook-timestamp", TS.to_string()),
            ("webhook-signature", "v1,, v1,".to_string()),
        ];
        assert!(verifier.verify(&headers, BODY, TS).is_err());
    }

    // The Standard Webhooks spec's published vector (its Rust library's test).
    const SECRET: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
    const ID: &str = "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk";
    const TS: i64 = 1_649_367_553;
    const BODY: &[u8] = br#"{"email":"test@example.com","username":"test_user"}"#;
    const SIGNATURE: &str = "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw=";

    // ed25519 vector computed independently with OpenSSL 3.0 from RFC 8032's test-1 seed:
    //   echo 302e020100300506032b657004220420<seed hex> | xxd -r -p > ed.der
    //   openssl pkey -inform DER -in ed.der -out ed.pem
    //   printf '%s' 'msg_2KWPBgLlAfxdpx2AI54pPJ85f4W.1674087231.{"type":"contact.created"}' \
    //     | openssl pkeyutl -sign -inkey ed.pem -rawin | base64 -w0
    //   openssl pkey -in ed.pem -pubout -outform DER | tail -c 32 | base64
    const ED_SECRET: &str = "whsk_nWGxne/9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A=";
    const ED_PUBLIC: &str = "whpk_11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=";
    const ED_ID: &str = "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W";
    const ED_TS: i64 = 1_674_087_231;
    const ED_BODY: &[u8] = br#"{"type":"contact.created"}"#;
    const ED_SIGNATURE: &str = concat!(
        "v1a,4ny2FhNoAyIFn4d0z3ProW0u46dYkaQ/Nz6GCqjRWVesje7/",
        "Lx5vYGuLoJRThHUBlnWSaiPaGHQO8meB4t40AQ=="
    );

    fn headers(names: HeaderNames, id: &str, ts: i64, sig: &str) -> Vec<(&'static str, Vec<u8>)> {
        vec![
            (names.id, id.into()),
            (names.timestamp, ts.to_string().into()),
            (names.signature, sig.into()),
        ]
    }

    #[test]
    fn published_vector_signs_and_verifies() {
        assert_eq!(sign(SECRET, ID, TS, BODY).unwrap(), SIGNATURE);
        let verifier = Verifier::new(Scheme::StandardWebhooks, &[SECRET]).unwrap();
        let verified = verifier
            .verify(&headers(WEBHOOK_HEADERS, ID, TS, SIGNATURE), BODY, TS)
            .unwrap();
        assert_eq!(verified.id.as_deref(), Some(ID));
        assert_eq!(verified.timestamp, Some(TS));
    }

    #[test]
    fn svix_headers_and_supabase_secret_form() {
        // Supabase Auth Hooks hand the secret as `v1,whsec_<base64>`.
        let verifier = Verifier::new(Scheme::StandardWebhooks, &[format!("v1,{SECRET}")]).unwrap();
        let svix = headers(SVIX_HEADERS, ID, TS, SIGNATURE);
        assert!(verifier.verify(&svix, BODY, TS).is_ok());
        // The reference libraries also accept the bare base64 secret.
        let bare = Verifier::new(Scheme::StandardWebhooks, &[&SECRET[6..]]).unwrap();
        assert!(bare.verify(&svix, BODY, TS).is_ok());
    }

    #[test]
    fn ed25519_vector_from_openssl() {
        assert_eq!(
            sign(ED_SECRET, ED_ID, ED_TS, ED_BODY).unwrap(),
            ED_SIGNATURE
        );
        assert_eq!(public_key(ED_SECRET).unwrap(), ED_PUBLIC);
        let hdrs = headers(WEBHOOK_HEADERS, ED_ID, ED_TS, ED_SIGNATURE);
        for key in [ED_PUBLIC, ED_SECRET] {
            let verifier = Verifier::new(Scheme::StandardWebhooks, &[key]).unwrap();
            assert_eq!(
                verifier.verify(&hdrs, ED_BODY, ED_TS).unwrap().timestamp,
                Some(ED_TS)
            );
            let err = verifier.verify(&hdrs, b"{}", ED_TS).unwrap_err();
            assert_eq!(err, WebhookError::NoMatchingSignature);
        }
        // An HMAC secret does not verify a v1a entry, nor an ed25519 key a v1 entry.
        let hmac = Verifier::new(Scheme::StandardWebhooks, &[SECRET]).unwrap();
        assert!(hmac.verify(&hdrs, ED_BODY, ED_TS).is_err());
        let ed = Verifier::new(Scheme::StandardWebhooks, &[ED_PUBLIC]).unwrap();
        assert!(ed
            .verify(&headers(WEBHOOK_HEADERS, ID, TS, SIGNATURE), BODY, TS)
            .is_err());
    }

    #[test]
    fn ed25519_secret_key_as_seed_and_public_key() {
        // The 64-byte `seed || public` form is accepted, and must be consistent.
        let seed = crate::crypto::decode_base64(&ED_SECRET.as_bytes()[5..]).unwrap();
        let public = crate::crypto::decode_base64(&ED_PUBLIC.as_bytes()[5..]).unwrap();
        let pair = format!("whsk_{}", encode_base64(&[seed.clone(), public].concat()));
        assert_eq!(sign(&pair, ED_ID, ED_TS, ED_BODY).unwrap(), ED_SIGNATURE);
        let wrong = format!("whsk_{}", encode_base64(&[seed.clone(), seed].concat()));
        assert_eq!(
            sign(&wrong, ED_ID, ED_TS, ED_BODY),
            Err(WebhookError::InvalidSecret)
        );
        // A public key cannot sign.
        assert_eq!(
            sign(ED_PUBLIC, ED_ID, ED_TS, ED_BODY),
            Err(WebhookError::InvalidSecret)
        );
        assert_eq!(public_key(ED_PUBLIC), Err(WebhookError::InvalidSecret));
    }

    #[test]
    fn joined_secrets_sign_one_entry_each() {
        let both = format!("{SECRET}|{ED_SECRET}");
        let header = sign(&both, ID, TS, BODY).unwrap();
        let entries: Vec<&str> = header.split(' ').collect();
        assert_eq!(entries.len(), 2);
        assert_eq!(entries[0], SIGNATURE);
        assert!(entries[1].starts_with("v1a,"));
        for key in [SECRET, ED_PUBLIC] {
            let verifier = Verifier::new(Scheme::StandardWebhooks, &[key]).unwrap();
            assert!(verifier
                .verify(&headers(WEBHOOK_HEADERS, ID, TS, &header), BODY, TS)
                .is_ok());
        }
    }

    #[test]
    fn secrets_are_validated() {
        for bad in [
            "",
            "whsec_",
            "whsec_not base64!",
            "whsec_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAA==", // 22 bytes: below the spec's 24
            "whsk_AAAA",
            "whpk_AAAA",
            "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD|", // an empty entry after `|`
        ] {
            assert_eq!(
                Secret::standard(bad).err(),
                Some(WebhookError::InvalidSecret),
                "{bad:?}"
            );
        }
        let long = format!("whsec_{}", encode_base64(&[7u8; 64]));
        assert!(Secret::standard(&long).is_ok());
        let too_long = format!("whsec_{}", encode_base64(&[7u8; 65]));
        assert!(Secret::standard(&too_long).is_err());
        // Unpadded base64 is accepted for secrets.
        assert!(Secret::standard(long.trim_end_matches('=')).is_ok());
    }
}
