//! The database-webhook payload (Supabase's shape, which the outbox trigger writes too) and the
//! pure decision of what an event on `public.orders` asks `order-events` to do.
//!
//! ```text
//! {"type": "INSERT" | "UPDATE" | "DELETE", "table": "orders", "schema": "public",
//!  "record": {..} | null, "old_record": {..} | null}
//! ```

use serde::{Deserialize, Serialize};
use serde_json::Value;

use edge_orders::order::OrderStatus;
use edge_platform::{Error, Result};

/// The kind of change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum ChangeType {
    Insert,
    Update,
    Delete,
}

impl ChangeType {
    /// `INSERT`, `UPDATE` or `DELETE`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Insert => "INSERT",
            Self::Update => "UPDATE",
            Self::Delete => "DELETE",
        }
    }
}

/// One row change, as a database webhook carries it. Unknown fields (e.g. the newer
/// `user_id`) are ignored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DbChange {
    #[serde(rename = "type")]
    pub kind: ChangeType,
    pub table: String,
    pub schema: String,
    #[serde(default)]
    pub record: Option<Value>,
    #[serde(default)]
    pub old_record: Option<Value>,
}

impl DbChange {
    /// The `id` of the row (new record, else old record).
    pub fn row_id(&self) -> Option<i64> {
        let rec = self.record.as_ref().or(self.old_record.as_ref())?;
        match rec.get("id")? {
            Value::Number(n) => n.as_i64(),
            Value::String(s) => s.parse().ok(),
            _ => None,
        }
    }
}

/// What an event asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OrderEventAction {
    /// A new order: price it and reserve its stock (if automatic processing is on).
    Process { order_id: i64 },
    /// The order became `paid`: queue its fulfillment.
    Fulfill { order_id: i64 },
    /// Nothing to do (another table, another status change, a delete).
    Ignore,
}

/// The record's `status`; `None` when absent or not a status.
fn status_of(rec: Option<&Value>) -> Option<OrderStatus> {
    OrderStatus::deserialize(rec?.get("status")?).ok()
}

/// Decide what a change means. An event on `public.orders` without a usable `id` is a 400.
pub fn decide(change: &DbChange) -> Result<OrderEventAction> {
    if change.schema != "public" || change.table != "orders" {
        return Ok(OrderEventAction::Ignore);
    }
    let order_id = || {
        change.row_id().filter(|id| *id > 0).ok_or_else(|| {
            Error::bad_request(
                "invalid_payload",
                "an orders event needs a positive record.id",
            )
        })
    };
    Ok(match change.kind {
        ChangeType::Insert => OrderEventAction::Process {
            order_id: order_id()?,
        },
        ChangeType::Update
            if status_of(change.record.as_ref()) == Some(OrderStatus::Paid)
                && status_of(change.old_record.as_ref()) != Some(OrderStatus::Paid) =>
        {
            OrderEventAction::Fulfill {
                order_id: order_id()?,
            }
        }
        _ => OrderEventAction::Ignore,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn change(v: Value) -> DbChange {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn parses_every_shape_supabase_sends() {
        let insert = change(
            json!({"type": "INSERT", "table": "orders", "schema": "public",
            "record": {"id": 7, "status": "pending"}, "old_record": null}),
        );
        assert_eq!(insert.kind, ChangeType::Insert);
        assert_eq!(insert.row_id(), Some(7));
        let delete = change(
            json!({"type": "DELETE", "table": "orders", "schema": "public",
            "record": null, "old_record": {"id": "9"}, "user_id": "x"}),
        );
        assert_eq!(delete.row_id(), Some(9));
        // old_record may be absent altogether.
        let bare = change(json!({"type": "INSERT", "table": "t", "schema": "s", "record": {}}));
        assert_eq!(bare.old_record, None);
        assert_eq!(bare.row_id(), None);
        for bad in [
            json!({"type": "TRUNCATE", "table": "orders", "schema": "public"}),
            json!({"table": "orders", "schema": "public"}),
            json!({"type": "INSERT", "schema": "public"}),
        ] {
            assert!(serde_json::from_value::<DbChange>(bad).is_err());
        }
    }

    #[test]
    fn decides_what_each_event_means() {
        let ev = |kind: &str, table: &str, new: Value, old: Value| {
            decide(&change(
                json!({"type": kind, "table": table, "schema": "public",
                "record": new, "old_record": old}),
            ))
        };
        assert_eq!(
            ev(
                "INSERT",
                "orders",
                json!({"id": 3, "status": "pending"}),
                Value::Null
            )
            .unwrap(),
            OrderEventAction::Process { order_id: 3 }
        );
        assert_eq!(
            ev(
                "UPDATE",
                "orders",
                json!({"id": 3, "status": "paid"}),
                json!({"id": 3, "status": "processed"})
            )
            .unwrap(),
            OrderEventAction::Fulfill { order_id: 3 }
        );
        // A paid order updated again (status unchanged) asks for nothing.
        assert_eq!(
            ev(
                "UPDATE",
                "orders",
                json!({"id": 3, "status": "paid"}),
                json!({"id": 3, "status": "paid"})
            )
            .unwrap(),
            OrderEventAction::Ignore
        );
        assert_eq!(
            ev(
                "UPDATE",
                "orders",
                json!({"id": 3, "status": "processed"}),
                json!({"id": 3, "status": "pending"})
            )
            .unwrap(),
            OrderEventAction::Ignore
        );
        assert_eq!(
            ev("DELETE", "orders", Value::Null, json!({"id": 3})).unwrap(),
            OrderEventAction::Ignore
        );
        assert_eq!(
            ev("INSERT", "products", json!({"id": 3}), Value::Null).unwrap(),
            OrderEventAction::Ignore
        );
        let other_schema = change(
            json!({"type": "INSERT", "table": "orders", "schema": "audit",
            "record": {"id": 1}}),
        );
        assert_eq!(decide(&other_schema).unwrap(), OrderEventAction::Ignore);
        for bad_id in [
            json!({}),
            json!({"id": 0}),
            json!({"id": -1}),
            json!({"id": 1.5}),
            json!({"id": "x"}),
        ] {
            let err = ev("INSERT", "orders", bad_id, Value::Null).unwrap_err();
            assert_eq!(err.status(), 400);
        }
    }
}
