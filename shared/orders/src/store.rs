//! Database access behind traits, so order logic is tested without a network.
//!
//! [`OrderStore`] and [`IdempotencyStore`] are what handlers need; the PostgREST
//! implementation ([`postgrest_store`], wasm32 only) calls the RPCs of
//! `supabase/migrations/*_order_rpc.sql` through `postgrest-rs`. The flows' unit tests use a
//! scripted implementation (`store/memory.rs`) that answers what a test arranges; the RPCs' own rules
//! are tested against PostgreSQL (`tests/sql/`).

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::money::CurrencyCode;
use crate::order::{OrderStatus, Transition};
use crate::pricing::{OrderLine, PricedLine, PricedOrder};
use edge_platform::http::Caller;
use edge_platform::Result;

#[cfg(target_arch = "wasm32")]
pub mod postgrest;

/// What pricing needs of one order, read in one round trip as the caller sees it
/// (`order_for_processing` RPC).
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct OrderSnapshot {
    pub order: OrderHead,
    /// Its lines, in order, each joined with its product.
    pub lines: Vec<OrderLine>,
    pub discount: Option<DiscountRow>,
    pub tax: Option<TaxRow>,
    pub shipping: Option<ShippingRow>,
    /// The database's clock, unix seconds: the one clock discount validity is judged by.
    pub now: i64,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct OrderHead {
    pub id: i64,
    pub user_id: String,
    pub status: OrderStatus,
    /// Any code of the right shape (`orders.currency` is checked for that alone): pricing
    /// answers 422 `unsupported_currency` for one it cannot price in.
    pub currency: CurrencyCode,
    pub discount_code: Option<String>,
    pub shipping_region: Option<String>,
    pub total_amount: Option<i64>,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct DiscountRow {
    pub code: String,
    pub percent_bp: Option<u32>,
    pub fixed_amount: Option<i64>,
    pub fixed_currency: Option<CurrencyCode>,
    pub min_subtotal_amount: i64,
    pub valid_from: Option<i64>,
    pub valid_until: Option<i64>,
    /// Absent for callers other than service_role (the shop's business, not the user's):
    /// then no limit is checked here and `apply_order_processing` decides exhaustion.
    pub max_redemptions: Option<i64>,
    /// Absent for callers other than service_role: read as 0.
    #[serde(default)]
    pub redemptions: i64,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct TaxRow {
    pub region: String,
    pub rate_bp: u32,
    /// The region's prices include the tax (absent before 20261204003300: false).
    #[serde(default)]
    pub prices_include_tax: bool,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct ShippingRow {
    pub currency: CurrencyCode,
    pub flat_amount: i64,
    pub free_over_amount: Option<i64>,
}

/// Why an apply RPC (`apply_order_processing`, `order_transition`) wrote nothing: the tagged
/// `{"kind": ..}` object the SQL answers, one variant per refusal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", try_from = "RefusalWire")]
pub enum Refusal {
    /// The order does not exist (any more).
    NotFound,
    /// The order is no longer in the status the decision was made on.
    StatusConflict { current_status: OrderStatus },
    /// Its lines changed after they were priced.
    OrderChanged,
    /// Some lines lack stock: `[{"product_id", "sku", "requested", "available"}]`.
    InsufficientStock { lines: Value },
    /// The discount code does not exist.
    DiscountUnknown,
    /// The discount code has no redemptions left.
    DiscountExhausted,
    /// The customer has redeemed the code as often as `max_redemptions_per_customer` allows.
    DiscountCustomerLimit,
}

/// A refusal as sent, read flat: an internally tagged enum is deserialized by buffering the
/// object in serde's `Content` (code for every type inside, in every function's wasm).
#[derive(Deserialize)]
struct RefusalWire {
    kind: RefusalKind,
    #[serde(default)]
    current_status: Option<OrderStatus>,
    #[serde(default)]
    lines: Value,
}

#[derive(Deserialize)]
#[serde(rename_all = "snake_case")]
enum RefusalKind {
    NotFound,
    StatusConflict,
    OrderChanged,
    InsufficientStock,
    DiscountUnknown,
    DiscountExhausted,
    DiscountCustomerLimit,
}

impl TryFrom<RefusalWire> for Refusal {
    type Error = &'static str;

    fn try_from(w: RefusalWire) -> std::result::Result<Self, Self::Error> {
        Ok(match w.kind {
            RefusalKind::NotFound => Self::NotFound,
            RefusalKind::StatusConflict => Self::StatusConflict {
                current_status: w
                    .current_status
                    .ok_or("a status_conflict refusal without current_status")?,
            },
            RefusalKind::OrderChanged => Self::OrderChanged,
            RefusalKind::InsufficientStock => Self::InsufficientStock { lines: w.lines },
            RefusalKind::DiscountUnknown => Self::DiscountUnknown,
            RefusalKind::DiscountExhausted => Self::DiscountExhausted,
            RefusalKind::DiscountCustomerLimit => Self::DiscountCustomerLimit,
        })
    }
}

/// The answer of an apply RPC: `{"refusal": null}` when applied, the refusal otherwise (with
/// nothing written).
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApplyOutcome {
    pub refusal: Option<Refusal>,
}

/// The claim a keyed request holds on its Idempotency-Key (from [`Begin::Read`]) and the body
/// it will answer if the apply succeeds: the apply RPC stores the outcome in its transaction.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Claimed<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub claim: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response_text: Option<&'a str>,
}

/// The event whose receipt an apply writes with its effect (order-events).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EventReceipt<'a> {
    pub source: &'a str,
    pub event_id: &'a str,
    pub event_type: &'a str,
}

/// The effects of one processing, applied all or nothing if the order is still in
/// `transition.from` and its lines are the ones priced.
#[derive(Debug, Clone)]
pub struct ApplyProcessing<'a> {
    pub transition: Transition,
    pub priced: &'a PricedOrder,
    /// The user the change is made for (audit actor); `None` for service_role.
    pub actor: Option<&'a str>,
    /// The Idempotency-Key's claim, if the request has one.
    pub claimed: Claimed<'a>,
    /// The event the processing answers, if any (its receipt is written with the effect).
    pub receipt: Option<EventReceipt<'a>>,
}

/// The named parameters of `apply_order_processing`, derived from [`ApplyProcessing`].
#[derive(Debug, Serialize)]
pub struct ApplyProcessingParams<'a> {
    pub order_id: i64,
    pub expected_status: OrderStatus,
    pub subtotal_amount: i64,
    pub discount_amount: i64,
    pub tax_amount: i64,
    pub shipping_amount: i64,
    pub total_amount: i64,
    /// The priced lines (the SQL compares product, quantity and unit amount).
    pub lines: &'a [PricedLine],
    #[serde(skip_serializing_if = "Option::is_none")]
    pub discount_code: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub actor: Option<&'a str>,
    #[serde(flatten)]
    pub claimed: Claimed<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub receipt: Option<&'a EventReceipt<'a>>,
}

