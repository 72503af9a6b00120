//! The database-webhook dispatcher and admin handler against in-memory stores, a scripted
//! sender and a scripted resolver: headers and signatures, the body, order per endpoint and
//! row, the address check, Retry-After, the response cap, the handlers' refusals. Which
//! deliveries a claim takes and what a try leads to are the SQL's rules, tested against
//! PostgreSQL (tests/sql/webhooks.test.ts).

use std::cell::{Cell, RefCell};
use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;

use pollster::block_on;
use serde_json::{json, Value};

use super::hooks::{
    dispatch_hooks, handle_webhook_dispatch, is_secret_env_name, retry_after_seconds,
    AttemptReport, HookClaim, HookClaimOptions, HookConfig, HookDelivery, HookReport, HookRequest,
    HookResponse, HookRuntime, HookSender, HookStore, RecordSummary, Resolver,
};
use super::hooks_admin::{handle_webhook_admin, AdminStore};
use edge_platform::auth::AuthConfig;
use edge_platform::http::Request;
use edge_platform::Result;
use edge_webhook::{Scheme, Verifier};

const SECRET: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
const OLD_SECRET: &str = "whsec_bG9jYWwtb3JkZXItZXZlbnRzLXNlY3JldC0zMmJ5dGVz";
const SECRET_KEY: &str = "sb_secret_N7UND0UgjKTVK-Uodkm0Hg_xSvEMPvz";
const PUBLISHABLE_KEY: &str = "sb_publishable_ACJWlzQHlZjBrEguHvfOxg_3BJgxAaH";
const T0: i64 = 1_800_000_000_000;

#[derive(Default)]
struct MemoryHooks {
    claims: RefCell<VecDeque<Vec<HookDelivery>>>,
    options: RefCell<Vec<HookClaimOptions>>,
    reports: RefCell<Vec<(String, Vec<AttemptReport>)>>,
}

impl HookStore for MemoryHooks {
    async fn claim_deliveries(&self, options: &HookClaimOptions) -> Result<HookClaim> {
        self.options.borrow_mut().push(*options);
        let n = self.options.borrow().len();
        Ok(HookClaim {
            claim: format!("claim-{n}"),
            deliveries: self.claims.borrow_mut().pop_front().unwrap_or_default(),
            next_due_ms: None,
        })
    }

    async fn record_attempts(
        &self,
        claim: &str,
        reports: &[AttemptReport],
    ) -> Result<RecordSummary> {
        self.reports
            .borrow_mut()
            .push((claim.to_owned(), reports.to_vec()));
        Ok(RecordSummary {
            updated: reports.len() as u32,
            delivered: reports
                .iter()
                .filter(|r| matches!(r.http_status, Some(200..=299)))
                .count() as u32,
            disabled: reports
                .iter()
                .filter(|r| r.http_status == Some(410))
                .map(|r| format!("ep-of-{}", r.id))
                .collect(),
            ..RecordSummary::default()
        })
    }
}

/// Answers by URL (default 200 "ok"); records every request; moves the clock 7 ms per POST.
#[derive(Default)]
struct Scripted {
    answers: HashMap<String, HookResponse>,
    sent: RefCell<Vec<HookRequest>>,
    now: Cell<i64>,
}

impl HookSender for Scripted {
    async fn send(&self, req: HookRequest) -> HookResponse {
        self.now.set(self.now.get() + 7);
        let answer = self
            .answers
            .get(&req.url)
            .cloned()
            .unwrap_or(HookResponse::Answered {
                status: 200,
                body: "ok".into(),
                retry_after: None,
            });
        self.sent.borrow_mut().push(req);
        answer
    }
}

