//! The one PostgREST client of every store, with `postgrest-rs`: the keys, the caller, one
//! `rpc` call and its error mapping. The stores' traits live next to the flows that use them
//! (`edge_orders::store`, `edge_outbox`), each implemented for [`PostgrestStore`] there.
//!
//! Reads forward a user's JWT (with the publishable or anon key as `apikey`), so the database
//! decides what the user may see (RLS and the RPC's own check). Everything else uses the service
//! key ([`RestKeys`]): the secret key as `apikey` alone when the env has one (the gateway turns
//! it into the service_role for the REST server), the legacy service_role JWT otherwise. Writes
//! go only through RPCs granted to service_role alone, which check the expected state before
//! applying anything.

use postgrest::Postgrest;
use serde::de::DeserializeOwned;
use serde_json::Value;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;

use crate::auth::{Caller, RestKeys, ServiceKey};
use crate::{Error, Result};

/// The database API of a Supabase project.
pub struct PostgrestStore {
    /// Service calls: the service key's headers are on every request.
    service: Postgrest,
    /// Calls for a user: `apikey` is the publishable (or anon) key, the bearer the user's JWT.
    public: Option<Postgrest>,
}

impl PostgrestStore {
    /// From the function env: `SUPABASE_URL` and the keys of [`RestKeys::from_env`].
    pub fn from_env(env: &crate::edge::Env) -> Result<Self> {
        let url = env.require("SUPABASE_URL")?;
        Ok(Self::new(url, &RestKeys::from_env(|name| env.get(name))?))
    }

    /// A store talking to `{url}/rest/v1` with `keys`.
    pub fn new(url: &str, keys: &RestKeys) -> Self {
        let base = format!("{}/rest/v1", url.trim_end_matches('/'));
        let service = match &keys.service {
            ServiceKey::Secret(key) => Postgrest::new(&base).insert_header("apikey", key),
            ServiceKey::LegacyJwt(jwt) => Postgrest::new(&base)
                .insert_header("apikey", jwt)
                .insert_header("Authorization", format!("Bearer {jwt}")),
        };
        let public = keys
            .public
            .as_ref()
            .map(|key| Postgrest::new(&base).insert_header("apikey", key));
        Self { service, public }
    }

    /// Call an RPC as `caller` and decode its JSON answer: a user's JWT is forwarded with the
    /// publishable key, the public caller sends that key alone, the service role its key.
    ///
    /// Null-valued parameters are left out, so the SQL default (null) applies: postrust passes
    /// a JSON `null` argument as an empty string, which fails for `uuid` and numeric types.
    pub async fn rpc<T: DeserializeOwned>(
        &self,
        function: &str,
        params: &Value,
        caller: &Caller,
    ) -> Result<T> {
        let params = match params {
            Value::Object(map) => Value::Object(
                map.iter()
                    .filter(|(_, v)| !v.is_null())
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect(),
            ),
            other => other.clone(),
        };
        let request = self
            .client_for(caller)?
            .rpc(function, params.to_string())
            .auth_as(caller)
            .build()
            .build();
        self.answer(function, request).await
    }

    /// Call a read-only (`stable`) RPC with `GET /rpc/<function>?<query>` as `caller`: the REST
    /// server runs it in a read-only transaction, and the request has no body to stream
    /// through the gateway and parse (a POST's JSON). Same keys and errors as [`Self::rpc`].
    pub async fn rpc_get<T: DeserializeOwned>(
        &self,
        function: &str,
        query: &[(&str, &str)],
        caller: &Caller,
    ) -> Result<T> {
        let request = self
            .client_for(caller)?
            .from(format!("rpc/{function}"))
            .auth_as(caller)
            .build()
            .query(query)
            .build();
        self.answer(function, request).await
    }

