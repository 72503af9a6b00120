//! Payments from a Stripe-compatible provider: the `payment-webhook` flow.
//!
//! 1. Verify the raw body with [`Verifier`] ([`Scheme::Stripe`]) before any parsing: a bad or
//!    missing signature or a stale timestamp is a 400, a body over the cap a 413, and nothing
//!    is written.
//! 2. Parse the event ([`StripeEvent`]) and read what it says about the payment leniently
//!    ([`PaymentEvent`]): a field of the wrong type is not a 400 but a payment exception.
//! 3. Read the order the event names and [`decide`] with the shared state machine
//!    ([`order::transition`]): `payment_intent.succeeded` moves a `processed` order to `paid`
//!    (an `expired` one too when its stock is still there), `charge.refunded` records the
//!    charge's refunds and moves a paid order to `partially_refunded`, or `refunded` for the
//!    whole charge; other event types are ignored.
//! 4. One RPC, `apply_payment_event`, records the event id and its effect in one transaction:
//!    a redelivered event is a `duplicate` and changes nothing; the database re-checks the
//!    order's status, amount and currency on the locked row before applying (optimistic
//!    concurrency), and records a `payment_exceptions` row instead when they no longer hold.
//!
//! Every verified event answers 200 `{"received": true, "event_id", "outcome", "reason"?}`,
//! exceptions included: a mismatch, a wrong status, a partial refund, a missing or unknown order
//! will not get better by redelivery, so the provider must not retry them for days. They are
//! kept in `payment_exceptions` for a person to resolve.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::money::CurrencyCode;
use crate::order::{self, OrderStatus, Transition};
use edge_platform::http::{self, Request, Response};
use edge_platform::{Error, Result};
use edge_webhook::{Scheme, Verifier, WebhookError};

#[cfg(test)]
mod tests;

/// The provider name events are recorded under.
pub const PROVIDER: &str = "stripe";

/// Longest event id or type accepted (Stripe's are about 30 characters).
pub const MAX_EVENT_FIELD_LEN: usize = 255;

/// A Stripe event, as far as this flow reads it.
#[derive(Debug, Clone, Deserialize)]
pub struct StripeEvent {
    pub id: String,
    #[serde(rename = "type")]
    pub event_type: String,
    #[serde(default)]
    pub data: EventData,
}

/// `data` of an event; `object` is read leniently by [`PaymentObject::from_value`].
#[derive(Debug, Clone, Default, Deserialize)]
pub struct EventData {
    #[serde(default)]
    pub object: Value,
}

/// What an event's object says about a payment. A field that is absent or of the wrong type is
/// `None`: the event then becomes a payment exception, not a 400.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PaymentObject {
    /// `id` (`pi_...`, `ch_...`).
    pub id: Option<String>,
    /// `metadata.order_id`: a positive integer, as a string (Stripe metadata) or a number.
    pub order_id: Option<i64>,
    /// `metadata.order_id` as sent, when it is present but not an order id (for the record).
    pub invalid_order_id: Option<Value>,
    /// `amount`, integer minor units.
    pub amount: Option<i64>,
    /// `amount_refunded` (charges), integer minor units.
    pub amount_refunded: Option<i64>,
    /// `currency`, upper-cased (Stripe sends `usd`; orders store `USD`).
    pub currency: Option<CurrencyCode>,
    /// `refunds.data` (charges): the refunds that succeeded or are pending, each well-formed
    /// one (an id, a positive amount); failed and canceled ones are left out.
    pub refunds: Vec<RefundItem>,
}

/// One refund of a charge, as recorded in `public.refunds`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RefundItem {
    pub id: String,
    pub amount: i64,
    /// The refund's own (in a [`Decision`], the charge's when the refund names none).
    pub currency: Option<CurrencyCode>,
    /// Unix seconds.
    pub created: Option<i64>,
}

impl RefundItem {
    fn from_value(v: &Value) -> Option<Self> {
        let status = v.get("status").and_then(Value::as_str);
        if matches!(status, Some("failed" | "canceled")) {
            return None;
        }
        let id = v.get("id").and_then(Value::as_str)?;
        if id.is_empty() || id.len() > MAX_EVENT_FIELD_LEN {
            return None;
        }
        Some(Self {
            id: id.to_owned(),
            amount: v.get("amount").and_then(Value::as_i64).filter(|&a| a > 0)?,
            currency: currency_of(v),
            created: v.get("created").and_then(Value::as_i64),
        })
    }
}

