// Database webhooks, what the orders flow needs to become one subscription (issue 11, step 4):
// a fn: endpoint signed with a function secret the database never sees
// (20261204005100_webhooks_secret_env.sql), and blocking per endpoint: a dead delivery holds its
// row (20261204005110_webhooks_dead_blocks_row.sql).
import { assert, assertEquals } from "../assert.ts";
import { SERVICE, sqlTest, testDatabase } from "./_db.ts";
import { deadFirst, dispatcherCalls, fixtures, rowsOf } from "./_webhooks.ts";

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

// Blocking per endpoint (20261204005110_webhooks_dead_blocks_row.sql) --------------------------

sqlTest(
  "dead_blocks_row: a dead delivery holds its row's later ones to that endpoint until requeued; off by default",
  async () => {
    await reset();
    const held = await endpoint("https://held.example/hook");
    const free = await endpoint("https://free.example/hook");
    const [e] = await admin`select dead_blocks_row from webhooks.endpoints where id = ${free.id}`;
    assertEquals(e.dead_blocks_row, false);
    await admin`select webhooks.set_dead_blocks_row(${held.id}, true)`;
    // Both endpoints: row [1]'s insert dies.
    await admin`update webhooks.config set retry_schedule_seconds = '{}'`;
    await admin`insert into public.things (id) values (1), (2)`;
    await admin`update public.things set n = 1 where id = 1`;
    await admin`update public.things set n = 2 where id = 1`;
    const c = await claim(admin, 100, 1);
    assertEquals(rowsOf(c, held.id), ["[1]:0", "[2]:0"]);
    assertEquals(rowsOf(c, free.id), ["[1]:0", "[2]:0"]);
    await record(
      c.claim,
      c.deliveries.map((d) => ({ id: d.id, http_status: d.row_key === "[1]" ? 500 : 200 })),
    );
    await admin`update webhooks.config set retry_schedule_seconds = default`;
    const dead = await admin`select endpoint_id from webhooks.deliveries where status = 'dead' order by id`;
    assertEquals(dead.length, 2);
    // The blocking endpoint holds row [1]'s updates; the other lets them go (as before).
    const c2 = await claim();
    assertEquals(rowsOf(c2, held.id), []);
    assertEquals(rowsOf(c2, free.id), ["[1]:1", "[1]:2"]);
    await record(c2.claim, c2.deliveries.map((d) => ({ id: d.id, http_status: 200 })));
    assertEquals((await claim()).deliveries.length, 0);
    // Purge keeps the holding dead delivery, however old.
    await admin`update webhooks.deliveries set finished_at = now() - interval '90 days' where status <> 'pending'`;
    const [{ p }] = await admin`select webhooks.purge() as p`;
    const left = await admin`select endpoint_id, status from webhooks.deliveries where status <> 'pending'
      order by id`;
    assertEquals(left.map((x) => [x.endpoint_id, x.status]), [[held.id, "dead"]]);
    assertEquals(p.deliveries, 5);
    // Requeued: the dead one goes first, alone; its successors after it is delivered, in order.
    assertEquals((await admin`select webhooks.requeue_dead(${held.id}) as n`)[0].n, 1);
    const c3 = await claim(admin, 100, 1);
    assertEquals(rowsOf(c3, held.id), ["[1]:0"]);
    await record(c3.claim, [{ id: c3.deliveries[0].id, http_status: 200 }]);
    const c4 = await claim();
    assertEquals(rowsOf(c4, held.id), ["[1]:1", "[1]:2"]);
    // Off again: nothing held.
    await admin`select webhooks.set_dead_blocks_row(${held.id}, false)`;
    const [f] = await admin`select dead_blocks_row from webhooks.endpoints where id = ${held.id}`;
    assertEquals(f.dead_blocks_row, false);
  },
);

