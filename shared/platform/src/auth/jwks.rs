//! The project's public signing keys (`SUPABASE_JWKS`, the set served at
//! `/auth/v1/.well-known/jwks.json`), parsed once into verifying keys.
//!
//! Only what Supabase Auth signs with is kept: `EC` keys on `P-256` (ES256) and `RSA` keys of at
//! least 2048 bits (RS256). Other entries (Ed25519, P-384, symmetric `oct` keys, keys whose
//! `use` is not `sig`) are skipped, not errors: a set may hold keys this code does not need. A
//! private part (`d`, ...) is ignored.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde::Deserialize;
use serde_json::Value;

/// The smallest RSA modulus accepted (RFC 7518 §3.3).
pub const MIN_RSA_BITS: usize = 2048;
/// The largest RSA modulus accepted (bounds the cost of one verification).
pub const MAX_RSA_BITS: usize = 8192;

/// A verifying key and the algorithm it is for.
#[derive(Clone)]
pub enum VerifyingKey {
    /// ECDSA on P-256 with SHA-256.
    Es256(p256::ecdsa::VerifyingKey),
    /// RSASSA-PKCS1-v1_5 with SHA-256.
    Rs256(rsa::RsaPublicKey),
}

impl VerifyingKey {
    /// The JWS `alg` this key verifies.
    pub fn alg(&self) -> &'static str {
        match self {
            Self::Es256(_) => "ES256",
            Self::Rs256(_) => "RS256",
        }
    }
}

/// One key of the set.
#[derive(Clone)]
pub struct Jwk {
    pub kid: Option<String>,
    pub key: VerifyingKey,
}

/// The keys user JWTs are verified with.
#[derive(Clone, Default)]
pub struct Jwks {
    keys: Vec<Jwk>,
}

impl std::fmt::Debug for Jwks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(
                self.keys
                    .iter()
                    .map(|k| (k.kid.as_deref().unwrap_or("-"), k.key.alg())),
            )
            .finish()
    }
}

#[derive(Deserialize)]
struct RawJwk {
    kty: Option<String>,
    kid: Option<String>,
    alg: Option<String>,
    #[serde(rename = "use")]
    use_: Option<String>,
    key_ops: Option<Vec<String>>,
    crv: Option<String>,
    x: Option<String>,
    y: Option<String>,
    n: Option<String>,
    e: Option<String>,
}

/// Why a JWKS could not be read at all (individual unusable keys are skipped instead).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JwksError(pub String);

impl Jwks {
    /// Parse `{"keys": [...]}` or a bare array of JWKs.
    pub fn parse(text: &str) -> Result<Self, JwksError> {
        let value: Value = serde_json::from_str(text)
            .map_err(|e| JwksError(format!("SUPABASE_JWKS is not JSON: {e}")))?;
        let list = match value {
            Value::Array(list) => list,
            Value::Object(mut map) => match map.remove("keys") {
                Some(Value::Array(list)) => list,
                _ => return Err(JwksError("SUPABASE_JWKS has no \"keys\" array".into())),
            },
            _ => {
                return Err(JwksError(
                    "SUPABASE_JWKS is neither a key set nor an array".into(),
                ))
            }
        };
        let keys = list
            .into_iter()
            .filter_map(|v| serde_json::from_value::<RawJwk>(v).ok())
            .filter_map(|raw| raw.into_jwk())
            .collect();
        Ok(Self { keys })
    }

    /// From keys already built (tests, or a set assembled in code).
    pub fn from_keys(keys: Vec<Jwk>) -> Self {
        Self { keys }
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// The keys a token with this `alg` and `kid` may be verified with: the key named by `kid`
    /// (if it is for `alg`), or, for a token without `kid`, every key for `alg`.
    pub fn candidates<'a>(
        &'a self,
        alg: &'a str,
        kid: Option<&'a str>,
    ) -> impl Iterator<Item = &'a VerifyingKey> + 'a {
        self.keys
            .iter()
            .filter(move |k| k.key.alg() == alg && (kid.is_none() || k.kid.as_deref() == kid))
            .map(|k| &k.key)
    }
}

fn b64(field: Option<&String>) -> Option<Vec<u8>> {
    URL_SAFE_NO_PAD.decode(field?.trim_end_matches('=')).ok()
}

impl RawJwk {
    fn into_jwk(self) -> Option<Jwk> {
        if self.use_.as_deref().is_some_and(|u| u != "sig") {
            return None;
        }
        if let Some(ops) = &self.key_ops {
            if !ops.iter().any(|o| o == "verify") {
                return None;
            }
        }
        let key = match (self.kty.as_deref()?, self.alg.as_deref()) {
            ("EC", None | Some("ES256")) if self.crv.as_deref() == Some("P-256") => {
                let (x, y) = (b64(self.x.as_ref())?, b64(self.y.as_ref())?);
                if x.len() != 32 || y.len() != 32 {
                    return None;
                }
                let mut point = Vec::with_capacity(65);
                point.push(0x04);
                point.extend_from_slice(&x);
                point.extend_from_slice(&y);
                // Rejects points that are not on the curve.
                VerifyingKey::Es256(p256::ecdsa::VerifyingKey::from_sec1_bytes(&point).ok()?)
            }
            ("RSA", None | Some("RS256")) => {
                let n = rsa::BigUint::from_bytes_be(&b64(self.n.as_ref())?);
                let e = rsa::BigUint::from_bytes_be(&b64(self.e.as_ref())?);
                if n.bits() < MIN_RSA_BITS {
                    return None;
                }
                VerifyingKey::Rs256(rsa::RsaPublicKey::new_with_max_size(n, e, MAX_RSA_BITS).ok()?)
            }
            _ => return None,
        };
        Some(Jwk { kid: self.kid, key })
    }
}
