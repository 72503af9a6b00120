// payment-webhook end to end: Stripe-signed events (signed with npm:stripe, as Stripe's own test
// helper does) through the gateway into the wasm function and the database.
import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { ANON_KEY, callFn, client, e2e, newProduct, newUser, orderRow, placeOrder, sql } from "./_helpers.ts";
import { assertFnError, assertRestError, explicitProcessingHooks } from "./_assert_helpers.ts";
import { chargeRefunded, deliver, eventId, paymentSucceeded, SECRET, signature, type StripeEvent } from "./_stripe.ts";

/** A processed order (through process-order) and its total. */
async function processedOrder(): Promise<{ id: number; total: number }> {
  const user = await newUser();
  const product = await newProduct({ price: 1250 });
  const order = await placeOrder(user, [{ product_id: product, quantity: 2 }]);
  const processed = await callFn("process-order", { order_id: order.id });
  assertEquals(processed.status, 200, JSON.stringify(processed.body));
  return { id: order.id, total: Number(processed.body.total_amount) };
}

/** A paid order (processed, then paid by a signed event). */
async function paidOrder(): Promise<{ id: number; total: number }> {
  const order = await processedOrder();
  const paid = await deliver(paymentSucceeded(order.id, order.total));
  assertEquals(paid.body.outcome, "paid", JSON.stringify(paid.body));
  return order;
}

async function eventRow(id: string) {
  const rows = await sql`select * from public.webhook_events where provider = 'stripe' and event_id = ${id}`;
  return rows[0];
}

async function eventCount(id: string): Promise<number> {
  const [row] = await sql`select count(*)::int n from public.webhook_events where event_id = ${id}`;
  return row.n;
}

async function exceptionsFor(id: string) {
  return await sql`select * from public.payment_exceptions where provider = 'stripe' and event_id = ${id}`;
}

async function auditCount(orderId: number): Promise<number> {
  const [row] = await sql`select count(*)::int n from public.audit_log
    where table_name = 'orders' and record_id = ${String(orderId)}`;
  return row.n;
}

// These tests call process-order themselves: no automatic processing while they run.
explicitProcessingHooks();

e2e("a Stripe-signed payment_intent.succeeded pays a processed order", async () => {
  const order = await processedOrder();
  const event = paymentSucceeded(order.id, order.total);
  const r = await deliver(event);
  assertEquals(r.status, 200);
  assertEquals(r.body, { received: true, event_id: event.id, outcome: "paid" });
  assertEquals((await orderRow(order.id)).status, "paid");
  const row = await eventRow(event.id);
  assertEquals([row.type, row.outcome, Number(row.order_id)], ["payment_intent.succeeded", "paid", order.id]);
  assertEquals(row.object_id, event.data.object.id);
  const [audit] = await sql`select * from public.audit_log where table_name = 'orders'
    and record_id = ${String(order.id)} order by id desc limit 1`;
  assertEquals([audit.old_data.status, audit.new_data.status, audit.actor_role], ["processed", "paid", "service_role"]);
});

e2e("a redelivered event answers duplicate and changes nothing", async () => {
  const order = await processedOrder();
  const event = paymentSucceeded(order.id, order.total);
  assertEquals((await deliver(event)).body.outcome, "paid");
  const audits = await auditCount(order.id);
  // Stripe redelivers with a fresh signature and timestamp.
  const again = await deliver(event, { timestamp: Math.floor(Date.now() / 1000) - 5 });
  assertEquals(again.status, 200);
  assertEquals(again.body, { received: true, event_id: event.id, outcome: "duplicate" });
  assertEquals(await auditCount(order.id), audits);
  assertEquals(await eventCount(event.id), 1);
  assertEquals((await eventRow(event.id)).outcome, "paid");
  assertEquals((await orderRow(order.id)).status, "paid");
});

e2e("concurrent deliveries of one event apply it once", async () => {
  const order = await processedOrder();
  const event = paymentSucceeded(order.id, order.total);
  const audits = await auditCount(order.id);
  const replies = await Promise.all(Array.from({ length: 6 }, () => deliver(event)));
  const outcomes = replies.map((r) => r.body.outcome).sort();
  assertEquals(outcomes, ["duplicate", "duplicate", "duplicate", "duplicate", "duplicate", "paid"]);
  assertEquals(await auditCount(order.id), audits + 1);
  assertEquals(await eventCount(event.id), 1);
});

e2e("two different payments racing for one order: one pays, the other is an exception", async () => {
  const order = await processedOrder();
  const [a, b] = await Promise.all([
    deliver(paymentSucceeded(order.id, order.total)),
    deliver(paymentSucceeded(order.id, order.total)),
  ]);
  assertEquals([a.body.outcome, b.body.outcome].sort(), ["exception", "paid"]);
  const loser = a.body.outcome === "exception" ? a : b;
  assertEquals(loser.body.reason, "status_conflict");
  const [exc] = await exceptionsFor(loser.body.event_id);
  assertEquals([exc.reason, exc.order_status], ["status_conflict", "paid"]);
  assertEquals((await orderRow(order.id)).status, "paid");
});

