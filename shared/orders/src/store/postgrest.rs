//! [`OrderStore`] and [`IdempotencyStore`] over PostgREST, through the platform's one client
//! ([`PostgrestStore`]). Parameters are the derived structs of [`super`], serialized.

use edge_platform::http::Caller;
use edge_platform::rest::PostgrestStore;
use edge_platform::{Error, Result};
use serde::Serialize;
use serde_json::{json, Value};

use super::{
    ApplyOutcome, ApplyProcessing, Begin, IdempotencyStore, KeyedRequest, OrderSnapshot,
    OrderStore, TransitionParams,
};

fn params<P: Serialize>(p: &P) -> Result<Value> {
    serde_json::to_value(p).map_err(|e| Error::Internal(format!("rpc parameters: {e}")))
}

/// `begin_order_request`'s parameters.
#[derive(Serialize)]
struct BeginParams<'a> {
    order_id: i64,
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    key: Option<&'a KeyedRequest<'a>>,
}

impl OrderStore for PostgrestStore {
    /// `GET /rpc/order_for_processing?order_id=..` (a `stable` function): a read-only
    /// transaction, and no request body for the gateway and the REST server to stream and parse.
    async fn order_for_processing(
        &self,
        caller: &Caller,
        order_id: i64,
    ) -> Result<Option<OrderSnapshot>> {
        let id = order_id.to_string();
        self.rpc_get("order_for_processing", &[("order_id", &id)], caller)
            .await
    }

    /// Without a key, the read alone (`order_for_processing`, by GET: what
    /// `begin_order_request` does for an unkeyed request, without its POST); with one,
    /// `begin_order_request` (POST), which claims the key in the same transaction.
    async fn begin_request(
        &self,
        caller: &Caller,
        order_id: i64,
        key: Option<&KeyedRequest<'_>>,
    ) -> Result<Begin> {
        let Some(key) = key else {
            return Ok(Begin::Read {
                snapshot: self
                    .order_for_processing(caller, order_id)
                    .await?
                    .map(Box::new),
                claim: None,
            });
        };
        let p = params(&BeginParams {
            order_id,
            key: Some(key),
        })?;
        self.rpc("begin_order_request", &p, caller).await
    }

    async fn apply_processing(&self, apply: &ApplyProcessing<'_>) -> Result<ApplyOutcome> {
        self.rpc_service("apply_order_processing", &params(&apply.params())?)
            .await
    }

    async fn apply_transition(&self, t: &TransitionParams<'_>) -> Result<ApplyOutcome> {
        self.rpc_service("order_transition", &params(t)?).await
    }
}

impl IdempotencyStore for PostgrestStore {
    async fn idempotency_finish(&self, claim: &str, status: Option<u16>, body: &str) -> Result<()> {
        let p = json!({"claim": claim, "response_status": status, "response_text": body});
        let _: Value = self.rpc_service("idempotency_finish", &p).await?;
        Ok(())
    }
}
