//! `cancel-order`: cancel a pending or processed order (a processed order releases its stock).
//!
//! `POST /functions/v1/cancel-order` with `{"order_id": <integer>}`, authenticated in code
//! ([`edge_platform::auth`]): a secret key may cancel any order, a signed-in user only their own.
//! Optional `Idempotency-Key`. The flow lives in [`edge_orders::processing`].

edge_platform::edge_function!(
    |req, env| {
        use edge_orders::processing::{serve_order_endpoint, Endpoint};
        serve_order_endpoint(req, env, Endpoint::Cancel)
    },
    max_body = edge_orders::processing::MAX_BODY
);
