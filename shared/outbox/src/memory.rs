//! A scripted [`HookStore`] and [`ReceiverStore`] for unit tests of the dispatcher and the
//! receiver.
//!
//! They hold none of the rules of the SQL functions: which deliveries a claim takes (order per
//! endpoint and row, due times, leases, dead deliveries blocking their row, stale claim tokens)
//! and what a try leads to are decided by `webhooks.claim_deliveries` /
//! `webhooks.record_attempts`, and receipts, deduplication and fulfillments by
//! `begin_order_event`, `record_order_event` and `fulfill_order_event`; all of it is tested
//! against PostgreSQL (tests/sql/webhooks*.test.ts, tests/sql/payments.test.ts,
//! tests/e2e/outbox.test.ts). A test arranges what a claim returns and what the receipt RPCs
//! answer, and asserts what the Rust flow does with it and what it sends.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;

use serde_json::Value;

use super::hooks::{
    AttemptReport, HookClaim, HookClaimOptions, HookDelivery, HookStore, RecordSummary,
};
use super::receive::{FulfillOutcome, OrderEventStart, Receipt, ReceiverStore};
use edge_orders::store::memory::ScriptedStore;
use edge_orders::store::{
    ApplyOutcome, ApplyProcessing, OrderSnapshot, OrderStore, TransitionParams,
};
use edge_platform::http::Caller;
use edge_platform::Result;

/// A delivery of an order's event to `fn:order-events` as a claim hands it out: `msg_{id}`,
/// first try, signed with the function secret `ORDER_EVENTS_SECRET`, the order's row key.
pub(crate) fn order_delivery(id: i64, order_id: i64, payload: Value) -> HookDelivery {
    HookDelivery {
        id,
        webhook_id: format!("msg_{id}"),
        endpoint_id: "ep-order-events".into(),
        url: "fn:order-events".into(),
        secrets: Vec::new(),
        secret_env: Some("ORDER_EVENTS_SECRET".into()),
        payload,
        event_type: "orders.insert".into(),
        attempt: 1,
        row_key: Some(format!("[{order_id}]")),
    }
}

/// Deliveries whose claims return the batches a test queued, and which records every claim and
/// report. The clock (`now`, ms) is the dispatcher's, moved by tests.
#[derive(Default)]
pub(crate) struct ScriptedHooks {
    /// The deliveries of the next claims, in order; once empty, a claim finds nothing.
    pub batches: RefCell<VecDeque<Vec<HookDelivery>>>,
    /// What claims and reports answer as `next_due_ms`.
    pub next_due_ms: Cell<Option<i64>>,
    /// The options of every claim, in order.
    pub claims: RefCell<Vec<HookClaimOptions>>,
    /// (claim token, reports) of every `record_attempts`, in order.
    pub records: RefCell<Vec<(String, Vec<AttemptReport>)>>,
    pub now: Cell<i64>,
}

impl ScriptedHooks {
    pub fn queue(&self, batch: Vec<HookDelivery>) {
        self.batches.borrow_mut().push_back(batch);
    }
}

impl HookStore for ScriptedHooks {
    async fn claim_deliveries(&self, options: &HookClaimOptions) -> Result<HookClaim> {
        self.claims.borrow_mut().push(*options);
        let deliveries = self.batches.borrow_mut().pop_front().unwrap_or_default();
        Ok(HookClaim {
            claim: format!("claim-{}", self.claims.borrow().len()),
            deliveries,
            next_due_ms: self.next_due_ms.get(),
        })
    }

    async fn record_attempts(
        &self,
        claim: &str,
        reports: &[AttemptReport],
    ) -> Result<RecordSummary> {
        self.records
            .borrow_mut()
            .push((claim.to_owned(), reports.to_vec()));
        let ok = |r: &&AttemptReport| matches!(r.http_status, Some(200..=299));
        Ok(RecordSummary {
            updated: reports.len() as u32,
            delivered: reports.iter().filter(ok).count() as u32,
            retried: reports.iter().filter(|r| !r.released && !ok(r)).count() as u32,
            next_due_ms: self.next_due_ms.get(),
            ..RecordSummary::default()
        })
    }
}

/// A receipt as the receiver sent it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct SentReceipt {
    pub source: String,
    pub event_id: String,
    pub event_type: String,
    pub order_id: Option<i64>,
    pub outcome: String,
    pub details: Option<Value>,
}

impl From<&Receipt<'_>> for SentReceipt {
    fn from(r: &Receipt<'_>) -> Self {
        Self {
            source: r.source.into(),
            event_id: r.event_id.into(),
            event_type: r.event_type.into(),
            order_id: r.order_id,
            outcome: r.outcome.into(),
            details: r.details.clone(),
        }
    }
}

