//! The outbox as the dispatcher sees it: claim a batch, report what happened to each event.
//!
//! The rules live in SQL (`claim_outbox_events`, `complete_outbox_events`) and are tested
//! against PostgreSQL (`tests/sql/outbox.test.ts`); the dispatcher's unit tests script what a
//! claim returns:
//!
//! - an event is claimable when it is `pending`, due (`next_attempt_at <= now`), not under a
//!   live claim, and every earlier undelivered event of its order is claimed in the same batch
//!   (at most `max_per_order` of one order per batch). `FOR UPDATE SKIP LOCKED` gives
//!   concurrent dispatchers disjoint rows; a row whose predecessor another dispatcher holds
//!   is dropped after locking. So two dispatchers never deliver one event, nor the events of one
//!   order, at the same time, and one order's events go out in creation order;
//! - a claim is a visibility timeout: if its dispatcher dies, the rows become claimable again
//!   once `claimed_until` passes (the attempt is counted at claim time, so a dispatcher that
//!   keeps dying on one event still ends with that event dead);
//! - a `dead` event blocks the later events of its order until it is requeued.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use edge_platform::Result;

/// How much to claim.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ClaimOptions {
    /// Most events per claim (1..=1000).
    pub batch_size: u32,
    /// How long the claim hides its events from other dispatchers (5..=3600 s).
    #[serde(rename = "visibility_seconds")]
    pub visibility_secs: u32,
    /// Most events of one order per claim; they are delivered one after the other.
    pub max_per_order: u32,
}

/// One claimed event.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct OutboxEvent {
    /// Row id: creation order.
    pub id: i64,
    /// The Standard Webhooks `webhook-id`, the same on every attempt.
    pub event_id: String,
    /// Events of one order are delivered in `id` order.
    pub order_id: Option<i64>,
    /// The function to POST to.
    pub target: String,
    /// The database-webhook payload, sent as the body.
    pub payload: Value,
    /// This attempt's number (1-based; counted by the claim).
    pub attempts: u32,
    pub max_attempts: u32,
    pub backoff_base_ms: u64,
}

/// A claimed batch.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Claim {
    /// The claim's token: only it may complete these events.
    pub claim: String,
    /// In `id` order.
    pub events: Vec<OutboxEvent>,
    /// Milliseconds until the next pending event becomes due (a retry waiting out its backoff).
    #[serde(default)]
    pub next_due_ms: Option<i64>,
}

/// What happened to one claimed event.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Completion {
    /// The target answered 2xx.
    Delivered { id: i64 },
    /// The attempt failed; try again after `retry_in_ms`.
    Retry {
        id: i64,
        error: String,
        retry_in_ms: u64,
    },
    /// The attempt failed and was the last one (or can never succeed).
    Dead { id: i64, error: String },
    /// Not attempted (an earlier event of its order failed, or the claim was running out):
    /// back to the queue, its attempt given back.
    Released { id: i64 },
}

impl Completion {
    /// The outbox row id.
    pub fn id(&self) -> i64 {
        match self {
            Self::Delivered { id }
            | Self::Retry { id, .. }
            | Self::Dead { id, .. }
            | Self::Released { id } => *id,
        }
    }
}

/// What `complete` reports back.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
pub struct CompleteSummary {
    /// Rows updated (rows no longer under the claim are left alone).
    pub updated: u32,
    /// As in [`Claim::next_due_ms`].
    #[serde(default)]
    pub next_due_ms: Option<i64>,
}

/// Outbox storage.
#[allow(async_fn_in_trait)] // single-threaded wasm: no Send bound wanted
pub trait OutboxStore {
    /// Claim a batch of due events.
    async fn claim(&self, options: &ClaimOptions) -> Result<Claim>;
    /// Record the outcome of events of claim `claim`.
    async fn complete(&self, claim: &str, results: &[Completion]) -> Result<CompleteSummary>;
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn wire_shapes_match_the_sql() {
        let c: Claim = serde_json::from_value(json!({"claim": "t", "next_due_ms": null, "events": [
            {"id": 1, "event_id": "evt_1", "order_id": 5, "target": "order-events",
             "payload": {"type": "INSERT"}, "attempts": 1, "max_attempts": 12, "backoff_base_ms": 2000}]}))
        .unwrap();
        assert_eq!(c.events[0].order_id, Some(5));
        assert_eq!(
            serde_json::to_value([
                Completion::Delivered { id: 1 },
                Completion::Retry {
                    id: 2,
                    error: "HTTP 500".into(),
                    retry_in_ms: 2000
                },
                Completion::Dead {
                    id: 3,
                    error: "x".into()
                },
                Completion::Released { id: 4 },
            ])
            .unwrap(),
            json!([
                {"outcome": "delivered", "id": 1},
                {"outcome": "retry", "id": 2, "error": "HTTP 500", "retry_in_ms": 2000},
                {"outcome": "dead", "id": 3, "error": "x"},
                {"outcome": "released", "id": 4},
            ])
        );
        let o = ClaimOptions {
            batch_size: 10,
            visibility_secs: 60,
            max_per_order: 4,
        };
        assert_eq!(
            serde_json::to_value(o).unwrap(),
            json!({"batch_size": 10, "visibility_seconds": 60, "max_per_order": 4})
        );
    }
}