e2e("a bad or missing signature is a 400 and nothing is written", async () => {
  const order = await processedOrder();
  const event = paymentSucceeded(order.id, order.total);
  const wrong = await deliver(event, { secret: "whsec_not_the_right_secret" });
  assertFnError(wrong, 400, "no_matching_signature");
  assert(!JSON.stringify(wrong.body).includes(SECRET));
  const missing = await deliver(event, { header: null });
  assertFnError(missing, 400, "missing_header");
  // A valid signature over a different body.
  const other = await deliver(JSON.stringify(event), { header: await signature(JSON.stringify({ ...event, x: 1 })) });
  assertFnError(other, 400, "no_matching_signature");
  assertEquals(await eventCount(event.id), 0);
  assertEquals((await orderRow(order.id)).status, "processed");
});

e2e("a stale timestamp (301 s old) is a 400", async () => {
  const order = await processedOrder();
  const event = paymentSucceeded(order.id, order.total);
  const r = await deliver(event, { timestamp: Math.floor(Date.now() / 1000) - 301 });
  assertEquals(r.status, 400);
  assertEquals(r.body.error.code, "timestamp_out_of_tolerance");
  assertEquals(await eventCount(event.id), 0);
  assertEquals((await orderRow(order.id)).status, "processed");
});

e2e("a Stripe-Signature header of 8192 bytes is read; 8193 bytes is a 400 and nothing is written", async () => {
  const order = await processedOrder();
  const event = paymentSucceeded(order.id, order.total);
  const payload = JSON.stringify(event);
  const valid = await signature(payload);
  // A valid header padded with an item Stripe's format ignores, to an exact length.
  const padded = (length: number) => {
    const header = `${valid},x=${"a".repeat(length - valid.length - ",x=".length)}`;
    assertEquals(header.length, length);
    return header;
  };
  const audits = await auditCount(order.id);
  const refused = await deliver(payload, { header: padded(8 * 1024 + 1) });
  assertFnError(refused, 400, "malformed_header");
  assertEquals(await eventCount(event.id), 0);
  assertEquals((await orderRow(order.id)).status, "processed");
  assertEquals(await auditCount(order.id), audits);
  const accepted = await deliver(payload, { header: padded(8 * 1024) });
  assertEquals([accepted.status, accepted.body], [200, { received: true, event_id: event.id, outcome: "paid" }]);
  assertEquals((await orderRow(order.id)).status, "paid");
});

e2e("a body over 256 KiB is a 413, other methods a 405", async () => {
  const event = { ...paymentSucceeded(1, 100), padding: "x".repeat(256 * 1024) };
  const r = await deliver(event);
  assertEquals(r.status, 413);
  assertEquals(r.body.error.code, "payload_too_large");
  assertEquals(await eventCount(event.id), 0);
  const get = await deliver("", { method: "GET", header: null });
  assertEquals(get.status, 405);
  assertEquals(get.headers.get("allow"), "POST");
});

e2e("an amount mismatch records a payment exception and leaves the order unchanged", async () => {
  const order = await processedOrder();
  const audits = await auditCount(order.id);
  const event = paymentSucceeded(order.id, order.total - 1);
  const r = await deliver(event);
  assertEquals(r.status, 200);
  assertEquals(r.body, { received: true, event_id: event.id, outcome: "exception", reason: "amount_mismatch" });
  const [exc] = await exceptionsFor(event.id);
  assertEquals(
    [exc.reason, Number(exc.order_id), Number(exc.amount), Number(exc.order_amount), exc.currency, exc.order_status],
    ["amount_mismatch", order.id, order.total - 1, order.total, "USD", "processed"],
  );
  assertEquals((await eventRow(event.id)).outcome, "exception");
  assertEquals((await orderRow(order.id)).status, "processed");
  assertEquals(await auditCount(order.id), audits);
});

e2e("a currency mismatch is an exception; an upper-case currency still matches", async () => {
  const order = await processedOrder();
  const eur = await deliver(paymentSucceeded(order.id, order.total, "eur"));
  assertEquals([eur.status, eur.body.reason], [200, "currency_mismatch"]);
  assertEquals((await orderRow(order.id)).status, "processed");
  const upper = await deliver(paymentSucceeded(order.id, order.total, "USD"));
  assertEquals(upper.body.outcome, "paid");
});

e2e("a payment for a pending order is an exception", async () => {
  const user = await newUser();
  const order = await placeOrder(user, [{ product_id: await newProduct({ price: 700 }), quantity: 1 }]);
  const event = paymentSucceeded(order.id, 700);
  const r = await deliver(event);
  assertEquals([r.status, r.body.outcome, r.body.reason], [200, "exception", "status_conflict"]);
  const [exc] = await exceptionsFor(event.id);
  assertEquals([exc.reason, exc.order_status], ["status_conflict", "pending"]);
  assertEquals((await orderRow(order.id)).status, "pending");
});

