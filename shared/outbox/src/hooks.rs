//! `webhook-dispatch`: deliver database webhooks (schema `webhooks`,
//! `supabase/migrations/20261204002000_webhooks.sql`) to their endpoints.
//!
//! One call runs [`HookConfig::lanes`] claim loops side by side. Each claims a batch
//! (`webhooks.claim_deliveries`: due deliveries of enabled endpoints, `FOR UPDATE SKIP LOCKED`,
//! a lease), delivers it and reports every try in one call (`webhooks.record_attempts`, which
//! applies the rules: delivered, retried on the schedule or after `Retry-After`, dead, endpoint
//! disabled on 410 or after failing for days). The rules live in SQL; this module sends.
//!
//! In a batch, the deliveries of one endpoint and row go one after the other (the first failure
//! releases the rest untried, so a row's events never overtake each other); everything else
//! concurrently. No POST starts unless it can end before the lease does (minus a margin).
//!
//! Each POST: the body is exactly the event's payload (Supabase's `{type, table, schema,
//! record, old_record}`), with Standard Webhooks headers: `webhook-id` (the event's message id,
//! the same on every try and for every endpoint), `webhook-timestamp` (this try) and
//! `webhook-signature` with one `v1,` entry per current secret of the endpoint (two during a
//! rotation's overlap). Redirects are not followed (a 3xx is a failed try); the answer's body
//! is read up to [`HookConfig::response_cap`] bytes; each try has a timeout.
//!
//! External URLs go through [`Resolver`] first: a host that is or resolves to a loopback,
//! private or link-local address is refused (a failed try, no request made) unless
//! `allow_private` ([`super::hooks_net`]).
//!
//! Every claim is held in a [`HeldClaims`] until it is reported, with each delivery's try as
//! soon as it ends: a clean shutdown ([`HeldClaims::release`]) reports what is known and gives
//! back the rest at once, instead of leaving it to the claim's lease.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::held::HeldClaims;
use super::hooks_net::{first_forbidden, is_localhost_name, parse_target, Target};
use edge_platform::auth::Caller;
use edge_platform::http::{self, Request, Response};
use edge_platform::{Error, Result};
use edge_webhook::standard;

/// No POST starts later than this before the claim's lease ends.
pub const LEASE_MARGIN_MS: i64 = 2_000;

/// How much to claim.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct HookClaimOptions {
    pub batch_size: u32,
    pub max_per_row: u32,
    pub lease_seconds: u32,
}

/// One claimed delivery (`webhooks.claim_deliveries`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct HookDelivery {
    pub id: i64,
    /// The `webhook-id`: the event's, the same on every try and for every endpoint.
    pub webhook_id: String,
    pub endpoint_id: String,
    pub url: String,
    /// The endpoint's current secrets, newest first (empty when it signs with `secret_env`).
    pub secrets: Vec<String>,
    /// The function secret it signs with instead (`webhooks.endpoints.secret_env`): the name of
    /// a variable of this function's environment, read through [`HookRuntime::env`].
    #[serde(default)]
    pub secret_env: Option<String>,
    pub payload: Value,
    pub event_type: String,
    /// This try's number (1-based).
    pub attempt: u32,
    /// The row's key: deliveries of one endpoint and row go in id order.
    pub row_key: Option<String>,
}

/// A claimed batch.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct HookClaim {
    pub claim: String,
    pub deliveries: Vec<HookDelivery>,
    #[serde(default)]
    pub next_due_ms: Option<i64>,
}

/// How one try went (`webhooks.record_attempts` decides what follows).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct AttemptReport {
    pub id: i64,
    /// Not tried (an earlier delivery of its row failed, or the lease was running out).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub released: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http_status: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latency_ms: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_after_seconds: Option<u64>,
}

impl AttemptReport {
    pub(crate) fn released(id: i64) -> Self {
        Self {
            id,
            released: true,
            ..Self::default()
        }
    }
    fn delivered(&self) -> bool {
        matches!(self.http_status, Some(200..=299))
    }
}

