//! `dispatch-events`: deliver due `event_outbox` events, signed as Standard Webhooks, to their
//! target functions, with retries, backoff and dead letters.
//!
//! `POST /functions/v1/dispatch-events` with a secret key (or the legacy service_role key,
//! checked in code by [`edge_platform::auth`]) and an
//! optional body `{"batch_size"?, "lanes"?, "budget_ms"?, "max_events"?}`. Called by
//! `scripts/scheduler.ts` on the local stack (on every outbox NOTIFY and every 2 s) and by
//! pg_cron + pg_net on hosted Supabase. Answers `{"claimed", "delivered", "retried", "dead",
//! "released", "more", "next_due_ms", ..}`. The flow lives in [`edge_outbox::dispatch`].
//!
//! On a clean shutdown (SIGTERM locally, `beforeunload` on edge-runtime) the loader calls the
//! `shutdown` export: the claims in flight are given back at once
//! ([`edge_outbox::held`]), not after their 10 s lease.

edge_platform::edge_function!(
    edge_outbox::serve_dispatch_events,
    max_body = edge_outbox::dispatch::MAX_BODY,
    shutdown = edge_outbox::shutdown_dispatch_events
);
