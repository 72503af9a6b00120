// The stack's database as an upgrade with live data (issue 10: "a database migrated from today's
// schema with live orders passes the e2e suite"). scripts/test.sh builds a new stack database
// from the migrations before STACK_UPGRADE_FROM, the live data of that schema's code
// (scripts/sql/live-before-<version>.sql), then the newer migrations; the whole e2e suite runs
// on it. This file checks what became of the live orders and their events in flight. It runs
// when scripts/test.sh says the database was built that way (UPGRADED_FROM), and fails then if
// the live data is missing; on a database built straight (make start) it is ignored.
import { assert, assertEquals } from "../assert.ts";
import { callFn, eventually, newProduct, orderRow, placeOrder, signUserJwt, sql, stockOf } from "./_helpers.ts";

const UPGRADED = Deno.env.get("UPGRADED_FROM") ?? "";
const LIVE_USER = "00000000-0000-4000-8000-00000000a001";
const [PRODUCT_A, PRODUCT_B] = [900001, 900002];
// The live orders' lines, as scripts/sql/live-before-20261204001000.sql wrote them.
const LINES: Record<number, [number, number][]> = {
  900001: [[PRODUCT_A, 2], [PRODUCT_B, 1]],
  900002: [[PRODUCT_A, 3]],
  900003: [[PRODUCT_B, 4]],
};
const HOLDS_STOCK = ["processed", "paid", "fulfilled"];

function test(name: string, fn: () => Promise<void>) {
  Deno.test({ name, fn, ignore: UPGRADED === "", sanitizeOps: false, sanitizeResources: false });
}

/** The stock the live products must hold: 50 less what the live orders holding stock reserved. */
async function expectedStock(product: number): Promise<number> {
  let stock = 50;
  for (const [id, lines] of Object.entries(LINES)) {
    const { status } = await orderRow(Number(id));
    if (!HOLDS_STOCK.includes(status)) continue;
    for (const [p, q] of lines) if (p === product) stock -= q;
  }
  return stock;
}

test("upgraded database: the live data of the previous schema is there", async () => {
  const [{ n }] = await sql`select count(*)::int n from public.orders where id in (900001, 900002, 900003)
    and user_id = ${LIVE_USER}`;
  assertEquals(n, 3, `UPGRADED_FROM=${UPGRADED}, but the live orders are missing`);
  const [{ version }] = await sql`select max(version) as version from supabase_migrations.schema_migrations`;
  assert(version > UPGRADED, "the newer migrations were applied");
});

test("upgraded database: a pending order whose event crossed the upgrade was processed once", async () => {
  const order = await orderRow(900001);
  assert(["processed", "paid", "fulfilled", "cancelled"].includes(order.status), order.status);
  assertEquals(Number(order.subtotal_amount), 2 * 1000 + 250);
  assertEquals(
    Number(order.total_amount),
    Number(order.subtotal_amount) - Number(order.discount_amount) + Number(order.tax_amount) +
      Number(order.shipping_amount),
  );
  const [{ n }] = await sql`select count(*)::int n from public.audit_log
    where table_name = 'orders' and record_id = '900001' and 'processed_at' = any(changed_fields)`;
  assertEquals(n, 1, "processed exactly once");
  // Its INSERT event kept its webhook-id across the upgrade: order-events recorded it once.
  const receipts = await sql`select r.outcome from public.received_events r
    join public.event_outbox o on o.event_id = r.event_id
    where o.order_id = 900001 and o.payload->>'type' = 'INSERT'`;
  assertEquals(receipts.map((r) => r.outcome), ["processed"]);
  assertEquals([await stockOf(PRODUCT_A), await stockOf(PRODUCT_B)], [
    await expectedStock(PRODUCT_A),
    await expectedStock(PRODUCT_B),
  ]);
});

test("upgraded database: an order the previous code processed answers 409 and nothing changes", async () => {
  const before = await orderRow(900002);
  assert(before.status !== "pending", before.status);
  const stock = await stockOf(PRODUCT_A);
  const r = await callFn("process-order", { order_id: 900002 });
  assertEquals([r.status, r.body?.error?.code, r.body?.error?.details?.current_status], [
    409,
    "status_conflict",
    before.status,
  ]);
  const after = await orderRow(900002);
  assertEquals([after.status, String(after.updated_at), await stockOf(PRODUCT_A)], [
    before.status,
    String(before.updated_at),
    stock,
  ]);
  assertEquals(Number(after.total_amount), 3599, "the old code's totals are kept");
});

test("upgraded database: the outbox events in flight became fn:order-events deliveries with their ids", async () => {
  // Every live order's outbox event is a delivery of fn:order-events, with the outbox's
  // event_id as its webhook-id; the delivered ones delivered once, the dead one still dead.
  const rows = await sql`select o.order_id::int as order_id, o.payload->>'type' as type, d.status, d.attempts
    from public.event_outbox o
    join webhooks.events ev on ev.message_id = o.event_id
    join webhooks.deliveries d on d.event_id = ev.id
    join webhooks.endpoints e on e.id = d.endpoint_id and e.url = 'fn:order-events'
    where o.order_id in (900001, 900002, 900003)
    order by o.id`;
  assertEquals(rows.map((r) => [r.order_id, r.type, r.status]), [
    [900001, "INSERT", "delivered"],
    [900002, "INSERT", "delivered"],
    [900003, "INSERT", "dead"],
    [900002, "UPDATE", "delivered"],
  ]);
  assertEquals(rows[2].attempts, 12, "the dead event keeps its tries");
  const [{ n }] = await sql`select count(*)::int n from public.event_outbox where moved_at is null
    and status <> 'delivered'`;
  assertEquals(n, 0, "no outbox event was left behind");
});

test("upgraded database: an order whose event died before the upgrade stays pending", async () => {
  assertEquals((await orderRow(900003)).status, "pending");
  const [{ n }] = await sql`select count(*)::int n from public.audit_log
    where table_name = 'orders' and record_id = '900003' and action = 'UPDATE'`;
  assertEquals(n, 0, "never processed");
});

test("upgraded database: the live user's new order on a live product is processed automatically", async () => {
  const user = {
    id: LIVE_USER,
    token: await signUserJwt({ sub: LIVE_USER, role: "authenticated", aud: "authenticated" }),
  };
  const fresh = await newProduct({ price: 700, stock: 5 });
  const stockA = await stockOf(PRODUCT_A);
  const order = await placeOrder(user, [{ product_id: PRODUCT_A, quantity: 1 }, { product_id: fresh, quantity: 2 }]);
  const done = await eventually(async () => (await orderRow(order.id)).status === "processed", 15_000, 100);
  assert(done, `order ${order.id} was not processed automatically: ${(await orderRow(order.id)).status}`);
  assertEquals([await stockOf(PRODUCT_A), await stockOf(fresh)], [stockA - 1, 3]);
  assertEquals(Number((await orderRow(order.id)).subtotal_amount), 1000 + 2 * 700);
  // Put the live product's unit back: the next run (FUNCTION_KEYS=new) expects the same stock.
  await sql`update public.products set stock = stock + 1 where id = ${PRODUCT_A}`;
});
