//! [`RestKeys`]: the keys this function sends to the database API.

use super::keys_from;
use crate::{Error, Result};

/// The key this function sends to the database API when it acts for itself.
#[derive(Clone, PartialEq, Eq)]
pub enum ServiceKey {
    /// `apikey: sb_secret_…` and no `Authorization` (the gateway swaps it for a JWT).
    Secret(String),
    /// The legacy service_role JWT, as `apikey` and bearer.
    LegacyJwt(String),
}

/// The keys of outgoing database API calls: new keys when present, the legacy ones otherwise.
#[derive(Clone, PartialEq, Eq)]
pub struct RestKeys {
    pub service: ServiceKey,
    /// The `apikey` beside a user's JWT: the publishable key, else the legacy anon key.
    pub public: Option<String>,
}

impl std::fmt::Debug for ServiceKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Secret(_) => "Secret(<redacted>)",
            Self::LegacyJwt(_) => "LegacyJwt(<redacted>)",
        })
    }
}

impl std::fmt::Debug for RestKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let service = match self.service {
            ServiceKey::Secret(_) => "secret key",
            ServiceKey::LegacyJwt(_) => "legacy service_role JWT",
        };
        f.debug_struct("RestKeys")
            .field("service", &service)
            .field("public", &self.public.is_some())
            .finish()
    }
}

impl RestKeys {
    /// From the env: the secret key (`SUPABASE_SECRET_KEYS` "default" or first, or
    /// `SUPABASE_SECRET_KEY`), else `SUPABASE_SERVICE_ROLE_KEY`; the publishable key likewise,
    /// else `SUPABASE_ANON_KEY`. No service key at all is a 500.
    pub fn from_env<'a>(get: impl Fn(&str) -> Option<&'a str>) -> Result<Self> {
        let secret = keys_from(&get, "SUPABASE_SECRET_KEYS", "SUPABASE_SECRET_KEY")?;
        let service = match (secret.into_iter().next(), get("SUPABASE_SERVICE_ROLE_KEY")) {
            (Some(k), _) => ServiceKey::Secret(k),
            (None, Some(jwt)) => ServiceKey::LegacyJwt(jwt.to_owned()),
            (None, None) => {
                return Err(Error::Internal(
                    "neither SUPABASE_SECRET_KEYS nor SUPABASE_SERVICE_ROLE_KEY is set".into(),
                ))
            }
        };
        let publishable = keys_from(
            &get,
            "SUPABASE_PUBLISHABLE_KEYS",
            "SUPABASE_PUBLISHABLE_KEY",
        )?;
        let public = publishable
            .into_iter()
            .next()
            .or_else(|| get("SUPABASE_ANON_KEY").map(str::to_owned));
        Ok(Self { service, public })
    }
}
