//! The dispatcher's [`Sender`] on wasm32: `reqwest` (which is `fetch` on wasm) raced against a
//! `setTimeout` timer. When the timer wins, the request future is dropped, and reqwest's abort
//! guard aborts the `fetch` (AbortController), so a hung receiver costs nothing past the timeout.

use futures_util::future::{select, Either};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;

use super::dispatch::{PostResult, Sender};

/// POSTs with `fetch`.
#[derive(Default)]
pub(crate) struct FetchSender {
    client: reqwest::Client,
}

/// Resolves after `ms` milliseconds (the global `setTimeout`, which Deno and browsers have).
fn sleep(ms: u32) -> JsFuture {
    let promise = js_sys::Promise::new(&mut |resolve, _reject| {
        let global = js_sys::global();
        let set_timeout = js_sys::Reflect::get(&global, &JsValue::from_str("setTimeout"))
            .ok()
            .and_then(|f| f.dyn_into::<js_sys::Function>().ok());
        if let Some(set_timeout) = set_timeout {
            let _ = set_timeout.call2(&global, &resolve, &JsValue::from(ms));
        }
    });
    JsFuture::from(promise)
}

impl Sender for FetchSender {
    async fn post(
        &self,
        url: &str,
        headers: &[(&'static str, String)],
        body: Vec<u8>,
        timeout_ms: u32,
    ) -> PostResult {
        let mut request = self.client.post(url).body(body);
        for (name, value) in headers {
            request = request.header(*name, value.as_str());
        }
        let exchange = async move {
            let resp = request.send().await?;
            let status = resp.status().as_u16();
            let text = resp.text().await?;
            Ok::<_, reqwest::Error>((status, text))
        };
        let exchange = std::pin::pin!(exchange);
        match select(exchange, sleep(timeout_ms)).await {
            Either::Left((Ok((status, body)), _)) => PostResult::Answered { status, body },
            Either::Left((Err(e), _)) => PostResult::Failed(e.to_string()),
            Either::Right(_) => PostResult::TimedOut,
        }
    }
}
