//! The claims a dispatcher instance holds, so that a clean shutdown gives them back at once.
//!
//! A claim is a lease: if its dispatcher dies, its events become claimable again when
//! `claimed_until` passes (10 s, [`super::dispatch::DispatchConfig::new`]). A dispatcher that
//! is told to stop (SIGTERM on the local stack; `beforeunload` on Supabase's edge-runtime, both
//! through the loader's `shutdown` export) need not make them wait: [`HeldClaims::release`]
//! completes every claim the instance still holds, one `complete_outbox_events` call per
//! claim: the outcomes already known (delivered, retry, dead) as they are, and every other
//! event `released` (back to the queue at once, its attempt given back, as when a claim runs
//! out of time). From then on the instance is closing: it starts no claim and no POST, and a new
//! call answers 503 `shutting_down`.
//!
//! The claim token makes this safe against every race: `complete_outbox_events` only touches
//! rows still under the claim, so a release that comes after the dispatcher's own completion
//! (or after another dispatcher re-claimed an expired claim) changes nothing.

use std::cell::{Cell, RefCell};

use serde::Serialize;

use super::outbox::{Claim, Completion, OutboxStore};

/// The claims of one instance that are not completed yet (one per wasm instance in
/// `dispatch-events`; a test makes its own).
#[derive(Debug, Default)]
pub struct HeldClaims {
    claims: RefCell<Vec<Held>>,
    closing: Cell<bool>,
}

#[derive(Debug)]
struct Held {
    token: String,
    /// In claim order: each event, with its outcome once the attempt ended.
    events: Vec<(i64, Option<Completion>)>,
}

/// What [`HeldClaims::release`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ReleaseReport {
    /// Claims completed (one RPC each).
    pub claims: u32,
    /// Events given back (not attempted, or their attempt cut short by the shutdown).
    pub released: u32,
    /// Events whose attempt had ended, reported with its outcome.
    pub reported: u32,
    /// Rows the database changed (rows no longer under their claim are left alone).
    pub updated: u32,
    /// Claims whose completion failed: their events come back when the lease ends.
    pub failed: u32,
}

impl HeldClaims {
    /// The events of `claim` are held until [`HeldClaims::settle`] (or a release).
    pub fn hold(&self, claim: &Claim) {
        if claim.events.is_empty() {
            return;
        }
        self.claims.borrow_mut().push(Held {
            token: claim.claim.clone(),
            events: claim.events.iter().map(|e| (e.id, None)).collect(),
        });
    }

    /// The attempt of one held event ended with `outcome`.
    pub fn record(&self, token: &str, outcome: &Completion) {
        let mut claims = self.claims.borrow_mut();
        let Some(held) = claims.iter_mut().find(|h| h.token == token) else {
            return; // released meanwhile
        };
        if let Some(slot) = held.events.iter_mut().find(|(id, _)| *id == outcome.id()) {
            slot.1 = Some(outcome.clone());
        }
    }

    /// The dispatcher reported claim `token` itself (or gave up on it: its lease then ends).
    pub fn settle(&self, token: &str) {
        self.claims.borrow_mut().retain(|h| h.token != token);
    }

    /// Events held, over every claim.
    pub fn held_events(&self) -> usize {
        self.claims.borrow().iter().map(|h| h.events.len()).sum()
    }

    /// Whether the instance is shutting down: no new claim, no new POST.
    pub fn is_closing(&self) -> bool {
        self.closing.get()
    }

    /// Stop claiming and posting, without releasing anything.
    pub fn close(&self) {
        self.closing.set(true);
    }

    /// Close, then complete every held claim through `store`: known outcomes as they are, every
    /// other event released. One `complete` per claim, all at once; a failed one is logged and
    /// left to its lease (nothing is retried: the process is going away).
    pub async fn release<S: OutboxStore>(&self, store: &S) -> ReleaseReport {
        self.close();
        let claims = std::mem::take(&mut *self.claims.borrow_mut());
        let mut report = ReleaseReport::default();
        let mut calls = Vec::with_capacity(claims.len());
        for held in &claims {
            let results: Vec<Completion> = held
                .events
                .iter()
                .map(|(id, outcome)| outcome.clone().unwrap_or(Completion::Released { id: *id }))
                .collect();
            for r in &results {
                match r {
                    Completion::Released { .. } => report.released += 1,
                    _ => report.reported += 1,
                }
            }
            calls.push(async move { store.complete(&held.token, &results).await });
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
                        "dispatch-events: could not release claim {} on shutdown ({e}); its events come back when the claim expires",
                        held.token
                    ));
                }
            }
        }
        report
    }
}