#[derive(Default)]
struct Dns(HashMap<&'static str, Vec<IpAddr>>);

impl Resolver for Dns {
    async fn resolve(&self, host: &str) -> std::result::Result<Vec<IpAddr>, String> {
        self.0.get(host).cloned().ok_or_else(|| "NXDOMAIN".into())
    }
}

fn dns() -> Dns {
    Dns(HashMap::from([
        ("a.example", vec!["93.184.216.34".parse().unwrap()]),
        ("b.example", vec!["93.184.216.35".parse().unwrap()]),
        (
            "sneaky.example",
            vec![
                "93.184.216.36".parse().unwrap(),
                "10.0.0.5".parse().unwrap(),
            ],
        ),
    ]))
}

fn delivery(id: i64, url: &str, row: Option<&str>, payload: Value) -> HookDelivery {
    HookDelivery {
        id,
        webhook_id: format!("msg_{id}"),
        endpoint_id: format!("ep:{url}"),
        url: url.into(),
        secrets: vec![SECRET.into()],
        secret_env: None,
        payload,
        event_type: "things.insert".into(),
        attempt: 1,
        row_key: row.map(str::to_owned),
    }
}

fn config(allow_private: bool) -> HookConfig {
    HookConfig::new("http://gw/functions/v1/", allow_private)
}

fn no_env(_: &str) -> Option<String> {
    None
}

fn run(store: &MemoryHooks, sender: &Scripted, config: &HookConfig) -> HookReport {
    run_with_env(store, sender, config, &no_env)
}

fn run_with_env(
    store: &MemoryHooks,
    sender: &Scripted,
    config: &HookConfig,
    env: &dyn Fn(&str) -> Option<String>,
) -> HookReport {
    sender.now.set(T0);
    let now = || sender.now.get();
    block_on(dispatch_hooks(
        store,
        sender,
        &dns(),
        HookRuntime { now_ms: &now, env },
        config,
    ))
    .unwrap()
}

fn header<'a>(req: &'a HookRequest, name: &str) -> &'a str {
    &req.headers.iter().find(|(n, _)| *n == name).unwrap().1
}

fn reports(store: &MemoryHooks) -> Vec<AttemptReport> {
    store
        .reports
        .borrow()
        .iter()
        .flat_map(|(_, r)| r.clone())
        .collect()
}

#[test]
fn a_delivery_is_the_payload_signed_with_every_current_secret() {
    let store = MemoryHooks::default();
    let payload = json!({"type": "INSERT", "table": "things", "schema": "public",
                         "record": {"id": 1, "name": "é"}, "old_record": null});
    let mut d = delivery(1, "https://a.example/hook", Some("[1]"), payload.clone());
    d.secrets = vec![SECRET.into(), OLD_SECRET.into()];
    store.claims.borrow_mut().push_back(vec![d]);
    let sender = Scripted::default();
    let report = run(&store, &sender, &config(false));
    assert_eq!((report.counts.claimed, report.counts.delivered), (1, 1));
    let sent = sender.sent.borrow();
    let req = &sent[0];
    assert_eq!(req.url, "https://a.example/hook");
    assert_eq!(serde_json::from_slice::<Value>(&req.body).unwrap(), payload);
    assert_eq!(header(req, "webhook-id"), "msg_1");
    assert_eq!(header(req, "webhook-timestamp"), (T0 / 1000).to_string());
    assert_eq!(header(req, "webhook-signature").split(' ').count(), 2);
    // Each secret alone verifies the request.
    for secret in [SECRET, OLD_SECRET] {
        let v = Verifier::new(Scheme::StandardWebhooks, &[secret]).unwrap();
        v.verify(&req.headers, &req.body, T0 / 1000).unwrap();
    }
    let r = &reports(&store)[0];
    assert_eq!(
        (r.http_status, r.latency_ms, r.response.as_deref()),
        (Some(200), Some(7), Some("ok"))
    );
    assert_eq!(store.options.borrow()[0].lease_seconds, 30);
}

#[test]
fn a_function_endpoint_goes_to_the_projects_functions_url() {
    let store = MemoryHooks::default();
    store
        .claims
        .borrow_mut()
        .push_back(vec![delivery(1, "fn:order-events", None, json!({}))]);
    let sender = Scripted::default();
    run(&store, &sender, &config(false));
    assert_eq!(
        sender.sent.borrow()[0].url,
        "http://gw/functions/v1/order-events"
    );
}