/// `currency`, when it is three letters (upper-cased).
fn currency_of(object: &Value) -> Option<CurrencyCode> {
    object
        .get("currency")
        .and_then(Value::as_str)
        .and_then(CurrencyCode::new_ignore_case)
}

impl PaymentObject {
    pub fn from_value(object: &Value) -> Self {
        let raw_order_id = object
            .pointer("/metadata/order_id")
            .filter(|v| !v.is_null());
        let order_id = raw_order_id.and_then(parse_order_id);
        let invalid_order_id = match (raw_order_id, order_id) {
            (Some(raw), None) => Some(truncated(raw)),
            _ => None,
        };
        Self {
            id: object.get("id").and_then(Value::as_str).map(str::to_owned),
            order_id,
            invalid_order_id,
            amount: object.get("amount").and_then(Value::as_i64),
            amount_refunded: object.get("amount_refunded").and_then(Value::as_i64),
            currency: currency_of(object),
            refunds: object
                .pointer("/refunds/data")
                .and_then(Value::as_array)
                .map(|list| list.iter().filter_map(RefundItem::from_value).collect())
                .unwrap_or_default(),
        }
    }
}

/// A positive integer order id, from `"42"` or `42`; anything else (`"4.2"`, `"-1"`, `" 42"`,
/// `"0"`, out of range) is `None`.
fn parse_order_id(raw: &Value) -> Option<i64> {
    let id = match raw {
        Value::String(s) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => {
            s.parse().ok()
        }
        Value::Number(n) => n.as_i64(),
        _ => None,
    };
    id.filter(|&id| id > 0)
}

/// An invalid value kept for the exception record, cut to a sane size.
fn truncated(raw: &Value) -> Value {
    match raw {
        Value::String(s) => Value::String(s.chars().take(100).collect()),
        Value::Number(_) | Value::Bool(_) => raw.clone(),
        _ => Value::String(format!("<{}>", json_type(raw))),
    }
}

fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// The events this flow acts on.
#[derive(Debug, Clone, PartialEq)]
pub enum PaymentEvent {
    /// `payment_intent.succeeded`: the order is paid.
    Succeeded(PaymentObject),
    /// `charge.refunded`: its refunds are recorded; the order is partially refunded, or
    /// refunded when the whole charge was.
    Refunded(PaymentObject),
    /// Anything else: recorded as seen, otherwise ignored.
    Other,
}

impl PaymentEvent {
    pub fn of(event: &StripeEvent) -> Self {
        match event.event_type.as_str() {
            "payment_intent.succeeded" => {
                Self::Succeeded(PaymentObject::from_value(&event.data.object))
            }
            "charge.refunded" => Self::Refunded(PaymentObject::from_value(&event.data.object)),
            _ => Self::Other,
        }
    }

    /// The payment object, for the events acted on.
    pub fn object(&self) -> Option<&PaymentObject> {
        match self {
            Self::Succeeded(o) | Self::Refunded(o) => Some(o),
            Self::Other => None,
        }
    }

    /// The order to read before deciding, if any.
    pub fn order_id(&self) -> Option<i64> {
        self.object().and_then(|o| o.order_id)
    }
}

/// What a decision needs of the order.
#[derive(Debug, Clone, PartialEq)]
pub struct PaymentOrder {
    pub id: i64,
    pub status: OrderStatus,
    pub currency: CurrencyCode,
    /// `None` until the order is processed.
    pub total_amount: Option<i64>,
}

/// Why an event was recorded as a payment exception (the `payment_exceptions.reason` values).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExceptionReason {
    MissingOrderId,
    OrderNotFound,
    InvalidAmount,
    AmountMismatch,
    CurrencyMismatch,
    StatusConflict,
    PartialRefund,
    /// A payment for an expired order whose stock is gone (decided by the database): refund it.
    OrderExpired,
    /// Refunds adding up to more than the order's total.
    RefundExceedsPayment,
}

impl ExceptionReason {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::MissingOrderId => "missing_order_id",
            Self::OrderNotFound => "order_not_found",
            Self::InvalidAmount => "invalid_amount",
            Self::AmountMismatch => "amount_mismatch",
            Self::CurrencyMismatch => "currency_mismatch",
            Self::StatusConflict => "status_conflict",
            Self::PartialRefund => "partial_refund",
            Self::OrderExpired => "order_expired",
            Self::RefundExceedsPayment => "refund_exceeds_payment",
        }
    }
}

