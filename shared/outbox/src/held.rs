//! The claims a `webhook-dispatch` instance holds, so that a clean shutdown gives them back at
//! once.
//!
//! A claim is a lease: if its dispatcher dies, its deliveries become claimable again when
//! `claimed_until` passes (30 s, [`super::hooks::HookConfig::new`]). A dispatcher that is told
//! to stop (SIGTERM on the local stack; `beforeunload` on Supabase's edge-runtime, both through
//! the loader's `shutdown` export) need not make them wait: [`HeldClaims::release`] reports
//! every claim the instance still holds, one `webhooks.record_attempts` call per claim: the
//! tries that ended with their outcome, and every other delivery `released` (back to pending at
//! once, its try given back, as when a claim runs out of time). From then on the instance is
//! closing: it starts no claim and no POST, and a new call answers 503 `shutting_down`.
//!
//! The claim token makes this safe against every race: `record_attempts` only touches rows
//! still under the claim, so a release that comes after the dispatcher's own report (or after
//! another dispatcher re-claimed an expired claim) changes nothing.

use std::cell::{Cell, RefCell};

use serde::Serialize;

use super::hooks::{AttemptReport, HookClaim, HookStore};

/// The claims of one instance that are not reported yet (one per wasm instance in
/// `webhook-dispatch`; a test makes its own).
#[derive(Debug, Default)]
pub struct HeldClaims {
    claims: RefCell<Vec<Held>>,
    closing: Cell<bool>,
}

#[derive(Debug)]
struct Held {
    token: String,
    /// In claim order: each delivery, with its try once it ended.
    deliveries: Vec<(i64, Option<AttemptReport>)>,
}

/// What [`HeldClaims::release`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ReleaseReport {
    /// Claims reported (one RPC each).
    pub claims: u32,
    /// Deliveries given back (not tried, or their try cut short by the shutdown).
    pub released: u32,
    /// Deliveries whose try had ended, reported with it.
    pub reported: u32,
    /// Rows the database changed (rows no longer under their claim are left alone).
    pub updated: u32,
    /// Claims whose report failed: their deliveries come back when the lease ends.
    pub failed: u32,
}

impl HeldClaims {
    /// The deliveries of `claim` are held until [`HeldClaims::settle`] (or a release).
    pub fn hold(&self, claim: &HookClaim) {
        if claim.deliveries.is_empty() {
            return;
        }
        self.claims.borrow_mut().push(Held {
            token: claim.claim.clone(),
            deliveries: claim.deliveries.iter().map(|d| (d.id, None)).collect(),
        });
    }

    /// The try of one held delivery ended with `report`.
    pub fn record(&self, token: &str, report: &AttemptReport) {
        let mut claims = self.claims.borrow_mut();
        let Some(held) = claims.iter_mut().find(|h| h.token == token) else {
            return; // released meanwhile
        };
        if let Some(slot) = held.deliveries.iter_mut().find(|(id, _)| *id == report.id) {
            slot.1 = Some(report.clone());
        }
    }

    /// The dispatcher reported claim `token` itself (or gave up on it: its lease then ends).
    pub fn settle(&self, token: &str) {
        self.claims.borrow_mut().retain(|h| h.token != token);
    }

    /// Deliveries held, over every claim.
    pub fn held_deliveries(&self) -> usize {
        self.claims
            .borrow()
            .iter()
            .map(|h| h.deliveries.len())
            .sum()
    }

    /// Whether the instance is shutting down: no new claim, no new POST.
    pub fn is_closing(&self) -> bool {
        self.closing.get()
    }

    /// Stop claiming and posting, without releasing anything.
    pub fn close(&self) {
        self.closing.set(true);
    }

    /// Close, then report every held claim through `store`: the tries that ended as they are,
    /// every other delivery released. One `record_attempts` per claim, all at once; a failed
    /// one is logged and left to its lease (nothing is retried: the process is going away).
    pub async fn release<S: HookStore>(&self, store: &S) -> ReleaseReport {
        self.close();
        let claims = std::mem::take(&mut *self.claims.borrow_mut());
        let mut report = ReleaseReport::default();
        let mut calls = Vec::with_capacity(claims.len());
        for held in &claims {
            let results: Vec<AttemptReport> = held
                .deliveries
                .iter()
                .map(|(id, tried)| {
                    tried
                        .clone()
                        .unwrap_or_else(|| AttemptReport::released(*id))
                })
                .collect();
            for r in &results {
                if r.released {
                    report.released += 1;
                } else {
                    report.reported += 1;
                }
            }
            calls.push(async move { store.record_attempts(&held.token, &results).await });
        }
        for (held, outcome) in claims
            .iter()
            .zip(futures_util::future::join_all(calls).await)
        {
            report.claims += 1;
            match outcome {
                Ok(summary) => report.updated += summary.updated,
                Err(e) => {
                    report.failed += 1;
                    edge_platform::http::log_error(&format!(
                        "webhook-dispatch: could not release claim {} on shutdown ({e}); its deliveries come back when the claim expires",
                        held.token
                    ));
                }
            }
        }
        report
    }
}
