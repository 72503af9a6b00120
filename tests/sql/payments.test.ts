// Payments, cancels, refunds and fulfillments racing each other, against the real SQL
// (apply_payment_event, order_transition, fulfill_order_event; issue 9 F5, issue 14).
import { assert, assertEquals } from "../assert.ts";
import { applyProcessing, fixtures, SERVICE, type Sql, sqlTest, testDatabase, transition } from "./_db.ts";

const db = await testDatabase("payments");
const { admin } = db;
const fx = fixtures(admin);

/** A processed order of a new user: total = 2 x 1500 = 3000 USD minor units. */
async function processedOrder(stock = 10): Promise<{ order: number; product: number }> {
  const user = await fx.user();
  const product = await fx.product({ price: 1500, stock });
  const order = await fx.order(user, [[product, 2]]);
  const s = await db.session("setup");
  await s.begin(SERVICE);
  assertEquals((await applyProcessing(s.sql, order, await fx.pricedLines(order))).refusal, null);
  await s.commit();
  return { order, product };
}

/** apply_payment_event as payment-webhook calls it (service_role), with the decision Rust made. */
function payment(
  sql: Sql,
  order: number,
  to: "paid" | "refunded",
  expected: string,
  opts: { amount?: number; currency?: string; event?: string } = {},
) {
  return sql`select public.apply_payment_event(
      provider => 'stripe', event_id => ${opts.event ?? `evt_${crypto.randomUUID()}`},
      event_type => ${to === "paid" ? "payment_intent.succeeded" : "charge.refunded"},
      order_id => ${order}, to_status => ${to}, expected_status => ${expected},
      amount => ${opts.amount ?? 3000}, currency => ${opts.currency ?? "usd"}) as r`
    .then((rows) => rows[0].r as Record<string, any>);
}

function fulfill(sql: Sql, order: number, event = `evt_${crypto.randomUUID()}`) {
  return sql`select public.fulfill_order_event('event_outbox', ${event}, ${order}) as r`
    .then((rows) => rows[0].r as Record<string, any>);
}

async function fulfillments(order: number): Promise<string[]> {
  const rows = await admin`select status from public.fulfillments where order_id = ${order}`;
  return rows.map((r) => r.status);
}

async function exceptions(order: number) {
  const rows = await admin`select reason, expected_status, order_status from public.payment_exceptions
    where order_id = ${order} order by id`;
  return rows.map((r) => ({ ...r }));
}

sqlTest("payment vs cancel: the payment first, the cancel waits and finds the order paid", async () => {
  const { order, product } = await processedOrder();
  const a = await db.session("payment");
  const b = await db.session("cancel");
  await a.begin(SERVICE);
  assertEquals((await payment(a.sql, order, "paid", "processed")).outcome, "paid");
  await b.begin(SERVICE);
  const cancel = b.start(transition(b.sql, order, "processed", "cancelled"));
  await b.waitUntilBlocked(cancel);
  await a.commit();
  const r = await cancel.result;
  await b.commit();
  assert(r.ok);
  assertEquals(r.value, { refusal: { kind: "status_conflict", current_status: "paid" } });
  assertEquals([await fx.status(order), await fx.stock(product)], ["paid", 8]);
});

sqlTest("payment vs cancel: the cancel first, the payment waits and is recorded as an exception", async () => {
  const { order, product } = await processedOrder();
  const a = await db.session("cancel");
  const b = await db.session("payment");
  await a.begin(SERVICE);
  assertEquals((await transition(a.sql, order, "processed", "cancelled")).refusal, null);
  await b.begin(SERVICE);
  const pay = b.start(payment(b.sql, order, "paid", "processed"));
  await b.waitUntilBlocked(pay);
  await a.commit();
  const r = await pay.result;
  await b.commit();
  assert(r.ok);
  assertEquals(r.value, {
    duplicate: false,
    outcome: "exception",
    reason: "status_conflict",
    order_status: "cancelled",
  });
  assertEquals([await fx.status(order), await fx.stock(product)], ["cancelled", 10]);
  assertEquals(await exceptions(order), [
    { reason: "status_conflict", expected_status: "processed", order_status: "cancelled" },
  ]);
});

sqlTest("apply_payment_event rechecks the status: a stale decision passed straight to it changes nothing", async () => {
  const { order } = await processedOrder();
  const s = await db.session("cancel");
  await s.begin(SERVICE);
  assertEquals((await transition(s.sql, order, "processed", "cancelled")).refusal, null);
  await s.commit();
  const [before] = await admin`select * from public.orders where id = ${order}`;
  const event = `evt_${crypto.randomUUID()}`;
  // Rust decided processed -> paid on a read taken before the cancel; amount and currency match.
  await s.begin(SERVICE);
  const r = await payment(s.sql, order, "paid", "processed", { event });
  await s.commit();
  assertEquals(r, { duplicate: false, outcome: "exception", reason: "status_conflict", order_status: "cancelled" });
  const [after] = await admin`select * from public.orders where id = ${order}`;
  assertEquals(after, before);
  const [w] = await admin`select outcome from public.webhook_events where event_id = ${event}`;
  assertEquals(w.outcome, "exception");
  assertEquals((await exceptions(order)).map((e) => e.reason), ["status_conflict"]);

  // A refund decided on a paid order that is now refunded (a second refund event, issue 12:
  // refunds are settled from what is recorded): ignored, no exception, nothing changes.
  const o2 = (await processedOrder()).order;
  await s.begin(SERVICE);
  assertEquals((await payment(s.sql, o2, "paid", "processed")).outcome, "paid");
  assertEquals((await payment(s.sql, o2, "refunded", "paid")).outcome, "refunded");
  const again = await payment(s.sql, o2, "refunded", "paid");
  await s.commit();
  assertEquals(again, { duplicate: false, outcome: "ignored", reason: null, order_status: "refunded" });
  assertEquals(await fx.status(o2), "refunded");
  assertEquals((await exceptions(o2)).length, 0);
});

