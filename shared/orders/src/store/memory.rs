//! A scripted [`OrderStore`] and [`IdempotencyStore`] for unit tests of the Rust flows.
//!
//! It holds none of the rules of the SQL functions (who may read an order, the status
//! re-check, stock, `order_changed`, discounts, idempotency leases and in-flight keys): those
//! live in SQL and are tested against PostgreSQL in `tests/sql/`. A test arranges what the
//! database answers (the snapshot a read returns, the answer of the next apply or
//! `idempotency_begin`) and asserts what the Rust flow does with it and what it sent: every
//! call is recorded in [`ScriptedStore::calls`].

use std::cell::{Cell, RefCell};
use std::collections::{HashMap, VecDeque};

use serde_json::Value;

use super::*;

/// One call the flow made, with what it sent.
#[derive(Debug, Clone, PartialEq)]
pub enum Call {
    Read {
        caller: Caller,
        order_id: i64,
    },
    /// `apply_order_processing`'s parameters, as the PostgREST store sends them.
    ApplyProcessing(serde_json::Map<String, Value>),
    ApplyTransition {
        transition: Transition,
        actor: Option<String>,
        claim: Option<String>,
        response_text: Option<String>,
    },
    /// A keyed read (`begin_order_request` with a key).
    Begin {
        endpoint: String,
        key: String,
        hash: String,
    },
    Finish {
        claim: String,
        status: Option<u16>,
        body: String,
    },
}

#[derive(Default)]
pub struct ScriptedStore {
    /// What `order_for_processing` answers per order id, to whoever asks (absent: `None`, the
    /// database's "not found or not yours").
    pub snapshots: RefCell<HashMap<i64, OrderSnapshot>>,
    /// The answers of the next apply calls (`apply_processing`, `apply_transition`), in
    /// order; once empty, `{"ok": true}`.
    pub apply_answers: RefCell<VecDeque<ApplyOutcome>>,
    /// The answers of the next keyed reads; once empty, the order and the claim `claim-<n>`.
    pub begin_answers: RefCell<VecDeque<Begin>>,
    /// The next N calls fail with a 503 (the database API is down).
    pub fail_calls: Cell<u32>,
    /// The next N apply calls fail with a 503 (after the read succeeded).
    pub fail_applies: Cell<u32>,
    pub calls: RefCell<Vec<Call>>,
}

impl ScriptedStore {
    pub fn with(snapshots: impl IntoIterator<Item = OrderSnapshot>) -> Self {
        let store = Self::default();
        for s in snapshots {
            store.snapshots.borrow_mut().insert(s.order.id, s);
        }
        store
    }

    /// The next apply call answers `answer`, an apply RPC's JSON answer as the database sends it.
    pub fn answer_apply(&self, answer: Value) {
        let outcome = serde_json::from_value(answer).expect("an apply RPC answer");
        self.apply_answers.borrow_mut().push_back(outcome);
    }

    pub fn answer_begin(&self, answer: Begin) {
        self.begin_answers.borrow_mut().push_back(answer);
    }

    /// Fails (503) if the test made the database API unavailable for this call.
    pub fn down(&self) -> Result<()> {
        match self.fail_calls.get() {
            0 => Ok(()),
            n => {
                self.fail_calls.set(n - 1);
                Err(edge_platform::Error::Unavailable(
                    "scripted store is down".into(),
                ))
            }
        }
    }

    /// Fails (503) if the test made the next apply fail.
    pub fn apply_down(&self) -> Result<()> {
        match self.fail_applies.get() {
            0 => Ok(()),
            n => {
                self.fail_applies.set(n - 1);
                Err(edge_platform::Error::Unavailable(
                    "scripted apply failed".into(),
                ))
            }
        }
    }

    pub fn record(&self, call: Call) {
        self.calls.borrow_mut().push(call);
    }

    /// The parameters of every `apply_processing` call, in order.
    pub fn processings(&self) -> Vec<serde_json::Map<String, Value>> {
        self.calls
            .borrow()
            .iter()
            .filter_map(|c| match c {
                Call::ApplyProcessing(p) => Some(p.clone()),
                _ => None,
            })
            .collect()
    }

    /// Every apply call (processing or transition).
    pub fn applies(&self) -> usize {
        self.calls
            .borrow()
            .iter()
            .filter(|c| matches!(c, Call::ApplyProcessing(_) | Call::ApplyTransition { .. }))
            .count()
    }

    /// The next apply's answer.
    pub fn next_apply(&self) -> ApplyOutcome {
        self.apply_answers
            .borrow_mut()
            .pop_front()
            .unwrap_or_default()
    }
}

impl OrderStore for ScriptedStore {
    async fn order_for_processing(
        &self,
        caller: &Caller,
        order_id: i64,
    ) -> Result<Option<OrderSnapshot>> {
        self.down()?;
        self.record(Call::Read {
            caller: caller.clone(),
            order_id,
        });
        Ok(self.snapshots.borrow().get(&order_id).cloned())
    }

    async fn apply_processing(&self, apply: &ApplyProcessing<'_>) -> Result<ApplyOutcome> {
        self.down()?;
        self.apply_down()?;
        self.record(Call::ApplyProcessing(apply.rpc_params()));
        Ok(self.next_apply())
    }

    async fn begin_request(
        &self,
        caller: &Caller,
        order_id: i64,
        key: Option<&KeyedRequest<'_>>,
    ) -> Result<Begin> {
        let snapshot = self
            .order_for_processing(caller, order_id)
            .await?
            .map(Box::new);
        let Some(key) = key else {
            return Ok(Begin::Read {
                snapshot,
                claim: None,
            });
        };
        self.record(Call::Begin {
            endpoint: key.endpoint.into(),
            key: key.idempotency_key.into(),
            hash: key.request_hash.into(),
        });
        if let Some(answer) = self.begin_answers.borrow_mut().pop_front() {
            return Ok(answer);
        }
        // As the SQL: a key is claimed only for an order the caller can see.
        let claim = snapshot.is_some().then(|| format!("claim-{order_id}"));
        Ok(Begin::Read { snapshot, claim })
    }

    async fn apply_transition(&self, p: &TransitionParams<'_>) -> Result<ApplyOutcome> {
        self.down()?;
        self.apply_down()?;
        self.record(Call::ApplyTransition {
            transition: Transition {
                order_id: p.order_id,
                from: p.from_status,
                to: p.to_status,
            },
            actor: p.actor.map(str::to_owned),
            claim: p.claimed.claim.map(str::to_owned),
            response_text: p.claimed.response_text.map(str::to_owned),
        });
        Ok(self.next_apply())
    }
}

impl IdempotencyStore for ScriptedStore {
    async fn idempotency_finish(&self, claim: &str, status: Option<u16>, body: &str) -> Result<()> {
        self.down()?;
        self.record(Call::Finish {
            claim: claim.into(),
            status,
            body: body.into(),
        });
        Ok(())
    }
}