/// What to do with an event.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Apply the transition the state machine allowed, if the database still agrees.
    Apply(Transition),
    /// Record an exception; the order is unchanged. `expected` is the status a transition was
    /// decided on, when one was.
    Exception {
        reason: ExceptionReason,
        expected: Option<OrderStatus>,
    },
    /// Record the refunds of a `charge.refunded` (the order was `from`, the event says `to`:
    /// `partially_refunded` or `refunded`); the database derives the status from the refunds
    /// it has recorded.
    Refund { from: OrderStatus, to: OrderStatus },
    /// Record the event as seen; nothing else.
    Ignore,
}

/// A decision about one event, with what the event said (for the database's re-check and the
/// exception record).
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    pub action: Action,
    pub order_id: Option<i64>,
    /// Minor units: `amount` of a payment, `amount_refunded` of a refund.
    pub amount: Option<i64>,
    pub currency: Option<CurrencyCode>,
    /// Context for an exception record.
    pub details: Option<Value>,
    /// The refunds listed by a refund event.
    pub refunds: Vec<RefundItem>,
}

/// Decide what `event` does to `order` (the order it names, as read; `None` if unknown).
pub fn decide(event: &PaymentEvent, order: Option<&PaymentOrder>) -> Decision {
    let (obj, to) = match event {
        PaymentEvent::Succeeded(o) => (o, OrderStatus::Paid),
        PaymentEvent::Refunded(o) => (o, OrderStatus::Refunded),
        PaymentEvent::Other => {
            return Decision {
                action: Action::Ignore,
                order_id: None,
                amount: None,
                currency: None,
                details: None,
                refunds: Vec::new(),
            }
        }
    };
    let amount = match to {
        OrderStatus::Refunded => obj.amount_refunded,
        _ => obj.amount,
    };
    let decision = |action, details| Decision {
        action,
        order_id: obj.order_id,
        amount,
        currency: obj.currency,
        details,
        // Each with its currency, the charge's when the refund names none.
        refunds: obj
            .refunds
            .iter()
            .map(|r| RefundItem {
                currency: r.currency.or(obj.currency),
                ..r.clone()
            })
            .collect(),
    };
    let exception =
        |reason, expected, details| decision(Action::Exception { reason, expected }, details);
    let requested = json!({ "requested_status": to.as_str() });

    let Some(order_id) = obj.order_id else {
        let details = json!({ "requested_status": to.as_str(),
            "metadata_order_id": obj.invalid_order_id.clone().unwrap_or(Value::Null) });
        return exception(ExceptionReason::MissingOrderId, None, Some(details));
    };
    let Some(order) = order.filter(|o| o.id == order_id) else {
        return exception(ExceptionReason::OrderNotFound, None, Some(requested));
    };
    let (Some(amount), Some(charged), Some(currency)) = (amount, obj.amount, obj.currency) else {
        return exception(ExceptionReason::InvalidAmount, None, Some(requested));
    };
    if to == OrderStatus::Refunded {
        return decide_refund(order, amount, charged, currency, &exception, &decision);
    }
    let t = match order::transition(order_id, order.status, to) {
        Ok(t) => t,
        Err(_) => return exception(ExceptionReason::StatusConflict, None, Some(requested)),
    };
    if currency != order.currency {
        return exception(
            ExceptionReason::CurrencyMismatch,
            Some(t.from),
            Some(requested),
        );
    }
    if order.total_amount != Some(amount) {
        return exception(
            ExceptionReason::AmountMismatch,
            Some(t.from),
            Some(requested),
        );
    }
    decision(Action::Apply(t), None)
}

/// A refund event carries the charge's cumulative `amount_refunded`: the whole charge
/// refunds the order, less partially. The database records each refund of the list once and
/// derives the status from what it has recorded (redeliveries and events out of order change
/// nothing twice); this is the decision on the order as read.
fn decide_refund(
    order: &PaymentOrder,
    refunded: i64,
    charged: i64,
    currency: CurrencyCode,
    exception: &dyn Fn(ExceptionReason, Option<OrderStatus>, Option<Value>) -> Decision,
    decision: &dyn Fn(Action, Option<Value>) -> Decision,
) -> Decision {
    let to = if refunded >= charged {
        OrderStatus::Refunded
    } else {
        OrderStatus::PartiallyRefunded
    };
    let details = json!({ "requested_status": to.as_str(),
        "charge_amount": charged, "amount_refunded": refunded });
    if refunded <= 0 || charged <= 0 {
        return exception(ExceptionReason::InvalidAmount, None, Some(details));
    }
    if !order.status.accepts_refunds() {
        return exception(ExceptionReason::StatusConflict, None, Some(details));
    }
    if currency != order.currency {
        return exception(
            ExceptionReason::CurrencyMismatch,
            Some(order.status),
            Some(details),
        );
    }
    if order.total_amount.is_none_or(|total| refunded > total) {
        return exception(
            ExceptionReason::RefundExceedsPayment,
            Some(order.status),
            Some(details),
        );
    }
    decision(
        Action::Refund {
            from: order.status,
            to,
        },
        None,
    )
}

