//! A clean shutdown of the dispatcher, in memory: the claims in flight are completed at once
//! (known outcomes as they are, the rest released with their attempt given back), the instance
//! stops claiming and posting, and a dispatcher that dies instead keeps its claims until the
//! lease ends.

use std::cell::{Cell, RefCell};
use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_util::FutureExt;
use pollster::block_on;
use serde_json::{json, Value};

use super::dispatch::{
    dispatch_holding, handle_dispatch, DispatchConfig, DispatchReport, PostResult, Runtime, Sender,
};
use super::held::{HeldClaims, ReleaseReport};
use super::memory::{MemoryOutbox, Status};
use super::outbox::{Claim, ClaimOptions, CompleteSummary, Completion, OutboxStore};
use crate::auth::AuthConfig;
use crate::{Error, Result};

const SECRET: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
const SERVICE_KEY: &str = "sb_secret_N7UND0UgjKTVK-Uodkm0Hg_xSvEMPvz";
const T0: i64 = 1_800_000_000_000;
const VISIBILITY_MS: i64 = 10_000;

/// Ready once `cond` holds (re-polled at once: pollster's executor spins on it).
struct Until<'a>(&'a dyn Fn() -> bool);
impl Future for Until<'_> {
    type Output = ();
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if (self.0)() {
            Poll::Ready(())
        } else {
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    }
}

/// POSTs answer at once with the status set for their event (200 by default), except those of
/// `hang`, which wait at a gate until `open`.
#[derive(Default)]
struct Gated {
    hang: HashSet<String>,
    status: HashMap<String, u16>,
    open: Cell<bool>,
    /// POSTs waiting at the gate now.
    waiting: Cell<u32>,
    /// The webhook-id of every POST started, in order.
    sent: RefCell<Vec<String>>,
}

impl Sender for Gated {
    async fn post(
        &self,
        _url: &str,
        headers: &[(&'static str, String)],
        _body: Vec<u8>,
        _timeout_ms: u32,
    ) -> PostResult {
        let id = headers
            .iter()
            .find(|(n, _)| *n == "webhook-id")
            .map(|(_, v)| v.clone())
            .unwrap();
        self.sent.borrow_mut().push(id.clone());
        if self.hang.contains(&id) {
            self.waiting.set(self.waiting.get() + 1);
            Until(&|| self.open.get()).await;
            self.waiting.set(self.waiting.get() - 1);
        }
        let status = self.status.get(&id).copied().unwrap_or(200);
        PostResult::Answered {
            status,
            body: format!("status {status}"),
        }
    }
}

/// The in-memory outbox, with every `complete` call recorded; completes can be made to fail
/// and claims to wait at a gate.
struct Observed<'a> {
    outbox: &'a MemoryOutbox,
    completes: RefCell<Vec<(String, Vec<Completion>)>>,
    fail_completes: Cell<bool>,
    hold_claims: Cell<bool>,
    claims_waiting: Cell<u32>,
}

impl<'a> Observed<'a> {
    fn new(outbox: &'a MemoryOutbox) -> Self {
        Self {
            outbox,
            completes: RefCell::default(),
            fail_completes: Cell::new(false),
            hold_claims: Cell::new(false),
            claims_waiting: Cell::new(0),
        }
    }
}

impl OutboxStore for Observed<'_> {
    async fn claim(&self, options: &ClaimOptions) -> Result<Claim> {
        if self.hold_claims.get() {
            self.claims_waiting.set(self.claims_waiting.get() + 1);
            Until(&|| !self.hold_claims.get()).await;
            self.claims_waiting.set(self.claims_waiting.get() - 1);
        }
        self.outbox.claim(options).await
    }

    async fn complete(&self, claim: &str, results: &[Completion]) -> Result<CompleteSummary> {
        self.completes
            .borrow_mut()
            .push((claim.to_owned(), results.to_vec()));
        if self.fail_completes.get() {
            return Err(Error::Unavailable("connection refused".into()));
        }
        self.outbox.complete(claim, results).await
    }
}

fn outbox() -> MemoryOutbox {
    let o = MemoryOutbox::default();
    o.now.set(T0);
    o
}

fn insert(order_id: i64) -> Value {
    json!({"type": "INSERT", "table": "orders", "schema": "public",
           "record": {"id": order_id, "status": "pending"}, "old_record": null})
}

