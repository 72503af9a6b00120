// Database webhooks (20261204002000_webhooks.sql): capture in the writing transaction, fan-out
// and filters, endpoints and secrets, the claim rules (order per endpoint and row, two
// dispatchers racing), the outcome rules (retry schedule, Retry-After, 410, dead, auto-disable),
// replay, requeue, retention, and who may call what.
import { assert, assertEquals } from "../assert.ts";
import { codeOf, SERVICE, type Sql, sqlTest, testDatabase } from "./_db.ts";

const db = await testDatabase("webhooks");
const { admin } = db;

await admin.unsafe(`create table public.things (id bigint primary key, name text, n int default 0)`);
await admin.unsafe(`create table public.nokey (name text)`);
await admin.unsafe(`create view public.things_view as select * from public.things`);

type Delivery = {
  id: number;
  webhook_id: string;
  endpoint_id: string;
  url: string;
  secrets: string[];
  payload: Record<string, unknown>;
  event_type: string;
  attempt: number;
  row_key: string | null;
};
type Claim = { claim: string; deliveries: Delivery[]; next_due_ms: number | null };

/** Run `fn` as service_role in one transaction on a fresh session. */
async function asService<T>(fn: (sql: Sql) => Promise<T>): Promise<T> {
  const s = await db.session("service");
  await s.begin(SERVICE);
  try {
    const out = await fn(s.sql);
    await s.commit();
    return out;
  } catch (e) {
    await s.rollback();
    throw e;
  } finally {
    await s.sql.end({ timeout: 1 });
  }
}

async function claim(sql: Sql = admin, batch = 100, maxPerRow = 4): Promise<Claim> {
  const [r] = await sql`select webhooks.claim_deliveries(${batch}, ${maxPerRow}) as r`;
  const c = r.r as Claim;
  c.deliveries.forEach((d) => (d.id = Number(d.id)));
  return c;
}

async function record(token: string, results: unknown[]): Promise<Record<string, any>> {
  const [r] = await admin`select webhooks.record_attempts(${token}::uuid, ${admin.json(results as any)}) as r`;
  return r.r;
}

async function endpoint(url = "https://example.com/hook", types: string[] | null = null) {
  const [r] = await admin`select * from webhooks.create_endpoint(${url}, ${types}::text[])`;
  return { id: r.id as string, secret: r.secret as string };
}

async function reset() {
  await admin`select webhooks.unsubscribe('public.things')`;
  await admin`delete from public.things`;
  await admin`delete from webhooks.endpoints`;
  await admin`delete from webhooks.events`;
  await admin`update webhooks.config set retry_schedule_seconds = default, max_retry_after_seconds = default,
    auto_disable_after = default, secret_overlap = default`;
  await admin`select webhooks.subscribe('public.things')`;
}

async function delivery(id: number) {
  const [d] = await admin`select status, attempts, last_status, last_error,
    extract(epoch from next_attempt_at - now())::float8 as due_in_s, claim_token from webhooks.deliveries where id = ${id}`;
  return d;
}

async function endpointRow(id: string) {
  const [e] = await admin`select enabled, disabled_reason, failing_since from webhooks.endpoints where id = ${id}`;
  return e;
}

sqlTest(
  "capture: one event per changed row in the writing transaction, Supabase's payload, nothing on rollback",
  async () => {
    await reset();
    const ep = await endpoint();
    await admin.begin(async (tx) => {
      await tx`insert into public.things (id, name) values (1, 'a'), (2, 'b')`;
      await tx`update public.things set name = 'c' where id = 1`;
      await tx`delete from public.things where id = 2`;
    });
    await admin.begin(async (tx) => {
      await tx`insert into public.things (id, name) values (3, 'gone')`;
      throw new Error("abort");
    }).catch(() => {});
    const events = await admin`select event_type, row_key, payload from webhooks.events order by id`;
    assertEquals(events.map((e) => e.event_type), ["things.insert", "things.insert", "things.update", "things.delete"]);
    assertEquals(events.map((e) => e.row_key), ["[1]", "[2]", "[1]", "[2]"]);
    assertEquals(events[2].payload, {
      type: "UPDATE",
      table: "things",
      schema: "public",
      record: { id: 1, name: "c", n: 0 },
      old_record: { id: 1, name: "a", n: 0 },
    });
    assertEquals(events[0].payload.old_record, null);
    assertEquals(events[3].payload.record, null);
    const [{ n }] = await admin`select count(*)::int as n from webhooks.deliveries where endpoint_id = ${ep.id}`;
    assertEquals(n, 4);
  },
);

