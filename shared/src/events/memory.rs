//! In-memory [`OutboxStore`] and [`ReceiverStore`] for unit tests, with the rules of the SQL
//! functions (`claim_outbox_events`, `complete_outbox_events`, `requeue_dead_events`,
//! `begin_order_event`, `apply_order_event_processing`, `record_order_event`,
//! `fulfill_order_event`).

use std::cell::{Cell, RefCell};
use std::collections::{HashMap, HashSet};

use serde_json::Value;

use super::outbox::{Claim, ClaimOptions, CompleteSummary, Completion, OutboxEvent, OutboxStore};
use super::receive::{FulfillOutcome, OrderEventStart, Receipt, ReceiverStore};
use super::retry::{DEFAULT_BACKOFF_BASE_MS, DEFAULT_MAX_ATTEMPTS};
use crate::http::Caller;
use crate::order::Transition;
use crate::store::memory::MemoryStore;
use crate::store::{ApplyOutcome, ApplyProcessing, OrderSnapshot, OrderStore};
use crate::Result;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Status {
    Pending,
    Delivered,
    Dead,
}

#[derive(Debug, Clone)]
pub(crate) struct Row {
    pub id: i64,
    pub order_id: Option<i64>,
    pub target: String,
    pub payload: Value,
    pub status: Status,
    pub attempts: u32,
    pub max_attempts: u32,
    pub backoff_base_ms: u64,
    pub next_attempt_at: i64,
    pub claimed_until: Option<i64>,
    pub claim: Option<String>,
    pub last_error: Option<String>,
}

impl Row {
    fn claimable_now(&self, now: i64) -> bool {
        self.status == Status::Pending
            && self.next_attempt_at <= now
            && self.claimed_until.is_none_or(|t| t <= now)
            && self.attempts < self.max_attempts
    }
}

/// Which rows a claim takes, as `claim_outbox_events` decides: candidates are claimable rows
/// whose earlier undelivered same-order rows are all claimable too, in id order, up to
/// `batch_size`, skipping rows `locked_elsewhere` (another transaction's SKIP LOCKED); then a
/// row is kept only if no earlier undelivered row of its order is outside the locked set, and
/// at most `max_per_order` rows per order.
pub(crate) fn claimable(
    rows: &[Row],
    now: i64,
    options: &ClaimOptions,
    locked_elsewhere: &dyn Fn(i64) -> bool,
) -> Vec<i64> {
    let mut sorted: Vec<&Row> = rows.iter().collect();
    sorted.sort_by_key(|r| r.id);
    // Every earlier undelivered row of r's order satisfies `ok`.
    let earlier_all = |r: &Row, ok: &dyn Fn(&Row) -> bool| {
        r.order_id.is_none()
            || sorted
                .iter()
                .filter(|p| {
                    p.order_id == r.order_id && p.id < r.id && p.status != Status::Delivered
                })
                .all(|p| ok(p))
    };
    let locked: Vec<i64> = sorted
        .iter()
        .filter(|r| r.claimable_now(now))
        .filter(|r| earlier_all(r, &|p| p.claimable_now(now)))
        .filter(|r| !locked_elsewhere(r.id))
        .take(options.batch_size as usize)
        .map(|r| r.id)
        .collect();
    let locked_set: HashSet<i64> = locked.iter().copied().collect();
    let mut per_order: HashMap<i64, u32> = HashMap::new();
    sorted
        .iter()
        .filter(|r| locked_set.contains(&r.id))
        .filter(|r| earlier_all(r, &|p| locked_set.contains(&p.id)))
        .filter(|r| match r.order_id {
            None => true,
            Some(o) => {
                let n = per_order.entry(o).or_default();
                *n += 1;
                *n <= options.max_per_order
            }
        })
        .map(|r| r.id)
        .collect()
}

/// An outbox in memory. The clock is `now` (ms), moved by tests.
#[derive(Default)]
pub(crate) struct MemoryOutbox {
    pub rows: RefCell<Vec<Row>>,
    pub now: Cell<i64>,
    claims: Cell<u32>,
}

impl MemoryOutbox {
    pub fn push(&self, order_id: Option<i64>, target: &str, payload: Value) -> i64 {
        let mut rows = self.rows.borrow_mut();
        let id = rows.len() as i64 + 1;
        rows.push(Row {
            id,
            order_id,
            target: target.into(),
            payload,
            status: Status::Pending,
            attempts: 0,
            max_attempts: DEFAULT_MAX_ATTEMPTS,
            backoff_base_ms: DEFAULT_BACKOFF_BASE_MS,
            next_attempt_at: self.now.get(),
            claimed_until: None,
            claim: None,
            last_error: None,
        });
        id
    }

