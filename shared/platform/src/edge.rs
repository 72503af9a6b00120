//! The wasm boundary, written once for every function (wasm32 only).
//!
//! A function crate exports one handler:
//!
//! ```ignore
//! #[wasm_bindgen]
//! pub async fn handle(req: web_sys::Request, env: JsValue) -> web_sys::Response {
//!     edge_platform::edge::serve(req, env, my_handler).await
//! }
//!
//! async fn my_handler(req: Request, ctx: Ctx) -> Result<Response> { .. }
//! ```
//!
//! [`serve`] turns the `web_sys::Request` into an [`http::Request`](crate::http::Request) (body
//! read as raw bytes, never parsed here), reads the env object the Deno wrapper passed into a
//! [`Ctx`] (env, the caller, the store, the clock), runs the handler and turns its response back into a `web_sys::Response`.
//! The caller is authenticated here, at most once per request, when the handler first asks for
//! it ([`Ctx::caller`]): handlers never authenticate themselves, and a function that never asks
//! (a webhook judged by its signature) neither pays for nor links the JWT checks. Handlers return
//! `Result<Response>`: every `Err`, the boundary's own included, becomes its JSON error response
//! here, once ([`crate::http::respond`]), never a JS exception. A Rust panic aborts the wasm
//! instance: the panic hook logs it, and the Deno loader answers 500 and loads a fresh instance.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Once;

use js_sys::Uint8Array;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;

use crate::http::{Caller, Request, Response};
use crate::{Error, Result};

/// The function's environment, as the wrapper passed it (`Deno.env.toObject()`).
#[derive(Clone, Default)]
pub struct Env(std::rc::Rc<HashMap<String, String>>);

impl Env {
    /// The value of `name`, if set and non-empty.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    /// The value of `name`, or a 500 that logs which variable is missing (never its value).
    pub fn require(&self, name: &str) -> Result<&str> {
        self.get(name)
            .ok_or_else(|| Error::Internal(format!("environment variable {name} is not set")))
    }
}

impl std::fmt::Debug for Env {
    // Values are secrets: show names only.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set().entries(self.0.keys()).finish()
    }
}

/// The clock of every function: `js_sys::Date` (wasm32 has no `SystemTime`), in Unix ms.
pub fn now_ms() -> i64 {
    js_sys::Date::now() as i64
}

/// What a handler has besides its request: the env, the authenticated caller, what is built
/// from the env, and the clock. Cheap to clone (the env is shared).
#[derive(Clone, Debug)]
pub struct Ctx {
    env: Env,
    credentials: std::rc::Rc<Credentials>,
}

/// The request's credential headers and, once asked for, the caller they authenticate.
#[derive(Debug, Default)]
struct Credentials {
    headers: ::http::HeaderMap,
    caller: std::cell::OnceCell<Result<Caller>>,
}

/// The headers [`crate::auth::AuthConfig::authenticate`] reads.
const CREDENTIAL_HEADERS: [&str; 2] = ["apikey", "authorization"];

impl Ctx {
    /// The function's environment.
    pub fn env(&self) -> &Env {
        &self.env
    }

    /// The request's caller, as the boundary authenticated it from the request's `apikey` and
    /// `Authorization` headers ([`crate::auth::AuthConfig::authenticate`], with the instance's
    /// keys): the 401 of a bad credential, or a 500 when the keys are missing or invalid. Read
    /// it where the handler needs a caller (after its own method and body checks); a handler
    /// that authenticates by other means (a webhook signature) never reads it.
    pub fn caller(&self) -> Result<Caller> {
        let c = &self.credentials;
        c.caller
            .get_or_init(|| {
                crate::auth::config(&self.env)
                    .and_then(|auth| auth.authenticate(&c.headers, now_ms().div_euclid(1000)))
            })
            .clone()
    }

    /// The PostgREST store ([`PostgrestStore::from_env`](crate::rest::PostgrestStore::from_env)).
    pub fn store(&self) -> Result<crate::rest::PostgrestStore> {
        crate::rest::PostgrestStore::from_env(&self.env)
    }

    /// Now, in Unix milliseconds ([`now_ms`]).
    pub fn now_ms(&self) -> i64 {
        now_ms()
    }

    /// Now, in Unix seconds (what signatures and tokens are judged by).
    pub fn now_unix(&self) -> i64 {
        now_ms().div_euclid(1000)
    }
}

static PANIC_HOOK: Once = Once::new();

fn install_panic_hook() {
    PANIC_HOOK.call_once(|| {
        std::panic::set_hook(Box::new(|info| {
            web_sys::console::error_1(&format!("rust panic: {info}").into());
        }))
    });
}

