//! A clean shutdown of `webhook-dispatch`, in memory: the claims in flight are reported at once
//! (tries that ended as they are, the rest released with their try given back), the instance
//! stops claiming and posting, and a dispatcher that dies reports nothing (its claims then wait
//! for their lease in SQL: tests/sql/webhooks.test.ts, tests/e2e/shutdown.test.ts).

use std::cell::{Cell, RefCell};
use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_util::FutureExt;
use pollster::block_on;
use serde_json::{json, Value};

use super::held::{HeldClaims, ReleaseReport};
use super::hooks::{
    dispatch_holding, handle_webhook_dispatch, AttemptReport, HookClaim, HookClaimOptions,
    HookConfig, HookReport, HookRequest, HookResponse, HookRuntime, HookSender, HookStore,
    RecordSummary, Resolver,
};
use super::memory::{order_delivery, ScriptedHooks};
use edge_platform::auth::AuthConfig;
use edge_platform::{Error, Result};

const SECRET: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
const SERVICE_KEY: &str = "sb_secret_N7UND0UgjKTVK-Uodkm0Hg_xSvEMPvz";
const T0: i64 = 1_800_000_000_000;

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

impl HookSender for Gated {
    async fn send(&self, req: HookRequest) -> HookResponse {
        let id = req
            .headers
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
        HookResponse::Answered {
            status,
            body: format!("status {status}"),
            retry_after: None,
        }
    }
}

/// `fn:` endpoints only: never asked.
struct NoDns;
impl Resolver for NoDns {
    async fn resolve(&self, host: &str) -> std::result::Result<Vec<std::net::IpAddr>, String> {
        panic!("resolved {host}")
    }
}

fn env(name: &str) -> Option<String> {
    (name == "ORDER_EVENTS_SECRET").then(|| SECRET.to_owned())
}

/// The scripted deliveries, with every `record_attempts` call recorded; reports can be made to
/// fail and claims to wait at a gate.
struct Observed<'a> {
    outbox: &'a ScriptedHooks,
    completes: RefCell<Vec<(String, Vec<AttemptReport>)>>,
    fail_completes: Cell<bool>,
    hold_claims: Cell<bool>,
    claims_waiting: Cell<u32>,
}

impl<'a> Observed<'a> {
    fn new(outbox: &'a ScriptedHooks) -> Self {
        Self {
            outbox,
            completes: RefCell::default(),
            fail_completes: Cell::new(false),
            hold_claims: Cell::new(false),
            claims_waiting: Cell::new(0),
        }
    }
}

impl HookStore for Observed<'_> {
    async fn claim_deliveries(&self, options: &HookClaimOptions) -> Result<HookClaim> {
        if self.hold_claims.get() {
            self.claims_waiting.set(self.claims_waiting.get() + 1);
            Until(&|| !self.hold_claims.get()).await;
            self.claims_waiting.set(self.claims_waiting.get() - 1);
        }
        self.outbox.claim_deliveries(options).await
    }

    async fn record_attempts(
        &self,
        claim: &str,
        results: &[AttemptReport],
    ) -> Result<RecordSummary> {
        self.completes
            .borrow_mut()
            .push((claim.to_owned(), results.to_vec()));
        if self.fail_completes.get() {
            return Err(Error::Unavailable("connection refused".into()));
        }
        self.outbox.record_attempts(claim, results).await
    }
}

/// Deliveries whose first claim hands out `events` (id, order) in that order, then nothing.
fn outbox(events: &[(i64, i64)]) -> ScriptedHooks {
    let o = ScriptedHooks::default();
    o.now.set(T0);
    if !events.is_empty() {
        o.queue(
            events
                .iter()
                .map(|&(id, order)| order_delivery(id, order, insert(order)))
                .collect(),
        );
    }
    o
}

fn insert(order_id: i64) -> Value {
    json!({"type": "INSERT", "table": "orders", "schema": "public",
           "record": {"id": order_id, "status": "pending"}, "old_record": null})
}

fn config(lanes: u32, batch_size: u32) -> HookConfig {
    let mut c = HookConfig::new("http://gw/functions/v1", false);
    c.lanes = lanes;
    c.batch_size = batch_size;
    c
}

fn evt(id: i64) -> String {
    format!("msg_{id}")
}

