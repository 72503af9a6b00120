//! [`OrderStore`] and [`IdempotencyStore`] over PostgREST, with `postgrest-rs`.
//!
//! Reads forward the caller's JWT, so the database decides what the caller may see (RLS and
//! the RPC's own check). Writes use the service_role key: they go only through RPCs granted to
//! service_role alone, which check the expected state before applying anything.

use postgrest::Postgrest;
use serde::de::DeserializeOwned;
use serde_json::{json, Value};

use super::{
    ApplyOutcome, ApplyProcessing, IdempotencyBegin, IdempotencyStore, OrderSnapshot, OrderStore,
};
use crate::http::Caller;
use crate::order::Transition;
use crate::{Error, Result};

/// The database API of a Supabase project.
pub struct PostgrestStore {
    client: Postgrest,
    service_role_key: String,
}

impl PostgrestStore {
    /// From the function env: `SUPABASE_URL`, `SUPABASE_ANON_KEY`, `SUPABASE_SERVICE_ROLE_KEY`.
    pub fn from_env(env: &crate::edge::Env) -> Result<Self> {
        let url = env.require("SUPABASE_URL")?;
        let anon = env.require("SUPABASE_ANON_KEY")?;
        let service_role_key = env.require("SUPABASE_SERVICE_ROLE_KEY")?.to_owned();
        let client = Postgrest::new(format!("{}/rest/v1", url.trim_end_matches('/')))
            .insert_header("apikey", anon);
        Ok(Self {
            client,
            service_role_key,
        })
    }

    /// Call an RPC with `token` and decode its JSON answer.
    ///
    /// Null-valued parameters are left out, so the SQL default (null) applies: postrust passes
    /// a JSON `null` argument as an empty string, which fails for `uuid` and numeric types.
    pub async fn rpc<T: DeserializeOwned>(
        &self,
        function: &str,
        params: &Value,
        token: &str,
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
        let resp = self
            .client
            .rpc(function, params.to_string())
            .auth(token)
            .execute()
            .await
            .map_err(|e| Error::Unavailable(format!("rpc {function}: {e}")))?;
        let status = resp.status().as_u16();
        let text = resp
            .text()
            .await
            .map_err(|e| Error::Unavailable(format!("rpc {function} body: {e}")))?;
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

    /// Call an RPC with the service_role key.
    pub async fn rpc_service<T: DeserializeOwned>(
        &self,
        function: &str,
        params: &Value,
    ) -> Result<T> {
        self.rpc(function, params, &self.service_role_key).await
    }
}

impl OrderStore for PostgrestStore {
    async fn order_for_processing(
        &self,
        caller: &Caller,
        order_id: i64,
    ) -> Result<Option<OrderSnapshot>> {
        self.rpc(
            "order_for_processing",
            &json!({ "order_id": order_id }),
            &caller.token,
        )
        .await
    }

    async fn apply_processing(&self, apply: &ApplyProcessing<'_>) -> Result<ApplyOutcome> {
        self.rpc_service("apply_order_processing", &Value::Object(apply.rpc_params()))
            .await
    }

    async fn apply_transition(&self, t: &Transition, actor: Option<&str>) -> Result<ApplyOutcome> {
        let params = json!({
            "order_id": t.order_id, "from_status": t.from.as_str(), "to_status": t.to.as_str(), "actor": actor,
        });
        self.rpc_service("order_transition", &params).await
    }
}

impl IdempotencyStore for PostgrestStore {
    async fn idempotency_begin(
        &self,
        scope: &str,
        endpoint: &str,
        key: &str,
        request_hash: &str,
    ) -> Result<IdempotencyBegin> {
        let params =
            json!({"scope": scope, "endpoint": endpoint, "key": key, "request_hash": request_hash});
        self.rpc_service("idempotency_begin", &params).await
    }

    async fn idempotency_finish(
        &self,
        scope: &str,
        endpoint: &str,
        key: &str,
        status: u16,
        body: &str,
        store: bool,
    ) -> Result<()> {
        let params = json!({"scope": scope, "endpoint": endpoint, "key": key,
            "response_status": status, "response_text": body, "store": store});
        let _: Value = self.rpc_service("idempotency_finish", &params).await?;
        Ok(())
    }
}
