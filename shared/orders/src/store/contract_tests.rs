//! The Rust side of the SQL contract, against the exact JSON the SQL produces: the fixtures are
//! `begin_order_request`'s answers as a running stack sent them (`scripts/stack.sh start`,
//! then `POST /rest/v1/rpc/begin_order_request {"order_id": ..}` with the secret key; order
//! 900 carries the seeded `FIVEOFF` discount, order 901 the well-formed but unsupported
//! currency `XYZ`). `tests/sql/contract.test.ts` checks that the live SQL still answers every
//! key of these fixtures, with the same JSON types.

use pollster::block_on;
use serde_json::{json, Value};

use super::memory::ScriptedStore;
use super::{ApplyOutcome, Begin, OrderSnapshot, Refusal};
use crate::money::{Currency, CurrencyCode};
use crate::order::OrderStatus;
use crate::pricing::OrderLine;
use crate::processing::process_order;
use edge_platform::http::Caller;

const READ: &str = include_str!("fixtures/begin_order_request.json");
const READ_XYZ: &str = include_str!("fixtures/begin_order_request_xyz.json");

fn snapshot_of(text: &str) -> OrderSnapshot {
    match serde_json::from_str::<Begin>(text).unwrap() {
        Begin::Read {
            snapshot: Some(s),
            claim: None,
        } => *s,
        other => panic!("not a read: {other:?}"),
    }
}

fn code(s: &str) -> CurrencyCode {
    s.parse().unwrap()
}

/// Every field of every line the SQL sends is read into [`OrderLine`], with its value.
#[test]
fn the_read_rpc_lines_deserialize_field_for_field() {
    let sql: Value = serde_json::from_str(READ).unwrap();
    let sql_lines = sql["snapshot"]["lines"].as_array().unwrap();
    let snap = snapshot_of(READ);
    assert_eq!(
        snap.lines,
        [
            OrderLine {
                product_id: 2,
                sku: "MUG-WHT".into(),
                quantity: 3,
                unit_amount: 1250,
                product_currency: code("USD"),
                product_active: true,
            },
            OrderLine {
                product_id: 1,
                sku: "TSHIRT-BLK-M".into(),
                quantity: 1,
                unit_amount: 1999,
                product_currency: code("USD"),
                product_active: true,
            },
        ]
    );
    // No key of the SQL's lines goes unread (the literal above checks each one's value).
    for l in sql_lines {
        let mut keys: Vec<&str> = l.as_object().unwrap().keys().map(String::as_str).collect();
        keys.sort_unstable();
        assert_eq!(
            keys,
            [
                "product_active",
                "product_currency",
                "product_id",
                "quantity",
                "sku",
                "unit_amount"
            ]
        );
    }
    assert_eq!(snap.order.currency, Currency::Usd);
    assert_eq!(snap.order.status, OrderStatus::Pending);
    let discount = snap.discount.as_ref().unwrap();
    assert_eq!(
        (discount.fixed_amount, discount.fixed_currency),
        (Some(500), Some(code("USD")))
    );
    assert_eq!(snap.shipping.as_ref().unwrap().currency, Currency::Usd);
}

