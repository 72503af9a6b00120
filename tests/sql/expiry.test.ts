// Unpaid orders expire (issue 12, point 1): expire_unpaid_orders, the TTL read at processing,
// SKIP LOCKED exactly-once, the stock and discount redemption released, the event and audit
// rows, and the late-payment rule of apply_payment_event (revive when the stock allows,
// payment_exceptions 'order_expired' otherwise).
import { assert, assertEquals } from "../assert.ts";
import { applyProcessing, fixtures, SERVICE, type Sql, sqlTest, testDatabase } from "./_db.ts";
import { orderEvents } from "./_webhooks.ts";

const db = await testDatabase("expiry");
const { admin } = db;
const fx = fixtures(admin);

async function discount(max: number | null = null): Promise<string> {
  const code = `EXP-${crypto.randomUUID()}`;
  await admin`insert into public.discount_codes (code, fixed_amount, fixed_currency, max_redemptions)
    values (${code}, 100, 'USD', ${max})`;
  return code;
}

/** A processed order (2 x 1500 USD, optionally with a redeemed discount code of 100). */
async function processedOrder(opts: { stock?: number; code?: string } = {}) {
  const user = await fx.user();
  const product = await fx.product({ price: 1500, stock: opts.stock ?? 10 });
  const order = await fx.order(user, [[product, 2]], { discount_code: opts.code });
  const s = await db.session("setup");
  await s.begin(SERVICE);
  const r = await applyProcessing(s.sql, order, await fx.pricedLines(order), {
    discount_code: opts.code,
    discount: opts.code ? 100 : 0,
  });
  assertEquals(r.refusal, null);
  await s.commit();
  return { order, product, user };
}

/** Move an order's deadline into the past (as if its TTL had run out). */
async function overdue(order: number) {
  await admin`update public.orders set payment_due_at = now() - interval '1 second' where id = ${order}`;
}

function expire(sql: Sql, batch = 100): Promise<number> {
  return sql`select public.expire_unpaid_orders(${batch}) as n`.then((rows) => Number(rows[0].n));
}

/** `fn` in a transaction of its own as service_role. */
function asService<T>(fn: (sql: Sql) => Promise<T>): Promise<T> {
  return admin.begin(async (tx) => {
    await tx.unsafe("set local role service_role");
    return await fn(tx as unknown as Sql);
  }) as Promise<T>;
}

async function redemptions(code: string): Promise<number> {
  const [r] = await admin`select redemptions from public.discount_codes where code = ${code}`;
  return Number(r.redemptions);
}

function latePayment(sql: Sql, order: number, amount = 3000) {
  return sql`select public.apply_payment_event(
      provider => 'stripe', event_id => ${`evt_${crypto.randomUUID()}`},
      event_type => 'payment_intent.succeeded', order_id => ${order}, to_status => 'paid',
      expected_status => 'expired', amount => ${amount}, currency => 'usd') as r`
    .then((rows) => rows[0].r as Record<string, any>);
}

/** The TTL (seconds) a new order processed under this app_settings value got. */
async function ttlWithSetting(value: string): Promise<number> {
  await admin`update public.app_settings set value = ${value}::text::jsonb where key = 'order_payment_ttl_seconds'`;
  try {
    const { order } = await processedOrder();
    const [o] = await admin`select extract(epoch from payment_due_at - processed_at)::int as ttl
      from public.orders where id = ${order}`;
    return o.ttl;
  } finally {
    await admin`update public.app_settings set value = '1800'::jsonb where key = 'order_payment_ttl_seconds'`;
  }
}

sqlTest("processing stores payment_due_at = processed_at + app_settings.order_payment_ttl_seconds", async () => {
  const [d] = await admin`select value from public.app_settings where key = 'order_payment_ttl_seconds'`;
  assertEquals(d.value, 1800);
  assertEquals(await ttlWithSetting("7"), 7);
  // A setting that is not a positive integer falls back to the default.
  assertEquals(await ttlWithSetting('"soon"'), 1800);
  assertEquals(await ttlWithSetting("0"), 1800);
});

sqlTest("an overdue processed order expires once: stock and redemption back, event and audit rows", async () => {
  const code = await discount();
  const { order, product } = await processedOrder({ code });
  const notDue = await processedOrder();
  assertEquals(await fx.stock(product), 8);
  assertEquals(await redemptions(code), 1);
  await overdue(order);
  assertEquals(await asService((sql) => expire(sql)), 1);
  assertEquals(await fx.status(order), "expired");
  assertEquals(await fx.stock(product), 10);
  assertEquals(await redemptions(code), 0);
  assertEquals(await fx.status(notDue.order), "processed"); // not yet due
  assertEquals(await fx.stock(notDue.product), 8);
  // exactly once: a second run finds nothing to do and changes nothing
  assertEquals(await asService((sql) => expire(sql)), 0);
  assertEquals(await fx.stock(product), 10);
  assertEquals(await redemptions(code), 0);
  const events = (await orderEvents(admin, order)).filter((e) => e.event_type === "orders.update");
  assertEquals(events.map((e) => e.payload.record.status), ["processed", "expired"]);
  const audit = await admin`select new_data->>'status' as status from public.audit_log
    where table_name = 'orders' and record_id = ${String(order)} and action = 'UPDATE'
    order by id`;
  assertEquals(audit.map((a) => a.status).at(-1), "expired");
});

