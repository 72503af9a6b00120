//! # edge-platform
//!
//! What every edge function of this bundle stands on, free of any order or outbox code:
//!
//! - [`error`]: one error enum; each variant knows its HTTP status and JSON shape.
//! - [`http`]: the request/response types handlers see, free of any JS type.
//! - [`auth`]: who is calling: secret and publishable keys, user JWTs verified against the
//!   project's JWKS (ES256/RS256) or the legacy HS256 secret; the keys of outgoing REST calls.
//! - `rest` (wasm32): the one PostgREST client every store goes through.
//! - `edge` (wasm32): the wasm boundary. It turns a `web_sys::Request` into an
//!   [`http::Request`], builds the handler's `Ctx`, runs the handler and turns its
//!   `Result<`[`http::Response`]`>` (an error as its JSON response, [`http::respond`]) into a
//!   `web_sys::Response`.
//! - [`edge_function!`]: a function crate's whole code, one macro call naming its handler.
//!
//! The domain lives beside it: `edge-webhook` (signature schemes, standalone), `edge-orders`
//! (money, pricing, the state machine, payments, processing) and `edge-outbox` (database
//! webhooks: dispatch, admin, receive).

pub mod auth;
pub mod error;
pub mod http;

#[cfg(target_arch = "wasm32")]
pub mod edge;
#[cfg(target_arch = "wasm32")]
pub mod rest;

pub use error::{Error, Result};

/// Exports an edge function from its crate, in one line:
///
/// ```ignore
/// edge_platform::edge_function!(edge_orders::payments::serve_payment_webhook, max_body = 256 * 1024);
/// ```
///
/// The handler is an `async fn(http::Request, edge::Ctx) -> Result<http::Response>`: it returns
/// its errors, and [`edge::serve`] turns them into responses ([`http::respond`]).
///
/// On wasm32 this generates the two exports the shared Deno loader
/// (`supabase/functions/_shared/serve_wasm.ts`) calls: `handle(req, env)`, which runs the
/// handler through [`edge::serve`], and `max_body_bytes()`, the largest body the function takes
/// (the loader answers 413 to a bigger one before reading it). Natively it expands to nothing.
///
/// A function that must clean up when its process is told to stop names an
/// `async fn(edge::Ctx)` as `shutdown`:
///
/// ```ignore
/// edge_platform::edge_function!(
///     edge_outbox::serve_webhook_dispatch,
///     max_body = 4 * 1024,
///     shutdown = edge_outbox::shutdown_webhook_dispatch
/// );
/// ```
///
/// That adds a third export, `shutdown(env)`, which the loader calls once on SIGTERM (then
/// exits) and on edge-runtime's `beforeunload`, and waits for at most 2 s. Functions without it
/// keep the runtime's default behaviour.
#[macro_export]
macro_rules! edge_function {
    ($handler:expr, max_body = $max:expr, shutdown = $shutdown:expr $(,)?) => {
        $crate::edge_function!($handler, max_body = $max);

        /// Called by the shared Deno loader when the process is told to stop (SIGTERM) or the
        /// worker is about to be torn down (`beforeunload`); bounded there to a short timeout.
        #[cfg(target_arch = "wasm32")]
        #[wasm_bindgen::prelude::wasm_bindgen]
        pub async fn shutdown(env: wasm_bindgen::JsValue) {
            $crate::edge::shutdown(env, $shutdown).await
        }
    };
    ($handler:expr, max_body = $max:expr $(,)?) => {
        /// The edge function's entry point, called through the shared Deno loader.
        #[cfg(target_arch = "wasm32")]
        #[wasm_bindgen::prelude::wasm_bindgen]
        /// `body`: the request body the loader already read (within `max_body_bytes`), so it
        /// crosses into wasm once; without it the body is read from `req`.
        pub async fn handle(
            req: web_sys::Request,
            env: wasm_bindgen::JsValue,
            body: Option<Vec<u8>>,
        ) -> web_sys::Response {
            $crate::edge::serve_with_body(req, env, body, $handler).await
        }

        /// The largest request body (bytes) this function accepts.
        #[cfg(target_arch = "wasm32")]
        #[wasm_bindgen::prelude::wasm_bindgen]
        pub fn max_body_bytes() -> u32 {
            const MAX: usize = $max;
            MAX as u32
        }
    };
}