sqlTest("subscribe: idempotent, operations chosen, bad input refused with 22023 and nothing changed", async () => {
  await reset();
  const [s] = await admin`select webhooks.subscribe('public.things', '{insert}') as s`;
  assertEquals(s.s, { schema: "public", table: "things", events: ["INSERT"], key_columns: ["id"] });
  const [t] = await admin`select count(*)::int as n from pg_trigger where tgrelid = 'public.things'::regclass
    and tgname = 'webhooks_capture'`;
  assertEquals(t.n, 1);
  await admin`insert into public.things (id) values (10)`;
  await admin`update public.things set n = 1 where id = 10`;
  assertEquals((await admin`select event_type from webhooks.events`).map((e) => e.event_type), ["things.insert"]);
  for (
    const q of [
      admin`select webhooks.subscribe('public.things', '{}')`,
      admin`select webhooks.subscribe('public.things', '{TRUNCATE}')`,
      admin`select webhooks.subscribe('public.things_view')`,
      admin`select webhooks.subscribe('webhooks.events')`,
    ]
  ) {
    assertEquals(
      codeOf(await q.then((v) => ({ ok: true as const, value: v }), (error) => ({ ok: false as const, error }))),
      "22023",
    );
  }
  const [sub] = await admin`select events from webhooks.subscriptions where table_name = 'things'`;
  assertEquals(sub.events, ["INSERT"]);
  // A table without a primary key: events have no row key (no ordering constraint).
  await admin`select webhooks.subscribe('public.nokey')`;
  await admin`insert into public.nokey values ('x')`;
  const [e] = await admin`select row_key from webhooks.events where table_name = 'nokey'`;
  assertEquals(e.row_key, null);
  const [u] = await admin`select webhooks.unsubscribe('public.nokey') as u`;
  assertEquals(u.u, true);
  await admin`insert into public.nokey values ('y')`;
  const [c] = await admin`select count(*)::int as n from webhooks.events where table_name = 'nokey'`;
  assertEquals(c.n, 1);
});

sqlTest("fan-out: one delivery per event and matching enabled endpoint, filters by event type", async () => {
  await reset();
  const all = await endpoint("https://a.example/hook");
  const inserts = await endpoint("http://b.example:8080/x?y=1", ["things.insert"]);
  const off = await endpoint("fn:order-events");
  await admin`select webhooks.disable_endpoint(${off.id})`;
  await admin`insert into public.things (id) values (1), (2)`;
  await admin`update public.things set n = 5`;
  const rows = await admin`select endpoint_id, count(*)::int as n from webhooks.deliveries group by 1`;
  const count = (id: string) => rows.find((r) => r.endpoint_id === id)?.n ?? 0;
  assertEquals([count(all.id), count(inserts.id), count(off.id)], [4, 2, 0]);
});

sqlTest(
  "create_endpoint: a whsec_ secret of 32 random bytes; bad url or event types are 22023 and write nothing",
  async () => {
    await reset();
    const ep = await endpoint();
    assert(/^whsec_[A-Za-z0-9+/]{43}=$/.test(ep.secret), ep.secret);
    for (
      const [url, types] of [
        ["ftp://example.com", null],
        ["https://user:pw@example.com/", null],
        ["https://example.com/a b", null],
        ["fn:../etc", null],
        ["javascript:alert(1)", null],
        [null, null],
        ["https://example.com/", ["things"]],
        ["https://example.com/", []],
      ] as [string | null, string[] | null][]
    ) {
      const r = await admin`select * from webhooks.create_endpoint(${url}, ${types}::text[])`.then(
        (value) => ({ ok: true as const, value }),
        (error) => ({ ok: false as const, error }),
      );
      assertEquals(codeOf(r), "22023", `${url} ${types}`);
    }
    const [{ n }] = await admin`select count(*)::int as n from webhooks.endpoints`;
    assertEquals(n, 1);
    const r = await admin`select webhooks.rotate_secret(${crypto.randomUUID()})`.then(() => "ok", (e) => e.code);
    assertEquals(r, "P0002");
  },
);

