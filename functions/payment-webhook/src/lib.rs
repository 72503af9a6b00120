//! `payment-webhook`: Stripe-compatible payment events (`verify_jwt = false`).
//!
//! `POST /functions/v1/payment-webhook`, signed with `Stripe-Signature` under
//! `STRIPE_WEBHOOK_SECRET` (several comma-separated while a secret is rolled).
//! `payment_intent.succeeded` pays a processed order, a full `charge.refunded` refunds it; every
//! event id is recorded once. The flow lives in [`edge_shared::payments`].

#[cfg(target_arch = "wasm32")]
use wasm_bindgen::prelude::*;

/// The edge function's entry point, called by `supabase/functions/payment-webhook/index.ts`.
#[cfg(target_arch = "wasm32")]
#[wasm_bindgen]
pub async fn handle(req: web_sys::Request, env: JsValue) -> web_sys::Response {
    edge_shared::edge::serve(req, env, edge_shared::payments::serve_payment_webhook).await
}
