//! The request and response types handlers see (from the `http` crate), with helpers for JSON
//! bodies, bearer tokens and the caller's JWT claims. No JS type appears here.

use base64::Engine as _;
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::{Error, Result};

/// A request as handlers see it: the raw body bytes, unparsed.
pub type Request = ::http::Request<Vec<u8>>;
/// A response as handlers return it.
pub type Response = ::http::Response<Vec<u8>>;

/// A JSON response with the given status.
pub fn json<T: Serialize + ?Sized>(status: u16, body: &T) -> Response {
    let bytes = serde_json::to_vec(body).unwrap_or_else(|_| b"{}".to_vec());
    let mut resp = ::http::Response::new(bytes);
    *resp.status_mut() =
        ::http::StatusCode::from_u16(status).unwrap_or(::http::StatusCode::INTERNAL_SERVER_ERROR);
    resp.headers_mut().insert(
        ::http::header::CONTENT_TYPE,
        ::http::HeaderValue::from_static("application/json"),
    );
    resp
}

/// Only `method` is accepted: anything else is a 405.
pub fn require_method(req: &Request, method: ::http::Method, allowed: &'static str) -> Result<()> {
    if req.method() == method {
        Ok(())
    } else {
        Err(Error::MethodNotAllowed { allowed })
    }
}

/// Parse a JSON object body into `T`; any failure is a 400 with a message saying what is wrong.
///
/// The whole body must be UTF-8 (serde would skip invalid bytes inside ignored fields) and a
/// JSON object (serde would read the array `[1]` as a struct's fields in order).
pub fn parse_json<T: DeserializeOwned>(body: &[u8]) -> Result<T> {
    let text = std::str::from_utf8(body)
        .map_err(|_| Error::bad_request("malformed_json", "invalid request body: not UTF-8"))?;
    if !text.trim_start().starts_with('{') {
        return Err(Error::bad_request(
            "invalid_body",
            "invalid request body: expected a JSON object",
        ));
    }
    serde_json::from_str(text).map_err(|e| {
        let code = if e.is_syntax() || e.is_eof() {
            "malformed_json"
        } else {
            "invalid_body"
        };
        Error::bad_request(code, format!("invalid request body: {e}"))
    })
}

/// A header as UTF-8 text, if present and valid.
pub fn header<'a>(req: &'a Request, name: &str) -> Option<&'a str> {
    req.headers().get(name).and_then(|v| v.to_str().ok())
}

/// The bearer token of the `Authorization` header.
pub fn bearer(req: &Request) -> Option<&str> {
    let value = header(req, "authorization")?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then_some(token.trim())
        .filter(|t| !t.is_empty())
}

/// Who is calling: the JWT the gateway verified, and the claims functions act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// The bearer token, forwarded to the database API so RLS sees the same caller.
    pub token: String,
    /// `role` claim: `anon`, `authenticated` or `service_role`.
    pub role: String,
    /// `sub` claim: the user id, for signed-in users.
    pub user_id: Option<String>,
}

impl Caller {
    /// Read the caller from the request's bearer JWT.
    ///
    /// The signature is checked by the gateway (`verify_jwt = true`) before the request reaches
    /// the function, and again by the database API on every call that forwards the token; here
    /// only the claims are read.
    pub fn from_request(req: &Request) -> Result<Self> {
        let token =
            bearer(req).ok_or_else(|| Error::Unauthorized("missing bearer token".into()))?;
        let claims =
            decode_claims(token).ok_or_else(|| Error::Unauthorized("invalid JWT".into()))?;
        let role = claims
            .get("role")
            .and_then(|r| r.as_str())
            .unwrap_or("anon")
            .to_owned();
        let user_id = claims
            .get("sub")
            .and_then(|s| s.as_str())
            .map(str::to_owned);
        Ok(Self {
            token: token.to_owned(),
            role,
            user_id,
        })
    }