sqlTest("rotate_secret: both secrets sign for the overlap, newest first; then only the new one", async () => {
  await reset();
  const ep = await endpoint();
  const [{ s }] = await admin`select webhooks.rotate_secret(${ep.id}) as s`;
  assert(s !== ep.secret);
  await admin`insert into public.things (id) values (1)`;
  const c = await claim();
  assertEquals(c.deliveries[0].secrets, [s, ep.secret]);
  await record(c.claim, [{ id: c.deliveries[0].id, http_status: 200 }]);
  await admin`update webhooks.endpoint_secrets set expires_at = now() - interval '1 second' where secret = ${ep.secret}`;
  await admin`insert into public.things (id) values (2)`;
  const c2 = await claim();
  assertEquals(c2.deliveries[0].secrets, [s]);
});

sqlTest("claim: a row's events go out in order per endpoint, other rows and endpoints are not held up", async () => {
  await reset();
  const a = await endpoint("https://a.example/");
  await endpoint("https://b.example/");
  await admin`insert into public.things (id) values (1), (2)`;
  await admin`update public.things set n = n + 1 where id = 1`;
  await admin`update public.things set n = n + 1 where id = 1`;
  // One per row and endpoint per claim.
  const c1 = await claim(admin, 100, 1);
  const keyOf = (d: Delivery) => `${d.endpoint_id === a.id ? "a" : "b"}${d.row_key}`;
  assertEquals(c1.deliveries.map(keyOf).sort(), ["a[1]", "a[2]", "b[1]", "b[2]"]);
  const first = c1.deliveries.filter((d) => d.row_key === "[1]");
  // Nothing more of row 1 while its first events are claimed.
  const c2 = await claim();
  assertEquals(c2.deliveries.length, 0);
  // Endpoint a fails on row 1: b's row 1 moves on, a's stays behind its failed event.
  await record(c1.claim, [
    ...first.map((d) => ({ id: d.id, http_status: d.endpoint_id === a.id ? 500 : 200 })),
    ...c1.deliveries.filter((d) => d.row_key === "[2]").map((d) => ({ id: d.id, http_status: 200 })),
  ]);
  const c3 = await claim();
  assertEquals(c3.deliveries.map(keyOf), ["b[1]", "b[1]"]);
  assertEquals(c3.deliveries.map((d) => d.payload.type), ["UPDATE", "UPDATE"]);
  // The webhook-id is the event's, the same for both endpoints.
  const [ev] = await admin`select message_id from webhooks.events order by id limit 1`;
  assert(c1.deliveries.filter((d) => d.webhook_id === ev.message_id).length === 2);
});

