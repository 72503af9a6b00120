use pollster::block_on;
use serde_json::json;

use super::*;
use crate::store::memory::MemoryStore;
use crate::store::{DiscountRow, OrderHead, ShippingRow, SnapshotLine, TaxRow};

const DEMO: &str = "00000000-0000-4000-8000-000000000001";
const OTHER: &str = "00000000-0000-4000-8000-000000000002";

fn line(product_id: i64, quantity: i64, unit_amount: i64) -> SnapshotLine {
    SnapshotLine {
        product_id,
        sku: format!("SKU-{product_id}"),
        quantity,
        unit_amount,
        product_currency: "USD".into(),
        product_active: true,
    }
}

fn snap(id: i64, lines: Vec<SnapshotLine>) -> OrderSnapshot {
    OrderSnapshot {
        order: OrderHead {
            id,
            user_id: DEMO.into(),
            status: "pending".into(),
            currency: "USD".into(),
            discount_code: None,
            shipping_region: Some("US-CA".into()),
            total_amount: None,
        },
        lines,
        discount: None,
        tax: Some(TaxRow {
            region: "US-CA".into(),
            rate_bp: 725,
        }),
        shipping: Some(ShippingRow {
            currency: "USD".into(),
            flat_amount: 599,
            free_over_amount: Some(10_000),
        }),
        now: 1_800_000_000,
    }
}

fn store_with(snaps: Vec<OrderSnapshot>) -> MemoryStore {
    let store = MemoryStore::default();
    for s in snaps {
        for l in &s.lines {
            store.stock.borrow_mut().insert(l.product_id, 100);
        }
        store.orders.borrow_mut().insert(s.order.id, s);
    }
    store
}

fn service() -> Caller {
    Caller::ServiceRole
}

fn user(id: &str) -> Caller {
    Caller::user(id, "authenticated", "t")
}

#[test]
fn processes_the_seeded_order_with_tax_and_shipping() {
    let store = store_with(vec![snap(1, vec![line(1, 2, 1999), line(2, 1, 1250)])]);
    let done = block_on(process_order(&store, &service(), 1)).unwrap();
    // 2 x 19.99 + 12.50 = 52.48; tax 7.25 % of 52.48 = 3.8048 -> 3.80; shipping 5.99
    assert_eq!(
        (
            done.subtotal_amount,
            done.discount_amount,
            done.tax_amount,
            done.shipping_amount
        ),
        (5248, 0, 380, 599)
    );
    assert_eq!(done.total_amount, 6227);
    assert_eq!(done.lines[0].line_amount, 3998);
    assert_eq!(store.status(1), "processed");
    assert_eq!(store.stock.borrow()[&1], 98);
}

#[test]
fn second_processing_is_a_409_naming_the_status() {
    let store = store_with(vec![snap(1, vec![line(1, 1, 100)])]);
    block_on(process_order(&store, &service(), 1)).unwrap();
    let e = block_on(process_order(&store, &service(), 1)).unwrap_err();
    assert_eq!(e.status(), 409);
    assert_eq!(e.body()["error"]["details"]["current_status"], "processed");
    assert_eq!(*store.applies.borrow(), 1);
}

#[test]
fn users_reach_only_their_own_orders() {
    let store = store_with(vec![snap(1, vec![line(1, 1, 100)])]);
    assert_eq!(
        block_on(process_order(&store, &user(OTHER), 1))
            .unwrap_err()
            .status(),
        404
    );
    assert_eq!(
        block_on(cancel_order(&store, &user(OTHER), 1))
            .unwrap_err()
            .status(),
        404
    );
    assert_eq!(
        block_on(process_order(&store, &user(DEMO), 2))
            .unwrap_err()
            .status(),
        404
    );
    assert!(block_on(process_order(&store, &user(DEMO), 1)).is_ok());
}