#[test]
fn a_rows_deliveries_stop_at_the_first_failure_other_rows_and_endpoints_go_on() {
    let store = MemoryHooks::default();
    store.claims.borrow_mut().push_back(vec![
        delivery(1, "https://a.example/fail", Some("[1]"), json!({"n": 1})),
        delivery(2, "https://a.example/fail", Some("[1]"), json!({"n": 2})),
        delivery(3, "https://b.example/", Some("[1]"), json!({"n": 1})),
        delivery(4, "https://b.example/", Some("[1]"), json!({"n": 2})),
        delivery(5, "https://a.example/fail", Some("[2]"), json!({"n": 1})),
    ]);
    let sender = Scripted {
        answers: HashMap::from([(
            "https://a.example/fail".to_owned(),
            HookResponse::Answered {
                status: 500,
                body: "x".repeat(5000),
                retry_after: Some("60".into()),
            },
        )]),
        ..Scripted::default()
    };
    let report = run(&store, &sender, &config(false));
    assert_eq!(
        (
            report.counts.claimed,
            report.counts.delivered,
            report.counts.released
        ),
        (5, 2, 1)
    );
    let by_id: HashMap<i64, AttemptReport> =
        reports(&store).into_iter().map(|r| (r.id, r)).collect();
    assert!(by_id[&2].released && by_id[&2].http_status.is_none());
    assert_eq!(by_id[&1].http_status, Some(500));
    assert_eq!(by_id[&1].error.as_deref(), Some("HTTP 500"));
    // Retry-After counts only for 429 and 503; the body kept is 1 KiB.
    assert_eq!(by_id[&1].retry_after_seconds, None);
    assert_eq!(by_id[&1].response.as_ref().unwrap().len(), 1024);
    // b's deliveries of row 1 went in order.
    let sent: Vec<String> = sender
        .sent
        .borrow()
        .iter()
        .filter(|r| r.url == "https://b.example/")
        .map(|r| header(r, "webhook-id").to_owned())
        .collect();
    assert_eq!(sent, ["msg_3", "msg_4"]);
}

#[test]
fn retry_after_is_passed_on_for_429_and_503_in_seconds_or_as_a_date() {
    let store = MemoryHooks::default();
    store.claims.borrow_mut().push_back(vec![
        delivery(1, "https://a.example/429", None, json!({})),
        delivery(2, "https://a.example/503", None, json!({})),
    ]);
    let answer = |status, v: &str| HookResponse::Answered {
        status,
        body: String::new(),
        retry_after: Some(v.into()),
    };
    let sender = Scripted {
        answers: HashMap::from([
            ("https://a.example/429".to_owned(), answer(429, "2")),
            (
                "https://a.example/503".to_owned(),
                answer(
                    503,
                    &httpdate::fmt_http_date(
                        std::time::UNIX_EPOCH
                            + std::time::Duration::from_millis((T0 + 90_000) as u64),
                    ),
                ),
            ),
        ]),
        ..Scripted::default()
    };
    run(&store, &sender, &config(false));
    let r = reports(&store);
    assert_eq!(r[0].retry_after_seconds, Some(2));
    // 90 s after T0, read 7 or 14 ms later: 90 s, rounded up.
    assert_eq!(r[1].retry_after_seconds, Some(90));
    assert_eq!(retry_after_seconds("soon", T0), None);
    assert_eq!(retry_after_seconds(" 120 ", T0), Some(120));
}

