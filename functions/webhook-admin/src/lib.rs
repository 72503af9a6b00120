//! `webhook-admin`: the database webhooks' SQL API over HTTP (subscriptions, endpoints,
//! secrets, replay, requeue, listings), for a secret key (or the legacy service_role key) only.
//! `POST {"action", "args"}`; see [`edge_outbox::hooks_admin`].

edge_platform::edge_function!(
    edge_outbox::serve_webhook_admin,
    max_body = edge_outbox::hooks_admin::MAX_BODY
);