impl ApplyProcessing<'_> {
    /// The RPC's parameters.
    pub fn params(&self) -> ApplyProcessingParams<'_> {
        let p = self.priced;
        ApplyProcessingParams {
            order_id: self.transition.order_id,
            expected_status: self.transition.from,
            subtotal_amount: p.subtotal_amount,
            discount_amount: p.discount_amount,
            tax_amount: p.tax_amount,
            shipping_amount: p.shipping_amount,
            total_amount: p.total_amount,
            lines: &p.lines,
            discount_code: p.discount_code.as_deref(),
            actor: self.actor,
            claimed: self.claimed,
            receipt: self.receipt.as_ref(),
        }
    }

    /// The parameters as the JSON object sent (what the scripted stores record).
    pub fn rpc_params(&self) -> serde_json::Map<String, Value> {
        match serde_json::to_value(self.params()) {
            Ok(Value::Object(map)) => map,
            _ => serde_json::Map::new(), // a struct serializes to an object
        }
    }
}

/// The named parameters of `order_transition`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TransitionParams<'a> {
    pub order_id: i64,
    pub from_status: OrderStatus,
    pub to_status: OrderStatus,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub actor: Option<&'a str>,
    #[serde(flatten)]
    pub claimed: Claimed<'a>,
}

impl<'a> TransitionParams<'a> {
    pub fn new(t: &Transition, actor: Option<&'a str>, claimed: Claimed<'a>) -> Self {
        Self {
            order_id: t.order_id,
            from_status: t.from,
            to_status: t.to,
            actor,
            claimed,
        }
    }
}

/// A request's Idempotency-Key, as the read RPC takes it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct KeyedRequest<'a> {
    pub endpoint: &'a str,
    pub idempotency_key: &'a str,
    /// SHA-256 of the request body, hex.
    pub request_hash: &'a str,
}

/// What `begin_order_request` answers: the order (and, with a key, the claim), or what the
/// key says instead.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(from = "BeginWire")]
pub enum Begin {
    /// The order as the caller sees it (`None`: not found or not theirs); `claim` is set when
    /// the request has a key and now holds it.
    Read {
        snapshot: Option<Box<OrderSnapshot>>,
        claim: Option<String>,
    },
    /// A response is stored for this key and body: replay it. `body_text` is the exact body
    /// that was sent (rows stored before it existed have only the parsed `body`); a refusal
    /// of the apply RPC is stored as such and rendered again.
    Replay {
        status: Option<u16>,
        body: Value,
        body_text: Option<String>,
        refusal: Option<Refusal>,
    },
    /// The key was used with a different body.
    Mismatch,
    /// The first request with this key is still running.
    InFlight,
}

