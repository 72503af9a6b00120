//! Signed, reliable database webhooks: the dispatcher of the `webhooks` schema
//! (`webhook-dispatch`), its HTTP admin (`webhook-admin`) and the receiver of order events
//! (`order-events`).
//!
//! Stock Supabase database webhooks are unsigned and at most once. Here a trigger writes each
//! change of a subscribed table to `webhooks.events`, with one `webhooks.deliveries` row per
//! matching endpoint, in the writing transaction (see
//! `supabase/migrations/20261204002000_webhooks.sql`; `orders` is subscribed to
//! `fn:order-events` by `20261205000100_orders_via_webhooks.sql`), and:
//!
//! - [`hooks`] claims due deliveries (`FOR UPDATE SKIP LOCKED` with a lease), POSTs each signed
//!   as Standard Webhooks (`webhook-id` = the event's message id, the same on every retry) and
//!   reports every try; the SQL applies the rules (delivered, retried on the schedule, dead,
//!   endpoint disabled). A row's deliveries to one endpoint go one after the other, in order.
//! - [`held`] keeps the claims an instance holds, so that a clean shutdown (SIGTERM, or
//!   edge-runtime's `beforeunload`) gives them back at once instead of after their lease.
//! - [`hooks_admin`] is the HTTP admin, [`hooks_net`] the endpoint URL and address rules.
//! - [`receive`] verifies the signature (or a stock webhook's service_role bearer), deduplicates
//!   on the webhook id and acts: a new order is processed ([`edge_orders::processing::process_order`]),
//!   an order that became `paid` gets a fulfillment.
//! - [`payload`] is the database-webhook payload and the pure decision of what an event means.
//!
//! Storage is behind [`hooks::HookStore`] and [`receive::ReceiverStore`], HTTP and DNS behind
//! [`hooks::HookSender`] and [`hooks::Resolver`], and the clock is injected, so all of it runs in
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

pub mod held;
pub mod hooks;
pub mod hooks_admin;
pub mod hooks_net;
pub mod payload;
pub mod receive;

#[cfg(target_arch = "wasm32")]
mod hooks_fetch;
#[cfg(target_arch = "wasm32")]
mod hooks_postgrest;
#[cfg(target_arch = "wasm32")]
mod postgrest;
#[cfg(target_arch = "wasm32")]
pub use self::hooks_postgrest::{
    serve_webhook_admin, serve_webhook_dispatch, shutdown_webhook_dispatch,
};
#[cfg(target_arch = "wasm32")]
pub use self::postgrest::serve_order_events;

#[cfg(test)]
mod held_tests;
#[cfg(test)]
mod hooks_tests;
#[cfg(test)]
mod memory;
#[cfg(test)]
mod tests;
