// Database webhooks, held deliveries (dead_blocks_row): webhooks.endpoint_held counts them per
// endpoint (20261205000200_webhooks_endpoint_held.sql), a replay keeps the row's order
// (20261205000220_webhooks_replay_in_order.sql), and webhooks.admin's new actions
// (20261205000210_webhooks_admin_more.sql): set_secret_env, set_dead_blocks_row, subscribe's
// update_columns, list_endpoints with the held counts; refusals change nothing. Then what issue 11
// asks that no other file asserted: endpoint_stats' figures, requeue_dead's time filters, the
// default retry schedule, and secret_overlap, auto_disable_after and retention set to other values.
import { assert, assertEquals } from "../assert.ts";
import { SERVICE, type Sql, sqlTest, testDatabase } from "./_db.ts";
import { deadFirst, dispatcherCalls, fixtures, rowsOf } from "./_webhooks.ts";

const db = await testDatabase("webhooks_held");
const { admin } = db;

await admin.unsafe(`create table public.things (id bigint primary key, name text, n int default 0)`);

const { claim, record } = dispatcherCalls(admin);
const { endpoint, reset } = fixtures(admin);

/** The error code of `q` run as `role` in a transaction rolled back after ("ok": none). */
async function codeAs(role: string, q: (sql: Sql) => Promise<unknown>): Promise<string> {
  const s = await db.session(role);
  await s.begin({ role });
  try {
    return await q(s.sql).then(() => "ok", (e) => e.code);
  } finally {
    await s.rollback();
    await s.sql.end({ timeout: 1 });
  }
}

type Stats = {
  pending: number;
  in_flight: number;
  delivered: number;
  dead: number;
  held: number;
  holding: number;
  oldest: boolean;
};
/** endpoint_stats joined with endpoint_held; `oldest`: oldest_held_at is row [1]'s first delivery after its dead one. */
async function stats(id: string): Promise<Stats> {
  const [s] = await admin`select s.pending::int, s.in_flight::int, s.delivered::int, s.dead::int, h.held::int,
    h.holding::int, h.oldest_held_at is not distinct from (select min(created_at) from webhooks.deliveries
      where endpoint_id = ${id} and status = 'pending' and row_key = '[1]' and id > (
        select min(id) from webhooks.deliveries where endpoint_id = ${id} and status = 'dead')) as oldest
    from webhooks.endpoint_stats s join webhooks.endpoint_held h using (endpoint_id) where endpoint_id = ${id}`;
  return { ...s } as Stats;
}