/// The lines read are the lines sent back: `apply_order_processing`'s `lines` (which the SQL
/// compares with the order's on product, quantity and unit amount) carry each line's fields
/// as the SQL sent them, and the answer's lines are the same.
#[test]
fn lines_round_trip_from_the_read_rpc_into_the_apply_params() {
    let sql: Value = serde_json::from_str(READ).unwrap();
    let sql_lines = sql["snapshot"]["lines"].as_array().unwrap();
    let store = ScriptedStore::with([snapshot_of(READ)]);
    let done = block_on(process_order(&store, &Caller::ServiceRole, 900)).unwrap();
    let sent = &store.processings()[0];
    let sent_lines = sent["lines"].as_array().unwrap();
    assert_eq!(sent_lines.len(), sql_lines.len());
    for (sent, read) in sent_lines.iter().zip(sql_lines) {
        for key in ["product_id", "sku", "quantity", "unit_amount"] {
            assert_eq!(sent[key], read[key], "{key}");
        }
        assert_eq!(
            sent["line_amount"].as_i64(),
            Some(read["quantity"].as_i64().unwrap() * read["unit_amount"].as_i64().unwrap())
        );
    }
    assert_eq!(
        Value::Object(sent.clone()),
        json!({
            "order_id": 900, "expected_status": "pending", "subtotal_amount": 5749,
            "discount_amount": 500, "tax_amount": 381, "shipping_amount": 599,
            "total_amount": 6229, "discount_code": "FIVEOFF",
            "lines": [
                {"product_id": 2, "sku": "MUG-WHT", "quantity": 3, "unit_amount": 1250, "line_amount": 3750},
                {"product_id": 1, "sku": "TSHIRT-BLK-M", "quantity": 1, "unit_amount": 1999, "line_amount": 1999}
            ]
        })
    );
    // The answer, byte for byte as process-order sent it for this order on the stack.
    assert_eq!(
        serde_json::to_string(&done).unwrap(),
        concat!(
            r#"{"order_id":900,"status":"processed","currency":"USD","subtotal_amount":5749,"#,
            r#""discount_amount":500,"tax_amount":381,"shipping_amount":599,"total_amount":6229,"#,
            r#""lines":[{"product_id":2,"sku":"MUG-WHT","quantity":3,"unit_amount":1250,"line_amount":3750},"#,
            r#"{"product_id":1,"sku":"TSHIRT-BLK-M","quantity":1,"unit_amount":1999,"line_amount":1999}]}"#
        )
    );
}

/// A currency that is not three upper-case letters does not deserialize, wherever it travels.
#[test]
fn a_bad_currency_code_is_refused_by_the_type() {
    for bad in [
        "usd", "Usd", "US", "USDX", "", "U$D", "ÜSD", " USD", "US\u{0}",
    ] {
        assert!(CurrencyCode::new(bad).is_err(), "{bad:?}");
        assert!(
            serde_json::from_value::<CurrencyCode>(json!(bad)).is_err(),
            "{bad:?}"
        );
    }
    assert!(serde_json::from_value::<CurrencyCode>(json!(840)).is_err());
    assert!(serde_json::from_value::<CurrencyCode>(Value::Null).is_err());
    // In the read RPC's answer: a line's, the order's, the discount's or the shipping rate's.
    for pointer in [
        "/snapshot/lines/1/product_currency",
        "/snapshot/order/currency",
        "/snapshot/discount/fixed_currency",
        "/snapshot/shipping/currency",
    ] {
        let mut sql: Value = serde_json::from_str(READ).unwrap();
        *sql.pointer_mut(pointer).unwrap() = json!("usd");
        assert!(serde_json::from_value::<Begin>(sql).is_err(), "{pointer}");
    }
    // A good one round-trips as the same string.
    let usd: CurrencyCode = serde_json::from_value(json!("USD")).unwrap();
    assert_eq!(serde_json::to_value(usd).unwrap(), json!("USD"));
    assert_eq!(usd, CurrencyCode::from(Currency::Usd));
    assert_eq!(CurrencyCode::new_ignore_case("usd"), Some(usd));
    assert_eq!(CurrencyCode::new_ignore_case("us$"), None);
}

/// A well-formed code this service cannot price in (`orders.currency` allows any three
/// upper-case letters) reads, and processing answers 422 with nothing applied.
#[test]
fn an_unsupported_order_currency_reads_and_is_a_422() {
    let snap = snapshot_of(READ_XYZ);
    assert_eq!(snap.order.currency, code("XYZ"));
    assert!(Currency::try_from(snap.order.currency).is_err());
    let store = ScriptedStore::with([snap]);
    let e = block_on(process_order(&store, &Caller::ServiceRole, 901)).unwrap_err();
    assert_eq!((e.status(), e.code()), (422, "unsupported_currency"));
    assert!(store.processings().is_empty());
}