e2e("unknown orders and unusable order ids are exceptions answered with 200", async () => {
  const unknown = paymentSucceeded(9_000_000_000_000, 100);
  const r = await deliver(unknown);
  assertEquals([r.status, r.body.reason], [200, "order_not_found"]);
  assertEquals((await exceptionsFor(unknown.id)).length, 1);
  for (const bad of ["abc", "-3", "1.5"]) {
    const event = paymentSucceeded(bad, 100);
    const reply = await deliver(event);
    assertEquals([reply.status, reply.body.reason], [200, "missing_order_id"], bad);
    const [exc] = await exceptionsFor(event.id);
    assertEquals([exc.order_id, exc.details.metadata_order_id], [null, bad]);
  }
  const noMetadata = paymentSucceeded(1, 100);
  noMetadata.data.object.metadata = {};
  assertEquals((await deliver(noMetadata)).body.reason, "missing_order_id");
});

e2e("a full charge.refunded refunds a paid order", async () => {
  const order = await paidOrder();
  const event = chargeRefunded(order.id, order.total, order.total);
  const r = await deliver(event);
  assertEquals(r.body, { received: true, event_id: event.id, outcome: "refunded" });
  assertEquals((await orderRow(order.id)).status, "refunded");
  assertEquals((await eventRow(event.id)).outcome, "refunded");
});

e2e("a fulfilled order can be refunded too", async () => {
  const order = await paidOrder();
  await sql`update public.orders set status = 'fulfilled' where id = ${order.id}`;
  const r = await deliver(chargeRefunded(order.id, order.total, order.total));
  assertEquals(r.body.outcome, "refunded");
  assertEquals((await orderRow(order.id)).status, "refunded");
});

e2e("a partial refund makes the order partially_refunded (tests/e2e/shop.test.ts has the rest)", async () => {
  const order = await paidOrder();
  const event = chargeRefunded(order.id, order.total, 100);
  const r = await deliver(event);
  assertEquals([r.status, r.body.outcome], [200, "partially_refunded"]);
  assertEquals((await exceptionsFor(event.id)).length, 0);
  const row = await orderRow(order.id);
  assertEquals([row.status, Number(row.refunded_amount)], ["partially_refunded", 100]);
});

e2e("a refund of an order that is not paid is an exception", async () => {
  const order = await processedOrder();
  const r = await deliver(chargeRefunded(order.id, order.total, order.total));
  assertEquals([r.status, r.body.reason], [200, "status_conflict"]);
  assertEquals((await orderRow(order.id)).status, "processed");
});

e2e("other event types are recorded and ignored", async () => {
  const order = await processedOrder();
  const event: StripeEvent = {
    id: eventId(),
    type: "customer.created",
    data: { object: { id: "cus_123", object: "customer", metadata: { order_id: String(order.id) } } },
  };
  const r = await deliver(event);
  assertEquals(r.status, 200);
  assertEquals(r.body, { received: true, event_id: event.id, outcome: "ignored" });
  const row = await eventRow(event.id);
  assertEquals([row.type, row.outcome], ["customer.created", "ignored"]);
  assertEquals((await exceptionsFor(event.id)).length, 0);
  assertEquals((await orderRow(order.id)).status, "processed");
  assertEquals((await deliver(event)).body.outcome, "duplicate");
});

e2e("the payment tables and RPC are closed to anon and signed-in users", async () => {
  const user = await newUser();
  const id = eventId();
  for (const c of [client(ANON_KEY), client(ANON_KEY, user.token)]) {
    // No grant: PostgreSQL's insufficient_privilege, which the local REST server answers 401.
    for (const table of ["webhook_events", "payment_exceptions"]) {
      const r = await c.from(table).select("*").limit(1);
      assertRestError(r, 401, "42501", new RegExp(`^permission denied for table ${table}$`));
    }
    const r = await c.rpc("apply_payment_event", { provider: "stripe", event_id: id, event_type: "x.y" });
    assertRestError(r, 401, "42501", /^permission denied for function apply_payment_event$/);
  }
  assertEquals(await eventCount(id), 0);
  const [grants] = await sql`select
    has_function_privilege('anon', 'public.apply_payment_event(text, text, text, bigint, text, text, bigint, text, text, text, jsonb, jsonb)', 'execute') anon,
    has_function_privilege('authenticated', 'public.apply_payment_event(text, text, text, bigint, text, text, bigint, text, text, text, jsonb, jsonb)', 'execute') authed,
    has_table_privilege('authenticated', 'public.webhook_events', 'select') events`;
  assertEquals([grants.anon, grants.authed, grants.events], [false, false, false]);
});