sqlTest(
  "endpoint_held: held counts the pending deliveries a dead one holds (dead_blocks_row), holding the dead ones; 0 otherwise; endpoint_stats as before",
  async () => {
    await reset();
    const held = await endpoint("https://held.example/hook");
    const free = await endpoint("https://free.example/hook");
    await admin`select webhooks.set_dead_blocks_row(${held.id}, true)`;
    await admin`select webhooks.set_dead_blocks_row(${free.id}, false)`;
    await deadFirst(admin, held.id, true);
    // held: row [1]'s two updates wait behind its dead insert; row [2] was delivered.
    assertEquals(await stats(held.id), {
      pending: 2,
      in_flight: 0,
      delivered: 1,
      dead: 1,
      held: 2,
      holding: 1,
      oldest: true,
    });
    // The free endpoint: its row [1] insert was delivered, the updates are pending and claimable.
    assertEquals(await stats(free.id), {
      pending: 2,
      in_flight: 0,
      delivered: 2,
      dead: 0,
      held: 0,
      holding: 0,
      oldest: true,
    });
    // What the claim does agrees: nothing of held's row [1] goes out; free's updates do.
    const c = await claim();
    assertEquals(rowsOf(c, held.id), []);
    assertEquals(rowsOf(c, free.id), ["[1]:1", "[1]:2"]);
    // in_flight (claimed) is still counted as pending, as before; held stays 2 meanwhile.
    assertEquals(await stats(free.id), {
      pending: 2,
      in_flight: 2,
      delivered: 2,
      dead: 0,
      held: 0,
      holding: 0,
      oldest: true,
    });
    await record(c.claim, c.deliveries.map((d) => ({ id: d.id, http_status: 200 })));
    assertEquals((await stats(held.id)).held, 2);
    // Blocking off: the same deliveries are no longer held (and the claim takes them).
    await admin`select webhooks.set_dead_blocks_row(${held.id}, false)`;
    assertEquals([(await stats(held.id)).held, (await stats(held.id)).holding], [0, 0]);
    await admin`select webhooks.set_dead_blocks_row(${held.id}, true)`;
    // A later dead delivery of another row, with nothing behind it: holding, no more held.
    await admin`insert into public.things (id) values (3)`;
    const c3 = await claim();
    await record(
      c3.claim,
      c3.deliveries.map((d) =>
        d.endpoint_id === held.id && d.row_key === "[3]" ? { id: d.id, http_status: 410 } : { id: d.id, released: true }
      ),
    );
    const s = await stats(held.id);
    assertEquals([s.dead, s.held, s.holding], [2, 2, 2]);
    // Requeued: nothing is held; endpoint_stats keeps the columns it had, in order.
    await admin`select webhooks.enable_endpoint(${held.id})`;
    await admin`select webhooks.requeue_dead(${held.id})`;
    assertEquals([(await stats(held.id)).held, (await stats(held.id)).holding], [0, 0]);
    const cols = await admin`select attname from pg_attribute where attrelid = 'webhooks.endpoint_stats'::regclass
      and attnum > 0 order by attnum`;
    assertEquals(cols.map((c) => c.attname), [
      "endpoint_id",
      "url",
      "enabled",
      "disabled_reason",
      "failing_since",
      "pending",
      "in_flight",
      "delivered",
      "dead",
      "attempts_24h",
      "failures_24h",
      "p50_latency_ms_24h",
      "p99_latency_ms_24h",
      "last_attempt_at",
      "last_success_at",
      "oldest_pending_at",
    ]);
    const heldCols = await admin`select attname from pg_attribute
      where attrelid = 'webhooks.endpoint_held'::regclass and attnum > 0 order by attnum`;
    assertEquals(heldCols.map((c) => c.attname), ["endpoint_id", "held", "oldest_held_at", "holding"]);
    // service_role reads it; anon and authenticated do not.
    for (const role of ["anon", "authenticated"]) {
      assertEquals(await codeAs(role, (sql) => sql`select held from webhooks.endpoint_held`), "42501", role);
    }
    const sv = await db.session("service");
    await sv.begin(SERVICE);
    const [{ n }] = await sv.sql`select count(*)::int as n from webhooks.endpoint_held where held >= 0`;
    await sv.commit();
    await sv.sql.end({ timeout: 1 });
    assertEquals(n, 2);
  },
);

sqlTest(
  "replay on a blocking endpoint requeues the holding dead delivery in place: the row's events go in order",
  async () => {
    await reset();
    const held = await endpoint("https://held.example/hook");
    await admin`select webhooks.set_dead_blocks_row(${held.id}, true)`;
    const dead = await deadFirst(admin, held.id, true);
    assertEquals((await claim()).deliveries.length, 0);
    // The dead one back in place (the held ones are pending already), and row [2]'s delivered
    // insert again as a new delivery: two made pending.
    assertEquals((await admin`select webhooks.replay(${held.id}, now() - interval '1 hour') as n`)[0].n, 2);
    const [d] = await admin`select status, attempts, finished_at from webhooks.deliveries where id = ${dead}`;
    assertEquals([d.status, d.attempts, d.finished_at], ["pending", 0, null]);
    // No second delivery of the dead event; row [1] goes in order: insert, update, update.
    const [{ n }] = await admin`select count(*)::int as n from webhooks.deliveries where endpoint_id = ${held.id}`;
    assertEquals(n, 5);
    const c = await claim();
    assertEquals(rowsOf(c, held.id), ["[1]:0", "[1]:1", "[1]:2", "[2]:0"]);
    assertEquals(c.deliveries[0].id, dead);
    await record(c.claim, c.deliveries.map((x) => ({ id: x.id, http_status: 200 })));
    // A second replay: every event again as new deliveries (nothing dead holds), in event order.
    assertEquals((await admin`select webhooks.replay(${held.id}, now() - interval '1 hour') as n`)[0].n, 4);
    assertEquals(rowsOf(await claim(), held.id), ["[1]:0", "[2]:0", "[1]:1", "[1]:2"]);
  },
);