sqlTest("two expiry runs racing never take the same order (SKIP LOCKED): each expired once", async () => {
  const a = await processedOrder();
  const b = await processedOrder();
  await overdue(a.order);
  await overdue(b.order);
  const s1 = await db.session("expirer-1");
  const s2 = await db.session("expirer-2");
  await s1.begin(SERVICE);
  await s2.begin(SERVICE);
  const first = await expire(s1.sql, 1); // holds one order locked
  // skips it, takes the other (and no one else's): never waits on the first run's lock
  const second = s2.start(expire(s2.sql, 10));
  const waited = await s2.waitUntilBlockedOrDone(second);
  await s1.commit();
  const r = await second.result;
  await s2.commit();
  assertEquals(waited, "done");
  assertEquals(first, 1);
  assert(r.ok && r.value >= 1, `second run: ${JSON.stringify(r)}`);
  assertEquals([await fx.status(a.order), await fx.status(b.order)], ["expired", "expired"]);
  assertEquals([await fx.stock(a.product), await fx.stock(b.product)], [10, 10]);
});

sqlTest("an order a payment holds is skipped, then found paid: never expired after its payment", async () => {
  const { order, product } = await processedOrder();
  await overdue(order);
  const pay = await db.session("payment");
  await pay.begin(SERVICE);
  const r = await pay.sql`select public.apply_payment_event(provider => 'stripe',
      event_id => ${`evt_${crypto.randomUUID()}`}, event_type => 'payment_intent.succeeded',
      order_id => ${order}, to_status => 'paid', expected_status => 'processed', amount => 3000,
      currency => 'usd') as r`;
  assertEquals(r[0].r.outcome, "paid");
  const s = await db.session("expirer");
  await s.begin(SERVICE);
  const run = s.start(expire(s.sql)); // the payment's lock: skipped, not waited for
  const waited = await s.waitUntilBlockedOrDone(run);
  await pay.commit();
  await run.result;
  await s.commit();
  assertEquals(waited, "done");
  await asService((sql) => expire(sql));
  assertEquals(await fx.status(order), "paid");
  assertEquals(await fx.stock(product), 8);
});

sqlTest(
  "a late payment revives an expired order when its stock is there (stock and redemption taken again)",
  async () => {
    const code = await discount();
    const { order, product } = await processedOrder({ code });
    await overdue(order);
    assertEquals(await asService((sql) => expire(sql)), 1);
    const r = await asService((sql) => latePayment(sql, order, 2900));
    assertEquals([r.outcome, r.reason, r.order_status], ["paid", null, "paid"]);
    assertEquals(await fx.stock(product), 8);
    assertEquals(await redemptions(code), 1);
    const [o] = await admin`select payment_due_at from public.orders where id = ${order}`;
    assertEquals(o.payment_due_at, null);
  },
);

sqlTest(
  "a late payment whose stock is gone lands in payment_exceptions (order_expired), nothing else changes",
  async () => {
    const { order, product } = await processedOrder({ stock: 2 });
    await overdue(order);
    assertEquals(await asService((sql) => expire(sql)), 1);
    assertEquals(await fx.stock(product), 2);
    await admin`update public.products set stock = 1 where id = ${product}`; // sold meanwhile
    const r = await asService((sql) => latePayment(sql, order));
    assertEquals([r.outcome, r.reason, r.order_status], ["exception", "order_expired", "expired"]);
    assertEquals(await fx.status(order), "expired");
    assertEquals(await fx.stock(product), 1);
    const [x] = await admin`select reason, amount, details from public.payment_exceptions where order_id = ${order}`;
    assertEquals([x.reason, Number(x.amount)], ["order_expired", 3000]);
    assertEquals(x.details.insufficient_stock[0].available, 1);
  },
);

sqlTest("a late payment of the wrong amount is an amount_mismatch, not a revival", async () => {
  const { order, product } = await processedOrder();
  await overdue(order);
  assertEquals(await asService((sql) => expire(sql)), 1);
  const r = await asService((sql) => latePayment(sql, order, 2999));
  assertEquals([r.outcome, r.reason], ["exception", "amount_mismatch"]);
  assertEquals(await fx.status(order), "expired");
  assertEquals(await fx.stock(product), 10);
});

sqlTest("expire_unpaid_orders is service_role only and refuses a bad batch size", async () => {
  const s = await db.session("anon");
  await s.begin({ role: "authenticated", sub: crypto.randomUUID() });
  const r = await s.sql`select public.expire_unpaid_orders()`.then(() => "ok", (e) => e.code);
  assertEquals(r, "42501");
  await s.rollback();
  await s.begin(SERVICE);
  const bad = await s.sql`select public.expire_unpaid_orders(0)`.then(() => "ok", (e) => e.code);
  assertEquals(bad, "22023");
  await s.rollback();
});
