use std::cell::RefCell;
use std::collections::HashMap;

use pollster::block_on;
use serde_json::json;

use super::*;
use crate::webhook::stripe;

const SECRET: &str = "whsec_unit_test_secret";
const NOW: i64 = 1_800_000_000;

/// In-memory [`PaymentStore`]: the same checks as `apply_payment_event` (dedupe on the event
/// id, re-check of status, currency and amount on the stored order), no network.
#[derive(Default)]
struct MemoryPayments {
    orders: RefCell<HashMap<i64, PaymentOrder>>,
    /// What `order_for_payment` answers instead of the stored order (a read that a concurrent
    /// event has since made stale).
    stale_reads: RefCell<HashMap<i64, PaymentOrder>>,
    events: RefCell<HashMap<(String, String), Outcome>>,
    exceptions: RefCell<Vec<(String, ExceptionReason)>>,
    transitions: RefCell<u32>,
    fail: RefCell<bool>,
}

impl MemoryPayments {
    fn with(orders: &[PaymentOrder]) -> Self {
        let store = Self::default();
        for o in orders {
            store.orders.borrow_mut().insert(o.id, o.clone());
        }
        store
    }
    fn status(&self, id: i64) -> OrderStatus {
        self.orders.borrow()[&id].status
    }
    fn exception_reasons(&self) -> Vec<ExceptionReason> {
        self.exceptions.borrow().iter().map(|(_, r)| *r).collect()
    }
}

impl PaymentStore for MemoryPayments {
    async fn order_for_payment(&self, order_id: i64) -> Result<Option<PaymentOrder>> {
        if *self.fail.borrow() {
            return Err(Error::Unavailable("connection refused".into()));
        }
        if let Some(stale) = self.stale_reads.borrow().get(&order_id) {
            return Ok(Some(stale.clone()));
        }
        Ok(self.orders.borrow().get(&order_id).cloned())
    }

    async fn apply_payment_event(&self, r: &PaymentEventRecord<'_>) -> Result<AppliedEvent> {
        let key = (r.provider.to_owned(), r.event_id.to_owned());
        if self.events.borrow().contains_key(&key) {
            return Ok(AppliedEvent {
                duplicate: true,
                outcome: Outcome::Duplicate,
                reason: None,
                order_status: None,
            });
        }
        let d = r.decision;
        let mut orders = self.orders.borrow_mut();
        let order = d.order_id.and_then(|id| orders.get_mut(&id));
        let (outcome, reason) = match (&d.action, order) {
            (Action::Ignore, _) => (Outcome::Ignored, None),
            (Action::Exception { reason, .. }, _) => (Outcome::Exception, Some(*reason)),
            (Action::Apply(_), None) => (Outcome::Exception, Some(ExceptionReason::OrderNotFound)),
            (Action::Apply(t), Some(o)) => {
                let currency = d.currency.as_deref().unwrap_or_default();
                if o.status != t.from {
                    (Outcome::Exception, Some(ExceptionReason::StatusConflict))
                } else if !o.currency.eq_ignore_ascii_case(currency) {
                    (Outcome::Exception, Some(ExceptionReason::CurrencyMismatch))
                } else if o.total_amount != d.amount {
                    (Outcome::Exception, Some(ExceptionReason::AmountMismatch))
                } else {
                    o.status = t.to;
                    *self.transitions.borrow_mut() += 1;
                    let outcome = match t.to {
                        OrderStatus::Paid => Outcome::Paid,
                        _ => Outcome::Refunded,
                    };
                    (outcome, None)
                }
            }
        };
        if let Some(reason) = reason {
            self.exceptions
                .borrow_mut()
                .push((r.event_id.to_owned(), reason));
        }
        self.events.borrow_mut().insert(key, outcome);
        Ok(AppliedEvent {
            duplicate: false,
            outcome,
            reason,
            order_status: None,
        })
    }
}

fn order(id: i64, status: OrderStatus, total: i64) -> PaymentOrder {
    PaymentOrder {
        id,
        status,
        currency: "USD".into(),
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

fn call(store: &MemoryPayments, req: Request) -> Reply {
    let verifier = stripe_verifier(Some(SECRET)).unwrap();
    let resp = block_on(handle_payment_webhook(store, &verifier, &req, NOW));
    let text = String::from_utf8(resp.body().clone()).unwrap();
    assert!(!text.contains(SECRET), "secret leaked: {text}");
    Reply {
        status: resp.status().as_u16(),
        body: serde_json::from_str(&text).unwrap(),
    }
}

fn post(store: &MemoryPayments, body: Vec<u8>) -> Reply {
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
    assert_eq!(obj.currency.as_deref(), Some("USD"));
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
        currency: Some(currency.into()),
        ..Default::default()
    })
}

