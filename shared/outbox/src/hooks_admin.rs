//! `webhook-admin`: the database webhooks' SQL API over HTTP, for the service role only.
//!
//! `POST {"action": "<action>", "args": {...}}` with a secret key (or the legacy service_role
//! key). Actions and their arguments are those of `webhooks.admin` (one call to the
//! `public.webhooks_admin` RPC): `subscribe {table, events?, update_columns?}`,
//! `unsubscribe {table}`, `create_endpoint {url, event_types?, description?, secret?}` (answers
//! `{id, secret}`), `rotate_secret {id, secret?}`, `set_secret_env {id, secret_env}` (a
//! function secret's name, or null for a stored secret), `set_dead_blocks_row {id,
//! dead_blocks_row}`, `set_auto_disable {id, auto_disable}`, `disable_endpoint {id, reason?}`, `enable_endpoint {id}`,
//! `delete_endpoint {id}`, `replay {id, since}`, `requeue_dead {endpoint_id?, since?, until?,
//! event_types?}`, `list_endpoints {}`, `list_deliveries {endpoint_id?, status?, limit?}`,
//! `list_attempts {delivery_id?, endpoint_id?, limit?}`.
//!
//! Answers `200 {"result": ...}`; a malformed request or argument `400
//! {"error":{"code":"invalid_input"|"invalid_json"|..}}`, an unknown endpoint `404 not_found`;
//! a refused call changes nothing (the RPC rolls back what it had done).

use serde::Deserialize;
use serde_json::{json, Map, Value};

use edge_platform::auth::Caller;
use edge_platform::http::{self, Request, Response};
use edge_platform::{Error, Result};

/// The actions `webhooks.admin` knows.
pub const ACTIONS: &[&str] = &[
    "subscribe",
    "unsubscribe",
    "create_endpoint",
    "rotate_secret",
    "set_secret_env",
    "set_dead_blocks_row",
    "set_auto_disable",
    "disable_endpoint",
    "enable_endpoint",
    "delete_endpoint",
    "replay",
    "requeue_dead",
    "list_endpoints",
    "list_deliveries",
    "list_attempts",
];

/// The largest body `webhook-admin` accepts.
pub const MAX_BODY: usize = 16 * 1024;

/// The admin RPC.
#[allow(async_fn_in_trait)]
pub trait AdminStore {
    /// `public.webhooks_admin(action, args)`: `{"ok": true, "result"}` or
    /// `{"ok": false, "error": {"code", "message"}}`.
    async fn webhooks_admin(&self, action: &str, args: &Value) -> Result<Value>;
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AdminRequest {
    action: String,
    #[serde(default)]
    args: Map<String, Value>,
}

/// The `webhook-admin` handler.
pub async fn handle_webhook_admin<S: AdminStore>(
    store: &S,
    caller: Result<Caller>,
    req: Request,
) -> Result<Response> {
    http::require_method(&req, ::http::Method::POST, "POST")?;
    caller?.require_service_role("webhook-admin")?;
    let body: AdminRequest = http::parse_json(req.body())?;
    if !ACTIONS.contains(&body.action.as_str()) {
        return Err(Error::bad_request(
            "invalid_input",
            format!("unknown action; one of {}", ACTIONS.join(", ")),
        ));
    }
    let answer = store
        .webhooks_admin(&body.action, &Value::Object(body.args))
        .await?;
    if answer["ok"].as_bool() == Some(true) {
        return Ok(http::json(200, &json!({ "result": answer["result"] })));
    }
    let message = answer["error"]["message"]
        .as_str()
        .unwrap_or("refused")
        .to_owned();
    match answer["error"]["code"].as_str() {
        Some("not_found") => Err(Error::NotFound(message)),
        Some("invalid_input") => Err(Error::bad_request("invalid_input", message)),
        _ => Err(Error::Upstream(format!("webhooks_admin answered {answer}"))),
    }
}
