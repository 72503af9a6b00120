//! `cancel-order`: cancel a pending or processed order (a processed order releases its stock).
//!
//! `POST /functions/v1/cancel-order` with `{"order_id": <integer>}`, authenticated in code
//! ([`edge_shared::auth`]): a secret key may cancel any order, a signed-in user only their own.
//! Optional `Idempotency-Key`. The flow lives in [`edge_shared::processing`].

#[cfg(target_arch = "wasm32")]
use wasm_bindgen::prelude::*;

/// The edge function's entry point, called by `supabase/functions/cancel-order/index.ts`.
#[cfg(target_arch = "wasm32")]
#[wasm_bindgen]
pub async fn handle(req: web_sys::Request, env: JsValue) -> web_sys::Response {
    use edge_shared::processing::{serve_order_endpoint, Endpoint};
    edge_shared::edge::serve(req, env, |req, env| {
        serve_order_endpoint(req, env, Endpoint::Cancel)
    })
    .await
}
