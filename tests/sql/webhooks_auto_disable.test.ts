// Automatic disabling per endpoint (20261205000110_webhooks_auto_disable_per_endpoint.sql):
// webhooks.endpoints.auto_disable off keeps an endpoint that has only failed for longer than
// config.auto_disable_after enabled (its deliveries retried, then dead and requeueable; new
// events still get deliveries), and keeps a fn: endpoint enabled on 410 Gone (an external one
// is still disabled); on (the default) everything is as before. fn:order-events has it off.
// webhooks.set_auto_disable: service_role only, bad input refused with nothing changed.
import { assert, assertEquals } from "../assert.ts";
import { fixtures as dbFixtures, type Sql, sqlTest, testDatabase } from "./_db.ts";
import { dispatcherCalls, fixtures, orderEventsEndpoint } from "./_webhooks.ts";

const db = await testDatabase("webhooks_auto_disable");
const { admin } = db;

await admin.unsafe(`create table public.things (id bigint primary key, name text, n int default 0)`);

const { claim, record } = dispatcherCalls(admin);
const { endpoint, reset } = fixtures(admin);

/** `q` in one transaction as `role` on a fresh session: "ok" or the SQLSTATE. */
async function as(role: string, q: (sql: Sql) => Promise<unknown>): Promise<string> {
  const s = await db.session(role);
  await s.begin({ role, sub: crypto.randomUUID() });
  try {
    await q(s.sql);
    await s.commit();
    return "ok";
  } catch (e) {
    await s.rollback();
    return String((e as { code?: string }).code ?? e);
  } finally {
    await s.sql.end({ timeout: 1 });
  }
}

const setAutoDisable = (id: string | null, on: boolean | null) => (sql: Sql) =>
  sql`select webhooks.set_auto_disable(${id}::uuid, ${on}::boolean)`;

/** The dispatcher's report through the HTTP entry point (public.webhooks_record) as service_role. */
async function recordAsService(token: string, results: unknown[]): Promise<Record<string, any>> {
  let out: Record<string, any> = {};
  const code = await as("service_role", async (sql) => {
    const [r] = await sql`select public.webhooks_record(${token}::uuid, ${sql.json(results as any)}) as r`;
    out = r.r;
  });
  assertEquals(code, "ok");
  return out;
}

async function endpointRow(id: string) {
  const [e] = await admin`select enabled, disabled_reason, disabled_at, failing_since, auto_disable
    from webhooks.endpoints where id = ${id}`;
  return { ...e };
}

/** Every given endpoint has failed since 5 days and a minute ago; every pending delivery is due. */
async function failedForTooLong(ids: string[]) {
  await admin`update webhooks.endpoints set failing_since = now() - interval '5 days 1 minute' where id = any (${ids}::uuid[])`;
  await admin`update webhooks.deliveries set next_attempt_at = now() where status = 'pending'`;
}

async function deliveriesTo(id: string) {
  return await admin`select d.status, v.row_key from webhooks.deliveries d join webhooks.events v on v.id = d.event_id
    where d.endpoint_id = ${id} order by d.id`;
}

// First: the other tests' reset() deletes every endpoint, fn:order-events included.
sqlTest(
  "fn:order-events has auto_disable off after the migrations: an outage past auto_disable_after leaves it enabled, new orders get deliveries",
  async () => {
    const ep = await orderEventsEndpoint(admin);
    assertEquals((await endpointRow(ep)).auto_disable, false);
    const user = await dbFixtures(admin).user();
    const order = async () =>
      Number((await admin`insert into public.orders (user_id, currency) values (${user}, 'USD') returning id`)[0].id);
    const first = await order();
    const fail = async () => {
      const c = await claim();
      const mine = c.deliveries.filter((d) => d.endpoint_id === ep);
      assertEquals(mine.length, 1);
      return await recordAsService(c.claim, [
        ...mine.map((d) => ({ id: d.id, http_status: 503, error: "HTTP 503" })),
        ...c.deliveries.filter((d) => d.endpoint_id !== ep).map((d) => ({ id: d.id, released: true })),
      ]);
    };
    assertEquals((await fail()).retried, 1);
    await failedForTooLong([ep]);
    const out = await fail();
    assertEquals([out.retried, out.disabled], [1, []]);
    const row = await endpointRow(ep);
    assertEquals([row.enabled, row.disabled_reason, row.disabled_at], [true, null, null]);
    assert(row.failing_since < new Date(Date.now() - 5 * 86400_000), String(row.failing_since));
    const second = await order();
    assertEquals((await deliveriesTo(ep)).map((d) => ({ ...d })), [
      { status: "pending", row_key: JSON.stringify([first]) },
      { status: "pending", row_key: JSON.stringify([second]) },
    ]);
  },
);

