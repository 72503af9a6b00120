// process-order's SQL against the seed's, on one PostgreSQL connection: the backend's CPU per
// order (from /proc/<backend pid>/schedstat, nanoseconds; Linux, the database on this machine),
// with each call in its own transaction as the REST server sends it (role and request settings,
// the statement, commit). Rounds alternate the variants, so load from other work hits them alike;
// a backend's CPU time is far less sensitive to that load than wall time.
//
//   ours          GET order_for_processing, then apply_order_processing (what process-order sends)
//   seed          the seed's select with its items, then its update (what supabase-js sends)
//   ours-read     our read, the seed's update      seed-read   the seed's select, our apply
//
// B fresh 3-line orders per variant and round (100), R rounds (6). COLD=K: instead, on a new
// connection per variant and round, the CPU of each of its first K orders (what a new pool
// connection costs). Run on a running stack: `deno run -A bench/process_order_db.ts`. Everything
// it adds to the database is deleted at the end (tests/cleanup.ts).
import postgres from "npm:postgres";
import { DB_URL } from "../tests/stack_env.ts";
import { deleteRowsSince, markRows } from "../tests/cleanup.ts";

const admin = postgres(DB_URL, { onnotice: () => {} });
const startRows = await markRows(admin);
const B = Number(Deno.env.get("B") ?? 100), R = Number(Deno.env.get("R") ?? 6);
const COLD = Number(Deno.env.get("COLD") ?? 0);
const VARIANTS = (Deno.env.get("V") ?? "ours,seed,ours-read,seed-read").split(",");

type Line = { product_id: number; quantity: number; unit_amount: number; sku?: string };
type Tx = postgres.TransactionSql;

await admin`update public.app_settings set value = 'false' where key = 'auto_process_orders'`;
const [{ id: user }] = await admin`insert into auth.users (email)
  values (${`db-bench-${crypto.randomUUID()}@x`}) returning id`;
const products = (await admin`insert into public.products (sku, name, unit_amount, currency, stock)
  select 'D-' || gen_random_uuid(), 'db bench', 1234, 'USD', 100000000 from generate_series(1, 50)
  returning id`).map((r) => Number(r.id));

/** n fresh pending orders, 3 lines each over the 50 products (as bench/process_order.ts). */
async function fresh(n: number): Promise<number[]> {
  const ids = (await admin`insert into public.orders (user_id, currency, shipping_region)
    select ${user}, 'USD', 'US-CA' from generate_series(1, ${n}) returning id`).map((r) => Number(r.id));
  const items = ids.flatMap((id, i) => [0, 1, 2].map((k) => [id, products[(i * 3 + k) % 50], k + 1]));
  await admin`insert into public.order_items (order_id, product_id, quantity, unit_amount)
    select o, p, q, 0 from unnest(${items.map((x) => x[0])}::bigint[], ${items.map((x) => x[1])}::bigint[],
      ${items.map((x) => x[2])}::int[]) as t(o, p, q)`;
  await admin`analyze public.orders, public.order_items, public.products`;
  return ids;
}

let conn = postgres(DB_URL, { max: 1, onnotice: () => {} });
let pid = 0;
async function reconnect() {
  await conn.end();
  conn = postgres(DB_URL, { max: 1, onnotice: () => {} });
  [{ pid }] = await conn`select pg_backend_pid() as pid`;
}
await reconnect();
const cpuMs = () => Number(Deno.readTextFileSync(`/proc/${pid}/schedstat`).split(" ")[0]) / 1e6;

/** One request's transaction, with the settings postrust makes for the service role. */
async function tx<T>(method: string, path: string, f: (s: Tx) => Promise<T>): Promise<T> {
  return await conn.begin(async (s) => {
    await s`select set_config('search_path', '"public", "public"', true), set_config('role', 'service_role', true),
      set_config('request.method', ${method}, true), set_config('request.path', ${path}, true),
      set_config('request.jwt.claims', '{"role":"service_role"}', true)`;
    return await f(s);
  }) as T;
}