/// `begin_order_request`'s answer as sent: one object whose `state` says which of the other
/// keys count (absent ones read as null). Read flat, not as an internally tagged enum, which
/// serde deserializes by buffering the whole answer (`state` comes last in jsonb's key order)
/// in its `Content` type: a second copy of every snapshot type's deserializer in the wasm.
#[derive(Deserialize)]
struct BeginWire {
    state: BeginState,
    #[serde(default)]
    snapshot: Option<Box<OrderSnapshot>>,
    #[serde(default)]
    claim: Option<String>,
    #[serde(default)]
    status: Option<u16>,
    #[serde(default)]
    body: Value,
    #[serde(default)]
    body_text: Option<String>,
    #[serde(default)]
    refusal: Option<Refusal>,
}

#[derive(Deserialize)]
#[serde(rename_all = "snake_case")]
enum BeginState {
    Read,
    Replay,
    Mismatch,
    InFlight,
}

impl From<BeginWire> for Begin {
    fn from(w: BeginWire) -> Self {
        match w.state {
            BeginState::Read => Self::Read {
                snapshot: w.snapshot,
                claim: w.claim,
            },
            BeginState::Replay => Self::Replay {
                status: w.status,
                body: w.body,
                body_text: w.body_text,
                refusal: w.refusal,
            },
            BeginState::Mismatch => Self::Mismatch,
            BeginState::InFlight => Self::InFlight,
        }
    }
}

/// Order reads and writes.
#[allow(async_fn_in_trait)] // single-threaded wasm: no Send bound wanted
pub trait OrderStore {
    /// The order as `caller` may see it; `None` if it does not exist or is not theirs.
    async fn order_for_processing(
        &self,
        caller: &Caller,
        order_id: i64,
    ) -> Result<Option<OrderSnapshot>>;
    /// The order and, with `key`, the key's claim or its stored outcome, in one round trip
    /// (`begin_order_request`). This default (stores that are never given a key, such as the
    /// receiver's) reads the order.
    async fn begin_request(
        &self,
        caller: &Caller,
        order_id: i64,
        key: Option<&KeyedRequest<'_>>,
    ) -> Result<Begin> {
        let _ = key;
        Ok(Begin::Read {
            snapshot: self
                .order_for_processing(caller, order_id)
                .await?
                .map(Box::new),
            claim: None,
        })
    }
    /// Apply a processing (amounts, status, stock, discount redemption) in one transaction.
    async fn apply_processing(&self, apply: &ApplyProcessing<'_>) -> Result<ApplyOutcome>;
    /// Apply a status transition in one transaction (releasing stock on cancel).
    async fn apply_transition(&self, params: &TransitionParams<'_>) -> Result<ApplyOutcome>;
}

/// Outcomes of keyed requests that ended between the read and the apply RPC.
#[allow(async_fn_in_trait)]
pub trait IdempotencyStore {
    /// Store the response (its status and body exactly as sent) under `claim`, or, with no
    /// status (a 5xx), release the claim so a retry runs again (`idempotency_finish`).
    async fn idempotency_finish(&self, claim: &str, status: Option<u16>, body: &str) -> Result<()>;
}

/// A scripted in-memory store for unit tests (this crate's and `edge-outbox`'s, through the
/// `testing` feature); never built into a function.
#[cfg(any(test, feature = "testing"))]
pub mod memory;

#[cfg(test)]
mod contract_tests;

#[cfg(test)]
mod discount_row_tests {
    use super::DiscountRow;

    /// order_for_processing leaves the redemption limit and count out for callers other than
    /// service_role (issue 9 F7): such a row still reads, with no limit known here.
    #[test]
    fn a_discount_without_its_limits_reads_as_unlimited() {
        let row: DiscountRow = serde_json::from_value(serde_json::json!({
            "code": "TEN", "percent_bp": 1000, "fixed_amount": null, "fixed_currency": null,
            "min_subtotal_amount": 0, "valid_from": null, "valid_until": null
        }))
        .unwrap();
        assert_eq!((row.max_redemptions, row.redemptions), (None, 0));
        let full: DiscountRow = serde_json::from_value(serde_json::json!({
            "code": "TEN", "percent_bp": 1000, "fixed_amount": null, "fixed_currency": null,
            "min_subtotal_amount": 0, "valid_from": null, "valid_until": null,
            "max_redemptions": 5, "redemptions": 5
        }))
        .unwrap();
        assert_eq!((full.max_redemptions, full.redemptions), (Some(5), 5));
    }
}