/// What `webhooks.record_attempts` answers.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
pub struct RecordSummary {
    pub updated: u32,
    pub delivered: u32,
    pub retried: u32,
    pub dead: u32,
    /// Endpoints disabled by these tries (410, or failing for too long).
    #[serde(default)]
    pub disabled: Vec<String>,
    #[serde(default)]
    pub next_due_ms: Option<i64>,
}

/// The deliveries as the dispatcher sees them.
#[allow(async_fn_in_trait)]
pub trait HookStore {
    async fn claim_deliveries(&self, options: &HookClaimOptions) -> Result<HookClaim>;
    async fn record_attempts(
        &self,
        claim: &str,
        reports: &[AttemptReport],
    ) -> Result<RecordSummary>;
}

/// One POST.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HookRequest {
    pub url: String,
    pub headers: Vec<(&'static str, String)>,
    pub body: Vec<u8>,
    pub timeout_ms: u32,
    /// Read at most this many bytes of the answer's body.
    pub max_response_bytes: usize,
}

/// How a POST ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HookResponse {
    /// The endpoint answered: status, the start of the body, `Retry-After` if any.
    Answered {
        status: u16,
        body: String,
        retry_after: Option<String>,
    },
    TimedOut,
    Failed(String),
}

/// Sends the POSTs (never following redirects).
#[allow(async_fn_in_trait)]
pub trait HookSender {
    async fn send(&self, req: HookRequest) -> HookResponse;
}

/// Resolves a host name to its addresses.
#[allow(async_fn_in_trait)]
pub trait Resolver {
    async fn resolve(&self, host: &str) -> std::result::Result<Vec<IpAddr>, String>;
}

/// The clock (Unix milliseconds) and the function's environment (for `secret_env`).
#[derive(Clone, Copy)]
pub struct HookRuntime<'a> {
    pub now_ms: &'a dyn Fn() -> i64,
    /// The value of an environment variable, if set and non-empty.
    pub env: &'a dyn Fn(&str) -> Option<String>,
}

/// Whether `name` may name a signing secret (`webhooks.endpoints.secret_env`'s own rule,
/// checked again here: the dispatcher never reads a platform key, whatever the row says).
pub fn is_secret_env_name(name: &str) -> bool {
    let b = name.as_bytes();
    name.len() <= 128
        && name.ends_with("_SECRET")
        && b.first().is_some_and(u8::is_ascii_uppercase)
        && b.iter()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || *c == b'_')
        && !name.starts_with("SUPABASE_")
        && !name.starts_with("SB_")
}

/// How a call dispatches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HookConfig {
    /// `{SUPABASE_URL}/functions/v1`: `fn:<name>` goes to `{functions_url}/<name>`.
    pub functions_url: String,
    /// Deliver to loopback/private/link-local addresses (`WEBHOOK_ALLOW_PRIVATE=true`).
    pub allow_private: bool,
    pub batch_size: u32,
    pub lanes: u32,
    pub max_per_row: u32,
    pub lease_seconds: u32,
    pub post_timeout_ms: u32,
    /// Bytes of an answer's body read (and the first 1 KiB kept in `webhooks.attempts`).
    pub response_cap: usize,
    pub budget_ms: u32,
    pub max_deliveries: u32,
}

impl HookConfig {
    /// Batches of 100, 2 lanes, 4 deliveries of one endpoint and row per claim, 30 s leases,
    /// 10 s per POST, 4 KiB of each answer, 20 s and 2000 deliveries per call.
    pub fn new(functions_url: impl Into<String>, allow_private: bool) -> Self {
        Self {
            functions_url: functions_url.into().trim_end_matches('/').to_owned(),
            allow_private,
            batch_size: 100,
            lanes: 2,
            max_per_row: 4,
            lease_seconds: 30,
            post_timeout_ms: 10_000,
            response_cap: 4096,
            budget_ms: 20_000,
            max_deliveries: 2_000,
        }
    }

