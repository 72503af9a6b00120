//! The process and cancel flows against a scripted store: what Rust decides and sends, and
//! what it answers for each thing the database may answer. The database's own rules (owner,
//! status re-check, stock, `order_changed`, discount redemptions, idempotency leases) are
//! tested against PostgreSQL in `tests/sql/`.

use pollster::block_on;
use serde_json::json;

use super::*;
use crate::money::CurrencyCode;
use crate::pricing::OrderLine;
use crate::store::memory::{Call, ScriptedStore};
use crate::store::{ApplyOutcome, Begin, DiscountRow, OrderHead, Refusal, ShippingRow, TaxRow};

const DEMO: &str = "00000000-0000-4000-8000-000000000001";
const OTHER: &str = "00000000-0000-4000-8000-000000000002";

fn code(s: &str) -> CurrencyCode {
    s.parse().unwrap()
}

/// The status stored as `name` (as the database sends it).
fn status_named(name: &str) -> OrderStatus {
    serde_json::from_value(json!(name)).unwrap()
}

fn line(product_id: i64, quantity: i64, unit_amount: i64) -> OrderLine {
    OrderLine {
        product_id,
        sku: format!("SKU-{product_id}"),
        quantity,
        unit_amount,
        product_currency: code("USD"),
        product_active: true,
    }
}

fn snap(id: i64, lines: Vec<OrderLine>) -> OrderSnapshot {
    OrderSnapshot {
        order: OrderHead {
            id,
            user_id: DEMO.into(),
            status: OrderStatus::Pending,
            currency: code("USD"),
            discount_code: None,
            shipping_region: Some("US-CA".into()),
            total_amount: None,
        },
        lines,
        discount: None,
        tax: Some(TaxRow {
            region: "US-CA".into(),
            rate_bp: 725,
            prices_include_tax: false,
        }),
        shipping: Some(ShippingRow {
            currency: code("USD"),
            flat_amount: 599,
            free_over_amount: Some(10_000),
        }),
        now: 1_800_000_000,
    }
}

fn with_status(mut s: OrderSnapshot, status: &str) -> OrderSnapshot {
    s.order.status = status_named(status);
    s
}

fn service() -> Caller {
    Caller::ServiceRole
}

fn user(id: &str) -> Caller {
    Caller::user(id, "authenticated", "t")
}

fn code_and_details(e: &Error) -> (u16, &str, serde_json::Value) {
    (e.status(), e.code(), e.body()["error"]["details"].clone())
}

#[test]
fn processes_the_seeded_order_with_tax_and_shipping() {
    let store = ScriptedStore::with([snap(1, vec![line(1, 2, 1999), line(2, 1, 1250)])]);
    let done = block_on(process_order(&store, &service(), 1)).unwrap();
    // 2 x 19.99 + 12.50 = 52.48; tax 7.25 % of 52.48 = 3.8048 -> 3.80; shipping 5.99
    assert_eq!(
        (
            done.priced.subtotal_amount,
            done.priced.discount_amount,
            done.priced.tax_amount,
            done.priced.shipping_amount
        ),
        (5248, 0, 380, 599)
    );
    assert_eq!(done.priced.total_amount, 6227);
    assert_eq!(done.priced.lines[0].line_amount, 3998);
    // What the database is asked to apply: the amounts and lines priced, on the status read.
    assert_eq!(
        store.processings(),
        [json!({
            "order_id": 1, "expected_status": "pending", "subtotal_amount": 5248,
            "discount_amount": 0, "tax_amount": 380, "shipping_amount": 599, "total_amount": 6227,
            "lines": [
                {"product_id": 1, "sku": "SKU-1", "quantity": 2, "unit_amount": 1999, "line_amount": 3998},
                {"product_id": 2, "sku": "SKU-2", "quantity": 1, "unit_amount": 1250, "line_amount": 1250}
            ]
        })
        .as_object()
        .unwrap()
        .clone()]
    );
}

