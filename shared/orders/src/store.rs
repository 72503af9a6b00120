//! Database access behind traits, so order logic is tested without a network.
//!
//! [`OrderStore`] and [`IdempotencyStore`] are what handlers need; the PostgREST
//! implementation ([`postgrest_store`], wasm32 only) calls the RPCs of
//! `supabase/migrations/*_order_rpc.sql` through `postgrest-rs`. The flows' unit tests use a
//! scripted implementation (`store/memory.rs`) that answers what a test arranges; the RPCs' own rules
//! are tested against PostgreSQL (`tests/sql/`).

use serde::Deserialize;
use serde_json::Value;

use crate::order::Transition;
use crate::pricing::PricedOrder;
use edge_platform::http::Caller;
use edge_platform::Result;

#[cfg(target_arch = "wasm32")]
pub mod postgrest;

/// What pricing needs of one order, read in one round trip as the caller sees it
/// (`order_for_processing` RPC).
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct OrderSnapshot {
    pub order: OrderHead,
    pub lines: Vec<SnapshotLine>,
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
    pub status: String,
    pub currency: String,
    pub discount_code: Option<String>,
    pub shipping_region: Option<String>,
    pub total_amount: Option<i64>,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct SnapshotLine {
    pub product_id: i64,
    pub sku: String,
    pub quantity: i64,
    pub unit_amount: i64,
    pub product_currency: String,
    pub product_active: bool,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct DiscountRow {
    pub code: String,
    pub percent_bp: Option<u32>,
    pub fixed_amount: Option<i64>,
    pub fixed_currency: Option<String>,
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
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct ShippingRow {
    pub currency: String,
    pub flat_amount: i64,
    pub free_over_amount: Option<i64>,
}

/// The answer of an apply RPC: `{"ok": true, "order": {..}}` or
/// `{"ok": false, "reason": .., "current_status"?, "lines"?}` with nothing written.
#[derive(Debug, Clone, Deserialize, PartialEq, Default)]
pub struct ApplyOutcome {
    pub ok: bool,
    #[serde(default)]
    pub reason: Option<String>,
    #[serde(default)]
    pub current_status: Option<String>,
    #[serde(default)]
    pub lines: Option<Value>,
    #[serde(default)]
    pub order: Option<Value>,
}

/// The effects of one processing, applied all or nothing if the order is still in
/// `transition.from` and its lines are the ones priced.
#[derive(Debug, Clone)]
pub struct ApplyProcessing<'a> {
    pub transition: Transition,
    pub priced: &'a PricedOrder,
    /// The user the change is made for (audit actor); `None` for service_role.
    pub actor: Option<&'a str>,
}

impl ApplyProcessing<'_> {
    /// The named parameters of the `apply_order_processing` RPC (and of RPCs that wrap it).
    pub fn rpc_params(&self) -> serde_json::Map<String, Value> {
        let p = self.priced;
        let lines: Vec<Value> = p
            .lines
            .iter()
            .map(|l| serde_json::json!({"product_id": l.product_id, "quantity": l.quantity, "unit_amount": l.unit_amount}))
            .collect();
        let params = serde_json::json!({
            "order_id": self.transition.order_id,
            "expected_status": self.transition.from.as_str(),
            "subtotal_amount": p.subtotal_amount,
            "discount_amount": p.discount_amount,
            "tax_amount": p.tax_amount,
            "shipping_amount": p.shipping_amount,
            "total_amount": p.total_amount,
            "lines": lines,
            "discount_code": p.discount_code,
            "actor": self.actor,
        });
        let Value::Object(map) = params else {
            return serde_json::Map::new();
        }; // an object literal
        map
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
    /// Apply a processing (amounts, status, stock, discount redemption) in one transaction.
    async fn apply_processing(&self, apply: &ApplyProcessing<'_>) -> Result<ApplyOutcome>;
    /// Apply a status transition in one transaction (releasing stock on cancel).
    async fn apply_transition(
        &self,
        transition: &Transition,
        actor: Option<&str>,
    ) -> Result<ApplyOutcome>;
}

/// What `idempotency_begin` found for a key.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum IdempotencyBegin {
    /// The caller now holds the key: run the request.
    New,
    /// A response is stored for this key and body: replay it. `body_text` is the exact body
    /// that was sent (rows stored before it existed have only the parsed `body`).
    Replay {
        status: u16,
        #[serde(default)]
        body: Value,
        #[serde(default)]
        body_text: Option<String>,
    },
    /// The key was used with a different body.
    Mismatch,
    /// The first request with this key is still running.
    InFlight,
}

/// Storage of idempotency keys (scoped to the caller, kept 24 hours).
#[allow(async_fn_in_trait)]
pub trait IdempotencyStore {
    async fn idempotency_begin(
        &self,
        scope: &str,
        endpoint: &str,
        key: &str,
        request_hash: &str,
    ) -> Result<IdempotencyBegin>;
    /// Store the response, its body exactly as sent (`store = true`), or release the key for
    /// a retry (`store = false`).
    async fn idempotency_finish(
        &self,
        scope: &str,
        endpoint: &str,
        key: &str,
        status: u16,
        body: &str,
        store: bool,
    ) -> Result<()>;
}

/// A scripted in-memory store for unit tests (this crate's and `edge-outbox`'s, through the
/// `testing` feature); never built into a function.
#[cfg(any(test, feature = "testing"))]
pub mod memory;

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
