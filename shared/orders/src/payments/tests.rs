use std::cell::{Cell, RefCell};
use std::collections::{HashMap, VecDeque};

use pollster::block_on;
use serde_json::json;

use super::*;
use crate::money::CurrencyCode;

fn code(s: &str) -> CurrencyCode {
    s.parse().unwrap()
}
use edge_webhook::stripe;

const SECRET: &str = "whsec_unit_test_secret";
const NOW: i64 = 1_800_000_000;

/// A scripted [`PaymentStore`]: the read answers the order the test gave it; the apply records
/// what Rust sent and answers what the test arranged. Deduplication on the event id and the
/// re-check of status, amount and currency on the locked row live in `apply_payment_event` and
/// are tested against PostgreSQL (tests/sql/payments.test.ts, tests/e2e/payment_webhook.test.ts).
#[derive(Default)]
struct ScriptedPayments {
    orders: RefCell<HashMap<i64, PaymentOrder>>,
    /// The answers of the next `apply_payment_event` calls; once empty, the database agrees
    /// with the decision as sent ([`as_sent`]).
    answers: RefCell<VecDeque<AppliedEvent>>,
    /// Order ids read, in order.
    reads: RefCell<Vec<i64>>,
    /// The parameters of every `apply_payment_event` call, in order.
    sent: RefCell<Vec<Value>>,
    /// Reads fail with a 503 (the database API is down).
    fail_reads: Cell<bool>,
    /// Applies fail with a 503.
    fail_applies: Cell<bool>,
}

impl ScriptedPayments {
    fn with(orders: &[PaymentOrder]) -> Self {
        let store = Self::default();
        for o in orders {
            store.orders.borrow_mut().insert(o.id, o.clone());
        }
        store
    }
    fn answer(&self, answer: Value) {
        let applied = serde_json::from_value(answer).expect("an apply_payment_event answer");
        self.answers.borrow_mut().push_back(applied);
    }
    fn last_sent(&self) -> Value {
        self.sent.borrow().last().cloned().expect("nothing sent")
    }
}

/// The answer of a database that applies or records the decision as it was sent.
fn as_sent(params: &Value) -> AppliedEvent {
    let (outcome, reason) = match (params["to_status"].as_str(), &params["exception_reason"]) {
        (Some("paid"), _) => (Outcome::Paid, None),
        (Some("refunded"), _) => (Outcome::Refunded, None),
        (Some("partially_refunded"), _) => (Outcome::PartiallyRefunded, None),
        (_, Value::Null) => (Outcome::Ignored, None),
        (_, reason) => (
            Outcome::Exception,
            Some(serde_json::from_value(reason.clone()).unwrap()),
        ),
    };
    AppliedEvent {
        duplicate: false,
        outcome,
        reason,
        order_status: None,
    }
}

impl PaymentStore for ScriptedPayments {
    async fn order_for_payment(&self, order_id: i64) -> Result<Option<PaymentOrder>> {
        if self.fail_reads.get() {
            return Err(Error::Unavailable("connection refused".into()));
        }
        self.reads.borrow_mut().push(order_id);
        Ok(self.orders.borrow().get(&order_id).cloned())
    }

    async fn apply_payment_event(&self, r: &PaymentEventRecord<'_>) -> Result<AppliedEvent> {
        if self.fail_applies.get() {
            return Err(Error::Unavailable("connection refused".into()));
        }
        let params = r.params();
        self.sent.borrow_mut().push(params.clone());
        let scripted = self.answers.borrow_mut().pop_front();
        Ok(scripted.unwrap_or_else(|| as_sent(&params)))
    }
}

fn order(id: i64, status: OrderStatus, total: i64) -> PaymentOrder {
    PaymentOrder {
        id,
        status,
        currency: code("USD"),
        total_amount: Some(total),
    }
}

fn succeeded(event_id: &str, order_id: Value, amount: Value, currency: &str) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "id": event_id, "object": "event", "type": "payment_intent.succeeded",
        "data": {"object": {"id": "pi_1", "object": "payment_intent", "amount": amount,
            "currency": currency, "metadata": {"order_id": order_id}}}
    }))
    .unwrap()
}

fn refunded(event_id: &str, order_id: i64, amount: i64, amount_refunded: i64) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "id": event_id, "object": "event", "type": "charge.refunded",
        "data": {"object": {"id": "ch_1", "object": "charge", "amount": amount,
            "amount_refunded": amount_refunded, "currency": "usd",
            "metadata": {"order_id": order_id.to_string()}}}
    }))
    .unwrap()
}