sqlTest(
  "dead_blocks_row: a replay of the dead event requeues it in place (20261205000220); the row goes in order",
  async () => {
    await reset();
    const held = await endpoint("https://held.example/hook");
    await admin`select webhooks.set_dead_blocks_row(${held.id}, true)`;
    const dead = await deadFirst(admin, held.id);
    assertEquals(rowsOf(await claim(), held.id), ["[2]:0"]);
    // Replay: the dead delivery back, same id (the held ones are pending already).
    assertEquals((await admin`select webhooks.replay(${held.id}, now() - interval '1 hour') as n`)[0].n, 1);
    const c = await claim();
    const ids = c.deliveries.filter((d) => d.endpoint_id === held.id).map((d) => d.id);
    assertEquals(rowsOf(c, held.id), ["[1]:0", "[1]:1", "[1]:2"]);
    assertEquals(ids[0], dead);
    const [d] = await admin`select status from webhooks.deliveries where id = ${dead}`;
    assertEquals(d.status, "pending");
  },
);

sqlTest("dead_blocks_row: null is 22023, an unknown endpoint P0002, anon and authenticated 42501", async () => {
  await reset();
  const ep = await endpoint();
  assert((await failed(admin`select webhooks.set_dead_blocks_row(${ep.id}, null)`)).startsWith("22023"));
  assert((await failed(admin`select webhooks.set_dead_blocks_row(gen_random_uuid(), true)`)).startsWith("P0002"));
  for (const role of ["anon", "authenticated"]) {
    const s = await db.session(role);
    await s.begin({ role });
    const r = await failed(s.sql`select webhooks.set_dead_blocks_row(${ep.id}, true)`);
    await s.rollback();
    assert(r.startsWith("42501"), `${role}: ${r}`);
  }
  const [e] = await admin`select dead_blocks_row from webhooks.endpoints where id = ${ep.id}`;
  assertEquals(e.dead_blocks_row, false);
});

sqlTest(
  "dead_blocks_row, two sessions: a dispatcher's uncommitted dead outcome or requeue never lets a held delivery out",
  async () => {
    await reset();
    const held = await endpoint("https://held.example/hook");
    await admin`select webhooks.set_dead_blocks_row(${held.id}, true)`;
    await admin`update webhooks.config set retry_schedule_seconds = '{}'`;
    await admin`insert into public.things (id) values (1)`;
    await admin`update public.things set n = 1 where id = 1`;
    const c = await claim(admin, 100, 1);
    assertEquals(rowsOf(c, held.id), ["[1]:0"]);
    // Its lease runs out while the dispatcher is still reporting: the claim check alone would
    // let the update go once the insert is no longer pending.
    await admin`update webhooks.deliveries set claimed_until = now() - interval '1 second' where id = ${
      c.deliveries[0].id
    }`;
    const a = await db.session("dispatcher A");
    const b = await db.session("dispatcher B");
    try {
      await a.begin(SERVICE);
      await a.sql`select webhooks.record_attempts(${c.claim}::uuid,
        ${a.sql.json([{ id: c.deliveries[0].id, http_status: 500, error: "HTTP 500" }])})`;
      // A holds the dead outcome uncommitted; B claims meanwhile, without waiting: nothing.
      await b.begin(SERVICE);
      assertEquals(rowsOf(await claim(b.sql), held.id), []);
      await b.commit();
      await a.commit();
      // Committed: B's next claims still take nothing of row [1].
      await b.begin(SERVICE);
      assertEquals(rowsOf(await claim(b.sql), held.id), []);
      await b.commit();
      // A requeues, uncommitted: B still sees the dead one and takes nothing.
      await a.begin(SERVICE);
      await a.sql`select webhooks.requeue_dead(${held.id})`;
      await b.begin(SERVICE);
      assertEquals(rowsOf(await claim(b.sql), held.id), []);
      await b.commit();
      await a.commit();
      // After the requeue: the insert first (then the update, in the same claim, in order).
      await b.begin(SERVICE);
      assertEquals(rowsOf(await claim(b.sql), held.id), ["[1]:0", "[1]:1"]);
      await b.commit();
    } catch (e) {
      await a.rollback().catch(() => {});
      await b.rollback().catch(() => {});
      throw e;
    } finally {
      await admin`update webhooks.config set retry_schedule_seconds = default`;
    }
  },
);
