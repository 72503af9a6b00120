//! The dispatcher and the receiver together, against scripted stores: batches delivered
//! signed, retries, dead letters, one order's events one after the other, the receiver's
//! outcomes and what it records, with no network. Which events a claim takes and what the
//! receipt RPCs decide are the SQL's rules, tested against PostgreSQL (tests/sql/outbox.test.ts,
//! tests/e2e/outbox.test.ts); here a test arranges them.

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
use super::memory::{event, ReceiverCall, ScriptedOutbox, ScriptedReceiver, SentReceipt};
use super::outbox::{ClaimOptions, Completion, OutboxEvent};
use super::receive::{
    handle_order_event, FulfillOutcome, OrderEventStart, ReceiverConfig, SOURCE_DB_WEBHOOK,
    SOURCE_OUTBOX,
};
use edge_orders::pricing::OrderLine;
use edge_orders::store::memory::Call;
use edge_orders::store::{OrderHead, OrderSnapshot};
use edge_platform::auth::AuthConfig;
use edge_platform::http::{Request, Response};
use edge_webhook::standard;

const SECRET: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
const OTHER_SECRET: &str = "whsec_bG9jYWwtb3JkZXItZXZlbnRzLXNlY3JldC0zMmJ5dGVz";
const SERVICE: &str = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJpc3MiOiJzdXBhYmFzZS1kZW1vIiwicm9sZSI6InNlcnZpY2Vfcm9sZSIsImV4cCI6MTk4MzgxMjk5Nn0.EGIM96RAZx35lJzdJsyH-qQwv8Hdp7fsn3W0YpN81IU";
const ANON: &str = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJpc3MiOiJzdXBhYmFzZS1kZW1vIiwicm9sZSI6ImFub24iLCJleHAiOjE5ODM4MTI5OTZ9.CRXP1A7WOeoJeXxjNni43kdQwgnWNReilDMblYTn_I0";
const T0: i64 = 1_800_000_000_000;

fn insert(order_id: i64) -> Value {
    json!({"type": "INSERT", "table": "orders", "schema": "public",
           "record": {"id": order_id, "status": "pending"}, "old_record": null})
}

fn status_change(order_id: i64, from: &str, to: &str) -> Value {
    json!({"type": "UPDATE", "table": "orders", "schema": "public",
           "record": {"id": order_id, "status": to}, "old_record": {"id": order_id, "status": from}})
}

fn outbox() -> ScriptedOutbox {
    let o = ScriptedOutbox::default();
    o.now.set(T0);
    o
}

/// An order's INSERT event, as a claim hands it out.
fn insert_event(id: i64, order_id: i64) -> OutboxEvent {
    event(id, Some(order_id), "order-events", insert(order_id))
}

/// `ev` on its `attempts`-th attempt.
fn attempt(mut ev: OutboxEvent, attempts: u32) -> OutboxEvent {
    ev.attempts = attempts;
    ev
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
    }
}

fn dispatch_config() -> DispatchConfig {
    DispatchConfig::new("http://gw/functions/v1/", SECRET)
}

/// A pending order with one line of product 1.
fn pending(id: i64, quantity: i64) -> OrderSnapshot {
    OrderSnapshot {
        order: OrderHead {
            id,
            user_id: "00000000-0000-4000-8000-000000000001".into(),
            status: edge_orders::order::OrderStatus::Pending,
            currency: "USD".parse().unwrap(),
            discount_code: None,
            shipping_region: None,
            total_amount: None,
        },
        lines: vec![OrderLine {
            product_id: 1,
            sku: "SKU-1".into(),
            quantity,
            unit_amount: 1000,
            product_currency: "USD".parse().unwrap(),
            product_active: true,
        }],
        discount: None,
        tax: None,
        shipping: None,
        now: T0 / 1000,
    }
}

fn receiver(orders: impl IntoIterator<Item = i64>) -> ScriptedReceiver {
    ScriptedReceiver::with(orders.into_iter().map(|id| pending(id, 1)))
}

