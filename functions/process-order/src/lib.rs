//! `process-order`: price a pending order and process it, exactly once.
//!
//! `POST /functions/v1/process-order` with `{"order_id": <integer>}`, authenticated in code
//! ([`edge_shared::auth`]): a secret key may process any order, a signed-in user only their own.
//! Optional `Idempotency-Key`. The flow lives in [`edge_shared::processing`].

#[cfg(target_arch = "wasm32")]
use wasm_bindgen::prelude::*;

/// The edge function's entry point, called by `supabase/functions/process-order/index.ts`.
#[cfg(target_arch = "wasm32")]
#[wasm_bindgen]
pub async fn handle(req: web_sys::Request, env: JsValue) -> web_sys::Response {
    use edge_shared::processing::{serve_order_endpoint, Endpoint};
    edge_shared::edge::serve(req, env, |req, env| {
        serve_order_endpoint(req, env, Endpoint::Process)
    })
    .await
}
