// Where process-order's time goes, against the seed's TypeScript function (or PEER): CPU per request of
// each process of the local stack (PostgreSQL's backends, the REST server, the gateway, each
// function, the orders-events functions webhook-dispatch and order-events), read from /proc (Linux) around each measured cell. Rounds
// alternate the two functions (C clients, N fresh 3-line orders a cell, R rounds) so load from
// other work hits both alike; CPU per request is far less sensitive to that load than
// requests/s. Run on a running stack: `deno run -A bench/process_order_cpu.ts` (env C, N, R).
// Everything it adds to the database is deleted at the end (tests/cleanup.ts).
import postgres from "npm:postgres";
import { API_URL, DB_URL } from "../tests/stack_env.ts";
import { deleteRowsSince, markRows } from "../tests/cleanup.ts";
const API = API_URL;
const sql = postgres(DB_URL, { onnotice: () => {} });
const startRows = await markRows(sql);
const KEY =
  "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJpc3MiOiJzdXBhYmFzZS1kZW1vIiwicm9sZSI6InNlcnZpY2Vfcm9sZSIsImV4cCI6MTk4MzgxMjk5Nn0.EGIM96RAZx35lJzdJsyH-qQwv8Hdp7fsn3W0YpN81IU";
const N = Number(Deno.env.get("N") ?? 200), C = Number(Deno.env.get("C") ?? 10), R = Number(Deno.env.get("R") ?? 3);
// The TypeScript function compared: the seed's (default), or PEER=process-order-ts-rpc, process-order's
// own two RPCs called from TypeScript (the same SQL work).
const PEER = Deno.env.get("PEER") ?? "process-order-ts";
await sql`update public.app_settings set value = 'false' where key = 'auto_process_orders'`;
const [{ id: user }] =
  await sql`insert into auth.users (email) values (${`seq-${crypto.randomUUID()}@x`}) returning id`;
const products = (await sql`insert into public.products (sku, name, unit_amount, currency, stock)
  select 'S-' || gen_random_uuid(), 'seq', 1234, 'USD', 100000000 from generate_series(1, 50) returning id`).map((r) =>
  Number(r.id)
);
const all: number[] = [];
async function fresh(n: number) {
  const ids = (await sql`insert into public.orders (user_id, currency, shipping_region)
    select ${user}, 'USD', 'US-CA' from generate_series(1, ${n}) returning id`).map((r) => Number(r.id));
  const items = ids.flatMap((id, i) => [0, 1, 2].map((k) => [id, products[(i * 3 + k) % 50], k + 1]));
  await sql`insert into public.order_items (order_id, product_id, quantity, unit_amount)
    select o, p, q, 0 from unnest(${items.map((x) => x[0])}::bigint[], ${items.map((x) => x[1])}::bigint[], ${
    items.map((x) => x[2])
  }::int[]) as t(o, p, q)`;
  all.push(...ids);
  return ids;
}
async function call(fn: string, id: number) {
  const r = await fetch(`${API}/functions/v1/${fn}`, {
    method: "POST",
    headers: { authorization: `Bearer ${KEY}`, "content-type": "application/json" },
    body: JSON.stringify({ order_id: id }),
  });
  await r.arrayBuffer();
  if (r.status !== 200) throw new Error(`${fn} ${r.status}`);
}
for (const fn of ["process-order", PEER]) for (const id of await fresh(60)) await call(fn, id);
const res: Record<string, number[]> = { "process-order": [], [PEER]: [] };
const cpuRes: Record<string, Record<string, number>[]> = { "process-order": [], [PEER]: [] };
const tick = 100;
const stat = (pid: number) => {
  try {
    const f = Deno.readTextFileSync(`/proc/${pid}/stat`).split(") ")[1].split(" ");
    return (Number(f[11]) + Number(f[12])) * 1000 / tick;
  } catch {
    return 0;
  }
};
const stackDir = Deno.env.get("STACK_DIR") ?? new URL("../.stack", import.meta.url).pathname;
const stack = new URL(`file://${stackDir}/`);
const pgRoot = Number(Deno.readTextFileSync(new URL("pg/postmaster.pid", stack)).split("\n")[0]);
function children(ppid: number) {
  const out: number[] = [];
  for (const e of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(e.name)) continue;
    try {
      const f = Deno.readTextFileSync(`/proc/${e.name}/stat`).split(") ")[1].split(" ");
      if (Number(f[1]) === ppid) out.push(Number(e.name));
    } catch { /* gone */ }
  }
  return out;
}
async function snapshot() {
  const h = await (await fetch(`${API}/health`)).json();
  const fnPid = Object.fromEntries(h.functions.map((f: { name: string; pid: number }) => [f.name, f.pid]));
  const pg = [pgRoot, ...children(pgRoot)].reduce((a, p) => a + stat(p), 0);
  return {
    pg,
    rest: stat(Number(Deno.readTextFileSync(new URL("rest.pid", stack)).trim())),
    gateway: stat(Number(Deno.readTextFileSync(new URL("gateway.pid", stack)).trim())),
    fn_rust: stat(fnPid["process-order"]),
    fn_ts: stat(fnPid[PEER]),
    outbox: stat(fnPid["webhook-dispatch"]) + stat(fnPid["order-events"]),
  };
}
for (let r = 0; r < R; r++) {
  for (const fn of r % 2 ? [PEER, "process-order"] : ["process-order", PEER]) {
    const ids = await fresh(N);
    // Statistics that match the tables (see analyzed() in bench/process_order.ts).
    if (Deno.env.get("BENCH_ANALYZE") !== "0") await sql`analyze public.orders, public.order_items, public.products`;
    await new Promise((r) => setTimeout(r, 2500));
    let next = 0;
    const s0 = await snapshot();
    const t0 = performance.now();
    await Promise.all(Array.from({ length: C }, async () => {
      while (next < ids.length) await call(fn, ids[next++]);
    }));
    res[fn].push(N / ((performance.now() - t0) / 1000));
    await new Promise((r) => setTimeout(r, 2500));
    const s1 = await snapshot();
    cpuRes[fn].push(
      Object.fromEntries(
        Object.keys(s0).map((k) => [k, ((s1 as Record<string, number>)[k] - (s0 as Record<string, number>)[k]) / N]),
      ),
    );
  }
}
const med = (a: number[]) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];
console.log(
  `C=${C} rps po=${res["process-order"].map((x) => x.toFixed(0))} ${PEER}=${
    res[PEER].map((x) => x.toFixed(0))
  } median ratio ${(med(res["process-order"]) / med(res[PEER])).toFixed(2)}`,
);
for (const fn of Object.keys(cpuRes)) {
  const keys = Object.keys(cpuRes[fn][0]);
  const mean = Object.fromEntries(keys.map((k) => [k, cpuRes[fn].reduce((a, x) => a + x[k], 0) / cpuRes[fn].length]));
  const total = mean.pg + mean.rest + mean.gateway + mean.fn_rust + mean.fn_ts + mean.outbox;
  console.log(
    fn,
    "CPU ms/request",
    Object.entries(mean).map(([k, v]) => `${k}=${v.toFixed(2)}`).join(" "),
    `total=${total.toFixed(2)}`,
  );
}
await sql`update public.app_settings set value = 'true' where key = 'auto_process_orders'`;
await deleteRowsSince(sql, startRows);
await sql.end();