#[test]
fn private_addresses_are_refused_without_a_request_unless_allowed() {
    let urls = [
        "http://127.0.0.1:8080/hook",
        "http://[::1]/",
        "http://localhost:9000/",
        "http://169.254.169.254/latest/meta-data",
        "https://sneaky.example/",
        "https://unknown.example/",
    ];
    let store = MemoryHooks::default();
    store.claims.borrow_mut().push_back(
        urls.iter()
            .enumerate()
            .map(|(i, u)| delivery(i as i64 + 1, u, None, json!({})))
            .collect(),
    );
    let sender = Scripted::default();
    let report = run(&store, &sender, &config(false));
    assert_eq!((report.counts.claimed, report.counts.delivered), (6, 0));
    assert!(sender.sent.borrow().is_empty());
    let r = reports(&store);
    assert_eq!(
        r[0].error.as_deref(),
        Some("127.0.0.1 is a loopback/private/link-local address (WEBHOOK_ALLOW_PRIVATE is off)")
    );
    assert_eq!(
        r[4].error.as_deref(),
        Some("sneaky.example resolves to 10.0.0.5, a loopback/private/link-local address (WEBHOOK_ALLOW_PRIVATE is off)")
    );
    for x in &r[..5] {
        let e = x.error.as_deref().unwrap();
        assert!(e.contains("WEBHOOK_ALLOW_PRIVATE is off"), "{e}");
        assert_eq!(x.http_status, None);
    }
    assert!(r[5]
        .error
        .as_deref()
        .unwrap()
        .starts_with("cannot resolve unknown.example"));

    // Allowed: every one is requested as it is (no resolution needed).
    let store = MemoryHooks::default();
    store.claims.borrow_mut().push_back(
        urls[..4]
            .iter()
            .enumerate()
            .map(|(i, u)| delivery(i as i64 + 1, u, None, json!({})))
            .collect(),
    );
    let sender = Scripted::default();
    assert_eq!(run(&store, &sender, &config(true)).counts.delivered, 4);
}

#[test]
fn timeouts_and_network_errors_are_failed_tries() {
    let store = MemoryHooks::default();
    store.claims.borrow_mut().push_back(vec![
        delivery(1, "https://a.example/slow", None, json!({})),
        delivery(2, "https://a.example/down", None, json!({})),
    ]);
    let sender = Scripted {
        answers: HashMap::from([
            ("https://a.example/slow".to_owned(), HookResponse::TimedOut),
            (
                "https://a.example/down".to_owned(),
                HookResponse::Failed("connection refused".into()),
            ),
        ]),
        ..Scripted::default()
    };
    run(&store, &sender, &config(false));
    let r = reports(&store);
    assert_eq!(r[0].error.as_deref(), Some("no answer within 10000 ms"));
    assert_eq!(
        r[1].error.as_deref(),
        Some("request failed: connection refused")
    );
    assert_eq!(sender.sent.borrow()[0].timeout_ms, 10_000);
    assert_eq!(sender.sent.borrow()[0].max_response_bytes, 4096);
}

#[test]
fn an_endpoint_without_a_current_secret_is_a_failed_try_not_an_unsigned_post() {
    let store = MemoryHooks::default();
    let mut d = delivery(1, "https://a.example/", None, json!({}));
    d.secrets.clear();
    store.claims.borrow_mut().push_back(vec![d]);
    let sender = Scripted::default();
    run(&store, &sender, &config(false));
    assert!(sender.sent.borrow().is_empty());
    assert!(reports(&store)[0]
        .error
        .as_deref()
        .unwrap()
        .starts_with("cannot sign"));
}

#[test]
fn a_secret_env_endpoint_signs_with_that_variable_only() {
    let store = MemoryHooks::default();
    let mut d = delivery(1, "fn:order-events", Some("[1]"), json!({"n": 1}));
    d.secrets.clear();
    d.secret_env = Some("ORDER_EVENTS_SECRET".into());
    store.claims.borrow_mut().push_back(vec![d]);
    let sender = Scripted::default();
    let asked = RefCell::new(Vec::new());
    let env = |name: &str| {
        asked.borrow_mut().push(name.to_owned());
        (name == "ORDER_EVENTS_SECRET").then(|| OLD_SECRET.to_owned())
    };
    let report = run_with_env(&store, &sender, &config(false), &env);
    assert_eq!(report.counts.delivered, 1);
    assert_eq!(*asked.borrow(), ["ORDER_EVENTS_SECRET"]);
    let sent = sender.sent.borrow();
    assert_eq!(header(&sent[0], "webhook-signature").split(' ').count(), 1);
    Verifier::new(Scheme::StandardWebhooks, &[OLD_SECRET])
        .unwrap()
        .verify(&sent[0].headers, &sent[0].body, T0 / 1000)
        .unwrap();
    assert!(Verifier::new(Scheme::StandardWebhooks, &[SECRET])
        .unwrap()
        .verify(&sent[0].headers, &sent[0].body, T0 / 1000)
        .is_err());
}

