//! Configured secrets: parsed once, never printed.

use std::fmt;

use ed25519_dalek::{SigningKey, VerifyingKey};

use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::crypto::{decode_base64_lenient, Tag};
use super::WebhookError;

/// Shortest and longest Standard Webhooks HMAC key, in decoded bytes (the spec: 192 to 512 bits).
pub const STANDARD_HMAC_KEY_LEN: std::ops::RangeInclusive<usize> = 24..=64;

/// One secret a [`Verifier`](super::Verifier) checks signatures against.
///
/// `Debug` shows only the kind of key, never its bytes.
#[derive(Clone)]
pub struct Secret {
    kind: SecretKind,
    /// For an HMAC key: the HMAC-SHA256 state after the key, so each verification hashes only
    /// the message (two SHA-256 blocks fewer per call).
    prepared: Option<Hmac<Sha256>>,
}

#[derive(Clone)]
pub(crate) enum SecretKind {
    /// A symmetric key used as is (Stripe, GitHub, Shopify) or base64-decoded from `whsec_`.
    Hmac(Vec<u8>),
    /// A Standard Webhooks `whsk_` ed25519 secret key: signs `v1a` and verifies with its
    /// public half.
    Ed25519Secret(Box<SigningKey>),
    /// An ed25519 public key: Standard Webhooks' `whpk_` (verifies `v1a` only), Discord's hex key.
    Ed25519Public(VerifyingKey),
    /// An ECDSA P-256 public key (SendGrid).
    P256Public(p256::ecdsa::VerifyingKey),
}

impl Secret {
    /// A symmetric secret whose bytes are the HMAC key as they are (Stripe's whole `whsec_...`
    /// string, a GitHub or Shopify secret). Empty is invalid.
    pub fn raw(secret: &str) -> Result<Self, WebhookError> {
        if secret.is_empty() {
            return Err(WebhookError::InvalidSecret);
        }
        Ok(Self::from_kind(SecretKind::Hmac(
            secret.as_bytes().to_vec(),
        )))
    }

    /// An ed25519 public key as 64 hex digits (Discord's application public key).
    pub fn ed25519_hex(key: &str) -> Result<Self, WebhookError> {
        let bytes = hex::decode(key.trim()).map_err(|_| WebhookError::InvalidSecret)?;
        let bytes =
            <[u8; 32]>::try_from(bytes.as_slice()).map_err(|_| WebhookError::InvalidSecret)?;
        let key = VerifyingKey::from_bytes(&bytes).map_err(|_| WebhookError::InvalidSecret)?;
        Ok(Self::from_kind(SecretKind::Ed25519Public(key)))
    }

    /// An ECDSA P-256 public key as base64 DER (SubjectPublicKeyInfo), as SendGrid shows it; a
    /// PEM block's armour lines are ignored.
    pub fn p256_base64(key: &str) -> Result<Self, WebhookError> {
        use p256::pkcs8::DecodePublicKey as _;
        let b64: String = key
            .lines()
            .filter(|line| !line.starts_with("-----"))
            .flat_map(|line| line.chars().filter(|c| !c.is_whitespace()))
            .collect();
        let der = decode_base64_lenient(b64.as_bytes()).ok_or(WebhookError::InvalidSecret)?;
        let key = p256::ecdsa::VerifyingKey::from_public_key_der(&der)
            .map_err(|_| WebhookError::InvalidSecret)?;
        Ok(Self::from_kind(SecretKind::P256Public(key)))
    }

    /// Standard Webhooks secrets from one configured string: several may be joined with `|`;
    /// each is `whsec_<base64>` (HMAC, 24 to 64 bytes), `whsk_<base64>` (ed25519 secret key: a
    /// 32-byte seed, or the 64-byte seed and public key), `whpk_<base64>` (ed25519 public key)
    /// or bare base64 (HMAC, as the reference libraries accept), optionally behind Supabase Auth
    /// Hooks' `v1,` (or `v1a,`) prefix. Surrounding whitespace is ignored.
    pub fn standard(secrets: &str) -> Result<Vec<Self>, WebhookError> {
        secrets.split('|').map(Self::standard_one).collect()
    }

