// Helpers for end-to-end tests against the running local stack (`make start`; scripts/test.sh
// starts it). Real HTTP through the gateway, real PostgREST-compatible server, real
// PostgreSQL. The database connection is used only to arrange fixtures and to check effects.
//
// Two key modes, as the stack's FUNCTION_KEYS (scripts/stack.sh passes it on):
//   legacy (default): clients use the legacy anon/service_role JWTs, users get HS256 tokens;
//   new:              clients use the publishable/secret API keys, users get ES256 tokens signed
//                     with supabase/signing_keys.json, and the functions' env holds no legacy key.
// ANON_KEY and SERVICE_ROLE_KEY are the keys of the mode, so every test runs in both.
import postgres from "npm:postgres";
import { assert } from "../assert.ts";
import { createClient, type SupabaseClient } from "npm:@supabase/supabase-js";
import { signEs256, signHs256 } from "../../scripts/jwt_sign.ts";
import { deleteRowsSince, markRows } from "../cleanup.ts";

import { API_URL, DB_URL } from "../stack_env.ts";
export { API_URL, DB_URL };
/** FUNCTION_KEYS if set, else the mode the stack of this checkout was started in. */
function keyMode(): "legacy" | "new" {
  let mode = Deno.env.get("FUNCTION_KEYS");
  if (!mode) {
    try {
      const stack = Deno.env.get("STACK_DIR") ?? new URL("../../.stack", import.meta.url).pathname;
      mode = Deno.readTextFileSync(`${stack}/function-keys`).trim();
    } catch { /* no stack state: legacy */ }
  }
  return mode === "new" ? "new" : "legacy";
}
export const KEY_MODE = keyMode();
export const JWT_SECRET = "super-secret-jwt-token-with-at-least-32-characters-long";
export const LEGACY_ANON_KEY =
  "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJpc3MiOiJzdXBhYmFzZS1kZW1vIiwicm9sZSI6ImFub24iLCJleHAiOjE5ODM4MTI5OTZ9.CRXP1A7WOeoJeXxjNni43kdQwgnWNReilDMblYTn_I0";
export const LEGACY_SERVICE_ROLE_KEY =
  "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJpc3MiOiJzdXBhYmFzZS1kZW1vIiwicm9sZSI6InNlcnZpY2Vfcm9sZSIsImV4cCI6MTk4MzgxMjk5Nn0.EGIM96RAZx35lJzdJsyH-qQwv8Hdp7fsn3W0YpN81IU";
/** The new API keys `supabase start` prints (not JWTs). */
export const PUBLISHABLE_KEY = "sb_publishable_ACJWlzQHlZjBrEguHvfOxg_3BJgxAaH";
export const SECRET_KEY = "sb_secret_N7UND0UgjKTVK-Uodkm0Hg_xSvEMPvz";
/** The anon-role key of the mode: the publishable key, or the legacy anon JWT. */
export const ANON_KEY = KEY_MODE === "new" ? PUBLISHABLE_KEY : LEGACY_ANON_KEY;
/** The service-role key of the mode: the secret key, or the legacy service_role JWT. */
export const SERVICE_ROLE_KEY = KEY_MODE === "new" ? SECRET_KEY : LEGACY_SERVICE_ROLE_KEY;

/** The ES256 signing key of supabase/config.toml's [auth] signing_keys_path (private part included). */
export const SIGNING_KEY: JsonWebKey & { kid: string } = JSON.parse(
  Deno.readTextFileSync(new URL("../../supabase/signing_keys.json", import.meta.url)),
)[0];

/** A function process as the gateway's /health reports it. */
export type FunctionProcess = { name: string; ready: boolean; port: number; pid: number | null };

/** The gateway's function process named `name` (from its /health), or undefined. */
export async function functionProcess(name: string, apiUrl = API_URL): Promise<FunctionProcess | undefined> {
  const health = await (await fetch(`${apiUrl}/health`)).json() as { functions: FunctionProcess[] };
  return health.functions.find((f) => f.name === name);
}

/** A function's own address, past the gateway (its port is the one the gateway's /health lists). */
export async function functionUrl(name: string): Promise<string> {
  const fn = await functionProcess(name);
  if (!fn?.ready || !fn.port) throw new Error(`function ${name} is not running: ${JSON.stringify(fn)}`);
  return `http://127.0.0.1:${fn.port}`;
}

/** The key variables a function process of this mode gets (for tests that spawn one). */
export function functionKeysEnv(): Record<string, string> {
  return KEY_MODE === "new"
    ? {
      SUPABASE_PUBLISHABLE_KEYS: JSON.stringify({ default: PUBLISHABLE_KEY }),
      SUPABASE_SECRET_KEYS: JSON.stringify({ default: SECRET_KEY }),
    }
    : { SUPABASE_ANON_KEY: LEGACY_ANON_KEY, SUPABASE_SERVICE_ROLE_KEY: LEGACY_SERVICE_ROLE_KEY };
}

