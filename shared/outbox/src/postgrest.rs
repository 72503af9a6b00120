//! [`ReceiverStore`] over PostgREST (the receipt RPCs of
//! `supabase/migrations/20261121000700_event_outbox.sql` and later, service_role only), and
//! `order-events`' entry point.

use serde_json::{json, Value};

use super::receive::{
    handle_order_event, FulfillOutcome, OrderEventStart, Receipt, ReceiverConfig, ReceiverStore,
};
use edge_orders::store::{ApplyOutcome, ApplyProcessing, EventReceipt, OrderStore};
use edge_platform::edge::Ctx;
use edge_platform::http::{Request, Response};
use edge_platform::rest::PostgrestStore;
use edge_platform::Result;

impl ReceiverStore for PostgrestStore {
    async fn begin_order_event(
        &self,
        source: &str,
        event_id: &str,
        order_id: i64,
    ) -> Result<OrderEventStart> {
        self.rpc_service(
            "begin_order_event",
            &json!({ "source": source, "event_id": event_id, "order_id": order_id }),
        )
        .await
    }

    async fn apply_processing_recorded(
        &self,
        apply: &ApplyProcessing<'_>,
        r: &Receipt<'_>,
    ) -> Result<ApplyOutcome> {
        // The one apply function, with the event's receipt written with the effect.
        let recorded = ApplyProcessing {
            receipt: Some(EventReceipt {
                source: r.source,
                event_id: r.event_id,
                event_type: r.event_type,
            }),
            ..apply.clone()
        };
        self.apply_processing(&recorded).await
    }

    async fn record_event(&self, r: &Receipt<'_>) -> Result<bool> {
        let params = json!({
            "source": r.source, "event_id": r.event_id, "event_type": r.event_type,
            "outcome": r.outcome, "order_id": r.order_id, "details": r.details,
        });
        let answer: Value = self.rpc_service("record_order_event", &params).await?;
        Ok(answer["duplicate"].as_bool().unwrap_or(false))
    }

    async fn fulfill(&self, source: &str, event_id: &str, order_id: i64) -> Result<FulfillOutcome> {
        self.rpc_service(
            "fulfill_order_event",
            &json!({ "source": source, "event_id": event_id, "order_id": order_id }),
        )
        .await
    }
}

/// `order-events`: env `SUPABASE_URL`, the keys ([`edge_platform::auth`]), `ORDER_EVENTS_SECRET`.
pub async fn serve_order_events(req: Request, ctx: Ctx) -> Result<Response> {
    let store = ctx.store()?;
    let config = ReceiverConfig {
        secret: ctx.env().require("ORDER_EVENTS_SECRET")?.to_owned(),
    };
    handle_order_event(&store, &config, ctx.caller(), req, ctx.now_unix()).await
}