/// One receipt RPC the receiver made.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum ReceiverCall {
    Begin {
        source: String,
        event_id: String,
        order_id: i64,
    },
    /// `apply_order_processing` with a receipt: the processing's parameters and the receipt.
    ApplyRecorded(serde_json::Map<String, Value>, SentReceipt),
    Record(SentReceipt),
    Fulfill {
        source: String,
        event_id: String,
        order_id: i64,
    },
}

/// The receiver's store: the order store of the flows ([`ScriptedStore`]: snapshots, apply
/// answers, the down switch) plus scripted receipt RPCs.
#[derive(Default)]
pub(crate) struct ScriptedReceiver {
    pub orders: ScriptedStore,
    /// The answers of the next `begin_order_event` calls; once empty, not seen, automatic
    /// processing on, and the order's snapshot (if the test gave one).
    pub starts: RefCell<VecDeque<OrderEventStart>>,
    /// The answers of the next `record_order_event` calls ("was already there"); once empty,
    /// `false`.
    pub records: RefCell<VecDeque<bool>>,
    /// The answers of the next `fulfill_order_event` calls; once empty,
    /// `fulfillment_created`.
    pub fulfills: RefCell<VecDeque<FulfillOutcome>>,
    pub calls: RefCell<Vec<ReceiverCall>>,
}

impl ScriptedReceiver {
    pub fn with(snapshots: impl IntoIterator<Item = OrderSnapshot>) -> Self {
        Self {
            orders: ScriptedStore::with(snapshots),
            ..Default::default()
        }
    }

    /// What `pick` takes from each call, in order.
    fn picked<T>(&self, pick: impl Fn(&ReceiverCall) -> Option<T>) -> Vec<T> {
        self.calls.borrow().iter().filter_map(pick).collect()
    }

    /// Receipts sent with either RPC, in order (one sent with a processing is written only if
    /// the processing applies).
    pub fn receipts(&self) -> Vec<SentReceipt> {
        self.picked(|c| match c {
            ReceiverCall::ApplyRecorded(_, r) | ReceiverCall::Record(r) => Some(r.clone()),
            _ => None,
        })
    }

    /// Receipts sent with `record_order_event` (outcomes without an effect), in order.
    pub fn records(&self) -> Vec<SentReceipt> {
        self.picked(|c| match c {
            ReceiverCall::Record(r) => Some(r.clone()),
            _ => None,
        })
    }

    /// The order ids processings were sent for, in order.
    pub fn processed(&self) -> Vec<i64> {
        self.picked(|c| match c {
            ReceiverCall::ApplyRecorded(p, _) => p["order_id"].as_i64(),
            _ => None,
        })
    }
}

impl ReceiverStore for ScriptedReceiver {
    async fn begin_order_event(
        &self,
        source: &str,
        event_id: &str,
        order_id: i64,
    ) -> Result<OrderEventStart> {
        self.orders.down()?;
        self.calls.borrow_mut().push(ReceiverCall::Begin {
            source: source.into(),
            event_id: event_id.into(),
            order_id,
        });
        let scripted = self.starts.borrow_mut().pop_front();
        Ok(scripted.unwrap_or_else(|| OrderEventStart {
            seen: false,
            auto_process_orders: true,
            snapshot: self.orders.snapshots.borrow().get(&order_id).cloned(),
        }))
    }

    async fn apply_processing_recorded(
        &self,
        apply: &ApplyProcessing<'_>,
        receipt: &Receipt<'_>,
    ) -> Result<ApplyOutcome> {
        self.orders.down()?;
        self.calls.borrow_mut().push(ReceiverCall::ApplyRecorded(
            apply.rpc_params(),
            receipt.into(),
        ));
        Ok(self.orders.next_apply())
    }

    async fn record_event(&self, receipt: &Receipt<'_>) -> Result<bool> {
        self.orders.down()?;
        self.calls
            .borrow_mut()
            .push(ReceiverCall::Record(receipt.into()));
        Ok(self.records.borrow_mut().pop_front().unwrap_or(false))
    }

    async fn fulfill(&self, source: &str, event_id: &str, order_id: i64) -> Result<FulfillOutcome> {
        self.orders.down()?;
        self.calls.borrow_mut().push(ReceiverCall::Fulfill {
            source: source.into(),
            event_id: event_id.into(),
            order_id,
        });
        let scripted = self.fulfills.borrow_mut().pop_front();
        Ok(scripted.unwrap_or_else(|| FulfillOutcome {
            duplicate: false,
            outcome: "fulfillment_created".into(),
        }))
    }
}

impl OrderStore for ScriptedReceiver {
    async fn order_for_processing(
        &self,
        caller: &Caller,
        order_id: i64,
    ) -> Result<Option<OrderSnapshot>> {
        self.orders.order_for_processing(caller, order_id).await
    }

    async fn apply_processing(&self, apply: &ApplyProcessing<'_>) -> Result<ApplyOutcome> {
        self.orders.apply_processing(apply).await
    }

    async fn apply_transition(&self, p: &TransitionParams<'_>) -> Result<ApplyOutcome> {
        self.orders.apply_transition(p).await
    }
}
