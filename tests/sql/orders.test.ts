// Races on orders, items and stock, against the real SQL functions (issue 9 F1/F2, issue 14).
import { assert, assertEquals } from "../assert.ts";
import { applyProcessing, codeOf, fixtures, SERVICE, sqlTest, testDatabase, transition } from "./_db.ts";

const db = await testDatabase("orders");
const { admin } = db;
const fx = fixtures(admin);
const userClaims = (sub: string) => ({ role: "authenticated", sub });

/** A user's REST insert into order_items (PostgREST: one transaction, role authenticated). */
function insertItem(s: Awaited<ReturnType<typeof db.session>>, order: number, product: number, quantity: number) {
  return s.sql`insert into public.order_items (order_id, product_id, quantity, unit_amount)
    values (${order}, ${product}, ${quantity}, 0)`;
}

async function auditCount(table: string, id: number): Promise<number> {
  const [r] = await admin`select count(*)::int as n from public.audit_log
    where table_name = ${table} and record_id = ${String(id)}`;
  return r.n;
}

sqlTest("F1: an item inserted while the order is processed waits for it and is then refused", async () => {
  const user = await fx.user();
  const p = await fx.product({ price: 1000, stock: 100 });
  const order = await fx.order(user, [[p, 1]]);
  const lines = await fx.pricedLines(order);
  const a = await db.session("processing");
  const b = await db.session("user insert");

  await a.begin(SERVICE);
  const applied = await applyProcessing(a.sql, order, lines);
  assertEquals(applied.refusal, null);
  await b.begin(userClaims(user));
  const insert = b.start(insertItem(b, order, p, 50));
  await b.waitUntilBlocked(insert);
  await a.commit();
  const r = await insert.result;
  await b.rollback();

  assertEquals(codeOf(r), "42501");
  assert(!r.ok && /order \d+ is processed: items can be added only while it is pending/.test(r.error.message));
  assertEquals(await fx.items(order), [[p, 1]]);
  const [o] = await admin`select status, subtotal_amount from public.orders where id = ${order}`;
  assertEquals([o.status, Number(o.subtotal_amount)], ["processed", 1000]);
  assertEquals(await fx.stock(p), 99);

  // Cancelling releases exactly what processing reserved.
  const s = await db.session("cancel");
  await s.begin(SERVICE);
  assertEquals((await transition(s.sql, order, "processed", "cancelled")).refusal, null);
  await s.commit();
  assertEquals(await fx.stock(p), 100);
});

sqlTest("F1: no role may add, change or delete the items of an order that is no longer pending", async () => {
  const user = await fx.user();
  const p = await fx.product({ stock: 10 });
  const order = await fx.order(user, [[p, 2]]);
  const s = await db.session("service");
  await s.begin(SERVICE);
  assertEquals((await applyProcessing(s.sql, order, await fx.pricedLines(order))).refusal, null);
  await s.commit();
  const before = await auditCount("order_items", order);
  for (
    const attempt of [
      () =>
        admin`insert into public.order_items (order_id, product_id, quantity, unit_amount) values (${order}, ${p}, 1, 0)`,
      () => admin`update public.order_items set quantity = 5 where order_id = ${order}`,
      () => admin`delete from public.order_items where order_id = ${order}`,
    ]
  ) {
    const r = await attempt().then(() => "ok", (e) => e.code);
    assertEquals(r, "42501");
  }
  assertEquals(await fx.items(order), [[p, 2]]);
  assertEquals(await fx.stock(p), 8);
  assertEquals(await auditCount("order_items", order), before);
  // Deleting the order itself still takes its items with it (the cascade is not refused).
  await admin`delete from public.orders where id = ${order}`;
  assertEquals(await fx.items(order), []);
});

sqlTest("order_changed: an item inserted before processing applies makes it write nothing", async () => {
  const user = await fx.user();
  const p = await fx.product({ price: 700, stock: 100 });
  const q = await fx.product({ price: 300, stock: 100 });
  const order = await fx.order(user, [[p, 1]]);
  const lines = await fx.pricedLines(order); // what Rust priced
  const a = await db.session("user insert");
  const b = await db.session("processing");

  await a.begin(userClaims(user));
  await insertItem(a, order, q, 40);
  await b.begin(SERVICE);
  const apply = b.start(applyProcessing(b.sql, order, lines));
  await b.waitUntilBlocked(apply);
  await a.commit();
  const r = await apply.result;
  await b.commit();

  assert(r.ok, String(!r.ok && r.error));
  assertEquals(r.value, { refusal: { kind: "order_changed" } });
  assertEquals(await fx.status(order), "pending");
  assertEquals([await fx.stock(p), await fx.stock(q)], [100, 100]);
});