fn signed(body: Vec<u8>, timestamp: i64) -> Request {
    ::http::Request::builder()
        .method("POST")
        .uri("http://x/functions/v1/payment-webhook")
        .header("stripe-signature", stripe::sign(SECRET, timestamp, &body))
        .body(body)
        .unwrap()
}

struct Reply {
    status: u16,
    body: Value,
}

fn call(store: &ScriptedPayments, req: Request) -> Reply {
    let verifier = stripe_verifier(Some(SECRET)).unwrap();
    let resp = http::respond(block_on(handle_payment_webhook(
        store, &verifier, &req, NOW,
    )));
    let text = String::from_utf8(resp.body().clone()).unwrap();
    assert!(!text.contains(SECRET), "secret leaked: {text}");
    Reply {
        status: resp.status().as_u16(),
        body: serde_json::from_str(&text).unwrap(),
    }
}

fn post(store: &ScriptedPayments, body: Vec<u8>) -> Reply {
    call(store, signed(body, NOW))
}

// --- parsing ----------------------------------------------------------------------------------

#[test]
fn reads_order_ids_from_metadata_strictly() {
    let id = |v: Value| PaymentObject::from_value(&json!({"metadata": {"order_id": v}})).order_id;
    assert_eq!(id(json!("42")), Some(42));
    assert_eq!(id(json!(42)), Some(42));
    for bad in [
        json!(""),
        json!(" 42"),
        json!("4.2"),
        json!("-1"),
        json!("0"),
        json!(0),
        json!(4.2),
        json!("99999999999999999999"),
        json!({"id": 1}),
        json!(true),
    ] {
        assert_eq!(id(bad.clone()), None, "{bad}");
    }
    let obj = PaymentObject::from_value(&json!({"metadata": {"order_id": "x".repeat(500)}}));
    assert_eq!(obj.invalid_order_id, Some(json!("x".repeat(100))));
    let obj = PaymentObject::from_value(&json!({"metadata": {"order_id": [1]}}));
    assert_eq!(obj.invalid_order_id, Some(json!("<array>")));
    assert_eq!(
        PaymentObject::from_value(&json!({})),
        PaymentObject::default()
    );
}

#[test]
fn reads_amounts_as_integers_and_upper_cases_currency() {
    let obj = PaymentObject::from_value(
        &json!({"id": "pi_1", "amount": 1999, "amount_refunded": 0, "currency": "usd"}),
    );
    assert_eq!(obj.amount, Some(1999));
    assert_eq!(obj.amount_refunded, Some(0));
    assert_eq!(obj.currency.as_ref().map(CurrencyCode::as_str), Some("USD"));
    assert_eq!(obj.id.as_deref(), Some("pi_1"));
    let bad = PaymentObject::from_value(&json!({"amount": 19.99, "currency": "us dollars"}));
    assert_eq!((bad.amount, bad.currency), (None, None));
    let bad = PaymentObject::from_value(&json!({"amount": "1999", "currency": 840}));
    assert_eq!((bad.amount, bad.currency), (None, None));
}

// --- decisions --------------------------------------------------------------------------------

fn payment(order_id: i64, amount: i64, currency: &str) -> PaymentEvent {
    PaymentEvent::Succeeded(PaymentObject {
        order_id: Some(order_id),
        amount: Some(amount),
        currency: CurrencyCode::new_ignore_case(currency),
        ..Default::default()
    })
}

fn refund(order_id: i64, amount: i64, refunded: i64) -> PaymentEvent {
    PaymentEvent::Refunded(PaymentObject {
        order_id: Some(order_id),
        amount: Some(amount),
        amount_refunded: Some(refunded),
        currency: Some(code("USD")),
        ..Default::default()
    })
}

fn reason_of(d: &Decision) -> Option<ExceptionReason> {
    match d.action {
        Action::Exception { reason, .. } => Some(reason),
        _ => None,
    }
}

#[test]
fn a_matching_payment_pays_a_processed_order() {
    let d = decide(
        &payment(7, 5248, "USD"),
        Some(&order(7, OrderStatus::Processed, 5248)),
    );
    assert_eq!(
        d.action,
        Action::Apply(Transition {
            order_id: 7,
            from: OrderStatus::Processed,
            to: OrderStatus::Paid
        })
    );
    assert_eq!((d.order_id, d.amount), (Some(7), Some(5248)));
}

