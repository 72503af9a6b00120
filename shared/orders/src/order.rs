//! The order state machine: the only way a status changes.
//!
//! ```text
//! pending -> processed -> paid -> fulfilled
//! pending | processed -> cancelled
//! paid | fulfilled -> refunded
//! processed -> expired -> paid
//! paid | fulfilled -> partially_refunded -> refunded
//! ```
//!
//! `processed -> expired` is taken only by the database (`expire_unpaid_orders`, past the
//! order's `payment_due_at`); `expired -> paid` only by a late payment, when the stock the
//! expiry released is still there (`apply_payment_event`; otherwise a payment exception
//! `order_expired`, for a refund). The refund statuses follow the sum of the refunds recorded
//! (`apply_payment_event`): below the total paid `partially_refunded`, at it `refunded`.
//!
//! [`transition`] decides; the database applies the change only if the order is still in the
//! status the decision was made on (see `order_transition` / `apply_order_processing`), so two
//! racing callers cannot both win.

use serde::{Deserialize, Serialize};
use serde_json::json;

use edge_platform::Error;

/// The status of an order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrderStatus {
    Pending,
    Processed,
    Paid,
    Fulfilled,
    Cancelled,
    Refunded,
    Expired,
    PartiallyRefunded,
}

impl OrderStatus {
    /// Every status, in lifecycle order.
    pub const ALL: [OrderStatus; 8] = [
        Self::Pending,
        Self::Processed,
        Self::Paid,
        Self::Fulfilled,
        Self::Cancelled,
        Self::Refunded,
        Self::Expired,
        Self::PartiallyRefunded,
    ];

    /// The name stored in `orders.status`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Processed => "processed",
            Self::Paid => "paid",
            Self::Fulfilled => "fulfilled",
            Self::Cancelled => "cancelled",
            Self::Refunded => "refunded",
            Self::Expired => "expired",
            Self::PartiallyRefunded => "partially_refunded",
        }
    }

    /// Whether a refund may be recorded for an order in this status (paid, and not refunded
    /// in full: refunds beyond that are refused by the database, redeliveries change nothing).
    pub fn accepts_refunds(self) -> bool {
        matches!(
            self,
            Self::Paid | Self::Fulfilled | Self::PartiallyRefunded | Self::Refunded
        )
    }

    /// Whether `self -> to` is a transition of the state machine.
    pub fn can_become(self, to: OrderStatus) -> bool {
        use OrderStatus::*;
        matches!(
            (self, to),
            (Pending, Processed)
                | (Processed, Paid)
                | (Paid, Fulfilled)
                | (Pending | Processed, Cancelled)
                | (Paid | Fulfilled | PartiallyRefunded, Refunded)
                | (Paid | Fulfilled, PartiallyRefunded)
                | (Processed, Expired)
                | (Expired, Paid)
        )
    }
}

impl std::fmt::Display for OrderStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A transition the state machine allows: apply it with the database's expected-state check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transition {
    pub order_id: i64,
    pub from: OrderStatus,
    pub to: OrderStatus,
}

/// Decide whether order `order_id`, now in `current`, may become `to`.
/// Anything the machine does not allow is a 409 naming the current status.
pub fn transition(
    order_id: i64,
    current: OrderStatus,
    to: OrderStatus,
) -> Result<Transition, Error> {
    if current.can_become(to) {
        Ok(Transition {
            order_id,
            from: current,
            to,
        })
    } else {
        Err(status_conflict(order_id, current, to))
    }
}

/// The 409 for an order that is not in a status that allows becoming `to`.
pub fn status_conflict(order_id: i64, current: OrderStatus, to: OrderStatus) -> Error {
    Error::conflict(
        "status_conflict",
        format!("order {order_id} is {current} and cannot become {to}"),
        Some(json!({ "current_status": current.as_str(), "requested_status": to.as_str() })),
    )
}

#[cfg(test)]
mod tests {
    use super::OrderStatus::*;
    use super::*;

    #[test]
    fn exactly_the_documented_transitions_are_allowed() {
        let allowed = [
            (Pending, Processed),
            (Processed, Paid),
            (Paid, Fulfilled),
            (Pending, Cancelled),
            (Processed, Cancelled),
            (Paid, Refunded),
            (Fulfilled, Refunded),
            (Processed, Expired),
            (Expired, Paid),
            (Paid, PartiallyRefunded),
            (Fulfilled, PartiallyRefunded),
            (PartiallyRefunded, Refunded),
        ];
        for from in OrderStatus::ALL {
            for to in OrderStatus::ALL {
                let expected = allowed.contains(&(from, to));
                assert_eq!(from.can_become(to), expected, "{from} -> {to}");
                let r = transition(1, from, to);
                assert_eq!(r.is_ok(), expected);
                if let Err(e) = r {
                    assert_eq!(e.status(), 409);
                    assert_eq!(
                        e.body()["error"]["details"]["current_status"],
                        from.as_str()
                    );
                }
            }
        }
    }

    #[test]
    fn names_round_trip() {
        for s in OrderStatus::ALL {
            assert_eq!(
                serde_json::from_value::<OrderStatus>(json!(s.as_str())).unwrap(),
                s
            );
            assert_eq!(serde_json::to_value(s).unwrap(), s.as_str());
        }
        assert!(serde_json::from_value::<OrderStatus>(json!("shipped")).is_err());
        assert!(serde_json::from_value::<OrderStatus>(json!("Paid")).is_err());
    }
}
