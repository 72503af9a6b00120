//! `dispatch-events`: claim due outbox events and deliver them, signed, to their targets.
//!
//! One call runs [`DispatchConfig::lanes`] claim loops side by side (concurrent dispatchers as
//! far as the database can tell; claims are disjoint). Each loop claims a batch, delivers it
//! and reports the outcomes in one RPC, and claims again until a claim finds nothing due or
//! the time budget is spent (then the answer says `more`).
//!
//! In a batch, the events of different orders are delivered concurrently (`join_all`: no
//! tokio on wasm) and the events of one order one after the other: if one fails, the later ones
//! are released untried, so order is never violated. Each POST has a timeout, and no POST
//! starts unless it can finish before the claim's visibility timeout runs out (minus a safety
//! margin): a live dispatcher never overlaps a second one that takes over its expired claim.
//!
//! Each request carries Standard Webhooks headers: `webhook-id` (the event's id, the same on
//! every retry), `webhook-timestamp` (this attempt, Unix seconds) and a `v1` signature under
//! `ORDER_EVENTS_SECRET`. A 2xx answer means delivered; anything else (or a timeout, or a
//! network error) is a failed attempt, retried on the schedule of [`super::retry`].
//!
//! Every claim is held in a [`HeldClaims`] until it is reported, with each event's outcome as
//! soon as its attempt ends: a clean shutdown ([`HeldClaims::release`]) reports what is known
//! and gives back the rest at once, instead of leaving it to the claim's lease.

use serde::{Deserialize, Serialize};

use super::held::HeldClaims;
use super::outbox::{ClaimOptions, Completion, OutboxEvent, OutboxStore};
use super::retry::{after_failure, AfterFailure};
use edge_platform::http::{self, Caller, Request, Response};
use edge_platform::{Error, Result};
use edge_webhook::standard;

/// No POST starts later than this before the claim's visibility timeout ends.
pub const SAFETY_MARGIN_MS: i64 = 2_000;

/// How a call dispatches.
#[derive(Clone, PartialEq, Eq)]
pub struct DispatchConfig {
    /// `{SUPABASE_URL}/functions/v1`: targets are POSTed at `{functions_url}/{target}`.
    pub functions_url: String,
    /// The Standard Webhooks secret (`whsec_...`) every event is signed with.
    pub secret: String,
    /// Events per claim.
    pub batch_size: u32,
    /// Claim loops run side by side.
    pub lanes: u32,
    /// The claim's visibility timeout.
    pub visibility_secs: u32,
    /// Events of one order per claim.
    pub max_per_order: u32,
    /// Each POST's timeout.
    pub post_timeout_ms: u32,
    /// No new claim after this long.
    pub budget_ms: u32,
    /// No new claim once this many events were claimed in the call: bounds one call's CPU time
    /// (hosted edge functions have 2 s of CPU per request).
    pub max_events: u32,
}

impl std::fmt::Debug for DispatchConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DispatchConfig")
            .field("functions_url", &self.functions_url)
            .field("secret", &"<redacted>")
            .field("batch_size", &self.batch_size)
            .field("lanes", &self.lanes)
            .field("visibility_secs", &self.visibility_secs)
            .field("max_per_order", &self.max_per_order)
            .field("post_timeout_ms", &self.post_timeout_ms)
            .field("budget_ms", &self.budget_ms)
            .field("max_events", &self.max_events)
            .finish()
    }
}

impl DispatchConfig {
    /// The defaults: batches of 100, 2 lanes, 10 s claims, 4 events of one order per claim,
    /// 5 s per POST, at most 20 s of claiming and 2000 events per call. A dispatcher that dies
    /// holds its claims for at most 10 s (delivered within 15 s with the 2 s scheduler tick);
    /// a live one never starts a POST it could not finish 2 s before its claim ends.
    pub fn new(functions_url: impl Into<String>, secret: impl Into<String>) -> Self {
        Self {
            functions_url: functions_url.into().trim_end_matches('/').to_owned(),
            secret: secret.into(),
            batch_size: 100,
            lanes: 2,
            visibility_secs: 10,
            max_per_order: 4,
            post_timeout_ms: 5_000,
            budget_ms: 20_000,
            max_events: 2_000,
        }
    }

