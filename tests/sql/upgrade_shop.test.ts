// The upgrade to issue 12's schema (20261204003000 on): a database with a processed unpaid order
// (a discount redeemed) and a refunded order, written by the previous functions, is upgraded by
// applying the new migrations (twice: idempotent). The processed order gets a deadline of the
// upgrade time plus the TTL (not an immediate expiry) and its redemption is given back when it
// expires; the refunded order's refunded_amount is its total; the old apply_payment_event
// signature is gone.
import { assert, assertEquals } from "../assert.ts";
import { fixtures, SERVICE, sqlTest, testDatabase } from "./_db.ts";

const SHOP = "20261204003000";
const db = await testDatabase("upgrade_shop", { before: SHOP });
const { admin } = db;
const fx = fixtures(admin);

sqlTest("a database with processed and refunded orders upgrades to expiry and refunds", async () => {
  const [{ has_due }] = await admin`select exists (select 1 from information_schema.columns
    where table_name = 'orders' and column_name = 'payment_due_at') as has_due`;
  assertEquals(has_due, false);
  await admin`insert into public.discount_codes (code, fixed_amount, fixed_currency) values ('OLD10', 100, 'USD')`;
  const user = await fx.user();
  const p = await fx.product({ price: 1500, stock: 10 });
  const unpaid = await fx.order(user, [[p, 2]], { discount_code: "OLD10" });
  const refunded = await fx.order(user, [[p, 1]]);
  const s = await db.session("old code");
  await s.begin(SERVICE);
  for (const [order, discount, code] of [[unpaid, 100, "OLD10"], [refunded, 0, null]] as const) {
    const lines = await fx.pricedLines(order);
    const subtotal = lines.reduce((a, l) => a + l.quantity * l.unit_amount, 0);
    const [r] = await s.sql`select public.apply_order_processing(
        order_id => ${order}, expected_status => 'pending', subtotal_amount => ${subtotal},
        discount_amount => ${discount}, tax_amount => 0, shipping_amount => 0,
        total_amount => ${subtotal - discount}, lines => ${s.sql.json(lines)}, discount_code => ${code}) as r`;
    assertEquals(r.r, { refusal: null });
  }
  for (const [to, expected] of [["paid", "processed"], ["refunded", "paid"]]) {
    const [r] = await s.sql`select public.apply_payment_event(provider => 'stripe',
        event_id => ${`evt_${crypto.randomUUID()}`}, event_type => 'x', order_id => ${refunded},
        to_status => ${to}, expected_status => ${expected}, amount => 1500, currency => 'usd') as r`;
    assertEquals(r.r.outcome, to);
  }
  await s.commit();
  assertEquals([await fx.status(unpaid), await fx.status(refunded), await fx.stock(p)], ["processed", "refunded", 7]);

  const applied = await db.migrate(SHOP);
  assert(applied.length >= 5 && applied[0].startsWith(SHOP), JSON.stringify(applied));
  await db.migrate(SHOP);

  const [o] = await admin`select extract(epoch from payment_due_at - now())::int as left_s, redeemed_discount_code
    from public.orders where id = ${unpaid}`;
  assert(o.left_s > 1700 && o.left_s <= 1800, `due in ${o.left_s} s`);
  assertEquals(o.redeemed_discount_code, "OLD10");
  const [r] = await admin`select refunded_amount from public.orders where id = ${refunded}`;
  assertEquals(Number(r.refunded_amount), 1500);
  const [{ old_sig }] = await admin`select to_regprocedure(
    'public.apply_payment_event(text,text,text,bigint,text,text,bigint,text,text,text,jsonb)') is not null as old_sig`;
  assertEquals(old_sig, false);

  // Nothing expired by the upgrade; once due, it expires with its stock and redemption back.
  await s.begin(SERVICE);
  assertEquals(Number((await s.sql`select public.expire_unpaid_orders() as n`)[0].n), 0);
  await s.commit();
  await admin`update public.orders set payment_due_at = now() - interval '1 second' where id = ${unpaid}`;
  await s.begin(SERVICE);
  assertEquals(Number((await s.sql`select public.expire_unpaid_orders() as n`)[0].n), 1);
  await s.commit();
  const [d] = await admin`select redemptions from public.discount_codes where code = 'OLD10'`;
  assertEquals([await fx.status(unpaid), await fx.stock(p), Number(d.redemptions)], ["expired", 9, 0]);
});