#[test]
fn second_processing_is_a_409_naming_the_status() {
    // The read already shows it processed: the state machine refuses, nothing is sent.
    let store = ScriptedStore::with([with_status(snap(1, vec![line(1, 1, 100)]), "processed")]);
    let e = block_on(process_order(&store, &service(), 1)).unwrap_err();
    assert_eq!(
        code_and_details(&e),
        (
            409,
            "status_conflict",
            json!({"current_status": "processed", "requested_status": "processed"})
        )
    );
    assert_eq!(store.applies(), 0);
    // The read showed it pending, but the database found it cancelled when it applied: the
    // 409 names the status the database found.
    let store = ScriptedStore::with([snap(1, vec![line(1, 1, 100)])]);
    store.answer_apply(
        json!({"refusal": {"kind": "status_conflict", "current_status": "cancelled"}}),
    );
    let e = block_on(process_order(&store, &service(), 1)).unwrap_err();
    assert_eq!(
        code_and_details(&e),
        (
            409,
            "status_conflict",
            json!({"current_status": "cancelled", "requested_status": "processed"})
        )
    );
    assert_eq!(store.applies(), 1);
}

#[test]
fn an_order_the_database_does_not_show_is_404_and_nothing_is_applied() {
    // order_for_processing answers nothing for someone else's order (tests/sql and e2e check
    // that it does): both flows answer 404 and apply nothing.
    let store = ScriptedStore::default();
    for e in [
        block_on(process_order(&store, &user(OTHER), 1)).unwrap_err(),
        block_on(cancel_order(&store, &user(OTHER), 1)).unwrap_err(),
    ] {
        assert_eq!((e.status(), e.code()), (404, "not_found"));
        assert_eq!(e.body()["error"]["message"], "order 1 not found");
    }
    assert_eq!(
        *store.calls.borrow(),
        [
            Call::Read {
                caller: user(OTHER),
                order_id: 1
            },
            Call::Read {
                caller: user(OTHER),
                order_id: 1
            }
        ]
    );
    // A user's processing is applied as that user (the audit actor); the service role's as
    // nobody.
    store
        .snapshots
        .borrow_mut()
        .insert(1, snap(1, vec![line(1, 1, 100)]));
    block_on(process_order(&store, &user(DEMO), 1)).unwrap();
    assert_eq!(store.processings()[0]["actor"], DEMO);
}

#[test]
fn inactive_lines_are_named_and_nothing_changes() {
    let mut bad = line(2, 1, 500);
    bad.product_active = false;
    let store = ScriptedStore::with([snap(1, vec![line(1, 1, 100), bad])]);
    let e = block_on(process_order(&store, &service(), 1)).unwrap_err();
    assert_eq!((e.status(), e.code()), (422, "invalid_lines"));
    assert_eq!(e.body()["error"]["details"]["lines"][0]["product_id"], 2);
    assert_eq!(store.applies(), 0);
}

#[test]
fn every_refusal_of_the_database_maps_to_its_http_error() {
    let short = json!([{"product_id": 1, "sku": "SKU-1"}]);
    let cases = [
        (json!({"kind": "not_found"}), 404, "not_found", json!(null)),
        (
            json!({"kind": "order_changed"}),
            409,
            "order_changed",
            json!(null),
        ),
        (
            json!({"kind": "insufficient_stock", "lines": short}),
            422,
            "insufficient_stock",
            json!({"lines": short}),
        ),
        (
            json!({"kind": "discount_exhausted"}),
            422,
            "discount_rejected",
            json!({"reason": "exhausted"}),
        ),
        (
            json!({"kind": "discount_unknown"}),
            422,
            "discount_rejected",
            json!({"reason": "unknown"}),
        ),
    ];
    // A refusal the contract does not know (a status conflict without the status found, a
    // kind nobody knows) does not deserialize: the PostgREST store answers 502 for it.
    for bad in [
        json!({"refusal": {"kind": "status_conflict"}}),
        json!({"refusal": {"kind": "gremlins"}}),
        json!({"refusal": "order_changed"}),
        json!({"ok": false, "reason": "order_changed"}),
    ] {
        assert!(
            serde_json::from_value::<ApplyOutcome>(bad.clone()).is_err(),
            "{bad}"
        );
    }
    for (refusal, status, code, details) in cases {
        let answer = json!({ "refusal": refusal });
        let store = ScriptedStore::with([snap(1, vec![line(1, 1, 100)])]);
        store.answer_apply(answer.clone());
        let e = block_on(process_order(&store, &service(), 1)).unwrap_err();
        assert_eq!(code_and_details(&e), (status, code, details), "{answer}");
        // The transition refusals map the same way.
        let store = ScriptedStore::with([snap(1, vec![line(1, 1, 100)])]);
        store.answer_apply(answer.clone());
        let e = block_on(cancel_order(&store, &service(), 1)).unwrap_err();
        assert_eq!((e.status(), e.code()), (status, code), "cancel {answer}");
    }
}

