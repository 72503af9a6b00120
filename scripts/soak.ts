// `make soak`: a bounded load and fault suite against the running local stack.
//
// CLIENTS users place orders through REST (rpc/place_order), call process-order on them
// (racing the automatic processing through the database webhooks: orders -> fn:order-events)
// and cancel some, for SOAK_SECONDS. Meanwhile each part is killed in turn: the REST server
// (kill -9, restarted), a function process (kill -9 of process-order; the gateway respawns it),
// the dispatcher (kill -9 of the webhook-dispatch process, possibly mid-batch) and PostgreSQL
// (immediate shutdown, restarted). Then the deliveries drain and the invariants are checked in
// SQL. Prints tables; exits non-zero
// on any invariant breach or on a 5xx outside a fault window.
//
// Env: SOAK_SECONDS (default 120, at most 300), SOAK_CLIENTS (20), plus the stack's own
// (API_URL, DB_URL, STACK, PGDATA, PG_BIN, set by scripts/soak.sh).
import postgres from "npm:postgres";
import {
  ANON_KEY,
  cleanUp,
  functionProcess,
  newProduct,
  newUser,
  SERVICE_ROLE_KEY,
  type User,
} from "../tests/e2e/_helpers.ts";

const env = (k: string, d?: string) => {
  const v = Deno.env.get(k) ?? d;
  if (v === undefined) throw new Error(`soak: ${k} is not set`);
  return v;
};
const API_URL = env("API_URL");
const STACK = env("STACK");
const ROOT = new URL("../", import.meta.url).pathname;
const seconds = Math.min(Number(env("SOAK_SECONDS", "120")), 300);
const clients = Number(env("SOAK_CLIENTS", "20"));
const sql = postgres(env("DB_URL"), { max: 2, onnotice: () => {}, connect_timeout: 2 });

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const now = () => performance.now();
const t0 = now();
const log = (msg: string) => console.log(`[soak ${((now() - t0) / 1000).toFixed(1)}s] ${msg}`);

// --- fault windows -----------------------------------------------------------------------
type Window = { part: string; from: number; to: number };
const windows: Window[] = [];
const GRACE_MS = 2000; // after a part is healthy again, connections may still be re-opening

function inWindow(start: number, end: number): string | null {
  for (const w of windows) if (start <= w.to + GRACE_MS && end >= w.from) return w.part;
  return null;
}

async function run(cmd: string[], quiet = true) {
  const out = await new Deno.Command(cmd[0], { args: cmd.slice(1), stdout: "piped", stderr: "piped" }).output();
  if (!out.success && !quiet) throw new Error(`${cmd.join(" ")}: ${new TextDecoder().decode(out.stderr)}`);
  return out.success;
}

const pidOf = (part: string) => Number(Deno.readTextFileSync(`${STACK}/${part}.pid`).trim());

async function healthy(): Promise<boolean> {
  try {
    const h = await fetch(`${API_URL}/health`, { signal: AbortSignal.timeout(1000) });
    await h.body?.cancel();
    const r = await fetch(`${API_URL}/rest/v1/products?select=id&limit=1`, {
      headers: { apikey: SERVICE_ROLE_KEY, authorization: `Bearer ${SERVICE_ROLE_KEY}` },
      signal: AbortSignal.timeout(1000),
    });
    await r.body?.cancel();
    return h.ok && r.ok;
  } catch {
    return false;
  }
}

async function untilHealthy(limitMs = 60_000) {
  const end = now() + limitMs;
  while (now() < end) {
    if (await healthy()) return;
    await sleep(50);
  }
  throw new Error("the stack did not come back within 60 s");
}

let crashWatch: Promise<number | null> = Promise.resolve(null);
let crashHeld = 0;

/** Poll until none of the deliveries `ids` is undelivered; the ms since `at`, or null after 60 s. */
async function watchDelivered(at: number, ids: number[]): Promise<number | null> {
  if (ids.length === 0) return 0;
  for (;;) {
    try {
      const [{ n }] = await sql`select count(*)::int n from webhooks.deliveries
        where id = any(${ids}) and status <> 'delivered'`;
      if (n === 0) return now() - at;
    } catch { /* the database may be restarting: try again */ }
    if (now() - at > 60_000) return null;
    await sleep(100);
  }
}

