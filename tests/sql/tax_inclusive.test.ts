// Tax-inclusive prices (issue 12, point 4): tax_rates.prices_include_tax reaches pricing through
// order_for_processing (the pricing itself is Rust: shared/orders/src/pricing.rs and its
// property tests; the e2e prices a known basket).
import { assertEquals } from "../assert.ts";
import { fixtures, SERVICE, sqlTest, testDatabase } from "./_db.ts";

const db = await testDatabase("tax_inclusive");
const { admin } = db;
const fx = fixtures(admin);

sqlTest("order_for_processing shows the region's prices_include_tax with its rate (default false)", async () => {
  const region = `VAT-${crypto.randomUUID().slice(0, 8)}`;
  await admin`insert into public.tax_rates (region, rate_bp, prices_include_tax) values (${region}, 2000, true)`;
  const plain = `TAX-${crypto.randomUUID().slice(0, 8)}`;
  await admin`insert into public.tax_rates (region, rate_bp) values (${plain}, 725)`;
  const user = await fx.user();
  const product = await fx.product();
  const inclusive = await fx.order(user, [[product, 1]], { shipping_region: region });
  const exclusive = await fx.order(user, [[product, 1]], { shipping_region: plain });
  const s = await db.session("reader");
  for (const claims of [SERVICE, { role: "authenticated", sub: user }]) {
    await s.begin(claims);
    const [a] = await s.sql`select public.order_for_processing(${inclusive}) as snap`;
    const [b] = await s.sql`select public.order_for_processing(${exclusive}) as snap`;
    await s.rollback();
    assertEquals(a.snap.tax, { region, rate_bp: 2000, prices_include_tax: true });
    assertEquals(b.snap.tax, { region: plain, rate_bp: 725, prices_include_tax: false });
  }
});