    fn claim_options(&self) -> HookClaimOptions {
        HookClaimOptions {
            batch_size: self.batch_size,
            max_per_row: self.max_per_row,
            lease_seconds: self.lease_seconds,
        }
    }
}

/// The optional JSON body of a `webhook-dispatch` call.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DispatchOverrides {
    pub batch_size: Option<u32>,
    pub lanes: Option<u32>,
    pub budget_ms: Option<u32>,
    pub max_events: Option<u32>,
}

impl DispatchOverrides {
    /// Read a call's optional JSON body (empty: no overrides).
    pub fn from_body(body: &[u8]) -> Result<Self> {
        if body.iter().all(u8::is_ascii_whitespace) {
            Ok(Self::default())
        } else {
            http::parse_json(body)
        }
    }

    /// `config` with these overrides, clamped to safe bounds.
    pub fn apply(&self, mut config: HookConfig) -> HookConfig {
        if let Some(b) = self.batch_size {
            config.batch_size = b.clamp(1, 1000);
        }
        if let Some(l) = self.lanes {
            config.lanes = l.clamp(1, 8);
        }
        if let Some(b) = self.budget_ms {
            config.budget_ms = b.min(120_000);
        }
        if let Some(m) = self.max_events {
            config.max_deliveries = m.clamp(1, 100_000);
        }
        config
    }
}

/// The counts of a call.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct DispatchReport {
    pub batches: u32,
    pub claimed: u32,
    pub delivered: u32,
    pub retried: u32,
    pub dead: u32,
    pub released: u32,
    /// The call stopped on its time or delivery budget (or a shutdown) with work possibly
    /// left: call again now.
    pub more: bool,
    /// Milliseconds until the next retry is due, if one is waiting.
    pub next_due_ms: Option<i64>,
}

impl DispatchReport {
    fn add(&mut self, other: &DispatchReport) {
        self.batches += other.batches;
        self.claimed += other.claimed;
        self.delivered += other.delivered;
        self.retried += other.retried;
        self.dead += other.dead;
        self.released += other.released;
        self.more |= other.more;
        self.next_due_ms = match (self.next_due_ms, other.next_due_ms) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
    }
}

/// The reports of a call's lanes as one. A lane that failed after others claimed something makes
/// the answer say `more` (its claims expire and come back: nothing is lost); if nothing was
/// claimed at all, the first error is the answer.
fn merge_lanes(lanes: Vec<Result<DispatchReport>>) -> Result<DispatchReport> {
    let mut report = DispatchReport::default();
    let mut first_error = None;
    for lane in lanes {
        match lane {
            Ok(r) => report.add(&r),
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    match first_error {
        Some(e) if report.claimed == 0 => Err(e),
        Some(e) => {
            http::log_error(&format!("webhook-dispatch: a lane failed: {e}"));
            report.more = true;
            Ok(report)
        }
        None => Ok(report),
    }
}

/// The answer of a call: the counts, and the endpoints these tries disabled.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct HookReport {
    #[serde(flatten)]
    pub counts: DispatchReport,
    pub disabled: Vec<String>,
}

/// `Retry-After` as seconds from `now_ms`: delta-seconds or an HTTP date.
pub fn retry_after_seconds(value: &str, now_ms: i64) -> Option<u64> {
    let v = value.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(secs);
    }
    let at = httpdate::parse_http_date(v).ok()?;
    let at_ms = at.duration_since(std::time::UNIX_EPOCH).ok()?.as_millis() as i64;
    Some(((at_ms - now_ms).max(0) as u64).div_ceil(1000))
}

