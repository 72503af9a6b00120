//! The order flows behind `process-order` and `cancel-order`, written once against the
//! [`OrderStore`] trait.
//!
//! Processing: read the order as the caller sees it (one RPC), decide the transition with the
//! shared state machine, price it in Rust ([`crate::pricing`]), then let the database apply
//! every effect in one transaction if the order is still in the status and with the lines that
//! were priced (`apply_order_processing`). Concurrent calls on one order: exactly one applies;
//! the others get the state machine's 409.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::idempotency::with_idempotency;
use crate::money::Currency;
use crate::order::{self, OrderStatus, Transition};
use crate::pricing::{
    self, DiscountInput, DiscountKind, LineInput, OrderInput, PricedLine, ShippingRule, TaxRate,
};
use crate::store::{ApplyOutcome, ApplyProcessing, IdempotencyStore, OrderSnapshot, OrderStore};
use edge_platform::auth::AuthConfig;
use edge_platform::http::{self, Caller, Request, Response};
use edge_platform::{Error, Result};

/// Body of `process-order` and `cancel-order`.
#[derive(Debug, Deserialize)]
pub struct OrderRef {
    pub order_id: i64,
}

/// The 200 answer of `process-order`.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ProcessedOrder {
    pub order_id: i64,
    pub status: OrderStatus,
    pub currency: Currency,
    pub subtotal_amount: i64,
    pub discount_amount: i64,
    pub tax_amount: i64,
    pub shipping_amount: i64,
    pub total_amount: i64,
    pub lines: Vec<PricedLine>,
}

/// The 200 answer of `cancel-order`.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct CancelledOrder {
    pub order_id: i64,
    pub status: OrderStatus,
    pub previous_status: OrderStatus,
}

/// Read the order or 404 (also when it is someone else's: existence does not leak).
async fn snapshot<S: OrderStore>(
    store: &S,
    caller: &Caller,
    order_id: i64,
) -> Result<OrderSnapshot> {
    store
        .order_for_processing(caller, order_id)
        .await?
        .ok_or_else(|| Error::NotFound(format!("order {order_id} not found")))
}

fn status_of(snap: &OrderSnapshot) -> Result<OrderStatus> {
    OrderStatus::parse(&snap.order.status).ok_or_else(|| {
        Error::Internal(format!(
            "order {} has unknown status {}",
            snap.order.id, snap.order.status
        ))
    })
}