    fn standard_one(secret: &str) -> Result<Self, WebhookError> {
        let secret = secret.trim();
        let secret = secret
            .strip_prefix("v1,")
            .or_else(|| secret.strip_prefix("v1a,"))
            .unwrap_or(secret);
        let invalid = || WebhookError::InvalidSecret;
        let decode = |b64: &str| decode_base64_lenient(b64.as_bytes()).ok_or_else(invalid);
        let kind = if let Some(b64) = secret.strip_prefix("whsk_") {
            let bytes = decode(b64)?;
            let key = if let Ok(seed) = <[u8; 32]>::try_from(bytes.as_slice()) {
                SigningKey::from_bytes(&seed)
            } else if let Ok(pair) = <[u8; 64]>::try_from(bytes.as_slice()) {
                // Checks that the public half belongs to the seed.
                SigningKey::from_keypair_bytes(&pair).map_err(|_| invalid())?
            } else {
                return Err(invalid());
            };
            SecretKind::Ed25519Secret(Box::new(key))
        } else if let Some(b64) = secret.strip_prefix("whpk_") {
            let bytes = <[u8; 32]>::try_from(decode(b64)?.as_slice()).map_err(|_| invalid())?;
            SecretKind::Ed25519Public(VerifyingKey::from_bytes(&bytes).map_err(|_| invalid())?)
        } else {
            let key = decode(secret.strip_prefix("whsec_").unwrap_or(secret))?;
            if !STANDARD_HMAC_KEY_LEN.contains(&key.len()) {
                return Err(invalid());
            }
            SecretKind::Hmac(key)
        };
        Ok(Self::from_kind(kind))
    }

    fn from_kind(kind: SecretKind) -> Self {
        let prepared = match &kind {
            SecretKind::Hmac(key) => <Hmac<Sha256> as Mac>::new_from_slice(key).ok(),
            _ => None,
        };
        Self { kind, prepared }
    }

    /// The HMAC-SHA256 of the concatenation of `parts`, if this is a symmetric secret.
    pub(crate) fn hmac_sha256(&self, parts: &[&[u8]]) -> Option<Tag> {
        let mut mac = self.prepared.clone()?;
        for part in parts {
            mac.update(part);
        }
        Some(mac.finalize().into_bytes().into())
    }

    pub(crate) fn kind(&self) -> &SecretKind {
        &self.kind
    }

    /// The HMAC key bytes, if this is a symmetric secret.
    pub(crate) fn hmac_key(&self) -> Option<&[u8]> {
        match &self.kind {
            SecretKind::Hmac(key) => Some(key),
            _ => None,
        }
    }

    /// The ECDSA P-256 public key, if this is one.
    pub(crate) fn p256_key(&self) -> Option<&p256::ecdsa::VerifyingKey> {
        match &self.kind {
            SecretKind::P256Public(key) => Some(key),
            _ => None,
        }
    }

    /// The ed25519 public key, if this is an asymmetric secret (secret or public half).
    pub(crate) fn verifying_key(&self) -> Option<VerifyingKey> {
        match &self.kind {
            SecretKind::Hmac(_) | SecretKind::P256Public(_) => None,
            SecretKind::Ed25519Secret(key) => Some(key.verifying_key()),
            SecretKind::Ed25519Public(key) => Some(*key),
        }
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self.kind {
            SecretKind::Hmac(_) => "hmac",
            SecretKind::Ed25519Secret(_) => "ed25519-secret",
            SecretKind::Ed25519Public(_) => "ed25519-public",
            SecretKind::P256Public(_) => "p256-public",
        };
        f.debug_struct("Secret")
            .field("kind", &kind)
            .field("key", &"<redacted>")
            .finish()
    }
}
