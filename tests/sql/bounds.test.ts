// Input bounds (F6), what order_for_processing shows a user (F7), extensions and statement
// timeouts (F8), durability of the local server (F9), against the real SQL.
import { assert, assertEquals } from "../assert.ts";
import { codeOf, fixtures, SERVICE, sqlTest, testDatabase } from "./_db.ts";

const db = await testDatabase("bounds");
const { admin } = db;
const fx = fixtures(admin);

async function ordersOf(user: string): Promise<number> {
  const [r] = await admin`select count(*)::int as n from public.orders where user_id = ${user}`;
  return r.n;
}

/** place_order as `user`, answering the SQLSTATE and message (or "ok"). */
async function place(user: string, product: number, opts: { discount_code?: string; shipping_region?: string }) {
  const s = await db.session("user");
  await s.begin({ role: "authenticated", sub: user });
  const p = s.start(s.sql`select (public.place_order('USD', ${s.sql.json([{ product_id: product, quantity: 1 }])},
    ${opts.discount_code ?? null}, ${opts.shipping_region ?? null})).id`);
  const r = await p.result;
  if (r.ok) await s.commit();
  else await s.rollback();
  return { code: codeOf(r), message: r.ok ? "" : String(r.error.message) };
}

sqlTest(
  "F6: place_order refuses an over-long or control-character discount_code / shipping_region, writing nothing",
  async () => {
    const user = await fx.user();
    const p = await fx.product();
    const cases: [Record<string, string>, string][] = [
      [{ discount_code: "X".repeat(65) }, "discount_code must be at most 64 characters, without control characters"],
      [
        { discount_code: "X".repeat(1 << 20) },
        "discount_code must be at most 64 characters, without control characters",
      ],
      [{ discount_code: "TEN\n" }, "discount_code must be at most 64 characters, without control characters"],
      [
        { shipping_region: "R".repeat(65) },
        "shipping_region must be at most 64 characters, without control characters",
      ],
      [
        { shipping_region: "US\u0000CA".replace("\u0000", "\u0007") },
        "shipping_region must be at most 64 characters, without control characters",
      ],
    ];
    for (const [opts, message] of cases) {
      assertEquals(await place(user, p, opts), { code: "22023", message });
    }
    assertEquals(await ordersOf(user), 0);
    // The bounds themselves are accepted.
    assertEquals((await place(user, p, { discount_code: "D".repeat(64), shipping_region: "R".repeat(64) })).code, "ok");
    assertEquals(await ordersOf(user), 1);
  },
);

sqlTest("F6: a direct insert into orders (the REST grant) is held to the same bounds", async () => {
  const user = await fx.user();
  const s = await db.session("user");
  const attempts: [string, string | null, string | null][] = [
    ["USD", "X".repeat(1 << 20), null],
    ["USD", null, "R".repeat(65)],
    ["usd", null, null],
    ["USD", "", null],
  ];
  for (const [currency, code, region] of attempts) {
    await s.begin({ role: "authenticated", sub: user });
    const r = await s.start(s.sql`insert into public.orders (user_id, currency, discount_code, shipping_region)
      values (${user}, ${currency}, ${code}, ${region})`).result;
    await s.rollback();
    assertEquals(codeOf(r), "23514");
  }
  assertEquals(await ordersOf(user), 0);
});

sqlTest("F6: the largest accepted order makes an event far below the receiver's 256 KiB", async () => {
  const user = await fx.user();
  const p = await fx.product();
  assertEquals((await place(user, p, { discount_code: "D".repeat(64), shipping_region: "R".repeat(64) })).code, "ok");
  // The order's event to fn:order-events (20261205000100_orders_via_webhooks.sql).
  const [e] = await admin`select count(*)::int as events, max(octet_length(e.payload::text)) as n
    from webhooks.events e join public.orders o on e.row_key = jsonb_build_array(o.id)::text
    where e.table_name = 'orders' and o.user_id = ${user}`;
  assertEquals(e.events, 1);
  assert(Number(e.n) > 128 && Number(e.n) < 4096, `event of ${e.n} bytes`);
});