#[test]
fn a_missing_or_bad_secret_env_is_a_failed_try_naming_the_variable_never_a_value() {
    let store = MemoryHooks::default();
    let with_env = |id: i64, name: &str| {
        let mut d = delivery(id, "fn:order-events", None, json!({}));
        d.secrets = vec![SECRET.into()]; // ignored: the variable decides
        d.secret_env = Some(name.into());
        d
    };
    store.claims.borrow_mut().push_back(vec![
        with_env(1, "MISSING_SECRET"),
        with_env(2, "BROKEN_SECRET"),
        with_env(3, "SUPABASE_JWT_SECRET"),
        with_env(4, "lower_SECRET"),
    ]);
    let sender = Scripted::default();
    let asked = RefCell::new(Vec::new());
    let env = |name: &str| {
        asked.borrow_mut().push(name.to_owned());
        match name {
            "BROKEN_SECRET" => Some("not-a-whsec-value-42".to_owned()),
            _ => Some(SECRET.to_owned()),
        }
        .filter(|_| name != "MISSING_SECRET")
    };
    let report = run_with_env(&store, &sender, &config(false), &env);
    assert_eq!((report.counts.claimed, report.counts.delivered), (4, 0));
    assert!(sender.sent.borrow().is_empty(), "nothing is sent unsigned");
    // The platform's keys and malformed names are never read.
    assert_eq!(*asked.borrow(), ["MISSING_SECRET", "BROKEN_SECRET"]);
    let errors: Vec<String> = reports(&store)
        .into_iter()
        .map(|r| {
            assert_eq!((r.released, r.http_status), (false, None));
            r.error.unwrap()
        })
        .collect();
    assert_eq!(
        errors[0],
        "cannot sign: the function secret MISSING_SECRET is not set in webhook-dispatch's environment"
    );
    assert!(errors[1]
        .starts_with("cannot sign: the function secret BROKEN_SECRET is not a whsec_ secret"));
    assert_eq!(
        errors[2],
        "cannot sign: SUPABASE_JWT_SECRET is not a name a signing secret may have"
    );
    assert_eq!(
        errors[3],
        "cannot sign: lower_SECRET is not a name a signing secret may have"
    );
    for e in &errors {
        assert!(
            !e.contains("not-a-whsec") && !e.contains(&SECRET[6..]),
            "{e}"
        );
    }
}

#[test]
fn secret_env_names_follow_the_sql_rule() {
    for ok in ["ORDER_EVENTS_SECRET", "A_SECRET", "X9_SECRET"] {
        assert!(is_secret_env_name(ok), "{ok}");
    }
    for bad in [
        "SUPABASE_JWT_SECRET",
        "SB_SECRET",
        "SECRET",
        "_A_SECRET",
        "9A_SECRET",
        "order_events_SECRET",
        "A-B_SECRET",
        "A_SECRET_KEY",
        "",
    ] {
        assert!(!is_secret_env_name(bad), "{bad}");
    }
    assert!(!is_secret_env_name(&format!("{}_SECRET", "A".repeat(122))));
}

fn auth() -> AuthConfig {
    AuthConfig::default()
        .with_secret_key(SECRET_KEY)
        .with_publishable_key(PUBLISHABLE_KEY)
}

fn request(apikey: Option<&str>, body: &str) -> Request {
    let mut b = ::http::Request::builder().method("POST").uri("http://x/");
    if let Some(k) = apikey {
        b = b.header("apikey", k);
    }
    b.body(body.as_bytes().to_vec()).unwrap()
}

#[test]
fn the_dispatch_handler_refuses_callers_without_the_secret_key_and_bad_bodies() {
    let store = MemoryHooks::default();
    let sender = Scripted::default();
    let now = || T0;
    let call = |req: Request| {
        let caller = auth().authenticate(req.headers(), T0 / 1000);
        block_on(handle_webhook_dispatch(
            &store,
            &sender,
            &dns(),
            HookRuntime {
                now_ms: &now,
                env: &no_env,
            },
            caller,
            config(false),
            &super::held::HeldClaims::default(),
            req,
        ))
    };
    assert_eq!(call(request(None, "")).unwrap_err().status(), 401);
    assert_eq!(
        call(request(Some(PUBLISHABLE_KEY), ""))
            .unwrap_err()
            .status(),
        401
    );
    assert_eq!(
        call(request(Some(SECRET_KEY), "{\"lanes\": \"x\"}"))
            .unwrap_err()
            .status(),
        400
    );
    assert!(store.options.borrow().is_empty());
    let ok = call(request(Some(SECRET_KEY), "{\"lanes\": 1}")).unwrap();
    assert_eq!(ok.status(), 200);
    assert_eq!(store.options.borrow().len(), 1);
}