sqlTest("F5: a refund cancels the order's queued fulfillment in the same transaction", async () => {
  const { order } = await processedOrder();
  const s = await db.session("webhooks");
  await s.begin(SERVICE);
  assertEquals((await payment(s.sql, order, "paid", "processed")).outcome, "paid");
  assertEquals((await fulfill(s.sql, order)).outcome, "fulfillment_created");
  await s.commit();
  assertEquals(await fulfillments(order), ["queued"]);

  await s.begin(SERVICE);
  assertEquals((await payment(s.sql, order, "refunded", "paid")).outcome, "refunded");
  // Inside the refund's transaction, before commit: already cancelled.
  const [inside] = await s.sql`select status from public.fulfillments where order_id = ${order}`;
  assertEquals(inside.status, "cancelled");
  await s.rollback();
  assertEquals([await fx.status(order), ...(await fulfillments(order))], ["paid", "queued"]);

  await s.begin(SERVICE);
  assertEquals((await payment(s.sql, order, "refunded", "paid")).outcome, "refunded");
  await s.commit();
  assertEquals([await fx.status(order), ...(await fulfillments(order))], ["refunded", "cancelled"]);
});

sqlTest("F5: a fulfillment already picking is left alone by a refund", async () => {
  const { order } = await processedOrder();
  const s = await db.session("webhooks");
  await s.begin(SERVICE);
  await payment(s.sql, order, "paid", "processed");
  await fulfill(s.sql, order);
  await s.sql`update public.fulfillments set status = 'picking' where order_id = ${order}`;
  assertEquals((await payment(s.sql, order, "refunded", "paid")).outcome, "refunded");
  await s.commit();
  assertEquals(await fulfillments(order), ["picking"]);
});

sqlTest("refund vs fulfillment: the fulfillment first, the refund waits and cancels it", async () => {
  const { order } = await processedOrder();
  const s = await db.session("setup");
  await s.begin(SERVICE);
  await payment(s.sql, order, "paid", "processed");
  await s.commit();
  const a = await db.session("fulfillment");
  const b = await db.session("refund");
  await a.begin(SERVICE);
  assertEquals((await fulfill(a.sql, order)).outcome, "fulfillment_created");
  await b.begin(SERVICE);
  const refund = b.start(payment(b.sql, order, "refunded", "paid"));
  await b.waitUntilBlocked(refund);
  await a.commit();
  const r = await refund.result;
  await b.commit();
  assert(r.ok);
  assertEquals(r.value.outcome, "refunded");
  assertEquals([await fx.status(order), ...(await fulfillments(order))], ["refunded", "cancelled"]);
});

sqlTest("refund vs fulfillment: the refund first, the fulfillment waits and creates nothing", async () => {
  const { order } = await processedOrder();
  const s = await db.session("setup");
  await s.begin(SERVICE);
  await payment(s.sql, order, "paid", "processed");
  await s.commit();
  const a = await db.session("refund");
  const b = await db.session("fulfillment");
  await a.begin(SERVICE);
  assertEquals((await payment(a.sql, order, "refunded", "paid")).outcome, "refunded");
  await b.begin(SERVICE);
  const event = `evt_${crypto.randomUUID()}`;
  const f = b.start(fulfill(b.sql, order, event));
  await b.waitUntilBlocked(f);
  await a.commit();
  const r = await f.result;
  await b.commit();
  assert(r.ok);
  assertEquals(r.value, { duplicate: false, outcome: "not_paid", order_status: "refunded" });
  assertEquals(await fulfillments(order), []);
  const [rec] = await admin`select outcome from public.received_events where event_id = ${event}`;
  assertEquals(rec.outcome, "not_paid");
});

sqlTest("apply_payment_event rechecks amount and currency on the locked row and records an event once", async () => {
  const { order } = await processedOrder(); // total 3000 USD
  const s = await db.session("webhooks");
  await s.begin(SERVICE);
  // Decisions made on a read whose amount or currency no longer hold, passed straight in.
  const short = await payment(s.sql, order, "paid", "processed", { amount: 2999 });
  const euros = await payment(s.sql, order, "paid", "processed", { currency: "eur" });
  await s.commit();
  assertEquals([short.outcome, short.reason, euros.outcome, euros.reason], [
    "exception",
    "amount_mismatch",
    "exception",
    "currency_mismatch",
  ]);
  assertEquals(await fx.status(order), "processed");

  // A redelivered event: a duplicate naming the first outcome, no second effect or exception.
  const event = `evt_${crypto.randomUUID()}`;
  await s.begin(SERVICE);
  assertEquals((await payment(s.sql, order, "paid", "processed", { event })).outcome, "paid");
  const again = await payment(s.sql, order, "paid", "processed", { event });
  await s.commit();
  assertEquals(again, { duplicate: true, outcome: "duplicate", first_outcome: "paid" });
  assertEquals(await fx.status(order), "paid");
  assertEquals((await exceptions(order)).map((e) => e.reason), ["amount_mismatch", "currency_mismatch"]);
  const [{ n }] = await admin`select count(*)::int as n from public.webhook_events where event_id = ${event}`;
  assertEquals(n, 1);
});