sqlTest("processing the same order from two sessions at once applies it once", async () => {
  const user = await fx.user();
  const p = await fx.product({ stock: 10 });
  const order = await fx.order(user, [[p, 3]]);
  const lines = await fx.pricedLines(order);
  const a = await db.session("first");
  const b = await db.session("second");

  await a.begin(SERVICE);
  assertEquals((await applyProcessing(a.sql, order, lines)).refusal, null);
  await b.begin(SERVICE);
  const second = b.start(applyProcessing(b.sql, order, lines));
  await b.waitUntilBlocked(second);
  await a.commit();
  const r = await second.result;
  await b.commit();

  assert(r.ok);
  assertEquals(r.value, { refusal: { kind: "status_conflict", current_status: "processed" } });
  assertEquals(await fx.stock(p), 7);
  const [{ n }] = await admin`select count(*)::int as n from public.audit_log
    where table_name = 'orders' and record_id = ${String(order)} and new_data ->> 'status' = 'processed'
      and old_data ->> 'status' = 'pending'`;
  assertEquals(n, 1);
});

sqlTest("cancel vs process: whichever locks the order first wins, the other sees the new status", async () => {
  const user = await fx.user();
  const p = await fx.product({ stock: 10 });

  // Processing first: the cancel of the pending order waits, then finds it processed.
  const o1 = await fx.order(user, [[p, 2]]);
  const a = await db.session("processing");
  const b = await db.session("cancel");
  await a.begin(SERVICE);
  assertEquals((await applyProcessing(a.sql, o1, await fx.pricedLines(o1))).refusal, null);
  await b.begin(SERVICE);
  const cancel = b.start(transition(b.sql, o1, "pending", "cancelled"));
  await b.waitUntilBlocked(cancel);
  await a.commit();
  const rc = await cancel.result;
  await b.commit();
  assert(rc.ok);
  assertEquals(rc.value, { refusal: { kind: "status_conflict", current_status: "processed" } });
  assertEquals([await fx.status(o1), await fx.stock(p)], ["processed", 8]);

  // Cancel first: processing waits, then finds it cancelled and reserves nothing.
  const o2 = await fx.order(user, [[p, 5]]);
  const lines = await fx.pricedLines(o2);
  await b.begin(SERVICE);
  assertEquals((await transition(b.sql, o2, "pending", "cancelled")).refusal, null);
  await a.begin(SERVICE);
  const apply = a.start(applyProcessing(a.sql, o2, lines));
  await a.waitUntilBlocked(apply);
  await b.commit();
  const ra = await apply.result;
  await a.commit();
  assert(ra.ok);
  assertEquals(ra.value, { refusal: { kind: "status_conflict", current_status: "cancelled" } });
  assertEquals([await fx.status(o2), await fx.stock(p)], ["cancelled", 8]);
});

/** apply_order_processing with the event's receipt, as order-events calls it for a new order's INSERT event. */
function applyEventProcessing(
  sql: Awaited<ReturnType<typeof db.session>>["sql"],
  event: string,
  order: number,
  lines: { product_id: number; quantity: number; unit_amount: number }[],
) {
  const subtotal = lines.reduce((a, l) => a + l.quantity * l.unit_amount, 0);
  const receipt = { source: "event_outbox", event_id: event, event_type: "INSERT" };
  return sql`select public.apply_order_processing(receipt => ${sql.json(receipt)}, order_id => ${order},
      expected_status => 'pending', subtotal_amount => ${subtotal}, discount_amount => 0, tax_amount => 0,
      shipping_amount => 0, total_amount => ${subtotal}, lines => ${sql.json(lines)}) as r`
    .then((rows) => rows[0].r as Record<string, any>);
}

async function receipts(event: string) {
  const rows = await admin`select outcome from public.received_events where event_id = ${event}`;
  return rows.map((r) => r.outcome);
}