sqlTest("replay on a non-blocking endpoint: a new delivery of the dead event, as before", async () => {
  await reset();
  const free = await endpoint("https://free.example/hook");
  const dead = await deadFirst(admin, free.id, true);
  // Not blocking: the updates of row [1] went already.
  const c = await claim();
  assertEquals(rowsOf(c, free.id), ["[1]:1", "[1]:2"]);
  await record(c.claim, c.deliveries.map((x) => ({ id: x.id, http_status: 200 })));
  const [{ r }] = await admin`select webhooks.replay(${free.id}, now() - interval '1 hour') as r`;
  assertEquals(r, 4);
  const [d] = await admin`select status from webhooks.deliveries where id = ${dead}`;
  assertEquals(d.status, "dead");
  const [{ n }] = await admin`select count(*)::int as n from webhooks.deliveries where endpoint_id = ${free.id}
    and status = 'pending'`;
  assertEquals(n, 4);
});

/** public.webhooks_admin as service_role: the result, or the error code. */
async function call(action: string, args: unknown): Promise<any> {
  const s = await db.session("service");
  await s.begin(SERVICE);
  try {
    const [r] = await s.sql`select public.webhooks_admin(${action}, ${s.sql.json(args as any)}) as r`;
    await s.commit();
    return r.r.ok ? r.r.result : r.r.error.code;
  } catch (e) {
    await s.rollback();
    throw e;
  } finally {
    await s.sql.end({ timeout: 1 });
  }
}

async function snapshot(sql: Sql = admin) {
  const [r] = await sql`select
    (select jsonb_agg(jsonb_build_object('id', id, 'env', secret_env, 'blocks', dead_blocks_row, 'on', enabled)
       order by id) from webhooks.endpoints) as endpoints,
    (select jsonb_agg(jsonb_build_object('s', secret, 'x', expires_at) order by id) from webhooks.endpoint_secrets) as secrets,
    (select jsonb_agg(jsonb_build_object('t', table_name, 'e', events, 'u', update_columns) order by table_name)
       from webhooks.subscriptions) as subscriptions,
    (select jsonb_agg(tgname::text order by tgname) from pg_trigger
      where tgrelid = 'public.things'::regclass and not tgisinternal) as triggers`;
  return r;
}

