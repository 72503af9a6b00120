//! `order-events`: the receiver of database webhooks on `orders`.
//!
//! `POST /functions/v1/order-events` (`verify_jwt = false`) with a Supabase database-webhook
//! payload, signed as Standard Webhooks with `ORDER_EVENTS_SECRET` (what `webhook-dispatch`
//! sends for the subscription `orders` → `fn:order-events`), or unsigned with a secret key
//! (`apikey: sb_secret_…`) or the legacy `Authorization: Bearer <service_role key>` (a stock
//! database webhook). A new order is processed, an order that became `paid` gets a fulfillment; every
//! event is acted on once. The flow lives in [`edge_outbox::receive`].

edge_platform::edge_function!(
    edge_outbox::serve_order_events,
    max_body = edge_webhook::DEFAULT_MAX_BODY
);