/**
 * Headers for a raw REST call acting with `key`: an sb_ API key goes in `apikey` alone (a bearer
 * sb_ key must equal apikey), a JWT as bearer beside the mode's anon key.
 */
export function restHeaders(key = SERVICE_ROLE_KEY): Record<string, string> {
  return key.startsWith("sb_") ? { apikey: key } : { apikey: ANON_KEY, authorization: `Bearer ${key}` };
}

/** A small pool for arranging and checking; closed by the last test of each file via `e2e`. */
export const sql = postgres(DB_URL, { max: 4, onnotice: () => {} });

// The rows the database held when this run began: after each test file (a hook, not a test)
// every row added since is deleted, so a run leaves what it found (scripts/test.sh checks the
// row counts). Scripts that import this module without `deno test` call cleanUp() themselves.
const startRows = await markRows(sql);
/** Delete every row added since this module was loaded (see tests/cleanup.ts). */
export const cleanUp = () => deleteRowsSince(sql, startRows);
Deno.test.afterAll(async () => {
  if (Deno.env.get("KEEP_TEST_ROWS") !== "1") await cleanUp(); // KEEP_TEST_ROWS=1: keep them to look at
});

/** Deno.test for e2e: the shared pool and fetch bodies outlive single tests by design. */
export function e2e(name: string, fn: () => Promise<void>) {
  Deno.test({ name, fn, sanitizeOps: false, sanitizeResources: false });
}

/** An HS256 JWT signed with the local stack's legacy secret (what GoTrue issued before signing keys). */
export function signJwt(claims: Record<string, unknown>, secret = JWT_SECRET): Promise<string> {
  return signHs256({ exp: Math.floor(Date.now() / 1000) + 3600, ...claims }, secret);
}

/**
 * An ES256 JWT signed with `jwk` (by default the project's signing key, what GoTrue issues with
 * asymmetric keys); `header` entries override the defaults (alg, typ, kid).
 */
export function signEs256Jwt(
  claims: Record<string, unknown>,
  jwk: JsonWebKey & { kid?: string } = SIGNING_KEY,
  header: Record<string, unknown> = {},
): Promise<string> {
  return signEs256({ exp: Math.floor(Date.now() / 1000) + 3600, ...claims }, jwk, header);
}

/** A user's access token in the mode: ES256 with the signing key (new) or HS256 (legacy). */
export function signUserJwt(claims: Record<string, unknown>): Promise<string> {
  return KEY_MODE === "new" ? signEs256Jwt(claims) : signJwt(claims);
}

export type User = { id: string; token: string };

/** A new user in auth.users with a signed-in JWT. */
export async function newUser(): Promise<User> {
  const id = crypto.randomUUID();
  await sql`insert into auth.users (id, email) values (${id}, ${id + "@test.local"})`;
  return { id, token: await signUserJwt({ sub: id, role: "authenticated", aud: "authenticated" }) };
}

/** A new product; returns its id. */
export async function newProduct(
  opts: { price?: number; stock?: number; currency?: string; active?: boolean } = {},
): Promise<number> {
  const sku = `T-${crypto.randomUUID()}`;
  const [row] = await sql`insert into public.products (sku, name, unit_amount, currency, stock, active)
    values (${sku}, ${"test " + sku}, ${opts.price ?? 1000}, ${opts.currency ?? "USD"}, ${opts.stock ?? 1000},
            ${opts.active ?? true}) returning id`;
  return Number(row.id);
}

/** A client as supabase-js users create it. */
export function client(key = ANON_KEY, token?: string): SupabaseClient {
  return createClient(API_URL, key, {
    auth: { persistSession: false, autoRefreshToken: false },
    global: token ? { headers: { Authorization: `Bearer ${token}` } } : undefined,
  });
}

/** Place an order through REST as `user` (rpc/place_order); returns the order row. */
export async function placeOrder(
  user: User,
  items: { product_id: number; quantity: number }[],
  opts: { currency?: string; discount_code?: string; shipping_region?: string } = {},
): Promise<{ id: number; status: string }> {
  const { data, error } = await client(ANON_KEY, user.token).rpc("place_order", {
    currency: opts.currency ?? "USD",
    items,
    ...(opts.discount_code ? { discount_code: opts.discount_code } : {}),
    ...(opts.shipping_region ? { shipping_region: opts.shipping_region } : {}),
  });
  if (error) throw new Error(`place_order failed: ${JSON.stringify(error)}`);
  return { ...data, id: Number(data.id) };
}

export type Reply = { status: number; body: any; headers: Headers };