sqlTest("two dispatchers racing: disjoint claims, never two events of one row and endpoint at once", async () => {
  await reset();
  await endpoint();
  await admin`insert into public.things (id) select g from generate_series(1, 6) g`;
  await admin`update public.things set n = 1 where id <= 3`;
  const s1 = await db.session("dispatcher 1");
  const s2 = await db.session("dispatcher 2");
  await s1.begin(SERVICE);
  await s2.begin(SERVICE);
  let c1: Claim;
  try {
    // Dispatcher 1 holds the first three deliveries (rows 1..3's inserts), uncommitted.
    c1 = await claim(s1.sql, 3);
    assertEquals(c1.deliveries.map((d) => d.row_key), ["[1]", "[2]", "[3]"]);
    // Dispatcher 2 does not wait (SKIP LOCKED), takes rows 4..6 and not the updates of rows 1..3,
    // whose inserts dispatcher 1 holds.
    const p = s2.start(claim(s2.sql));
    const r = await p.result;
    assert(r.ok);
    assertEquals(r.value.deliveries.map((d) => d.row_key), ["[4]", "[5]", "[6]"]);
    await s1.commit();
    await s2.commit();
  } catch (e) {
    // Leave no session in a transaction: the next test's reset would wait on its locks.
    await s1.rollback().catch(() => {});
    await s2.rollback().catch(() => {});
    throw e;
  }
  // After both commit: the updates still wait behind the claimed inserts.
  assertEquals((await claim()).deliveries.length, 0);
  await record(c1.claim, c1.deliveries.map((d) => ({ id: d.id, http_status: 204 })));
  assertEquals((await claim()).deliveries.map((d) => d.payload.type), ["UPDATE", "UPDATE", "UPDATE"]);
});

sqlTest(
  "outcomes: schedule, Retry-After (capped), last try dead, released gives the try back, stale claim ignored",
  async () => {
    await reset();
    await admin`update webhooks.config set retry_schedule_seconds = '{5,300}', max_retry_after_seconds = 600`;
    const ep = await endpoint();
    await admin`insert into public.things (id) values (1), (2), (3), (4)`;
    const c = await claim();
    const [d1, d2, d3, d4] = c.deliveries.map((d) => d.id);
    const out = await record(c.claim, [
      { id: d1, http_status: 500, latency_ms: 12, response: "x".repeat(5000), error: "HTTP 500" },
      { id: d2, http_status: 429, retry_after_seconds: 120, error: "HTTP 429" },
      { id: d3, http_status: 503, retry_after_seconds: 99999, error: "HTTP 503" },
      { id: d4, released: true },
    ]);
    assertEquals([out.updated, out.retried, out.delivered, out.dead], [4, 3, 0, 0]);
    const [a1, a2, a3, a4] = await Promise.all([d1, d2, d3, d4].map(delivery));
    assert(a1.due_in_s > 3 && a1.due_in_s <= 5, `${a1.due_in_s}`);
    assert(a2.due_in_s > 118 && a2.due_in_s <= 120, `${a2.due_in_s}`);
    assert(a3.due_in_s > 598 && a3.due_in_s <= 600, `${a3.due_in_s}`);
    assertEquals([a4.attempts, a4.status, a4.claim_token], [0, "pending", null]);
    const [att] = await admin`select attempt, http_status, latency_ms, length(response)::int as len, error
    from webhooks.attempts where delivery_id = ${d1}`;
    assertEquals({ ...att }, { attempt: 1, http_status: 500, latency_ms: 12, len: 1024, error: "HTTP 500" });
    assertEquals((await admin`select count(*)::int as n from webhooks.attempts where delivery_id = ${d4}`)[0].n, 0);
    // The same claim again: nothing is under it any more.
    assertEquals((await record(c.claim, [{ id: d1, http_status: 200 }])).updated, 0);
    assertEquals((await delivery(d1)).status, "pending");
    // Tries 2 and 3 fail: dead after the third (1 + two retries).
    for (const expected of ["pending", "dead"]) {
      await admin`update webhooks.deliveries set next_attempt_at = now() where id = ${d1}`;
      const ci = await claim();
      const mine = ci.deliveries.find((d) => d.id === d1)!;
      await record(ci.claim, [
        { id: mine.id, http_status: 502, error: "HTTP 502" },
        ...ci.deliveries.filter((d) => d.id !== d1).map((d) => ({ id: d.id, released: true })),
      ]);
      assertEquals((await delivery(d1)).status, expected);
    }
    assertEquals((await delivery(d1)).attempts, 3);
    assert((await endpointRow(ep.id)).failing_since !== null);
  },
);