#[test]
fn payments_in_any_other_status_are_exceptions() {
    for status in OrderStatus::ALL {
        let d = decide(&payment(7, 5248, "USD"), Some(&order(7, status, 5248)));
        // processed, and expired (a late payment: the database revives the order or records
        // order_expired), are paid; anything else is a status conflict.
        let applies = matches!(status, OrderStatus::Processed | OrderStatus::Expired);
        let expected = (!applies).then_some(ExceptionReason::StatusConflict);
        assert_eq!(reason_of(&d), expected, "{status}");
    }
}

#[test]
fn mismatches_and_missing_data_are_exceptions() {
    use ExceptionReason::*;
    let processed = order(7, OrderStatus::Processed, 5248);
    let cases = [
        (payment(7, 5247, "USD"), Some(&processed), AmountMismatch),
        (payment(7, 5248, "EUR"), Some(&processed), CurrencyMismatch),
        (payment(8, 5248, "USD"), None, OrderNotFound),
        // an order that is not the one named counts as not found
        (payment(8, 5248, "USD"), Some(&processed), OrderNotFound),
        (
            PaymentEvent::Succeeded(PaymentObject {
                amount: Some(5248),
                currency: Some(code("USD")),
                ..Default::default()
            }),
            Some(&processed),
            MissingOrderId,
        ),
        (
            PaymentEvent::Succeeded(PaymentObject {
                order_id: Some(7),
                currency: Some(code("USD")),
                ..Default::default()
            }),
            Some(&processed),
            InvalidAmount,
        ),
        (refund(7, 5248, 5248), None, OrderNotFound),
        (
            refund(7, 6000, 6000),
            Some(&order(7, OrderStatus::Paid, 5248)),
            RefundExceedsPayment,
        ),
        (
            refund(7, 5248, 0),
            Some(&order(7, OrderStatus::Paid, 5248)),
            InvalidAmount,
        ),
        (refund(7, 5248, 5248), Some(&processed), StatusConflict),
    ];
    for (event, order, reason) in cases {
        let d = decide(&event, order);
        assert_eq!(reason_of(&d), Some(reason), "{event:?}");
    }
    // a lower-case currency matches (Stripe sends `usd`)
    let d = decide(&payment(7, 5248, "usd"), Some(&processed));
    assert!(matches!(d.action, Action::Apply(_)));
}

#[test]
fn full_refunds_refund_paid_and_fulfilled_orders() {
    for status in [OrderStatus::Paid, OrderStatus::Fulfilled] {
        let d = decide(&refund(7, 5248, 5248), Some(&order(7, status, 5248)));
        assert_eq!(
            d.action,
            Action::Refund {
                from: status,
                to: OrderStatus::Refunded
            }
        );
    }
}

#[test]
fn other_events_are_ignored() {
    let d = decide(&PaymentEvent::Other, None);
    assert_eq!(d.action, Action::Ignore);
    assert_eq!(d.order_id, None);
}

#[test]
fn rpc_params_say_what_to_apply_or_record() {
    let d = decide(
        &payment(7, 5248, "usd"),
        Some(&order(7, OrderStatus::Processed, 5248)),
    );
    let r = PaymentEventRecord {
        provider: PROVIDER,
        event_id: "evt_1",
        event_type: "payment_intent.succeeded",
        object_id: Some("pi_1"),
        decision: &d,
    };
    assert_eq!(
        r.params(),
        json!({"provider": "stripe", "event_id": "evt_1", "event_type": "payment_intent.succeeded",
            "order_id": 7, "to_status": "paid", "expected_status": "processed", "amount": 5248,
            "currency": "USD", "exception_reason": null, "object_id": "pi_1", "details": null})
    );
    let d = decide(
        &payment(7, 1, "USD"),
        Some(&order(7, OrderStatus::Processed, 5248)),
    );
    let p = PaymentEventRecord {
        decision: &d,
        ..r.clone()
    }
    .params();
    assert_eq!(p["exception_reason"], "amount_mismatch");
    assert_eq!(p["expected_status"], "processed");
    assert_eq!(p["to_status"], Value::Null);
    assert_eq!(p["details"], json!({"requested_status": "paid"}));
}

// --- the handler ------------------------------------------------------------------------------