const faults: [string, () => Promise<void>][] = [
  ["REST server", async () => {
    Deno.kill(pidOf("rest"), "SIGKILL");
    await run(["bash", `${ROOT}scripts/stack.sh`, "restart", "rest"], false);
  }],
  ["function process (process-order)", async () => {
    const pid = (await functionProcess("process-order", API_URL))?.pid;
    if (pid) Deno.kill(pid, "SIGKILL");
    await sleep(100);
  }],
  ["dispatcher (webhook-dispatch)", async () => {
    const pid = (await functionProcess("webhook-dispatch", API_URL))?.pid;
    // Kill it while it holds claims (under load there nearly always are some; wait up to 5 s).
    let claimed: { id: unknown }[] = [];
    for (let i = 0; i < 500 && claimed.length === 0; i++) {
      claimed = await sql`select id from webhooks.deliveries
        where endpoint_id = ${ordersEndpoint} and status = 'pending' and claimed_until > now()`;
      if (claimed.length === 0) await sleep(10);
    }
    if (pid) Deno.kill(pid, "SIGKILL");
    crashHeld = claimed.length;
    crashWatch = watchDelivered(now(), claimed.map((r) => Number(r.id)));
    await sleep(100);
  }],
  ["PostgreSQL (immediate restart)", async () => {
    const pgCtl = `${env("PG_BIN")}/pg_ctl`;
    const args = ["-D", env("PGDATA"), "-m", "immediate", "-w", "-t", "60", "restart", "-l", env("PGLOG")];
    const cmd = Deno.uid() === 0 ? ["runuser", "-u", "postgres", "--", pgCtl, ...args] : [pgCtl, ...args];
    await run(cmd, false);
  }],
];

// --- load --------------------------------------------------------------------------------
type Outcome = { op: string; status: number; code: string; start: number; end: number };
const outcomes: Outcome[] = [];
const placed: number[] = [];
let stopping = false;

async function call(op: string, url: string, init: RequestInit): Promise<{ status: number; body: any }> {
  const start = now();
  let status = 0;
  let code = "network_error";
  let body: any = null;
  try {
    const resp = await fetch(url, { ...init, signal: AbortSignal.timeout(15_000) });
    status = resp.status;
    const text = await resp.text();
    try {
      body = JSON.parse(text);
    } catch { /* not JSON */ }
    code = body?.error?.code ?? body?.code ?? (status < 300 ? "ok" : text.slice(0, 40));
  } catch (e) {
    code = e instanceof Error ? e.name : "error";
  }
  outcomes.push({ op, status, code, start, end: now() });
  return { status, body };
}

async function client(user: User, products: number[]) {
  const auth = { "content-type": "application/json", apikey: ANON_KEY, authorization: `Bearer ${user.token}` };
  while (!stopping) {
    const n = 1 + Math.floor(Math.random() * 3);
    const items = Array.from({ length: n }, () => ({
      product_id: products[Math.floor(Math.random() * products.length)],
      quantity: 1 + Math.floor(Math.random() * 3),
    }));
    const order = await call("place_order", `${API_URL}/rest/v1/rpc/place_order`, {
      method: "POST",
      headers: auth,
      body: JSON.stringify({ currency: "USD", items }),
    });
    if (order.status !== 200 || !order.body?.id) {
      await sleep(20);
      continue;
    }
    const id = Number(order.body.id);
    placed.push(id);
    await call("process-order", `${API_URL}/functions/v1/process-order`, {
      method: "POST",
      headers: auth,
      body: JSON.stringify({ order_id: id }),
    });
    if (Math.random() < 0.15) {
      await call("cancel-order", `${API_URL}/functions/v1/cancel-order`, {
        method: "POST",
        headers: auth,
        body: JSON.stringify({ order_id: id }),
      });
    }
  }
}

