//! The dispatcher and the receiver together, in memory: the outbox rules, retries, dead
//! letters, ordering, signatures and deduplication, with no network.

use std::cell::{Cell, RefCell};
use std::collections::HashSet;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use pollster::block_on;
use serde_json::{json, Value};

use super::dispatch::{
    dispatch, handle_dispatch, DispatchConfig, DispatchReport, PostResult, Runtime, Sender,
};
use super::memory::{claimable, MemoryOutbox, MemoryReceiver, Status};
use super::outbox::{ClaimOptions, OutboxStore};
use super::receive::{handle_order_event, ReceiverConfig, SOURCE_DB_WEBHOOK, SOURCE_OUTBOX};
use crate::auth::AuthConfig;
use crate::http::{Request, Response};
use crate::store::{OrderHead, OrderSnapshot, SnapshotLine};
use crate::webhook::standard;

const SECRET: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
const OTHER_SECRET: &str = "whsec_bG9jYWwtb3JkZXItZXZlbnRzLXNlY3JldC0zMmJ5dGVz";
const SERVICE: &str = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJpc3MiOiJzdXBhYmFzZS1kZW1vIiwicm9sZSI6InNlcnZpY2Vfcm9sZSIsImV4cCI6MTk4MzgxMjk5Nn0.EGIM96RAZx35lJzdJsyH-qQwv8Hdp7fsn3W0YpN81IU";
const ANON: &str = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJpc3MiOiJzdXBhYmFzZS1kZW1vIiwicm9sZSI6ImFub24iLCJleHAiOjE5ODM4MTI5OTZ9.CRXP1A7WOeoJeXxjNni43kdQwgnWNReilDMblYTn_I0";
const T0: i64 = 1_800_000_000_000;

fn opts(batch_size: u32, max_per_order: u32) -> ClaimOptions {
    ClaimOptions {
        batch_size,
        visibility_secs: 60,
        max_per_order,
    }
}

fn insert(order_id: i64) -> Value {
    json!({"type": "INSERT", "table": "orders", "schema": "public",
           "record": {"id": order_id, "status": "pending"}, "old_record": null})
}

fn status_change(order_id: i64, from: &str, to: &str) -> Value {
    json!({"type": "UPDATE", "table": "orders", "schema": "public",
           "record": {"id": order_id, "status": to}, "old_record": {"id": order_id, "status": from}})
}

fn outbox() -> MemoryOutbox {
    let o = MemoryOutbox::default();
    o.now.set(T0);
    o
}

const SECRET_KEY: &str = "sb_secret_N7UND0UgjKTVK-Uodkm0Hg_xSvEMPvz";
const PUBLISHABLE_KEY: &str = "sb_publishable_ACJWlzQHlZjBrEguHvfOxg_3BJgxAaH";

/// The keys of a project with both key systems.
fn auth() -> AuthConfig {
    AuthConfig::default()
        .with_legacy_keys(SERVICE, ANON)
        .with_secret_key(SECRET_KEY)
        .with_publishable_key(PUBLISHABLE_KEY)
}

fn receiver_config() -> ReceiverConfig {
    ReceiverConfig {
        secret: SECRET.into(),
        auth: std::rc::Rc::new(auth()),
    }
}

fn dispatch_config() -> DispatchConfig {
    DispatchConfig::new("http://gw/functions/v1/", SECRET)
}

/// A pending order with one line of product 1 (stock set by the caller).
fn add_order(r: &MemoryReceiver, id: i64, quantity: i64) {
    r.orders.orders.borrow_mut().insert(
        id,
        OrderSnapshot {
            order: OrderHead {
                id,
                user_id: "00000000-0000-4000-8000-000000000001".into(),
                status: "pending".into(),
                currency: "USD".into(),
                discount_code: None,
                shipping_region: None,
                total_amount: None,
            },
            lines: vec![SnapshotLine {
                product_id: 1,
                sku: "SKU-1".into(),
                quantity,
                unit_amount: 1000,
                product_currency: "USD".into(),
                product_active: true,
            }],
            discount: None,
            tax: None,
            shipping: None,
            now: T0 / 1000,
        },
    );
    r.orders.stock.borrow_mut().entry(1).or_insert(100);
}

fn set_status(r: &MemoryReceiver, id: i64, status: &str) {
    r.orders
        .orders
        .borrow_mut()
        .get_mut(&id)
        .unwrap()
        .order
        .status = status.into();
}

/// Pending once, so concurrent deliveries interleave under `join_all`.
struct YieldOnce(bool);
impl Future for YieldOnce {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0 {
            Poll::Ready(())
        } else {
            self.0 = true;
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    }
}