#[derive(Default)]
struct MemoryAdmin {
    calls: RefCell<Vec<(String, Value)>>,
    answer: RefCell<Value>,
}

impl AdminStore for MemoryAdmin {
    async fn webhooks_admin(&self, action: &str, args: &Value) -> Result<Value> {
        self.calls
            .borrow_mut()
            .push((action.to_owned(), args.clone()));
        Ok(self.answer.borrow().clone())
    }
}

#[test]
fn the_admin_handler_maps_the_rpc_answer_and_refuses_bad_requests_before_calling() {
    let store = MemoryAdmin::default();
    let call = |req: Request| {
        let caller = auth().authenticate(req.headers(), T0 / 1000);
        block_on(handle_webhook_admin(&store, caller, req))
    };
    let body = r#"{"action":"rotate_secret","args":{"id":"x"}}"#;
    assert_eq!(call(request(None, body)).unwrap_err().status(), 401);
    assert_eq!(
        call(request(Some(PUBLISHABLE_KEY), body))
            .unwrap_err()
            .status(),
        401
    );
    for bad in [
        "",
        "[]",
        r#"{"action":"drop_everything"}"#,
        r#"{"action":"replay","args":[]}"#,
        r#"{"action":"replay","extra":1}"#,
    ] {
        let e = call(request(Some(SECRET_KEY), bad)).unwrap_err();
        assert_eq!(e.status(), 400, "{bad}");
    }
    assert!(store.calls.borrow().is_empty());

    *store.answer.borrow_mut() = json!({"ok": true, "result": {"secret": "whsec_x"}});
    let ok = call(request(Some(SECRET_KEY), body)).unwrap();
    assert_eq!(ok.status(), 200);
    assert_eq!(
        serde_json::from_slice::<Value>(ok.body()).unwrap(),
        json!({"result": {"secret": "whsec_x"}})
    );
    assert_eq!(
        store.calls.borrow()[0],
        ("rotate_secret".to_owned(), json!({"id": "x"}))
    );
    *store.answer.borrow_mut() =
        json!({"ok": false, "error": {"code": "not_found", "message": "no endpoint x"}});
    assert_eq!(
        call(request(Some(SECRET_KEY), body)).unwrap_err().status(),
        404
    );
    *store.answer.borrow_mut() =
        json!({"ok": false, "error": {"code": "invalid_input", "message": "bad uuid"}});
    let e = call(request(Some(SECRET_KEY), body)).unwrap_err();
    assert_eq!((e.status(), e.code()), (400, "invalid_input"));
}

#[test]
fn the_report_is_flat_and_names_the_endpoints_the_tries_disabled() {
    let store = MemoryHooks::default();
    store.claims.borrow_mut().push_back(vec![
        delivery(1, "https://a.example/gone", None, json!({})),
        delivery(2, "https://b.example/", None, json!({})),
    ]);
    let sender = Scripted {
        answers: HashMap::from([(
            "https://a.example/gone".to_owned(),
            HookResponse::Answered {
                status: 410,
                body: String::new(),
                retry_after: None,
            },
        )]),
        ..Scripted::default()
    };
    let report = run(&store, &sender, &config(false));
    assert_eq!(report.disabled, ["ep-of-1"]);
    let v = serde_json::to_value(&report).unwrap();
    assert_eq!(
        (
            v["claimed"].clone(),
            v["delivered"].clone(),
            v["more"].clone()
        ),
        (json!(2), json!(1), json!(false))
    );
    assert_eq!(v["disabled"], json!(["ep-of-1"]));
    // Two claims: the batch, then an empty one that ends the lane (one lane of two found it).
    assert_eq!(store.reports.borrow().len(), 1);
}