sqlTest(
  "webhooks_admin: set_secret_env, set_dead_blocks_row, subscribe's update_columns; refusals are invalid_input/not_found and change nothing",
  async () => {
    await reset();
    const fn = await endpoint("fn:order-events");
    const web = await endpoint("https://x.example/");
    const before = await snapshot();
    for (
      const [action, args, code] of [
        ["set_secret_env", { id: fn.id }, "invalid_input"],
        ["set_secret_env", { id: fn.id, secret_env: 1 }, "invalid_input"],
        ["set_secret_env", { id: fn.id, secret_env: "lower_SECRET" }, "invalid_input"],
        ["set_secret_env", { id: fn.id, secret_env: "SUPABASE_JWT_SECRET" }, "invalid_input"],
        ["set_secret_env", { id: web.id, secret_env: "ORDER_EVENTS_SECRET" }, "invalid_input"],
        ["set_secret_env", { secret_env: "ORDER_EVENTS_SECRET" }, "invalid_input"],
        ["set_secret_env", { id: 7, secret_env: "ORDER_EVENTS_SECRET" }, "invalid_input"],
        ["set_secret_env", { id: crypto.randomUUID(), secret_env: "ORDER_EVENTS_SECRET" }, "not_found"],
        ["set_dead_blocks_row", { id: fn.id }, "invalid_input"],
        ["set_dead_blocks_row", { id: fn.id, dead_blocks_row: "yes" }, "invalid_input"],
        ["set_dead_blocks_row", { id: crypto.randomUUID(), dead_blocks_row: true }, "not_found"],
        ["subscribe", { table: "public.things", update_columns: ["nope"] }, "invalid_input"],
        ["subscribe", { table: "public.things", update_columns: "n" }, "invalid_input"],
        ["subscribe", { table: "public.things", update_columns: [null] }, "invalid_input"],
        ["subscribe", { table: "public.things", events: ["DELETE"], update_columns: ["n"] }, "invalid_input"],
        ["subscribe", { table: "public.nothing_here", update_columns: ["n"] }, "invalid_input"],
      ] as [string, unknown, string][]
    ) {
      assertEquals(await call(action, args), code, `${action} ${JSON.stringify(args)}`);
    }
    assertEquals(await snapshot(), before);
    // The same through webhooks.admin directly: 22023 raised.
    const raised = await admin`select webhooks.admin('set_dead_blocks_row', ${admin.json({ id: fn.id })})`.then(
      () => "ok",
      (e) => e.code,
    );
    assertEquals(raised, "22023");

    assertEquals(await call("set_secret_env", { id: fn.id, secret_env: "ORDER_EVENTS_SECRET" }), {
      id: fn.id,
      secret_env: "ORDER_EVENTS_SECRET",
    });
    assertEquals(await call("rotate_secret", { id: fn.id }), "invalid_input");
    const back = await call("set_secret_env", { id: fn.id, secret_env: null });
    assertEquals([back.id, back.secret_env], [fn.id, null]);
    const [k] = await admin`select secret from webhooks.endpoint_secrets where endpoint_id = ${fn.id}`;
    assertEquals(back.secret, k.secret);
    assertEquals(await call("set_dead_blocks_row", { id: web.id, dead_blocks_row: true }), {
      id: web.id,
      dead_blocks_row: true,
    });
    const listed = await call("list_endpoints", {});
    assertEquals(
      listed.map((e: any) => [e.endpoint_id, e.secret_env, e.dead_blocks_row, e.held, e.holding]).sort(),
      [[fn.id, null, false, 0, 0], [web.id, null, true, 0, 0]].sort(),
    );
    const sub = await call("subscribe", { table: "public.things", events: ["UPDATE"], update_columns: ["n", "name"] });
    assertEquals(sub.update_columns, ["n", "name"]);
    const after = await snapshot();
    assertEquals(after.triggers, ["webhooks_capture_update"]);
    assertEquals(after.subscriptions, [
      { t: "orders", e: ["INSERT", "UPDATE"], u: ["status"] }, // the orders flow's (20261205000100)
      { t: "things", e: ["UPDATE"], u: ["n", "name"] },
    ]);
    // anon and authenticated cannot reach it at all.
    for (const role of ["anon", "authenticated"]) {
      const q = (sql: Sql) =>
        sql`select public.webhooks_admin('set_dead_blocks_row', ${sql.json({ id: web.id, dead_blocks_row: false })})`;
      assertEquals(await codeAs(role, q), "42501", role);
    }
    assert((await snapshot()).endpoints.some((e: any) => e.id === web.id && e.blocks === true));
  },
);

// What issue 11 asks of the readable state and the settings, not asserted elsewhere ----------------

