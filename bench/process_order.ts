// process-order (Rust/wasm) against the seed's TypeScript function (bench/functions/
// process-order-ts) and against process-order's own work written in TypeScript (bench/functions/
// process-order-ts-rpc: the same two RPCs, so the same stock reservation, audit and checks in
// SQL), all served by the same local stack through the same gateway.
//
// For each concurrency (1, 10, 50 clients) and each function: fresh pending orders (3 lines
// each, over a pool of 50 products) are created in bulk, then every order is requested once,
// and in a second round twice at the same moment (a client retry racing the original, which is
// what retries and double clicks do in production). We report requests/s, p50 and p99 latency
// over all requests, and how many orders were processed more than once (more than one UPDATE
// setting processed_at in the audit log).
import postgres from "npm:postgres";
import { API_URL, DB_URL } from "../tests/stack_env.ts";
import { deleteRowsSince, markRows } from "../tests/cleanup.ts";

const SERVICE_ROLE_KEY =
  "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJpc3MiOiJzdXBhYmFzZS1kZW1vIiwicm9sZSI6InNlcnZpY2Vfcm9sZSIsImV4cCI6MTk4MzgxMjk5Nn0.EGIM96RAZx35lJzdJsyH-qQwv8Hdp7fsn3W0YpN81IU";
const sql = postgres(DB_URL, {
  onnotice: () => {},
});
const ORDERS = Number(Deno.env.get("BENCH_ORDERS") ?? 400);
const FUNCTIONS = ["process-order", "process-order-ts", "process-order-ts-rpc"];
const NAMES: Record<string, string> = {
  "process-order": "Rust/wasm process-order",
  "process-order-ts": "seed TypeScript",
  "process-order-ts-rpc": "TypeScript, same RPCs",
};
const rps = new Map<string, number>();
const totals = new Map<string, Set<number>>();

// Orders spread over a pool of products, 3 distinct products per order: one hot product would
// make every reservation wait on one stock row and measure that lock, not the functions.
const POOL = 50;
async function freshOrders(n: number): Promise<number[]> {
  const [{ id: user }] = await sql`insert into auth.users (email) values (${`bench-${crypto.randomUUID()}@x`})
    returning id`;
  const products = (await sql`insert into public.products (sku, name, unit_amount, currency, stock)
    select 'B-' || gen_random_uuid(), 'bench', 1234, 'USD', 100000000 from generate_series(1, ${POOL})
    returning id`).map((r) => Number(r.id));
  const rows = await sql`insert into public.orders (user_id, currency, shipping_region)
    select ${user}, 'USD', 'US-CA' from generate_series(1, ${n}) returning id`;
  const ids = rows.map((r) => Number(r.id));
  const items = ids.flatMap((id, i) => [0, 1, 2].map((k) => [id, products[(i * 3 + k) % POOL], k + 1]));
  await sql`insert into public.order_items (order_id, product_id, quantity, unit_amount)
    select o, p, q, 0 from unnest(${items.map((x) => x[0])}::bigint[], ${items.map((x) => x[1])}::bigint[],
      ${items.map((x) => x[2])}::int[]) as t(o, p, q)`;
  await analyzed();
  return ids;
}

// The planner's statistics of the tables the cells fill: each run deletes its rows at the end,
// autovacuum then analyzes orders and order_items back at a handful of rows, and every pooled
// connection's cached plan for "the lines of order $1" becomes a sequential scan of what is
// thousands of rows during the next run (for both functions; more so the more often a function
// reads the table). Analyzing after each fill measures the functions on statistics that match
// the tables, as on a database in use. BENCH_ANALYZE=0 leaves them as autovacuum has them.
async function analyzed() {
  if (Deno.env.get("BENCH_ANALYZE") !== "0") {
    await sql`analyze public.orders, public.order_items, public.products`;
  }
}

async function call(fn: string, orderId: number): Promise<[number, number]> {
  const t0 = performance.now();
  const resp = await fetch(`${API_URL}/functions/v1/${fn}`, {
    method: "POST",
    headers: { authorization: `Bearer ${SERVICE_ROLE_KEY}`, "content-type": "application/json" },
    body: JSON.stringify({ order_id: orderId }),
  });
  await resp.arrayBuffer();
  return [resp.status, performance.now() - t0];
}

