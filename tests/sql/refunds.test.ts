// Partial refunds (issue 12, point 2): apply_payment_event with a charge's refunds list records
// each refund once, moves the order to partially_refunded then refunded, never beyond what was
// paid, and redeliveries or events out of order change nothing twice. A full refund cancels a
// queued fulfillment; a partial one does not.
import { assertEquals } from "../assert.ts";
import { applyProcessing, fixtures, SERVICE, type Sql, sqlTest, testDatabase } from "./_db.ts";

const db = await testDatabase("refunds");
const { admin } = db;
const fx = fixtures(admin);

type Refund = { id: string; amount: number };

function asService<T>(fn: (sql: Sql) => Promise<T>): Promise<T> {
  return admin.begin(async (tx) => {
    await tx.unsafe("set local role service_role");
    return await fn(tx as unknown as Sql);
  }) as Promise<T>;
}

/** A paid order of a new user: total = 2 x 1500 = 3000 USD minor units. */
async function paidOrder(): Promise<number> {
  const user = await fx.user();
  const product = await fx.product({ price: 1500 });
  const order = await fx.order(user, [[product, 2]]);
  const s = await db.session("setup");
  await s.begin(SERVICE);
  assertEquals((await applyProcessing(s.sql, order, await fx.pricedLines(order))).refusal, null);
  const r = await s.sql`select public.apply_payment_event(provider => 'stripe',
      event_id => ${`evt_${crypto.randomUUID()}`}, event_type => 'payment_intent.succeeded',
      order_id => ${order}, to_status => 'paid', expected_status => 'processed', amount => 3000,
      currency => 'usd') as r`;
  assertEquals(r[0].r.outcome, "paid");
  await s.commit();
  return order;
}

/** charge.refunded as payment-webhook sends it: cumulative amount_refunded and the list. */
function refundEvent(order: number, amountRefunded: number, refunds: Refund[], opts: {
  event?: string;
  expected?: string;
} = {}) {
  const to = amountRefunded >= 3000 ? "refunded" : "partially_refunded";
  const list = refunds.map((r) => ({ ...r, currency: "USD", created: 1_700_000_000 }));
  return asService((sql) =>
    sql`select public.apply_payment_event(provider => 'stripe',
        event_id => ${opts.event ?? `evt_${crypto.randomUUID()}`}, event_type => 'charge.refunded',
        order_id => ${order}, to_status => ${to}, expected_status => ${opts.expected ?? "paid"},
        amount => ${amountRefunded}, currency => 'usd', refunds => ${sql.json(list)}) as r`
      .then((rows) => rows[0].r as Record<string, any>)
  );
}

async function state(order: number) {
  const [o] = await admin`select status, refunded_amount from public.orders where id = ${order}`;
  const refunds = await admin`select provider_refund_id, amount from public.refunds where order_id = ${order}
    order by provider_refund_id`;
  return {
    status: o.status,
    refunded: Number(o.refunded_amount),
    refunds: refunds.map((r) => [r.provider_refund_id, Number(r.amount)]),
  };
}

sqlTest(
  "two partial refunds: partially_refunded, then refunded at the total; a redelivery changes nothing",
  async () => {
    const order = await paidOrder();
    const first = await refundEvent(order, 1000, [{ id: "re_a", amount: 1000 }], { event: `evt_a_${order}` });
    assertEquals([first.outcome, first.order_status], ["partially_refunded", "partially_refunded"]);
    assertEquals(await state(order), { status: "partially_refunded", refunded: 1000, refunds: [["re_a", 1000]] });
    // redelivery of the first event: duplicate, nothing changes
    const again = await refundEvent(order, 1000, [{ id: "re_a", amount: 1000 }], { event: `evt_a_${order}` });
    assertEquals(again.outcome, "duplicate");
    assertEquals(await state(order), { status: "partially_refunded", refunded: 1000, refunds: [["re_a", 1000]] });
    const second = await refundEvent(order, 3000, [{ id: "re_a", amount: 1000 }, { id: "re_b", amount: 2000 }], {
      expected: "partially_refunded",
    });
    assertEquals([second.outcome, second.order_status], ["refunded", "refunded"]);
    assertEquals(await state(order), {
      status: "refunded",
      refunded: 3000,
      refunds: [["re_a", 1000], ["re_b", 2000]],
    });
  },
);

sqlTest("events out of order: the older partial event after the full one changes nothing", async () => {
  const order = await paidOrder();
  const full = await refundEvent(order, 3000, [{ id: "re_1", amount: 1000 }, { id: "re_2", amount: 2000 }]);
  assertEquals(full.outcome, "refunded");
  const late = await refundEvent(order, 1000, [{ id: "re_1", amount: 1000 }], { expected: "refunded" });
  assertEquals([late.outcome, late.order_status], ["ignored", "refunded"]);
  assertEquals(await state(order), { status: "refunded", refunded: 3000, refunds: [["re_1", 1000], ["re_2", 2000]] });
});

sqlTest("refunds beyond what was paid are an exception, nothing recorded", async () => {
  const order = await paidOrder();
  await refundEvent(order, 2000, [{ id: "re_x", amount: 2000 }]);
  // a new refund id of 1500 would make 3500 > 3000
  const over = await refundEvent(order, 3500, [{ id: "re_x", amount: 2000 }, { id: "re_y", amount: 1500 }], {
    expected: "partially_refunded",
  });
  assertEquals([over.outcome, over.reason], ["exception", "refund_exceeds_payment"]);
  assertEquals(await state(order), { status: "partially_refunded", refunded: 2000, refunds: [["re_x", 2000]] });
});

sqlTest("a full refund cancels a queued fulfillment; a partial one leaves it queued", async () => {
  const order = await paidOrder();
  await admin`select public.fulfill_order_event('event_outbox', ${`evt_${crypto.randomUUID()}`}, ${order})`;
  const fulfillment = async () =>
    (await admin`select status from public.fulfillments where order_id = ${order}`)[0].status;
  assertEquals(await fulfillment(), "queued");
  await refundEvent(order, 500, [{ id: "re_p", amount: 500 }]);
  assertEquals(await fulfillment(), "queued");
  await refundEvent(order, 3000, [{ id: "re_p", amount: 500 }, { id: "re_q", amount: 2500 }], {
    expected: "partially_refunded",
  });
  assertEquals(await fulfillment(), "cancelled");
});

sqlTest("a refund for an order that is not paid is a status_conflict, nothing recorded", async () => {
  const user = await fx.user();
  const product = await fx.product();
  const order = await fx.order(user, [[product, 1]]);
  const r = await refundEvent(order, 100, [{ id: `re_${order}`, amount: 100 }], { expected: "pending" })
    .catch((e) => ({ error: e.code }));
  // Rust never sends it (pending does not accept refunds): the database refuses it as a bug.
  assertEquals(r, { error: "22023" });
  assertEquals((await state(order)).refunds, []);
});
