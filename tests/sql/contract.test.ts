// The SQL side of the Rust<->SQL contract of the order RPCs. The Rust types are tested against
// the exact JSON begin_order_request produced (shared/orders/src/store/fixtures/, see
// shared/orders/src/store/contract_tests.rs); these tests keep that JSON true: the live function
// still answers every key of the fixtures with the same JSON type (it may add keys), and
// apply_order_processing takes the lines exactly as Rust sends them back.
import { assert, assertEquals } from "../assert.ts";
import { fixtures, SERVICE, sqlTest, testDatabase } from "./_db.ts";

const db = await testDatabase("contract");
const { admin } = db;
const fx = fixtures(admin);

const FIXTURES = new URL("../../shared/orders/src/store/fixtures/", import.meta.url);
const fixture = async (name: string) => JSON.parse(await Deno.readTextFile(new URL(name, FIXTURES)));

const kind = (v: unknown) => (v === null ? "null" : Array.isArray(v) ? "array" : typeof v);

/** Every key path of `want` with its JSON type, where `got` differs (arrays: element-wise). */
function shapeDiff(want: unknown, got: unknown, path = ""): string[] {
  if (kind(want) !== kind(got)) return [`${path || "/"}: ${kind(want)} expected, got ${kind(got)}`];
  if (Array.isArray(want)) {
    const g = got as unknown[];
    if (want.length !== g.length) return [`${path}: ${want.length} elements expected, got ${g.length}`];
    return want.flatMap((w, i) => shapeDiff(w, g[i], `${path}/${i}`));
  }
  if (kind(want) === "object") {
    const g = got as Record<string, unknown>;
    return Object.entries(want as Record<string, unknown>).flatMap(([k, w]) =>
      k in g ? shapeDiff(w, g[k], `${path}/${k}`) : [`${path}/${k}: missing`]
    );
  }
  return [];
}

/** An order shaped like the fixture's: two lines, a fixed discount, a taxed region, shipping. */
async function fixtureLikeOrder(): Promise<number> {
  const tag = crypto.randomUUID().slice(0, 8);
  const code = `FIX-${tag}`, region = `R-${tag}`;
  await admin`insert into public.discount_codes (code, fixed_amount, fixed_currency, min_subtotal_amount, max_redemptions)
    values (${code}, 500, 'USD', 2000, 100)`;
  await admin`insert into public.tax_rates (region, rate_bp) values (${region}, 725)`;
  await admin`insert into public.shipping_rates (currency, flat_amount, free_over_amount) values ('USD', 599, 10000)
    on conflict (currency) do nothing`;
  const user = await fx.user();
  const mug = await fx.product({ price: 1250 });
  const shirt = await fx.product({ price: 1999 });
  return await fx.order(user, [[mug, 3], [shirt, 1]], { discount_code: code, shipping_region: region });
}

sqlTest("begin_order_request still answers every key of the Rust fixture, with the same JSON types", async () => {
  const want = await fixture("begin_order_request.json");
  const order = await fixtureLikeOrder();
  const s = await db.session("reader");
  await s.begin(SERVICE);
  const [r] = await s.sql`select public.begin_order_request(${order}) as a`;
  await s.rollback();
  assertEquals(shapeDiff(want, r.a), []);
  assertEquals(r.a.snapshot.lines.map((l: { quantity: number }) => l.quantity), [3, 1]);

  // The unsupported-currency fixture: an order in any three upper-case letters reads the same way.
  const xyz = await fixture("begin_order_request_xyz.json");
  const user = await fx.user();
  const product = await fx.product();
  const [o] = await admin`insert into public.orders (user_id, currency) values (${user}, 'XYZ') returning id`;
  await admin`insert into public.order_items (order_id, product_id, quantity) values (${o.id}, ${product}, 1)`;
  await s.begin(SERVICE);
  const [x] = await s.sql`select public.begin_order_request(${o.id}) as a`;
  await s.rollback();
  assertEquals(shapeDiff(xyz, x.a), []);
  assertEquals(x.a.snapshot.order.currency, "XYZ");
});

sqlTest("apply_order_processing takes the lines as Rust sends them back (read fields + line_amount)", async () => {
  const order = await fixtureLikeOrder();
  const s = await db.session("apply");
  await s.begin(SERVICE);
  const [r] = await s.sql`select public.begin_order_request(${order}) as a`;
  // What edge_orders::pricing::PricedLine serializes: the line without the product's currency
  // and active flag, plus its amount.
  const lines = r.a.snapshot.lines.map((l: Record<string, any>) => ({
    product_id: l.product_id,
    sku: l.sku,
    quantity: l.quantity,
    unit_amount: l.unit_amount,
    line_amount: l.quantity * l.unit_amount,
  }));
  const subtotal = lines.reduce((a: number, l: { line_amount: number }) => a + l.line_amount, 0);
  const [applied] = await s.sql`select public.apply_order_processing(
      order_id => ${order}, expected_status => 'pending', subtotal_amount => ${subtotal},
      discount_amount => 500, tax_amount => 381, shipping_amount => 599,
      total_amount => ${subtotal - 500 + 381 + 599}, lines => ${s.sql.json(lines)},
      discount_code => ${r.a.snapshot.order.discount_code}) as r`;
  await s.commit();
  assertEquals(applied.r, { refusal: null });
  assertEquals(await fx.status(order), "processed");
  const [row] = await admin`select total_amount, redeemed_discount_code from public.orders where id = ${order}`;
  assertEquals(Number(row.total_amount), subtotal - 500 + 381 + 599);
  assert(row.redeemed_discount_code !== null);
});

sqlTest(
  "the unkeyed read is stable (callable by GET), and the order RPCs plan their statements once per connection",
  async () => {
    // process-order reads an order without an Idempotency-Key by GET /rpc/order_for_processing:
    // PostgREST runs a GET in a read-only transaction and serves it for a stable function only.
    const rows = await admin`select p.proname, p.provolatile, p.proconfig from pg_proc p
    where p.pronamespace = 'public'::regnamespace
      and p.proname in ('order_for_processing', 'begin_order_request', 'apply_order_processing', 'order_transition')
    order by p.proname`;
    assertEquals(rows.map((r) => [r.proname, r.provolatile]), [
      ["apply_order_processing", "v"],
      ["begin_order_request", "v"],
      ["order_for_processing", "s"],
      ["order_transition", "v"],
    ]);
    // 20261205000300: generic plans (every statement looks rows up by key), with search_path still set.
    for (const r of rows) {
      assert(r.proconfig.includes("plan_cache_mode=force_generic_plan"), `${r.proname}: ${r.proconfig}`);
      assert(r.proconfig.includes('search_path=""'), `${r.proname}: ${r.proconfig}`);
    }
    // And the read answers as before: the order as the caller sees it, read-only.
    const order = await fixtureLikeOrder();
    const s = await db.session("stable-read");
    await s.begin(SERVICE);
    await s.sql`set transaction read only`;
    const [r] = await s.sql`select public.order_for_processing(${order}) as o`;
    await s.commit();
    assertEquals([r.o.order.id, r.o.order.status, r.o.lines.length], [order, "pending", 2]);
  },
);