/// A try that ended with `status`.
fn answered(id: i64, status: u16) -> AttemptReport {
    AttemptReport {
        id,
        http_status: Some(status),
        latency_ms: Some(0),
        response: Some(format!("status {status}")),
        error: (!(200..300).contains(&status)).then(|| format!("HTTP {status}")),
        ..AttemptReport::default()
    }
}

/// Run a dispatch call with `held` until `ready` holds, then `during` (the shutdown), then open
/// the sender's gate and let the call finish.
fn dispatch_then<T>(
    store: &Observed<'_>,
    sender: &Gated,
    cfg: &HookConfig,
    held: &HeldClaims,
    ready: &dyn Fn() -> bool,
    during: impl Future<Output = T>,
) -> (Result<HookReport>, T) {
    let now = || store.outbox.now.get();
    let rt = HookRuntime {
        now_ms: &now,
        env: &env,
    };
    block_on(futures_util::future::join(
        dispatch_holding(store, sender, &NoDns, rt, cfg, held),
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
    // e1 delivered before the shutdown, e2's POST in flight, e3 behind e2 (not tried yet), f1
    // answered 500 (a retry), g1 delivered.
    let (e1, e2, e3, f1, g1) = (1, 2, 3, 4, 5);
    let o = outbox(&[(e1, 1), (e2, 1), (e3, 1), (f1, 2), (g1, 3)]);
    let store = Observed::new(&o);
    let sender = Gated {
        hang: HashSet::from([evt(e2)]),
        status: HashMap::from([(evt(f1), 500)]),
        ..Gated::default()
    };
    let held = HeldClaims::default();
    let ready = || sender.waiting.get() == 1 && sender.sent.borrow().len() == 4;
    let (report, (released, completes_at_release)) =
        dispatch_then(&store, &sender, &config(1, 10), &held, &ready, async {
            assert_eq!(held.held_deliveries(), 5);
            let r = held.release(&store).await;
            // Right after the release, before the POST in flight ends.
            (r, store.completes.borrow().len())
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
    // The release reported everything before the POST in flight ended.
    assert_eq!(completes_at_release, 1);
    // One complete for the release (e2 and e3 released), then the lane's own, which finds
    // nothing under its claim any more; e3 was never posted once closing.
    let completes = store.completes.borrow();
    assert_eq!(completes.len(), 2);
    assert_eq!(completes[0].0, completes[1].0);
    assert_eq!(
        completes[0].1,
        vec![
            answered(e1, 200),
            AttemptReport::released(e2),
            AttemptReport::released(e3),
            answered(f1, 500),
            answered(g1, 200),
        ]
    );
    assert_eq!(*sender.sent.borrow(), [evt(e1), evt(e2), evt(f1), evt(g1)]);
    assert!(!sender.sent.borrow().contains(&evt(e3)));
    // The lane still reports the late answer of e2 under its claim token, which the release
    // already reported: record_attempts ignores a stale token (tests/sql/webhooks.test.ts),
    // so e2 stays released and is delivered again (receivers deduplicate on webhook-id).
    assert_eq!(
        completes[1].1,
        vec![
            answered(e1, 200),
            answered(e2, 200),
            AttemptReport::released(e3),
            answered(f1, 500),
            answered(g1, 200),
        ]
    );
    let report = report.unwrap().counts;
    assert_eq!((report.claimed, report.batches, report.more), (5, 1, true));
    assert_eq!(held.held_deliveries(), 0);
    // Closing: the lane claimed nothing after the release.
    assert_eq!(o.claims.borrow().len(), 1);
}

#[test]
fn a_closing_instance_claims_nothing_and_answers_503() {
    let o = outbox(&[(1, 1)]);
    let store = Observed::new(&o);
    let sender = Gated::default();
    let held = HeldClaims::default();
    // Nothing held: the release makes no call.
    assert_eq!(block_on(held.release(&store)), ReleaseReport::default());
    assert!(store.completes.borrow().is_empty());
    let now = || T0;
    let rt = HookRuntime {
        now_ms: &now,
        env: &env,
    };
    assert_eq!(
        block_on(dispatch_holding(
            &store,
            &sender,
            &NoDns,
            rt,
            &config(2, 10),
            &held
        ))
        .unwrap_err(),
        Error::ShuttingDown
    );
    let auth = AuthConfig::default().with_secret_key(SERVICE_KEY);
    let req = ::http::Request::builder()
        .method("POST")
        .uri("http://x/")
        .header("apikey", SERVICE_KEY)
        .body(Vec::new())
        .unwrap();
    let caller = auth.authenticate(req.headers(), 0);
    let resp = edge_platform::http::respond(block_on(handle_webhook_dispatch(
        &store,
        &sender,
        &NoDns,
        rt,
        caller,
        config(2, 10),
        &held,
        req,
    )));
    assert_eq!(resp.status(), 503);
    let body: Value = serde_json::from_slice(resp.body()).unwrap();
    assert_eq!(body["error"]["code"], "shutting_down");
    assert!(o.claims.borrow().is_empty(), "a closing instance claimed");
    assert!(sender.sent.borrow().is_empty());
}

#[test]
fn a_claim_answered_after_the_shutdown_is_given_back_untried() {
    let e1 = 1;
    let o = outbox(&[(e1, 1)]);
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
    assert_eq!(report.unwrap().counts.released, 1);
    assert!(sender.sent.borrow().is_empty());
    assert_eq!(
        *store.completes.borrow(),
        [("claim-1".to_owned(), vec![AttemptReport::released(e1)])]
    );
    assert_eq!(held.held_deliveries(), 0);
}

#[test]
fn the_release_makes_one_call_per_claim() {
    let (a, b) = (1, 2);
    // Two lanes, one event per claim.
    let o = outbox(&[(a, 1)]);
    o.queue(vec![order_delivery(b, 2, insert(2))]);
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
            ("claim-1", &vec![AttemptReport::released(a)]),
            ("claim-2", &vec![AttemptReport::released(b)]),
        ]
    );
}

#[test]
fn a_failed_release_leaves_the_claim_to_its_lease() {
    let a = 1;
    let o = outbox(&[(a, 1)]);
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
    // The lane's own report failed too: the call reports the error, nothing is held on to.
    assert!(report.is_err());
    assert_eq!(store.completes.borrow().len(), 2);
    // Nothing is held on to: the claim waits for its lease in SQL.
    assert_eq!(held.held_deliveries(), 0);
}

#[test]
fn a_dispatcher_that_dies_reports_nothing() {
    // The contrast: no shutdown hook runs (kill -9, a crash): nothing is completed, so the
    // claims stay until their lease ends and the tries count (SQL: tests/sql/webhooks.test.ts,
    // tests/e2e/shutdown.test.ts with SIGKILL).
    let (a, b) = (1, 2);
    let o = outbox(&[(a, 1), (b, 2)]);
    let store = Observed::new(&o);
    let sender = Gated {
        hang: HashSet::from([evt(a)]),
        ..Gated::default()
    };
    let held = HeldClaims::default();
    let now = || o.now.get();
    let rt = HookRuntime {
        now_ms: &now,
        env: &env,
    };
    let cfg = config(1, 10);
    // One poll: b is delivered, a's POST waits; then the process is gone.
    let call = dispatch_holding(&store, &sender, &NoDns, rt, &cfg, &held);
    assert!(call.now_or_never().is_none());
    assert_eq!(sender.sent.borrow().len(), 2);
    assert!(store.completes.borrow().is_empty());
    assert_eq!(held.held_deliveries(), 2);
}

#[test]
fn claims_are_let_go_once_reported() {
    let o = outbox(&[]);
    for first in [1, 3, 5] {
        o.queue(vec![
            order_delivery(first, first, insert(first)),
            order_delivery(first + 1, first + 1, insert(first + 1)),
        ]);
    }
    let store = Observed::new(&o);
    let sender = Gated::default();
    let held = HeldClaims::default();
    let now = || T0;
    let rt = HookRuntime {
        now_ms: &now,
        env: &env,
    };
    let report = block_on(dispatch_holding(
        &store,
        &sender,
        &NoDns,
        rt,
        &config(2, 2),
        &held,
    ))
    .unwrap()
    .counts;
    assert_eq!((report.claimed, report.delivered), (6, 6));
    assert_eq!(held.held_deliveries(), 0);
    assert!(!held.is_closing());
    // A release now has nothing to do.
    assert_eq!(block_on(held.release(&store)), ReleaseReport::default());
    assert_eq!(store.completes.borrow().len(), 3);
}