/** POST (or `method`) to a function through the gateway. */
export async function callFn(
  name: string,
  body: unknown,
  opts: { token?: string | null; method?: string; headers?: Record<string, string>; raw?: string } = {},
): Promise<Reply> {
  const headers: Record<string, string> = { "content-type": "application/json", ...opts.headers };
  const token = opts.token === undefined ? SERVICE_ROLE_KEY : opts.token;
  if (token) headers.authorization = `Bearer ${token}`;
  // An sb_ API key is also the apikey (as supabase-js sends it): a bearer sb_ key alone is refused.
  if (token?.startsWith("sb_") && !Object.keys(headers).some((h) => h.toLowerCase() === "apikey")) {
    headers.apikey = token;
  }
  const method = opts.method ?? "POST";
  const resp = await fetch(`${API_URL}/functions/v1/${name}`, {
    method,
    headers,
    body: method === "GET" || method === "HEAD" ? undefined : opts.raw ?? JSON.stringify(body),
  });
  const text = await resp.text();
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch { /* not JSON: tests assert on it */ }
  return { status: resp.status, body: parsed, headers: resp.headers };
}

/** Poll `check` until it returns a truthy value or `ms` pass. */
export async function eventually<T>(check: () => Promise<T>, ms = 5000, step = 50): Promise<T> {
  const end = Date.now() + ms;
  let last: T = await check();
  while (!last && Date.now() < end) {
    await new Promise((r) => setTimeout(r, step));
    last = await check();
  }
  return last;
}

export async function orderRow(id: number) {
  const [row] = await sql`select * from public.orders where id = ${id}`;
  return row;
}

export async function stockOf(productId: number): Promise<number> {
  const [row] = await sql`select stock from public.products where id = ${productId}`;
  return Number(row.stock);
}

/** Switch automatic processing of new orders (order-events) on or off. */
export async function setAutoProcess(on: boolean) {
  await sql`insert into public.app_settings (key, value) values ('auto_process_orders', ${on ? "true" : "false"}::jsonb)
    on conflict (key) do update set value = excluded.value`;
}

/**
 * Register the first and last tests of a file that exercises explicit processing (clients
 * calling process-order): automatic processing is off in between, as in a shop that processes
 * orders itself, and back on (the default) afterwards. Call once at the top of the file and
 * call the returned function once at the bottom.
 */
export function explicitProcessing(): () => void {
  e2e("setup: auto_process_orders off while this file runs", () => setAutoProcess(false));
  return () => e2e("teardown: auto_process_orders back on", () => setAutoProcess(true));
}

// The orders flow is one subscription of the database webhooks (20261205000100): each change of
// `orders` is a `webhooks.events` row with one `webhooks.deliveries` row to the endpoint
// `fn:order-events` (signed with ORDER_EVENTS_SECRET), keyed by the order's row (`[<id>]`).

let ordersEndpoint: string | undefined;
/** The id of the orders' endpoint, `fn:order-events` for `orders.insert`/`orders.update`. */
export async function orderEventsEndpoint(): Promise<string> {
  if (!ordersEndpoint) {
    const [r] = await sql`select id from webhooks.endpoints
      where url = 'fn:order-events' and event_types @> '{orders.insert}' order by created_at limit 1`;
    assert(r, "no fn:order-events endpoint for orders (migration 20261205000100)");
    ordersEndpoint = r.id as string;
  }
  return ordersEndpoint;
}

/** One delivery of an order's event to fn:order-events, with its event. */
export type OrderDelivery = {
  /** The delivery's id (creation order). */
  id: number;
  /** The `webhooks.events` row. */
  event: number;
  /** The `webhook-id`. */
  message_id: string;
  status: string;
  attempts: number;
  last_status: number | null;
  last_error: string | null;
  payload: Record<string, unknown>;
  claim_token: string | null;
  created_at: Date;
  finished_at: Date | null;
};

/** The deliveries of order `orderId`'s events to fn:order-events, in creation order. */
export async function orderDeliveries(orderId: number, db: postgres.Sql = sql): Promise<OrderDelivery[]> {
  const endpoint = await orderEventsEndpoint();
  const rows = await db`select d.id, d.event_id as event, v.message_id, d.status, d.attempts, d.last_status,
      d.last_error, v.payload, d.claim_token::text, d.created_at, d.finished_at
    from webhooks.deliveries d join webhooks.events v on v.id = d.event_id
    where d.endpoint_id = ${endpoint} and d.row_key = ${`[${orderId}]`} order by d.id`;
  return rows.map((r) => ({ ...r, id: Number(r.id), event: Number(r.event) })) as unknown as OrderDelivery[];
}

/**
 * In the transaction `tx` that wrote order `orderId`: mark its pending deliveries delivered,
 * so the dispatcher leaves them alone and the test delivers the event itself. Answers them.
 */
export async function quietOrderEvents(tx: postgres.Sql, orderId: number): Promise<OrderDelivery[]> {
  const endpoint = await orderEventsEndpoint();
  await tx`update webhooks.deliveries set status = 'delivered', finished_at = now()
    where endpoint_id = ${endpoint} and row_key = ${`[${orderId}]`} and status = 'pending'`;
  return await orderDeliveries(orderId, tx);
}
