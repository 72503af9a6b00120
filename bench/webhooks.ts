// Database webhooks on the local stack: rows written with SQL -> webhooks.capture trigger ->
// scheduler (LISTEN/NOTIFY webhooks) -> webhook-dispatch -> signed POST -> a no-op receiver on
// 127.0.0.1 (this process, answering 204), or a function. Needs WEBHOOK_ALLOW_PRIVATE=true (the
// local stack's default).
//
// Before each scenario it waits for a quiet stack (at most BENCH_QUIET_WAIT_MS, 180 s): for
// 2 s in a row no pending webhooks delivery (the orders flow's included, e.g. left by
// bench/outbox.ts), and no other client backend running a statement (the scheduler's
// 1 s order-expiry query aside). If the wait runs out the scenario runs anyway and its line says
// "(not quiet: ...)". Each line also gives the 1-minute load average before and after.
//
// Scenarios (each on a fresh subscribed table and endpoint):
//   trickle    BENCH_HOOK_TRICKLE (100) rows, one per transaction, 20 ms apart: latency unloaded;
//   burst      BENCH_HOOK_ROWS (5000) rows in transactions of 1000, back to back: drain rate,
//              with BENCH_HOOK_CALLERS (0) extra webhook-dispatch callers beside the scheduler;
//   function   BENCH_HOOK_FN_ROWS (2000) rows the same way to `fn:order-events` (through the
//              gateway, signed with ORDER_EVENTS_SECRET given as the endpoint's secret;
//              order-events verifies each request and answers 200 "ignored" for this table).
// Latency is per delivery, finished_at - created_at (database clock: from the trigger to the
// recorded 2xx). deliveries/s = deliveries / (last finished - first created). lost = events
// without a delivered delivery at the end; duplicates = webhook-ids the receiver saw twice (for
// the function: events with more than one 2xx try; order-events echoes the webhook-id it
// verified, and each echo is checked against its event).
//
//   node_modules/.bin/deno run --allow-all bench/webhooks.ts      (or `make bench`)
import postgres from "npm:postgres";
import { parse as parseDotenv } from "npm:dotenv";
import { API_URL, DB_URL } from "../tests/stack_env.ts";

const sql = postgres(DB_URL, {
  onnotice: () => {},
  max: 4,
});
const SECRET_KEY = Deno.env.get("SECRET_KEY") ?? "sb_secret_N7UND0UgjKTVK-Uodkm0Hg_xSvEMPvz";
const num = (name: string, fallback: number) => Number(Deno.env.get(name) ?? fallback);
const TRICKLE = num("BENCH_HOOK_TRICKLE", 100);
const ROWS = num("BENCH_HOOK_ROWS", 5000);
const CALLERS = num("BENCH_HOOK_CALLERS", 0);
const FN_ROWS = num("BENCH_HOOK_FN_ROWS", 2000);
const QUIET_WAIT_MS = num("BENCH_QUIET_WAIT_MS", 180_000);
const fnSecret = parseDotenv(Deno.readTextFileSync(new URL("../supabase/functions/.env", import.meta.url)))
  .ORDER_EVENTS_SECRET;
const WAIT_MS = num("BENCH_WAIT_MS", 180_000);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const seen = new Map<string, number>();
const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
  await req.arrayBuffer();
  const id = req.headers.get("webhook-id") ?? "";
  seen.set(id, (seen.get(id) ?? 0) + 1);
  return new Response(null, { status: 204 });
});

async function setup(name: string, fn = false) {
  const table = `bench_hooks_${name}_${crypto.randomUUID().slice(0, 8)}`;
  await sql.unsafe(`create table public.${table} (id bigint primary key, v int not null default 0)`);
  await sql`select webhooks.subscribe(${`public.${table}`}::regclass, '{INSERT}')`;
  const url = fn ? "fn:order-events" : `http://127.0.0.1:${server.addr.port}/${name}`;
  const [ep] = await sql`select id from webhooks.create_endpoint(${url}, ${[`${table}.insert`]}::text[],
    null, ${fn ? fnSecret : null})`;
  return { table, endpoint: ep.id as string };
}

const load1 = () => Deno.readTextFileSync("/proc/loadavg").split(" ")[0];

/** Wait until the stack is quiet (see the header); answers what was still busy if it never was. */
async function quiet(): Promise<string> {
  const end = Date.now() + QUIET_WAIT_MS;
  let since = 0;
  let busy = "";
  while (Date.now() < end) {
    const [r] = await sql`select
        (select count(*) from webhooks.deliveries where status = 'pending')::int as hooks,
        (select count(*) from pg_stat_activity where backend_type = 'client backend'
           and state = 'active' and pid <> pg_backend_pid()
           and query not ilike '%expire_unpaid_orders%')::int as active`;
    busy = [
      r.hooks && `${r.hooks} pending deliveries`,
      r.active && `${r.active} active statements`,
    ].filter(Boolean).join(", ");
    if (busy) since = 0;
    else if (!since) since = Date.now();
    else if (Date.now() - since >= 2000) return "";
    await sleep(100);
  }
  return ` (not quiet: ${busy})`;
}