    /// Apply a request's overrides, clamped to safe bounds.
    pub fn with_overrides(mut self, o: &DispatchOverrides) -> Self {
        if let Some(b) = o.batch_size {
            self.batch_size = b.clamp(1, 1000);
        }
        if let Some(l) = o.lanes {
            self.lanes = l.clamp(1, 8);
        }
        if let Some(b) = o.budget_ms {
            self.budget_ms = b.min(120_000);
        }
        if let Some(m) = o.max_events {
            self.max_events = m.clamp(1, 100_000);
        }
        self
    }

    fn claim_options(&self) -> ClaimOptions {
        ClaimOptions {
            batch_size: self.batch_size,
            visibility_secs: self.visibility_secs,
            max_per_order: self.max_per_order,
        }
    }
}

/// The optional JSON body of a `dispatch-events` call.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DispatchOverrides {
    pub batch_size: Option<u32>,
    pub lanes: Option<u32>,
    pub budget_ms: Option<u32>,
    pub max_events: Option<u32>,
}

/// The answer of a call.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct DispatchReport {
    pub batches: u32,
    pub claimed: u32,
    pub delivered: u32,
    pub retried: u32,
    pub dead: u32,
    pub released: u32,
    /// The call stopped on its time or event budget with work possibly left: call again now.
    pub more: bool,
    /// Milliseconds until the next retry is due, if one is waiting.
    pub next_due_ms: Option<i64>,
}

impl DispatchReport {
    pub(crate) fn add(&mut self, other: &DispatchReport) {
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

/// How one POST ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PostResult {
    /// The target answered (status, start of the body).
    Answered { status: u16, body: String },
    /// No answer within the timeout (the request was aborted).
    TimedOut,
    /// The request could not be made.
    Failed(String),
}

/// Sends the webhook POSTs.
#[allow(async_fn_in_trait)]
pub trait Sender {
    /// POST `body` to `url` with `headers`, giving up after `timeout_ms`.
    async fn post(
        &self,
        url: &str,
        headers: &[(&'static str, String)],
        body: Vec<u8>,
        timeout_ms: u32,
    ) -> PostResult;
}

/// The clock (Unix milliseconds) and the jitter source (a draw from `[0, 1)`).
#[derive(Clone, Copy)]
pub struct Runtime<'a> {
    pub now_ms: &'a dyn Fn() -> i64,
    pub random: &'a dyn Fn() -> f64,
}

/// Whether `target` is a function name (no path or query tricks in the URL).
pub fn valid_target(target: &str) -> bool {
    (1..=64).contains(&target.len())
        && target
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// The error text kept in `last_error` for a failed POST.
fn failure_text(result: &PostResult, timeout_ms: u32) -> Option<String> {
    match result {
        PostResult::Answered { status, .. } if (200..300).contains(status) => None,
        PostResult::Answered { status, body } => {
            let excerpt: String = body.chars().take(300).collect();
            Some(format!("HTTP {status}: {excerpt}"))
        }
        PostResult::TimedOut => Some(format!("no answer within {timeout_ms} ms")),
        PostResult::Failed(e) => Some(format!("request failed: {e}")),
    }
}

struct Ctx<'a, H> {
    sender: &'a H,
    rt: Runtime<'a>,
    config: &'a DispatchConfig,
    /// The instance's claims in flight (released at once by a clean shutdown).
    held: &'a HeldClaims,
    /// Events claimed by every lane of this call.
    claimed: std::cell::Cell<u32>,
}

impl<H: Sender> Ctx<'_, H> {
    /// Attempt one event.
    async fn deliver(&self, ev: &OutboxEvent) -> Completion {
        let id = ev.id;
        if !valid_target(&ev.target) {
            return Completion::Dead {
                id,
                error: format!("invalid target {:?}", ev.target),
            };
        }
        let body = match serde_json::to_vec(&ev.payload) {
            Ok(b) => b,
            Err(e) => {
                return Completion::Dead {
                    id,
                    error: format!("payload: {e}"),
                }
            }
        };
        let timestamp = (self.rt.now_ms)().div_euclid(1000);
        let signature = match standard::sign(&self.config.secret, &ev.event_id, timestamp, &body) {
            Ok(s) => s,
            // Checked before claiming; kept as a retry in case it ever happens.
            Err(e) => {
                return self.failed(ev, format!("cannot sign: {}", e.code()));
            }
        };
        let headers = [
            ("content-type", "application/json".to_owned()),
            ("webhook-id", ev.event_id.clone()),
            ("webhook-timestamp", timestamp.to_string()),
            ("webhook-signature", signature),
        ];
        let url = format!("{}/{}", self.config.functions_url, ev.target);
        let timeout = self.config.post_timeout_ms;
        let result = self.sender.post(&url, &headers, body, timeout).await;
        match failure_text(&result, timeout) {
            None => Completion::Delivered { id },
            Some(error) => self.failed(ev, error),
        }
    }

