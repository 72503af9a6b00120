// Shop rules end to end (issue 12): unpaid orders expire (the local scheduler runs
// expire_unpaid_orders), a late payment follows the documented rule (README "Expiry"),
// partial refunds.
import { assertEquals } from "../assert.ts";
import {
  callFn,
  e2e,
  eventually,
  newProduct,
  newUser,
  orderDeliveries,
  orderRow,
  placeOrder,
  sql,
  stockOf,
} from "./_helpers.ts";
import { explicitProcessingHooks } from "./_assert_helpers.ts";
import { chargeRefunded, deliver, eventId, paymentSucceeded } from "./_stripe.ts";

// These tests call process-order themselves: no automatic processing while they run.
explicitProcessingHooks();

async function setTtl(seconds: number) {
  await sql`update public.app_settings set value = ${String(seconds)}::text::jsonb
    where key = 'order_payment_ttl_seconds'`;
}

/** An order of 2 x 1250 of a new product, processed through process-order with a 2 s TTL. */
async function shortLivedOrder(stock = 10): Promise<{ id: number; product: number; total: number }> {
  const user = await newUser();
  const product = await newProduct({ price: 1250, stock });
  const order = await placeOrder(user, [{ product_id: product, quantity: 2 }]);
  await setTtl(2);
  let processed;
  try {
    processed = await callFn("process-order", { order_id: order.id });
  } finally {
    await setTtl(1800);
  }
  assertEquals(processed.status, 200, JSON.stringify(processed.body));
  return { id: order.id, product, total: Number(processed.body.total_amount) };
}

async function expired(order: number): Promise<boolean> {
  return await eventually(async () => (await orderRow(order)).status === "expired", 8000, 100);
}

e2e("an order processed with a 2-second TTL is expired within a few seconds, its stock back", async () => {
  const order = await shortLivedOrder();
  assertEquals(await stockOf(order.product), 8);
  const row = await orderRow(order.id);
  assertEquals(Math.round((row.payment_due_at - row.processed_at) / 1000), 2);
  const t0 = Date.now();
  assertEquals(await expired(order.id), true);
  const tookMs = Date.now() - t0;
  assertEquals(tookMs < 8000, true, `expired after ${tookMs} ms`);
  assertEquals(await stockOf(order.product), 10);
  // Each status change is one event to fn:order-events (the orders' subscription).
  const events = (await orderDeliveries(order.id)).filter((d) => d.payload.type === "UPDATE");
  assertEquals(events.map((e) => (e.payload.record as { status: string }).status), ["processed", "expired"]);
});

e2e("a late payment_intent.succeeded revives an expired order when its stock is there", async () => {
  const order = await shortLivedOrder();
  assertEquals(await expired(order.id), true);
  const r = await deliver(paymentSucceeded(order.id, order.total));
  assertEquals([r.status, r.body.outcome], [200, "paid"]);
  assertEquals((await orderRow(order.id)).status, "paid");
  assertEquals(await stockOf(order.product), 8);
});

e2e("a late payment_intent.succeeded whose stock is gone is a payment exception order_expired", async () => {
  const order = await shortLivedOrder(2);
  assertEquals(await expired(order.id), true);
  await sql`update public.products set stock = 0 where id = ${order.product}`; // sold meanwhile
  const event = paymentSucceeded(order.id, order.total);
  const r = await deliver(event);
  assertEquals([r.status, r.body.outcome, r.body.reason], [200, "exception", "order_expired"]);
  assertEquals((await orderRow(order.id)).status, "expired");
  assertEquals(await stockOf(order.product), 0);
  const [x] = await sql`select reason, amount from public.payment_exceptions where event_id = ${event.id}`;
  assertEquals([x.reason, Number(x.amount)], ["order_expired", order.total]);
  // a redelivery changes nothing
  const again = await deliver(event);
  assertEquals([again.status, again.body.outcome], [200, "duplicate"]);
  assertEquals((await orderRow(order.id)).status, "expired");
});

/** A paid order (processed, then paid by a signed event). */
async function paidOrder(): Promise<{ id: number; total: number }> {
  const user = await newUser();
  const product = await newProduct({ price: 1250 });
  const order = await placeOrder(user, [{ product_id: product, quantity: 2 }]);
  const processed = await callFn("process-order", { order_id: order.id });
  assertEquals(processed.status, 200, JSON.stringify(processed.body));
  const total = Number(processed.body.total_amount);
  assertEquals((await deliver(paymentSucceeded(order.id, total))).body.outcome, "paid");
  return { id: order.id, total };
}

async function refundState(order: number) {
  const row = await orderRow(order);
  const refunds = await sql`select provider_refund_id, amount, currency from public.refunds
    where order_id = ${order} order by id`;
  return {
    status: row.status,
    refunded: Number(row.refunded_amount),
    refunds: refunds.map((r) => [r.provider_refund_id, Number(r.amount), r.currency]),
  };
}

