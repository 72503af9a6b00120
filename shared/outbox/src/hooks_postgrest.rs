//! Database webhooks over PostgREST (`public.webhooks_claim`, `public.webhooks_record`,
//! `public.webhooks_admin`: the REST server exposes `public` only; each calls into schema
//! `webhooks`, service_role only), and the `webhook-dispatch` / `webhook-admin` entry points.

use std::rc::Rc;

use serde_json::{json, Value};

use super::held::HeldClaims;
use super::hooks::{
    handle_webhook_dispatch, AttemptReport, HookClaim, HookClaimOptions, HookConfig, HookRuntime,
    HookStore, RecordSummary,
};
use super::hooks_admin::{handle_webhook_admin, AdminStore};
use super::hooks_fetch::{DenoResolver, JsFetchSender};
use edge_platform::edge::{now_ms, Ctx};
use edge_platform::http::{Request, Response};
use edge_platform::rest::PostgrestStore;
use edge_platform::Result;

impl HookStore for PostgrestStore {
    async fn claim_deliveries(&self, options: &HookClaimOptions) -> Result<HookClaim> {
        self.rpc_service("webhooks_claim", &json!(options)).await
    }

    async fn record_attempts(
        &self,
        claim: &str,
        reports: &[AttemptReport],
    ) -> Result<RecordSummary> {
        self.rpc_service(
            "webhooks_record",
            &json!({ "claim": claim, "results": reports }),
        )
        .await
    }
}

impl AdminStore for PostgrestStore {
    async fn webhooks_admin(&self, action: &str, args: &Value) -> Result<Value> {
        self.rpc_service("webhooks_admin", &json!({ "action": action, "args": args }))
            .await
    }
}

thread_local! {
    /// The claims this wasm instance holds. A trap's reset starts a fresh instance with none:
    /// the claims of the trapped one come back when their lease ends.
    static HELD: Rc<HeldClaims> = Rc::new(HeldClaims::default());
}

/// `webhook-dispatch`: env `SUPABASE_URL`, the keys ([`edge_platform::auth`]),
/// `WEBHOOK_ALLOW_PRIVATE` (`true` delivers to loopback/private/link-local addresses), and the
/// function secrets `fn:` endpoints name in `secret_env` (e.g. `ORDER_EVENTS_SECRET`).
pub async fn serve_webhook_dispatch(req: Request, ctx: Ctx) -> Result<Response> {
    let store = ctx.store()?;
    let url = ctx.env().require("SUPABASE_URL")?.trim_end_matches('/');
    let allow_private = ctx.env().get("WEBHOOK_ALLOW_PRIVATE") == Some("true");
    let config = HookConfig::new(format!("{url}/functions/v1"), allow_private);
    let env = ctx.env().clone();
    let lookup = move |name: &str| env.get(name).map(str::to_owned);
    let rt = HookRuntime {
        now_ms: &now_ms,
        env: &lookup,
    };
    let held = HELD.with(Rc::clone);
    handle_webhook_dispatch(
        &store,
        &JsFetchSender,
        &DenoResolver,
        rt,
        ctx.caller(),
        config,
        &held,
        req,
    )
    .await
}

/// `webhook-dispatch`'s `shutdown` export (the loader calls it on SIGTERM and on edge-runtime's
/// `beforeunload`): stop claiming, and give back every claim in flight at once (one
/// `webhooks_record` per claim) instead of leaving it to its 30 s lease.
pub async fn shutdown_webhook_dispatch(ctx: Ctx) {
    let held = HELD.with(Rc::clone);
    if held.held_deliveries() == 0 {
        held.close();
        return;
    }
    match ctx.store() {
        Ok(store) => {
            let r = held.release(&store).await;
            edge_platform::http::log_info(&format!(
                "webhook-dispatch: shutting down: {} claims reported, {} deliveries released, {} tries reported, {} rows updated, {} claims left to their lease",
                r.claims, r.released, r.reported, r.updated, r.failed
            ));
        }
        Err(e) => {
            held.close();
            edge_platform::http::log_error(&format!(
                "webhook-dispatch: shutting down without releasing claims: {e}"
            ));
        }
    }
}

/// `webhook-admin`: env `SUPABASE_URL` and the keys.
pub async fn serve_webhook_admin(req: Request, ctx: Ctx) -> Result<Response> {
    let store = ctx.store()?;
    handle_webhook_admin(&store, ctx.caller(), req).await
}