sqlTest("410 Gone disables the endpoint: its other deliveries are not claimed; enable brings them back", async () => {
  await reset();
  const ep = await endpoint();
  const other = await endpoint("https://other.example/");
  await admin`insert into public.things (id) values (1), (2)`;
  const c = await claim();
  const gone = c.deliveries.find((d) => d.endpoint_id === ep.id)!;
  const out = await record(c.claim, [
    { id: gone.id, http_status: 410, error: "HTTP 410" },
    ...c.deliveries.filter((d) => d.id !== gone.id).map((d) => ({ id: d.id, released: true })),
  ]);
  assertEquals(out.disabled, [ep.id]);
  assertEquals({ ...(await endpointRow(ep.id)), failing_since: null }, {
    enabled: false,
    disabled_reason: "the endpoint answered 410 Gone",
    failing_since: null,
  });
  assertEquals((await delivery(gone.id)).status, "dead");
  const c2 = await claim();
  assert(c2.deliveries.every((d) => d.endpoint_id === other.id));
  assertEquals(c2.deliveries.length, 2);
  // New events skip the disabled endpoint.
  await admin`insert into public.things (id) values (3)`;
  const [{ n }] = await admin`select count(*)::int as n from webhooks.deliveries where endpoint_id = ${ep.id}`;
  assertEquals(n, 2);
  await admin`select webhooks.enable_endpoint(${ep.id})`;
  const c3 = await claim();
  assertEquals(c3.deliveries.filter((d) => d.endpoint_id === ep.id).length, 1);
});

sqlTest(
  "auto-disable: an endpoint failing for longer than auto_disable_after is disabled; a success resets it",
  async () => {
    await reset();
    const ep = await endpoint();
    await admin`insert into public.things (id) values (1), (2), (3)`;
    let c = await claim(admin, 1);
    await record(c.claim, [{ id: c.deliveries[0].id, http_status: 500 }]);
    const since = (await endpointRow(ep.id)).failing_since;
    assert(since !== null);
    c = await claim(admin, 1);
    await record(c.claim, [{ id: c.deliveries[0].id, http_status: 200 }]);
    assertEquals((await endpointRow(ep.id)).failing_since, null);
    await admin`update webhooks.endpoints set failing_since = now() - interval '5 days 1 minute' where id = ${ep.id}`;
    c = await claim(admin, 1);
    const out = await record(c.claim, [{ id: c.deliveries[0].id, error: "connection refused" }]);
    assertEquals(out.disabled, [ep.id]);
    const row = await endpointRow(ep.id);
    assertEquals(row.enabled, false);
    assert(String(row.disabled_reason).startsWith("every try failed since "), row.disabled_reason);
  },
);

sqlTest("a lease that expires brings the delivery back; with no try left it becomes dead", async () => {
  await reset();
  await admin`update webhooks.config set retry_schedule_seconds = '{5}'`;
  await endpoint();
  await admin`insert into public.things (id) values (1)`;
  const c1 = await claim();
  await admin`update webhooks.deliveries set claimed_until = now() - interval '1 second'`;
  const c2 = await claim();
  assertEquals(c2.deliveries.map((d) => d.attempt), [2]);
  await admin`update webhooks.deliveries set claimed_until = now() - interval '1 second'`;
  assertEquals((await claim()).deliveries.length, 0);
  const d = await delivery(c1.deliveries[0].id);
  assertEquals(d.status, "dead");
  // The first claim's late report changes nothing.
  assertEquals((await record(c1.claim, [{ id: c1.deliveries[0].id, http_status: 200 }])).updated, 0);
});

