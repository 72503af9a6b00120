//! Signed, reliable database webhooks: the outbox dispatcher (`dispatch-events`) and the
//! receiver of order events (`order-events`).
//!
//! Stock Supabase database webhooks are unsigned and at most once. Here a trigger writes each
//! change of `orders` to `event_outbox` in the writing transaction (see
//! `supabase/migrations/20261121000700_event_outbox.sql`), and:
//!
//! - [`dispatch`] claims due events (`FOR UPDATE SKIP LOCKED` with a visibility timeout),
//!   POSTs each to its target function signed as Standard Webhooks (`webhook-id` = the event's
//!   id, the same on every retry), and records delivered / retry / dead. Events of one order are
//!   delivered one after the other, in creation order; different orders concurrently.
//! - [`held`] keeps the claims an instance holds, so that a clean shutdown (SIGTERM, or
//!   edge-runtime's `beforeunload`) gives them back at once instead of after their lease.
//! - [`retry`] is the schedule: attempt `n` failing waits `min(base · 2^(n-1), 1 h) ± 10 %`
//!   (base 2 s), 12 attempts by default, then the event is dead until `requeue_dead_events`.
//! - [`receive`] verifies the signature (or a stock webhook's service_role bearer), deduplicates
//!   on the webhook id and acts: a new order is processed ([`edge_orders::processing::process_order`]),
//!   an order that became `paid` gets a fulfillment.
//! - [`payload`] is the database-webhook payload and the pure decision of what an event means.
//!
//! - [`hooks`] delivers database webhooks of any subscribed table to any endpoint (schema
//!   `webhooks`, `webhook-dispatch`), [`hooks_admin`] is their HTTP admin (`webhook-admin`),
//!   [`hooks_net`] the endpoint URL and address rules.
//!
//! Storage is behind [`outbox::OutboxStore`] and [`receive::ReceiverStore`], HTTP behind
//! [`dispatch::Sender`], and the clock and jitter source are injected, so all of it runs in
//! native unit tests; the PostgREST and `fetch` implementations are wasm32-only.
//!
//! ```
//! use edge_outbox::payload::{decide, DbChange, OrderEventAction};
//!
//! let change: DbChange = serde_json::from_str(
//!     r#"{"type":"INSERT","table":"orders","schema":"public","record":{"id":7,"status":"pending"},"old_record":null}"#,
//! )?;
//! assert_eq!(decide(&change)?, OrderEventAction::Process { order_id: 7 });
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod dispatch;
pub mod held;
pub mod hooks;
pub mod hooks_admin;
pub mod hooks_net;
pub mod outbox;
pub mod payload;
pub mod receive;
pub mod retry;

#[cfg(target_arch = "wasm32")]
mod fetch;
#[cfg(target_arch = "wasm32")]
mod hooks_fetch;
#[cfg(target_arch = "wasm32")]
mod hooks_postgrest;
#[cfg(target_arch = "wasm32")]
mod postgrest;
#[cfg(target_arch = "wasm32")]
pub use self::hooks_postgrest::{serve_webhook_admin, serve_webhook_dispatch};
#[cfg(target_arch = "wasm32")]
pub use self::postgrest::{serve_dispatch_events, serve_order_events, shutdown_dispatch_events};

#[cfg(test)]
mod held_tests;
#[cfg(test)]
mod hooks_tests;
#[cfg(test)]
mod memory;
#[cfg(test)]
mod tests;