    fn failed(&self, ev: &OutboxEvent, error: String) -> Completion {
        let decision = after_failure(
            ev.attempts,
            ev.max_attempts,
            ev.backoff_base_ms,
            (self.rt.random)(),
        );
        let (id, event_id, n, max) = (ev.id, &ev.event_id, ev.attempts, ev.max_attempts);
        match decision {
            AfterFailure::Retry { delay_ms } => {
                http::log_info(&format!(
                    "dispatch-events: {event_id} (outbox {id}) to {} attempt {n}/{max} failed: {error}; retry in {delay_ms} ms",
                    ev.target
                ));
                Completion::Retry {
                    id,
                    error,
                    retry_in_ms: delay_ms,
                }
            }
            AfterFailure::Dead => {
                http::log_error(&format!(
                    "dispatch-events: {event_id} (outbox {id}) to {} is dead after attempt {n}/{max}: {error}",
                    ev.target
                ));
                Completion::Dead { id, error }
            }
        }
    }

    /// The events of one order, one after the other; stop at the first failure (or when the
    /// instance starts shutting down).
    async fn deliver_chain(
        &self,
        token: &str,
        chain: Vec<&OutboxEvent>,
        deadline_ms: i64,
    ) -> Vec<Completion> {
        let mut out = Vec::with_capacity(chain.len());
        let mut blocked = false;
        for ev in chain {
            let too_late =
                (self.rt.now_ms)() + i64::from(self.config.post_timeout_ms) > deadline_ms;
            if blocked || too_late || self.held.is_closing() {
                blocked = true;
                out.push(Completion::Released { id: ev.id });
                continue;
            }
            let c = self.deliver(ev).await;
            self.held.record(token, &c);
            blocked = !matches!(c, Completion::Delivered { .. });
            out.push(c);
        }
        out
    }

    async fn deliver_batch(
        &self,
        token: &str,
        events: &[OutboxEvent],
        deadline_ms: i64,
    ) -> Vec<Completion> {
        // Group by order, keeping id order inside each group; events without an order are
        // groups of one.
        let mut chains: Vec<Vec<&OutboxEvent>> = Vec::new();
        let mut index: std::collections::HashMap<i64, usize> = Default::default();
        for ev in events {
            match ev.order_id {
                Some(order) => match index.get(&order) {
                    Some(&i) => chains[i].push(ev),
                    None => {
                        index.insert(order, chains.len());
                        chains.push(vec![ev]);
                    }
                },
                None => chains.push(vec![ev]),
            }
        }
        let runs = chains
            .into_iter()
            .map(|chain| self.deliver_chain(token, chain, deadline_ms));
        futures_util::future::join_all(runs)
            .await
            .into_iter()
            .flatten()
            .collect()
    }