sqlTest("replay redelivers since a time with the same webhook-id; requeue_dead by filter", async () => {
  await reset();
  const ep = await endpoint();
  const other = await endpoint("https://other.example/", ["things.update"]);
  await admin`insert into public.things (id) values (1), (2)`;
  let c = await claim();
  await record(c.claim, c.deliveries.map((d) => ({ id: d.id, http_status: 200 })));
  const [{ n: replayed }] = await admin`select webhooks.replay(${ep.id}, now() - interval '1 hour') as n`;
  assertEquals(replayed, 2);
  // Again while those are pending: nothing more.
  assertEquals((await admin`select webhooks.replay(${ep.id}, now() - interval '1 hour') as n`)[0].n, 0);
  // The other endpoint subscribes to updates only: nothing to replay.
  assertEquals((await admin`select webhooks.replay(${other.id}, now() - interval '1 hour') as n`)[0].n, 0);
  c = await claim();
  assertEquals(c.deliveries.length, 2);
  const ids = await admin`select message_id from webhooks.events order by id`;
  assertEquals(c.deliveries.map((d) => d.webhook_id), ids.map((r) => r.message_id));
  await record(c.claim, c.deliveries.map((d) => ({ id: d.id, http_status: 410 })));
  assertEquals(Number((await admin`select count(*) as n from webhooks.deliveries where status = 'dead'`)[0].n), 2);
  // Requeue by filter: a type that matches nothing, then the endpoint.
  assertEquals((await admin`select webhooks.requeue_dead(event_types => '{things.delete}') as n`)[0].n, 0);
  assertEquals((await admin`select webhooks.requeue_dead(${ep.id}) as n`)[0].n, 2);
  const rows = await admin`select status, attempts from webhooks.deliveries where status <> 'delivered'`;
  assertEquals(rows.map((r) => [r.status, r.attempts]), [["pending", 0], ["pending", 0]]);
  const bad = await admin`select webhooks.replay(${ep.id}, null)`.then(() => "ok", (e) => e.code);
  assertEquals(bad, "22023");
});

sqlTest("purge: finished deliveries, attempts and orphan events past retention; pending ones stay", async () => {
  await reset();
  await endpoint();
  await admin`insert into public.things (id) values (1), (2)`;
  const c = await claim(admin, 1);
  await record(c.claim, [{ id: c.deliveries[0].id, http_status: 200 }]);
  await admin`update webhooks.deliveries set finished_at = now() - interval '31 days' where status = 'delivered'`;
  await admin`update webhooks.attempts set attempted_at = now() - interval '31 days'`;
  await admin`update webhooks.events set created_at = now() - interval '31 days'`;
  const [{ r }] = await admin`select webhooks.purge() as r`;
  assertEquals(r, { attempts: 1, deliveries: 1, events: 1, more: false });
  const [{ n }] = await admin`select count(*)::int as n from webhooks.deliveries where status = 'pending'`;
  assertEquals(n, 1);
  assertEquals(await admin`select webhooks.purge(0)`.then(() => "ok", (e) => e.code), "22023");
});

sqlTest("privileges: service_role and postgres only; anon and authenticated are refused (42501)", async () => {
  await reset();
  const ep = await endpoint();
  for (const role of ["anon", "authenticated"] as const) {
    for (
      const q of [
        `select webhooks.create_endpoint('https://x.example/')`,
        `select * from webhooks.endpoints`,
        `select public.webhooks_admin('list_endpoints')`,
        `select public.webhooks_claim()`,
        `select public.webhooks_record(gen_random_uuid(), '[]')`,
        `select webhooks.subscribe('public.things')`,
      ]
    ) {
      const s = await db.session(role);
      await s.begin({ role, sub: crypto.randomUUID() });
      const r = await s.sql.unsafe(q).then(() => "ok", (e) => e.code);
      await s.rollback();
      await s.sql.end({ timeout: 1 });
      assertEquals(r, "42501", `${role}: ${q}`);
    }
  }
  // service_role: the API and the entry points work.
  const listed = await asService((sql) => sql`select public.webhooks_admin('list_endpoints') as r`);
  assertEquals((listed[0].r.result as any[]).map((e) => e.endpoint_id), [ep.id]);
  const sub = await asService((sql) => sql`select webhooks.subscribe('public.nokey') as r`);
  assertEquals(sub[0].r.table, "nokey");
  // Writers of a subscribed table need no right on the webhooks schema.
  await admin.unsafe(`grant insert, select on public.things to authenticated`);
  const s = await db.session("writer");
  await s.begin({ role: "authenticated", sub: crypto.randomUUID() });
  await s.sql`insert into public.things (id) values (77)`;
  await s.commit();
  const [{ n }] = await admin`select count(*)::int as n from webhooks.events where row_key = '[77]'`;
  assertEquals(n, 1);
});

