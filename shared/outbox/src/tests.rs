//! The dispatcher and the receiver together, against scripted stores: `webhook-dispatch`
//! delivering orders' events to `order-events` signed with the function secret
//! `ORDER_EVENTS_SECRET`, one order's events one after the other, the deadline and budget of a
//! call, the receiver's outcomes and what it records, with no network. Which deliveries a claim
//! takes, what a failed try leads to (retry schedule, dead) and what the receipt RPCs decide are
//! the SQL's rules, tested against PostgreSQL (tests/sql/webhooks*.test.ts,
//! tests/e2e/outbox.test.ts); here a test arranges them.

use std::cell::{Cell, RefCell};
use std::collections::HashSet;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use pollster::block_on;
use serde_json::{json, Value};

use super::hooks::{
    dispatch_hooks, AttemptReport, DispatchOverrides, DispatchReport, HookConfig, HookDelivery,
    HookRequest, HookResponse, HookRuntime, HookSender, Resolver,
};
use super::memory::{order_delivery, ReceiverCall, ScriptedHooks, ScriptedReceiver, SentReceipt};
use super::receive::{
    handle_order_event, FulfillOutcome, OrderEventStart, ReceiverConfig, SOURCE_DB_WEBHOOK,
    SOURCE_OUTBOX,
};
use edge_orders::pricing::OrderLine;
use edge_orders::store::memory::Call;
use edge_orders::store::{OrderHead, OrderSnapshot};
use edge_platform::auth::AuthConfig;
use edge_platform::http::Request;
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

fn hooks() -> ScriptedHooks {
    let o = ScriptedHooks::default();
    o.now.set(T0);
    o
}

/// An order's INSERT event's delivery to `fn:order-events`, as a claim hands it out.
fn insert_delivery(id: i64, order_id: i64) -> HookDelivery {
    order_delivery(id, order_id, insert(order_id))
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

fn dispatch_config() -> HookConfig {
    HookConfig::new("http://gw/functions/v1/", false)
}

/// webhook-dispatch's environment: the function secret order-events verifies with.
fn env(name: &str) -> Option<String> {
    (name == "ORDER_EVENTS_SECRET").then(|| SECRET.to_owned())
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

/// A sender that hands each POST to the `order-events` handler (any other function: 404), can
/// be made to time out, and records what it sent.
struct Loopback<'a> {
    receiver: &'a ScriptedReceiver,
    clock: &'a ScriptedHooks,
    /// The next N POSTs time out.
    down: Cell<u32>,
    /// (webhook-id, order id of the payload) of every POST, in order.
    sent: RefCell<Vec<(String, Option<i64>)>>,
    in_flight: RefCell<HashSet<String>>,
    /// Most POSTs in flight at once.
    max_in_flight: Cell<usize>,
    /// The same delivery in flight twice at once.
    overlaps: Cell<u32>,
    /// Two events of one order in flight at once.
    order_overlaps: Cell<u32>,
    orders_in_flight: RefCell<HashSet<i64>>,
}

impl<'a> Loopback<'a> {
    fn new(receiver: &'a ScriptedReceiver, clock: &'a ScriptedHooks) -> Self {
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
}

impl HookSender for Loopback<'_> {
    async fn send(&self, req: HookRequest) -> HookResponse {
        let header = |name: &str| {
            req.headers
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| v.clone())
                .unwrap()
        };
        let id = header("webhook-id");
        let order = serde_json::from_slice::<Value>(&req.body).unwrap()["record"]["id"].as_i64();
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
            HookResponse::TimedOut
        } else if req.url != "http://gw/functions/v1/order-events" {
            HookResponse::Answered {
                status: 404,
                body: "no function".into(),
                retry_after: None,
            }
        } else {
            let mut http_req = ::http::Request::builder().method("POST").uri(&req.url);
            for (n, v) in &req.headers {
                http_req = http_req.header(*n, v);
            }
            let http_req = http_req.body(req.body.clone()).unwrap();
            let now_unix = self.clock.now.get() / 1000;
            let caller = auth().authenticate(http_req.headers(), now_unix);
            let resp = edge_platform::http::respond(
                handle_order_event(
                    self.receiver,
                    &receiver_config(),
                    caller,
                    http_req,
                    now_unix,
                )
                .await,
            );
            HookResponse::Answered {
                status: resp.status().as_u16(),
                body: String::from_utf8_lossy(resp.body()).into_owned(),
                retry_after: None,
            }
        };
        self.in_flight.borrow_mut().remove(&id);
        if let Some(o) = order {
            self.orders_in_flight.borrow_mut().remove(&o);
        }
        result
    }
}