/// The other answers of `begin_order_request`, as the stack sent them for order 900 (keyed
/// `process-order` calls: a replay of a 200 and of a 409, a key reused with another body) and
/// as the SQL builds the rest.
#[test]
fn every_state_of_the_read_rpc_deserializes() {
    let replay = r#"{"body":null,"body_text":"{\"error\":{\"code\":\"status_conflict\",\"details\":{\"current_status\":\"processed\",\"requested_status\":\"processed\"},\"message\":\"order 900 is processed and cannot become processed\"}}","refusal":null,"state":"replay","status":409}"#;
    match serde_json::from_str::<Begin>(replay).unwrap() {
        Begin::Replay {
            status: Some(409),
            body: Value::Null,
            body_text: Some(text),
            refusal: None,
        } => assert!(text.starts_with(r#"{"error":{"code":"status_conflict""#)),
        other => panic!("{other:?}"),
    }
    let stored_refusal = r#"{"body":null,"body_text":null,"refusal":{"kind":"status_conflict","current_status":"paid"},"state":"replay","status":null}"#;
    assert_eq!(
        serde_json::from_str::<Begin>(stored_refusal).unwrap(),
        Begin::Replay {
            status: None,
            body: Value::Null,
            body_text: None,
            refusal: Some(Refusal::StatusConflict {
                current_status: OrderStatus::Paid
            }),
        }
    );
    assert_eq!(
        serde_json::from_str::<Begin>(r#"{"state":"mismatch"}"#).unwrap(),
        Begin::Mismatch
    );
    assert_eq!(
        serde_json::from_str::<Begin>(r#"{"state":"in_flight"}"#).unwrap(),
        Begin::InFlight
    );
    assert_eq!(
        serde_json::from_str::<Begin>(r#"{"claim":"c-1","snapshot":null,"state":"read"}"#).unwrap(),
        Begin::Read {
            snapshot: None,
            claim: Some("c-1".into())
        }
    );
    for bad in [r#"{"state":"done"}"#, r#"{"snapshot":null}"#, "null"] {
        assert!(serde_json::from_str::<Begin>(bad).is_err(), "{bad}");
    }
}

/// Each refusal `apply_order_processing` and `order_transition` answer, by kind.
#[test]
fn every_refusal_deserializes_by_kind() {
    let outcome = |text: &str| serde_json::from_str::<ApplyOutcome>(text).map(|o| o.refusal);
    assert_eq!(outcome(r#"{"refusal":null}"#).unwrap(), None);
    let lines = json!([{"product_id": 1, "sku": "A", "requested": 3, "available": 1}]);
    let cases = [
        (json!({"kind": "not_found"}), Refusal::NotFound),
        (
            json!({"kind": "status_conflict", "current_status": "cancelled"}),
            Refusal::StatusConflict {
                current_status: OrderStatus::Cancelled,
            },
        ),
        (json!({"kind": "order_changed"}), Refusal::OrderChanged),
        (
            json!({"kind": "insufficient_stock", "lines": lines}),
            Refusal::InsufficientStock {
                lines: lines.clone(),
            },
        ),
        (
            json!({"kind": "discount_unknown"}),
            Refusal::DiscountUnknown,
        ),
        (
            json!({"kind": "discount_exhausted"}),
            Refusal::DiscountExhausted,
        ),
        (
            json!({"kind": "discount_customer_limit"}),
            Refusal::DiscountCustomerLimit,
        ),
    ];
    for (sql, want) in cases {
        let text = json!({ "refusal": sql }).to_string();
        assert_eq!(outcome(&text).unwrap(), Some(want.clone()), "{text}");
        // Serialized back as the SQL sent it.
        assert_eq!(serde_json::to_value(&want).unwrap(), sql);
    }
    for bad in [
        r#"{"refusal":{"kind":"status_conflict"}}"#,
        r#"{"refusal":{"kind":"status_conflict","current_status":"shipped"}}"#,
        r#"{"refusal":{"kind":"sold_out"}}"#,
        r#"{"refusal":null,"extra":1}"#,
    ] {
        assert!(outcome(bad).is_err(), "{bad}");
    }
}
