//! `order-events`: receive database webhooks on `orders` and act on them.
//!
//! Who may call:
//! - `webhook-dispatch`, for the subscription `orders` → `fn:order-events`: Standard Webhooks
//!   headers, verified with `ORDER_EVENTS_SECRET` (5 minute tolerance); deduplicated on
//!   `webhook-id` (source `event_outbox`, the name from before the orders flow moved to the
//!   database webhooks: events moved then kept their id, so the dedup holds across the upgrade);
//! - a stock Supabase database webhook: no signature, a secret key as `apikey` (or bearer) or
//!   the legacy service_role key as bearer, authenticated by [`edge_platform::auth`]; deduplicated on the
//!   SHA-256 of the body (source `db_webhook`: stock webhooks carry no id, and two distinct
//!   changes never have the same payload since the record carries `updated_at`);
//! - anyone else: 401 (a bad or stale signature too).
//!
//! What it does ([`super::payload::decide`]):
//! - `INSERT` of an order: if `app_settings.auto_process_orders` is on (the default), run
//!   [`process_order`] as service_role; the order is priced and its stock reserved with nobody
//!   calling `process-order`;
//! - `UPDATE` to `paid`: one `fulfillments` row (status `queued`; unique per order);
//! - anything else: 200, nothing done, nothing recorded.
//!
//! Outcomes and retries: every final outcome answers 200 and is recorded in
//! `received_events.outcome` — `processed`, `not_pending` (another path processed or cancelled
//! the order first: the state machine's 409 means done), `rejected` (a 422 of processing:
//! insufficient stock, invalid lines, discount rejected — retrying would not change it),
//! `order_not_found`, `auto_process_off`, `fulfillment_created` / `fulfillment_exists` /
//! `not_paid`. Transient failures (the database API down, 5xx, an order that changed while it
//! was priced) answer 5xx and record nothing, so the dispatcher retries.
//!
//! Dedup and effect, without losing either when the function dies in between:
//! - fulfillment: the receipt and the fulfillment are written by one RPC in one transaction
//!   (`fulfill_order_event`): both or neither;
//! - processing: `apply_order_processing` (with the event's receipt) applies the processing and writes the receipt
//!   in one transaction. Processing is exactly once anyway (the database applies it only if
//!   the order is still `pending`), so the receipt check before it (`begin_order_event`, which
//!   also reads the switch and the order in the same round trip) only saves work on
//!   duplicates. Outcomes without an effect (`not_pending`, `rejected`, ...) are recorded after
//!   the fact; if the function dies before that, the redelivery reaches the same outcome again.
//!
//! Cost of a new order's event: two RPCs (`begin_order_event`, `apply_order_processing`).

use std::cell::RefCell;

use serde::Deserialize;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::payload::{decide, DbChange, OrderEventAction};
use edge_orders::processing::process_order;
use edge_orders::store::{
    ApplyOutcome, ApplyProcessing, OrderSnapshot, OrderStore, TransitionParams,
};
use edge_platform::http::{self, Caller, Request, Response};
use edge_platform::{Error, Result};
use edge_webhook::{Scheme, Verifier, WebhookError, DEFAULT_MAX_BODY};

/// `received_events.source` of signed deliveries (`webhook-dispatch`'s; before 20261205000100,
/// dispatch-events'): one name for both, so an event moved from the outbox is deduplicated.
pub const SOURCE_OUTBOX: &str = "event_outbox";
/// `received_events.source` of stock (unsigned, service_role bearer) database webhooks.
pub const SOURCE_DB_WEBHOOK: &str = "db_webhook";

/// What `begin_order_event` answers.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct OrderEventStart {
    /// This event id has been acted on already.
    pub seen: bool,
    /// `app_settings.auto_process_orders` (true unless set to false).
    pub auto_process_orders: bool,
    /// When not seen and automatic processing is on: the order as pricing needs it
    /// (`order_for_processing`), `None` if it does not exist.
    #[serde(default)]
    pub snapshot: Option<OrderSnapshot>,
}

/// A receipt to record.
#[derive(Debug, Clone, PartialEq)]
pub struct Receipt<'a> {
    pub source: &'a str,
    pub event_id: &'a str,
    pub event_type: &'a str,
    pub order_id: Option<i64>,
    pub outcome: &'a str,
    pub details: Option<Value>,
}

/// What `fulfill_order_event` answers.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct FulfillOutcome {
    pub duplicate: bool,
    pub outcome: String,
}

