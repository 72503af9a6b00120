//! In-memory [`OrderStore`] and [`IdempotencyStore`] for unit tests: the same checks as the
//! SQL functions (owner, expected status, stock, redemptions), no network.

use std::cell::RefCell;
use std::collections::HashMap;

use serde_json::{json, Value};

use super::*;
use crate::order::OrderStatus;

/// (scope, endpoint, key) -> (request hash, stored response once finished)
type Keys = HashMap<(String, String, String), (String, Option<(u16, String)>)>;

#[derive(Default)]
pub(crate) struct MemoryStore {
    pub orders: RefCell<HashMap<i64, OrderSnapshot>>,
    pub stock: RefCell<HashMap<i64, i64>>,
    pub applies: RefCell<u32>,
    pub redemptions: RefCell<HashMap<String, i64>>,
    pub keys: RefCell<Keys>,
}

impl MemoryStore {
    pub fn status(&self, id: i64) -> String {
        self.orders.borrow()[&id].order.status.clone()
    }
}

impl OrderStore for MemoryStore {
    async fn order_for_processing(
        &self,
        caller: &Caller,
        order_id: i64,
    ) -> Result<Option<OrderSnapshot>> {
        Ok(self
            .orders
            .borrow()
            .get(&order_id)
            .filter(|s| {
                caller.is_service_role() || caller.user_id() == Some(s.order.user_id.as_str())
            })
            .cloned())
    }

    async fn apply_processing(&self, apply: &ApplyProcessing<'_>) -> Result<ApplyOutcome> {
        let t = apply.transition;
        let mut orders = self.orders.borrow_mut();
        let Some(snap) = orders.get_mut(&t.order_id) else {
            return Ok(ApplyOutcome {
                reason: Some("not_found".into()),
                ..Default::default()
            });
        };
        if snap.order.status != t.from.as_str() {
            return Ok(ApplyOutcome {
                reason: Some("status_conflict".into()),
                current_status: Some(snap.order.status.clone()),
                ..Default::default()
            });
        }
        let mut stock = self.stock.borrow_mut();
        let short: Vec<Value> = snap
            .lines
            .iter()
            .filter(|l| stock.get(&l.product_id).copied().unwrap_or(0) < l.quantity)
            .map(|l| json!({"product_id": l.product_id, "sku": l.sku}))
            .collect();
        if !short.is_empty() {
            return Ok(ApplyOutcome {
                reason: Some("insufficient_stock".into()),
                lines: Some(Value::Array(short)),
                ..Default::default()
            });
        }
        if let Some(d) = snap
            .discount
            .as_ref()
            .filter(|_| apply.priced.discount_code.is_some())
        {
            let mut redemptions = self.redemptions.borrow_mut();
            let used = redemptions.entry(d.code.clone()).or_insert(d.redemptions);
            if d.max_redemptions.is_some_and(|m| *used >= m) {
                return Ok(ApplyOutcome {
                    reason: Some("discount_exhausted".into()),
                    ..Default::default()
                });
            }
            *used += 1;
        }
        for l in &snap.lines {
            *stock.get_mut(&l.product_id).expect("checked above") -= l.quantity;
        }
        snap.order.status = OrderStatus::Processed.as_str().into();
        snap.order.total_amount = Some(apply.priced.total_amount);
        *self.applies.borrow_mut() += 1;
        Ok(ApplyOutcome {
            ok: true,
            ..Default::default()
        })
    }

    async fn apply_transition(&self, t: &Transition, _actor: Option<&str>) -> Result<ApplyOutcome> {
        let mut orders = self.orders.borrow_mut();
        let Some(snap) = orders.get_mut(&t.order_id) else {
            return Ok(ApplyOutcome {
                reason: Some("not_found".into()),
                ..Default::default()
            });
        };
        if snap.order.status != t.from.as_str() {
            return Ok(ApplyOutcome {
                reason: Some("status_conflict".into()),
                current_status: Some(snap.order.status.clone()),
                ..Default::default()
            });
        }
        if t.from == OrderStatus::Processed && t.to == OrderStatus::Cancelled {
            let mut stock = self.stock.borrow_mut();
            for l in &snap.lines {
                *stock.entry(l.product_id).or_default() += l.quantity;
            }
        }
        snap.order.status = t.to.as_str().into();
        *self.applies.borrow_mut() += 1;
        Ok(ApplyOutcome {
            ok: true,
            ..Default::default()
        })
    }
}

impl IdempotencyStore for MemoryStore {
    async fn idempotency_begin(
        &self,
        scope: &str,
        endpoint: &str,
        key: &str,
        request_hash: &str,
    ) -> Result<IdempotencyBegin> {
        let mut keys = self.keys.borrow_mut();
        let id = (scope.to_owned(), endpoint.to_owned(), key.to_owned());
        Ok(match keys.get(&id) {
            None => {
                keys.insert(id, (request_hash.to_owned(), None));
                IdempotencyBegin::New
            }
            Some((hash, _)) if hash != request_hash => IdempotencyBegin::Mismatch,
            Some((_, Some((status, body)))) => IdempotencyBegin::Replay {
                status: *status,
                body: Value::Null,
                body_text: Some(body.clone()),
            },
            Some((_, None)) => IdempotencyBegin::InFlight,
        })
    }

    async fn idempotency_finish(
        &self,
        scope: &str,
        endpoint: &str,
        key: &str,
        status: u16,
        body: &str,
        store: bool,
    ) -> Result<()> {
        let id = (scope.to_owned(), endpoint.to_owned(), key.to_owned());
        let mut keys = self.keys.borrow_mut();
        if store {
            if let Some(entry) = keys.get_mut(&id) {
                entry.1 = Some((status, body.to_owned()));
            }
        } else {
            keys.remove(&id);
        }
        Ok(())
    }
}