sqlTest(
  "failing past auto_disable_after: auto_disable off stays enabled (dead, requeueable, new events delivered); on (default) is disabled",
  async () => {
    await reset();
    await admin`update webhooks.config set retry_schedule_seconds = '{5}'`; // two tries
    const on = await endpoint("https://on.example/hook");
    const off = await endpoint("https://off.example/hook");
    const fnOff = await endpoint("fn:things-sink");
    assertEquals((await endpointRow(on.id)).auto_disable, true);
    for (const id of [off.id, fnOff.id]) assertEquals(await as("service_role", setAutoDisable(id, false)), "ok");
    await admin`insert into public.things (id) values (1)`;
    let c = await claim();
    assertEquals(c.deliveries.length, 3);
    let out = await recordAsService(c.claim, c.deliveries.map((d) => ({ id: d.id, http_status: 500 })));
    assertEquals([out.retried, out.disabled], [3, []]);
    await failedForTooLong([on.id, off.id, fnOff.id]);
    c = await claim();
    assertEquals(c.deliveries.length, 3);
    out = await recordAsService(c.claim, c.deliveries.map((d) => ({ id: d.id, error: "connection refused" })));
    assertEquals([out.dead, out.disabled], [3, [on.id]]);
    const disabled = await endpointRow(on.id);
    assertEquals(disabled.enabled, false);
    assert(String(disabled.disabled_reason).startsWith("every try failed since "), disabled.disabled_reason);
    for (const id of [off.id, fnOff.id]) {
      const row = await endpointRow(id);
      assertEquals([row.enabled, row.disabled_reason, row.disabled_at, row.auto_disable], [true, null, null, false]);
      assert(row.failing_since < new Date(Date.now() - 5 * 86400_000), String(row.failing_since));
    }
    // A new event: deliveries to the two that stayed enabled only; a further failure changes nothing.
    await admin`insert into public.things (id) values (2)`;
    assertEquals((await deliveriesTo(on.id)).map((d) => d.status), ["dead"]);
    for (const id of [off.id, fnOff.id]) {
      assertEquals((await deliveriesTo(id)).map((d) => [d.status, d.row_key]), [["dead", "[1]"], ["pending", "[2]"]]);
    }
    c = await claim();
    assertEquals(c.deliveries.map((d) => d.endpoint_id).sort(), [off.id, fnOff.id].sort());
    out = await record(c.claim, c.deliveries.map((d) => ({ id: d.id, http_status: 502 })));
    assertEquals([out.retried, out.disabled], [2, []]);
    assertEquals((await endpointRow(off.id)).enabled, true);
    // The dead ones wait to be requeued, as the orders outbox's did.
    const [{ n }] = await admin`select webhooks.requeue_dead(${off.id}::uuid) as n`;
    assertEquals(n, 1);
    assertEquals((await deliveriesTo(off.id)).map((d) => d.status), ["pending", "pending"]);
  },
);

sqlTest(
  "410 Gone: an http(s) endpoint is disabled whatever auto_disable says; a fn: endpoint with it off stays enabled, its delivery dead",
  async () => {
    await reset();
    const extOff = await endpoint("https://gone.example/hook");
    const fnOff = await endpoint("fn:things-sink");
    const fnOn = await endpoint("fn:other-sink");
    for (const id of [extOff.id, fnOff.id]) assertEquals(await as("service_role", setAutoDisable(id, false)), "ok");
    await admin`insert into public.things (id) values (1)`;
    const c = await claim();
    assertEquals(c.deliveries.length, 3);
    const out = await recordAsService(c.claim, c.deliveries.map((d) => ({ id: d.id, http_status: 410 })));
    assertEquals(out.dead, 3);
    assertEquals([...out.disabled].sort(), [extOff.id, fnOn.id].sort());
    for (const id of [extOff.id, fnOn.id]) {
      assertEquals(await endpointRow(id).then((r) => [r.enabled, r.disabled_reason]), [
        false,
        "the endpoint answered 410 Gone",
      ]);
    }
    assertEquals(await endpointRow(fnOff.id).then((r) => [r.enabled, r.disabled_reason]), [true, null]);
    await admin`insert into public.things (id) values (2)`;
    assertEquals((await deliveriesTo(fnOff.id)).map((d) => [d.status, d.row_key]), [["dead", "[1]"], [
      "pending",
      "[2]",
    ]]);
    assertEquals((await deliveriesTo(extOff.id)).length, 1);
    assertEquals((await deliveriesTo(fnOn.id)).length, 1);
  },
);