/// Receipt storage of `order-events`.
#[allow(async_fn_in_trait)]
pub trait ReceiverStore {
    /// Seen?, the auto-process switch and the order, in one round trip (`begin_order_event`).
    async fn begin_order_event(
        &self,
        source: &str,
        event_id: &str,
        order_id: i64,
    ) -> Result<OrderEventStart>;
    /// Apply a processing and, if it applied, record `receipt` in the same transaction
    /// (`apply_order_processing` with the receipt).
    async fn apply_processing_recorded(
        &self,
        apply: &ApplyProcessing<'_>,
        receipt: &Receipt<'_>,
    ) -> Result<ApplyOutcome>;
    /// Record a receipt once; `true` if it was there already.
    async fn record_event(&self, receipt: &Receipt<'_>) -> Result<bool>;
    /// Record the receipt and create the order's fulfillment, in one transaction.
    async fn fulfill(&self, source: &str, event_id: &str, order_id: i64) -> Result<FulfillOutcome>;
}

/// The order store processing runs on for one event: the order read by `begin_order_event` is
/// served without a second round trip, and the processing is applied together with the
/// event's receipt.
struct EventScoped<'a, S> {
    store: &'a S,
    prefetched: RefCell<Option<Option<OrderSnapshot>>>,
    receipt: Receipt<'a>,
}

impl<S: ReceiverStore + OrderStore> OrderStore for EventScoped<'_, S> {
    async fn order_for_processing(
        &self,
        caller: &Caller,
        order_id: i64,
    ) -> Result<Option<OrderSnapshot>> {
        let prefetched = self.prefetched.borrow_mut().take();
        match prefetched {
            Some(snapshot) if snapshot.as_ref().is_none_or(|s| s.order.id == order_id) => {
                Ok(snapshot)
            }
            _ => self.store.order_for_processing(caller, order_id).await,
        }
    }

    async fn apply_processing(&self, apply: &ApplyProcessing<'_>) -> Result<ApplyOutcome> {
        self.store
            .apply_processing_recorded(apply, &self.receipt)
            .await
    }

    async fn apply_transition(&self, params: &TransitionParams<'_>) -> Result<ApplyOutcome> {
        self.store.apply_transition(params).await
    }
}

/// The secrets `order-events` checks callers with.
#[derive(Clone)]
pub struct ReceiverConfig {
    /// `ORDER_EVENTS_SECRET`.
    pub secret: String,
}

impl std::fmt::Debug for ReceiverConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ReceiverConfig { <redacted> }")
    }
}

/// Who sent a request, and the id to deduplicate it on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    pub source: &'static str,
    pub event_id: String,
}

const SIGNATURE_HEADERS: [&str; 6] = [
    "webhook-id",
    "webhook-timestamp",
    "webhook-signature",
    "svix-id",
    "svix-timestamp",
    "svix-signature",
];

/// Authenticate a request (see the module docs). Signed requests are judged by their
/// signature alone: a bad signature is a 401 even with a service_role bearer. Unsigned ones by
/// `caller` (the boundary's authentication of their keys): the service role only.
pub fn authenticate(
    req: &Request,
    config: &ReceiverConfig,
    caller: Result<Caller>,
    now_unix: i64,
) -> Result<Delivery> {
    let signed = SIGNATURE_HEADERS
        .iter()
        .any(|h| req.headers().contains_key(*h));
    if signed {
        let verifier =
            Verifier::new(Scheme::StandardWebhooks, &[config.secret.as_str()]).map_err(|_| {
                Error::Internal("ORDER_EVENTS_SECRET is not a valid whsec_ secret".into())
            })?;
        return match verifier.verify(req.headers(), req.body(), now_unix) {
            Ok(v) => Ok(Delivery {
                source: SOURCE_OUTBOX,
                event_id: v.id.unwrap_or_default(),
            }),
            Err(WebhookError::BodyTooLarge { limit }) => Err(Error::PayloadTooLarge { limit }),
            Err(e) => Err(Error::Unauthorized(format!(
                "webhook signature rejected: {e}"
            ))),
        };
    }
    if !caller?.is_service_role() {
        return Err(Error::Unauthorized(
            "a Standard Webhooks signature or a secret key (or the legacy service_role key) is required"
                .into(),
        ));
    }
    if req.body().len() > DEFAULT_MAX_BODY {
        return Err(Error::PayloadTooLarge {
            limit: DEFAULT_MAX_BODY,
        });
    }
    Ok(Delivery {
        source: SOURCE_DB_WEBHOOK,
        event_id: format!("sha256:{}", hex::encode(Sha256::digest(req.body()))),
    })
}

