//! The request and response types handlers see (from the `http` crate), with helpers for JSON
//! bodies and bearer tokens. No JS type appears here; callers are authenticated in [`crate::auth`].

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::{Error, Result};

/// A request as handlers see it: the raw body bytes, unparsed.
pub type Request = ::http::Request<Vec<u8>>;
/// A response as handlers return it.
pub type Response = ::http::Response<Vec<u8>>;

/// A handler's outcome as the client sees it: the response, or the error's JSON response
/// ([`Error::to_response`], which logs server-side detail). The one place an `Err` becomes a
/// response: the wasm boundary ([`crate::edge::serve`]) calls it, and so do native tests.
pub fn respond(result: Result<Response>) -> Response {
    result.unwrap_or_else(|e| e.to_response())
}

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

/// Who is calling, authenticated by [`crate::auth`].
pub use crate::auth::Caller;

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
