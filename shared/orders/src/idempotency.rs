//! `Idempotency-Key` handling (IETF draft-ietf-httpapi-idempotency-key-header semantics).
//!
//! - same key, same body: the first response (status and body) is replayed, no second effect;
//! - same key, different body: 422;
//! - same key while the first request is still running: 409;
//! - keys are scoped to the caller and endpoint and kept 24 hours (see the migration).
//!
//! 5xx responses are not stored: the key is released so a retry runs again.

use std::borrow::Cow;
use std::future::Future;

use sha2::{Digest, Sha256};

use crate::store::{IdempotencyBegin, IdempotencyStore};
use edge_platform::http::{self, Caller, Request, Response};
use edge_platform::{Error, Result};

/// Longest key accepted.
pub const MAX_KEY_LEN: usize = 255;

/// The request's `Idempotency-Key`, if any: a structured-field string (`"abc"`) or, leniently,
/// a bare token. Empty, too long or non-printable keys are a 400.
pub fn key_of(req: &Request) -> Result<Option<String>> {
    let Some(raw) = req.headers().get("idempotency-key") else {
        return Ok(None);
    };
    let bad = || {
        Error::bad_request(
            "invalid_idempotency_key",
            "Idempotency-Key must be a non-empty string of at most 255 printable characters",
        )
    };
    let text = raw.to_str().map_err(|_| bad())?.trim();
    let key = text
        .strip_prefix('"')
        .and_then(|t| t.strip_suffix('"'))
        .unwrap_or(text);
    if key.is_empty()
        || key.len() > MAX_KEY_LEN
        || !key.chars().all(|c| c.is_ascii_graphic() || c == ' ')
    {
        return Err(bad());
    }
    Ok(Some(key.to_owned()))
}

/// Run `run` under the request's idempotency key (or directly when it has none).
///
/// `run`'s outcome is recorded as the client will see it: a response as is, an error as its
/// JSON body ([`Error::body`], the bytes [`Error::to_response`] renders) with its status. A
/// 5xx is not stored. The outcome itself is returned unchanged: an error stays an `Err`, for
/// the boundary to render ([`http::respond`]).
pub async fn with_idempotency<S, F, Fut>(
    store: &S,
    caller: &Caller,
    endpoint: &str,
    req: &Request,
    run: F,
) -> Result<Response>
where
    S: IdempotencyStore,
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<Response>>,
{
    let Some(key) = key_of(req)? else {
        return run().await;
    };
    let scope = caller.scope();
    let hash = hex::encode(Sha256::digest(req.body()));
    match store
        .idempotency_begin(&scope, endpoint, &key, &hash)
        .await?
    {
        IdempotencyBegin::Mismatch => Err(Error::unprocessable(
            "idempotency_key_reused",
            "this Idempotency-Key was used with a different request body",
            None,
        )),
        IdempotencyBegin::InFlight => Err(Error::conflict(
            "idempotency_key_in_flight",
            "a request with this Idempotency-Key is still being processed; retry later",
            None,
        )),
        IdempotencyBegin::Replay {
            status,
            body,
            body_text,
        } => {
            let mut resp = http::json(status, &body);
            if let Some(text) = body_text {
                // The same bytes as the first response, not a re-serialization of them.
                *resp.body_mut() = text.into_bytes();
            }
            resp.headers_mut().insert(
                "idempotent-replayed",
                ::http::HeaderValue::from_static("true"),
            );
            Ok(resp)
        }
        IdempotencyBegin::New => {
            let result = run().await;
            let (status, body) = match &result {
                // Handlers answer JSON, which is UTF-8.
                Ok(resp) => (resp.status().as_u16(), String::from_utf8_lossy(resp.body())),
                Err(e) => (e.status(), Cow::Owned(e.body().to_string())),
            };
            if let Err(e) = store
                .idempotency_finish(&scope, endpoint, &key, status, &body, status < 500)
                .await
            {
                // The effect (if any) is committed; only the replay record is missing. The next
                // retry after the lease runs again and meets the state machine's 409.
                http::log_error(&format!(
                    "idempotency_finish failed for key in scope {scope}: {e}"
                ));
            }
            result
        }
    }
}