// --- main --------------------------------------------------------------------------------
await sql`insert into public.app_settings (key, value) values ('auto_process_orders', 'true'::jsonb)
  on conflict (key) do update set value = excluded.value`;
const products = await Promise.all(Array.from({ length: 12 }, () => newProduct({ price: 1000, stock: 1_000_000 })));
const users = await Promise.all(Array.from({ length: clients }, () => newUser()));
const [{ first_order }] = await sql`select coalesce(max(id), 0) + 1 as first_order from public.orders`;
// The orders' deliveries: the subscription orders -> fn:order-events (20261205000100).
const [{ id: ordersEndpoint }] = await sql`select id from webhooks.endpoints
  where url = 'fn:order-events' and event_types @> '{orders.insert}' order by created_at limit 1`;
const [{ first_event }] = await sql`select coalesce(max(id), 0) + 1 as first_event from webhooks.deliveries`;
log(`${clients} clients for ${seconds} s over ${products.length} products; faults every ${seconds / 5} s`);

const load = Promise.all(users.map((u) => client(u, products)));
for (const [part, inject] of faults) {
  await sleep((seconds * 1000) / 5);
  const from = now();
  log(`fault: ${part}`);
  await inject();
  await untilHealthy();
  windows.push({ part, from, to: now() });
  log(`${part} back after ${((now() - from) / 1000).toFixed(1)} s`);
}
await sleep((seconds * 1000) / 5);
stopping = true;
await load;
const loadEnd = now();
log(`load stopped: ${outcomes.length} requests, ${placed.length} orders placed`);

// The dispatcher crash: how long until every event it held was delivered (polled from the
// moment of the kill, while the load goes on).
const crashDrainMs = await crashWatch;

// Drain: every delivery of this run delivered (or dead), within 60 s of the load's end.
let drainMs: number | null = null;
for (;;) {
  const [{ n }] = await sql`select count(*)::int n from webhooks.deliveries
    where endpoint_id = ${ordersEndpoint} and id >= ${first_event} and status = 'pending'`;
  if (n === 0) {
    drainMs = now() - loadEnd;
    break;
  }
  if (now() - loadEnd > 60_000) break;
  await sleep(100);
}

// --- invariants ----------------------------------------------------------------------------
const [inv] = await sql`
  with mine as (select * from public.orders where id >= ${first_order}),
  processed_twice as (
    select a.record_id from public.audit_log a join mine o on a.record_id = o.id::text
    where a.table_name = 'orders' and a.action = 'UPDATE'
      and a.old_data ->> 'status' = 'pending' and a.new_data ->> 'status' = 'processed'
    group by a.record_id having count(*) > 1),
  without_audit as (
    select o.id from mine o where o.processed_at is not null and not exists (
      select 1 from public.audit_log a where a.table_name = 'orders' and a.record_id = o.id::text
        and a.new_data ->> 'status' = 'processed')),
  held as (  -- stock each product should have lost: items of orders holding stock
    select i.product_id, sum(i.quantity)::bigint qty from public.order_items i join mine o on o.id = i.order_id
    where o.status in ('processed', 'paid', 'fulfilled') group by i.product_id),
  drift as (
    select p.id from public.products p left join held h on h.product_id = p.id
    where p.id = any(${products}) and p.stock <> 1000000 - coalesce(h.qty, 0)),
  unpriced as (  -- processed with a total that is not its items' subtotal (F1)
    select o.id from mine o where o.status in ('processed', 'paid', 'fulfilled') and o.subtotal_amount <> (
      select sum(i.quantity * i.unit_amount) from public.order_items i where i.order_id = o.id))
  select
    (select count(*)::int from processed_twice) as processed_twice,
    (select count(*)::int from without_audit) as processed_without_audit,
    (select count(*)::int from drift) as stock_drift_products,
    (select count(*)::int from unpriced) as processed_with_unpriced_items,
    (select count(*)::int from mine where status = 'pending') as orders_left_pending,
    (select count(*)::int from mine o where not exists (
       select 1 from webhooks.deliveries d join webhooks.events v on v.id = d.event_id
        where d.endpoint_id = ${ordersEndpoint} and v.table_name = 'orders' and v.row_key = '[' || o.id || ']'
          and v.payload ->> 'type' = 'INSERT')) as events_lost,
    (select count(*)::int from webhooks.deliveries
      where endpoint_id = ${ordersEndpoint} and id >= ${first_event} and status = 'dead') as events_dead,
    (select count(*)::int from webhooks.deliveries
      where endpoint_id = ${ordersEndpoint} and id >= ${first_event} and status = 'pending') as events_pending,
    (select count(*)::int from (select event_id from public.received_events group by source, event_id
       having count(*) > 1) d) as duplicate_effects`;