fn receipt(source: &str, event_id: &str, order_id: i64, outcome: &str) -> SentReceipt {
    SentReceipt {
        source: source.into(),
        event_id: event_id.into(),
        event_type: "INSERT".into(),
        order_id: Some(order_id),
        outcome: outcome.into(),
        details: None,
    }
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

/// A sender that hands each POST to the `order-events` handler (any other target: 404), can
/// be made to time out, and records what it sent.
struct Loopback<'a> {
    receiver: &'a ScriptedReceiver,
    clock: &'a ScriptedOutbox,
    /// The next N POSTs time out.
    down: Cell<u32>,
    /// (webhook-id, order id of the payload) of every POST, in order.
    sent: RefCell<Vec<(String, Option<i64>)>>,
    in_flight: RefCell<HashSet<String>>,
    /// Most POSTs in flight at once.
    max_in_flight: Cell<usize>,
    /// The same event in flight twice at once.
    overlaps: Cell<u32>,
    /// Two events of one order in flight at once.
    order_overlaps: Cell<u32>,
    orders_in_flight: RefCell<HashSet<i64>>,
}

impl<'a> Loopback<'a> {
    fn new(receiver: &'a ScriptedReceiver, clock: &'a ScriptedOutbox) -> Self {
        Self {
            receiver,
            clock,
            down: Cell::new(0),
            sent: RefCell::default(),
            in_flight: RefCell::default(),
            max_in_flight: Cell::new(0),
            overlaps: Cell::new(0),
            order_overlaps: Cell::new(0),
            orders_in_flight: RefCell::default(),
        }
    }

