//! The order flows behind `process-order` and `cancel-order`, written once against the
//! [`OrderStore`] trait.
//!
//! Processing: read the order as the caller sees it (one RPC), decide the transition with the
//! shared state machine, price it in Rust ([`crate::pricing`]), then let the database apply
//! every effect in one transaction if the order is still in the status and with the lines that
//! were priced (`apply_order_processing`). Concurrent calls on one order: exactly one applies;
//! the others get the state machine's 409.

use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::idempotency;
use crate::money::Currency;
use crate::order::{self, OrderStatus, Transition};
use crate::pricing::{
    self, DiscountInput, DiscountKind, OrderInput, PricedOrder, ShippingRule, TaxRate,
};
use crate::store::{
    ApplyProcessing, Begin, Claimed, IdempotencyStore, KeyedRequest, OrderSnapshot, OrderStore,
    Refusal, TransitionParams,
};
use edge_platform::http::{self, Caller, Request, Response};
use edge_platform::{Error, Result};

/// Body of `process-order` and `cancel-order`.
#[derive(Debug, Deserialize)]
pub struct OrderRef {
    pub order_id: i64,
}

/// The 200 answer of `process-order`: the order's id and new status, then the priced order
/// (`{"order_id", "status", "currency", "subtotal_amount", ..., "lines"}`).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ProcessedOrder {
    pub order_id: i64,
    pub status: OrderStatus,
    #[serde(flatten)]
    pub priced: PricedOrder,
}

/// The 200 answer of `cancel-order`.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct CancelledOrder {
    pub order_id: i64,
    pub status: OrderStatus,
    pub previous_status: OrderStatus,
}

/// The order read, or 404 (also when it is someone else's: existence does not leak).
fn found(snapshot: Option<Box<OrderSnapshot>>, order_id: i64) -> Result<Box<OrderSnapshot>> {
    snapshot.ok_or_else(|| Error::NotFound(format!("order {order_id} not found")))
}

/// Turn what the database holds into pricing input (the lines move as read).
pub fn pricing_input(snap: OrderSnapshot) -> Result<OrderInput> {
    let currency = Currency::try_from(snap.order.currency).map_err(|_| {
        Error::unprocessable(
            "unsupported_currency",
            format!("order currency {} is not supported", snap.order.currency),
            None,
        )
    })?;
    let discount = match snap.discount {
        None => None,
        Some(d) => {
            let kind = match (d.percent_bp, d.fixed_amount, d.fixed_currency) {
                (Some(bp), _, _) => DiscountKind::Percent { basis_points: bp },
                (None, Some(amount), Some(cur)) => DiscountKind::Fixed {
                    amount,
                    currency: Currency::try_from(cur).map_err(|_| {
                        Error::Internal(format!(
                            "discount {} has unsupported currency {cur}",
                            d.code
                        ))
                    })?,
                },
                _ => return Err(Error::Internal(format!("discount {} has no kind", d.code))),
            };
            Some(DiscountInput {
                code: d.code,
                kind,
                min_subtotal: d.min_subtotal_amount,
                valid_from: d.valid_from,
                valid_until: d.valid_until,
                max_redemptions: d.max_redemptions,
                redemptions: d.redemptions,
            })
        }
    };
    let shipping = match snap.shipping {
        None => None,
        Some(s) => Some(ShippingRule {
            currency: Currency::try_from(s.currency).map_err(|_| {
                Error::Internal(format!(
                    "shipping rate in unsupported currency {}",
                    s.currency
                ))
            })?,
            flat_amount: s.flat_amount,
            free_over: s.free_over_amount,
        }),
    };
    Ok(OrderInput {
        currency,
        lines: snap.lines,
        discount,
        discount_code: snap.order.discount_code,
        tax: snap.tax.map(|t| TaxRate {
            region: t.region,
            basis_points: t.rate_bp,
            inclusive: t.prices_include_tax,
        }),
        shipping,
        now_unix: snap.now,
    })
}