async function teardown(table: string, endpoint: string) {
  await sql`select webhooks.unsubscribe(${`public.${table}`}::regclass)`;
  await sql`select webhooks.delete_endpoint(${endpoint})`;
  await sql`delete from webhooks.events where table_name = ${table}`;
  await sql.unsafe(`drop table public.${table}`);
}

async function settle(endpoint: string, total: number) {
  const end = Date.now() + WAIT_MS;
  while (Date.now() < end) {
    const [r] = await sql`select count(*) filter (where status = 'delivered')::int as n
      from webhooks.deliveries where endpoint_id = ${endpoint}`;
    if (r.n >= total) return;
    await sleep(100);
  }
}

async function report(
  scenario: string,
  table: string,
  endpoint: string,
  total: number,
  loadBefore: string,
  fn = false,
) {
  const [r] = await sql`select count(*) filter (where d.status = 'delivered')::int as delivered,
      extract(epoch from max(d.finished_at) - min(v.created_at))::float8 as span,
      percentile_cont(0.5) within group (order by extract(epoch from d.finished_at - v.created_at))
        filter (where d.status = 'delivered') * 1000 as p50,
      percentile_cont(0.99) within group (order by extract(epoch from d.finished_at - v.created_at))
        filter (where d.status = 'delivered') * 1000 as p99,
      coalesce(sum(d.attempts - 1), 0)::int as retries
    from webhooks.deliveries d join webhooks.events v on v.id = d.event_id
   where d.endpoint_id = ${endpoint}`;
  let dup: number;
  if (fn) {
    // One 2xx try per event, and each 2xx answer echoes its own event's webhook-id.
    const [f] = await sql`select count(*) filter (where n > 1)::int as dup, sum(bad)::int as bad from (
        select count(*) as n, count(*) filter (where t.response::jsonb ->> 'event_id' <> v.message_id) as bad
          from webhooks.attempts t join webhooks.deliveries d on d.id = t.delivery_id
          join webhooks.events v on v.id = d.event_id
         where t.endpoint_id = ${endpoint} and t.http_status between 200 and 299 group by t.delivery_id) x`;
    if (f.bad) throw new Error(`${f.bad} answers of order-events echo another webhook-id`);
    dup = f.dup;
  } else {
    const ids = await sql`select message_id from webhooks.events where table_name = ${table}`;
    dup = ids.filter((e) => (seen.get(e.message_id) ?? 0) > 1).length;
  }
  const lost = total - r.delivered;
  console.log(
    `| ${scenario} | ${total} | ${(r.delivered / r.span).toFixed(0)} | ${Number(r.p50).toFixed(0)} | ${
      Number(r.p99).toFixed(0)
    } | ${lost} | ${dup} | ${r.retries} | ${loadBefore}/${load1()} |`,
  );
}

console.log(
  "| scenario | deliveries | deliveries/s | p50 ms | p99 ms | lost | duplicates | retries | load before/after |",
);
console.log("| --- | --- | --- | --- | --- | --- | --- | --- | --- |");

{
  const noise = await quiet();
  const loadBefore = load1();
  const { table, endpoint } = await setup("trickle");
  for (let i = 1; i <= TRICKLE; i++) {
    await sql.unsafe(`insert into public.${table} (id) values (${i})`);
    await sleep(20);
  }
  await settle(endpoint, TRICKLE);
  await report(`trickle (1 row/txn, 20 ms apart)${noise}`, table, endpoint, TRICKLE, loadBefore);
  await teardown(table, endpoint);
}

/** `rows` rows in transactions of 1000, back to back, with `callers` extra dispatcher calls. */
async function burst(name: string, rows: number, callers: number, fn: boolean) {
  const noise = await quiet();
  const loadBefore = load1();
  const { table, endpoint } = await setup(name, fn);
  const calls: Promise<unknown>[] = [];
  for (let start = 1; start <= rows; start += 1000) {
    const n = Math.min(1000, rows - start + 1);
    await sql.unsafe(`insert into public.${table} (id) select g from generate_series(${start}, ${start + n - 1}) g`);
  }
  for (let c = 0; c < callers; c++) {
    calls.push(
      fetch(`${API_URL}/functions/v1/webhook-dispatch`, {
        method: "POST",
        headers: { apikey: SECRET_KEY, "content-type": "application/json" },
        body: "{}",
      }).then((r) => r.text()),
    );
  }
  await settle(endpoint, rows);
  await Promise.all(calls);
  const what = fn ? "to fn:order-events" : `+${callers} callers`;
  await report(`${name} (${rows} rows, txns of 1000, ${what})${noise}`, table, endpoint, rows, loadBefore, fn);
  await teardown(table, endpoint);
}

await burst("burst", ROWS, CALLERS, false);
if (FN_ROWS > 0) await burst("function", FN_ROWS, 0, true);

await server.shutdown();
await sql.end();
