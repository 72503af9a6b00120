//! Who is calling: every function authenticates its caller here, from the request headers and
//! the function env. Nothing is taken on trust, not even behind the gateway's `verify_jwt`
//! (which lets `sb_` API keys through and so authenticates no one by itself).
//!
//! The credential is the `Authorization: Bearer` value, or the `apikey` header when there is no
//! `Authorization`:
//!
//! - an API key (`sb_…`): equal, in constant time, to a secret key (`SUPABASE_SECRET_KEYS`, a
//!   JSON object such as `{"default":"sb_secret_…"}`, or `SUPABASE_SECRET_KEY`) →
//!   [`Caller::ServiceRole`]; to a publishable key (`SUPABASE_PUBLISHABLE_KEYS` /
//!   `SUPABASE_PUBLISHABLE_KEY`) → [`Caller::Public`]; anything else → 401. A bearer `sb_` key
//!   must equal `apikey` when both are sent (as Supabase's gateway requires).
//! - a JWT: the legacy keys compare in constant time first (`SUPABASE_SERVICE_ROLE_KEY` →
//!   service role, `SUPABASE_ANON_KEY` → public), so they work where no JWT secret is known.
//!   Otherwise the signature must verify ([`jwt::verify`]): ES256/RS256 with a key of
//!   `SUPABASE_JWKS` chosen by `kid`; HS256 only when a legacy JWT secret is configured
//!   (`JWT_SECRET`, the name self-hosted Supabase gives functions and one `supabase secrets set`
//!   accepts, or `SUPABASE_JWT_SECRET`). `exp` is required and checked with `nbf` against the
//!   clock passed in. Then: role `service_role` → service role; role `anon` → public; any other
//!   role needs `aud` `authenticated` and a `sub` → [`Caller::User`], whose token is forwarded to
//!   the database API so RLS sees the same user.
//!
//! Every refusal is a 401 ([`Error::Unauthorized`]) whose message never contains a key or token.
//! An `apikey` sent beside a bearer JWT is not judged here: the JWT is the credential.

mod caller;
pub mod jwks;
pub mod jwt;
mod rest_keys;

use ::http::HeaderMap;
use serde_json::Value;
use subtle::ConstantTimeEq;

pub use caller::{Caller, User};
pub use jwks::Jwks;
pub use rest_keys::{RestKeys, ServiceKey};

use crate::{Error, Result};

/// The keys callers are checked against, read once from the function env.
#[derive(Clone, Default)]
pub struct AuthConfig {
    secret_keys: Vec<String>,
    publishable_keys: Vec<String>,
    service_role_jwt: Option<String>,
    anon_jwt: Option<String>,
    jwt_secret: Option<Vec<u8>>,
    jwks: Jwks,
    /// Tokens whose signature verified, with their claims (bounded; see `verified_claims`).
    verified: std::cell::RefCell<std::collections::HashMap<String, std::rc::Rc<Claims>>>,
}

type Claims = serde_json::Map<String, Value>;

/// Tokens kept verified per instance; the cache is emptied when it is full.
const VERIFIED_CACHE_SIZE: usize = 512;

impl std::fmt::Debug for AuthConfig {
    // Values are secrets: say what is configured, never what it is.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthConfig")
            .field("secret_keys", &self.secret_keys.len())
            .field("publishable_keys", &self.publishable_keys.len())
            .field("service_role_jwt", &self.service_role_jwt.is_some())
            .field("anon_jwt", &self.anon_jwt.is_some())
            .field("jwt_secret", &self.jwt_secret.is_some())
            .field("jwks", &self.jwks)
            .finish()
    }
}

/// The values of a key list variable: a JSON object (`{"default":"sb_…"}`) or array of strings.
fn key_list(name: &str, text: &str) -> Result<Vec<String>> {
    let bad = || Error::Internal(format!("{name} is not a JSON object or array of keys"));
    let value: Value = serde_json::from_str(text).map_err(|_| bad())?;
    let values: Vec<Value> = match value {
        Value::Object(map) => {
            // "default" first: it is the key used for outgoing calls.
            let mut entries: Vec<(String, Value)> = map.into_iter().collect();
            entries.sort_by_key(|(k, _)| k != "default");
            entries.into_iter().map(|(_, v)| v).collect()
        }
        Value::Array(list) => list,
        _ => return Err(bad()),
    };
    values
        .into_iter()
        .map(|v| match v {
            Value::String(s) if !s.is_empty() => Ok(s),
            _ => Err(bad()),
        })
        .collect()
}