#[test]
fn inactive_lines_are_named_and_nothing_changes() {
    let mut bad = line(2, 1, 500);
    bad.product_active = false;
    let store = store_with(vec![snap(1, vec![line(1, 1, 100), bad])]);
    let e = block_on(process_order(&store, &service(), 1)).unwrap_err();
    assert_eq!((e.status(), e.code()), (422, "invalid_lines"));
    assert_eq!(e.body()["error"]["details"]["lines"][0]["product_id"], 2);
    assert_eq!(store.status(1), "pending");
    assert_eq!(*store.applies.borrow(), 0);
}

#[test]
fn short_stock_is_422_and_cancel_releases_stock() {
    let store = store_with(vec![
        snap(1, vec![line(1, 150, 100)]),
        snap(2, vec![line(1, 60, 100)]),
    ]);
    let e = block_on(process_order(&store, &service(), 1)).unwrap_err();
    assert_eq!((e.status(), e.code()), (422, "insufficient_stock"));
    assert_eq!(store.stock.borrow()[&1], 100);
    block_on(process_order(&store, &service(), 2)).unwrap();
    assert_eq!(store.stock.borrow()[&1], 40);
    let c = block_on(cancel_order(&store, &user(DEMO), 2)).unwrap();
    assert_eq!(
        (c.status, c.previous_status),
        (OrderStatus::Cancelled, OrderStatus::Processed)
    );
    assert_eq!(store.stock.borrow()[&1], 100);
    let again = block_on(cancel_order(&store, &user(DEMO), 2)).unwrap_err();
    assert_eq!(again.status(), 409);
}

#[test]
fn discount_codes_apply_and_exhaust() {
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
    let mut s2 = s.clone();
    s2.order.id = 2;
    let store = store_with(vec![s, s2]);
    let done = block_on(process_order(&store, &service(), 1)).unwrap();
    assert_eq!(done.discount_amount, 1000);
    // Order 2 priced with a stale redemption count: the apply step refuses it.
    let e = block_on(process_order(&store, &service(), 2)).unwrap_err();
    assert_eq!((e.status(), e.code()), (422, "discount_rejected"));
}

const SERVICE_KEY: &str = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJpc3MiOiJzdXBhYmFzZS1kZW1vIiwicm9sZSI6InNlcnZpY2Vfcm9sZSIsImV4cCI6MTk4MzgxMjk5Nn0.EGIM96RAZx35lJzdJsyH-qQwv8Hdp7fsn3W0YpN81IU";
const ANON_KEY: &str = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJpc3MiOiJzdXBhYmFzZS1kZW1vIiwicm9sZSI6ImFub24iLCJleHAiOjE5ODM4MTI5OTZ9.CRXP1A7WOeoJeXxjNni43kdQwgnWNReilDMblYTn_I0";
const SECRET_KEY: &str = "sb_secret_N7UND0UgjKTVK-Uodkm0Hg_xSvEMPvz";
const PUBLISHABLE_KEY: &str = "sb_publishable_ACJWlzQHlZjBrEguHvfOxg_3BJgxAaH";
const JWT_SECRET: &[u8] = b"super-secret-jwt-token-with-at-least-32-characters-long";
const NOW: i64 = 1_800_000_000;

