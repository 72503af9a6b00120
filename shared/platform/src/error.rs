//! One error type for every function. Each variant knows its HTTP status and stable code;
//! [`Error::to_response`] renders `{"error": {"code", "message", "details"?}}`.
//!
//! Client errors keep their message. Server-side failures ([`Error::Upstream`],
//! [`Error::Unavailable`], [`Error::Internal`]) answer a generic message: their detail is for
//! the log only, never for the response body.

use serde_json::{json, Value};

/// `Result` with [`Error`] as the default error.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything a handler can fail with.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Error {
    /// 400: the request itself is wrong (malformed JSON, missing field, bad header).
    BadRequest { code: &'static str, message: String },
    /// 401: no or invalid credentials.
    Unauthorized(String),
    /// 404: no such resource (or not the caller's: existence does not leak).
    NotFound(String),
    /// 405: the method is not supported.
    MethodNotAllowed { allowed: &'static str },
    /// 409: the resource is not in a state that allows this.
    Conflict {
        code: &'static str,
        message: String,
        details: Option<Value>,
    },
    /// 413: the body is over the limit.
    PayloadTooLarge { limit: usize },
    /// 422: well-formed but cannot be done (pricing, stock, discount, idempotency mismatch).
    Unprocessable {
        code: &'static str,
        message: String,
        details: Option<Value>,
    },
    /// 502: the database API answered with an error. The string is for the log only.
    Upstream(String),
    /// 503: the database API could not be reached. The string is for the log only.
    Unavailable(String),
    /// 503: this instance is shutting down (a new one takes the next call).
    ShuttingDown,
    /// 500: a bug or misconfiguration. The string is for the log only.
    Internal(String),
}

impl Error {
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::BadRequest {
            code,
            message: message.into(),
        }
    }
    pub fn conflict(
        code: &'static str,
        message: impl Into<String>,
        details: Option<Value>,
    ) -> Self {
        Self::Conflict {
            code,
            message: message.into(),
            details,
        }
    }
    pub fn unprocessable(
        code: &'static str,
        message: impl Into<String>,
        details: Option<Value>,
    ) -> Self {
        Self::Unprocessable {
            code,
            message: message.into(),
            details,
        }
    }

    /// The HTTP status of this error.
    pub fn status(&self) -> u16 {
        match self {
            Self::BadRequest { .. } => 400,
            Self::Unauthorized(_) => 401,
            Self::NotFound(_) => 404,
            Self::MethodNotAllowed { .. } => 405,
            Self::Conflict { .. } => 409,
            Self::PayloadTooLarge { .. } => 413,
            Self::Unprocessable { .. } => 422,
            Self::Upstream(_) => 502,
            Self::Unavailable(_) | Self::ShuttingDown => 503,
            Self::Internal(_) => 500,
        }
    }

    /// A stable, machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::BadRequest { code, .. }
            | Self::Conflict { code, .. }
            | Self::Unprocessable { code, .. } => code,
            Self::Unauthorized(_) => "unauthorized",
            Self::NotFound(_) => "not_found",
            Self::MethodNotAllowed { .. } => "method_not_allowed",
            Self::PayloadTooLarge { .. } => "payload_too_large",
            Self::Upstream(_) => "upstream_error",
            Self::Unavailable(_) => "upstream_unavailable",
            Self::ShuttingDown => "shutting_down",
            Self::Internal(_) => "internal_error",
        }
    }

    /// The message a client may see.
    pub fn public_message(&self) -> String {
        match self {
            Self::BadRequest { message, .. }
            | Self::Conflict { message, .. }
            | Self::Unprocessable { message, .. }
            | Self::Unauthorized(message)
            | Self::NotFound(message) => message.clone(),
            Self::MethodNotAllowed { allowed } => format!("method not allowed; use {allowed}"),
            Self::PayloadTooLarge { limit } => format!("body is larger than {limit} bytes"),
            Self::Upstream(_) => "the database API returned an error".into(),
            Self::Unavailable(_) => "the database API is unavailable".into(),
            Self::ShuttingDown => "this instance is shutting down; call again".into(),
            Self::Internal(_) => "internal error".into(),
        }
    }

    /// Detail for the log; `None` for client errors, whose message says it all.
    pub fn log_detail(&self) -> Option<&str> {
        match self {
            Self::Upstream(d) | Self::Unavailable(d) | Self::Internal(d) => Some(d),
            _ => None,
        }
    }

    /// The JSON body: `{"error": {"code", "message", "details"?}}`.
    pub fn body(&self) -> Value {
        let mut err = json!({ "code": self.code(), "message": self.public_message() });
        if let Self::Conflict {
            details: Some(d), ..
        }
        | Self::Unprocessable {
            details: Some(d), ..
        } = self
        {
            err["details"] = d.clone();
        }
        json!({ "error": err })
    }

    /// The HTTP response for this error (logging server-side detail first).
    pub fn to_response(&self) -> crate::http::Response {
        if let Some(detail) = self.log_detail() {
            crate::http::log_error(&format!("{}: {detail}", self.code()));
        }
        let mut resp = crate::http::json(self.status(), &self.body());
        if let Self::MethodNotAllowed { allowed } = self {
            resp.headers_mut().insert(
                ::http::header::ALLOW,
                ::http::HeaderValue::from_static(allowed),
            );
        }
        resp
    }
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code(), self.public_message())
    }
}

impl std::error::Error for Error {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_details_never_reach_the_body() {
        for e in [
            Error::Upstream("pg: relation secret_table".into()),
            Error::Unavailable("connect 10.0.0.1:5432 refused".into()),
            Error::Internal("key=abc".into()),
        ] {
            let body = e.body().to_string();
            assert!(
                !body.contains("secret_table")
                    && !body.contains("10.0.0.1")
                    && !body.contains("key=abc"),
                "{body}"
            );
            assert!(e.status() >= 500);
        }
    }

    #[test]
    fn client_errors_carry_code_message_and_details() {
        let e = Error::conflict(
            "status_conflict",
            "order 7 is paid",
            Some(json!({"current_status": "paid"})),
        );
        assert_eq!(e.status(), 409);
        assert_eq!(
            e.body(),
            json!({"error": {"code": "status_conflict", "message": "order 7 is paid", "details": {"current_status": "paid"}}})
        );
        let r = Error::MethodNotAllowed { allowed: "POST" }.to_response();
        assert_eq!(r.status(), 405);
        assert_eq!(r.headers()["allow"], "POST");
    }
}