/// One event to record with its decision (the `apply_payment_event` RPC's input).
#[derive(Debug, Clone, PartialEq)]
pub struct PaymentEventRecord<'a> {
    pub provider: &'a str,
    pub event_id: &'a str,
    pub event_type: &'a str,
    /// The provider object (`pi_...`, `ch_...`), for tracing.
    pub object_id: Option<&'a str>,
    pub decision: &'a Decision,
}

/// The named parameters of `apply_payment_event`, derived from a [`PaymentEventRecord`].
/// `None` is sent as null, which `PostgrestStore::rpc` drops (the SQL defaults apply).
#[derive(Debug, Serialize)]
pub struct PaymentEventParams<'a> {
    pub provider: &'a str,
    pub event_id: &'a str,
    pub event_type: &'a str,
    pub order_id: Option<i64>,
    pub to_status: Option<OrderStatus>,
    pub expected_status: Option<OrderStatus>,
    pub amount: Option<i64>,
    pub currency: Option<CurrencyCode>,
    pub exception_reason: Option<ExceptionReason>,
    pub object_id: Option<&'a str>,
    pub details: Option<&'a Value>,
    /// A refund event's refunds (absent for other events).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refunds: Option<&'a [RefundItem]>,
}

impl PaymentEventRecord<'_> {
    /// The RPC's parameters.
    pub fn rpc_params(&self) -> PaymentEventParams<'_> {
        let d = self.decision;
        let (to_status, expected_status, exception_reason) = match &d.action {
            Action::Apply(t) => (Some(t.to), Some(t.from), None),
            Action::Refund { from, to } => (Some(*to), Some(*from), None),
            Action::Exception { reason, expected } => (None, *expected, Some(*reason)),
            Action::Ignore => (None, None, None),
        };
        let refunds = matches!(d.action, Action::Refund { .. }).then_some(&d.refunds[..]);
        PaymentEventParams {
            provider: self.provider,
            event_id: self.event_id,
            event_type: self.event_type,
            order_id: d.order_id.filter(|_| d.action != Action::Ignore),
            to_status,
            expected_status,
            amount: d.amount,
            currency: d.currency,
            exception_reason,
            object_id: self.object_id,
            details: d.details.as_ref(),
            refunds,
        }
    }

    /// The parameters as the JSON object sent.
    pub fn params(&self) -> Value {
        serde_json::to_value(self.rpc_params()).unwrap_or_default()
    }
}

/// What happened to an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Paid,
    Refunded,
    #[serde(rename = "partially_refunded")]
    PartiallyRefunded,
    Exception,
    Ignored,
    /// The event id was already recorded: nothing was done.
    Duplicate,
}

/// The answer of `apply_payment_event`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct AppliedEvent {
    pub duplicate: bool,
    pub outcome: Outcome,
    #[serde(default)]
    pub reason: Option<ExceptionReason>,
    /// The order's status after the event (when it named a known order).
    #[serde(default)]
    pub order_status: Option<OrderStatus>,
}

/// The 200 answer to the provider.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WebhookReceipt {
    pub received: bool,
    pub event_id: String,
    pub outcome: Outcome,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<ExceptionReason>,
}

