//! [`OrderStore`] and [`IdempotencyStore`] over PostgREST, through the platform's one client
//! ([`PostgrestStore`]).

use edge_platform::http::Caller;
use edge_platform::rest::PostgrestStore;
use edge_platform::Result;
use serde_json::{json, Value};

use super::{
    ApplyOutcome, ApplyProcessing, IdempotencyBegin, IdempotencyStore, OrderSnapshot, OrderStore,
};
use crate::order::Transition;

impl OrderStore for PostgrestStore {
    async fn order_for_processing(
        &self,
        caller: &Caller,
        order_id: i64,
    ) -> Result<Option<OrderSnapshot>> {
        self.rpc(
            "order_for_processing",
            &json!({ "order_id": order_id }),
            caller,
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