/// `NAME_KEYS` (list) then `NAME_KEY` (single), "default" first.
pub(crate) fn keys_from<'a>(
    get: &impl Fn(&str) -> Option<&'a str>,
    list: &str,
    single: &str,
) -> Result<Vec<String>> {
    let mut keys = match get(list) {
        Some(text) => key_list(list, text)?,
        None => Vec::new(),
    };
    if let Some(k) = get(single) {
        if !keys.iter().any(|x| x == k) {
            keys.push(k.to_owned());
        }
    }
    Ok(keys)
}

fn ct_eq(a: &str, b: &str) -> bool {
    bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

fn any_ct_eq(list: &[String], candidate: &str) -> bool {
    // No early exit: every key is compared.
    list.iter()
        .fold(false, |found, k| found | ct_eq(k, candidate))
}

/// The `aud` claim contains `authenticated` (a string or an array of strings).
fn audience_ok(claims: &Claims) -> bool {
    match claims.get("aud") {
        Some(Value::String(a)) => a == "authenticated",
        Some(Value::Array(list)) => list.iter().any(|a| a == "authenticated"),
        _ => false,
    }
}

fn unauthorized(message: &str) -> Error {
    Error::Unauthorized(message.into())
}

impl AuthConfig {
    /// Read the keys from an env lookup (`|name| env.get(name)` on wasm). A malformed key list
    /// or JWKS is a 500 naming the variable (never its value).
    pub fn from_env<'a>(get: impl Fn(&str) -> Option<&'a str>) -> Result<Self> {
        let jwks = match get("SUPABASE_JWKS") {
            Some(text) => Jwks::parse(text).map_err(|e| Error::Internal(e.0))?,
            None => Jwks::default(),
        };
        Ok(Self {
            secret_keys: keys_from(&get, "SUPABASE_SECRET_KEYS", "SUPABASE_SECRET_KEY")?,
            publishable_keys: keys_from(
                &get,
                "SUPABASE_PUBLISHABLE_KEYS",
                "SUPABASE_PUBLISHABLE_KEY",
            )?,
            service_role_jwt: get("SUPABASE_SERVICE_ROLE_KEY").map(str::to_owned),
            anon_jwt: get("SUPABASE_ANON_KEY").map(str::to_owned),
            jwt_secret: get("JWT_SECRET")
                .or_else(|| get("SUPABASE_JWT_SECRET"))
                .map(|s| s.as_bytes().to_vec()),
            jwks,
            verified: Default::default(),
        })
    }

    /// Accept `key` as a secret key.
    pub fn with_secret_key(mut self, key: impl Into<String>) -> Self {
        self.secret_keys.push(key.into());
        self
    }
    /// Accept `key` as a publishable key.
    pub fn with_publishable_key(mut self, key: impl Into<String>) -> Self {
        self.publishable_keys.push(key.into());
        self
    }
    /// The legacy service_role and anon JWTs.
    pub fn with_legacy_keys(mut self, service_role: &str, anon: &str) -> Self {
        self.service_role_jwt = Some(service_role.into());
        self.anon_jwt = Some(anon.into());
        self
    }
    /// Verify HS256 tokens with the legacy JWT secret.
    pub fn with_jwt_secret(mut self, secret: &[u8]) -> Self {
        self.jwt_secret = Some(secret.to_vec());
        self.verified = Default::default();
        self
    }
    /// Verify ES256/RS256 tokens with these keys.
    pub fn with_jwks(mut self, jwks: Jwks) -> Self {
        self.jwks = jwks;
        self.verified = Default::default();
        self
    }

    /// How many verified tokens the instance keeps.
    pub fn verified_cached(&self) -> usize {
        self.verified.borrow().len()
    }

    /// The number of JWKS keys usable for verification.
    pub fn jwks_len(&self) -> usize {
        self.jwks.len()
    }

    /// Authenticate the caller of a request (see the module docs).
    pub fn authenticate(&self, headers: &HeaderMap, now_unix: i64) -> Result<Caller> {
        let text = |name: &str| -> Result<Option<&str>> {
            match headers.get(name) {
                None => Ok(None),
                Some(v) => v
                    .to_str()
                    .map(|s| Some(s.trim()))
                    .map_err(|_| unauthorized("unreadable credentials")),
            }
        };
        let apikey = text("apikey")?.filter(|k| !k.is_empty());
        let bearer = match text("authorization")? {
            None => None,
            Some(value) => {
                let token = value
                    .split_once(' ')
                    .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
                    .map(|(_, t)| t.trim())
                    .filter(|t| !t.is_empty());
                Some(token.ok_or_else(|| {
                    unauthorized("the Authorization header must be `Bearer <token>`")
                })?)
            }
        };
        match (bearer, apikey) {
            (Some(b), apikey) if b.starts_with("sb_") => {
                if apikey.is_some_and(|a| !ct_eq(a, b)) {
                    return Err(unauthorized(
                        "a bearer API key must be the same as the apikey header",
                    ));
                }
                self.api_key_caller(b)
            }
            (Some(token), _) => self.jwt_caller(token, now_unix),
            (None, Some(key)) if key.starts_with("sb_") => self.api_key_caller(key),
            (None, Some(token)) => self.jwt_caller(token, now_unix),
            (None, None) => Err(unauthorized(
                "no credentials: send an apikey header or an Authorization bearer token",
            )),
        }
    }

    /// The claims of a token whose signature verified, from the instance's cache when the same
    /// token was verified before (clients send the same token on every request, and an ES256
    /// verification costs about a millisecond in wasm). The time claims are checked by the
    /// caller on every use.
    fn verified_claims(&self, token: &str) -> Result<std::rc::Rc<Claims>> {
        if let Some(hit) = self.verified.borrow().get(token) {
            return Ok(hit.clone());
        }
        let keys = jwt::Keys {
            jwks: &self.jwks,
            hs256_secret: self.jwt_secret.as_deref(),
        };
        let verified = jwt::verify_signature(token, keys).map_err(|e| unauthorized(e.message()))?;
        let claims = std::rc::Rc::new(verified.claims);
        let mut cache = self.verified.borrow_mut();
        if cache.len() >= VERIFIED_CACHE_SIZE {
            cache.clear();
        }
        cache.insert(token.to_owned(), claims.clone());
        Ok(claims)
    }

    fn api_key_caller(&self, key: &str) -> Result<Caller> {
        if any_ct_eq(&self.secret_keys, key) {
            Ok(Caller::ServiceRole)
        } else if any_ct_eq(&self.publishable_keys, key) {
            Ok(Caller::Public)
        } else {
            Err(unauthorized("invalid API key"))
        }
    }

    fn jwt_caller(&self, token: &str, now_unix: i64) -> Result<Caller> {
        // The legacy keys as configured: valid where no JWT secret is known (hosted functions).
        if self
            .service_role_jwt
            .as_deref()
            .is_some_and(|k| ct_eq(k, token))
        {
            return Ok(Caller::ServiceRole);
        }
        if self.anon_jwt.as_deref().is_some_and(|k| ct_eq(k, token)) {
            return Ok(Caller::Public);
        }
        let claims = self.verified_claims(token)?;
        jwt::check_time(&claims, now_unix).map_err(|e| unauthorized(e.message()))?;
        let role = claims
            .get("role")
            .and_then(Value::as_str)
            .unwrap_or("authenticated");
        match role {
            "service_role" => Ok(Caller::ServiceRole),
            "anon" => Ok(Caller::Public),
            _ => {
                if !audience_ok(&claims) {
                    return Err(unauthorized("invalid JWT: audience is not authenticated"));
                }
                let sub = claims
                    .get("sub")
                    .and_then(Value::as_str)
                    .filter(|s| !s.is_empty())
                    .ok_or_else(|| unauthorized("invalid JWT: no sub claim"))?;
                Ok(Caller::user(sub, role, token))
            }
        }
    }
}

#[cfg(target_arch = "wasm32")]
thread_local! {
    /// Parsed once per instance, like the env it comes from (a JWKS parse is not free).
    static CONFIG: std::cell::RefCell<Option<std::rc::Rc<AuthConfig>>> =
        const { std::cell::RefCell::new(None) };
}

/// The instance's [`AuthConfig`], parsed from `env` on first use.
#[cfg(target_arch = "wasm32")]
pub fn config(env: &crate::edge::Env) -> Result<std::rc::Rc<AuthConfig>> {
    if let Some(c) = CONFIG.with(|c| c.borrow().clone()) {
        return Ok(c);
    }
    let parsed = std::rc::Rc::new(AuthConfig::from_env(|name| env.get(name))?);
    CONFIG.with(|c| *c.borrow_mut() = Some(parsed.clone()));
    Ok(parsed)
}

#[cfg(test)]
mod tests;