/// Payment reads and writes.
#[allow(async_fn_in_trait)] // single-threaded wasm: no Send bound wanted
pub trait PaymentStore {
    /// The order `order_id`, read with service rights; `None` if it does not exist.
    async fn order_for_payment(&self, order_id: i64) -> Result<Option<PaymentOrder>>;
    /// Record the event and apply its decision in one transaction (see the module docs).
    async fn apply_payment_event(&self, record: &PaymentEventRecord<'_>) -> Result<AppliedEvent>;
}

/// A Stripe verifier from `STRIPE_WEBHOOK_SECRET`. Several secrets may be given separated by
/// commas while a secret is rolled. Unset or invalid is a 500 whose log names the variable,
/// never its value.
pub fn stripe_verifier(secrets: Option<&str>) -> Result<Verifier> {
    let secrets: Vec<&str> = secrets
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    if secrets.is_empty() {
        return Err(Error::Internal("STRIPE_WEBHOOK_SECRET is not set".into()));
    }
    Verifier::new(Scheme::Stripe, &secrets)
        .map_err(|_| Error::Internal("STRIPE_WEBHOOK_SECRET is invalid".into()))
}

/// A rejected signature as an HTTP error: 413 over the cap, 400 otherwise. Messages name
/// headers and limits only (see [`WebhookError`]).
fn rejection(e: WebhookError) -> Error {
    match e {
        WebhookError::BodyTooLarge { limit } => Error::PayloadTooLarge { limit },
        WebhookError::InvalidSecret => Error::Internal("webhook secret is invalid".into()),
        other => Error::bad_request(other.code(), format!("invalid webhook signature: {other}")),
    }
}

fn check_event_field(name: &str, value: &str) -> Result<()> {
    if value.is_empty()
        || value.len() > MAX_EVENT_FIELD_LEN
        || !value.chars().all(|c| c.is_ascii_graphic())
    {
        return Err(Error::bad_request(
            "invalid_event",
            format!("event {name} must be 1 to {MAX_EVENT_FIELD_LEN} printable ASCII characters"),
        ));
    }
    Ok(())
}

/// The `payment-webhook` endpoint: verify, parse, decide, record. `now_unix` is the current
/// time in Unix seconds (the wasm boundary reads the clock).
pub async fn handle_payment_webhook<S: PaymentStore>(
    store: &S,
    verifier: &Verifier,
    req: &Request,
    now_unix: i64,
) -> Result<Response> {
    let receipt = receive(store, verifier, req, now_unix).await?;
    Ok(http::json(200, &receipt))
}

async fn receive<S: PaymentStore>(
    store: &S,
    verifier: &Verifier,
    req: &Request,
    now_unix: i64,
) -> Result<WebhookReceipt> {
    http::require_method(req, ::http::Method::POST, "POST")?;
    verifier
        .verify(req.headers(), req.body(), now_unix)
        .map_err(rejection)?;
    let event: StripeEvent = http::parse_json(req.body())?;
    check_event_field("id", &event.id)?;
    check_event_field("type", &event.event_type)?;

    let payment = PaymentEvent::of(&event);
    let order = match payment.order_id() {
        Some(id) => store.order_for_payment(id).await?,
        None => None,
    };
    let decision = decide(&payment, order.as_ref());
    let record = PaymentEventRecord {
        provider: PROVIDER,
        event_id: &event.id,
        event_type: &event.event_type,
        object_id: payment.object().and_then(|o| o.id.as_deref()),
        decision: &decision,
    };
    let applied = store.apply_payment_event(&record).await?;
    if applied.outcome == Outcome::Exception {
        http::log_info(&format!(
            "payment-webhook: event {} ({}) recorded as a payment exception: {} (order {:?})",
            event.id,
            event.event_type,
            applied.reason.map_or("unknown", ExceptionReason::as_str),
            decision.order_id,
        ));
    }
    Ok(WebhookReceipt {
        received: true,
        event_id: event.id,
        outcome: applied.outcome,
        reason: applied.reason,
    })
}

#[cfg(target_arch = "wasm32")]
impl PaymentStore for edge_platform::rest::PostgrestStore {
    async fn order_for_payment(&self, order_id: i64) -> Result<Option<PaymentOrder>> {
        /// The snapshot's order alone (its lines, discount, tax and shipping are skipped).
        #[derive(Deserialize)]
        struct Head {
            order: crate::store::OrderHead,
        }
        let snap: Option<Head> = self
            .rpc_service("order_for_processing", &json!({ "order_id": order_id }))
            .await?;
        let Some(head) = snap.map(|s| s.order) else {
            return Ok(None);
        };
        Ok(Some(PaymentOrder {
            id: head.id,
            status: head.status,
            currency: head.currency,
            total_amount: head.total_amount,
        }))
    }

    async fn apply_payment_event(&self, record: &PaymentEventRecord<'_>) -> Result<AppliedEvent> {
        self.rpc_service("apply_payment_event", &record.params())
            .await
    }
}

/// The whole endpoint over PostgREST: what the `payment-webhook` export runs. The clock is read
/// here, at the boundary.
#[cfg(target_arch = "wasm32")]
pub async fn serve_payment_webhook(
    req: Request,
    ctx: edge_platform::edge::Ctx,
) -> Result<Response> {
    let verifier = stripe_verifier(ctx.env().get("STRIPE_WEBHOOK_SECRET"))?;
    let store = ctx.store()?;
    handle_payment_webhook(&store, &verifier, &req, ctx.now_unix()).await
}