    /// One claim loop.
    async fn lane<S: OutboxStore>(&self, store: &S, started_ms: i64) -> Result<DispatchReport> {
        let mut report = DispatchReport::default();
        let options = self.config.claim_options();
        loop {
            let claim_started = (self.rt.now_ms)();
            if claim_started - started_ms >= i64::from(self.config.budget_ms)
                || self.claimed.get() >= self.config.max_events
                || self.held.is_closing()
            {
                report.more = true;
                return Ok(report);
            }
            let claim = store.claim(&options).await?;
            report.next_due_ms = claim.next_due_ms;
            if claim.events.is_empty() {
                return Ok(report);
            }
            // Held from now until reported: a shutdown meanwhile releases it at once. (A claim
            // whose answer arrives after the shutdown is released by this lane just below:
            // closing, every event comes back untried.)
            self.held.hold(&claim);
            report.batches += 1;
            report.claimed += claim.events.len() as u32;
            self.claimed
                .set(self.claimed.get() + claim.events.len() as u32);
            let deadline =
                claim_started + i64::from(self.config.visibility_secs) * 1000 - SAFETY_MARGIN_MS;
            let results = self
                .deliver_batch(&claim.claim, &claim.events, deadline)
                .await;
            for r in &results {
                match r {
                    Completion::Delivered { .. } => report.delivered += 1,
                    Completion::Retry { .. } => report.retried += 1,
                    Completion::Dead { .. } => report.dead += 1,
                    Completion::Released { .. } => report.released += 1,
                }
            }
            let summary = store.complete(&claim.claim, &results).await;
            // Reported, or given up on (its lease then ends): no longer ours to release.
            self.held.settle(&claim.claim);
            let summary = summary?;
            report.next_due_ms = summary.next_due_ms;
            // Claim again at once: events written meanwhile, unblocked by these deliveries or
            // released for lack of time go out without waiting for the next call. Only a claim
            // that finds nothing due (or the budget) ends the loop.
        }
    }
}

/// Claim and deliver until the outbox has nothing due or the budget is spent.
pub async fn dispatch<S: OutboxStore, H: Sender>(
    store: &S,
    sender: &H,
    rt: Runtime<'_>,
    config: &DispatchConfig,
) -> Result<DispatchReport> {
    dispatch_holding(store, sender, rt, config, &HeldClaims::default()).await
}

/// [`dispatch`], with the claims in flight kept in `held` (the instance's), so that
/// [`HeldClaims::release`] can give them back at once on shutdown. A closing `held` answers
/// [`Error::ShuttingDown`].
pub async fn dispatch_holding<S: OutboxStore, H: Sender>(
    store: &S,
    sender: &H,
    rt: Runtime<'_>,
    config: &DispatchConfig,
    held: &HeldClaims,
) -> Result<DispatchReport> {
    if held.is_closing() {
        return Err(Error::ShuttingDown);
    }
    // A bad secret would fail every event: refuse to claim anything instead.
    standard::sign(&config.secret, "msg_check", 0, b"")
        .map_err(|_| Error::Internal("ORDER_EVENTS_SECRET is not a valid whsec_ secret".into()))?;
    let ctx = Ctx {
        sender,
        rt,
        config,
        held,
        claimed: std::cell::Cell::new(0),
    };
    let started = (rt.now_ms)();
    let lanes = (0..config.lanes.max(1)).map(|_| ctx.lane(store, started));
    merge_lanes(
        futures_util::future::join_all(lanes).await,
        "dispatch-events",
    )
}

/// The reports of a call's lanes as one. A lane that failed after others claimed something makes
/// the answer say `more` (its claims expire and come back: nothing is lost); if nothing was
/// claimed at all, the first error is the answer.
pub(crate) fn merge_lanes(
    lanes: Vec<Result<DispatchReport>>,
    function: &str,
) -> Result<DispatchReport> {
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
            http::log_error(&format!("{function}: a lane failed: {e}"));
            report.more = true;
            Ok(report)
        }
        None => Ok(report),
    }
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
}

/// The largest body `dispatch-events` accepts (its optional overrides are a few numbers).
pub const MAX_BODY: usize = 4 * 1024;

/// The `dispatch-events` handler: POST with a secret key (or the legacy service_role key):
/// `caller`, as the boundary authenticated it; optional JSON body of [`DispatchOverrides`]. Claims in flight are
/// kept in `held`, the instance's (see [`HeldClaims`]).
pub async fn handle_dispatch<S: OutboxStore, H: Sender>(
    store: &S,
    sender: &H,
    rt: Runtime<'_>,
    caller: Result<Caller>,
    config: DispatchConfig,
    held: &HeldClaims,
    req: Request,
) -> Result<Response> {
    http::require_method(&req, ::http::Method::POST, "POST")?;
    caller?.require_service_role("dispatch-events")?;
    let overrides = DispatchOverrides::from_body(req.body())?;
    let config = config.with_overrides(&overrides);
    let report = dispatch_holding(store, sender, rt, &config, held).await?;
    if report.retried + report.dead > 0 {
        http::log_info(&format!(
            "dispatch-events: claimed {} delivered {} retried {} dead {} released {}",
            report.claimed, report.delivered, report.retried, report.dead, report.released
        ));
    }
    Ok(http::json(200, &report))
}
