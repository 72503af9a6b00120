//! `webhook-dispatch`: deliver database webhooks (schema `webhooks`) to their endpoints, signed
//! as Standard Webhooks, with retries, Retry-After, 410 handling and the address check.
//!
//! `POST /functions/v1/webhook-dispatch` with a secret key (or the legacy service_role key,
//! checked in code) and an optional body `{"batch_size"?, "lanes"?, "budget_ms"?,
//! "max_events"?}`. Called by `scripts/scheduler.ts` on the local stack (on every NOTIFY of
//! channel `webhooks` and every 2 s) and by pg_cron + pg_net on hosted Supabase. Answers
//! `{"claimed", "delivered", "retried", "dead", "released", "disabled", "more",
//! "next_due_ms", ..}`. The flow lives in [`edge_outbox::hooks`]. The only dispatcher: the
//! orders flow is the subscription `public.orders` → `fn:order-events` (signed with the
//! function secret `ORDER_EVENTS_SECRET`).
//!
//! On a clean shutdown (SIGTERM locally, `beforeunload` on edge-runtime) the loader calls the
//! `shutdown` export: the claims in flight are given back at once ([`edge_outbox::held`]), not
//! after their 30 s lease.

edge_platform::edge_function!(
    edge_outbox::serve_webhook_dispatch,
    max_body = edge_outbox::hooks::MAX_BODY,
    shutdown = edge_outbox::shutdown_webhook_dispatch
);