fn config(lanes: u32, batch_size: u32) -> DispatchConfig {
    let mut c = DispatchConfig::new("http://gw/functions/v1", SECRET);
    c.lanes = lanes;
    c.batch_size = batch_size;
    c
}

fn evt(id: i64) -> String {
    format!("evt_{id}")
}

/// (status, attempts, under a claim) of row `id`.
fn state(o: &MemoryOutbox, id: i64) -> (Status, u32, bool) {
    let r = o.row(id);
    assert_eq!(r.claim.is_some(), r.claimed_until.is_some());
    (r.status, r.attempts, r.claim.is_some())
}

/// Run a dispatch call with `held` until `ready` holds, then `during` (the shutdown), then open
/// the sender's gate and let the call finish.
fn dispatch_then<T>(
    store: &Observed<'_>,
    sender: &Gated,
    cfg: &DispatchConfig,
    held: &HeldClaims,
    ready: &dyn Fn() -> bool,
    during: impl Future<Output = T>,
) -> (Result<DispatchReport>, T) {
    let now = || store.outbox.now.get();
    let random = || 0.5;
    let rt = Runtime {
        now_ms: &now,
        random: &random,
    };
    block_on(futures_util::future::join(
        dispatch_holding(store, sender, rt, cfg, held),
        async {
            Until(ready).await;
            let out = during.await;
            sender.open.set(true);
            store.hold_claims.set(false);
            out
        },
    ))
}

#[test]
fn a_clean_shutdown_completes_the_claims_in_flight_at_once() {
    let o = outbox();
    let e1 = o.push(Some(1), "order-events", insert(1)); // delivered before the shutdown
    let e2 = o.push(Some(1), "order-events", insert(1)); // its POST is in flight
    let e3 = o.push(Some(1), "order-events", insert(1)); // behind e2: not tried yet
    let f1 = o.push(Some(2), "order-events", insert(2)); // answered 500: a retry
    let g1 = o.push(Some(3), "order-events", insert(3)); // delivered
    let store = Observed::new(&o);
    let sender = Gated {
        hang: HashSet::from([evt(e2)]),
        status: HashMap::from([(evt(f1), 500)]),
        ..Gated::default()
    };
    let held = HeldClaims::default();
    let ready = || sender.waiting.get() == 1 && sender.sent.borrow().len() == 4;
    let (report, (released, rows)) =
        dispatch_then(&store, &sender, &config(1, 10), &held, &ready, async {
            assert_eq!(held.held_events(), 5);
            let r = held.release(&store).await;
            // Right after the release, before the POST in flight ends.
            let rows: Vec<_> = [e1, e2, e3, f1, g1].map(|id| state(&o, id)).to_vec();
            (r, rows)
        });
    assert_eq!(
        released,
        ReleaseReport {
            claims: 1,
            released: 2,
            reported: 3,
            updated: 5,
            failed: 0
        }
    );
    assert_eq!(
        rows,
        [
            (Status::Delivered, 1, false),
            (Status::Pending, 0, false), // back at once, its attempt given back
            (Status::Pending, 0, false),
            (Status::Pending, 1, false), // the known outcome: a retry, attempt counted
            (Status::Delivered, 1, false),
        ]
    );
    assert_eq!(
        o.row(f1).last_error.as_deref(),
        Some("HTTP 500: status 500")
    );
    assert!(o.row(f1).next_attempt_at > T0);
    // One complete for the release (e2 and e3 released), then the lane's own, which finds
    // nothing under its claim any more; e3 was never posted once closing.
    let completes = store.completes.borrow();
    assert_eq!(completes.len(), 2);
    assert_eq!(completes[0].0, completes[1].0);
    assert_eq!(
        completes[0].1,
        vec![
            Completion::Delivered { id: e1 },
            Completion::Released { id: e2 },
            Completion::Released { id: e3 },
            Completion::Retry {
                id: f1,
                error: "HTTP 500: status 500".into(),
                retry_in_ms: 2000
            },
            Completion::Delivered { id: g1 },
        ]
    );
    assert_eq!(*sender.sent.borrow(), [evt(e1), evt(e2), evt(f1), evt(g1)]);
    assert!(!sender.sent.borrow().contains(&evt(e3)));
    // The late answer of e2 (200) changed nothing: the row is back in the queue, to be
    // delivered again (receivers deduplicate on webhook-id).
    assert_eq!(state(&o, e2), (Status::Pending, 0, false));
    let report = report.unwrap();
    assert_eq!((report.claimed, report.batches, report.more), (5, 1, true));
    assert_eq!(held.held_events(), 0);
    // Another dispatcher takes e2 and e3 at once, with their first attempt.
    let next = o.claim_skipping(
        &ClaimOptions {
            batch_size: 10,
            visibility_secs: 10,
            max_per_order: 4,
        },
        &|_| false,
    );
    let taken: Vec<(i64, u32)> = next.events.iter().map(|e| (e.id, e.attempts)).collect();
    assert_eq!(taken, [(e2, 1), (e3, 1)]);
}