// Creating orders queues their INSERT events as database-webhook deliveries (orders ->
// fn:order-events): let the dispatcher deliver them before measuring, so both functions run on
// an equally quiet stack.
async function drained() {
  for (let i = 0; i < 600; i++) {
    const [{ n }] = await sql`select count(*)::int n from webhooks.deliveries where status = 'pending'`;
    if (n === 0) return;
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function run(fn: string, clients: number, copies: number) {
  const ids = await freshOrders(ORDERS);
  await drained();
  // `copies` requests per order, adjacent in the queue so they run concurrently.
  const queue = ids.flatMap((id) => Array(copies).fill(id));
  const latencies: number[] = [];
  const statuses = new Map<number, number>();
  let next = 0;
  const t0 = performance.now();
  await Promise.all(Array.from({ length: clients }, async () => {
    while (next < queue.length) {
      const id = queue[next++];
      const [status, ms] = await call(fn, id);
      latencies.push(ms);
      statuses.set(status, (statuses.get(status) ?? 0) + 1);
    }
  }));
  const seconds = (performance.now() - t0) / 1000;
  latencies.sort((a, b) => a - b);
  const q = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))];
  const [{ twice }] = await sql`select count(*)::int twice from (
      select record_id from public.audit_log
      where table_name = 'orders' and action = 'UPDATE' and 'processed_at' = any(changed_fields)
        and record_id = any(${ids.map(String)}::text[])
      group by record_id having count(*) > 1) d`;
  const [{ processed }] = await sql`select count(*)::int processed from public.orders
    where id = any(${ids}::bigint[]) and status = 'processed'`;
  const totals = (await sql`select distinct total_amount from public.orders
    where id = any(${ids}::bigint[]) and status = 'processed'`).map((r) => Number(r.total_amount));
  return {
    totals,
    rps: queue.length / seconds,
    p50: q(0.5),
    p99: q(0.99),
    twice,
    processed,
    statuses: [...statuses].map(([s, n]) => `${s}x${n}`).join(" "),
  };
}

// Everything this run adds to the database is deleted at the end (tests/cleanup.ts).
const startRows = await markRows(sql);
try {
  // Both functions are driven explicitly: switch automatic processing off for the run.
  await sql`update public.app_settings set value = 'false' where key = 'auto_process_orders'`;

  // Warm both (JIT, connection pools) before measuring, over every connection of the REST
  // server's pool: it holds up to 40 (the outbox traffic of the first fill opens them all), a
  // request takes the connection idle longest, and a connection's first requests of a function
  // cost PostgreSQL its catalog caches and compiling the functions it runs (5 to 9 ms of CPU at
  // its first order, measured on a new connection). 50 requests at 1 client gave each
  // connection about one of each function's calls; 200 orders each at 50 clients give it about
  // five, so no cell pays for warming. BENCH_WARM_CLIENTS=1 warms as before (50 at 1 client).
  const warmClients = Number(Deno.env.get("BENCH_WARM_CLIENTS") ?? 50);
  for (const fn of FUNCTIONS) {
    const ids = await freshOrders(warmClients > 1 ? 200 : 50);
    let next = 0;
    await Promise.all(Array.from({ length: warmClients }, async () => {
      while (next < ids.length) await call(fn, ids[next++]);
    }));
  }

  console.log(`${ORDERS} fresh orders per cell; "once": one request per order; "with a retry": each order requested`);
  console.log("twice at the same moment (a client retry racing the original)");
  console.log(
    "| requests per order | clients | function | requests/s | p50 ms | p99 ms | orders processed | processed more than once | statuses |",
  );
  console.log("| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | --- |");
  for (const copies of [1, 2]) {
    for (const clients of [1, 10, 50]) {
      for (const fn of FUNCTIONS) {
        const r = await run(fn, clients, copies);
        const name = NAMES[fn];
        rps.set(`${copies} ${clients} ${fn}`, r.rps);
        r.totals.forEach((t) => (totals.get(fn) ?? totals.set(fn, new Set()).get(fn)!).add(t));
        console.log(
          `| ${copies === 1 ? "once" : "with a retry"} | ${clients} | ${name} | ${r.rps.toFixed(0)} | ${
            r.p50.toFixed(1)
          } | ${r.p99.toFixed(1)} | ${r.processed} | ${r.twice} | ${r.statuses} |`,
        );
      }
    }
  }
  console.log("\nprocess-order's requests/s as a ratio of each TypeScript function's, at 1, 10 and 50 clients:");
  for (const copies of [1, 2]) {
    for (const peer of FUNCTIONS.slice(1)) {
      const ratios = [1, 10, 50].map((
        c,
      ) => (rps.get(`${copies} ${c} process-order`)! / rps.get(`${copies} ${c} ${peer}`)!));
      console.log(
        `- ${copies === 1 ? "once" : "with a retry"}, against the ${NAMES[peer]}: ${
          ratios.map((x) => x.toFixed(2) + "x").join(", ")
        }`,
      );
    }
  }
  // The same-work peer must price as process-order does (same orders, same products): else its
  // column would measure less work. The seed's function prices lines only (no tax, no shipping).
  const ours = [...(totals.get("process-order") ?? [])].sort().join(",");
  const same = [...(totals.get("process-order-ts-rpc") ?? [])].sort().join(",");
  console.log(`order totals: process-order ${ours}; TypeScript, same RPCs ${same}`);
  if (ours !== same || ours === "") throw new Error("the same-work TypeScript peer priced the orders differently");
  await sql`update public.app_settings set value = 'true' where key = 'auto_process_orders'`;
} finally {
  await deleteRowsSince(sql, startRows);
  await sql.end();
}