/// Turn what the database holds into pricing input.
pub fn pricing_input(snap: &OrderSnapshot) -> Result<OrderInput> {
    let currency: Currency = snap.order.currency.parse().map_err(|_| {
        Error::unprocessable(
            "unsupported_currency",
            format!("order currency {} is not supported", snap.order.currency),
            None,
        )
    })?;
    let lines = snap
        .lines
        .iter()
        .map(|l| LineInput {
            product_id: l.product_id,
            sku: l.sku.clone(),
            quantity: l.quantity,
            unit_amount: l.unit_amount,
            product_currency: l.product_currency.clone(),
            product_active: l.product_active,
        })
        .collect();
    let discount = match &snap.discount {
        None => None,
        Some(d) => {
            let kind = match (d.percent_bp, d.fixed_amount, d.fixed_currency.as_deref()) {
                (Some(bp), _, _) => DiscountKind::Percent { basis_points: bp },
                (None, Some(amount), Some(cur)) => DiscountKind::Fixed {
                    amount,
                    currency: cur.parse().map_err(|_| {
                        Error::Internal(format!(
                            "discount {} has unsupported currency {cur}",
                            d.code
                        ))
                    })?,
                },
                _ => return Err(Error::Internal(format!("discount {} has no kind", d.code))),
            };
            Some(DiscountInput {
                code: d.code.clone(),
                kind,
                min_subtotal: d.min_subtotal_amount,
                valid_from: d.valid_from,
                valid_until: d.valid_until,
                max_redemptions: d.max_redemptions,
                redemptions: d.redemptions,
            })
        }
    };
    let shipping = match &snap.shipping {
        None => None,
        Some(s) => Some(ShippingRule {
            currency: s.currency.parse().map_err(|_| {
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
        lines,
        discount,
        discount_code: snap.order.discount_code.clone(),
        tax: snap.tax.as_ref().map(|t| TaxRate {
            region: t.region.clone(),
            basis_points: t.rate_bp,
        }),
        shipping,
        now_unix: snap.now,
    })
}

/// Map an apply RPC's refusal to the HTTP error it means.
fn refusal(outcome: ApplyOutcome, t: &Transition) -> Error {
    match outcome.reason.as_deref() {
        Some("not_found") => Error::NotFound(format!("order {} not found", t.order_id)),
        Some("status_conflict") => match outcome
            .current_status
            .as_deref()
            .and_then(OrderStatus::parse)
        {
            Some(current) => order::status_conflict(t.order_id, current, t.to),
            None => Error::Internal("status_conflict without a known current status".into()),
        },
        Some("order_changed") => Error::conflict(
            "order_changed",
            format!(
                "order {} changed while it was being processed; retry",
                t.order_id
            ),
            None,
        ),
        Some("insufficient_stock") => Error::unprocessable(
            "insufficient_stock",
            "not enough stock for some lines; nothing was reserved",
            Some(json!({ "lines": outcome.lines.unwrap_or(Value::Null) })),
        ),
        Some("discount_exhausted") => Error::unprocessable(
            "discount_rejected",
            "the discount code has no redemptions left",
            Some(json!({ "reason": "exhausted" })),
        ),
        Some("discount_unknown") => Error::unprocessable(
            "discount_rejected",
            "the discount code does not exist",
            Some(json!({ "reason": "unknown" })),
        ),
        other => Error::Internal(format!("apply refused with unexpected reason {other:?}")),
    }
}

/// Price and process a pending order.
pub async fn process_order<S: OrderStore>(
    store: &S,
    caller: &Caller,
    order_id: i64,
) -> Result<ProcessedOrder> {
    let snap = snapshot(store, caller, order_id).await?;
    let t = order::transition(order_id, status_of(&snap)?, OrderStatus::Processed)?;
    let priced = pricing::price(&pricing_input(&snap)?)
        .map_err(|e| Error::unprocessable(e.code(), e.to_string(), Some(e.details())))?;
    let outcome = store
        .apply_processing(&ApplyProcessing {
            transition: t,
            priced: &priced,
            actor: caller.user_id(),
        })
        .await?;
    if !outcome.ok {
        return Err(refusal(outcome, &t));
    }
    Ok(ProcessedOrder {
        order_id,
        status: OrderStatus::Processed,
        currency: priced.currency,
        subtotal_amount: priced.subtotal_amount,
        discount_amount: priced.discount_amount,
        tax_amount: priced.tax_amount,
        shipping_amount: priced.shipping_amount,
        total_amount: priced.total_amount,
        lines: priced.lines,
    })
}

/// Cancel a pending or processed order (a processed order's stock is released).
pub async fn cancel_order<S: OrderStore>(
    store: &S,
    caller: &Caller,
    order_id: i64,
) -> Result<CancelledOrder> {
    let snap = snapshot(store, caller, order_id).await?;
    let t = order::transition(order_id, status_of(&snap)?, OrderStatus::Cancelled)?;
    let outcome = store.apply_transition(&t, caller.user_id()).await?;
    if !outcome.ok {
        return Err(refusal(outcome, &t));
    }
    Ok(CancelledOrder {
        order_id,
        status: OrderStatus::Cancelled,
        previous_status: t.from,
    })
}

/// Largest request body the order endpoints read (`{"order_id": ...}` is a few bytes).
pub const MAX_BODY: usize = 16 * 1024;

/// The HTTP handler shape of both endpoints: POST, a signed-in user or the service role
/// (authenticated by `auth` against `now_unix`), `{"order_id"}`, an optional
/// `Idempotency-Key`; `flow` does the work.
pub async fn handle_order_request<S, T, F, Fut>(
    store: &S,
    auth: &AuthConfig,
    now_unix: i64,
    endpoint: &str,
    req: Request,
    flow: F,
) -> Result<Response>
where
    S: OrderStore + IdempotencyStore,
    T: Serialize,
    F: FnOnce(Caller, i64) -> Fut,
    Fut: std::future::Future<Output = Result<T>>,
{
    http::require_method(&req, ::http::Method::POST, "POST")?;
    // The publishable (or anon) key acts for nobody: orders need a user or the service role.
    let caller = auth
        .authenticate(req.headers(), now_unix)?
        .require_user_or_service()?;
    if req.body().len() > MAX_BODY {
        return Err(Error::PayloadTooLarge { limit: MAX_BODY });
    }
    let req_ref = &req;
    let caller_ref = caller.clone();
    with_idempotency(store, &caller, endpoint, req_ref, || async move {
        let body: OrderRef = http::parse_json(req_ref.body())?;
        let v = flow(caller_ref, body.order_id).await?;
        Ok(http::json(200, &v))
    })
    .await
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

/// A whole order endpoint over PostgREST: what a function crate's export runs.
#[cfg(target_arch = "wasm32")]
pub async fn serve_order_endpoint(
    req: Request,
    ctx: edge_platform::edge::Ctx,
    endpoint: Endpoint,
) -> Result<Response> {
    let store = ctx.store()?;
    let auth = ctx.auth()?;
    let (s, auth, now) = (&store, &*auth, ctx.now_unix());
    match endpoint {
        Endpoint::Process => {
            handle_order_request(s, auth, now, "process-order", req, |c, id| async move {
                process_order(s, &c, id).await
            })
            .await
        }
        Endpoint::Cancel => {
            handle_order_request(s, auth, now, "cancel-order", req, |c, id| async move {
                cancel_order(s, &c, id).await
            })
            .await
        }
    }
}