fn refund(order_id: i64, amount: i64, refunded: i64) -> PaymentEvent {
    PaymentEvent::Refunded(PaymentObject {
        order_id: Some(order_id),
        amount: Some(amount),
        amount_refunded: Some(refunded),
        currency: Some("USD".into()),
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
        let expected =
            (status != OrderStatus::Processed).then_some(ExceptionReason::StatusConflict);
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
                currency: Some("USD".into()),
                ..Default::default()
            }),
            Some(&processed),
            MissingOrderId,
        ),
        (
            PaymentEvent::Succeeded(PaymentObject {
                order_id: Some(7),
                currency: Some("USD".into()),
                ..Default::default()
            }),
            Some(&processed),
            InvalidAmount,
        ),
        (refund(7, 5248, 5248), None, OrderNotFound),
        (
            refund(7, 5248, 1000),
            Some(&order(7, OrderStatus::Paid, 5248)),
            PartialRefund,
        ),
        (
            refund(7, 6000, 6000),
            Some(&order(7, OrderStatus::Paid, 5248)),
            AmountMismatch,
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
            Action::Apply(Transition {
                order_id: 7,
                from: status,
                to: OrderStatus::Refunded
            })
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
fn a_signed_payment_pays_the_order_once() {
    let store = MemoryPayments::with(&[order(1, OrderStatus::Processed, 5248)]);
    let body = succeeded("evt_pay", json!("1"), json!(5248), "usd");
    let r = post(&store, body.clone());
    assert_eq!(r.status, 200);
    assert_eq!(
        r.body,
        json!({"received": true, "event_id": "evt_pay", "outcome": "paid"})
    );
    assert_eq!(store.status(1), OrderStatus::Paid);

    let again = post(&store, body);
    assert_eq!(again.status, 200);
    assert_eq!(again.body["outcome"], "duplicate");
    assert_eq!(*store.transitions.borrow(), 1);
    assert!(store.exceptions.borrow().is_empty());
}

#[test]
fn signature_problems_are_rejected_before_anything_is_read_or_written() {
    let store = MemoryPayments::with(&[order(1, OrderStatus::Processed, 5248)]);
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
    assert!(store.events.borrow().is_empty());
    assert_eq!(store.status(1), OrderStatus::Processed);

    // the edge of the tolerance still passes
    assert_eq!(call(&store, signed(body, NOW - 300)).status, 200);
}

#[test]
fn oversized_bodies_are_413_and_other_methods_405() {
    let store = MemoryPayments::default();
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
    let resp = block_on(handle_payment_webhook(&store, &verifier, &get, NOW));
    assert_eq!(resp.status(), 405);
    assert_eq!(resp.headers()["allow"], "POST");
    assert!(store.events.borrow().is_empty());
}

#[test]
fn signed_but_unusable_events_are_400() {
    let store = MemoryPayments::default();
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
    assert!(store.events.borrow().is_empty());
}

#[test]
fn mismatches_wrong_statuses_and_unknown_orders_answer_200_with_an_exception() {
    let store = MemoryPayments::with(&[
        order(1, OrderStatus::Processed, 5248),
        order(2, OrderStatus::Pending, 5248),
        order(3, OrderStatus::Cancelled, 5248),
    ]);
    let cases = [
        (
            succeeded("evt_a", json!("1"), json!(5000), "usd"),
            "amount_mismatch",
        ),
        (
            succeeded("evt_b", json!("1"), json!(5248), "eur"),
            "currency_mismatch",
        ),
        (
            succeeded("evt_c", json!("1"), json!(52.48), "usd"),
            "invalid_amount",
        ),
        (
            succeeded("evt_d", json!("2"), json!(5248), "usd"),
            "status_conflict",
        ),
        (
            succeeded("evt_e", json!("3"), json!(5248), "usd"),
            "status_conflict",
        ),
        (
            succeeded("evt_f", json!("404"), json!(5248), "usd"),
            "order_not_found",
        ),
        (
            succeeded("evt_g", json!("one"), json!(5248), "usd"),
            "missing_order_id",
        ),
        (
            succeeded("evt_h", Value::Null, json!(5248), "usd"),
            "missing_order_id",
        ),
    ];
    for (body, reason) in cases {
        let r = post(&store, body);
        assert_eq!(r.status, 200, "{reason}");
        assert_eq!(r.body["outcome"], "exception", "{reason}");
        assert_eq!(r.body["reason"], reason);
    }
    assert_eq!(store.exceptions.borrow().len(), 8);
    assert_eq!(store.status(1), OrderStatus::Processed);
    assert_eq!(store.status(2), OrderStatus::Pending);
    assert_eq!(store.status(3), OrderStatus::Cancelled);
    assert_eq!(*store.transitions.borrow(), 0);
}

#[test]
fn a_second_payment_for_a_paid_order_is_an_exception() {
    let store = MemoryPayments::with(&[order(1, OrderStatus::Processed, 5248)]);
    assert_eq!(
        post(&store, succeeded("evt_1", json!("1"), json!(5248), "usd")).body["outcome"],
        "paid"
    );
    let r = post(&store, succeeded("evt_2", json!("1"), json!(5248), "usd"));
    assert_eq!(
        (r.body["outcome"].as_str(), r.body["reason"].as_str()),
        (Some("exception"), Some("status_conflict"))
    );
    assert_eq!(*store.transitions.borrow(), 1);
}

#[test]
fn the_database_recheck_wins_over_a_stale_read() {
    // The read says processed, but another event paid the order before this one applied.
    let store = MemoryPayments::with(&[order(1, OrderStatus::Paid, 5248)]);
    store
        .stale_reads
        .borrow_mut()
        .insert(1, order(1, OrderStatus::Processed, 5248));
    let r = post(
        &store,
        succeeded("evt_race", json!("1"), json!(5248), "usd"),
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.body["reason"], "status_conflict");
    assert_eq!(store.status(1), OrderStatus::Paid);
    assert_eq!(*store.transitions.borrow(), 0);
}

#[test]
fn refunds_full_and_partial() {
    let store = MemoryPayments::with(&[
        order(1, OrderStatus::Paid, 5248),
        order(2, OrderStatus::Fulfilled, 5248),
        order(3, OrderStatus::Paid, 5248),
    ]);
    for (id, event) in [(1, "evt_r1"), (2, "evt_r2")] {
        let r = post(&store, refunded(event, id, 5248, 5248));
        assert_eq!(r.body["outcome"], "refunded");
        assert_eq!(store.status(id), OrderStatus::Refunded);
    }
    let r = post(&store, refunded("evt_r3", 3, 5248, 1000));
    assert_eq!(
        (r.status, r.body["reason"].as_str()),
        (200, Some("partial_refund"))
    );
    assert_eq!(store.status(3), OrderStatus::Paid);
    assert_eq!(
        store.exception_reasons(),
        vec![ExceptionReason::PartialRefund]
    );
}

#[test]
fn unknown_event_types_are_recorded_and_ignored() {
    let store = MemoryPayments::with(&[order(1, OrderStatus::Processed, 5248)]);
    let body = serde_json::to_vec(&json!({"id": "evt_other", "type": "customer.created",
        "data": {"object": {"metadata": {"order_id": "1"}, "amount": 5248, "currency": "usd"}}}))
    .unwrap();
    let r = post(&store, body);
    assert_eq!(
        r.body,
        json!({"received": true, "event_id": "evt_other", "outcome": "ignored"})
    );
    assert_eq!(
        store.events.borrow()[&("stripe".to_owned(), "evt_other".to_owned())],
        Outcome::Ignored
    );
    assert_eq!(store.status(1), OrderStatus::Processed);
}

#[test]
fn store_failures_are_5xx_so_the_provider_retries() {
    let store = MemoryPayments::with(&[order(1, OrderStatus::Processed, 5248)]);
    *store.fail.borrow_mut() = true;
    let r = post(
        &store,
        succeeded("evt_down", json!("1"), json!(5248), "usd"),
    );
    assert_eq!(r.status, 503);
    assert!(!r.body.to_string().contains("connection refused"));
    assert!(store.events.borrow().is_empty());
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