    pub fn row(&self, id: i64) -> Row {
        self.rows.borrow()[(id - 1) as usize].clone()
    }

    pub fn update(&self, id: i64, f: impl FnOnce(&mut Row)) {
        f(&mut self.rows.borrow_mut()[(id - 1) as usize]);
    }

    pub fn advance(&self, ms: i64) {
        self.now.set(self.now.get() + ms);
    }

    pub fn requeue_dead(&self, ids: Option<&[i64]>) -> u32 {
        let now = self.now.get();
        let mut n = 0;
        for r in self.rows.borrow_mut().iter_mut() {
            if r.status == Status::Dead && ids.is_none_or(|ids| ids.contains(&r.id)) {
                r.status = Status::Pending;
                r.attempts = 0;
                r.next_attempt_at = now;
                r.claimed_until = None;
                r.claim = None;
                n += 1;
            }
        }
        n
    }

    fn next_due(&self, now: i64) -> Option<i64> {
        self.rows
            .borrow()
            .iter()
            .filter(|r| r.status == Status::Pending && r.next_attempt_at > now)
            .map(|r| r.next_attempt_at - now)
            .min()
    }

    /// A claim, with rows held by another transaction skipped.
    pub fn claim_skipping(&self, options: &ClaimOptions, locked: &dyn Fn(i64) -> bool) -> Claim {
        let now = self.now.get();
        self.claims.set(self.claims.get() + 1);
        let token = format!("claim-{}", self.claims.get());
        for r in self.rows.borrow_mut().iter_mut() {
            let unclaimed = r.claimed_until.is_none_or(|t| t <= now);
            if r.status == Status::Pending && unclaimed && r.attempts >= r.max_attempts {
                r.status = Status::Dead;
                r.claimed_until = None;
                r.claim = None;
            }
        }
        let chosen = claimable(&self.rows.borrow(), now, options, locked);
        let mut events = Vec::new();
        for id in chosen {
            let mut rows = self.rows.borrow_mut();
            let r = &mut rows[(id - 1) as usize];
            r.claimed_until = Some(now + i64::from(options.visibility_secs) * 1000);
            r.claim = Some(token.clone());
            r.attempts += 1;
            events.push(OutboxEvent {
                id,
                event_id: format!("evt_{id}"),
                order_id: r.order_id,
                target: r.target.clone(),
                payload: r.payload.clone(),
                attempts: r.attempts,
                max_attempts: r.max_attempts,
                backoff_base_ms: r.backoff_base_ms,
            });
        }
        Claim {
            claim: token,
            events,
            next_due_ms: self.next_due(now),
        }
    }
}

impl OutboxStore for MemoryOutbox {
    async fn claim(&self, options: &ClaimOptions) -> Result<Claim> {
        Ok(self.claim_skipping(options, &|_| false))
    }

    async fn complete(&self, claim: &str, results: &[Completion]) -> Result<CompleteSummary> {
        let now = self.now.get();
        let mut summary = CompleteSummary::default();
        {
            let mut rows = self.rows.borrow_mut();
            for c in results {
                let Some(r) = rows.iter_mut().find(|r| r.id == c.id()) else {
                    continue;
                };
                if r.claim.as_deref() != Some(claim) || r.status != Status::Pending {
                    continue;
                }
                match c {
                    Completion::Delivered { .. } => r.status = Status::Delivered,
                    Completion::Retry {
                        error, retry_in_ms, ..
                    } => {
                        r.last_error = Some(error.clone());
                        r.next_attempt_at = now + *retry_in_ms as i64;
                    }
                    Completion::Dead { error, .. } => {
                        r.status = Status::Dead;
                        r.last_error = Some(error.clone());
                    }
                    Completion::Released { .. } => r.attempts = r.attempts.saturating_sub(1),
                }
                r.claimed_until = None;
                r.claim = None;
                summary.updated += 1;
            }
        }
        summary.next_due_ms = self.next_due(now);
        Ok(summary)
    }
}