fn auth() -> crate::auth::AuthConfig {
    crate::auth::AuthConfig::default()
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

fn call(store: &MemoryStore, req: Request) -> (u16, serde_json::Value) {
    let resp = block_on(handle_order_request(
        store,
        &auth(),
        NOW,
        "process-order",
        req,
        |caller, id| async move { process_order(store, &caller, id).await },
    ));
    (
        resp.status().as_u16(),
        serde_json::from_slice(resp.body()).unwrap(),
    )
}

#[test]
fn http_errors_have_the_json_shape_and_status() {
    let store = store_with(vec![snap(1, vec![line(1, 1, 100)])]);
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
    assert_eq!(store.status(1), "pending");
}

#[test]
fn anon_callers_and_oversized_bodies_are_refused_before_any_read() {
    let store = store_with(vec![snap(1, vec![line(1, 1, 100)])]);
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
    let (status, body) = call(&store, request("POST", &big, None));
    assert_eq!(
        (status, body["error"]["code"].as_str().unwrap()),
        (413, "payload_too_large")
    );
    assert_eq!(store.status(1), "pending");
}

#[test]
fn idempotency_key_replays_rejects_mismatch_and_in_flight() {
    let store = store_with(vec![
        snap(1, vec![line(1, 1, 100)]),
        snap(2, vec![line(1, 1, 100)]),
    ]);
    let first = call(&store, request("POST", "{\"order_id\":1}", Some("\"k1\"")));
    assert_eq!(first.0, 200);
    let replay = call(&store, request("POST", "{\"order_id\":1}", Some("\"k1\"")));
    assert_eq!(
        replay, first,
        "same key and body: the first response, byte for byte"
    );
    assert_eq!(*store.applies.borrow(), 1, "no second effect");
    let mismatch = call(&store, request("POST", "{\"order_id\":2}", Some("\"k1\"")));
    assert_eq!(
        (mismatch.0, mismatch.1["error"]["code"].clone()),
        (422, json!("idempotency_key_reused"))
    );
    assert_eq!(store.status(2), "pending");
    // A key held by a request that has not finished.
    use sha2::Digest as _;
    let hash = hex::encode(sha2::Sha256::digest(b"{\"order_id\":2}"));
    block_on(store.idempotency_begin("role:service_role", "process-order", "k2", &hash)).unwrap();
    let busy = call(&store, request("POST", "{\"order_id\":2}", Some("k2")));
    assert_eq!(busy.0, 409);
    let empty = call(&store, request("POST", "{\"order_id\":2}", Some("\"\"")));
    assert_eq!(empty.0, 400);
}

#[test]
fn idempotency_replay_sends_the_stored_bytes_as_they_were() {
    let store = store_with(vec![snap(1, vec![line(1, 1, 100)])]);
    use sha2::Digest as _;
    let body = "{\"order_id\":1}";
    let hash = hex::encode(sha2::Sha256::digest(body.as_bytes()));
    // As PostgreSQL hands it back: the first response's text, keys in the order sent.
    let sent = "{\"order_id\":1, \"status\":\"processed\", \"currency\":\"USD\"}";
    store.keys.borrow_mut().insert(
        (
            "role:service_role".into(),
            "process-order".into(),
            "k".into(),
        ),
        (hash, Some((200, sent.into()))),
    );
    let store = &store;
    let resp = block_on(handle_order_request(
        store,
        &auth(),
        NOW,
        "process-order",
        request("POST", body, Some("k")),
        |caller, id| async move { process_order(store, &caller, id).await },
    ));
    assert_eq!(resp.status().as_u16(), 200);
    assert_eq!(resp.headers()["idempotent-replayed"], "true");
    assert_eq!(resp.body().as_slice(), sent.as_bytes());
    assert_eq!(*store.applies.borrow(), 0, "a replay has no effect");
}

#[test]
fn the_secret_key_processes_and_the_publishable_key_alone_is_refused() {
    let store = store_with(vec![
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
    assert_eq!(store.status(1), "pending");
    let (status, body) = call(&store, with_headers(&[("apikey", SECRET_KEY)]));
    assert_eq!((status, body["status"].as_str()), (200, Some("processed")));
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
    let mut other = with_headers(&[("apikey", PUBLISHABLE_KEY)]);
    other
        .headers_mut()
        .insert("authorization", token(OTHER).parse().unwrap());
    *other.body_mut() = b"{\"order_id\":2}".to_vec();
    assert_eq!(call(&store, other).0, 404);
    let mut owner = with_headers(&[("apikey", PUBLISHABLE_KEY)]);
    owner
        .headers_mut()
        .insert("authorization", token(DEMO).parse().unwrap());
    *owner.body_mut() = b"{\"order_id\":2}".to_vec();
    assert_eq!(call(&store, owner).0, 200);
    assert_eq!(store.status(2), "processed");
}