sqlTest("process-order vs automatic processing of the same new order: one applies, the other conflicts", async () => {
  const user = await fx.user();
  const p = await fx.product({ stock: 10 });
  const a = await db.session("order-events");
  const b = await db.session("process-order");

  // Automatic processing first: process-order waits, then finds the order processed.
  const o1 = await fx.order(user, [[p, 1]]);
  const lines1 = await fx.pricedLines(o1);
  const e1 = `evt_${crypto.randomUUID()}`;
  await a.begin(SERVICE);
  assertEquals((await applyEventProcessing(a.sql, e1, o1, lines1)).refusal, null);
  await b.begin(SERVICE);
  const explicit = b.start(applyProcessing(b.sql, o1, lines1));
  await b.waitUntilBlocked(explicit);
  await a.commit();
  const rb = await explicit.result;
  await b.commit();
  assert(rb.ok);
  assertEquals(rb.value, { refusal: { kind: "status_conflict", current_status: "processed" } });
  assertEquals([await fx.stock(p), ...(await receipts(e1))], [9, "processed"]);

  // process-order first: the event's processing waits, conflicts, and leaves no receipt.
  const o2 = await fx.order(user, [[p, 2]]);
  const lines2 = await fx.pricedLines(o2);
  const e2 = `evt_${crypto.randomUUID()}`;
  await b.begin(SERVICE);
  assertEquals((await applyProcessing(b.sql, o2, lines2)).refusal, null);
  await a.begin(SERVICE);
  const automatic = a.start(applyEventProcessing(a.sql, e2, o2, lines2));
  await a.waitUntilBlocked(automatic);
  await b.commit();
  const ra = await automatic.result;
  await a.commit();
  assert(ra.ok);
  assertEquals(ra.value, { refusal: { kind: "status_conflict", current_status: "processed" } });
  assertEquals([await fx.stock(p), ...(await receipts(e2))], [7]);
});

sqlTest("the last redemption of a discount, claimed by two processings at once, is used once", async () => {
  const code = `LAST-${crypto.randomUUID().slice(0, 8)}`;
  await admin`insert into public.discount_codes (code, percent_bp, max_redemptions) values (${code}, 1000, 1)`;
  const [u1, u2] = [await fx.user(), await fx.user()];
  const [p, q] = [await fx.product({ price: 1000, stock: 10 }), await fx.product({ price: 1000, stock: 10 })];
  const o1 = await fx.order(u1, [[p, 1]], { discount_code: code });
  const o2 = await fx.order(u2, [[q, 1]], { discount_code: code });
  const a = await db.session("first");
  const b = await db.session("second");
  await a.begin(SERVICE);
  const r1 = await applyProcessing(a.sql, o1, await fx.pricedLines(o1), { discount_code: code, discount: 100 });
  assertEquals(r1.refusal, null);
  await b.begin(SERVICE);
  const second = b.start(applyProcessing(b.sql, o2, await fx.pricedLines(o2), { discount_code: code, discount: 100 }));
  await b.waitUntilBlocked(second);
  await a.commit();
  const r2 = await second.result;
  await b.commit();
  assert(r2.ok);
  assertEquals(r2.value, { refusal: { kind: "discount_exhausted" } });
  const [d] = await admin`select redemptions from public.discount_codes where code = ${code}`;
  assertEquals(d.redemptions, 1);
  assertEquals([await fx.status(o2), await fx.stock(q)], ["pending", 10]);
});

sqlTest("audit rows: items and stock changes are audited with the acting user and role", async () => {
  const user = await fx.user();
  const p = await fx.product({ stock: 10 });
  const order = await fx.order(user, [[p, 2]]);
  const [item] = await admin`select id from public.order_items where order_id = ${order}`;
  const [ins] = await admin`select action, actor, actor_role, new_data ->> 'quantity' as qty from public.audit_log
    where table_name = 'order_items' and record_id = ${String(item.id)}`;
  assertEquals({ ...ins }, { action: "INSERT", actor: user, actor_role: "authenticated", qty: "2" });
  const s = await db.session("process-order");
  await s.begin(SERVICE);
  await s.sql`select set_config('app.actor', '', true)`;
  const [r] = await s.sql`select public.apply_order_processing(order_id => ${order}, expected_status => 'pending',
    subtotal_amount => 2000, discount_amount => 0, tax_amount => 0, shipping_amount => 0, total_amount => 2000,
    lines => ${s.sql.json(await fx.pricedLines(order))}, actor => ${user}::uuid) as r`;
  await s.commit();
  assertEquals(r.r.refusal, null);
  const rows = await admin`select action, actor, actor_role, changed_fields, old_data ->> 'stock' as old_stock,
      new_data ->> 'stock' as new_stock
    from public.audit_log where table_name = 'products' and record_id = ${String(p)} and action = 'UPDATE'`;
  assertEquals(rows.map((x) => ({ ...x })), [{
    action: "UPDATE",
    actor: user,
    actor_role: "service_role",
    changed_fields: ["stock"],
    old_stock: "10",
    new_stock: "8",
  }]);
});

// F2. A third transaction (the processing of order Z, which holds product p1) makes the others
// queue on p1 in a known order: the session queued first gets p1 first. Any writer that then
// waits for a product another holds while that one waits for p1 is a deadlock (40P01).