#[test]
fn cancel_sends_the_transition_from_the_status_read() {
    for from in ["pending", "processed"] {
        let store = ScriptedStore::with([with_status(snap(2, vec![line(1, 60, 100)]), from)]);
        let c = block_on(cancel_order(&store, &user(DEMO), 2)).unwrap();
        let from = status_named(from);
        assert_eq!(
            (c.order_id, c.status, c.previous_status),
            (2, OrderStatus::Cancelled, from)
        );
        assert_eq!(
            store.calls.borrow()[1],
            Call::ApplyTransition {
                transition: Transition {
                    order_id: 2,
                    from,
                    to: OrderStatus::Cancelled
                },
                actor: Some(DEMO.into()),
                claim: None,
                response_text: None,
            }
        );
    }
    // Cancelled, paid, fulfilled, refunded: the state machine's 409, nothing sent.
    for status in ["cancelled", "paid", "fulfilled", "refunded"] {
        let store = ScriptedStore::with([with_status(snap(2, vec![line(1, 1, 100)]), status)]);
        let e = block_on(cancel_order(&store, &service(), 2)).unwrap_err();
        assert_eq!(
            code_and_details(&e),
            (
                409,
                "status_conflict",
                json!({"current_status": status, "requested_status": "cancelled"})
            )
        );
        assert_eq!(store.applies(), 0);
    }
}

#[test]
fn discount_codes_are_priced_and_sent_and_a_refused_redemption_is_422() {
    let mut s = snap(1, vec![line(1, 1, 10_000)]);
    s.order.discount_code = Some("TEN".into());
    s.discount = Some(DiscountRow {
        code: "TEN".into(),
        percent_bp: Some(1000),
        fixed_amount: None,
        fixed_currency: None,
        min_subtotal_amount: 0,
        valid_from: None,
        valid_until: None,
        max_redemptions: Some(1),
        redemptions: 0,
    });
    let store = ScriptedStore::with([s]);
    let done = block_on(process_order(&store, &service(), 1)).unwrap();
    assert_eq!(done.priced.discount_amount, 1000);
    let sent = &store.processings()[0];
    assert_eq!(
        (&sent["discount_code"], &sent["discount_amount"]),
        (&json!("TEN"), &json!(1000))
    );
    // Priced on a redemption count that was stale by the time it applied: the database
    // refuses (tests/sql: "the last redemption of a discount ... is used once").
    store.answer_apply(json!({"refusal": {"kind": "discount_exhausted"}}));
    let e = block_on(process_order(&store, &service(), 1)).unwrap_err();
    assert_eq!((e.status(), e.code()), (422, "discount_rejected"));
    // The customer's own limit, counted by the database under the code's lock.
    store.answer_apply(json!({"refusal": {"kind": "discount_customer_limit"}}));
    let e = block_on(process_order(&store, &service(), 1)).unwrap_err();
    assert_eq!((e.status(), e.code()), (422, "discount_rejected"));
    assert_eq!(e.body()["error"]["details"]["reason"], "customer_limit");
}