#[test]
fn a_signed_payment_is_sent_as_decided_and_a_redelivery_answers_what_the_database_says() {
    let store = ScriptedPayments::with(&[order(1, OrderStatus::Processed, 5248)]);
    let body = succeeded("evt_pay", json!("1"), json!(5248), "usd");
    let r = post(&store, body.clone());
    assert_eq!(r.status, 200);
    assert_eq!(
        r.body,
        json!({"received": true, "event_id": "evt_pay", "outcome": "paid"})
    );
    assert_eq!(*store.reads.borrow(), [1]);
    assert_eq!(
        store.last_sent(),
        json!({"provider": "stripe", "event_id": "evt_pay", "event_type": "payment_intent.succeeded",
            "order_id": 1, "to_status": "paid", "expected_status": "processed", "amount": 5248,
            "currency": "USD", "exception_reason": null, "object_id": "pi_1", "details": null})
    );
    // Redelivered: Rust sends it again (the database deduplicates on the event id) and
    // answers what the database did.
    store.answer(json!({"duplicate": true, "outcome": "duplicate"}));
    let again = post(&store, body);
    assert_eq!(
        (again.status, again.body),
        (
            200,
            json!({"received": true, "event_id": "evt_pay", "outcome": "duplicate"})
        )
    );
    let sent = store.sent.borrow();
    assert_eq!((sent.len(), &sent[0]), (2, &sent[1]));
}

#[test]
fn signature_problems_are_rejected_before_anything_is_read_or_written() {
    let store = ScriptedPayments::with(&[order(1, OrderStatus::Processed, 5248)]);
    let body = succeeded("evt_sig", json!("1"), json!(5248), "usd");

    let mut wrong = signed(body.clone(), NOW);
    let other = stripe::sign("whsec_someone_else", NOW, &body);
    wrong
        .headers_mut()
        .insert("stripe-signature", other.parse().unwrap());
    let mut missing = signed(body.clone(), NOW);
    missing.headers_mut().remove("stripe-signature");
    let mut tampered = signed(body.clone(), NOW);
    tampered.body_mut()[10] ^= 1;
    let mut empty = signed(body.clone(), NOW);
    empty
        .headers_mut()
        .insert("stripe-signature", format!("t={NOW},v1=").parse().unwrap());

    let cases = [
        (wrong, "no_matching_signature"),
        (missing, "missing_header"),
        (tampered, "no_matching_signature"),
        (empty, "no_matching_signature"),
        (
            signed(body.clone(), NOW - 301),
            "timestamp_out_of_tolerance",
        ),
    ];
    for (req, code) in cases {
        let r = call(&store, req);
        assert_eq!(r.status, 400, "{code}");
        assert_eq!(r.body["error"]["code"], code);
    }
    assert!(store.reads.borrow().is_empty());
    assert!(store.sent.borrow().is_empty());

    // the edge of the tolerance still passes
    assert_eq!(call(&store, signed(body, NOW - 300)).status, 200);
    assert_eq!(store.sent.borrow().len(), 1);
}

#[test]
fn oversized_bodies_are_413_and_other_methods_405() {
    let store = ScriptedPayments::default();
    let mut body = succeeded("evt_big", json!("1"), json!(5248), "usd");
    body.truncate(body.len() - 1);
    body.extend(vec![b' '; 256 * 1024]);
    body.push(b'}');
    let r = post(&store, body);
    assert_eq!(r.status, 413);
    assert_eq!(r.body["error"]["code"], "payload_too_large");

    let mut get = signed(Vec::new(), NOW);
    *get.method_mut() = ::http::Method::GET;
    let verifier = stripe_verifier(Some(SECRET)).unwrap();
    let resp = http::respond(block_on(handle_payment_webhook(
        &store, &verifier, &get, NOW,
    )));
    assert_eq!(resp.status(), 405);
    assert_eq!(resp.headers()["allow"], "POST");
    assert!(store.reads.borrow().is_empty());
    assert!(store.sent.borrow().is_empty());
}