e2e(
  "two partial refunds make partially_refunded then refunded with the right sums; a redelivery changes nothing",
  async () => {
    const order = await paidOrder(); // 2 x 1250 + shipping and tax as priced
    const part = 1000;
    const rest = order.total - part;
    const charge = `ch_${crypto.randomUUID().slice(0, 8)}`;
    const first = chargeRefunded(
      order.id,
      order.total,
      part,
      eventId(),
      [{ id: `re_1_${order.id}`, amount: part }],
      charge,
    );
    const r1 = await deliver(first);
    assertEquals([r1.status, r1.body.outcome], [200, "partially_refunded"]);
    assertEquals(await refundState(order.id), {
      status: "partially_refunded",
      refunded: part,
      refunds: [[`re_1_${order.id}`, part, "USD"]],
    });
    // a redelivery of the first event: duplicate, nothing changes
    const again = await deliver(first);
    assertEquals([again.status, again.body.outcome], [200, "duplicate"]);
    const second = chargeRefunded(order.id, order.total, order.total, eventId(), [
      { id: `re_2_${order.id}`, amount: rest },
      { id: `re_1_${order.id}`, amount: part },
    ], charge);
    const r2 = await deliver(second);
    assertEquals([r2.status, r2.body.outcome], [200, "refunded"]);
    const done = {
      status: "refunded",
      refunded: order.total,
      refunds: [[`re_1_${order.id}`, part, "USD"], [`re_2_${order.id}`, rest, "USD"]],
    };
    assertEquals(await refundState(order.id), done);
    // both redelivered, and the first again as a new event out of order: nothing changes
    assertEquals((await deliver(second)).body.outcome, "duplicate");
    assertEquals((await deliver(first)).body.outcome, "duplicate");
    const stale = chargeRefunded(
      order.id,
      order.total,
      part,
      eventId(),
      [{ id: `re_1_${order.id}`, amount: part }],
      charge,
    );
    assertEquals((await deliver(stale)).body.outcome, "ignored");
    assertEquals(await refundState(order.id), done);
    const [{ n }] = await sql`select count(*)::int n from public.payment_exceptions where order_id = ${order.id}`;
    assertEquals(n, 0);
  },
);

e2e("refunds adding up to more than was paid are an exception and change nothing", async () => {
  const order = await paidOrder();
  const over = chargeRefunded(order.id, order.total + 500, order.total + 500);
  const r = await deliver(over);
  assertEquals([r.status, r.body.outcome, r.body.reason], [200, "exception", "refund_exceeds_payment"]);
  assertEquals(await refundState(order.id), { status: "paid", refunded: 0, refunds: [] });
});

e2e("a per-customer limit of 1 holds under 20 concurrent orders by one user", async () => {
  const code = `ONCE-${crypto.randomUUID().slice(0, 8)}`;
  await sql`insert into public.discount_codes (code, percent_bp, max_redemptions_per_customer)
    values (${code}, 1000, 1)`;
  const user = await newUser();
  const product = await newProduct({ price: 1000 });
  const orders = [];
  for (let i = 0; i < 20; i++) {
    orders.push(await placeOrder(user, [{ product_id: product, quantity: 1 }], { discount_code: code }));
  }
  const replies = await Promise.all(orders.map((o) => callFn("process-order", { order_id: o.id })));
  const ok = replies.filter((r) => r.status === 200);
  const refused = replies.filter((r) =>
    r.status === 422 && r.body.error?.code === "discount_rejected" &&
    r.body.error?.details?.reason === "customer_limit"
  );
  assertEquals([ok.length, refused.length], [1, 19], JSON.stringify(replies.map((r) => r.status)));
  assertEquals(Number(ok[0].body.discount_amount), 100);
  const [d] = await sql`select redemptions from public.discount_codes where code = ${code}`;
  assertEquals(Number(d.redemptions), 1);
  const [{ n }] = await sql`select count(*)::int n from public.orders
    where user_id = ${user.id} and status = 'processed'`;
  assertEquals(n, 1);
  // another customer still redeems it
  const other = await newUser();
  const o = await placeOrder(other, [{ product_id: product, quantity: 1 }], { discount_code: code });
  assertEquals((await callFn("process-order", { order_id: o.id })).status, 200);
});

e2e("a tax-inclusive region prices a known basket to the documented amounts (README)", async () => {
  const region = `VAT-${crypto.randomUUID().slice(0, 8)}`;
  await sql`insert into public.tax_rates (region, rate_bp, prices_include_tax) values (${region}, 2000, true)`;
  const user = await newUser();
  const a = await newProduct({ price: 1200, currency: "EUR" });
  const b = await newProduct({ price: 599, currency: "EUR" });
  const order = await placeOrder(user, [{ product_id: a, quantity: 2 }, { product_id: b, quantity: 1 }], {
    currency: "EUR",
    shipping_region: region,
  });
  const r = await callFn("process-order", { order_id: order.id });
  assertEquals(r.status, 200, JSON.stringify(r.body));
  const amounts = (o: Record<string, unknown>) =>
    ["subtotal_amount", "discount_amount", "tax_amount", "shipping_amount", "total_amount"].map((k) => Number(o[k]));
  // 2 x 12.00 + 5.99 = 29.99 EUR gross, 20 % VAT included: 29.99 x 20/120 = 4.998 -> 5.00;
  // shipping 4.99 (the seed's EUR rule); total 29.99 + 4.99 = 34.98.
  assertEquals(amounts(r.body), [2999, 0, 500, 499, 3498]);
  assertEquals(r.body.tax_included, true);
  assertEquals(amounts(await orderRow(order.id)), [2999, 0, 500, 499, 3498]);
});
