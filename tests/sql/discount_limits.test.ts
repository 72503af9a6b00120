// Per-customer discount limits (issue 12, point 3): max_redemptions_per_customer, counted by
// apply_order_processing under the code's row lock, so two orders of one user racing are
// counted one after the other; expiry gives a redemption back.
import { assertEquals } from "../assert.ts";
import { applyProcessing, fixtures, SERVICE, type Sql, sqlTest, testDatabase } from "./_db.ts";

const db = await testDatabase("discount_limits");
const { admin } = db;
const fx = fixtures(admin);

async function code(perCustomer: number | null, max: number | null = null): Promise<string> {
  const c = `PC-${crypto.randomUUID()}`;
  await admin`insert into public.discount_codes (code, fixed_amount, fixed_currency, max_redemptions,
      max_redemptions_per_customer) values (${c}, 100, 'USD', ${max}, ${perCustomer})`;
  return c;
}

/** A pending order of `user` (1 x 1500) with `discount_code`, and how processing would send it. */
async function pending(user: string, discount_code: string) {
  const product = await fx.product({ price: 1500 });
  const order = await fx.order(user, [[product, 1]], { discount_code });
  return { order, lines: await fx.pricedLines(order) };
}

function apply(sql: Sql, o: { order: number; lines: any[] }, discount_code: string) {
  return applyProcessing(sql, o.order, o.lines, { discount_code, discount: 100 });
}

async function redemptions(c: string): Promise<number> {
  const [r] = await admin`select redemptions from public.discount_codes where code = ${c}`;
  return Number(r.redemptions);
}

sqlTest(
  "two orders of one user racing for a code limited to 1 per customer: one redeems, the other is refused",
  async () => {
    const c = await code(1);
    const user = await fx.user();
    const a = await pending(user, c);
    const b = await pending(user, c);
    const s1 = await db.session("first");
    const s2 = await db.session("second");
    await s1.begin(SERVICE);
    await s2.begin(SERVICE);
    assertEquals((await apply(s1.sql, a, c)).refusal, null);
    const second = s2.start(apply(s2.sql, b, c));
    await s2.waitUntilBlocked(second); // on the code's row lock
    await s1.commit();
    const r = await second.result;
    assertEquals(r.ok && r.value.refusal, { kind: "discount_customer_limit" });
    await s2.commit();
    assertEquals([await fx.status(a.order), await fx.status(b.order)], ["processed", "pending"]);
    assertEquals(await redemptions(c), 1);
  },
);

sqlTest("the limit is per customer: another user still redeems; a limit of 2 allows two", async () => {
  const c = await code(1);
  const [u1, u2] = [await fx.user(), await fx.user()];
  const s = await db.session("s");
  await s.begin(SERVICE);
  assertEquals((await apply(s.sql, await pending(u1, c), c)).refusal, null);
  assertEquals((await apply(s.sql, await pending(u2, c), c)).refusal, null);
  assertEquals((await apply(s.sql, await pending(u1, c), c)).refusal, { kind: "discount_customer_limit" });
  await s.commit();
  const two = await code(2);
  await s.begin(SERVICE);
  assertEquals((await apply(s.sql, await pending(u1, two), two)).refusal, null);
  assertEquals((await apply(s.sql, await pending(u1, two), two)).refusal, null);
  assertEquals((await apply(s.sql, await pending(u1, two), two)).refusal, { kind: "discount_customer_limit" });
  await s.commit();
  assertEquals(await redemptions(two), 2);
});

sqlTest("an expired order gives its customer's redemption back; a cancelled one keeps it", async () => {
  const c = await code(1);
  const user = await fx.user();
  const first = await pending(user, c);
  const s = await db.session("s");
  await s.begin(SERVICE);
  assertEquals((await apply(s.sql, first, c)).refusal, null);
  await s.commit();
  await admin`update public.orders set payment_due_at = now() - interval '1 second' where id = ${first.order}`;
  await s.begin(SERVICE);
  assertEquals(Number((await s.sql`select public.expire_unpaid_orders() as n`)[0].n), 1);
  const second = await pending(user, c);
  assertEquals((await apply(s.sql, second, c)).refusal, null);
  assertEquals((await s.sql`select public.order_transition(${second.order}, 'processed', 'cancelled') as r`)[0].r, {
    refusal: null,
  });
  assertEquals((await apply(s.sql, await pending(user, c), c)).refusal, { kind: "discount_customer_limit" });
  await s.commit();
});

sqlTest("max_redemptions_per_customer must be positive", async () => {
  const r = await admin`insert into public.discount_codes (code, fixed_amount, fixed_currency,
      max_redemptions_per_customer) values ('PC-zero', 100, 'USD', 0)`.then(() => "ok", (e) => e.code);
  assertEquals(r, "23514");
});