/// A sender that hands each POST to the in-memory `order-events` handler (any other target:
/// 404), can be made to time out, and records what it sent.
struct Loopback<'a> {
    receiver: &'a MemoryReceiver,
    clock: &'a MemoryOutbox,
    /// The next N POSTs time out.
    down: Cell<u32>,
    /// (webhook-id, order id of the payload) of every POST, in order.
    sent: RefCell<Vec<(String, Option<i64>)>>,
    in_flight: RefCell<HashSet<String>>,
    /// The same event in flight twice at once.
    overlaps: Cell<u32>,
    /// Two events of one order in flight at once.
    order_overlaps: Cell<u32>,
    orders_in_flight: RefCell<HashSet<i64>>,
}

impl<'a> Loopback<'a> {
    fn new(receiver: &'a MemoryReceiver, clock: &'a MemoryOutbox) -> Self {
        Self {
            receiver,
            clock,
            down: Cell::new(0),
            sent: RefCell::default(),
            in_flight: RefCell::default(),
            overlaps: Cell::new(0),
            order_overlaps: Cell::new(0),
            orders_in_flight: RefCell::default(),
        }
    }
}

impl Sender for Loopback<'_> {
    async fn post(
        &self,
        url: &str,
        headers: &[(&'static str, String)],
        body: Vec<u8>,
        _timeout_ms: u32,
    ) -> PostResult {
        let id = headers
            .iter()
            .find(|(n, _)| *n == "webhook-id")
            .map(|(_, v)| v.clone())
            .unwrap();
        let order = serde_json::from_slice::<Value>(&body).unwrap()["record"]["id"].as_i64();
        self.sent.borrow_mut().push((id.clone(), order));
        if !self.in_flight.borrow_mut().insert(id.clone()) {
            self.overlaps.set(self.overlaps.get() + 1);
        }
        if let Some(o) = order {
            if !self.orders_in_flight.borrow_mut().insert(o) {
                self.order_overlaps.set(self.order_overlaps.get() + 1);
            }
        }
        YieldOnce(false).await;
        let result = if self.down.get() > 0 {
            self.down.set(self.down.get() - 1);
            PostResult::TimedOut
        } else if url != "http://gw/functions/v1/order-events" {
            PostResult::Answered {
                status: 404,
                body: "no function".into(),
            }
        } else {
            let mut req = ::http::Request::builder().method("POST").uri(url);
            for (n, v) in headers {
                req = req.header(*n, v);
            }
            let resp = handle_order_event(
                self.receiver,
                &receiver_config(),
                req.body(body).unwrap(),
                self.clock.now.get() / 1000,
            )
            .await;
            PostResult::Answered {
                status: resp.status().as_u16(),
                body: String::from_utf8_lossy(resp.body()).into_owned(),
            }
        };
        self.in_flight.borrow_mut().remove(&id);
        if let Some(o) = order {
            self.orders_in_flight.borrow_mut().remove(&o);
        }
        result
    }
}

fn run(outbox: &MemoryOutbox, sender: &Loopback<'_>, config: &DispatchConfig) -> DispatchReport {
    let now = || outbox.now.get();
    let random = || 0.5;
    block_on(dispatch(
        outbox,
        sender,
        Runtime {
            now_ms: &now,
            random: &random,
        },
        config,
    ))
    .unwrap()
}

// --- claim rules ---------------------------------------------------------------------------

#[test]
fn a_claim_takes_each_orders_events_in_order_up_to_the_cap() {
    let o = outbox();
    let a1 = o.push(Some(1), "order-events", insert(1));
    let b1 = o.push(Some(2), "order-events", insert(2));
    let a2 = o.push(
        Some(1),
        "order-events",
        status_change(1, "pending", "processed"),
    );
    let a3 = o.push(
        Some(1),
        "order-events",
        status_change(1, "processed", "paid"),
    );
    let n1 = o.push(None, "order-events", json!({}));
    let ids: Vec<i64> = o
        .claim_skipping(&opts(10, 2), &|_| false)
        .events
        .iter()
        .map(|e| e.id)
        .collect();
    assert_eq!(ids, [a1, b1, a2, n1]); // a3 is over max_per_order
                                       // a3 is not claimable while a1 and a2 are claimed...
    assert!(o.claim_skipping(&opts(10, 2), &|_| false).events.is_empty());
    // Once they are delivered, it is the head of its order.
    block_on(o.complete(
        "claim-1",
        &[
            super::outbox::Completion::Delivered { id: a1 },
            super::outbox::Completion::Delivered { id: a2 },
        ],
    ))
    .unwrap();
    let next: Vec<i64> = o
        .claim_skipping(&opts(10, 2), &|_| false)
        .events
        .iter()
        .map(|e| e.id)
        .collect();
    assert_eq!(next, [a3]);
}

#[test]
fn a_successor_is_never_claimed_when_its_predecessor_is_held_elsewhere() {
    let o = outbox();
    let a1 = o.push(Some(1), "order-events", insert(1));
    let a2 = o.push(
        Some(1),
        "order-events",
        status_change(1, "pending", "processed"),
    );
    let b1 = o.push(Some(2), "order-events", insert(2));
    // Another dispatcher's claim transaction holds a1 (SKIP LOCKED skips it): a2 must not be
    // taken even though it looked claimable before locking.
    let ids: Vec<i64> = o
        .claim_skipping(&opts(10, 4), &|id| id == a1)
        .events
        .iter()
        .map(|e| e.id)
        .collect();
    assert_eq!(ids, [b1]);
    // The batch limit cuts a chain at its end, never at its head.
    let o2 = outbox();
    o2.push(Some(1), "order-events", insert(1));
    o2.push(Some(1), "order-events", json!({}));
    let cut = o2.claim_skipping(&opts(1, 4), &|_| false);
    assert_eq!(cut.events.len(), 1);
    assert_eq!(cut.events[0].id, 1);
    let _ = a2;
}

#[test]
fn claimable_is_the_pure_rule_the_store_uses() {
    let o = outbox();
    for order in [1, 1, 2, 3, 3, 3] {
        o.push(Some(order), "order-events", json!({}));
    }
    o.update(4, |r| r.next_attempt_at = T0 + 1000); // order 3's head waits for a retry
    let rows = o.rows.borrow().clone();
    assert_eq!(claimable(&rows, T0, &opts(100, 4), &|_| false), [1, 2, 3]);
    assert_eq!(
        claimable(&rows, T0 + 1000, &opts(100, 4), &|_| false),
        [1, 2, 3, 4, 5, 6]
    );
    assert_eq!(
        claimable(&rows, T0 + 1000, &opts(100, 1), &|_| false),
        [1, 3, 4]
    );
    assert_eq!(
        claimable(&rows, T0 + 1000, &opts(3, 4), &|_| false),
        [1, 2, 3]
    );
}

#[test]
fn a_dead_event_blocks_its_order_until_requeued() {
    let o = outbox();
    let a1 = o.push(Some(1), "order-events", insert(1));
    let a2 = o.push(Some(1), "order-events", json!({}));
    let b1 = o.push(Some(2), "order-events", insert(2));
    o.update(a1, |r| r.status = Status::Dead);
    let ids: Vec<i64> = o
        .claim_skipping(&opts(10, 4), &|_| false)
        .events
        .iter()
        .map(|e| e.id)
        .collect();
    assert_eq!(ids, [b1]);
    assert_eq!(o.requeue_dead(Some(&[a1])), 1);
    assert_eq!(o.row(a1).attempts, 0);
    let ids: Vec<i64> = o
        .claim_skipping(&opts(10, 4), &|_| false)
        .events
        .iter()
        .map(|e| e.id)
        .collect();
    assert_eq!(ids, [a1, a2]);
}

#[test]
fn an_expired_claim_comes_back_and_an_expired_last_attempt_is_dead() {
    let o = outbox();
    let a = o.push(Some(1), "order-events", insert(1));
    let b = o.push(Some(2), "order-events", insert(2));
    o.update(b, |r| r.max_attempts = 1);
    let first = o.claim_skipping(&opts(10, 4), &|_| false);
    assert_eq!(first.events.len(), 2);
    assert!(o.claim_skipping(&opts(10, 4), &|_| false).events.is_empty());
    o.advance(60_000); // the dispatcher died: its claim expires
    let again = o.claim_skipping(&opts(10, 4), &|_| false);
    assert_eq!(again.events.iter().map(|e| e.id).collect::<Vec<_>>(), [a]);
    assert_eq!(again.events[0].attempts, 2);
    assert_eq!(o.row(b).status, Status::Dead);
    // The stale claim can no longer complete anything.
    let s = block_on(o.complete(
        &first.claim,
        &[super::outbox::Completion::Delivered { id: a }],
    ))
    .unwrap();
    assert_eq!(s.updated, 0);
    assert_eq!(o.row(a).status, Status::Pending);
}

// --- dispatch + receive ----------------------------------------------------------------------

#[test]
fn new_orders_are_processed_through_signed_deliveries() {
    let o = outbox();
    let r = MemoryReceiver::default();
    for id in 1..=5 {
        add_order(&r, id, 2);
        o.push(Some(id), "order-events", insert(id));
    }
    let sender = Loopback::new(&r, &o);
    let report = run(&o, &sender, &dispatch_config());
    assert_eq!(
        (report.claimed, report.delivered, report.retried),
        (5, 5, 0)
    );
    assert!(!report.more);
    for id in 1..=5 {
        assert_eq!(r.orders.status(id), "processed");
        assert_eq!(o.row(id).status, Status::Delivered);
        assert_eq!(
            r.outcome(SOURCE_OUTBOX, &format!("evt_{id}")).as_deref(),
            Some("processed")
        );
    }
    assert_eq!(r.orders.stock.borrow()[&1], 90);
    // Each order was read once, with the dedup check (begin_order_event), not a second time.
    assert_eq!(r.reads.get(), 0);
    // Nothing due: a second run claims nothing.
    assert_eq!(run(&o, &sender, &dispatch_config()).claimed, 0);
}

#[test]
fn an_unreachable_receiver_gets_every_event_after_it_comes_back() {
    let o = outbox();
    let r = MemoryReceiver::default();
    for id in 1..=3 {
        add_order(&r, id, 1);
        o.push(Some(id), "order-events", insert(id));
    }
    let sender = Loopback::new(&r, &o);
    sender.down.set(6); // two full rounds time out
    let first = run(&o, &sender, &dispatch_config());
    assert_eq!((first.retried, first.delivered), (3, 0));
    assert_eq!(first.next_due_ms, Some(2000)); // 2 s ± 10 %, jitter source 0.5
    assert_eq!(
        o.row(1).last_error.as_deref(),
        Some("no answer within 5000 ms")
    );
    // Not due yet: nothing is sent.
    assert_eq!(run(&o, &sender, &dispatch_config()).claimed, 0);
    o.advance(2000);
    assert_eq!(run(&o, &sender, &dispatch_config()).retried, 3);
    o.advance(3999);
    assert_eq!(run(&o, &sender, &dispatch_config()).claimed, 0); // second wait: 4 s
    o.advance(1);
    let last = run(&o, &sender, &dispatch_config());
    assert_eq!(last.delivered, 3);
    for id in 1..=3 {
        assert_eq!(r.orders.status(id), "processed");
        assert_eq!(o.row(id).attempts, 3);
    }
    // Every attempt of one event carried the same webhook-id.
    let sent = sender.sent.borrow();
    assert_eq!(sent.iter().filter(|(id, _)| id == "evt_1").count(), 3);
    assert_eq!(*r.orders.applies.borrow(), 3);
}

#[test]
fn a_poison_event_is_dead_after_its_last_attempt_and_can_be_requeued() {
    let o = outbox();
    let r = MemoryReceiver::default();
    let id = o.push(
        None,
        "no-such-function",
        json!({"type": "INSERT", "table": "x", "schema": "public", "record": {}}),
    );
    o.update(id, |row| {
        row.max_attempts = 3;
        row.backoff_base_ms = 100;
    });
    let sender = Loopback::new(&r, &o);
    for _ in 0..3 {
        run(&o, &sender, &dispatch_config());
        o.advance(1000);
    }
    let row = o.row(id);
    assert_eq!(row.status, Status::Dead);
    assert_eq!(row.attempts, 3);
    assert_eq!(row.last_error.as_deref(), Some("HTTP 404: no function"));
    assert_eq!(run(&o, &sender, &dispatch_config()).claimed, 0);
    assert_eq!(o.requeue_dead(None), 1);
    o.update(id, |row| row.target = "order-events".into());
    assert_eq!(run(&o, &sender, &dispatch_config()).delivered, 1);
    assert_eq!(o.row(id).status, Status::Delivered);
}

#[test]
fn an_invalid_target_is_dead_at_once() {
    let o = outbox();
    let r = MemoryReceiver::default();
    let id = o.push(None, "../rest/v1/orders", json!({}));
    let sender = Loopback::new(&r, &o);
    assert_eq!(run(&o, &sender, &dispatch_config()).dead, 1);
    assert!(o.row(id).last_error.unwrap().starts_with("invalid target"));
    assert!(sender.sent.borrow().is_empty());
}

#[test]
fn a_failed_event_holds_back_the_rest_of_its_order() {
    let o = outbox();
    let r = MemoryReceiver::default();
    add_order(&r, 1, 1);
    add_order(&r, 2, 1);
    let a1 = o.push(Some(1), "order-events", insert(1));
    let a2 = o.push(
        Some(1),
        "order-events",
        status_change(1, "pending", "processed"),
    );
    let b1 = o.push(Some(2), "order-events", insert(2));
    let sender = Loopback::new(&r, &o);
    sender.down.set(1); // the first POST (a1: chains start in id order) times out
    let report = run(&o, &sender, &dispatch_config());
    assert_eq!(
        (report.retried, report.released, report.delivered),
        (1, 1, 1)
    );
    assert_eq!(o.row(a2).attempts, 0); // released untried: its attempt given back
    assert_eq!(o.row(b1).status, Status::Delivered);
    o.advance(2000);
    let report = run(&o, &sender, &dispatch_config());
    assert_eq!(report.delivered, 2);
    let order1: Vec<String> = sender
        .sent
        .borrow()
        .iter()
        .filter(|(_, o)| *o == Some(1))
        .map(|(id, _)| id.clone())
        .collect();
    assert_eq!(
        order1,
        [
            format!("evt_{a1}"),
            format!("evt_{a1}"),
            format!("evt_{a2}")
        ]
    );
}

#[test]
fn concurrent_dispatchers_never_overlap_on_an_event_or_an_order() {
    let o = outbox();
    let r = MemoryReceiver::default();
    for id in 1..=40 {
        add_order(&r, id, 1);
        o.push(Some(id), "order-events", insert(id));
        o.push(
            Some(id),
            "order-events",
            status_change(id, "pending", "processed"),
        );
        o.push(
            Some(id),
            "order-events",
            status_change(id, "processed", "cancelled"),
        );
    }
    r.orders.stock.borrow_mut().insert(1, 1000);
    let sender = Loopback::new(&r, &o);
    let mut config = dispatch_config();
    config.batch_size = 7;
    config.lanes = 3;
    config.max_per_order = 2;
    let now = || o.now.get();
    let random = || 0.5;
    let rt = Runtime {
        now_ms: &now,
        random: &random,
    };
    // Two calls at once, three lanes each.
    let (a, b) = block_on(futures_util::future::join(
        dispatch(&o, &sender, rt, &config),
        dispatch(&o, &sender, rt, &config),
    ));
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(a.delivered + b.delivered, 120);
    assert_eq!(sender.overlaps.get(), 0);
    assert_eq!(sender.order_overlaps.get(), 0);
    assert_eq!(sender.sent.borrow().len(), 120);
    // Per order, the events went out in creation order.
    for order in 1..=40 {
        let ids: Vec<i64> = sender
            .sent
            .borrow()
            .iter()
            .filter(|(_, o)| *o == Some(order))
            .map(|(id, _)| id.trim_start_matches("evt_").parse().unwrap())
            .collect();
        let mut sorted = ids.clone();
        sorted.sort();
        assert_eq!(ids, sorted);
    }
    assert_eq!(*r.orders.applies.borrow(), 40);
}

#[test]
fn the_budget_bounds_a_call_and_reports_more() {
    let o = outbox();
    let r = MemoryReceiver::default();
    for id in 1..=10 {
        o.push(
            None,
            "order-events",
            json!({"type": "INSERT", "table": "t", "schema": "public", "record": {"id": id}}),
        );
    }
    let sender = Loopback::new(&r, &o);
    let mut config = dispatch_config();
    config.batch_size = 3;
    config.lanes = 1;
    config.budget_ms = 0;
    let report = run(&o, &sender, &config);
    assert!(report.more);
    assert_eq!(report.claimed, 0);
    config.budget_ms = 20_000;
    config.max_events = 5; // no new claim once 5 were claimed: 3 + 3
    let report = run(&o, &sender, &config);
    assert_eq!((report.claimed, report.batches, report.more), (6, 2, true));
    config.max_events = 2_000;
    let report = run(&o, &sender, &config);
    assert_eq!((report.claimed, report.batches, report.more), (4, 2, false));
}

// --- the dispatch-events handler ---------------------------------------------------------------

fn request(method: &str, auth: Option<&str>, headers: &[(&str, String)], body: &[u8]) -> Request {
    let mut b = ::http::Request::builder().method(method).uri("http://x/");
    if let Some(a) = auth {
        b = b.header("authorization", format!("Bearer {a}"));
    }
    for (n, v) in headers {
        b = b.header(*n, v);
    }
    b.body(body.to_vec()).unwrap()
}

fn call_dispatch(config: DispatchConfig, req: Request) -> Response {
    let o = outbox();
    let r = MemoryReceiver::default();
    let sender = Loopback::new(&r, &o);
    let now = || T0;
    let random = || 0.5;
    let rt = Runtime {
        now_ms: &now,
        random: &random,
    };
    let held = super::held::HeldClaims::default();
    block_on(handle_dispatch(
        &o,
        &sender,
        rt,
        &auth(),
        config,
        &held,
        req,
    ))
}

#[test]
fn dispatch_events_is_for_service_role_posts_only() {
    let ok = call_dispatch(dispatch_config(), request("POST", Some(SERVICE), &[], b""));
    assert_eq!(ok.status(), 200);
    let body: Value = serde_json::from_slice(ok.body()).unwrap();
    assert_eq!(body["claimed"], 0);
    assert_eq!(
        call_dispatch(dispatch_config(), request("POST", Some(ANON), &[], b"")).status(),
        401
    );
    assert_eq!(
        call_dispatch(dispatch_config(), request("POST", None, &[], b"")).status(),
        401
    );
    assert_eq!(
        call_dispatch(dispatch_config(), request("GET", Some(SERVICE), &[], b"")).status(),
        405
    );
    let overrides = request(
        "POST",
        Some(SERVICE),
        &[],
        br#"{"batch_size": 5, "lanes": 1}"#,
    );
    assert_eq!(call_dispatch(dispatch_config(), overrides).status(), 200);
    let unknown = request("POST", Some(SERVICE), &[], br#"{"batchsize": 5}"#);
    assert_eq!(call_dispatch(dispatch_config(), unknown).status(), 400);
    // The new keys: the secret key as apikey is the service role, the publishable key is not.
    let h = |k: &str| vec![("apikey", k.to_string())];
    assert_eq!(
        call_dispatch(
            dispatch_config(),
            request("POST", None, &h(SECRET_KEY), b"")
        )
        .status(),
        200
    );
    for (bearer, headers) in [
        (None, h(PUBLISHABLE_KEY)),
        (Some(PUBLISHABLE_KEY), h(PUBLISHABLE_KEY)),
        (Some(SECRET_KEY), h(PUBLISHABLE_KEY)),
        (None, h("sb_secret_wrong")),
    ] {
        assert_eq!(
            call_dispatch(dispatch_config(), request("POST", bearer, &headers, b"")).status(),
            401
        );
    }
    let bad_secret = DispatchConfig::new("http://gw/functions/v1", "not-a-secret");
    assert_eq!(
        call_dispatch(bad_secret, request("POST", Some(SERVICE), &[], b"")).status(),
        500
    );
}

#[test]
fn overrides_are_clamped_and_the_secret_never_prints() {
    let c = dispatch_config().with_overrides(&super::dispatch::DispatchOverrides {
        batch_size: Some(100_000),
        lanes: Some(0),
        budget_ms: Some(u32::MAX),
        max_events: Some(0),
    });
    assert_eq!((c.batch_size, c.lanes, c.budget_ms), (1000, 1, 120_000));
    assert_eq!(c.max_events, 1);
    assert!(!format!("{c:?}").contains("whsec_"));
    assert!(!format!("{:?}", receiver_config()).contains("whsec_"));
    assert_eq!(c.functions_url, "http://gw/functions/v1");
}

// --- the order-events handler -----------------------------------------------------------------

fn signed(id: &str, ts: i64, body: &[u8], secret: &str) -> Vec<(&'static str, String)> {
    vec![
        ("webhook-id", id.to_owned()),
        ("webhook-timestamp", ts.to_string()),
        (
            "webhook-signature",
            standard::sign(secret, id, ts, body).unwrap(),
        ),
    ]
}

fn deliver(r: &MemoryReceiver, req: Request) -> (u16, Value) {
    let resp = block_on(handle_order_event(r, &receiver_config(), req, T0 / 1000));
    let body = serde_json::from_slice(resp.body()).unwrap_or(Value::Null);
    (resp.status().as_u16(), body)
}

fn signed_post(r: &MemoryReceiver, id: &str, payload: &Value) -> (u16, Value) {
    let body = serde_json::to_vec(payload).unwrap();
    let headers = signed(id, T0 / 1000, &body, SECRET);
    let h: Vec<(&str, String)> = headers.iter().map(|(n, v)| (*n, v.clone())).collect();
    deliver(r, request("POST", None, &h, &body))
}

#[test]
fn the_same_signed_event_twice_has_one_effect() {
    let r = MemoryReceiver::default();
    add_order(&r, 7, 3);
    let (s1, b1) = signed_post(&r, "evt_a", &insert(7));
    assert_eq!(
        (s1, b1["outcome"].as_str(), b1["duplicate"].as_bool()),
        (200, Some("processed"), Some(false))
    );
    let (s2, b2) = signed_post(&r, "evt_a", &insert(7));
    assert_eq!(
        (s2, b2["outcome"].as_str(), b2["duplicate"].as_bool()),
        (200, Some("duplicate"), Some(true))
    );
    assert_eq!(*r.orders.applies.borrow(), 1);
    assert_eq!(r.orders.stock.borrow()[&1], 97);
    // A different event for the same order (another path won): the state machine's 409 is done.
    let (s3, b3) = signed_post(&r, "evt_b", &insert(7));
    assert_eq!((s3, b3["outcome"].as_str()), (200, Some("not_pending")));
    assert_eq!(
        r.outcome(SOURCE_OUTBOX, "evt_b").as_deref(),
        Some("not_pending")
    );
    assert_eq!(*r.orders.applies.borrow(), 1);
}

#[test]
fn unsigned_or_badly_signed_requests_are_401() {
    let r = MemoryReceiver::default();
    add_order(&r, 1, 1);
    let body = serde_json::to_vec(&insert(1)).unwrap();
    let now = T0 / 1000;
    type Headers = Vec<(&'static str, String)>;
    let cases: Vec<(Option<&str>, Headers)> = vec![
        (None, vec![]),
        (Some(ANON), vec![]),
        (Some("not-a-jwt"), vec![]),
        (None, signed("evt_x", now, &body, OTHER_SECRET)),
        (None, signed("evt_x", now - 301, &body, SECRET)), // stale
        (None, signed("evt_x", now + 301, &body, SECRET)), // from the future
        (
            None,
            vec![
                ("webhook-id", "evt_x".into()),
                ("webhook-timestamp", now.to_string()),
                ("webhook-signature", "v1,".into()),
            ],
        ),
        (None, vec![("webhook-id", "evt_x".into())]),
        // A service_role bearer does not rescue a bad signature.
        (Some(SERVICE), signed("evt_x", now, &body, OTHER_SECRET)),
    ];
    for (i, (auth, headers)) in cases.into_iter().enumerate() {
        let (status, resp) = deliver(&r, request("POST", auth, &headers, &body));
        assert_eq!(status, 401, "case {i}: {resp}");
        assert_eq!(resp["error"]["code"], "unauthorized");
    }
    // A signature over other bytes fails too.
    let mut tampered = signed("evt_x", now, &body, SECRET);
    tampered[0].1 = "evt_y".into();
    assert_eq!(deliver(&r, request("POST", None, &tampered, &body)).0, 401);
    assert_eq!(r.orders.status(1), "pending");
    assert_eq!(deliver(&r, request("GET", None, &[], b"")).0, 405);
}

#[test]
fn a_stock_database_webhook_with_the_service_role_key_is_accepted_and_deduplicated() {
    let r = MemoryReceiver::default();
    add_order(&r, 4, 1);
    let body = serde_json::to_vec(&insert(4)).unwrap();
    let (s1, b1) = deliver(&r, request("POST", Some(SERVICE), &[], &body));
    assert_eq!((s1, b1["outcome"].as_str()), (200, Some("processed")));
    assert!(b1["event_id"].as_str().unwrap().starts_with("sha256:"));
    let (s2, b2) = deliver(&r, request("POST", Some(SERVICE), &[], &body));
    assert_eq!((s2, b2["outcome"].as_str()), (200, Some("duplicate")));
    assert_eq!(
        r.receipts
            .borrow()
            .keys()
            .filter(|(s, _)| s == SOURCE_DB_WEBHOOK)
            .count(),
        1
    );
    assert_eq!(*r.orders.applies.borrow(), 1);
    // The secret key (new system) as apikey, alone or with the same bearer: a stock webhook too.
    add_order(&r, 5, 1);
    let body5 = serde_json::to_vec(&insert(5)).unwrap();
    let key = vec![("apikey", SECRET_KEY.to_string())];
    let (s3, b3) = deliver(&r, request("POST", None, &key, &body5));
    assert_eq!((s3, b3["outcome"].as_str()), (200, Some("processed")));
    let (s4, b4) = deliver(&r, request("POST", Some(SECRET_KEY), &key, &body5));
    assert_eq!((s4, b4["outcome"].as_str()), (200, Some("duplicate")));
    // The publishable key, or a bearer key that differs from apikey: 401, nothing recorded.
    add_order(&r, 6, 1);
    let body6 = serde_json::to_vec(&insert(6)).unwrap();
    let publishable = vec![("apikey", PUBLISHABLE_KEY.to_string())];
    assert_eq!(
        deliver(&r, request("POST", None, &publishable, &body6)).0,
        401
    );
    assert_eq!(
        deliver(&r, request("POST", Some(SECRET_KEY), &publishable, &body6)).0,
        401
    );
    assert_eq!(r.orders.status(6), "pending");
    let big = vec![b' '; crate::webhook::DEFAULT_MAX_BODY + 1];
    assert_eq!(
        deliver(&r, request("POST", Some(SERVICE), &[], &big)).0,
        413
    );
    assert_eq!(
        deliver(&r, request("POST", Some(SERVICE), &[], b"{")).0,
        400
    );
}

#[test]
fn business_failures_are_final_and_transient_ones_are_retried() {
    let r = MemoryReceiver::default();
    add_order(&r, 1, 500); // more than the stock of 100
    let (s, b) = signed_post(&r, "evt_1", &insert(1));
    assert_eq!((s, b["outcome"].as_str()), (200, Some("rejected")));
    assert_eq!(
        r.outcome(SOURCE_OUTBOX, "evt_1").as_deref(),
        Some("rejected")
    );
    assert_eq!(r.orders.status(1), "pending");
    // An unknown order is final too.
    assert_eq!(
        signed_post(&r, "evt_2", &insert(99)).1["outcome"],
        "order_not_found"
    );
    // The database API is down: 503, nothing recorded; the retry processes it.
    add_order(&r, 3, 1);
    r.fail_calls.set(2);
    let (s, _) = signed_post(&r, "evt_3", &insert(3));
    assert_eq!(s, 503);
    assert_eq!(r.outcome(SOURCE_OUTBOX, "evt_3"), None);
    let (s, _) = signed_post(&r, "evt_3", &insert(3));
    assert_eq!(s, 503);
    let (s, b) = signed_post(&r, "evt_3", &insert(3));
    assert_eq!((s, b["outcome"].as_str()), (200, Some("processed")));
    // Other events: 200, nothing done, nothing recorded.
    let (s, b) = signed_post(&r, "evt_4", &status_change(3, "pending", "processed"));
    assert_eq!((s, b["outcome"].as_str()), (200, Some("ignored")));
    assert_eq!(r.outcome(SOURCE_OUTBOX, "evt_4"), None);
    // A malformed payload is a 400 (the dispatcher will retry it into the dead letters).
    assert_eq!(signed_post(&r, "evt_5", &json!({"type": "INSERT"})).0, 400);
}

#[test]
fn automatic_processing_can_be_switched_off() {
    let r = MemoryReceiver::default();
    add_order(&r, 1, 1);
    r.auto_process.set(false);
    let (s, b) = signed_post(&r, "evt_1", &insert(1));
    assert_eq!((s, b["outcome"].as_str()), (200, Some("auto_process_off")));
    assert_eq!(r.orders.status(1), "pending");
    assert_eq!(*r.orders.applies.borrow(), 0);
}

#[test]
fn a_paid_order_gets_one_fulfillment() {
    let r = MemoryReceiver::default();
    add_order(&r, 1, 1);
    set_status(&r, 1, "paid");
    let paid = status_change(1, "processed", "paid");
    assert_eq!(
        signed_post(&r, "evt_p", &paid).1["outcome"],
        "fulfillment_created"
    );
    let (s, b) = signed_post(&r, "evt_p", &paid);
    assert_eq!(
        (s, b["outcome"].as_str(), b["duplicate"].as_bool()),
        (200, Some("duplicate"), Some(true))
    );
    // The same change through a stock webhook: a different source, still one fulfillment.
    let body = serde_json::to_vec(&paid).unwrap();
    assert_eq!(
        deliver(&r, request("POST", Some(SERVICE), &[], &body)).1["outcome"],
        "fulfillment_exists"
    );
    assert_eq!(r.fulfillments.borrow().len(), 1);
    assert_eq!(r.fulfillments.borrow()[&1], "queued");
    // Refunded before the event arrived: no fulfillment.
    add_order(&r, 2, 1);
    set_status(&r, 2, "refunded");
    assert_eq!(
        signed_post(&r, "evt_q", &status_change(2, "processed", "paid")).1["outcome"],
        "not_paid"
    );
    assert_eq!(r.fulfillments.borrow().len(), 1);
}
