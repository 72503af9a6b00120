//! [`OutboxStore`] and [`ReceiverStore`] over PostgREST (the RPCs of
//! `supabase/migrations/20261121000700_event_outbox.sql`, service_role only), and the two
//! functions' entry points.

use std::rc::Rc;

use serde_json::{json, Value};

use super::dispatch::{handle_dispatch, DispatchConfig, Runtime};
use super::fetch::FetchSender;
use super::held::HeldClaims;
use super::outbox::{Claim, ClaimOptions, CompleteSummary, Completion, OutboxStore};
use super::receive::{
    handle_order_event, FulfillOutcome, OrderEventStart, Receipt, ReceiverConfig, ReceiverStore,
};
use edge_orders::store::{ApplyOutcome, ApplyProcessing, EventReceipt, OrderStore};
use edge_platform::edge::{now_ms, Ctx};
use edge_platform::http::{Request, Response};
use edge_platform::rest::PostgrestStore;
use edge_platform::Result;

impl OutboxStore for PostgrestStore {
    async fn claim(&self, options: &ClaimOptions) -> Result<Claim> {
        self.rpc_service("claim_outbox_events", &json!(options))
            .await
    }

    async fn complete(&self, claim: &str, results: &[Completion]) -> Result<CompleteSummary> {
        self.rpc_service(
            "complete_outbox_events",
            &json!({ "claim": claim, "results": results }),
        )
        .await
    }
}

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

fn random() -> f64 {
    js_sys::Math::random()
}

thread_local! {
    /// The claims this wasm instance holds. A trap's reset starts a fresh instance with none:
    /// the claims of the trapped one come back when their lease ends.
    static HELD: Rc<HeldClaims> = Rc::new(HeldClaims::default());
}

/// `dispatch-events`: env `SUPABASE_URL`, the keys ([`edge_platform::auth`]), `ORDER_EVENTS_SECRET`.
pub async fn serve_dispatch_events(req: Request, ctx: Ctx) -> Result<Response> {
    let store = ctx.store()?;
    let url = ctx.env().require("SUPABASE_URL")?.trim_end_matches('/');
    let secret = ctx.env().require("ORDER_EVENTS_SECRET")?;
    let config = DispatchConfig::new(format!("{url}/functions/v1"), secret);
    let rt = Runtime {
        now_ms: &now_ms,
        random: &random,
    };
    let held = HELD.with(Rc::clone);
    let sender = FetchSender::default();
    handle_dispatch(&store, &sender, rt, ctx.caller(), config, &held, req).await
}

/// `dispatch-events`' `shutdown` export (the loader calls it on SIGTERM and on edge-runtime's
/// `beforeunload`): stop claiming, and give back every claim in flight at once (one
/// `complete_outbox_events` per claim) instead of leaving it to its 10 s lease.
pub async fn shutdown_dispatch_events(ctx: Ctx) {
    let held = HELD.with(Rc::clone);
    if held.held_events() == 0 {
        held.close();
        return;
    }
    match ctx.store() {
        Ok(store) => {
            let r = held.release(&store).await;
            edge_platform::http::log_info(&format!(
                "dispatch-events: shutting down: {} claims completed, {} events released, {} reported, {} rows updated, {} claims left to their lease",
                r.claims, r.released, r.reported, r.updated, r.failed
            ));
        }
        Err(e) => {
            held.close();
            edge_platform::http::log_error(&format!(
                "dispatch-events: shutting down without releasing claims: {e}"
            ));
        }
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