    fn sent_ids(&self) -> Vec<String> {
        self.sent
            .borrow()
            .iter()
            .map(|(id, _)| id.clone())
            .collect()
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
        let n = self.in_flight.borrow().len();
        self.max_in_flight.set(self.max_in_flight.get().max(n));
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
            let req = req.body(body).unwrap();
            let now_unix = self.clock.now.get() / 1000;
            let caller = auth().authenticate(req.headers(), now_unix);
            let resp = edge_platform::http::respond(
                handle_order_event(self.receiver, &receiver_config(), caller, req, now_unix).await,
            );
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

fn run(outbox: &ScriptedOutbox, sender: &Loopback<'_>, config: &DispatchConfig) -> DispatchReport {
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

fn retry(id: i64, error: &str, retry_in_ms: u64) -> Completion {
    Completion::Retry {
        id,
        error: error.into(),
        retry_in_ms,
    }
}

// --- dispatch + receive ----------------------------------------------------------------------

#[test]
fn new_orders_are_processed_through_signed_deliveries() {
    let o = outbox();
    let r = receiver(1..=5);
    o.queue((1..=5).map(|id| insert_event(id, id)).collect());
    o.next_due_ms.set(Some(1234));
    let sender = Loopback::new(&r, &o);
    let report = run(&o, &sender, &dispatch_config());
    assert_eq!(
        (
            report.claimed,
            report.delivered,
            report.retried,
            report.batches
        ),
        (5, 5, 0, 1)
    );
    assert!(!report.more);
    // What the store reported last is what the answer says.
    assert_eq!(report.next_due_ms, Some(1234));
    // One batch, all delivered (the receiver verified each signature), reported under its
    // claim; then a claim that found nothing ended the loop.
    assert_eq!(
        *o.completions.borrow(),
        [(
            "claim-1".to_string(),
            (1..=5).map(|id| Completion::Delivered { id }).collect()
        )]
    );
    // Two lanes: each claims until a claim finds nothing.
    assert_eq!(o.claims.borrow().len(), 3);
    assert_eq!(
        o.claims.borrow()[0],
        ClaimOptions {
            batch_size: 100,
            visibility_secs: 10,
            max_per_order: 4
        }
    );
    // Each order processed with its receipt, in the same RPC; read once, by the dedup check
    // (begin_order_event), not a second time.
    assert_eq!(r.processed(), [1, 2, 3, 4, 5]);
    assert_eq!(
        r.receipts(),
        (1..=5)
            .map(|id| receipt(SOURCE_OUTBOX, &format!("evt_{id}"), id, "processed"))
            .collect::<Vec<_>>()
    );
    assert!(!r
        .orders
        .calls
        .borrow()
        .iter()
        .any(|c| matches!(c, Call::Read { .. })));
}

#[test]
fn failed_attempts_are_retried_on_the_schedule_with_the_same_webhook_id() {
    let o = outbox();
    let r = receiver(1..=3);
    let events: Vec<OutboxEvent> = (1..=3).map(|id| insert_event(id, id)).collect();
    let sender = Loopback::new(&r, &o);
    sender.down.set(6); // two full rounds time out
    let timeout = "no answer within 5000 ms";
    // Attempt n waits 2 s · 2^(n-1) (the jitter source 0.5 adds nothing).
    for (n, wait) in [(1, 2000), (2, 4000)] {
        o.queue(events.iter().map(|e| attempt(e.clone(), n)).collect());
        let report = run(&o, &sender, &dispatch_config());
        assert_eq!((report.retried, report.delivered), (3, 0), "attempt {n}");
        let last = o.completions.borrow().last().unwrap().1.clone();
        assert_eq!(
            last,
            (1..=3)
                .map(|id| retry(id, timeout, wait))
                .collect::<Vec<_>>()
        );
    }
    o.queue(events.iter().map(|e| attempt(e.clone(), 3)).collect());
    assert_eq!(run(&o, &sender, &dispatch_config()).delivered, 3);
    assert_eq!(r.processed(), [1, 2, 3]);
    // Every attempt of one event carried the same webhook-id.
    let sent = sender.sent_ids();
    assert_eq!(sent.iter().filter(|id| *id == "evt_1").count(), 3);
    assert_eq!(sent.len(), 9);
}

#[test]
fn the_last_attempt_failing_makes_the_event_dead() {
    let o = outbox();
    let r = receiver([]);
    let mut poison = event(
        7,
        None,
        "no-such-function",
        json!({"type": "INSERT", "table": "x", "schema": "public", "record": {}}),
    );
    poison.max_attempts = 3;
    poison.backoff_base_ms = 100;
    let sender = Loopback::new(&r, &o);
    o.queue(vec![attempt(poison.clone(), 2)]);
    assert_eq!(run(&o, &sender, &dispatch_config()).retried, 1);
    o.queue(vec![attempt(poison, 3)]);
    let report = run(&o, &sender, &dispatch_config());
    assert_eq!((report.dead, report.retried), (1, 0));
    assert_eq!(
        o.results(),
        [
            retry(7, "HTTP 404: no function", 200),
            Completion::Dead {
                id: 7,
                error: "HTTP 404: no function".into()
            }
        ]
    );
}

#[test]
fn an_invalid_target_is_dead_at_once() {
    let o = outbox();
    let r = receiver([]);
    o.queue(vec![event(1, None, "../rest/v1/orders", json!({}))]);
    let sender = Loopback::new(&r, &o);
    assert_eq!(run(&o, &sender, &dispatch_config()).dead, 1);
    let [Completion::Dead { id: 1, error }] = &o.results()[..] else {
        panic!("{:?}", o.results());
    };
    assert!(error.starts_with("invalid target"), "{error}");
    assert!(sender.sent.borrow().is_empty());
}

#[test]
fn a_failed_event_holds_back_the_rest_of_its_order() {
    let o = outbox();
    let r = receiver([1, 2]);
    let a1 = insert_event(1, 1);
    let a2 = event(
        2,
        Some(1),
        "order-events",
        status_change(1, "pending", "processed"),
    );
    let b1 = insert_event(3, 2);
    o.queue(vec![a1.clone(), a2.clone(), b1]);
    let sender = Loopback::new(&r, &o);
    sender.down.set(1); // the first POST (a1: chains start in id order) times out
    let report = run(&o, &sender, &dispatch_config());
    assert_eq!(
        (report.retried, report.released, report.delivered),
        (1, 1, 1)
    );
    // a2 was not tried: released, its attempt given back by the database.
    assert_eq!(
        o.results(),
        [
            retry(1, "no answer within 5000 ms", 2000),
            Completion::Released { id: 2 },
            Completion::Delivered { id: 3 },
        ]
    );
    o.queue(vec![attempt(a1, 2), a2]);
    let report = run(&o, &sender, &dispatch_config());
    assert_eq!(report.delivered, 2);
    let order1: Vec<String> = sender
        .sent
        .borrow()
        .iter()
        .filter(|(_, o)| *o == Some(1))
        .map(|(id, _)| id.clone())
        .collect();
    assert_eq!(order1, ["evt_1", "evt_1", "evt_2"]);
}

#[test]
fn no_post_starts_that_could_not_finish_before_the_claim_runs_out() {
    // A receiver that takes 3 s per POST; the claim is visible for 10 s and no POST starts
    // later than 2 s before its end: of one order's four events, two go out, two are
    // released.
    struct Slow<'a>(&'a ScriptedOutbox, RefCell<Vec<i64>>);
    impl Sender for Slow<'_> {
        async fn post(
            &self,
            _url: &str,
            headers: &[(&'static str, String)],
            _body: Vec<u8>,
            _timeout_ms: u32,
        ) -> PostResult {
            let id = &headers.iter().find(|(n, _)| *n == "webhook-id").unwrap().1;
            self.1.borrow_mut().push(id[4..].parse().unwrap());
            self.0.advance(3000);
            PostResult::Answered {
                status: 200,
                body: String::new(),
            }
        }
    }
    let o = outbox();
    o.queue(
        (1..=4)
            .map(|id| event(id, Some(9), "order-events", json!({})))
            .collect(),
    );
    let sender = Slow(&o, RefCell::default());
    let now = || o.now.get();
    let random = || 0.5;
    let mut config = dispatch_config();
    config.lanes = 1;
    let report = block_on(dispatch(
        &o,
        &sender,
        Runtime {
            now_ms: &now,
            random: &random,
        },
        &config,
    ))
    .unwrap();
    // Deadline 10 s - 2 s = 8 s; a POST needs up to 5 s: starts at 0 s and 3 s pass, 6 s not.
    assert_eq!(*sender.1.borrow(), [1, 2]);
    assert_eq!((report.delivered, report.released), (2, 2));
    assert_eq!(
        o.results()[2..],
        [
            Completion::Released { id: 3 },
            Completion::Released { id: 4 }
        ]
    );
}

#[test]
fn a_batch_delivers_orders_concurrently_and_each_orders_events_one_after_the_other() {
    // Claims disjoint by order, as the database hands them out (tests/sql/outbox.test.ts:
    // "concurrent claims: a dispatcher never takes a later event of an order another is
    // claiming"); each batch holds four orders' three events, interleaved by id.
    let o = outbox();
    let r = receiver(1..=40);
    let mut id = 0;
    for batch in 0..10 {
        let mut events = Vec::new();
        for step in 0..3 {
            for k in 1..=4 {
                let order = batch * 4 + k;
                id += 1;
                let payload = match step {
                    0 => insert(order),
                    1 => status_change(order, "pending", "processed"),
                    _ => status_change(order, "processed", "cancelled"),
                };
                events.push(event(id, Some(order), "order-events", payload));
            }
        }
        o.queue(events);
    }
    let sender = Loopback::new(&r, &o);
    let mut config = dispatch_config();
    config.lanes = 3;
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
    assert_eq!(a.batches + b.batches, 10);
    assert_eq!(sender.overlaps.get(), 0);
    assert_eq!(sender.order_overlaps.get(), 0);
    assert!(
        sender.max_in_flight.get() > 4,
        "orders and lanes run concurrently"
    );
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
        assert_eq!((ids.len(), &ids), (3, &sorted));
    }
    assert_eq!(r.processed().len(), 40);
}

#[test]
fn the_budget_bounds_a_call_and_reports_more() {
    let o = outbox();
    let r = receiver([]);
    let other = |id| {
        event(
            id,
            None,
            "order-events",
            json!({"type": "INSERT", "table": "t", "schema": "public", "record": {"id": id}}),
        )
    };
    for ids in [1..=3, 4..=6, 7..=9, 10..=10] {
        o.queue(ids.map(other).collect());
    }
    let sender = Loopback::new(&r, &o);
    let mut config = dispatch_config();
    config.batch_size = 3;
    config.lanes = 1;
    config.budget_ms = 0;
    let report = run(&o, &sender, &config);
    assert!(report.more);
    assert_eq!(report.claimed, 0);
    assert!(
        o.claims.borrow().is_empty(),
        "no claim once the budget is spent"
    );
    config.budget_ms = 20_000;
    config.max_events = 5; // no new claim once 5 were claimed: 3 + 3
    let report = run(&o, &sender, &config);
    assert_eq!((report.claimed, report.batches, report.more), (6, 2, true));
    config.max_events = 2_000;
    let report = run(&o, &sender, &config);
    assert_eq!((report.claimed, report.batches, report.more), (4, 2, false));
    assert!(o.claims.borrow().iter().all(|c| c.batch_size == 3));
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

/// The claims a call made, and its answer. A refused call claims nothing.
fn dispatch_call(config: DispatchConfig, req: Request) -> (Response, Vec<ClaimOptions>) {
    let o = outbox();
    let r = receiver([]);
    let sender = Loopback::new(&r, &o);
    let now = || T0;
    let random = || 0.5;
    let rt = Runtime {
        now_ms: &now,
        random: &random,
    };
    let held = super::held::HeldClaims::default();
    let caller = auth().authenticate(req.headers(), T0 / 1000);
    let resp = edge_platform::http::respond(block_on(handle_dispatch(
        &o, &sender, rt, caller, config, &held, req,
    )));
    let claims = o.claims.borrow().clone();
    if resp.status() != 200 {
        assert_eq!(claims, [], "a refused call claimed");
    }
    (resp, claims)
}

fn call_dispatch(config: DispatchConfig, req: Request) -> Response {
    dispatch_call(config, req).0
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
    let (resp, claims) = dispatch_call(dispatch_config(), overrides);
    assert_eq!(resp.status(), 200);
    assert_eq!(
        claims,
        [ClaimOptions {
            batch_size: 5,
            visibility_secs: 10,
            max_per_order: 4
        }]
    );
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

fn deliver(r: &ScriptedReceiver, req: Request) -> (u16, Value) {
    let caller = auth().authenticate(req.headers(), T0 / 1000);
    let resp = edge_platform::http::respond(block_on(handle_order_event(
        r,
        &receiver_config(),
        caller,
        req,
        T0 / 1000,
    )));
    let body = serde_json::from_slice(resp.body()).unwrap_or(Value::Null);
    (resp.status().as_u16(), body)
}

fn signed_post(r: &ScriptedReceiver, id: &str, payload: &Value) -> (u16, Value) {
    let body = serde_json::to_vec(payload).unwrap();
    let headers = signed(id, T0 / 1000, &body, SECRET);
    let h: Vec<(&str, String)> = headers.iter().map(|(n, v)| (*n, v.clone())).collect();
    deliver(r, request("POST", None, &h, &body))
}

/// What `begin_order_event` answers for an event already acted on.
fn seen() -> OrderEventStart {
    OrderEventStart {
        seen: true,
        auto_process_orders: true,
        snapshot: None,
    }
}

fn begin(source: &str, event_id: &str, order_id: i64) -> ReceiverCall {
    ReceiverCall::Begin {
        source: source.into(),
        event_id: event_id.into(),
        order_id,
    }
}

#[test]
fn the_same_signed_event_twice_has_one_effect() {
    let r = receiver([7]);
    let (s1, b1) = signed_post(&r, "evt_a", &insert(7));
    assert_eq!(
        (s1, b1),
        (
            200,
            json!({"event_id": "evt_a", "order_id": 7, "outcome": "processed", "duplicate": false})
        )
    );
    // The database has its receipt: a duplicate, nothing else asked.
    r.starts.borrow_mut().push_back(seen());
    let (s2, b2) = signed_post(&r, "evt_a", &insert(7));
    assert_eq!(
        (s2, b2["outcome"].as_str(), b2["duplicate"].as_bool()),
        (200, Some("duplicate"), Some(true))
    );
    let calls = r.calls.borrow().clone();
    let [first, ReceiverCall::ApplyRecorded(sent, with), again] = &calls[..] else {
        panic!("{calls:?}");
    };
    assert_eq!(
        (first, again),
        (
            &begin(SOURCE_OUTBOX, "evt_a", 7),
            &begin(SOURCE_OUTBOX, "evt_a", 7)
        )
    );
    assert_eq!(
        (
            &sent["order_id"],
            &sent["expected_status"],
            &sent["total_amount"]
        ),
        (&json!(7), &json!("pending"), &json!(1000))
    );
    assert_eq!(*with, receipt(SOURCE_OUTBOX, "evt_a", 7, "processed"));
    // A different event for the same order, processed meanwhile by another path: the state
    // machine's 409 is done, recorded as not_pending with the conflict's details.
    let mut processed = pending(7, 1);
    processed.order.status = edge_orders::order::OrderStatus::Processed;
    r.orders.snapshots.borrow_mut().insert(7, processed);
    let (s3, b3) = signed_post(&r, "evt_b", &insert(7));
    assert_eq!((s3, b3["outcome"].as_str()), (200, Some("not_pending")));
    let mut expected = receipt(SOURCE_OUTBOX, "evt_b", 7, "not_pending");
    expected.details =
        Some(json!({"current_status": "processed", "requested_status": "processed"}));
    assert_eq!(r.receipts().last(), Some(&expected));
    assert_eq!(r.processed(), [7]);
}

#[test]
fn unsigned_or_badly_signed_requests_are_401() {
    let r = receiver([1]);
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
    assert_eq!(deliver(&r, request("GET", None, &[], b"")).0, 405);
    assert_eq!(*r.calls.borrow(), []);
    assert_eq!(*r.orders.calls.borrow(), []);
}

#[test]
fn a_stock_database_webhook_with_the_service_role_key_is_accepted_and_deduplicated() {
    let r = receiver([4, 5, 6]);
    let body = serde_json::to_vec(&insert(4)).unwrap();
    let (s1, b1) = deliver(&r, request("POST", Some(SERVICE), &[], &body));
    assert_eq!((s1, b1["outcome"].as_str()), (200, Some("processed")));
    let id = b1["event_id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("sha256:"));
    // The same body again: the same id, which the database has seen.
    r.starts.borrow_mut().push_back(seen());
    let (s2, b2) = deliver(&r, request("POST", Some(SERVICE), &[], &body));
    assert_eq!(
        (s2, b2["outcome"].as_str(), b2["event_id"].as_str()),
        (200, Some("duplicate"), Some(id.as_str()))
    );
    let begins: Vec<ReceiverCall> = r
        .calls
        .borrow()
        .iter()
        .filter(|c| matches!(c, ReceiverCall::Begin { .. }))
        .cloned()
        .collect();
    assert_eq!(
        begins,
        [
            begin(SOURCE_DB_WEBHOOK, &id, 4),
            begin(SOURCE_DB_WEBHOOK, &id, 4)
        ]
    );
    assert_eq!(r.processed(), [4]);
    // The secret key (new system) as apikey, alone or with the same bearer: a stock webhook too.
    let body5 = serde_json::to_vec(&insert(5)).unwrap();
    let key = vec![("apikey", SECRET_KEY.to_string())];
    let (s3, b3) = deliver(&r, request("POST", None, &key, &body5));
    assert_eq!((s3, b3["outcome"].as_str()), (200, Some("processed")));
    r.starts.borrow_mut().push_back(seen());
    let (s4, b4) = deliver(&r, request("POST", Some(SECRET_KEY), &key, &body5));
    assert_eq!((s4, b4["outcome"].as_str()), (200, Some("duplicate")));
    // The publishable key, or a bearer key that differs from apikey: 401, nothing asked.
    let calls = r.calls.borrow().len();
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
    let big = vec![b' '; edge_webhook::DEFAULT_MAX_BODY + 1];
    assert_eq!(
        deliver(&r, request("POST", Some(SERVICE), &[], &big)).0,
        413
    );
    assert_eq!(
        deliver(&r, request("POST", Some(SERVICE), &[], b"{")).0,
        400
    );
    assert_eq!(r.calls.borrow().len(), calls);
}

#[test]
fn business_failures_are_final_and_transient_ones_are_retried() {
    let r = receiver([1, 3, 4]);
    // The database refuses the processing for lack of stock: final, recorded with the error.
    let short = json!([{"product_id": 1, "sku": "SKU-1"}]);
    r.orders
        .answer_apply(json!({"refusal": {"kind": "insufficient_stock", "lines": short}}));
    let (s, b) = signed_post(&r, "evt_1", &insert(1));
    assert_eq!((s, b["outcome"].as_str()), (200, Some("rejected")));
    let rejected = r.records().pop().unwrap();
    assert_eq!(
        (rejected.event_id.as_str(), rejected.outcome.as_str()),
        ("evt_1", "rejected")
    );
    let details = rejected.details.unwrap();
    assert_eq!(
        (&details["code"], &details["details"]["lines"]),
        (&json!("insufficient_stock"), &short)
    );
    // An unknown order is final too.
    assert_eq!(
        signed_post(&r, "evt_2", &insert(99)).1["outcome"],
        "order_not_found"
    );
    assert_eq!(r.records().pop().unwrap().outcome, "order_not_found");
    // The database API is down: 503, nothing recorded; the retry processes it.
    let before = r.receipts().len();
    r.orders.fail_calls.set(2);
    let (s, _) = signed_post(&r, "evt_3", &insert(3));
    assert_eq!(s, 503);
    let (s, _) = signed_post(&r, "evt_3", &insert(3));
    assert_eq!(s, 503);
    assert_eq!(r.receipts().len(), before);
    let (s, b) = signed_post(&r, "evt_3", &insert(3));
    assert_eq!((s, b["outcome"].as_str()), (200, Some("processed")));
    // The order changed while it was priced: transient, 503 and nothing recorded (the
    // receipt sent with the processing is written only if it applies).
    let before = r.records().len();
    r.orders
        .answer_apply(json!({"refusal": {"kind": "order_changed"}}));
    let (s, b) = signed_post(&r, "evt_4", &insert(4));
    assert_eq!(
        (s, b["error"]["code"].as_str()),
        (503, Some("upstream_unavailable"))
    );
    assert_eq!(r.records().len(), before);
    // Other events: 200, nothing done, nothing recorded.
    let calls = r.calls.borrow().len();
    let (s, b) = signed_post(&r, "evt_5", &status_change(3, "pending", "processed"));
    assert_eq!((s, b["outcome"].as_str()), (200, Some("ignored")));
    // A malformed payload is a 400 (the dispatcher will retry it into the dead letters).
    assert_eq!(signed_post(&r, "evt_6", &json!({"type": "INSERT"})).0, 400);
    assert_eq!(r.calls.borrow().len(), calls);
}

#[test]
fn automatic_processing_can_be_switched_off() {
    let r = receiver([1]);
    r.starts.borrow_mut().push_back(OrderEventStart {
        seen: false,
        auto_process_orders: false,
        snapshot: None,
    });
    let (s, b) = signed_post(&r, "evt_1", &insert(1));
    assert_eq!((s, b["outcome"].as_str()), (200, Some("auto_process_off")));
    assert_eq!(
        r.receipts(),
        [receipt(SOURCE_OUTBOX, "evt_1", 1, "auto_process_off")]
    );
    assert!(r.processed().is_empty());
    assert_eq!(*r.orders.calls.borrow(), []);
}

#[test]
fn a_paid_order_is_fulfilled_through_one_rpc_and_its_answer_relayed() {
    let r = receiver([]);
    let paid = status_change(1, "processed", "paid");
    assert_eq!(
        signed_post(&r, "evt_p", &paid).1,
        json!({"event_id": "evt_p", "order_id": 1, "outcome": "fulfillment_created",
            "duplicate": false})
    );
    // Whatever fulfill_order_event decides (tests/sql/payments.test.ts, tests/e2e/outbox.test.ts)
    // is the answer.
    let answers = [
        (true, "duplicate"),
        (false, "fulfillment_exists"),
        (false, "not_paid"),
    ];
    for (duplicate, outcome) in answers {
        r.fulfills.borrow_mut().push_back(FulfillOutcome {
            duplicate,
            outcome: outcome.into(),
        });
        let (s, b) = signed_post(&r, "evt_p", &paid);
        assert_eq!(
            (s, b["outcome"].as_str(), b["duplicate"].as_bool()),
            (200, Some(outcome), Some(duplicate))
        );
    }
    // The same change through a stock webhook: its own source and id.
    let body = serde_json::to_vec(&paid).unwrap();
    let (_, b) = deliver(&r, request("POST", Some(SERVICE), &[], &body));
    let id = b["event_id"].as_str().unwrap();
    let fulfill = |source: &str, event_id: &str| ReceiverCall::Fulfill {
        source: source.into(),
        event_id: event_id.into(),
        order_id: 1,
    };
    let mut expected = vec![fulfill(SOURCE_OUTBOX, "evt_p"); 4];
    expected.push(fulfill(SOURCE_DB_WEBHOOK, id));
    assert_eq!(*r.calls.borrow(), expected);
    assert_eq!(*r.orders.calls.borrow(), []);
}