sqlTest(
  "webhooks_admin: bad input is invalid_input, an unknown endpoint not_found, nothing changed; webhooks.admin raises 22023",
  async () => {
    await reset();
    const ep = await endpoint();
    const call = (action: string, args: unknown) =>
      asService((sql) => sql`select public.webhooks_admin(${action}, ${sql.json(args as any)}) as r`).then(
        (r) => r[0].r.ok ? r[0].r.result : r[0].r.error.code,
        (e) => e.code,
      );
    assertEquals(await call("nope", {}), "invalid_input");
    assertEquals(await call("rotate_secret", { id: "not-a-uuid" }), "invalid_input");
    assertEquals(await call("replay", { id: ep.id, since: "yesterday-ish" }), "invalid_input");
    assertEquals(
      await call("create_endpoint", { url: "https://x.example/", event_types: "things.insert" }),
      "invalid_input",
    );
    assertEquals(await call("create_endpoint", { url: "https://x.example/", event_types: [1] }), "invalid_input");
    assertEquals(await call("subscribe", { table: "public.no_such_table" }), "invalid_input");
    assertEquals(await call("disable_endpoint", { id: crypto.randomUUID() }), "not_found");
    const [{ n }] = await admin`select count(*)::int as n from webhooks.endpoints`;
    assertEquals(n, 1);
    assertEquals((await endpointRow(ep.id)).enabled, true);
    const raised = await admin`select webhooks.admin('nope')`.then(() => "ok", (e) => e.code);
    assertEquals(raised, "22023");
    const created = await call("create_endpoint", { url: "fn:order-events", event_types: ["things.insert"] });
    assert(/^whsec_/.test(created.secret));
    assertEquals((await call("disable_endpoint", { id: created.id })).enabled, false);
  },
);

sqlTest(
  "create_endpoint/rotate_secret with a given secret (20261204005000): it signs; a malformed one is 22023, not echoed, nothing written",
  async () => {
    await reset();
    const given = "whsec_" + btoa("a-function-secret-of-32-bytes!!!"); // 32 bytes
    const [ep] = await admin`select * from webhooks.create_endpoint('fn:order-events', null, null, ${given})`;
    assertEquals(ep.secret, given);
    const bad = [
      "whsec_" + btoa("too short"), // 9 bytes
      "whsec_" + btoa("x".repeat(65)), // 65 bytes
      "whsec_not base64!",
      "sk_" + btoa("a-function-secret-of-32-bytes!!!"),
      "",
    ];
    for (const s of bad) {
      const e = await admin`select * from webhooks.create_endpoint('https://x.example/', null, null, ${s})`.then(
        () => null,
        (e) => e,
      );
      assertEquals(e?.code, "22023", s);
      assert(s === "" || !String(e.message).includes(s.slice(6)), e.message);
      const r = await admin`select webhooks.rotate_secret(${ep.id}, ${s})`.then(() => "ok", (e) => e.code);
      assertEquals(r, "22023", s);
    }
    const [{ n }] = await admin`select count(*)::int as n from webhooks.endpoints`;
    assertEquals(n, 1);
    const [{ k }] = await admin`select count(*)::int as k from webhooks.endpoint_secrets where endpoint_id = ${ep.id}`;
    assertEquals(k, 1);
    // Rotating to a given secret: both sign during the overlap, newest first.
    const next = "whsec_" + btoa("the-next-function-secret-32-byte");
    const [{ s }] = await admin`select webhooks.rotate_secret(${ep.id}, ${next}) as s`;
    assertEquals(s, next);
    await admin`insert into public.things (id) values (1)`;
    const c = await claim();
    assertEquals(c.deliveries.map((d) => d.secrets), [[next, given]]);
    // Over the admin RPC too; a secret that is not a string is invalid_input.
    const call = (action: string, args: unknown) =>
      asService((sql) => sql`select public.webhooks_admin(${action}, ${sql.json(args as any)}) as r`).then(
        (r) => r[0].r.ok ? r[0].r.result : r[0].r.error.code,
      );
    assertEquals(await call("create_endpoint", { url: "fn:x", secret: 42 }), "invalid_input");
    assertEquals(await call("create_endpoint", { url: "fn:x", secret: bad[0] }), "invalid_input");
    const made = await call("create_endpoint", { url: "fn:x", secret: given });
    assertEquals(made.secret, given);
    assertEquals(await call("rotate_secret", { id: made.id, secret: next }), { secret: next });
    const [{ m }] = await admin`select count(*)::int as m from webhooks.endpoints`;
    assertEquals(m, 2);
  },
);