sqlTest("F6: Idempotency-Key values over 255 characters are refused by the table", async () => {
  const order = await fx.order(await fx.user(), [[await fx.product(), 1]]);
  const s = await db.session("service");
  await s.begin(SERVICE);
  const r = await s.start(
    s.sql`select public.begin_order_request(${order}, 'process-order', ${"k".repeat(256)}, 'h', 30)`,
  ).result;
  await s.rollback();
  assertEquals(codeOf(r), "23514");
});

sqlTest("F7: order_for_processing shows a user the discount without its redemption limit and count", async () => {
  const code = `LIM-${crypto.randomUUID().slice(0, 8)}`;
  await admin`insert into public.discount_codes (code, percent_bp, max_redemptions, redemptions)
    values (${code}, 1000, 50, 7)`;
  const user = await fx.user();
  const p = await fx.product();
  const order = await fx.order(user, [[p, 1]], { discount_code: code });
  const s = await db.session("reader");

  await s.begin({ role: "authenticated", sub: user });
  const [asUser] = await s.sql`select public.order_for_processing(${order}) as r`;
  await s.commit();
  assertEquals(asUser.r.discount, {
    code,
    percent_bp: 1000,
    fixed_amount: null,
    fixed_currency: null,
    min_subtotal_amount: 0,
    valid_from: null,
    valid_until: null,
  });

  await s.begin(SERVICE);
  const [asService] = await s.sql`select public.order_for_processing(${order}) as r`;
  await s.commit();
  assertEquals([asService.r.discount.max_redemptions, asService.r.discount.redemptions], [50, 7]);
});

sqlTest("F8: pgcrypto lives in the schema extensions; no extension function is in public", async () => {
  const rows = await admin`select e.extname, n.nspname from pg_extension e join pg_namespace n on n.oid = e.extnamespace
    where e.extname = 'pgcrypto'`;
  assertEquals(rows.map((r) => ({ ...r })), [{ extname: "pgcrypto", nspname: "extensions" }]);
  const inPublic = await admin`select p.proname from pg_proc p join pg_depend d on d.objid = p.oid and d.deptype = 'e'
    where p.pronamespace = 'public'::regnamespace`;
  assertEquals(inPublic.map((r) => r.proname), []);
  // What anon may execute in public (what the REST API would let it call): nothing.
  const anon = await admin`select p.proname from pg_proc p
    where p.pronamespace = 'public'::regnamespace and has_function_privilege('anon', p.oid, 'execute')
    order by 1`;
  assertEquals(anon.map((r) => r.proname), []);
  // The functions that need random uuids still work (PostgreSQL's own gen_random_uuid).
  const s = await db.session("dispatcher");
  await s.begin(SERVICE);
  const [c] = await s.sql`select webhooks.claim_deliveries(1, 1) as r`;
  await s.rollback();
  assert(/^[0-9a-f-]{36}$/.test(c.r.claim));
});

sqlTest("F8: anon and authenticated carry Supabase's statement timeouts (3 s, 8 s)", async () => {
  const rows = await admin`select r.rolname, s.setconfig from pg_db_role_setting s join pg_roles r on r.oid = s.setrole
    where s.setdatabase = 0 and r.rolname in ('anon', 'authenticated', 'authenticator') order by 1`;
  assertEquals(rows.map((r) => [r.rolname, r.setconfig]), [
    ["anon", ["statement_timeout=3s"]],
    ["authenticated", ["statement_timeout=8s"]],
    ["authenticator", ["statement_timeout=8s"]],
  ]);
});

sqlTest("F9: the local server is durable (fsync, synchronous_commit, full_page_writes on)", async () => {
  const [r] = await admin`select current_setting('fsync') as fsync,
    current_setting('synchronous_commit') as synchronous_commit, current_setting('full_page_writes') as fpw`;
  // PG_FAST=1 (scripts/db.sh) is the opt-in non-durable mode for benchmarks.
  const expected = Deno.env.get("PG_FAST") === "1" ? "off" : "on";
  assertEquals({ ...r }, { fsync: expected, synchronous_commit: expected, fpw: expected });
});