    /// True for the service_role key: may act on any order.
    pub fn is_service_role(&self) -> bool {
        self.role == "service_role"
    }

    /// The scope idempotency keys are kept under: the user, or the role.
    pub fn scope(&self) -> String {
        match &self.user_id {
            Some(id) => format!("user:{id}"),
            None => format!("role:{}", self.role),
        }
    }
}

fn decode_claims(token: &str) -> Option<serde_json::Map<String, serde_json::Value>> {
    let payload = token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// Log an error line (console.error on wasm, stderr natively).
pub fn log_error(msg: &str) {
    #[cfg(target_arch = "wasm32")]
    web_sys::console::error_1(&msg.into());
    #[cfg(not(target_arch = "wasm32"))]
    eprintln!("{msg}");
}

/// Log an info line (console.log on wasm, stderr natively).
pub fn log_info(msg: &str) {
    #[cfg(target_arch = "wasm32")]
    web_sys::console::log_1(&msg.into());
    #[cfg(not(target_arch = "wasm32"))]
    eprintln!("{msg}");
}

#[cfg(test)]
mod tests {
    use super::*;

    const SERVICE: &str = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJpc3MiOiJzdXBhYmFzZS1kZW1vIiwicm9sZSI6InNlcnZpY2Vfcm9sZSIsImV4cCI6MTk4MzgxMjk5Nn0.EGIM96RAZx35lJzdJsyH-qQwv8Hdp7fsn3W0YpN81IU";

    fn req(auth: Option<&str>) -> Request {
        let mut b = ::http::Request::builder().method("POST").uri("http://x/");
        if let Some(a) = auth {
            b = b.header("authorization", a);
        }
        b.body(Vec::new()).unwrap()
    }

    #[test]
    fn reads_service_role_claims() {
        let c = Caller::from_request(&req(Some(&format!("Bearer {SERVICE}")))).unwrap();
        assert!(c.is_service_role());
        assert_eq!(c.user_id, None);
        assert_eq!(c.scope(), "role:service_role");
    }

    #[test]
    fn rejects_missing_and_garbage_tokens() {
        assert_eq!(Caller::from_request(&req(None)).unwrap_err().status(), 401);
        assert_eq!(
            Caller::from_request(&req(Some("Bearer")))
                .unwrap_err()
                .status(),
            401
        );
        assert_eq!(
            Caller::from_request(&req(Some("Bearer a.!!!.c")))
                .unwrap_err()
                .status(),
            401
        );
        assert_eq!(
            Caller::from_request(&req(Some("Basic abc")))
                .unwrap_err()
                .status(),
            401
        );
    }

    #[test]
    fn parse_json_distinguishes_syntax_from_shape() {
        #[derive(serde::Deserialize, Debug)]
        #[allow(dead_code)]
        struct B {
            order_id: i64,
        }
        assert_eq!(parse_json::<B>(b"{").unwrap_err().code(), "malformed_json");
        assert_eq!(
            parse_json::<B>(b"{\"order_id\": \"1\"}")
                .unwrap_err()
                .code(),
            "invalid_body"
        );
        assert_eq!(
            parse_json::<B>(b"{\"order_id\": 1.5}").unwrap_err().code(),
            "invalid_body"
        );
        assert!(parse_json::<B>(b"{\"order_id\": 7}").is_ok());
        // An array is not read as the struct's fields in order.
        assert_eq!(parse_json::<B>(b"[7]").unwrap_err().code(), "invalid_body");
        assert_eq!(parse_json::<B>(b" [7]").unwrap_err().code(), "invalid_body");
        // Invalid UTF-8 anywhere, even in a field nobody reads, is refused.
        let mut bad = b"{\"order_id\": 7, \"note\": \"".to_vec();
        bad.extend_from_slice(&[0xff, 0xfe]);
        bad.extend_from_slice(b"\"}");
        assert_eq!(parse_json::<B>(&bad).unwrap_err().code(), "malformed_json");
    }
}
