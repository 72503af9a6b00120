//! # edge-orders
//!
//! The orders domain, plain Rust that builds and tests natively (`cargo test -p edge-orders`):
//!
//! - [`money`]: integer minor units with an ISO 4217 currency; checked arithmetic.
//! - [`pricing`]: subtotal, discount, tax and shipping of an order.
//! - [`order`]: the order state machine, the only way a status changes.
//! - [`payments`]: the payment webhook (Stripe events to order transitions).
//! - [`processing`]: the process/cancel flows, and [`idempotency`] for `Idempotency-Key`.
//! - [`store`]: the database access these flows need, as traits; their PostgREST
//!   implementation (wasm32) goes through the platform's one client.

pub mod idempotency;
pub mod money;
pub mod order;
pub mod payments;
pub mod pricing;
pub mod processing;
pub mod store;