fn answer(delivery: &Delivery, order_id: Option<i64>, outcome: &str, duplicate: bool) -> Response {
    http::json(
        200,
        &json!({ "event_id": delivery.event_id, "order_id": order_id, "outcome": outcome, "duplicate": duplicate }),
    )
}

/// A final outcome of processing, or the error to answer (and be retried) with.
fn processing_outcome<T>(result: Result<T>) -> Result<(&'static str, Option<Value>)> {
    match result {
        Ok(_) => Ok(("processed", None)),
        Err(
            e @ Error::Conflict {
                code: "status_conflict",
                ..
            },
        ) => Ok(("not_pending", e.body()["error"].get("details").cloned())),
        Err(Error::Conflict { code, message, .. }) => {
            Err(Error::Unavailable(format!("{code}: {message}")))
        }
        Err(Error::NotFound(_)) => Ok(("order_not_found", None)),
        Err(e @ Error::Unprocessable { .. }) => Ok(("rejected", Some(e.body()["error"].clone()))),
        Err(e) if e.status() >= 500 => Err(e),
        Err(e) => Err(Error::Internal(format!("processing answered {e}"))),
    }
}

/// Act on one authenticated delivery.
async fn act<S: ReceiverStore + OrderStore>(
    store: &S,
    delivery: &Delivery,
    change: &DbChange,
) -> Result<Response> {
    let (source, event_id) = (delivery.source, delivery.event_id.as_str());
    let log = |order_id: i64, outcome: &str| {
        http::log_info(&format!(
            "order-events: {event_id} ({source}) {} orders#{order_id}: {outcome}",
            change.kind.as_str()
        ));
    };
    match decide(change)? {
        OrderEventAction::Ignore => Ok(answer(delivery, change.row_id(), "ignored", false)),
        OrderEventAction::Fulfill { order_id } => {
            let r = store.fulfill(source, event_id, order_id).await?;
            if r.duplicate || r.outcome != "fulfillment_created" {
                log(order_id, &r.outcome);
            }
            Ok(answer(delivery, Some(order_id), &r.outcome, r.duplicate))
        }
        OrderEventAction::Process { order_id } => {
            let start = store.begin_order_event(source, event_id, order_id).await?;
            if start.seen {
                log(order_id, "duplicate");
                return Ok(answer(delivery, Some(order_id), "duplicate", true));
            }
            let event_type = change.kind.as_str();
            let receipt = |outcome, details| Receipt {
                source,
                event_id,
                event_type,
                order_id: Some(order_id),
                outcome,
                details,
            };
            let (outcome, details) = if start.auto_process_orders {
                let caller = Caller::ServiceRole;
                let scoped = EventScoped {
                    store,
                    prefetched: RefCell::new(Some(start.snapshot)),
                    receipt: receipt("processed", None),
                };
                match processing_outcome(process_order(&scoped, &caller, order_id).await)? {
                    // Recorded with the effect, in the same transaction.
                    ("processed", _) => {
                        return Ok(answer(delivery, Some(order_id), "processed", false))
                    }
                    other => other,
                }
            } else {
                ("auto_process_off", None)
            };
            let duplicate = store.record_event(&receipt(outcome, details)).await?;
            log(order_id, outcome);
            Ok(answer(delivery, Some(order_id), outcome, duplicate))
        }
    }
}

/// The `order-events` handler. `caller`: the boundary's authentication of the request's keys
/// (read for unsigned requests only); `now_unix` judges the signature's timestamp.
pub async fn handle_order_event<S: ReceiverStore + OrderStore>(
    store: &S,
    config: &ReceiverConfig,
    caller: Result<Caller>,
    req: Request,
    now_unix: i64,
) -> Result<Response> {
    let run = async {
        http::require_method(&req, ::http::Method::POST, "POST")?;
        let delivery = authenticate(&req, config, caller, now_unix)?;
        let change: DbChange = http::parse_json(req.body())?;
        act(store, &delivery, &change).await
    };
    run.await.inspect_err(|e| {
        if e.status() < 500 && e.status() != 401 {
            http::log_info(&format!("order-events: rejected request: {e}"));
        }
    })
}
