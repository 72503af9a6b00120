// Database webhooks, what the orders flow needs to become one subscription (issue 11, step 4):
// a fn: endpoint signed with a function secret the database never sees
// (20261204005100_webhooks_secret_env.sql).
import { assert, assertEquals } from "../assert.ts";
import { SERVICE, sqlTest, testDatabase } from "./_db.ts";
import { dispatcherCalls, fixtures } from "./_webhooks.ts";

const db = await testDatabase("webhooks_orders_move");
const { admin } = db;

await admin.unsafe(`create table public.things (id bigint primary key, name text, n int default 0)`);

const { claim, record } = dispatcherCalls(admin);

const { endpoint, reset } = fixtures(admin);

const failed = (q: Promise<unknown>) => q.then(() => "ok", (e) => `${e.code}: ${e.message}`);

async function stored(id: string): Promise<number> {
  const [{ n }] = await admin`select count(*)::int as n from webhooks.endpoint_secrets where endpoint_id = ${id}`;
  return n;
}

sqlTest(
  "secret_env: a fn: endpoint signs with a named function secret, no stored secret; claims answer the name",
  async () => {
    await reset();
    const fn = await endpoint("fn:order-events");
    const web = await endpoint("https://example.com/hook");
    const [{ r }] = await admin`select webhooks.set_secret_env(${fn.id}, 'ORDER_EVENTS_SECRET') as r`;
    assertEquals(r, null);
    assertEquals(await stored(fn.id), 0);
    const [e] = await admin`select secret_env from webhooks.endpoints where id = ${fn.id}`;
    assertEquals(e.secret_env, "ORDER_EVENTS_SECRET");
    await admin`insert into public.things (id) values (1)`;
    const c = await claim();
    const byEndpoint = new Map(c.deliveries.map((d) => [d.endpoint_id, d]));
    assertEquals(byEndpoint.get(fn.id)!.secrets, []);
    assertEquals(byEndpoint.get(fn.id)!.secret_env, "ORDER_EVENTS_SECRET");
    assertEquals(byEndpoint.get(web.id)!.secrets, [web.secret]);
    assertEquals(byEndpoint.get(web.id)!.secret_env, null);
    // A missing variable is a failed try like any other: recorded, retried, last_error kept.
    const error = "cannot sign: the function secret ORDER_EVENTS_SECRET is not set in webhook-dispatch's environment";
    const out = await record(c.claim, [
      { id: byEndpoint.get(fn.id)!.id, error },
      { id: byEndpoint.get(web.id)!.id, http_status: 200 },
    ]);
    assertEquals([out.retried, out.delivered, out.dead], [1, 1, 0]);
    const [d] = await admin`select status, attempts, last_error, last_status from webhooks.deliveries
      where endpoint_id = ${fn.id}`;
    assertEquals([d.status, d.attempts, d.last_error, d.last_status], ["pending", 1, error, null]);
    const [a] = await admin`select error, http_status from webhooks.attempts where endpoint_id = ${fn.id}`;
    assertEquals([a.error, a.http_status], [error, null]);
  },
);

sqlTest(
  "secret_env: refused names and non-fn: endpoints (22023), unknown endpoint (P0002), nothing changed",
  async () => {
    await reset();
    const fn = await endpoint("fn:order-events");
    const web = await endpoint("https://example.com/hook");
    for (const name of ["SUPABASE_JWT_SECRET", "SB_SECRET", "order_events_secret", "ORDER_EVENTS_KEY", "SECRET", ""]) {
      const r = await failed(admin`select webhooks.set_secret_env(${fn.id}, ${name})`);
      assert(r.startsWith("22023: set_secret_env: the name must match"), `${name}: ${r}`);
    }
    const long = "A".repeat(122) + "_SECRET";
    assert((await failed(admin`select webhooks.set_secret_env(${fn.id}, ${long})`)).startsWith("22023"));
    assert(
      (await failed(admin`select webhooks.set_secret_env(${web.id}, 'ORDER_EVENTS_SECRET')`)).startsWith(
        "22023: set_secret_env: only a fn: endpoint",
      ),
    );
    assert(
      (await failed(admin`select webhooks.set_secret_env(gen_random_uuid(), 'ORDER_EVENTS_SECRET')`)).startsWith(
        "P0002",
      ),
    );
    // The table's own check holds against a direct write too.
    assert(
      (await failed(admin`update webhooks.endpoints set secret_env = 'ORDER_EVENTS_SECRET' where id = ${web.id}`))
        .startsWith("23514"),
    );
    assert(
      (await failed(admin`update webhooks.endpoints set secret_env = 'SUPABASE_JWT_SECRET' where id = ${fn.id}`))
        .startsWith("23514"),
    );
    const rows = await admin`select id, secret_env from webhooks.endpoints order by id`;
    assert(rows.every((x) => x.secret_env === null));
    assertEquals([await stored(fn.id), await stored(web.id)], [1, 1]);
  },
);

sqlTest(
  "secret_env: rotate_secret is refused (22023, naming the variable), set_secret_env(id, null) goes back",
  async () => {
    await reset();
    const fn = await endpoint("fn:order-events");
    await admin`select webhooks.set_secret_env(${fn.id}, 'ORDER_EVENTS_SECRET')`;
    for (
      const q of [
        admin`select webhooks.rotate_secret(${fn.id})`,
        admin`select webhooks.rotate_secret(${fn.id}, null)`,
        admin`select webhooks.admin('rotate_secret', ${admin.json({ id: fn.id })})`,
      ]
    ) {
      const r = await failed(q);
      assert(r.startsWith("22023: ") && r.includes("signs with the function secret ORDER_EVENTS_SECRET"), r);
    }
    assertEquals(await stored(fn.id), 0);
    const [{ s }] = await admin`select webhooks.set_secret_env(${fn.id}, null) as s`;
    assert(/^whsec_/.test(s));
    const [k] = await admin`select secret from webhooks.endpoint_secrets where endpoint_id = ${fn.id}`;
    assertEquals(k.secret, s);
    await admin`insert into public.things (id) values (1)`;
    const c = await claim();
    assertEquals([c.deliveries[0].secrets, c.deliveries[0].secret_env], [[s], null]);
  },
);

sqlTest("secret_env: service_role and postgres only", async () => {
  await reset();
  const fn = await endpoint("fn:order-events");
  for (const role of ["anon", "authenticated"]) {
    const s = await db.session(role);
    await s.begin({ role });
    const r = await failed(s.sql`select webhooks.set_secret_env(${fn.id}, 'ORDER_EVENTS_SECRET')`);
    await s.rollback();
    assert(r.startsWith("42501"), `${role}: ${r}`);
  }
  const s = await db.session("service");
  await s.begin(SERVICE);
  await s.sql`select webhooks.set_secret_env(${fn.id}, 'ORDER_EVENTS_SECRET')`;
  await s.commit();
  const [e] = await admin`select secret_env from webhooks.endpoints where id = ${fn.id}`;
  assertEquals(e.secret_env, "ORDER_EVENTS_SECRET");
});