/// The HTTP error a refusal of the database means, for a request to move `order_id` to `to`:
/// the one place refusals become errors (first answers and replays alike).
pub fn refusal_error(refusal: Refusal, order_id: i64, to: OrderStatus) -> Error {
    match refusal {
        Refusal::NotFound => Error::NotFound(format!("order {order_id} not found")),
        Refusal::StatusConflict { current_status } => {
            order::status_conflict(order_id, current_status, to)
        }
        Refusal::OrderChanged => Error::conflict(
            "order_changed",
            format!("order {order_id} changed while it was being processed; retry"),
            None,
        ),
        Refusal::InsufficientStock { lines } => Error::unprocessable(
            "insufficient_stock",
            "not enough stock for some lines; nothing was reserved",
            Some(json!({ "lines": lines })),
        ),
        Refusal::DiscountExhausted => Error::unprocessable(
            "discount_rejected",
            "the discount code has no redemptions left",
            Some(json!({ "reason": "exhausted" })),
        ),
        Refusal::DiscountCustomerLimit => Error::unprocessable(
            "discount_rejected",
            "the discount code has been redeemed as often as one customer may",
            Some(json!({ "reason": "customer_limit" })),
        ),
        Refusal::DiscountUnknown => Error::unprocessable(
            "discount_rejected",
            "the discount code does not exist",
            Some(json!({ "reason": "unknown" })),
        ),
    }
}

/// What a flow did: its response, and whether the apply RPC answered (then it stored the
/// outcome under the request's claim itself).
struct FlowOutcome<T> {
    result: Result<T>,
    settled: bool,
}

/// Price and process a pending order (no Idempotency-Key: the outbox receiver's entry).
pub async fn process_order<S: OrderStore>(
    store: &S,
    caller: &Caller,
    order_id: i64,
) -> Result<ProcessedOrder> {
    let snapshot = match store.begin_request(caller, order_id, None).await? {
        Begin::Read { snapshot, .. } => snapshot,
        other => return Err(Error::Internal(format!("unkeyed read answered {other:?}"))),
    };
    process_read(store, caller, order_id, snapshot, None)
        .await
        .result
}

/// Cancel a pending or processed order (a processed order's stock is released).
pub async fn cancel_order<S: OrderStore>(
    store: &S,
    caller: &Caller,
    order_id: i64,
) -> Result<CancelledOrder> {
    let snapshot = match store.begin_request(caller, order_id, None).await? {
        Begin::Read { snapshot, .. } => snapshot,
        other => return Err(Error::Internal(format!("unkeyed read answered {other:?}"))),
    };
    cancel_read(store, caller, order_id, snapshot, None)
        .await
        .result
}

/// Process an order as read: decide, price, apply (storing the outcome under `claim`).
async fn process_read<S: OrderStore>(
    store: &S,
    caller: &Caller,
    order_id: i64,
    snapshot: Option<Box<OrderSnapshot>>,
    claim: Option<&str>,
) -> FlowOutcome<ProcessedOrder> {
    let decided = (|| {
        let snap = found(snapshot, order_id)?;
        let t = order::transition(order_id, snap.order.status, OrderStatus::Processed)?;
        let priced = pricing::price(&pricing_input(*snap)?)
            .map_err(|e| Error::unprocessable(e.code(), e.to_string(), Some(e.details())))?;
        Ok((t, priced))
    })();
    let (t, priced) = match decided {
        Ok(v) => v,
        Err(e) => {
            return FlowOutcome {
                result: Err(e),
                settled: false,
            }
        }
    };
    let answer = ProcessedOrder {
        order_id,
        status: OrderStatus::Processed,
        priced,
    };
    // With a key, the apply stores the answer's bytes (http::json renders the same ones).
    let text = claim.map(|_| serde_json::to_string(&answer).unwrap_or_default());
    let applied = store
        .apply_processing(&ApplyProcessing {
            transition: t,
            priced: &answer.priced,
            actor: caller.user_id(),
            claimed: Claimed {
                claim,
                response_text: text.as_deref(),
            },
            receipt: None,
        })
        .await;
    settle(applied.map(|a| a.refusal), answer, &t)
}

/// Cancel an order as read (storing the outcome under `claim`).
async fn cancel_read<S: OrderStore>(
    store: &S,
    caller: &Caller,
    order_id: i64,
    snapshot: Option<Box<OrderSnapshot>>,
    claim: Option<&str>,
) -> FlowOutcome<CancelledOrder> {
    let t = match found(snapshot, order_id)
        .and_then(|snap| order::transition(order_id, snap.order.status, OrderStatus::Cancelled))
    {
        Ok(t) => t,
        Err(e) => {
            return FlowOutcome {
                result: Err(e),
                settled: false,
            }
        }
    };
    let answer = CancelledOrder {
        order_id,
        status: OrderStatus::Cancelled,
        previous_status: t.from,
    };
    let text = claim.map(|_| serde_json::to_string(&answer).unwrap_or_default());
    let claimed = Claimed {
        claim,
        response_text: text.as_deref(),
    };
    let applied = store
        .apply_transition(&TransitionParams::new(&t, caller.user_id(), claimed))
        .await;
    settle(applied.map(|a| a.refusal), answer, &t)
}