/// Run `handler` for a JS request and return a JS response.
pub async fn serve<F, Fut>(req: web_sys::Request, env: JsValue, handler: F) -> web_sys::Response
where
    F: FnOnce(Request, Ctx) -> Fut,
    Fut: Future<Output = Result<Response>>,
{
    serve_with_body(req, env, None, handler).await
}

/// [`serve`] with the body already read by the loader (`None`: read it from `req`).
pub async fn serve_with_body<F, Fut>(
    req: web_sys::Request,
    env: JsValue,
    body: Option<Vec<u8>>,
    handler: F,
) -> web_sys::Response
where
    F: FnOnce(Request, Ctx) -> Fut,
    Fut: Future<Output = Result<Response>>,
{
    install_panic_hook();
    let result = async {
        let req = to_http_request(&req, body).await?;
        let mut headers = ::http::HeaderMap::new();
        for name in CREDENTIAL_HEADERS {
            for value in req.headers().get_all(name) {
                headers.append(name, value.clone());
            }
        }
        let credentials = std::rc::Rc::new(Credentials {
            headers,
            caller: Default::default(),
        });
        let env = to_env(env)?;
        handler(req, Ctx { env, credentials }).await
    };
    to_web_response(crate::http::respond(result.await))
}

/// Run a function's shutdown hook (its `shutdown` export, see [`crate::edge_function!`]) with
/// the env the wrapper passed. Never throws: a bad env is logged.
pub async fn shutdown<F, Fut>(env: JsValue, hook: F)
where
    F: FnOnce(Ctx) -> Fut,
    Fut: Future<Output = ()>,
{
    install_panic_hook();
    match to_env(env) {
        Ok(env) => {
            // No request, no credentials: a hook that asked would get the 401 of no key.
            let credentials = Default::default();
            hook(Ctx { env, credentials }).await
        }
        Err(e) => crate::http::log_error(&format!("shutdown: {e}")),
    }
}

thread_local! {
    /// The env is a snapshot the wrapper takes once (`Deno.env.toObject()` at start-up), so it
    /// is converted once per instance, not on every request.
    static ENV: std::cell::RefCell<Option<Env>> = const { std::cell::RefCell::new(None) };
}

fn to_env(env: JsValue) -> Result<Env> {
    if let Some(cached) = ENV.with(|e| e.borrow().clone()) {
        return Ok(cached);
    }
    let converted = serde_wasm_bindgen::from_value(env)
        .map(|map| Env(std::rc::Rc::new(map)))
        .map_err(|e| Error::Internal(format!("env is not an object of strings: {e}")))?;
    ENV.with(|e| *e.borrow_mut() = Some(converted.clone()));
    Ok(converted)
}

async fn to_http_request(req: &web_sys::Request, body: Option<Vec<u8>>) -> Result<Request> {
    let mut builder = ::http::Request::builder()
        .method(req.method().as_str())
        .uri(req.url());
    let entries = js_sys::try_iter(&req.headers())
        .map_err(|_| Error::Internal("request headers are not iterable".into()))?
        .ok_or_else(|| Error::Internal("request headers are not iterable".into()))?;
    for entry in entries {
        let pair: js_sys::Array = entry
            .map_err(|_| Error::Internal("bad header entry".into()))?
            .into();
        if let (Some(name), Some(value)) = (pair.get(0).as_string(), pair.get(1).as_string()) {
            builder = builder.header(name, value);
        }
    }
    let body = match body {
        Some(read) => read,
        None => match req.array_buffer() {
            Ok(promise) => {
                let buf = JsFuture::from(promise).await.map_err(|_| {
                    Error::bad_request("unreadable_body", "the request body could not be read")
                })?;
                Uint8Array::new(&buf).to_vec()
            }
            Err(_) => Vec::new(),
        },
    };
    builder
        .body(body)
        .map_err(|e| Error::bad_request("invalid_request", format!("invalid request: {e}")))
}

fn to_web_response(resp: Response) -> web_sys::Response {
    let (parts, mut body) = resp.into_parts();
    let init = web_sys::ResponseInit::new();
    init.set_status(parts.status.as_u16());
    if let Ok(headers) = web_sys::Headers::new() {
        for (name, value) in &parts.headers {
            if let Ok(v) = value.to_str() {
                let _ = headers.append(name.as_str(), v);
            }
        }
        init.set_headers(&headers);
    }
    let body = if body.is_empty() {
        None
    } else {
        Some(body.as_mut_slice())
    };
    web_sys::Response::new_with_opt_u8_array_and_init(body, &init)
        .unwrap_or_else(|_| web_sys::Response::error())
}