    /// The client whose headers act for `caller`.
    fn client_for(&self, caller: &Caller) -> Result<&Postgrest> {
        match (caller, &self.public) {
            (Caller::User(_) | Caller::Public, Some(public)) => Ok(public),
            (Caller::User(_) | Caller::Public, None) => Err(Error::Internal(
                "neither SUPABASE_PUBLISHABLE_KEYS nor SUPABASE_ANON_KEY is set".into(),
            )),
            (Caller::ServiceRole, _) => Ok(&self.service),
        }
    }

    /// Send an RPC request and decode its JSON answer (a 2xx) or name its failure.
    async fn answer<T: DeserializeOwned>(
        &self,
        function: &str,
        request: reqwest::Result<reqwest::Request>,
    ) -> Result<T> {
        let request = request.map_err(|e| Error::Internal(format!("rpc {function}: {e}")))?;
        let (status, text) = send(&request)
            .await
            .map_err(|e| Error::Unavailable(format!("rpc {function}: {e}")))?;
        if !(200..300).contains(&status) {
            return Err(Error::Upstream(format!(
                "rpc {function} answered {status}: {text}"
            )));
        }
        let text = if text.trim().is_empty() {
            "null"
        } else {
            text.as_str()
        }; // void RPCs: 204
        serde_json::from_str(text).map_err(|e| {
            Error::Upstream(format!(
                "rpc {function} returned unexpected JSON ({e}): {text}"
            ))
        })
    }

    /// Call an RPC with the service key.
    pub async fn rpc_service<T: DeserializeOwned>(
        &self,
        function: &str,
        params: &Value,
    ) -> Result<T> {
        self.rpc(function, params, &Caller::ServiceRole).await
    }
}

/// A user's JWT as the bearer of a request (other callers: the client's own headers).
trait AuthAs {
    fn auth_as(self, caller: &Caller) -> Self;
}

impl AuthAs for postgrest::Builder {
    fn auth_as(self, caller: &Caller) -> Self {
        match caller {
            Caller::User(user) => self.auth(&user.token),
            Caller::Public | Caller::ServiceRole => self,
        }
    }
}

#[wasm_bindgen::prelude::wasm_bindgen]
extern "C" {
    /// The runtime's `fetch` (Deno, edge-runtime, browsers: a global).
    #[wasm_bindgen(js_name = fetch)]
    fn global_fetch(input: &web_sys::Request) -> js_sys::Promise;
}

/// Send a request postgrest-rs built, with the runtime's `fetch`: its status and body text.
/// (reqwest's wasm `execute` aborts an `AbortController` after every response, which costs a
/// `DOMException` with its stack trace per call; measured with the V8 profiler under load.)
async fn send(request: &reqwest::Request) -> std::result::Result<(u16, String), String> {
    let js = |e: JsValue| {
        e.dyn_ref::<js_sys::Error>()
            .map(|e| String::from(e.message()))
            .unwrap_or_else(|| format!("{e:?}"))
    };
    let headers = web_sys::Headers::new().map_err(js)?;
    for (name, value) in request.headers() {
        let value = value.to_str().map_err(|e| e.to_string())?;
        headers.append(name.as_str(), value).map_err(js)?;
    }
    let init = web_sys::RequestInit::new();
    init.set_method(request.method().as_str());
    init.set_headers(&headers);
    // postgrest-rs gives every request a body, an empty one on a GET, which fetch refuses.
    let body = request.body().and_then(|b| b.as_bytes());
    if let Some(body) = body.filter(|_| request.method() != reqwest::Method::GET) {
        let text = std::str::from_utf8(body).map_err(|e| e.to_string())?;
        init.set_body(&JsValue::from_str(text));
    }
    let req = web_sys::Request::new_with_str_and_init(request.url().as_str(), &init).map_err(js)?;
    let resp: web_sys::Response = JsFuture::from(global_fetch(&req))
        .await
        .map_err(js)?
        .dyn_into()
        .map_err(js)?;
    let status = resp.status();
    let text = JsFuture::from(resp.text().map_err(js)?)
        .await
        .map_err(js)?
        .as_string()
        .unwrap_or_default();
    Ok((status, text))
}