/// The response once the apply RPC answered (or failed to).
fn settle<T>(applied: Result<Option<Refusal>>, answer: T, t: &Transition) -> FlowOutcome<T> {
    match applied {
        Ok(None) => FlowOutcome {
            result: Ok(answer),
            settled: true,
        },
        Ok(Some(r)) => FlowOutcome {
            result: Err(refusal_error(r, t.order_id, t.to)),
            settled: true,
        },
        Err(e) => FlowOutcome {
            result: Err(e),
            settled: false,
        },
    }
}

/// Largest request body the order endpoints read (`{"order_id": ...}` is a few bytes).
pub const MAX_BODY: usize = 16 * 1024;

/// Both endpoints over any store: POST, a signed-in user or the service role (`caller`, as the
/// boundary authenticated it), `{"order_id"}`, an optional `Idempotency-Key`. Two round trips
/// with or without a key: the read (`begin_order_request`, which also claims the key or
/// answers its stored outcome) and the apply (which stores the outcome under the claim). A
/// request the flow refuses between the two stores its answer with `idempotency_finish`.
pub async fn handle_order_request<S>(
    store: &S,
    caller: Result<Caller>,
    endpoint: Endpoint,
    req: Request,
) -> Result<Response>
where
    S: OrderStore + IdempotencyStore,
{
    http::require_method(&req, ::http::Method::POST, "POST")?;
    // The publishable (or anon) key acts for nobody: orders need a user or the service role.
    let caller = caller?.require_user_or_service()?;
    if req.body().len() > MAX_BODY {
        return Err(Error::PayloadTooLarge { limit: MAX_BODY });
    }
    let key = idempotency::key_of(&req)?;
    let body: OrderRef = http::parse_json(req.body())?;
    let hash = key.as_ref().map(|_| idempotency::request_hash(req.body()));
    let keyed = key
        .as_deref()
        .zip(hash.as_deref())
        .map(|(k, h)| KeyedRequest {
            endpoint: endpoint.name(),
            idempotency_key: k,
            request_hash: h,
        });
    let (snapshot, claim) = match store
        .begin_request(&caller, body.order_id, keyed.as_ref())
        .await?
    {
        Begin::Read { snapshot, claim } => (snapshot, claim),
        stored => return idempotency::answer(stored, body.order_id, endpoint.target()),
    };
    let claim = claim.as_deref();
    let (result, settled) = match endpoint {
        Endpoint::Process => {
            let out = process_read(store, &caller, body.order_id, snapshot, claim).await;
            (out.result.map(|v| http::json(200, &v)), out.settled)
        }
        Endpoint::Cancel => {
            let out = cancel_read(store, &caller, body.order_id, snapshot, claim).await;
            (out.result.map(|v| http::json(200, &v)), out.settled)
        }
    };
    if let (Some(claim), false) = (claim, settled) {
        idempotency::finish(store, claim, &result).await;
    }
    result
}

#[cfg(test)]
mod tests;

/// The endpoints served by [`serve_order_endpoint`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    /// `process-order`
    Process,
    /// `cancel-order`
    Cancel,
}

impl Endpoint {
    /// The function's name (an idempotency key's endpoint).
    pub fn name(self) -> &'static str {
        match self {
            Self::Process => "process-order",
            Self::Cancel => "cancel-order",
        }
    }

    /// The status the endpoint moves an order to.
    pub fn target(self) -> OrderStatus {
        match self {
            Self::Process => OrderStatus::Processed,
            Self::Cancel => OrderStatus::Cancelled,
        }
    }
}

/// A whole order endpoint over PostgREST: what a function crate's export runs.
#[cfg(target_arch = "wasm32")]
pub async fn serve_order_endpoint(
    req: Request,
    ctx: edge_platform::edge::Ctx,
    endpoint: Endpoint,
) -> Result<Response> {
    let store = ctx.store()?;
    handle_order_request(&store, ctx.caller(), endpoint, req).await
}