#[test]
fn a_closing_instance_claims_nothing_and_answers_503() {
    let o = outbox();
    let e1 = o.push(Some(1), "order-events", insert(1));
    let store = Observed::new(&o);
    let sender = Gated::default();
    let held = HeldClaims::default();
    // Nothing held: the release makes no call.
    assert_eq!(block_on(held.release(&store)), ReleaseReport::default());
    assert!(store.completes.borrow().is_empty());
    let now = || T0;
    let random = || 0.5;
    let rt = Runtime {
        now_ms: &now,
        random: &random,
    };
    assert_eq!(
        block_on(dispatch_holding(&store, &sender, rt, &config(2, 10), &held)).unwrap_err(),
        Error::ShuttingDown
    );
    let auth = AuthConfig::default().with_secret_key(SERVICE_KEY);
    let req = ::http::Request::builder()
        .method("POST")
        .uri("http://x/")
        .header("apikey", SERVICE_KEY)
        .body(Vec::new())
        .unwrap();
    let resp = block_on(handle_dispatch(
        &store,
        &sender,
        rt,
        &auth,
        config(2, 10),
        &held,
        req,
    ));
    assert_eq!(resp.status(), 503);
    let body: Value = serde_json::from_slice(resp.body()).unwrap();
    assert_eq!(body["error"]["code"], "shutting_down");
    assert_eq!(state(&o, e1), (Status::Pending, 0, false));
    assert!(sender.sent.borrow().is_empty());
}

#[test]
fn a_claim_answered_after_the_shutdown_is_given_back_untried() {
    let o = outbox();
    let e1 = o.push(Some(1), "order-events", insert(1));
    let store = Observed::new(&o);
    store.hold_claims.set(true);
    let sender = Gated::default();
    let held = HeldClaims::default();
    let ready = || store.claims_waiting.get() == 1;
    let (report, released) = dispatch_then(
        &store,
        &sender,
        &config(1, 10),
        &held,
        &ready,
        held.release(&store),
    );
    // The claim was on its way when the shutdown came: nothing to release yet.
    assert_eq!(released, ReleaseReport::default());
    // Its answer then arrives; the lane gives it straight back without posting.
    assert_eq!(report.unwrap().released, 1);
    assert!(sender.sent.borrow().is_empty());
    assert_eq!(
        *store.completes.borrow(),
        [("claim-1".to_owned(), vec![Completion::Released { id: e1 }])]
    );
    assert_eq!(state(&o, e1), (Status::Pending, 0, false));
    assert_eq!(held.held_events(), 0);
}

#[test]
fn the_release_makes_one_call_per_claim() {
    let o = outbox();
    let a = o.push(Some(1), "order-events", insert(1));
    let b = o.push(Some(2), "order-events", insert(2));
    let store = Observed::new(&o);
    let sender = Gated {
        hang: HashSet::from([evt(a), evt(b)]),
        ..Gated::default()
    };
    let held = HeldClaims::default();
    // Two lanes, one event per claim: two claims in flight.
    let ready = || sender.waiting.get() == 2;
    let (_, released) = dispatch_then(
        &store,
        &sender,
        &config(2, 1),
        &held,
        &ready,
        held.release(&store),
    );
    assert_eq!(
        released,
        ReleaseReport {
            claims: 2,
            released: 2,
            reported: 0,
            updated: 2,
            failed: 0
        }
    );
    let completes = store.completes.borrow();
    let first_two: Vec<_> = completes[..2]
        .iter()
        .map(|(t, r)| (t.as_str(), r))
        .collect();
    assert_eq!(
        first_two,
        [
            ("claim-1", &vec![Completion::Released { id: a }]),
            ("claim-2", &vec![Completion::Released { id: b }]),
        ]
    );
    assert_eq!(state(&o, a), (Status::Pending, 0, false));
    assert_eq!(state(&o, b), (Status::Pending, 0, false));
}

