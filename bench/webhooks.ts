// Database webhooks on the local stack: rows written with SQL -> webhooks.capture trigger ->
// scheduler (LISTEN/NOTIFY webhooks) -> webhook-dispatch -> signed POST -> a no-op receiver on
// 127.0.0.1 (this process, answering 204). Needs WEBHOOK_ALLOW_PRIVATE=true (the local stack's
// default).
//
// Scenarios (each on a fresh subscribed table and endpoint):
//   trickle    BENCH_HOOK_TRICKLE (100) rows, one per transaction, 20 ms apart: latency unloaded;
//   burst      BENCH_HOOK_ROWS (5000) rows in transactions of 1000, back to back: drain rate,
//              with BENCH_HOOK_CALLERS (0) extra webhook-dispatch callers beside the scheduler.
// Latency is per delivery, finished_at - created_at (database clock: from the trigger to the
// recorded 2xx). deliveries/s = deliveries / (last finished - first created). lost = events
// without a delivered delivery at the end; duplicates = webhook-ids the receiver saw twice.
//
//   node_modules/.bin/deno run --allow-all bench/webhooks.ts      (or `make bench`)
import postgres from "npm:postgres";
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
const WAIT_MS = num("BENCH_WAIT_MS", 180_000);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const seen = new Map<string, number>();
const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
  await req.arrayBuffer();
  const id = req.headers.get("webhook-id") ?? "";
  seen.set(id, (seen.get(id) ?? 0) + 1);
  return new Response(null, { status: 204 });
});

async function setup(name: string) {
  const table = `bench_hooks_${name}_${crypto.randomUUID().slice(0, 8)}`;
  await sql.unsafe(`create table public.${table} (id bigint primary key, v int not null default 0)`);
  await sql`select webhooks.subscribe(${`public.${table}`}::regclass, '{INSERT}')`;
  const [ep] = await sql`select id from webhooks.create_endpoint(
    ${`http://127.0.0.1:${server.addr.port}/${name}`}, ${[`${table}.insert`]}::text[])`;
  return { table, endpoint: ep.id as string };
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

async function report(scenario: string, table: string, endpoint: string, total: number) {
  const [r] = await sql`select count(*) filter (where d.status = 'delivered')::int as delivered,
      extract(epoch from max(d.finished_at) - min(v.created_at))::float8 as span,
      percentile_cont(0.5) within group (order by extract(epoch from d.finished_at - v.created_at))
        filter (where d.status = 'delivered') * 1000 as p50,
      percentile_cont(0.99) within group (order by extract(epoch from d.finished_at - v.created_at))
        filter (where d.status = 'delivered') * 1000 as p99,
      coalesce(sum(d.attempts - 1), 0)::int as retries
    from webhooks.deliveries d join webhooks.events v on v.id = d.event_id
   where d.endpoint_id = ${endpoint}`;
  const ids = await sql`select message_id from webhooks.events where table_name = ${table}`;
  const dup = ids.filter((e) => (seen.get(e.message_id) ?? 0) > 1).length;
  const lost = total - r.delivered;
  console.log(
    `| ${scenario} | ${total} | ${(r.delivered / r.span).toFixed(0)} | ${Number(r.p50).toFixed(0)} | ${
      Number(r.p99).toFixed(0)
    } | ${lost} | ${dup} | ${r.retries} |`,
  );
}

console.log("| scenario | deliveries | deliveries/s | p50 ms | p99 ms | lost | duplicates | retries |");
console.log("| --- | --- | --- | --- | --- | --- | --- | --- |");

{
  const { table, endpoint } = await setup("trickle");
  for (let i = 1; i <= TRICKLE; i++) {
    await sql.unsafe(`insert into public.${table} (id) values (${i})`);
    await sleep(20);
  }
  await settle(endpoint, TRICKLE);
  await report(`trickle (1 row/txn, 20 ms apart)`, table, endpoint, TRICKLE);
  await teardown(table, endpoint);
}

{
  const { table, endpoint } = await setup("burst");
  const callers: Promise<unknown>[] = [];
  for (let start = 1; start <= ROWS; start += 1000) {
    const n = Math.min(1000, ROWS - start + 1);
    await sql.unsafe(`insert into public.${table} (id) select g from generate_series(${start}, ${start + n - 1}) g`);
  }
  for (let c = 0; c < CALLERS; c++) {
    callers.push(
      fetch(`${API_URL}/functions/v1/webhook-dispatch`, {
        method: "POST",
        headers: { apikey: SECRET_KEY, "content-type": "application/json" },
        body: "{}",
      }).then((r) => r.text()),
    );
  }
  await settle(endpoint, ROWS);
  await Promise.all(callers);
  await report(`burst (${ROWS} rows, txns of 1000, +${CALLERS} callers)`, table, endpoint, ROWS);
  await teardown(table, endpoint);
}

await server.shutdown();
await sql.end();