/**
 * Planner settings under which a join of an order's items with products is naturally in the
 * items' order (an index nested loop, what large tables get): the functions must lock in
 * product id order whatever plan the database picks, so the tests do not depend on a plan that
 * happens to scan products in id order.
 */
async function planLikeLargeTables(s: Awaited<ReturnType<typeof db.session>>) {
  await s.sql`select set_config('enable_seqscan', 'off', true), set_config('enable_hashjoin', 'off', true),
    set_config('enable_mergejoin', 'off', true)`;
}

async function holdP1(p1: number) {
  const user = await fx.user();
  const z = await fx.order(user, [[p1, 1]]);
  const g = await db.session("holder of p1");
  await g.begin(SERVICE);
  assertEquals((await applyProcessing(g.sql, z, await fx.pricedLines(z))).refusal, null);
  return g;
}

sqlTest("F2: place_order with products in reverse order does not deadlock with processing", async () => {
  const user = await fx.user();
  const p1 = await fx.product({ stock: 100 });
  const p2 = await fx.product({ stock: 100 });
  const y = await fx.order(user, [[p1, 1], [p2, 1]]);
  const yLines = await fx.pricedLines(y);
  const g = await holdP1(p1);
  const b = await db.session("processing Y");
  const a = await db.session("place_order");

  await b.begin(SERVICE);
  const processY = b.start(applyProcessing(b.sql, y, yLines));
  await b.waitUntilBlocked(processY);
  await a.begin(userClaims(user));
  const place = a.start(
    a.sql`select (public.place_order('USD', ${
      a.sql.json([{ product_id: p2, quantity: 1 }, { product_id: p1, quantity: 1 }])
    })).id`,
  );
  await a.waitUntilBlockedOrDone(place);
  await g.commit();
  const [rp, ry] = [await place.result, await processY.result];
  assertEquals([codeOf(rp), codeOf(ry)], ["ok", "ok"]);
  await a.commit();
  await b.commit();
  assert(ry.ok);
  assertEquals(ry.value.refusal, null);
  assertEquals([await fx.stock(p1), await fx.stock(p2)], [98, 99]);
});

sqlTest("a cancel releasing stock while processing waits on the same products: no deadlock", async () => {
  // The cancel waits for a holder of p1 (while a user's place_order holds FOR KEY SHARE on it);
  // processing of another order queues behind the cancel. When the holder commits, the cancel
  // must update the versions it locked: an UPDATE joined to the locking scan took the old
  // versions of its own snapshot and deadlocked with the waiter (40P01, seen in the soak).
  const user = await fx.user();
  const p1 = await fx.product({ stock: 100 });
  const p2 = await fx.product({ stock: 100 });
  const x = await fx.order(user, [[p1, 2], [p2, 2]]);
  const y = await fx.order(user, [[p1, 3], [p2, 3]]);
  const s = await db.session("processing X");
  await s.begin(SERVICE);
  assertEquals((await applyProcessing(s.sql, x, await fx.pricedLines(x))).refusal, null);
  await s.commit();
  // A user placing an order with p1 meanwhile: its foreign key holds FOR KEY SHARE on p1.
  const k = await db.session("place_order with p1");
  await k.begin(userClaims(user));
  await k.sql`select (public.place_order('USD', ${k.sql.json([{ product_id: p1, quantity: 1 }])})).id`;
  const g = await holdP1(p1);
  const a = await db.session("cancel X");
  const b = await db.session("processing Y");

  await a.begin(SERVICE);
  const cancel = a.start(transition(a.sql, x, "processed", "cancelled"));
  await a.waitUntilBlocked(cancel);
  await b.begin(SERVICE);
  const processY = b.start(applyProcessing(b.sql, y, await fx.pricedLines(y)));
  await b.waitUntilBlocked(processY);
  await g.commit();
  const rc = await cancel.result;
  await a.commit();
  const ry = await processY.result;
  await b.commit();
  await k.rollback();
  assertEquals([codeOf(rc), codeOf(ry)], ["ok", "ok"]);
  assert(rc.ok && ry.ok);
  assertEquals([rc.value.refusal, ry.value.refusal], [null, null]);
  assertEquals([await fx.status(x), await fx.status(y)], ["cancelled", "processed"]);
  // 100 - 2 (X) - 1 (the holder) + 2 (X cancelled) - 3 (Y); 100 - 2 + 2 - 3.
  assertEquals([await fx.stock(p1), await fx.stock(p2)], [96, 97]);
});

