//! `webhook-verify`: webhook signature verification for TypeScript, compiled to wasm.
//!
//! A thin layer over [`edge_webhook`]: the wasm exports (`verifyWebhook`,
//! `signWebhook`, `signStripe`, in `bindings`) read a plain options object, call the library and
//! hand back `{ ok: true, ... }` or `{ ok: false, code, message }`. They never throw. The
//! TypeScript types are emitted into the generated `index.d.ts`; `js/mod.js` is the loader
//! (instantiates the wasm synchronously from bytes, never with `fetch`).
//!
//! [`core`] holds everything that does not touch a `JsValue` (validation, result shapes), so
//! it is built and tested natively too.

pub mod core;

#[cfg(target_arch = "wasm32")]
mod bindings;