#[test]
fn a_failed_release_leaves_the_claim_to_its_lease() {
    let o = outbox();
    let a = o.push(Some(1), "order-events", insert(1));
    let store = Observed::new(&o);
    let sender = Gated {
        hang: HashSet::from([evt(a)]),
        ..Gated::default()
    };
    let held = HeldClaims::default();
    let ready = || sender.waiting.get() == 1;
    let (report, released) = dispatch_then(&store, &sender, &config(1, 10), &held, &ready, async {
        store.fail_completes.set(true);
        held.release(&store).await
    });
    assert_eq!(
        released,
        ReleaseReport {
            claims: 1,
            released: 1,
            reported: 0,
            updated: 0,
            failed: 1
        }
    );
    // The lane's own complete failed too: the call reports the error, nothing is held on to.
    assert!(report.is_err());
    assert_eq!(store.completes.borrow().len(), 2);
    assert_eq!(held.held_events(), 0);
    assert_eq!(state(&o, a), (Status::Pending, 1, true));
    o.advance(VISIBILITY_MS);
    assert_eq!(
        o.claim_skipping(
            &ClaimOptions {
                batch_size: 10,
                visibility_secs: 10,
                max_per_order: 4
            },
            &|_| false
        )
        .events
        .iter()
        .map(|e| (e.id, e.attempts))
        .collect::<Vec<_>>(),
        [(a, 2)]
    );
}

#[test]
fn a_dispatcher_that_dies_keeps_its_claims_until_the_lease_ends() {
    // The contrast: no shutdown hook runs (kill -9, a crash), so the claim stays until
    // claimed_until, and the attempt it started counts.
    let o = outbox();
    let a = o.push(Some(1), "order-events", insert(1));
    let b = o.push(Some(2), "order-events", insert(2));
    let store = Observed::new(&o);
    let sender = Gated {
        hang: HashSet::from([evt(a)]),
        ..Gated::default()
    };
    let held = HeldClaims::default();
    let now = || o.now.get();
    let random = || 0.5;
    let rt = Runtime {
        now_ms: &now,
        random: &random,
    };
    let cfg = config(1, 10);
    // One poll: b is delivered, a's POST waits; then the process is gone.
    let call = dispatch_holding(&store, &sender, rt, &cfg, &held);
    assert!(call.now_or_never().is_none());
    assert_eq!(sender.sent.borrow().len(), 2);
    assert!(store.completes.borrow().is_empty());
    assert_eq!(state(&o, a), (Status::Pending, 1, true));
    assert_eq!(state(&o, b), (Status::Pending, 1, true)); // its success was never reported
    let options = ClaimOptions {
        batch_size: 10,
        visibility_secs: 10,
        max_per_order: 4,
    };
    o.advance(VISIBILITY_MS - 1);
    assert!(o.claim_skipping(&options, &|_| false).events.is_empty());
    o.advance(1);
    let again: Vec<(i64, u32)> = o
        .claim_skipping(&options, &|_| false)
        .events
        .iter()
        .map(|e| (e.id, e.attempts))
        .collect();
    assert_eq!(again, [(a, 2), (b, 2)]);
}

#[test]
fn claims_are_let_go_once_reported() {
    let o = outbox();
    for order in 1..=6 {
        o.push(Some(order), "order-events", insert(order));
    }
    let store = Observed::new(&o);
    let sender = Gated::default();
    let held = HeldClaims::default();
    let now = || T0;
    let random = || 0.5;
    let rt = Runtime {
        now_ms: &now,
        random: &random,
    };
    let report = block_on(dispatch_holding(&store, &sender, rt, &config(2, 2), &held)).unwrap();
    assert_eq!((report.claimed, report.delivered), (6, 6));
    assert_eq!(held.held_events(), 0);
    assert!(!held.is_closing());
    // A release now has nothing to do.
    assert_eq!(block_on(held.release(&store)), ReleaseReport::default());
    assert_eq!(store.completes.borrow().len(), 3);
}
