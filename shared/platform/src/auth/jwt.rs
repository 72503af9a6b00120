//! JWS compact tokens: split, decode, verify the signature, then check `exp` and `nbf`.
//!
//! Accepted algorithms: `ES256` and `RS256` with a key of the project's JWKS (chosen by `kid`),
//! `HS256` only with the legacy JWT secret. Nothing else: `none`, `HS384`, `PS256`, `EdDSA`, ...
//! are refused, and the header's `alg` picks the key *type*, so a token HMAC-signed with a public
//! key's bytes never meets that key. The claims are parsed only after the signature verified.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use p256::ecdsa::signature::Verifier as _;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use super::jwks::{Jwks, VerifyingKey};

/// Longest token looked at (Supabase's are well under 2 KiB).
pub const MAX_TOKEN_LEN: usize = 16 * 1024;

/// Why a token was refused. None of these carry any part of the token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JwtError {
    /// Not three base64url parts, or a header/claims part that is not a JSON object.
    Malformed,
    /// `alg` is not ES256/RS256, or HS256 without a legacy secret, or a `crit` header.
    UnsupportedAlg,
    /// No key of the set has this `kid` (and algorithm).
    UnknownKey,
    /// The signature does not verify.
    BadSignature,
    /// `exp` is missing or not a number.
    MissingExpiry,
    /// `exp` is past.
    Expired,
    /// `nbf` is in the future.
    NotYetValid,
}

impl JwtError {
    /// The message a 401 carries.
    pub fn message(self) -> &'static str {
        match self {
            Self::Malformed => "invalid JWT: malformed",
            Self::UnsupportedAlg => "invalid JWT: unsupported algorithm",
            Self::UnknownKey => "invalid JWT: no signing key matches its kid",
            Self::BadSignature => "invalid JWT: bad signature",
            Self::MissingExpiry => "invalid JWT: no exp claim",
            Self::Expired => "JWT expired",
            Self::NotYetValid => "JWT not valid yet (nbf)",
        }
    }
}

/// The keys tokens are verified with.
#[derive(Clone, Copy)]
pub struct Keys<'a> {
    pub jwks: &'a Jwks,
    /// The legacy HS256 secret, when configured.
    pub hs256_secret: Option<&'a [u8]>,
}

/// A token whose signature verified and whose time claims hold.
#[derive(Debug, Clone, PartialEq)]
pub struct Verified {
    pub alg: &'static str,
    pub claims: Map<String, Value>,
}

fn decode_part(part: &str) -> Result<Vec<u8>, JwtError> {
    URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|_| JwtError::Malformed)
}

fn json_object(bytes: &[u8]) -> Result<Map<String, Value>, JwtError> {
    // Through `from_str`, as every other JSON this code reads: one reader's deserializer in the
    // wasm instead of two (`from_slice` is a second instantiation of serde_json's parser).
    let text = std::str::from_utf8(bytes).map_err(|_| JwtError::Malformed)?;
    match serde_json::from_str(text) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(JwtError::Malformed),
    }
}

/// A NumericDate claim as whole seconds (fractions are floored).
fn numeric_date(v: &Value) -> Option<i64> {
    v.as_i64().or_else(|| {
        v.as_f64()
            .filter(|f| f.is_finite())
            .map(|f| f.floor() as i64)
    })
}

/// Verify `token` and check `exp` (required) and `nbf` against `now_unix`.
pub fn verify(token: &str, keys: Keys<'_>, now_unix: i64) -> Result<Verified, JwtError> {
    let verified = verify_signature(token, keys)?;
    check_time(&verified.claims, now_unix)?;
    Ok(verified)
}

/// `exp` (required) and `nbf` against `now_unix`.
pub fn check_time(claims: &Map<String, Value>, now_unix: i64) -> Result<(), JwtError> {
    let exp = claims
        .get("exp")
        .and_then(numeric_date)
        .ok_or(JwtError::MissingExpiry)?;
    if now_unix >= exp {
        return Err(JwtError::Expired);
    }
    match claims.get("nbf") {
        None => Ok(()),
        Some(v) => {
            let nbf = numeric_date(v).ok_or(JwtError::Malformed)?;
            if now_unix < nbf {
                return Err(JwtError::NotYetValid);
            }
            Ok(())
        }
    }
}

/// Decode `token` and verify its signature; the claims are parsed only if it verifies. No time
/// check: see [`check_time`].
pub fn verify_signature(token: &str, keys: Keys<'_>) -> Result<Verified, JwtError> {
    if token.len() > MAX_TOKEN_LEN {
        return Err(JwtError::Malformed);
    }
    let mut parts = token.split('.');
    let (Some(h), Some(p), Some(s), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(JwtError::Malformed);
    };
    let header = json_object(&decode_part(h)?)?;
    let payload = decode_part(p)?;
    let sig = decode_part(s)?;
    if header.contains_key("crit") {
        return Err(JwtError::UnsupportedAlg);
    }
    let kid = match header.get("kid") {
        None => None,
        Some(Value::String(k)) => Some(k.as_str()),
        Some(_) => return Err(JwtError::Malformed),
    };
    let signing_input = &token.as_bytes()[..h.len() + 1 + p.len()];
    let alg = match header.get("alg").and_then(Value::as_str) {
        Some("HS256") => {
            let secret = keys.hs256_secret.ok_or(JwtError::UnsupportedAlg)?;
            let mut mac =
                Hmac::<Sha256>::new_from_slice(secret).map_err(|_| JwtError::UnsupportedAlg)?;
            mac.update(signing_input);
            // Constant time, and only for a tag of the full length.
            mac.verify_slice(&sig).map_err(|_| JwtError::BadSignature)?;
            "HS256"
        }
        Some(alg @ ("ES256" | "RS256")) => {
            let mut candidates = keys.jwks.candidates(alg, kid).peekable();
            if candidates.peek().is_none() {
                return Err(JwtError::UnknownKey);
            }
            let ok = match alg {
                "ES256" => {
                    // JWS carries r || s (64 bytes), not DER.
                    let sig = p256::ecdsa::Signature::from_slice(&sig)
                        .map_err(|_| JwtError::BadSignature)?;
                    candidates.any(|k| match k {
                        VerifyingKey::Es256(k) => k.verify(signing_input, &sig).is_ok(),
                        VerifyingKey::Rs256(_) => false,
                    })
                }
                _ => {
                    let hashed = Sha256::digest(signing_input);
                    candidates.any(|k| match k {
                        VerifyingKey::Rs256(k) => k
                            .verify(rsa::Pkcs1v15Sign::new::<Sha256>(), &hashed, &sig)
                            .is_ok(),
                        VerifyingKey::Es256(_) => false,
                    })
                }
            };
            if !ok {
                return Err(JwtError::BadSignature);
            }
            if alg == "ES256" {
                "ES256"
            } else {
                "RS256"
            }
        }
        _ => return Err(JwtError::UnsupportedAlg),
    };
    let claims = json_object(&payload)?;
    Ok(Verified { alg, claims })
}