/// `fn:` endpoints only: never asked.
struct NoDns;
impl Resolver for NoDns {
    async fn resolve(&self, host: &str) -> std::result::Result<Vec<std::net::IpAddr>, String> {
        panic!("resolved {host}")
    }
}

fn run_on(o: &ScriptedHooks, sender: &impl HookSender, config: &HookConfig) -> DispatchReport {
    let now = || o.now.get();
    let rt = HookRuntime {
        now_ms: &now,
        env: &env,
    };
    block_on(dispatch_hooks(o, sender, &NoDns, rt, config))
        .unwrap()
        .counts
}

fn run(o: &ScriptedHooks, sender: &Loopback<'_>, config: &HookConfig) -> DispatchReport {
    run_on(o, sender, config)
}

/// Every report recorded, in order, without the tokens.
fn results(o: &ScriptedHooks) -> Vec<AttemptReport> {
    o.records
        .borrow()
        .iter()
        .flat_map(|(_, r)| r.clone())
        .collect()
}

// --- webhook-dispatch + order-events ----------------------------------------------------------

#[test]
fn new_orders_are_processed_through_deliveries_signed_with_the_function_secret() {
    let o = hooks();
    let r = receiver(1..=5);
    o.queue((1..=5).map(|id| insert_delivery(id, id)).collect());
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
    // One batch, every try a 2xx of order-events (which verified each signature made with
    // ORDER_EVENTS_SECRET from the dispatcher's environment), reported under its claim; then a
    // claim that found nothing ended the loop.
    let recorded = o.records.borrow();
    assert_eq!(recorded.len(), 1);
    assert_eq!(recorded[0].0, "claim-1");
    assert_eq!(
        recorded[0]
            .1
            .iter()
            .map(|a| (a.id, a.http_status, a.released))
            .collect::<Vec<_>>(),
        (1..=5).map(|id| (id, Some(200), false)).collect::<Vec<_>>()
    );
    // Two lanes: each claims until a claim finds nothing.
    assert_eq!(o.claims.borrow().len(), 3);
    // Each order processed with its receipt, in the same RPC; read once, by the dedup check
    // (begin_order_event), not a second time. The receipt's source stays `event_outbox` (the
    // dedup key of deliveries made before and after the move to webhooks).
    assert_eq!(r.processed(), [1, 2, 3, 4, 5]);
    assert_eq!(
        r.receipts(),
        (1..=5)
            .map(|id| receipt(SOURCE_OUTBOX, &format!("msg_{id}"), id, "processed"))
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
fn a_delivery_signed_with_another_secret_is_refused_by_order_events_and_retried() {
    let o = hooks();
    let r = receiver([1]);
    let mut d = insert_delivery(1, 1);
    d.secret_env = None;
    d.secrets = vec![OTHER_SECRET.into()];
    o.queue(vec![d]);
    let sender = Loopback::new(&r, &o);
    let report = run(&o, &sender, &dispatch_config());
    assert_eq!((report.delivered, report.retried), (0, 1));
    let [a] = &results(&o)[..] else {
        panic!("one report")
    };
    assert_eq!(
        (a.http_status, a.error.as_deref()),
        (Some(401), Some("HTTP 401"))
    );
    assert!(r.processed().is_empty());
    assert!(r.receipts().is_empty());
}

#[test]
fn a_failed_event_holds_back_the_rest_of_its_order() {
    let o = hooks();
    let r = receiver([1, 2]);
    let a1 = insert_delivery(1, 1);
    let a2 = order_delivery(2, 1, status_change(1, "pending", "processed"));
    let b1 = insert_delivery(3, 2);
    o.queue(vec![a1.clone(), a2.clone(), b1]);
    let sender = Loopback::new(&r, &o);
    sender.down.set(1); // the first POST (a1: chains start in id order) times out
    let report = run(&o, &sender, &dispatch_config());
    assert_eq!(
        (report.retried, report.released, report.delivered),
        (1, 1, 1)
    );
    // a2 was not tried: released, its try given back by the database.
    let got = results(&o);
    assert_eq!(got[0].id, 1);
    assert_eq!(got[0].error.as_deref(), Some("no answer within 10000 ms"));
    assert_eq!(got[1], AttemptReport::released(2));
    assert_eq!((got[2].id, got[2].http_status), (3, Some(200)));
    let mut again = a1;
    again.attempt = 2;
    o.queue(vec![again, a2]);
    let report = run(&o, &sender, &dispatch_config());
    assert_eq!(report.delivered, 2);
    let order1: Vec<String> = sender
        .sent
        .borrow()
        .iter()
        .filter(|(_, o)| *o == Some(1))
        .map(|(id, _)| id.clone())
        .collect();
    assert_eq!(order1, ["msg_1", "msg_1", "msg_2"]);
}

#[test]
fn no_post_starts_that_could_not_finish_before_the_lease_runs_out() {
    // A receiver that takes 7 s per POST; the lease is 30 s and no POST starts later than 2 s
    // before its end: of one order's four events, three go out, one is released.
    struct Slow<'a>(&'a ScriptedHooks, RefCell<Vec<i64>>);
    impl HookSender for Slow<'_> {
        async fn send(&self, req: HookRequest) -> HookResponse {
            let id = &req
                .headers
                .iter()
                .find(|(n, _)| *n == "webhook-id")
                .unwrap()
                .1;
            self.1.borrow_mut().push(id[4..].parse().unwrap());
            self.0.now.set(self.0.now.get() + 7000);
            HookResponse::Answered {
                status: 200,
                body: String::new(),
                retry_after: None,
            }
        }
    }
    let o = hooks();
    o.queue((1..=4).map(|id| order_delivery(id, 9, json!({}))).collect());
    let sender = Slow(&o, RefCell::default());
    let mut config = dispatch_config();
    config.lanes = 1;
    let report = run_on(&o, &sender, &config);
    // Deadline 30 s - 2 s = 28 s; a POST needs up to 10 s: starts at 0, 7 and 14 s pass, 21 s
    // not.
    assert_eq!(*sender.1.borrow(), [1, 2, 3]);
    assert_eq!((report.delivered, report.released), (3, 1));
    assert_eq!(results(&o)[3..], [AttemptReport::released(4)]);
}