const SERVICE_KEY: &str = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJpc3MiOiJzdXBhYmFzZS1kZW1vIiwicm9sZSI6InNlcnZpY2Vfcm9sZSIsImV4cCI6MTk4MzgxMjk5Nn0.EGIM96RAZx35lJzdJsyH-qQwv8Hdp7fsn3W0YpN81IU";
const ANON_KEY: &str = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJpc3MiOiJzdXBhYmFzZS1kZW1vIiwicm9sZSI6ImFub24iLCJleHAiOjE5ODM4MTI5OTZ9.CRXP1A7WOeoJeXxjNni43kdQwgnWNReilDMblYTn_I0";
const SECRET_KEY: &str = "sb_secret_N7UND0UgjKTVK-Uodkm0Hg_xSvEMPvz";
const PUBLISHABLE_KEY: &str = "sb_publishable_ACJWlzQHlZjBrEguHvfOxg_3BJgxAaH";
const JWT_SECRET: &[u8] = b"super-secret-jwt-token-with-at-least-32-characters-long";
const NOW: i64 = 1_800_000_000;

fn auth() -> edge_platform::auth::AuthConfig {
    edge_platform::auth::AuthConfig::default()
        .with_legacy_keys(SERVICE_KEY, ANON_KEY)
        .with_secret_key(SECRET_KEY)
        .with_publishable_key(PUBLISHABLE_KEY)
        .with_jwt_secret(JWT_SECRET)
}

fn request(method: &str, body: &str, key: Option<&str>) -> Request {
    let mut b = ::http::Request::builder()
        .method(method)
        .uri("http://x/functions/v1/process-order")
        .header("authorization", format!("Bearer {SERVICE_KEY}"));
    if let Some(k) = key {
        b = b.header("idempotency-key", k);
    }
    b.body(body.as_bytes().to_vec()).unwrap()
}

fn respond(store: &ScriptedStore, req: Request) -> Response {
    // What the wasm boundary does before any handler runs (Ctx::caller).
    let caller = auth().authenticate(req.headers(), NOW);
    http::respond(block_on(handle_order_request(
        store,
        caller,
        Endpoint::Process,
        req,
    )))
}

fn call(store: &ScriptedStore, req: Request) -> (u16, serde_json::Value) {
    let resp = respond(store, req);
    (
        resp.status().as_u16(),
        serde_json::from_slice(resp.body()).unwrap(),
    )
}

/// The calls made since the first `from`.
fn calls_since(store: &ScriptedStore, from: usize) -> Vec<Call> {
    store.calls.borrow()[from..].to_vec()
}

fn sha256_hex(body: &str) -> String {
    use sha2::Digest as _;
    hex::encode(sha2::Sha256::digest(body.as_bytes()))
}

#[test]
fn http_errors_have_the_json_shape_and_status() {
    let store = ScriptedStore::with([snap(1, vec![line(1, 1, 100)])]);
    for (method, body, status, code) in [
        ("GET", "", 405, "method_not_allowed"),
        ("POST", "{", 400, "malformed_json"),
        ("POST", "{}", 400, "invalid_body"),
        ("POST", "{\"order_id\":\"1\"}", 400, "invalid_body"),
        ("POST", "{\"order_id\":1.5}", 400, "invalid_body"),
        ("POST", "{\"order_id\":99}", 404, "not_found"),
    ] {
        let (s, b) = call(&store, request(method, body, None));
        assert_eq!(
            (s, b["error"]["code"].as_str().unwrap()),
            (status, code),
            "{method} {body}"
        );
    }
    assert_eq!(store.applies(), 0);
}

#[test]
fn anon_callers_and_oversized_bodies_are_refused_before_any_read() {
    let store = ScriptedStore::with([snap(1, vec![line(1, 1, 100)])]);
    let mut anon = request("POST", "{\"order_id\":1}", None);
    anon.headers_mut().insert(
        "authorization",
        format!("Bearer {ANON_KEY}").parse().unwrap(),
    );
    let (status, body) = call(&store, anon);
    assert_eq!(
        (status, body["error"]["code"].as_str().unwrap()),
        (401, "unauthorized")
    );
    let big = format!("{{\"order_id\":1,\"pad\":\"{}\"}}", "x".repeat(MAX_BODY));
    let (status, body) = call(&store, request("POST", &big, Some("k")));
    assert_eq!(
        (status, body["error"]["code"].as_str().unwrap()),
        (413, "payload_too_large")
    );
    assert_eq!(*store.calls.borrow(), []);
}