await sql.end({ timeout: 2 });
// Delete what the run added (tests/cleanup.ts: every row since the helpers were loaded).
await cleanUp();

// --- report ---------------------------------------------------------------------------------
const byStatus = new Map<string, number>();
const fiveXX = new Map<string, number>();
let outside5xx = 0;
for (const o of outcomes) {
  const k = `${o.op} ${o.status}`;
  byStatus.set(k, (byStatus.get(k) ?? 0) + 1);
  if (o.status >= 500 || o.status === 0) {
    const part = inWindow(o.start, o.end);
    const cause = `${o.op} ${o.status} ${o.code} (${part ? `during: ${part}` : "OUTSIDE any fault"})`;
    fiveXX.set(cause, (fiveXX.get(cause) ?? 0) + 1);
    if (!part) outside5xx += 1;
  }
}
console.log("\n| requests | count |\n| --- | ---: |");
for (const [k, v] of [...byStatus].sort()) console.log(`| ${k} | ${v} |`);
console.log("\n| 5xx and network errors by cause | count |\n| --- | ---: |");
if (fiveXX.size === 0) console.log("| (none) | 0 |");
for (const [k, v] of [...fiveXX].sort()) console.log(`| ${k} | ${v} |`);
console.log("\n| fault | down for |\n| --- | ---: |");
for (const w of windows) console.log(`| ${w.part} | ${((w.to - w.from) / 1000).toFixed(1)} s |`);

const breaches: string[] = [];
const check = (name: string, value: number | null, ok: boolean) => {
  console.log(`| ${name} | ${value === null ? "not reached" : value} | ${ok ? "ok" : "BREACH"} |`);
  if (!ok) breaches.push(name);
};
console.log("\n| invariant | value | |\n| --- | ---: | --- |");
check("orders processed twice", inv.processed_twice, inv.processed_twice === 0);
check("processed without an audit row", inv.processed_without_audit, inv.processed_without_audit === 0);
check("products with stock drift", inv.stock_drift_products, inv.stock_drift_products === 0);
check("processed with unpriced items", inv.processed_with_unpriced_items, inv.processed_with_unpriced_items === 0);
check("orders left pending after the drain", inv.orders_left_pending, inv.orders_left_pending === 0);
check("orders without their event (events lost)", inv.events_lost, inv.events_lost === 0);
check("events dead", inv.events_dead, inv.events_dead === 0);
check("events still pending after 60 s", inv.events_pending, inv.events_pending === 0);
check("duplicate effects (an event received twice)", inv.duplicate_effects, inv.duplicate_effects === 0);
check("5xx outside fault windows", outside5xx, outside5xx === 0);
const drainS = crashDrainMs === null ? null : Math.round(crashDrainMs) / 1000;
// The claims of a killed dispatcher come back when their 30 s lease ends; the scheduler's 2 s
// tick then claims them again.
check(`s to deliver the ${crashHeld} events a crashed dispatcher held`, drainS, drainS !== null && drainS <= 35);
check(
  "s to drain the deliveries after the load",
  drainMs === null ? null : Math.round(drainMs) / 1000,
  drainMs !== null,
);

if (breaches.length) {
  console.log(`\nsoak: ${breaches.length} breach(es): ${breaches.join("; ")}`);
  Deno.exit(1);
}
console.log(`\nsoak: ok (${outcomes.length} requests, ${placed.length} orders, ${seconds} s)`);
Deno.exit(0);
