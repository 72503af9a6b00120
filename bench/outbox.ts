// The orders flow end to end on the local stack: orders written with SQL -> the webhooks capture
// trigger (the subscription orders -> fn:order-events, 20261205000100) -> webhooks.events and
// webhooks.deliveries -> scheduler (LISTEN/NOTIFY webhooks) -> webhook-dispatch -> POST signed
// with ORDER_EVENTS_SECRET -> order-events (verify, dedupe, process the order). Each new order
// yields two events: its INSERT (which processes it) and the status change pending -> processed
// that the processing causes.
//
// Scenarios:
//   trickle    one order per transaction, BENCH_TRICKLE (100) of them, 25 ms apart: latency
//              when the system is not loaded;
//   sustained  for each rate of BENCH_RATES (150,300) orders/s, BENCH_SECONDS (10) s of writes
//              in transactions of rate/10 orders every 100 ms: does delivery keep up?
//   burst      BENCH_BURST (5000) orders in transactions of 1000, back to back: drain rate.
// Latency is per event, the delivery's finished_at - created_at (both from the database clock:
// created by the trigger at the INSERT, finished when webhook-dispatch recorded the receiver's
// 2xx, i.e. after the signature was verified and the order processed). events/s = events
// delivered / (last delivery - first event created). lost = events of these orders not delivered, or
// orders not processed, when the run ends. duplicate effects = orders processed more than
// once (audit_log pending -> processed rows) plus stock not matching the processed orders.
// retries = failed tries that were retried. Orders buy one of BENCH_PRODUCTS (100) products,
// round robin (BENCH_PRODUCTS=1: every order locks the same product row, a flash sale).
//
//   node_modules/.bin/deno run --allow-all bench/outbox.ts      (or `make bench`)
import postgres from "npm:postgres";
import { DB_URL } from "../tests/stack_env.ts";
import { deleteRowsSince, markRows } from "../tests/cleanup.ts";

const sql = postgres(DB_URL, {
  onnotice: () => {},
  max: 4,
});
const num = (name: string, fallback: number) => Number(Deno.env.get(name) ?? fallback);
const TRICKLE = num("BENCH_TRICKLE", 100);
const RATES = (Deno.env.get("BENCH_RATES") ?? "150,300").split(",").map(Number);
const SECONDS = num("BENCH_SECONDS", 10);
const BURST = num("BENCH_BURST", 5000);
const WAIT_MS = num("BENCH_WAIT_MS", 180_000);
const PRODUCTS = num("BENCH_PRODUCTS", 100);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A user and PRODUCTS products (a catalogue: orders spread over it round robin). */
async function fixture(): Promise<{ user: string; products: number[] }> {
  const [{ id: user }] = await sql`insert into auth.users (email)
    values (${`bench-outbox-${crypto.randomUUID()}@x`}) returning id`;
  const rows = await sql`insert into public.products (sku, name, unit_amount, currency, stock)
    select 'OB-' || gen_random_uuid(), 'outbox bench', 990, 'USD', 100000000
      from generate_series(1, ${PRODUCTS}) returning id`;
  return { user, products: rows.map((r) => Number(r.id)) };
}

let nextProduct = 0;

/** n orders of one line (quantity 1) in one transaction; returns their ids. */
async function writeOrders(user: string, products: number[], n: number): Promise<number[]> {
  const lines = Array.from({ length: n }, () => products[nextProduct++ % products.length]);
  return await sql.begin(async (tx) => {
    const rows = await tx`insert into public.orders (user_id, currency)
      select ${user}, 'USD' from generate_series(1, ${n}) returning id`;
    const ids = rows.map((r) => Number(r.id));
    await tx`insert into public.order_items (order_id, product_id, quantity, unit_amount)
      select o, p, 1, 0 from unnest(${ids}::bigint[], ${lines}::bigint[]) as t(o, p)`;
    return ids;
  });
}

async function stockOf(products: number[]): Promise<number> {
  const [r] = await sql`select sum(stock)::float8 as s from public.products where id = any(${products}::bigint[])`;
  return Number(r.s);
}

type Row = {
  scenario: string;
  orders: number;
  events: number;
  seconds: number;
  eventsPerSec: number;
  p50: number;
  p99: number;
  lost: number;
  duplicates: number;
  retries: number;
};

/** The orders' endpoint (fn:order-events) and the last delivery id before a scenario. */
async function mark(): Promise<{ endpoint: string; after: number }> {
  const [r] = await sql`select (select id from webhooks.endpoints
      where url = 'fn:order-events' and event_types @> '{orders.insert}' order by created_at limit 1) as endpoint,
    (select coalesce(max(id), 0) from webhooks.deliveries)::int8 as after`;
  if (!r.endpoint) throw new Error("no fn:order-events endpoint for orders (migration 20261205000100)");
  return { endpoint: r.endpoint, after: Number(r.after) };
}