#[test]
fn idempotency_key_replays_rejects_mismatch_and_in_flight() {
    let store = ScriptedStore::with([
        snap(1, vec![line(1, 1, 100)]),
        snap(2, vec![line(1, 1, 100)]),
    ]);
    let body1 = "{\"order_id\":1}";
    let first = call(&store, request("POST", body1, Some("\"k1\"")));
    assert_eq!(
        (first.0, first.1["status"].as_str()),
        (200, Some("processed"))
    );
    // The read takes the key (scope: the caller's JWT, in SQL) with the body's hash, the
    // request runs, and the apply stores the response exactly as sent under the claim: two
    // round trips, no separate begin or finish.
    let calls = calls_since(&store, 0);
    assert_eq!(
        calls[1],
        Call::Begin {
            endpoint: "process-order".into(),
            key: "k1".into(),
            hash: sha256_hex(body1),
        }
    );
    let Call::ApplyProcessing(sent) = calls[2].clone() else {
        panic!("no apply: {calls:?}");
    };
    let stored = sent["response_text"].as_str().unwrap().to_owned();
    assert_eq!(sent["claim"], json!("claim-1"));
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&stored).unwrap(),
        first.1
    );
    assert_eq!(calls.len(), 3);

    // The database has the response: it is replayed, nothing runs, nothing is stored again.
    let n = store.calls.borrow().len();
    store.answer_begin(Begin::Replay {
        status: Some(200),
        body: serde_json::Value::Null,
        body_text: Some(stored),
        refusal: None,
    });
    let replay = call(&store, request("POST", body1, Some("\"k1\"")));
    assert_eq!(replay, first, "same key and body: the first response");
    assert!(matches!(
        calls_since(&store, n)[..],
        [Call::Read { .. }, Call::Begin { .. }]
    ));

    // The key was used with another body; the first request still runs: nothing runs.
    for (answer, status, code) in [
        (Begin::Mismatch, 422, "idempotency_key_reused"),
        (Begin::InFlight, 409, "idempotency_key_in_flight"),
    ] {
        let n = store.calls.borrow().len();
        store.answer_begin(answer);
        let r = call(&store, request("POST", "{\"order_id\":2}", Some("k1")));
        assert_eq!((r.0, r.1["error"]["code"].as_str()), (status, Some(code)));
        assert!(matches!(
            calls_since(&store, n)[..],
            [Call::Read { .. }, Call::Begin { .. }]
        ));
    }
    // A key that is not one: 400 before the database is asked anything.
    let n = store.calls.borrow().len();
    for bad in ["\"\"".to_string(), "k".repeat(256), "a\tb".to_string()] {
        let r = call(&store, request("POST", "{\"order_id\":2}", Some(&bad)));
        assert_eq!(
            (r.0, r.1["error"]["code"].as_str()),
            (400, Some("invalid_idempotency_key"))
        );
    }
    assert_eq!(calls_since(&store, n), []);
    // No key: no key handling at all.
    let r = call(&store, request("POST", "{\"order_id\":2}", None));
    assert_eq!(r.0, 200);
    assert!(matches!(
        calls_since(&store, n)[..],
        [Call::Read { .. }, Call::ApplyProcessing(_)]
    ));
}