/// The `webhook-signature` value: one `v1,` entry per secret, space-separated.
pub fn signatures(
    secrets: &[String],
    msg_id: &str,
    timestamp: i64,
    body: &[u8],
) -> std::result::Result<String, String> {
    if secrets.is_empty() {
        return Err("the endpoint has no current secret".into());
    }
    let mut out = Vec::with_capacity(secrets.len());
    for s in secrets {
        out.push(standard::sign(s, msg_id, timestamp, body).map_err(|e| e.code().to_owned())?);
    }
    Ok(out.join(" "))
}

/// At most `max` bytes of `s`, cut at a character boundary.
fn truncate(s: &str, max: usize) -> String {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_owned()
}

struct Flow<'a, S, H, R> {
    store: &'a S,
    sender: &'a H,
    resolver: &'a R,
    rt: HookRuntime<'a>,
    config: &'a HookConfig,
    /// The instance's claims in flight (released at once by a clean shutdown).
    held: &'a HeldClaims,
    claimed: std::cell::Cell<u32>,
    /// Endpoints disabled by the tries of this call.
    disabled: std::cell::RefCell<Vec<String>>,
}

impl<S: HookStore, H: HookSender, R: Resolver> Flow<'_, S, H, R> {
    /// Where to POST `d`, or why not.
    async fn destination(&self, d: &HookDelivery) -> std::result::Result<String, String> {
        match parse_target(&d.url)? {
            Target::Function(name) => Ok(format!("{}/{name}", self.config.functions_url)),
            Target::External { url, host, ip } => {
                if self.config.allow_private {
                    return Ok(url);
                }
                let addrs = match ip {
                    Some(ip) => vec![ip],
                    None if is_localhost_name(&host) => {
                        return Err(format!(
                            "{host} is a loopback name (WEBHOOK_ALLOW_PRIVATE is off)"
                        ))
                    }
                    None => self
                        .resolver
                        .resolve(&host)
                        .await
                        .map_err(|e| format!("cannot resolve {host}: {e}"))?,
                };
                if addrs.is_empty() {
                    return Err(format!("{host} has no address"));
                }
                match (first_forbidden(&addrs), ip) {
                    (Some(a), Some(_)) => Err(format!(
                        "{a} is a loopback/private/link-local address (WEBHOOK_ALLOW_PRIVATE is off)"
                    )),
                    (Some(a), None) => Err(format!(
                        "{host} resolves to {a}, a loopback/private/link-local address (WEBHOOK_ALLOW_PRIVATE is off)"
                    )),
                    (None, _) => Ok(url),
                }
            }
        }
    }

    /// The secrets `d` is signed with: its stored ones, or the value of its `secret_env`.
    /// Errors name the variable, never a value.
    fn secrets(&self, d: &HookDelivery) -> std::result::Result<Vec<String>, String> {
        let Some(name) = d.secret_env.as_deref() else {
            return Ok(d.secrets.clone());
        };
        if !is_secret_env_name(name) {
            return Err(format!("{name} is not a name a signing secret may have"));
        }
        match (self.rt.env)(name) {
            Some(v) => Ok(vec![v]),
            None => Err(format!(
                "the function secret {name} is not set in webhook-dispatch's environment"
            )),
        }
    }

    /// Try one delivery.
    async fn attempt(&self, d: &HookDelivery) -> AttemptReport {
        let mut report = AttemptReport {
            id: d.id,
            ..AttemptReport::default()
        };
        let url = match self.destination(d).await {
            Ok(u) => u,
            Err(e) => {
                report.error = Some(e);
                return report;
            }
        };
        let body = match serde_json::to_vec(&d.payload) {
            Ok(b) => b,
            Err(e) => {
                report.error = Some(format!("payload: {e}"));
                return report;
            }
        };
        let started = (self.rt.now_ms)();
        let timestamp = started.div_euclid(1000);
        let signature = match self.secrets(d).and_then(|s| {
            signatures(&s, &d.webhook_id, timestamp, &body).map_err(|e| match &d.secret_env {
                Some(name) => format!("the function secret {name} is not a whsec_ secret ({e})"),
                None => e,
            })
        }) {
            Ok(s) => s,
            Err(e) => {
                report.error = Some(format!("cannot sign: {e}"));
                return report;
            }
        };
        let req = HookRequest {
            url,
            headers: vec![
                ("content-type", "application/json".to_owned()),
                ("user-agent", "supabase-rust-webhooks/1".to_owned()),
                ("webhook-id", d.webhook_id.clone()),
                ("webhook-timestamp", timestamp.to_string()),
                ("webhook-signature", signature),
            ],
            body,
            timeout_ms: self.config.post_timeout_ms,
            max_response_bytes: self.config.response_cap,
        };
        let result = self.sender.send(req).await;
        let ended = (self.rt.now_ms)();
        report.latency_ms = Some(u32::try_from((ended - started).max(0)).unwrap_or(u32::MAX));
        match result {
            HookResponse::Answered {
                status,
                body,
                retry_after,
            } => {
                report.http_status = Some(status);
                report.response = Some(truncate(&body, 1024));
                if !(200..300).contains(&status) {
                    report.error = Some(format!("HTTP {status}"));
                    if matches!(status, 429 | 503) {
                        report.retry_after_seconds = retry_after
                            .as_deref()
                            .and_then(|v| retry_after_seconds(v, ended));
                    }
                }
            }
            HookResponse::TimedOut => {
                report.error = Some(format!(
                    "no answer within {} ms",
                    self.config.post_timeout_ms
                ))
            }
            HookResponse::Failed(e) => report.error = Some(format!("request failed: {e}")),
        }
        report
    }

    /// The deliveries of one endpoint and row, in order; stop at the first failure (or when the
    /// instance starts shutting down).
    async fn chain(
        &self,
        token: &str,
        chain: Vec<&HookDelivery>,
        deadline_ms: i64,
    ) -> Vec<AttemptReport> {
        let mut out = Vec::with_capacity(chain.len());
        let mut blocked = false;
        for d in chain {
            let too_late =
                (self.rt.now_ms)() + i64::from(self.config.post_timeout_ms) > deadline_ms;
            if blocked || too_late || self.held.is_closing() {
                blocked = true;
                out.push(AttemptReport::released(d.id));
                continue;
            }
            let r = self.attempt(d).await;
            self.held.record(token, &r);
            blocked = !r.delivered();
            out.push(r);
        }
        out
    }

    async fn batch(
        &self,
        token: &str,
        deliveries: &[HookDelivery],
        deadline_ms: i64,
    ) -> Vec<AttemptReport> {
        let mut chains: Vec<Vec<&HookDelivery>> = Vec::new();
        let mut index: std::collections::HashMap<(&str, &str), usize> = Default::default();
        for d in deliveries {
            match d.row_key.as_deref() {
                Some(key) => match index.get(&(d.endpoint_id.as_str(), key)) {
                    Some(&i) => chains[i].push(d),
                    None => {
                        index.insert((d.endpoint_id.as_str(), key), chains.len());
                        chains.push(vec![d]);
                    }
                },
                None => chains.push(vec![d]),
            }
        }
        let runs = chains
            .into_iter()
            .map(|c| self.chain(token, c, deadline_ms));
        futures_util::future::join_all(runs)
            .await
            .into_iter()
            .flatten()
            .collect()
    }

    async fn lane(&self, started_ms: i64) -> Result<DispatchReport> {
        let mut report = DispatchReport::default();
        let options = self.config.claim_options();
        loop {
            let claim_started = (self.rt.now_ms)();
            if claim_started - started_ms >= i64::from(self.config.budget_ms)
                || self.claimed.get() >= self.config.max_deliveries
                || self.held.is_closing()
            {
                report.more = true;
                return Ok(report);
            }
            let claim = self.store.claim_deliveries(&options).await?;
            report.next_due_ms = claim.next_due_ms;
            if claim.deliveries.is_empty() {
                return Ok(report);
            }
            // Held from now until reported: a shutdown meanwhile releases it at once. (A claim
            // whose answer arrives after the shutdown is given back by this lane just below:
            // closing, every delivery is released untried.)
            self.held.hold(&claim);
            let n = claim.deliveries.len() as u32;
            report.batches += 1;
            report.claimed += n;
            self.claimed.set(self.claimed.get() + n);
            let deadline =
                claim_started + i64::from(self.config.lease_seconds) * 1000 - LEASE_MARGIN_MS;
            let reports = self.batch(&claim.claim, &claim.deliveries, deadline).await;
            report.released += reports.iter().filter(|r| r.released).count() as u32;
            let summary = self.store.record_attempts(&claim.claim, &reports).await;
            // Reported, or given up on (its lease then ends): no longer ours to release.
            self.held.settle(&claim.claim);
            let summary = summary?;
            report.delivered += summary.delivered;
            report.retried += summary.retried;
            report.dead += summary.dead;
            self.disabled.borrow_mut().extend(summary.disabled);
            report.next_due_ms = summary.next_due_ms;
        }
    }
}