#[test]
fn signed_but_unusable_events_are_400() {
    let store = ScriptedPayments::default();
    for (body, code) in [
        (b"{not json".to_vec(), "malformed_json"),
        (br#"{"type": "x"}"#.to_vec(), "invalid_body"),
        (br#"{"id": "", "type": "x"}"#.to_vec(), "invalid_event"),
        (br#"{"id": "evt 1", "type": "x"}"#.to_vec(), "invalid_event"),
        (
            serde_json::to_vec(&json!({"id": "e".repeat(256), "type": "x"})).unwrap(),
            "invalid_event",
        ),
    ] {
        let r = post(&store, body);
        assert_eq!(
            (r.status, r.body["error"]["code"].as_str()),
            (400, Some(code))
        );
    }
    assert!(store.reads.borrow().is_empty());
    assert!(store.sent.borrow().is_empty());
}

#[test]
fn mismatches_wrong_statuses_and_unknown_orders_answer_200_with_an_exception() {
    let store = ScriptedPayments::with(&[
        order(1, OrderStatus::Processed, 5248),
        order(2, OrderStatus::Pending, 5248),
        order(3, OrderStatus::Cancelled, 5248),
    ]);
    // (event, reason, order_id sent, expected_status sent)
    let cases = [
        (
            succeeded("evt_a", json!("1"), json!(5000), "usd"),
            "amount_mismatch",
            json!(1),
            json!("processed"),
        ),
        (
            succeeded("evt_b", json!("1"), json!(5248), "eur"),
            "currency_mismatch",
            json!(1),
            json!("processed"),
        ),
        (
            succeeded("evt_c", json!("1"), json!(52.48), "usd"),
            "invalid_amount",
            json!(1),
            Value::Null,
        ),
        (
            succeeded("evt_d", json!("2"), json!(5248), "usd"),
            "status_conflict",
            json!(2),
            Value::Null,
        ),
        (
            succeeded("evt_e", json!("3"), json!(5248), "usd"),
            "status_conflict",
            json!(3),
            Value::Null,
        ),
        (
            succeeded("evt_f", json!("404"), json!(5248), "usd"),
            "order_not_found",
            json!(404),
            Value::Null,
        ),
        (
            succeeded("evt_g", json!("one"), json!(5248), "usd"),
            "missing_order_id",
            Value::Null,
            Value::Null,
        ),
        (
            succeeded("evt_h", Value::Null, json!(5248), "usd"),
            "missing_order_id",
            Value::Null,
            Value::Null,
        ),
    ];
    for (body, reason, order_id, expected) in cases {
        let r = post(&store, body);
        assert_eq!(r.status, 200, "{reason}");
        assert_eq!(r.body["outcome"], "exception", "{reason}");
        assert_eq!(r.body["reason"], reason);
        let sent = store.last_sent();
        assert_eq!(
            (
                &sent["exception_reason"],
                &sent["to_status"],
                &sent["order_id"],
                &sent["expected_status"]
            ),
            (&json!(reason), &Value::Null, &order_id, &expected),
            "{reason}"
        );
    }
    assert_eq!(store.sent.borrow().len(), 8);
    // Only events naming a valid order id read one.
    assert_eq!(*store.reads.borrow(), [1, 1, 1, 2, 3, 404]);
}

#[test]
fn the_answer_is_what_the_database_did_not_what_was_decided() {
    // Rust read the order as processed and decided to pay it; the database re-checked on the
    // locked row (tests/sql: "apply_payment_event rechecks the status") and found it paid.
    let store = ScriptedPayments::with(&[order(1, OrderStatus::Processed, 5248)]);
    store.answer(
        json!({"duplicate": false, "outcome": "exception", "reason": "status_conflict",
        "order_status": "paid"}),
    );
    let r = post(
        &store,
        succeeded("evt_race", json!("1"), json!(5248), "usd"),
    );
    assert_eq!(
        (r.status, r.body),
        (
            200,
            json!({"received": true, "event_id": "evt_race", "outcome": "exception",
                "reason": "status_conflict"})
        )
    );
    let sent = store.last_sent();
    assert_eq!(
        (&sent["to_status"], &sent["expected_status"]),
        (&json!("paid"), &json!("processed"))
    );
}

#[test]
fn refunds_full_and_partial() {
    let store = ScriptedPayments::with(&[
        order(1, OrderStatus::Paid, 5248),
        order(2, OrderStatus::Fulfilled, 5248),
        order(3, OrderStatus::Paid, 5248),
    ]);
    for (id, event, from) in [(1, "evt_r1", "paid"), (2, "evt_r2", "fulfilled")] {
        let r = post(&store, refunded(event, id, 5248, 5248));
        assert_eq!(r.body["outcome"], "refunded");
        let sent = store.last_sent();
        assert_eq!(
            (
                &sent["order_id"],
                &sent["to_status"],
                &sent["expected_status"],
                &sent["amount"],
                &sent["object_id"]
            ),
            (
                &json!(id),
                &json!("refunded"),
                &json!(from),
                &json!(5248),
                &json!("ch_1")
            )
        );
    }
    // A partial refund: its refunds list is sent, the database decides the status.
    let body = serde_json::to_vec(&json!({
        "id": "evt_r3", "object": "event", "type": "charge.refunded",
        "data": {"object": {"id": "ch_3", "object": "charge", "amount": 5248,
            "amount_refunded": 1000, "currency": "usd", "metadata": {"order_id": "3"},
            "refunds": {"object": "list", "data": [
                {"id": "re_1", "amount": 1000, "currency": "usd", "created": 1700000000, "status": "succeeded"},
                {"id": "re_x", "amount": 500, "currency": "usd", "status": "failed"},
                {"id": "re_bad", "amount": -5}]}}}
    }))
    .unwrap();
    let r = post(&store, body);
    assert_eq!(
        (r.status, r.body["outcome"].as_str()),
        (200, Some("partially_refunded"))
    );
    let sent = store.last_sent();
    assert_eq!(
        (
            &sent["to_status"],
            &sent["expected_status"],
            &sent["amount"],
            &sent["refunds"]
        ),
        (
            &json!("partially_refunded"),
            &json!("paid"),
            &json!(1000),
            &json!([{"id": "re_1", "amount": 1000, "currency": "USD", "created": 1700000000}])
        )
    );
}

#[test]
fn refunds_of_refunded_or_partially_refunded_orders_are_sent_for_the_database_to_settle() {
    for status in [OrderStatus::PartiallyRefunded, OrderStatus::Refunded] {
        for refunded in [1000, 5248] {
            let d = decide(&refund(7, 5248, refunded), Some(&order(7, status, 5248)));
            let to = if refunded == 5248 {
                OrderStatus::Refunded
            } else {
                OrderStatus::PartiallyRefunded
            };
            assert_eq!(d.action, Action::Refund { from: status, to }, "{status}");
        }
    }
    for status in [
        OrderStatus::Pending,
        OrderStatus::Processed,
        OrderStatus::Cancelled,
        OrderStatus::Expired,
    ] {
        let d = decide(&refund(7, 5248, 5248), Some(&order(7, status, 5248)));
        assert_eq!(
            reason_of(&d),
            Some(ExceptionReason::StatusConflict),
            "{status}"
        );
    }
}

#[test]
fn unknown_event_types_are_recorded_and_ignored() {
    let store = ScriptedPayments::with(&[order(1, OrderStatus::Processed, 5248)]);
    let body = serde_json::to_vec(&json!({"id": "evt_other", "type": "customer.created",
        "data": {"object": {"metadata": {"order_id": "1"}, "amount": 5248, "currency": "usd"}}}))
    .unwrap();
    let r = post(&store, body);
    assert_eq!(
        r.body,
        json!({"received": true, "event_id": "evt_other", "outcome": "ignored"})
    );
    assert!(store.reads.borrow().is_empty());
    let sent = store.last_sent();
    assert_eq!(
        (
            &sent["event_id"],
            &sent["event_type"],
            &sent["order_id"],
            &sent["to_status"],
            &sent["exception_reason"]
        ),
        (
            &json!("evt_other"),
            &json!("customer.created"),
            &Value::Null,
            &Value::Null,
            &Value::Null
        )
    );
}

#[test]
fn store_failures_are_5xx_so_the_provider_retries() {
    let store = ScriptedPayments::with(&[order(1, OrderStatus::Processed, 5248)]);
    store.fail_reads.set(true);
    let r = post(
        &store,
        succeeded("evt_down", json!("1"), json!(5248), "usd"),
    );
    assert_eq!(r.status, 503);
    assert!(!r.body.to_string().contains("connection refused"));
    assert!(store.sent.borrow().is_empty());
    store.fail_reads.set(false);
    store.fail_applies.set(true);
    let r = post(
        &store,
        succeeded("evt_down", json!("1"), json!(5248), "usd"),
    );
    assert_eq!(
        (r.status, r.body["error"]["code"].as_str()),
        (503, Some("upstream_unavailable"))
    );
}

#[test]
fn verifier_from_env_supports_rolling_and_never_echoes_the_secret() {
    for missing in [None, Some(""), Some(" , ")] {
        let e = stripe_verifier(missing).unwrap_err();
        assert_eq!(e.status(), 500);
    }
    let v = stripe_verifier(Some("whsec_old, whsec_new")).unwrap();
    for secret in ["whsec_old", "whsec_new"] {
        let hdrs = [("stripe-signature", stripe::sign(secret, NOW, b"{}"))];
        assert!(v.verify(&hdrs, b"{}", NOW).is_ok());
    }
    assert!(!format!("{v:?}").contains("whsec_old"));
}