#[test]
fn a_batch_delivers_orders_concurrently_and_each_orders_events_one_after_the_other() {
    // Claims disjoint by row, as the database hands them out (tests/sql/webhooks.test.ts: two
    // dispatchers racing on claims); each batch holds four orders' three events, interleaved by
    // id.
    let o = hooks();
    let r = receiver(1..=40);
    let mut id = 0;
    for batch in 0..10 {
        let mut deliveries = Vec::new();
        for step in 0..3 {
            for k in 1..=4 {
                let order = batch * 4 + k;
                id += 1;
                let payload = match step {
                    0 => insert(order),
                    1 => status_change(order, "pending", "processed"),
                    _ => status_change(order, "processed", "cancelled"),
                };
                deliveries.push(order_delivery(id, order, payload));
            }
        }
        o.queue(deliveries);
    }
    let sender = Loopback::new(&r, &o);
    let mut config = dispatch_config();
    config.lanes = 3;
    let now = || o.now.get();
    let rt = HookRuntime {
        now_ms: &now,
        env: &env,
    };
    // Two calls at once, three lanes each.
    let (a, b) = block_on(futures_util::future::join(
        dispatch_hooks(&o, &sender, &NoDns, rt, &config),
        dispatch_hooks(&o, &sender, &NoDns, rt, &config),
    ));
    let (a, b) = (a.unwrap().counts, b.unwrap().counts);
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
            .map(|(id, _)| id.trim_start_matches("msg_").parse().unwrap())
            .collect();
        let mut sorted = ids.clone();
        sorted.sort();
        assert_eq!((ids.len(), &ids), (3, &sorted));
    }
    assert_eq!(r.processed().len(), 40);
}

#[test]
fn the_budget_bounds_a_call_and_reports_more() {
    let o = hooks();
    let r = receiver([]);
    let other = |id| {
        let mut d = order_delivery(
            id,
            0,
            json!({"type": "INSERT", "table": "t", "schema": "public", "record": {"id": id}}),
        );
        d.row_key = None;
        d
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
    config.max_deliveries = 5; // no new claim once 5 were claimed: 3 + 3
    let report = run(&o, &sender, &config);
    assert_eq!((report.claimed, report.batches, report.more), (6, 2, true));
    config.max_deliveries = 2_000;
    let report = run(&o, &sender, &config);
    assert_eq!((report.claimed, report.batches, report.more), (4, 2, false));
    assert!(o.claims.borrow().iter().all(|c| c.batch_size == 3));
}

#[test]
fn overrides_are_clamped_and_the_secret_never_prints() {
    let c = DispatchOverrides {
        batch_size: Some(100_000),
        lanes: Some(0),
        budget_ms: Some(u32::MAX),
        max_events: Some(0),
    }
    .apply(dispatch_config());
    assert_eq!((c.batch_size, c.lanes, c.budget_ms), (1000, 1, 120_000));
    assert_eq!(c.max_deliveries, 1);
    assert!(!format!("{:?}", receiver_config()).contains("whsec_"));
    assert_eq!(c.functions_url, "http://gw/functions/v1");
    assert!(DispatchOverrides::from_body(b" \n").is_ok());
    assert!(DispatchOverrides::from_body(br#"{"lanes": 2, "nope": 1}"#).is_err());
}

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