/// Claim and deliver until nothing is due or the budget is spent.
pub async fn dispatch_hooks<S: HookStore, H: HookSender, R: Resolver>(
    store: &S,
    sender: &H,
    resolver: &R,
    rt: HookRuntime<'_>,
    config: &HookConfig,
) -> Result<HookReport> {
    dispatch_holding(store, sender, resolver, rt, config, &HeldClaims::default()).await
}

/// [`dispatch_hooks`], with the claims in flight kept in `held` (the instance's), so that
/// [`HeldClaims::release`] can give them back at once on shutdown. A closing `held` answers
/// [`Error::ShuttingDown`].
pub async fn dispatch_holding<S: HookStore, H: HookSender, R: Resolver>(
    store: &S,
    sender: &H,
    resolver: &R,
    rt: HookRuntime<'_>,
    config: &HookConfig,
    held: &HeldClaims,
) -> Result<HookReport> {
    if held.is_closing() {
        return Err(Error::ShuttingDown);
    }
    let flow = Flow {
        store,
        sender,
        resolver,
        rt,
        config,
        held,
        claimed: std::cell::Cell::new(0),
        disabled: Default::default(),
    };
    let started = (rt.now_ms)();
    let lanes = (0..config.lanes.max(1)).map(|_| flow.lane(started));
    let counts = merge_lanes(futures_util::future::join_all(lanes).await)?;
    Ok(HookReport {
        counts,
        disabled: flow.disabled.take(),
    })
}