async function measure(
  scenario: string,
  ids: number[],
  products: number[],
  stockBefore: number,
  since: { endpoint: string; after: number },
): Promise<Row> {
  const expected = ids.length * 2;
  const deadline = Date.now() + WAIT_MS;
  const keys = ids.map((id) => `[${id}]`);
  // The deliveries of these orders to fn:order-events (created after the mark, keyed by row).
  const mine = sql`d.endpoint_id = ${since.endpoint} and d.id > ${since.after} and d.row_key = any(${keys}::text[])`;
  // Cheap polls (primary key and the pending index): every order processed and none of their
  // events undelivered.
  while (Date.now() < deadline) {
    const [p] = await sql`select count(*)::int as n from public.orders
      where id = any(${ids}::bigint[]) and status = 'pending'`;
    const [u] = await sql`select count(*)::int as n from webhooks.deliveries d
      where ${mine} and d.status <> 'delivered'`;
    if (p.n === 0 && u.n === 0) break;
    await sleep(200);
  }
  const [e] = await sql`
    select count(*)::int as total,
           count(*) filter (where status = 'delivered')::int as delivered,
           coalesce(sum(greatest(attempts - 1, 0)) filter (where status = 'delivered'), 0)::int as retries,
           extract(epoch from max(finished_at) - min(created_at))::float8 as span,
           percentile_cont(0.5) within group (order by extract(epoch from finished_at - created_at))
             filter (where status = 'delivered') * 1000 as p50,
           percentile_cont(0.99) within group (order by extract(epoch from finished_at - created_at))
             filter (where status = 'delivered') * 1000 as p99
      from webhooks.deliveries d where ${mine}`;
  const [o] = await sql`select count(*) filter (where status = 'processed')::int as processed
      from public.orders where id = any(${ids}::bigint[])`;
  const [d] = await sql`select count(*)::int as n from (
      select record_id from public.audit_log
       where table_name = 'orders' and record_id = any(${ids.map(String)}::text[]) and action = 'UPDATE'
         and old_data ->> 'status' = 'pending' and new_data ->> 'status' = 'processed'
       group by record_id having count(*) > 1) x`;
  const stockDrift = Math.abs(stockBefore - await stockOf(products) - o.processed);
  const lost = (expected - e.delivered) + (ids.length - o.processed);
  return {
    scenario,
    orders: ids.length,
    events: e.delivered,
    seconds: e.span,
    eventsPerSec: e.delivered / e.span,
    p50: e.p50,
    p99: e.p99,
    lost,
    duplicates: d.n + stockDrift,
    retries: e.retries,
  };
}

async function trickle(user: string, products: number[]): Promise<Row> {
  const before = await stockOf(products);
  const since = await mark();
  const ids: number[] = [];
  for (let i = 0; i < TRICKLE; i++) {
    ids.push(...await writeOrders(user, products, 1));
    await sleep(25);
  }
  return measure(`trickle: 1 order/tx every 25 ms`, ids, products, before, since);
}

async function sustained(user: string, products: number[], rate: number): Promise<Row> {
  const before = await stockOf(products);
  const since = await mark();
  const perTick = Math.max(1, Math.round(rate / 10));
  const ids: number[] = [];
  const t0 = performance.now();
  for (let tick = 0; tick < SECONDS * 10; tick++) {
    ids.push(...await writeOrders(user, products, perTick));
    const wait = t0 + (tick + 1) * 100 - performance.now();
    if (wait > 0) await sleep(wait);
  }
  return measure(`sustained: ${perTick * 10} orders/s for ${SECONDS} s`, ids, products, before, since);
}

async function burst(user: string, products: number[]): Promise<Row> {
  const before = await stockOf(products);
  const since = await mark();
  const ids: number[] = [];
  for (let left = BURST; left > 0; left -= 1000) ids.push(...await writeOrders(user, products, Math.min(1000, left)));
  return measure(`burst: ${BURST} orders in txs of 1000`, ids, products, before, since);
}

// Everything this run adds to the database is deleted at the end (tests/cleanup.ts).
const startRows = await markRows(sql);
try {
  const [auto] = await sql`select value from public.app_settings where key = 'auto_process_orders'`;
  if (auto && auto.value === false) {
    console.log("app_settings.auto_process_orders is false: orders will not be processed; aborting.");
    Deno.exit(1);
  }
  const { user, products } = await fixture();
  const rows: Row[] = [];
  const runs = [
    trickle,
    ...RATES.map((rate) => (user: string, products: number[]) => sustained(user, products, rate)),
    burst,
  ];
  for (const run of runs) {
    rows.push(await run(user, products));
    await sleep(1000);
  }
  const f = (n: number, d = 0) => (Number.isFinite(n) ? n.toFixed(d) : "-");
  console.log(
    `Orders events (orders -> fn:order-events through webhook-dispatch) end to end on the local stack (${navigator.hardwareConcurrency} CPUs); 2 events per order; ${PRODUCTS} products.\n`,
  );
  console.log(
    "| scenario | orders | events delivered | span s | events/s | p50 ms | p99 ms | lost | duplicate effects | retries |",
  );
  console.log("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
  for (const r of rows) {
    console.log(
      `| ${r.scenario} | ${r.orders} | ${r.events} | ${f(r.seconds, 2)} | ${f(r.eventsPerSec)} | ${f(r.p50)} | ${
        f(r.p99)
      } | ${r.lost} | ${r.duplicates} | ${r.retries} |`,
    );
  }
} finally {
  await deleteRowsSince(sql, startRows);
  await sql.end();
}