/// Orders (the processing store) plus receipts, fulfillments and the auto-process switch.
pub(crate) struct MemoryReceiver {
    pub orders: MemoryStore,
    pub receipts: RefCell<HashMap<(String, String), String>>,
    pub fulfillments: RefCell<HashMap<i64, String>>,
    pub auto_process: Cell<bool>,
    /// Make the next N store calls fail with a 503 (the database API is down).
    pub fail_calls: Cell<u32>,
    /// `order_for_processing` calls (the order should come with `begin_order_event`).
    pub reads: Cell<u32>,
}

impl Default for MemoryReceiver {
    fn default() -> Self {
        Self {
            orders: MemoryStore::default(),
            receipts: RefCell::default(),
            fulfillments: RefCell::default(),
            auto_process: Cell::new(true),
            fail_calls: Cell::new(0),
            reads: Cell::new(0),
        }
    }
}

impl MemoryReceiver {
    fn down(&self) -> Result<()> {
        match self.fail_calls.get() {
            0 => Ok(()),
            n => {
                self.fail_calls.set(n - 1);
                Err(crate::Error::Unavailable("memory store is down".into()))
            }
        }
    }

    pub fn outcome(&self, source: &str, event_id: &str) -> Option<String> {
        self.receipts
            .borrow()
            .get(&(source.to_owned(), event_id.to_owned()))
            .cloned()
    }
}

impl ReceiverStore for MemoryReceiver {
    async fn begin_order_event(
        &self,
        source: &str,
        event_id: &str,
        order_id: i64,
    ) -> Result<OrderEventStart> {
        self.down()?;
        let seen = self.outcome(source, event_id).is_some();
        let auto = self.auto_process.get();
        let snapshot = if seen || !auto {
            None
        } else {
            self.orders.orders.borrow().get(&order_id).cloned()
        };
        Ok(OrderEventStart {
            seen,
            auto_process_orders: auto,
            snapshot,
        })
    }

    async fn apply_processing_recorded(
        &self,
        apply: &ApplyProcessing<'_>,
        receipt: &Receipt<'_>,
    ) -> Result<ApplyOutcome> {
        self.down()?;
        let outcome = self.orders.apply_processing(apply).await?;
        if outcome.ok {
            self.receipts
                .borrow_mut()
                .entry((receipt.source.to_owned(), receipt.event_id.to_owned()))
                .or_insert_with(|| receipt.outcome.to_owned());
        }
        Ok(outcome)
    }

    async fn record_event(&self, receipt: &Receipt<'_>) -> Result<bool> {
        self.down()?;
        let key = (receipt.source.to_owned(), receipt.event_id.to_owned());
        let mut receipts = self.receipts.borrow_mut();
        if receipts.contains_key(&key) {
            return Ok(true);
        }
        receipts.insert(key, receipt.outcome.to_owned());
        Ok(false)
    }

    async fn fulfill(&self, source: &str, event_id: &str, order_id: i64) -> Result<FulfillOutcome> {
        self.down()?;
        let key = (source.to_owned(), event_id.to_owned());
        if self.receipts.borrow().contains_key(&key) {
            return Ok(FulfillOutcome {
                duplicate: true,
                outcome: "duplicate".into(),
            });
        }
        let status = self
            .orders
            .orders
            .borrow()
            .get(&order_id)
            .map(|s| s.order.status.clone());
        let outcome = match status.as_deref() {
            None => "order_not_found",
            Some("paid" | "fulfilled") => match self.fulfillments.borrow_mut().entry(order_id) {
                std::collections::hash_map::Entry::Occupied(_) => "fulfillment_exists",
                std::collections::hash_map::Entry::Vacant(v) => {
                    v.insert("queued".into());
                    "fulfillment_created"
                }
            },
            Some(_) => "not_paid",
        };
        self.receipts.borrow_mut().insert(key, outcome.into());
        Ok(FulfillOutcome {
            duplicate: false,
            outcome: outcome.into(),
        })
    }
}

impl OrderStore for MemoryReceiver {
    async fn order_for_processing(
        &self,
        caller: &Caller,
        order_id: i64,
    ) -> Result<Option<OrderSnapshot>> {
        self.down()?;
        self.reads.set(self.reads.get() + 1);
        self.orders.order_for_processing(caller, order_id).await
    }

    async fn apply_processing(&self, apply: &ApplyProcessing<'_>) -> Result<ApplyOutcome> {
        self.down()?;
        self.orders.apply_processing(apply).await
    }

    async fn apply_transition(&self, t: &Transition, actor: Option<&str>) -> Result<ApplyOutcome> {
        self.orders.apply_transition(t, actor).await
    }
}