async function ourRead(id: number): Promise<Line[]> {
  const [{ o }] = await tx(
    "GET",
    "/rpc/order_for_processing",
    (s) => s`select * from public.order_for_processing(order_id => ${id}::bigint) o`,
  );
  return o.lines;
}
async function seedRead(id: number): Promise<Line[]> {
  const [row] = await tx(
    "GET",
    "/orders",
    (s) =>
      s`SELECT src.*, COALESCE((SELECT json_agg(row_to_json("e1_j")) FROM (SELECT "e1".* FROM "public"."order_items" AS "e1"
      WHERE "e1"."order_id" = "src"."id") "e1_j"), '[]'::json)::json AS "items" FROM (SELECT "id", "user_id", "status",
      "currency", "subtotal_amount", "discount_amount", "tax_amount", "shipping_amount", "total_amount", "discount_code",
      "shipping_region", "processed_at", "created_at", "updated_at", "payment_due_at", "redeemed_discount_code",
      "refunded_amount" FROM "public"."orders" WHERE "id" = ${id}::int8) AS src`,
  );
  return row.items;
}
async function ourApply(id: number, read: Line[]) {
  const lines = read.map((l) => ({
    product_id: l.product_id,
    sku: l.sku ?? "x",
    quantity: l.quantity,
    unit_amount: l.unit_amount,
    line_amount: l.quantity * l.unit_amount,
  }));
  const [{ a }] = await tx(
    "POST",
    "/rpc/apply_order_processing",
    (s) =>
      s`select * from public.apply_order_processing(discount_amount => ${0}::bigint,
      expected_status => ${"pending"}::text, lines => ${conn.json(lines)}::jsonb, order_id => ${id}::bigint,
      shipping_amount => ${599}::bigint, subtotal_amount => ${3702}::bigint, tax_amount => ${268}::bigint,
      total_amount => ${4569}::bigint) a`,
  );
  if (a.refusal) throw new Error(`order ${id}: ${JSON.stringify(a)}`);
}
async function seedApply(id: number) {
  const body = { total_amount: 3702, status: "processed", processed_at: new Date().toISOString() };
  await tx(
    "PATCH",
    "/orders",
    (s) =>
      s`UPDATE "public"."orders" SET "total_amount" = pgrst_body."total_amount", "status" = pgrst_body."status",
      "processed_at" = pgrst_body."processed_at" FROM (SELECT ${conn.json(body)}::json AS json_data) pgrst_payload,
      LATERAL (SELECT "status", "total_amount", "processed_at" FROM json_to_record(pgrst_payload.json_data)
      AS _("status" text, "total_amount" int8, "processed_at" timestamptz) LIMIT 1) pgrst_body
      WHERE "orders"."id" = ${id}::bigint RETURNING 1 AS "pgrst_affected"`,
  );
}
const run: Record<string, (id: number) => Promise<void>> = {
  "ours": async (id) => await ourApply(id, await ourRead(id)),
  "seed": async (id) => {
    await seedRead(id);
    await seedApply(id);
  },
  "ours-read": async (id) => {
    await ourRead(id);
    await seedApply(id);
  },
  "seed-read": async (id) => await ourApply(id, await seedRead(id)),
};

const med = (a: number[]) => [...a].sort((x, y) => x - y)[a.length >> 1];
const rotation = (r: number) => (r % 2 ? [...VARIANTS].reverse() : VARIANTS);
try {
  if (COLD > 0) {
    const per: Record<string, number[][]> = Object.fromEntries(VARIANTS.map((v) => [v, []]));
    for (let r = 0; r < R; r++) {
      for (const v of rotation(r)) {
        const ids = await fresh(COLD);
        await reconnect();
        const row: number[] = [];
        for (const id of ids) {
          const c0 = cpuMs();
          await run[v](id);
          row.push(cpuMs() - c0);
        }
        per[v].push(row);
      }
    }
    console.log(`backend CPU ms of the n-th order on a new connection, median of ${R}`);
    for (const v of VARIANTS) {
      const cols = per[v][0].map((_, i) => med(per[v].map((row) => row[i])));
      const sum = cols.reduce((a, b) => a + b, 0);
      console.log(`${v.padEnd(10)} ${cols.map((x) => x.toFixed(2)).join(" ")}; sum ${sum.toFixed(1)}`);
    }
  } else {
    for (const v of VARIANTS) for (const id of await fresh(20)) await run[v](id); // warm
    const res: Record<string, number[]> = Object.fromEntries(VARIANTS.map((v) => [v, []]));
    for (let r = 0; r < R; r++) {
      for (const v of rotation(r)) {
        const ids = await fresh(B);
        const c0 = cpuMs();
        for (const id of ids) await run[v](id);
        res[v].push((cpuMs() - c0) / B);
      }
    }
    console.log(`backend CPU ms per order (one warm connection), median of ${R} rounds of ${B} orders`);
    for (const v of VARIANTS) {
      console.log(`${v.padEnd(10)} ${med(res[v]).toFixed(3)} [${res[v].map((x) => x.toFixed(3)).join(" ")}]`);
    }
  }
} finally {
  await conn.end();
  await admin`update public.app_settings set value = 'true' where key = 'auto_process_orders'`;
  await deleteRowsSince(admin, startRows);
  await admin.end();
}
