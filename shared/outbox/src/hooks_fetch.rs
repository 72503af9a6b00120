//! The webhook dispatcher's HTTP and DNS on wasm32, through the host's globals: `fetch` with
//! `redirect: "manual"` (a redirect is the endpoint's answer, never followed to another host)
//! and `AbortSignal.timeout` (covering the body too), the body read with a stream reader up to
//! a cap and then cancelled; and `Deno.resolveDns` for the address check.

use std::net::IpAddr;

use js_sys::{Array, Function, Object, Reflect, Uint8Array};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;

use super::hooks::{HookRequest, HookResponse, HookSender, Resolver};

fn get(target: &JsValue, key: &str) -> JsValue {
    Reflect::get(target, &JsValue::from_str(key)).unwrap_or(JsValue::UNDEFINED)
}

fn set(target: &Object, key: &str, value: &JsValue) {
    let _ = Reflect::set(target, &JsValue::from_str(key), value);
}

fn method(target: &JsValue, name: &str) -> Option<Function> {
    get(target, name).dyn_into::<Function>().ok()
}

/// An error's `name` and `message`.
fn describe(e: &JsValue) -> (String, String) {
    let name = get(e, "name").as_string().unwrap_or_default();
    let message = get(e, "message")
        .as_string()
        .or_else(|| e.as_string())
        .unwrap_or_else(|| "unknown error".into());
    (name, message)
}

/// POSTs with the global `fetch`.
pub(crate) struct JsFetchSender;

impl JsFetchSender {
    async fn exchange(req: &HookRequest) -> Result<HookResponse, JsValue> {
        let global = js_sys::global();
        let fetch = method(&global, "fetch").ok_or_else(|| JsValue::from_str("no fetch"))?;
        let headers = Object::new();
        for (name, value) in &req.headers {
            set(&headers, name, &JsValue::from_str(value));
        }
        let init = Object::new();
        set(&init, "method", &JsValue::from_str("POST"));
        set(&init, "headers", &headers);
        set(&init, "body", &Uint8Array::from(req.body.as_slice()));
        set(&init, "redirect", &JsValue::from_str("manual"));
        let abort_signal = get(&global, "AbortSignal");
        if let Some(timeout) = method(&abort_signal, "timeout") {
            let signal = timeout.call1(&abort_signal, &JsValue::from(req.timeout_ms))?;
            set(&init, "signal", &signal);
        }
        let promise = fetch.call2(&global, &JsValue::from_str(&req.url), &init)?;
        let resp = JsFuture::from(js_sys::Promise::from(promise)).await?;
        let status = get(&resp, "status").as_f64().unwrap_or(0.0) as u16;
        let resp_headers = get(&resp, "headers");
        let retry_after = method(&resp_headers, "get")
            .and_then(|g| {
                g.call1(&resp_headers, &JsValue::from_str("retry-after"))
                    .ok()
            })
            .and_then(|v| v.as_string());
        let mut body = Vec::new();
        let stream = get(&resp, "body");
        if let Some(get_reader) = method(&stream, "getReader") {
            let reader = get_reader.call0(&stream)?;
            let read = method(&reader, "read").ok_or_else(|| JsValue::from_str("no read"))?;
            while body.len() < req.max_response_bytes {
                let chunk = JsFuture::from(js_sys::Promise::from(read.call0(&reader)?)).await?;
                if get(&chunk, "done").as_bool() == Some(true) {
                    break;
                }
                let bytes = Uint8Array::new(&get(&chunk, "value")).to_vec();
                let room = req.max_response_bytes - body.len();
                body.extend_from_slice(&bytes[..bytes.len().min(room)]);
            }
            // The rest is not read: cancel the stream (the connection is released).
            if let Some(cancel) = method(&reader, "cancel") {
                if let Ok(p) = cancel.call0(&reader) {
                    let _ = JsFuture::from(js_sys::Promise::from(p)).await;
                }
            }
        }
        Ok(HookResponse::Answered {
            status,
            body: String::from_utf8_lossy(&body).into_owned(),
            retry_after,
        })
    }
}

impl HookSender for JsFetchSender {
    async fn send(&self, req: HookRequest) -> HookResponse {
        match Self::exchange(&req).await {
            Ok(r) => r,
            Err(e) => match describe(&e) {
                (name, _) if name == "TimeoutError" || name == "AbortError" => {
                    HookResponse::TimedOut
                }
                (_, message) => HookResponse::Failed(message),
            },
        }
    }
}

/// `Deno.resolveDns(host, "A")` and `"AAAA"`.
pub(crate) struct DenoResolver;

impl Resolver for DenoResolver {
    async fn resolve(&self, host: &str) -> Result<Vec<IpAddr>, String> {
        let deno = get(&js_sys::global(), "Deno");
        let resolve = method(&deno, "resolveDns")
            .ok_or_else(|| "Deno.resolveDns is not available here".to_owned())?;
        let mut addrs = Vec::new();
        let mut errors = Vec::new();
        for kind in ["A", "AAAA"] {
            let call = resolve
                .call2(&deno, &JsValue::from_str(host), &JsValue::from_str(kind))
                .map_err(|e| describe(&e).1)?;
            match JsFuture::from(js_sys::Promise::from(call)).await {
                Ok(list) => {
                    for v in Array::from(&list).iter() {
                        if let Some(a) = v.as_string().and_then(|s| s.parse().ok()) {
                            addrs.push(a);
                        }
                    }
                }
                // No record of this kind.
                Err(e) if describe(&e).0 == "NotFound" => {}
                Err(e) => errors.push(describe(&e).1),
            }
        }
        if addrs.is_empty() && !errors.is_empty() {
            return Err(errors.join("; "));
        }
        Ok(addrs)
    }
}