sqlTest("F2: two orders with the same products in opposite order are processed without deadlock", async () => {
  const user = await fx.user();
  const p1 = await fx.product({ stock: 100 });
  const p2 = await fx.product({ stock: 100 });
  const x = await fx.order(user, [[p2, 2], [p1, 2]]);
  const y = await fx.order(user, [[p1, 3], [p2, 3]]);
  const [xLines, yLines] = [await fx.pricedLines(x), await fx.pricedLines(y)];
  const g = await holdP1(p1);
  const b = await db.session("processing Y");
  const a = await db.session("processing X");

  await b.begin(SERVICE);
  await planLikeLargeTables(b);
  const processY = b.start(applyProcessing(b.sql, y, yLines));
  await b.waitUntilBlocked(processY);
  await a.begin(SERVICE);
  await planLikeLargeTables(a);
  const processX = a.start(applyProcessing(a.sql, x, xLines));
  await a.waitUntilBlocked(processX);
  await g.commit();
  const ry = await processY.result;
  await b.commit();
  const rx = await processX.result;
  await a.commit();
  assertEquals([codeOf(rx), codeOf(ry)], ["ok", "ok"]);
  assert(rx.ok && ry.ok);
  assertEquals([rx.value.refusal, ry.value.refusal], [null, null]);
  assertEquals([await fx.stock(p1), await fx.stock(p2)], [100 - 1 - 2 - 3, 100 - 2 - 3]);
});

sqlTest(
  "F2: cancelling an order releases its stock without deadlocking with processing in opposite order",
  async () => {
    const user = await fx.user();
    const p1 = await fx.product({ stock: 100 });
    const p2 = await fx.product({ stock: 100 });
    const x = await fx.order(user, [[p2, 4], [p1, 4]]);
    const s = await db.session("setup");
    await s.begin(SERVICE);
    assertEquals((await applyProcessing(s.sql, x, await fx.pricedLines(x))).refusal, null);
    await s.commit();
    const y = await fx.order(user, [[p1, 1], [p2, 1]]);
    const yLines = await fx.pricedLines(y);
    const g = await holdP1(p1);
    const b = await db.session("processing Y");
    const a = await db.session("cancel X");

    await b.begin(SERVICE);
    await planLikeLargeTables(b);
    const processY = b.start(applyProcessing(b.sql, y, yLines));
    await b.waitUntilBlocked(processY);
    await a.begin(SERVICE);
    await planLikeLargeTables(a);
    const cancelX = a.start(transition(a.sql, x, "processed", "cancelled"));
    await a.waitUntilBlocked(cancelX);
    await g.commit();
    const ry = await processY.result;
    await b.commit();
    const rx = await cancelX.result;
    await a.commit();
    assertEquals([codeOf(rx), codeOf(ry)], ["ok", "ok"]);
    assert(rx.ok && ry.ok);
    assertEquals([rx.value.refusal, ry.value.refusal], [null, null]);
    // p1: -1 (Z) -4 (X) +4 (X cancelled) -1 (Y); p2: -4 +4 -1.
    assertEquals([await fx.stock(p1), await fx.stock(p2)], [98, 99]);
  },
);

sqlTest("stock is checked per product, summed over the order's lines: short lines named, nothing written", async () => {
  const user = await fx.user();
  const p = await fx.product({ stock: 5 });
  const q = await fx.product({ stock: 10 });
  // Each line of p fits alone (3 <= 5); together they do not (6 > 5).
  const order = await fx.order(user, [[p, 3], [q, 1], [p, 3]]);
  const [{ sku }] = await admin`select sku from public.products where id = ${p}`;
  const s = await db.session("processing");
  await s.begin(SERVICE);
  const r = await applyProcessing(s.sql, order, await fx.pricedLines(order));
  await s.commit();
  assertEquals(r, {
    refusal: { kind: "insufficient_stock", lines: [{ product_id: p, sku, requested: 6, available: 5 }] },
  });
  assertEquals([await fx.status(order), await fx.stock(p), await fx.stock(q)], ["pending", 5, 10]);
});

sqlTest("a discount code that does not exist is refused when the processing applies: nothing written", async () => {
  const user = await fx.user();
  const p = await fx.product({ price: 1000, stock: 10 });
  const order = await fx.order(user, [[p, 1]]);
  const s = await db.session("processing");
  await s.begin(SERVICE);
  const r = await applyProcessing(s.sql, order, await fx.pricedLines(order), {
    discount_code: `GONE-${crypto.randomUUID().slice(0, 8)}`,
    discount: 100,
  });
  await s.commit();
  assertEquals(r, { refusal: { kind: "discount_unknown" } });
  const [o] = await admin`select status, total_amount from public.orders where id = ${order}`;
  assertEquals([o.status, o.total_amount, await fx.stock(p)], ["pending", null, 10]);
});