sqlTest(
  "subscribe with update_columns (20261204005020): an UPDATE is captured only when one of them changed; bad columns are 22023",
  async () => {
    await reset();
    const r = await admin`select webhooks.subscribe('public.things', '{INSERT,UPDATE,DELETE}', '{n}') as r`;
    assertEquals(r[0].r.update_columns, ["n"]);
    const captured = async () =>
      (await admin`select event_type, payload from webhooks.events where table_name = 'things' order by id`).map((
        e,
      ) => `${e.event_type}:${(e.payload.record ?? e.payload.old_record).n}`);
    await admin`insert into public.things (id, name, n) values (1, 'a', 0)`;
    await admin`update public.things set name = 'b' where id = 1`; // n not touched
    await admin`update public.things set n = 0, name = 'c' where id = 1`; // n set, unchanged
    await admin`update public.things set n = 1 where id = 1`; // changed
    await admin`delete from public.things where id = 1`;
    assertEquals(await captured(), ["things.insert:0", "things.update:1", "things.delete:1"]);
    const [s] = await admin`select events, update_columns from webhooks.subscriptions where table_name = 'things'`;
    assertEquals([s.events, s.update_columns], [["DELETE", "INSERT", "UPDATE"], ["n"]]);
    // UPDATE only: no insert or delete captured.
    await admin`delete from webhooks.events`;
    await admin`select webhooks.subscribe('public.things', '{UPDATE}', '{n,name}')`;
    await admin`insert into public.things (id, name, n) values (2, 'a', 0)`;
    await admin`update public.things set name = 'z' where id = 2`;
    await admin`delete from public.things where id = 2`;
    assertEquals(await captured(), ["things.update:0"]);
    // Bad input: 22023 and the subscription as it was.
    for (
      const [events, cols] of [
        ["{INSERT,UPDATE}", "{nope}"],
        ["{INSERT,UPDATE}", "{}"],
        ["{INSERT,DELETE}", "{n}"],
        ["{INSERT,UPDATE}", "{ctid}"],
      ]
    ) {
      const e = await admin`select webhooks.subscribe('public.things', ${events}::text[], ${cols}::text[])`.then(
        () => "ok",
        (e) => e.code,
      );
      assertEquals(e, "22023", `${events} ${cols}`);
    }
    const triggers = async () =>
      (await admin`select tgname from pg_trigger where tgrelid = 'public.things'::regclass and not tgisinternal
        order by 1`).map((t) => t.tgname);
    assertEquals(await triggers(), ["webhooks_capture_update"]);
    // Without update_columns again: every UPDATE, one trigger; unsubscribe removes every trigger.
    await admin`select webhooks.subscribe('public.things')`;
    assertEquals(await triggers(), ["webhooks_capture"]);
    const [t] = await admin`select update_columns from webhooks.subscriptions where table_name = 'things'`;
    assertEquals(t.update_columns, null);
    await admin`select webhooks.subscribe('public.things', '{INSERT,UPDATE}', '{n}')`;
    assertEquals(await triggers(), ["webhooks_capture", "webhooks_capture_update"]);
    const [{ u }] = await admin`select webhooks.unsubscribe('public.things') as u`;
    assertEquals([u, await triggers()], [true, []]);
  },
);
