//! [`Caller`]: who a request acts for, once [`super::AuthConfig::authenticate`] verified it.

use crate::{Error, Result};

/// A caller whose credential verified.
#[derive(Clone, PartialEq, Eq)]
pub enum Caller {
    /// A secret key or the legacy service_role JWT: may act on anything.
    ServiceRole,
    /// A signed-in user (a JWT whose signature verified).
    User(User),
    /// The publishable key or the legacy anon JWT: acts for nobody.
    Public,
}

/// A signed-in user.
#[derive(Clone, PartialEq, Eq)]
pub struct User {
    /// `sub`: the user id.
    pub id: String,
    /// `role` (normally `authenticated`).
    pub role: String,
    /// The JWT as received, forwarded to the database API.
    pub token: String,
}

impl std::fmt::Debug for User {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("User")
            .field("id", &self.id)
            .field("role", &self.role)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for Caller {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::ServiceRole => f.write_str("ServiceRole"),
            Self::User(u) => u.fmt(f),
            Self::Public => f.write_str("Public"),
        }
    }
}

impl Caller {
    /// A signed-in user (what [`AuthConfig::authenticate`] builds from a verified JWT).
    pub fn user(id: impl Into<String>, role: impl Into<String>, token: impl Into<String>) -> Self {
        Self::User(User {
            id: id.into(),
            role: role.into(),
            token: token.into(),
        })
    }

    /// True for the secret key (or legacy service_role JWT): may act on any order.
    pub fn is_service_role(&self) -> bool {
        matches!(self, Self::ServiceRole)
    }

    /// The user id, for signed-in users.
    pub fn user_id(&self) -> Option<&str> {
        match self {
            Self::User(u) => Some(&u.id),
            _ => None,
        }
    }

    /// The database role the caller acts as.
    pub fn role(&self) -> &str {
        match self {
            Self::ServiceRole => "service_role",
            Self::User(u) => &u.role,
            Self::Public => "anon",
        }
    }

    /// The scope idempotency keys are kept under: the user, or the role.
    pub fn scope(&self) -> String {
        match self {
            Self::User(u) => format!("user:{}", u.id),
            other => format!("role:{}", other.role()),
        }
    }

    /// A user or the service role; the publishable key alone acts for nobody (401).
    pub fn require_user_or_service(self) -> Result<Self> {
        match self {
            Self::Public => Err(Error::Unauthorized(
                "sign in (a user's JWT) or use a secret key".into(),
            )),
            other => Ok(other),
        }
    }

    /// The service role only (a secret key, or the legacy service_role JWT).
    pub fn require_service_role(self, what: &str) -> Result<Self> {
        match self {
            Self::ServiceRole => Ok(self),
            _ => Err(Error::Unauthorized(format!(
                "{what} needs a secret key (or the legacy service_role key)"
            ))),
        }
    }
}