sqlTest(
  "auto_disable off does not stop an operator's disable_endpoint; switched back on, the next failure past the period disables",
  async () => {
    await reset();
    const ep = await endpoint();
    assertEquals(await as("service_role", setAutoDisable(ep.id, false)), "ok");
    /** webhooks.disable_endpoint(id, reason) as service_role: the endpoint's enabled and reason after. */
    const disable = async (id: string, reason: string) => {
      const code = await as("service_role", (sql) => sql`select webhooks.disable_endpoint(${id}::uuid, ${reason})`);
      assertEquals(code, "ok");
      return await endpointRow(id).then((r) => [r.enabled, r.disabled_reason]);
    };
    // Reasons like record_attempts' own, but not written for a failing period or a 410: disabled.
    assertEquals(await disable(ep.id, "every try failed since then"), [false, "every try failed since then"]);
    const fn = await endpoint("fn:things-sink");
    assertEquals(await as("service_role", setAutoDisable(fn.id, false)), "ok");
    assertEquals(await disable(fn.id, "the endpoint answered 410 Gone"), [false, "the endpoint answered 410 Gone"]);
    await admin`select webhooks.delete_endpoint(${fn.id})`;
    await admin`select webhooks.enable_endpoint(${ep.id})`;
    assertEquals(await as("service_role", setAutoDisable(ep.id, true)), "ok");
    assertEquals((await endpointRow(ep.id)).auto_disable, true);
    await admin`insert into public.things (id) values (1)`;
    let c = await claim();
    await record(c.claim, c.deliveries.map((d) => ({ id: d.id, http_status: 500 })));
    await failedForTooLong([ep.id]);
    c = await claim();
    const out = await record(c.claim, c.deliveries.map((d) => ({ id: d.id, http_status: 500 })));
    assertEquals(out.disabled, [ep.id]);
    assertEquals((await endpointRow(ep.id)).enabled, false);
  },
);

sqlTest(
  "set_auto_disable: unknown or null id P0002, null flag 22023, anon and authenticated 42501, nothing changed; idempotent",
  async () => {
    await reset();
    const ep = await endpoint();
    const state = async () =>
      (await admin`select auto_disable, updated_at from webhooks.endpoints where id = ${ep.id}`).map((r) => ({ ...r }));
    const before = await state();
    assertEquals(before[0].auto_disable, true);
    assertEquals(await as("service_role", setAutoDisable(crypto.randomUUID(), false)), "P0002");
    assertEquals(await as("service_role", setAutoDisable(null, false)), "P0002");
    assertEquals(await as("service_role", setAutoDisable(ep.id, null)), "22023");
    for (const role of ["anon", "authenticated"]) {
      assertEquals(await as(role, setAutoDisable(ep.id, false)), "42501", role);
      assertEquals(
        await as(role, (sql) => sql`select private.webhooks_may_auto_disable(null::webhooks.endpoints, '')`),
        "42501",
        role,
      );
    }
    assertEquals(await state(), before);
    assertEquals(await as("service_role", setAutoDisable(ep.id, false)), "ok");
    const after = await state();
    assertEquals(after[0].auto_disable, false);
    assertEquals(await as("service_role", setAutoDisable(ep.id, false)), "ok");
    assertEquals(await state(), after);
  },
);

sqlTest(
  "the migration again: a fn:order-events endpoint made since gets auto_disable off (a disabled one stays disabled); a third run changes nothing",
  async () => {
    await reset(); // no fn:order-events endpoint left
    const [made] = await admin`select * from webhooks.create_endpoint('fn:order-events')`;
    await admin`select webhooks.disable_endpoint(${made.id}, 'by hand')`;
    const other = await endpoint("fn:things-sink");
    const state = async () =>
      (await admin`select
        (select count(*) from pg_trigger where tgrelid = 'webhooks.endpoints'::regclass
          and tgname = 'webhooks_keep_enabled')::int as triggers,
        (select jsonb_agg(jsonb_build_array(e.url, e.enabled, e.disabled_reason, e.auto_disable) order by e.url)
           from webhooks.endpoints e) as endpoints`)[0];
    assertEquals((await state()).endpoints, [
      ["fn:order-events", false, "by hand", true],
      ["fn:things-sink", true, null, true],
    ]);
    await db.migrate("20261205000110");
    const first = { ...(await state()) };
    assertEquals(first.triggers, 1);
    assertEquals(first.endpoints, [
      ["fn:order-events", false, "by hand", false],
      ["fn:things-sink", true, null, true],
    ]);
    assertEquals((await endpointRow(other.id)).auto_disable, true);
    await db.migrate("20261205000110");
    assertEquals({ ...(await state()) }, first);
  },
);