/// The largest body `webhook-dispatch` accepts.
pub const MAX_BODY: usize = 4 * 1024;

/// The `webhook-dispatch` handler: POST with a secret key (or the legacy service_role key);
/// optional JSON body of [`DispatchOverrides`] (`max_events` bounds the deliveries of a call).
/// Claims in flight are kept in `held`, the instance's (see [`HeldClaims`]); a closing instance
/// answers 503 `shutting_down`.
#[allow(clippy::too_many_arguments)]
pub async fn handle_webhook_dispatch<S: HookStore, H: HookSender, R: Resolver>(
    store: &S,
    sender: &H,
    resolver: &R,
    rt: HookRuntime<'_>,
    caller: Result<Caller>,
    config: HookConfig,
    held: &HeldClaims,
    req: Request,
) -> Result<Response> {
    http::require_method(&req, ::http::Method::POST, "POST")?;
    caller?.require_service_role("webhook-dispatch")?;
    let config = DispatchOverrides::from_body(req.body())?.apply(config);
    let report = dispatch_holding(store, sender, resolver, rt, &config, held).await?;
    let c = &report.counts;
    if c.retried + c.dead > 0 || !report.disabled.is_empty() {
        http::log_info(&format!(
            "webhook-dispatch: claimed {} delivered {} retried {} dead {} released {} disabled {:?}",
            c.claimed, c.delivered, c.retried, c.dead, c.released, report.disabled
        ));
    }
    Ok(http::json(200, &report))
}
