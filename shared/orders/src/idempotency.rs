//! `Idempotency-Key` handling (IETF draft-ietf-httpapi-idempotency-key-header semantics).
//!
//! - same key, same body: the first response (status and body) is replayed, no second effect;
//! - same key, different body: 422;
//! - same key while the first request is still running: 409;
//! - keys are scoped to the caller and endpoint and kept 24 hours (see the migration).
//!
//! 5xx responses are not stored: the key is released so a retry runs again.

use std::borrow::Cow;

use sha2::{Digest, Sha256};

use crate::order::OrderStatus;
use crate::processing::refusal_error;
use crate::store::{Begin, IdempotencyStore};
use edge_platform::http::{self, Request, Response};
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

/// SHA-256 of a request body, hex: what a key is bound to.
pub fn request_hash(body: &[u8]) -> String {
    hex::encode(Sha256::digest(body))
}

/// The answer for a key whose outcome the read found instead of the order: the stored
/// response (its exact bytes, or the stored refusal rendered by the function that rendered
/// it first), the 422 of a key reused with another body, the 409 of a key in flight.
pub fn answer(stored: Begin, order_id: i64, to: OrderStatus) -> Result<Response> {
    match stored {
        Begin::Mismatch => Err(Error::unprocessable(
            "idempotency_key_reused",
            "this Idempotency-Key was used with a different request body",
            None,
        )),
        Begin::InFlight => Err(Error::conflict(
            "idempotency_key_in_flight",
            "a request with this Idempotency-Key is still being processed; retry later",
            None,
        )),
        Begin::Replay {
            status,
            body,
            body_text,
            refusal,
        } => {
            let mut resp = match (refusal, status) {
                (Some(r), _) => http::respond(Err(refusal_error(r, order_id, to))),
                (None, Some(status)) => {
                    let mut resp = http::json(status, &body);
                    if let Some(text) = body_text {
                        // The same bytes as the first response, not a re-serialization of them.
                        *resp.body_mut() = text.into_bytes();
                    }
                    resp
                }
                (None, None) => {
                    return Err(Error::Internal(
                        "a stored idempotent response without status".into(),
                    ))
                }
            };
            resp.headers_mut().insert(
                "idempotent-replayed",
                ::http::HeaderValue::from_static("true"),
            );
            Ok(resp)
        }
        Begin::Read { .. } => Err(Error::Internal("not a stored outcome".into())),
    }
}

/// Record the outcome of a claimed request that ended before the apply RPC stored it: as the
/// client will see it (a response as is, an error as its JSON body, [`Error::body`]), or, for
/// a 5xx, the claim released so that a retry runs again. A failure here is logged: the effect
/// (if any) is committed; only the replay record is missing.
pub async fn finish<S: IdempotencyStore>(store: &S, claim: &str, outcome: &Result<Response>) {
    let (status, body) = match outcome {
        // Handlers answer JSON, which is UTF-8.
        Ok(resp) => (resp.status().as_u16(), String::from_utf8_lossy(resp.body())),
        Err(e) => (e.status(), Cow::Owned(e.body().to_string())),
    };
    let stored = (status < 500).then_some(status);
    if let Err(e) = store.idempotency_finish(claim, stored, &body).await {
        http::log_error(&format!("idempotency_finish failed: {e}"));
    }
}