sqlTest(
  "endpoint_stats: deliveries by status, tries and failures in 24 h, p50/p99 latency, last try and success",
  async () => {
    await reset();
    const ep = await endpoint();
    const idle = await endpoint("https://idle.example/", ["things.delete"]);
    await admin`insert into public.things (id) select g from generate_series(1, 4) g`;
    const c = await claim();
    const [d1, d2, d3, d4] = c.deliveries.filter((d) => d.endpoint_id === ep.id).map((d) => d.id);
    await record(c.claim, [
      { id: d1, http_status: 200, latency_ms: 10 },
      { id: d2, http_status: 204, latency_ms: 20 },
      { id: d3, http_status: 500, latency_ms: 30, error: "HTTP 500" },
      { id: d4, latency_ms: 40, error: "request failed: connection refused" },
    ]);
    // d1's try is older than 24 h: out of the 24 h figures, still the endpoint's history.
    await admin`update webhooks.attempts set attempted_at = now() - interval '25 hours' where delivery_id = ${d1}`;
    const [s] = await admin`select s.*, (select max(attempted_at) from webhooks.attempts where delivery_id = ${d2})
        as d2_at, (select min(created_at) from webhooks.deliveries where id in (${d3}, ${d4})) as first_pending
      from webhooks.endpoint_stats s where endpoint_id = ${ep.id}`;
    assertEquals(
      [s.pending, s.in_flight, s.delivered, s.dead, s.attempts_24h, s.failures_24h].map(Number),
      [2, 0, 2, 0, 3, 2],
    );
    assertEquals([s.p50_latency_ms_24h, s.p99_latency_ms_24h], [30, 40]);
    assertEquals([s.last_attempt_at, s.last_success_at], [s.d2_at, s.d2_at]);
    assertEquals(s.oldest_pending_at, s.first_pending);
    assertEquals([s.enabled, s.disabled_reason, s.url], [true, null, "https://example.com/hook"]);
    assert(s.failing_since !== null);
    const [i] = await admin`select * from webhooks.endpoint_stats where endpoint_id = ${idle.id}`;
    assertEquals(
      [i.pending, i.delivered, i.dead, i.attempts_24h, i.failures_24h].map(Number).concat([
        i.p50_latency_ms_24h,
        i.last_attempt_at,
        i.last_success_at,
        i.oldest_pending_at,
      ]),
      [0, 0, 0, 0, 0, null, null, null, null],
    );
  },
);

sqlTest(
  "requeue_dead by filter: endpoint, event time range (since inclusive, until exclusive), event types",
  async () => {
    await reset();
    const ep = await endpoint();
    const other = await endpoint("https://other.example/");
    await admin`insert into public.things (id) values (1), (2), (3)`;
    await admin`update public.things set n = 1 where id = 3`;
    // Events 3 h, 2 h, 1 h ago (inserts) and now (the update); every delivery dead.
    await admin`update webhooks.events v set created_at = now() - make_interval(hours => 4 - (v.payload -> 'record' ->> 'id')::int)
    where v.event_type = 'things.insert'`;
    await admin`update webhooks.deliveries set status = 'dead', finished_at = now(), attempts = 8`;
    const requeue = async (q: Promise<any>) => Number((await q)[0].n);
    const pendingOf = async (id: string) =>
      (await admin`select v.row_key, v.event_type from webhooks.deliveries d join webhooks.events v on v.id = d.event_id
      where d.endpoint_id = ${id} and d.status = 'pending' order by d.id`).map((r) => `${r.event_type}${r.row_key}`);
    // The 2 h event only (since 2.5 h ago, until 1.5 h ago), on both endpoints.
    assertEquals(
      await requeue(
        admin`select webhooks.requeue_dead(since => now() - interval '150 minutes', until => now() - interval '90 minutes') as n`,
      ),
      2,
    );
    // since is inclusive, until exclusive: an event exactly at `until` is left out.
    const [{ at }] = await admin`select created_at as at from webhooks.events where row_key = '[1]'`;
    assertEquals(await requeue(admin`select webhooks.requeue_dead(${ep.id}, null, ${at}) as n`), 0);
    assertEquals(await requeue(admin`select webhooks.requeue_dead(${ep.id}, ${at}, null, '{things.insert}') as n`), 2);
    assertEquals(await pendingOf(ep.id), ["things.insert[1]", "things.insert[2]", "things.insert[3]"]);
    assertEquals(await pendingOf(other.id), ["things.insert[2]"]);
    assertEquals(await requeue(admin`select webhooks.requeue_dead(event_types => '{things.update}') as n`), 2);
    // No filter: what is left (the other endpoint's inserts of rows 1 and 3); then nothing; bad filters refused.
    assertEquals(await requeue(admin`select webhooks.requeue_dead() as n`), 2);
    assertEquals(await requeue(admin`select webhooks.requeue_dead() as n`), 0);
    const bad = (q: Promise<unknown>) => q.then(() => "ok", (e) => e.code);
    assertEquals(await bad(admin`select webhooks.requeue_dead(gen_random_uuid())`), "P0002");
    assertEquals(await bad(admin`select webhooks.requeue_dead(event_types => '{things}')`), "22023");
  },
);