#[test]
fn a_5xx_releases_the_key_and_other_answers_are_stored() {
    // Refused between the read and the apply (state machine, pricing): stored with
    // idempotency_finish, the second and last round trip.
    let mut bad = line(2, 1, 500);
    bad.product_active = false;
    for (snapshot, status) in [
        (
            with_status(snap(1, vec![line(1, 1, 100)]), "processed"),
            409,
        ),
        (snap(1, vec![line(1, 1, 100), bad]), 422),
    ] {
        let store = ScriptedStore::with([snapshot]);
        let resp = respond(&store, request("POST", "{\"order_id\":1}", Some("k")));
        assert_eq!(resp.status().as_u16(), status);
        assert_eq!(store.applies(), 0);
        assert_eq!(
            store.calls.borrow().last().cloned(),
            Some(Call::Finish {
                claim: "claim-1".into(),
                status: Some(status),
                body: String::from_utf8(resp.body().clone()).unwrap(),
            })
        );
    }
    // Refused by the apply RPC: it stored the refusal itself, nothing more is sent.
    for (refusal, status) in [
        (json!({"kind": "insufficient_stock", "lines": []}), 422),
        (json!({"kind": "order_changed"}), 409),
    ] {
        let store = ScriptedStore::with([snap(1, vec![line(1, 1, 100)])]);
        store.answer_apply(json!({ "refusal": refusal }));
        let resp = respond(&store, request("POST", "{\"order_id\":1}", Some("k")));
        assert_eq!(resp.status().as_u16(), status, "{refusal}");
        assert!(matches!(
            store.calls.borrow()[..],
            [
                Call::Read { .. },
                Call::Begin { .. },
                Call::ApplyProcessing(_)
            ]
        ));
        assert_eq!(store.processings()[0]["claim"], json!("claim-1"));
    }
    // The apply RPC failed (a 5xx): the claim is released (no status), so a retry runs again.
    let store = ScriptedStore::with([snap(1, vec![line(1, 1, 100)])]);
    store.fail_applies.set(1);
    let resp = respond(&store, request("POST", "{\"order_id\":1}", Some("k")));
    assert_eq!(resp.status().as_u16(), 503);
    assert_eq!(
        store.calls.borrow().last().cloned(),
        Some(Call::Finish {
            claim: "claim-1".into(),
            status: None,
            body: String::from_utf8(resp.body().clone()).unwrap(),
        })
    );
    // The database API down while the key is taken: a 503, nothing run.
    let store = ScriptedStore::with([snap(1, vec![line(1, 1, 100)])]);
    store.fail_calls.set(1);
    let (status, body) = call(&store, request("POST", "{\"order_id\":1}", Some("k")));
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (503, Some("upstream_unavailable"))
    );
    assert_eq!(*store.calls.borrow(), []);
}

#[test]
fn idempotency_replay_sends_the_stored_bytes_as_they_were() {
    let store = ScriptedStore::with([snap(1, vec![line(1, 1, 100)])]);
    let body = "{\"order_id\":1}";
    // As PostgreSQL hands it back: the first response's text, keys in the order sent.
    let sent = "{\"order_id\":1, \"status\":\"processed\", \"currency\":\"USD\"}";
    store.answer_begin(Begin::Replay {
        status: Some(200),
        body: serde_json::Value::Null,
        body_text: Some(sent.into()),
        refusal: None,
    });
    let resp = respond(&store, request("POST", body, Some("k")));
    assert_eq!(resp.status().as_u16(), 200);
    assert_eq!(resp.headers()["idempotent-replayed"], "true");
    assert_eq!(resp.body().as_slice(), sent.as_bytes());
    // A row stored before the text was kept: its parsed body, with its status.
    let stored = json!({"error": {"code": "status_conflict", "message": "order 1 is processed"}});
    store.answer_begin(Begin::Replay {
        status: Some(409),
        body: stored.clone(),
        body_text: None,
        refusal: None,
    });
    let resp = respond(&store, request("POST", body, Some("k")));
    assert_eq!(resp.status().as_u16(), 409);
    assert_eq!(resp.headers()["idempotent-replayed"], "true");
    assert_eq!(
        serde_json::from_slice::<serde_json::Value>(resp.body()).unwrap(),
        stored
    );
    assert_eq!(store.applies(), 0, "a replay has no effect");
    assert!(store
        .calls
        .borrow()
        .iter()
        .all(|c| matches!(c, Call::Read { .. } | Call::Begin { .. })));
    // A refusal the apply RPC stored is rendered by the function that rendered the first
    // answer: the same status and bytes, marked replayed.
    let short = json!([{"product_id": 1, "sku": "SKU-1", "requested": 2, "available": 1}]);
    let first_store = ScriptedStore::with([snap(1, vec![line(1, 1, 100)])]);
    first_store.answer_apply(json!({"refusal": {"kind": "insufficient_stock", "lines": short}}));
    let first = respond(&first_store, request("POST", body, Some("k")));
    store.answer_begin(Begin::Replay {
        status: None,
        body: serde_json::Value::Null,
        body_text: None,
        refusal: Some(Refusal::InsufficientStock { lines: short }),
    });
    let replay = respond(&store, request("POST", body, Some("k")));
    assert_eq!(
        (replay.status(), replay.body()),
        (first.status(), first.body())
    );
    assert_eq!(replay.headers()["idempotent-replayed"], "true");
    assert_eq!(first.headers().get("idempotent-replayed"), None);
}

