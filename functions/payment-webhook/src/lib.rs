//! `payment-webhook`: Stripe-compatible payment events (`verify_jwt = false`).
//!
//! `POST /functions/v1/payment-webhook`, signed with `Stripe-Signature` under
//! `STRIPE_WEBHOOK_SECRET` (several comma-separated while a secret is rolled).
//! `payment_intent.succeeded` pays a processed order, a full `charge.refunded` refunds it; every
//! event id is recorded once. The flow lives in [`edge_orders::payments`].

edge_platform::edge_function!(
    edge_orders::payments::serve_payment_webhook,
    max_body = edge_webhook::DEFAULT_MAX_BODY
);