sqlTest(
  "settings: the default retry schedule is Standard Webhooks'; secret_overlap (24 h), auto_disable_after and retention take other values",
  async () => {
    await reset();
    const [cfg] = await admin`select retry_schedule_seconds, secret_overlap::text, auto_disable_after::text,
      delivery_retention::text, attempt_retention::text from webhooks.config`;
    assertEquals(
      [
        cfg.retry_schedule_seconds,
        cfg.secret_overlap,
        cfg.auto_disable_after,
        cfg.delivery_retention,
        cfg.attempt_retention,
      ],
      [[5, 300, 1800, 7200, 18000, 36000, 36000], "24:00:00", "5 days", "30 days", "30 days"],
    );
    // rotate_secret: the old secret expires 24 h later; with secret_overlap 1 hour, 1 hour later
    // (and a secret still in an earlier overlap is cut to it).
    const ep = await endpoint();
    const expiresIn = async () =>
      (await admin`select extract(epoch from expires_at - now())::int as s from webhooks.endpoint_secrets
        where endpoint_id = ${ep.id} and expires_at is not null order by id`).map((r) => r.s);
    await admin`select webhooks.rotate_secret(${ep.id})`;
    assertEquals(await expiresIn(), [86400]);
    await admin`update webhooks.config set secret_overlap = '1 hour'`;
    await admin`select webhooks.rotate_secret(${ep.id})`;
    assertEquals(await expiresIn(), [3600, 3600]);
    // auto_disable_after 1 hour: failing for 59 minutes is not enough, 61 minutes is.
    await admin`update webhooks.config set auto_disable_after = '1 hour'`;
    await admin`insert into public.things (id) values (1), (2)`;
    for (const [minutes, enabled] of [[59, true], [61, false]] as [number, boolean][]) {
      await admin`update webhooks.endpoints set failing_since = now() - make_interval(mins => ${minutes})
        where id = ${ep.id}`;
      const c = await claim(admin, 1);
      await record(c.claim, [{ id: c.deliveries[0].id, http_status: 500, error: "HTTP 500" }]);
      const [e] = await admin`select enabled from webhooks.endpoints where id = ${ep.id}`;
      assertEquals(e.enabled, enabled, `${minutes} minutes`);
    }
    // Retention: 2 days for deliveries and attempts; 3 days old goes, 1 day old stays.
    await admin`update webhooks.config set delivery_retention = '2 days', attempt_retention = '2 days'`;
    await admin`update webhooks.deliveries set status = 'delivered', finished_at = now() - case when id % 2 = 0
      then interval '3 days' else interval '1 day' end`;
    await admin`update webhooks.attempts set attempted_at = now() - interval '3 days'`;
    const [{ p }] = await admin`select webhooks.purge() as p`;
    assertEquals([p.deliveries, p.attempts], [1, 2]);
    const [{ n }] = await admin`select count(*)::int as n from webhooks.deliveries`;
    assertEquals(n, 1);
  },
);