#[test]
fn the_secret_key_processes_and_the_publishable_key_alone_is_refused() {
    let store = ScriptedStore::with([
        snap(1, vec![line(1, 1, 100)]),
        snap(2, vec![line(1, 1, 100)]),
    ]);
    let with_headers = |pairs: &[(&str, &str)]| {
        let mut req = request("POST", "{\"order_id\":1}", None);
        req.headers_mut().remove("authorization");
        for (n, v) in pairs {
            req.headers_mut().insert(
                ::http::HeaderName::from_bytes(n.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        req
    };
    for pairs in [
        vec![("apikey", PUBLISHABLE_KEY.to_string())],
        vec![
            ("apikey", PUBLISHABLE_KEY.to_string()),
            ("authorization", format!("Bearer {PUBLISHABLE_KEY}")),
        ],
        vec![
            ("apikey", PUBLISHABLE_KEY.to_string()),
            ("authorization", format!("Bearer {SECRET_KEY}")),
        ],
        vec![("apikey", "sb_secret_wrong".to_string())],
        vec![],
    ] {
        let pairs: Vec<(&str, &str)> = pairs.iter().map(|(n, v)| (*n, v.as_str())).collect();
        let (status, body) = call(&store, with_headers(&pairs));
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (401, Some("unauthorized")),
            "{pairs:?}"
        );
    }
    assert_eq!(*store.calls.borrow(), []);
    let (status, body) = call(&store, with_headers(&[("apikey", SECRET_KEY)]));
    assert_eq!((status, body["status"].as_str()), (200, Some("processed")));
    assert_eq!(
        store.calls.borrow()[0],
        Call::Read {
            caller: Caller::ServiceRole,
            order_id: 1
        }
    );
    // A user's HS256 token (legacy secret configured) reaches only their own order.
    let token = |sub: &str| {
        use base64::Engine as _;
        use hmac::Mac as _;
        let b64 = |v: serde_json::Value| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
        };
        let input = format!(
            "{}.{}",
            b64(json!({"alg": "HS256", "typ": "JWT"})),
            b64(
                json!({"sub": sub, "role": "authenticated", "aud": "authenticated", "exp": NOW + 60})
            )
        );
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(JWT_SECRET).unwrap();
        mac.update(input.as_bytes());
        let sig =
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
        format!("Bearer {input}.{sig}")
    };
    // A user's HS256 token (legacy secret configured): the database is asked as that user,
    // and applies as that user.
    for sub in [OTHER, DEMO] {
        let mut req = with_headers(&[("apikey", PUBLISHABLE_KEY)]);
        req.headers_mut()
            .insert("authorization", token(sub).parse().unwrap());
        *req.body_mut() = b"{\"order_id\":2}".to_vec();
        let n = store.calls.borrow().len();
        assert_eq!(call(&store, req).0, 200);
        let calls = calls_since(&store, n);
        let Call::Read { caller, order_id } = &calls[0] else {
            panic!("{calls:?}");
        };
        assert_eq!(
            (caller.user_id(), caller.role(), *order_id),
            (Some(sub), "authenticated", 2)
        );
        let Call::ApplyProcessing(sent) = &calls[1] else {
            panic!("{calls:?}");
        };
        assert_eq!(sent["actor"], sub);
    }
}
