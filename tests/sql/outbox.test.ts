// The orders flow as the fn:order-events subscription of the database webhooks
// (20261205000100_orders_via_webhooks.sql), with the guarantees the orders outbox had: an event
// per order insert and status change, in the writing transaction (none lost, none for a rolled
// back or status-less write); per-order order; a dead event blocking its order until it is
// requeued; an expired claim coming back, a stale claim token changing nothing; concurrent
// claims never splitting an order; the retry schedule. The claims and outcomes are the
// dispatcher's two calls (webhooks.claim_deliveries, webhooks.record_attempts) as service_role.
import { assert, assertEquals } from "../assert.ts";
import { fixtures, SERVICE, sqlTest, testDatabase } from "./_db.ts";
import { type Claim, dispatcherCalls, orderEventsEndpoint } from "./_webhooks.ts";

const db = await testDatabase("outbox");
const { admin } = db;
const fx = fixtures(admin);
const calls = dispatcherCalls(admin);
const ep = await orderEventsEndpoint(admin);
const user = await fx.user();

/** A new order with `n` events: its insert, then n - 1 status changes (ids in creation order). */
async function events(n: number): Promise<{ order: number; ids: number[] }> {
  const [o] = await admin`insert into public.orders (user_id, currency) values (${user}, 'USD') returning id`;
  const order = Number(o.id);
  for (let i = 1; i < n; i++) {
    await admin`update public.orders set status = ${i % 2 ? "processed" : "cancelled"} where id = ${order}`;
  }
  const rows = await admin`select d.id from webhooks.deliveries d join webhooks.events v on v.id = d.event_id
    where d.endpoint_id = ${ep} and v.row_key = ${JSON.stringify([order])} order by d.id`;
  assertEquals(rows.length, n);
  return { order, ids: rows.map((r) => Number(r.id)) };
}

/** One claim as the dispatcher (service_role) in its own transaction. */
async function claimAsService(batch = 100, maxPerRow = 4): Promise<Claim> {
  const s = await db.session("dispatcher");
  await s.begin(SERVICE);
  const c = await calls.claim(s.sql, batch, maxPerRow);
  await s.commit();
  return c;
}

/** The outcomes of a claim as the dispatcher reports them; answers how many it updated. */
async function record(token: string, results: unknown[]): Promise<number> {
  const s = await db.session("dispatcher");
  await s.begin(SERVICE);
  const [r] = await s.sql`select webhooks.record_attempts(${token}::uuid, ${s.sql.json(results as any)}) as r`;
  await s.commit();
  return (r.r as any).updated;
}

const idsOf = (c: Claim, order: number) =>
  c.deliveries.filter((d) => d.endpoint_id === ep && d.row_key === JSON.stringify([order])).map((d) => d.id);

async function statusOf(id: number) {
  const [r] = await admin`select status, attempts, claim_token from webhooks.deliveries where id = ${id}`;
  return { ...r };
}

/** No order event left; the default retry schedule. */
async function clean() {
  await admin`delete from webhooks.events where table_name = 'orders'`;
  await admin`update webhooks.config set retry_schedule_seconds = default`;
}

/** With a schedule of no retries, the next failure is final (dead). */
async function withOneTry<T>(fn: () => Promise<T>): Promise<T> {
  await admin`update webhooks.config set retry_schedule_seconds = '{}'`;
  try {
    return await fn();
  } finally {
    await admin`update webhooks.config set retry_schedule_seconds = default`;
  }
}

sqlTest(
  "capture: one event per order insert and status change, in the writing transaction, none lost; to fn:order-events only",
  async () => {
    await clean();
    const other = await admin`select * from webhooks.create_endpoint('https://example.com/other', '{things.insert}')`;
    // 1,000 orders in one transaction: 1,000 deliveries, one per order.
    const orders = await admin.begin(async (tx) =>
      await tx`insert into public.orders (user_id, currency)
        select ${user}, 'USD' from generate_series(1, 1000) returning id`
    );
    const [n] = await admin`select count(*)::int as deliveries, count(distinct v.row_key)::int as orders,
      count(distinct v.message_id)::int as ids
      from webhooks.deliveries d join webhooks.events v on v.id = d.event_id where v.table_name = 'orders'`;
    assertEquals({ ...n }, { deliveries: 1000, orders: 1000, ids: 1000 });
    const [d] = await admin`select count(*)::int as n from webhooks.deliveries where endpoint_id <> ${ep}`;
    assertEquals(d.n, 0, "the other endpoint subscribes to another event type");
    // A rolled-back insert, an update that leaves the status alone, a delete: no event.
    const order = Number(orders[0].id);
    await admin.begin(async (tx) => {
      await tx`insert into public.orders (user_id, currency) values (${user}, 'USD')`;
      throw new Error("abort");
    }).catch(() => {});
    await admin`update public.orders set shipping_region = 'DE' where id = ${order}`;
    await admin`update public.orders set status = status where id = ${order}`;
    assertEquals((await admin`select count(*)::int as n from webhooks.events where table_name = 'orders'`)[0].n, 1000);
    // A status change: one event, Supabase's payload with the old record.
    await admin`update public.orders set status = 'processed' where id = ${order}`;
    const rows = await admin`select v.event_type, v.payload, v.message_id from webhooks.events v
      where v.row_key = ${JSON.stringify([order])} order by v.id`;
    assertEquals(rows.map((r) => r.event_type), ["orders.insert", "orders.update"]);
    const [ins, upd] = rows.map((r) => r.payload);
    assertEquals([ins.type, ins.table, ins.schema, ins.old_record, ins.record.id], [
      "INSERT",
      "orders",
      "public",
      null,
      order,
    ]);
    assertEquals([upd.type, upd.old_record.status, upd.record.status], ["UPDATE", "pending", "processed"]);
    assertEquals(upd.record.shipping_region, "DE");
    // The claim: fn:order-events, signed with the function secret, webhook-id the event's id.
    await admin`delete from webhooks.events where table_name = 'orders' and row_key <> ${JSON.stringify([order])}`;
    const c = await claimAsService();
    const mine = c.deliveries.filter((x) => x.row_key === JSON.stringify([order]));
    assertEquals(mine.map((x) => [x.url, x.secret_env, x.secrets.length, x.event_type, x.webhook_id]), [
      ["fn:order-events", "ORDER_EVENTS_SECRET", 0, "orders.insert", rows[0].message_id],
      ["fn:order-events", "ORDER_EVENTS_SECRET", 0, "orders.update", rows[1].message_id],
    ]);
    assertEquals(mine[1].payload, upd);
    await admin`delete from webhooks.endpoints where id = ${other[0].id}`;
  },
);

sqlTest("two sessions: an order's event is claimable once its transaction commits, not before", async () => {
  await clean();
  const writer = await db.session("writer");
  await writer.begin(SERVICE);
  const [o] = await writer.sql`insert into public.orders (user_id, currency) values (${user}, 'USD') returning id`;
  const order = Number(o.id);
  assertEquals(idsOf(await claimAsService(), order), []);
  await writer.commit();
  assertEquals(idsOf(await claimAsService(), order).length, 1);
});

sqlTest("per-order order: a later event of an order is not claimed while an earlier one is under claim", async () => {
  await clean();
  const { order, ids: [e1, e2, e3] } = await events(3);
  const c1 = await claimAsService(100, 1);
  assertEquals(idsOf(c1, order), [e1]);
  const c2 = await claimAsService();
  assertEquals(idsOf(c2, order), []);
  assertEquals(await record(c1.claim, [{ id: e1, http_status: 200 }]), 1);
  const c3 = await claimAsService();
  assertEquals(idsOf(c3, order), [e2, e3]);
});

sqlTest("an order blocked by a claim does not starve the events of other orders", async () => {
  await clean();
  const o = await events(2);
  const c1 = await claimAsService(100, 1);
  assertEquals(idsOf(c1, o.order), [o.ids[0]]);
  const p = await events(1);
  // One slot: o's second event is not claimable, so the slot goes to p's event.
  const c2 = await claimAsService(1);
  assertEquals(c2.deliveries.map((d) => d.id), [p.ids[0]]);
});

sqlTest("a dead event blocks its order until it is requeued, then the order resumes in order", async () => {
  await clean();
  const { order, ids: [e1, e2] } = await events(2);
  const other = await events(1);
  const c1 = await claimAsService(100, 1);
  assertEquals(idsOf(c1, order), [e1]);
  await withOneTry(async () => {
    assertEquals(
      await record(c1.claim, [
        { id: e1, http_status: 413, error: "HTTP 413" },
        ...c1.deliveries.filter((d) => d.id !== e1).map((d) => ({ id: d.id, released: true })),
      ]),
      2,
    );
  });
  assertEquals((await statusOf(e1)).status, "dead");
  // Other orders go on; this one stays held.
  const held = await claimAsService();
  assertEquals([idsOf(held, order), idsOf(held, other.order)], [[], other.ids]);
  assertEquals(idsOf(await claimAsService(), order), []);
  assertEquals((await statusOf(e2)).status, "pending");

  const s = await db.session("operator");
  await s.begin(SERVICE);
  const [r] = await s.sql`select webhooks.requeue_dead(${ep}::uuid) as n`;
  await s.commit();
  assertEquals(r.n, 1);
  const c2 = await claimAsService();
  assertEquals(idsOf(c2, order), [e1, e2]);
  assertEquals(c2.deliveries.find((d) => d.id === e1)?.attempt, 1);
});

sqlTest("an expired claim comes back; the stale claim token then changes nothing", async () => {
  await clean();
  const { order, ids: [e1] } = await events(1);
  const c1 = await claimAsService();
  assertEquals(idsOf(c1, order), [e1]);
  // The dispatcher died: its claim expires (moved into the past rather than waited for).
  await admin`update webhooks.deliveries set claimed_until = now() - interval '1 second' where id = ${e1}`;
  const c2 = await claimAsService();
  assertEquals(c2.deliveries.map((d) => [d.id, d.row_key, d.attempt]), [[e1, JSON.stringify([order]), 2]]);
  assert(c2.claim !== c1.claim);

  // The first dispatcher comes back with its outcome: nothing changes.
  assertEquals(await record(c1.claim, [{ id: e1, http_status: 200 }]), 0);
  assertEquals(await statusOf(e1), { status: "pending", attempts: 2, claim_token: c2.claim });
  assertEquals(await record(c1.claim, [{ id: e1, http_status: 500, error: "x" }]), 0);
  assertEquals((await statusOf(e1)).status, "pending");
  const [{ n }] = await admin`select count(*)::int as n from webhooks.attempts where delivery_id = ${e1}`;
  assertEquals(n, 0);
  // The live claim's outcome is recorded.
  assertEquals(await record(c2.claim, [{ id: e1, http_status: 200 }]), 1);
  assertEquals(await statusOf(e1), { status: "delivered", attempts: 2, claim_token: null });
});

sqlTest("concurrent claims: a dispatcher never takes a later event of an order another is claiming", async () => {
  await clean();
  const { order, ids: [e1, e2] } = await events(2);
  const a = await db.session("dispatcher A");
  const b = await db.session("dispatcher B");
  await a.begin(SERVICE);
  const ca = await calls.claim(a.sql, 1); // holds e1, not yet committed
  assertEquals(idsOf(ca, order), [e1]);
  await b.begin(SERVICE);
  const cb = await calls.claim(b.sql); // e1 is locked (skipped); e2 must not be taken without it
  await b.commit();
  await a.commit();
  assertEquals(idsOf(cb, order), []);
  assertEquals((await statusOf(e2)).claim_token, null);
  assertEquals(await record(ca.claim, [{ id: e1, http_status: 200 }]), 1);
  assertEquals(idsOf(await claimAsService(), order), [e2]);
});

sqlTest("an event waiting out its backoff is not claimed, nor are the later events of its order", async () => {
  await clean();
  const { order, ids: [e1, e2] } = await events(2);
  const other = await events(1);
  await admin`update webhooks.deliveries set next_attempt_at = now() + interval '30 seconds' where id = ${e1}`;
  const c1 = await claimAsService();
  assertEquals([idsOf(c1, order), idsOf(c1, other.order)], [[], other.ids]);
  assert(c1.next_due_ms !== null && c1.next_due_ms > 25_000 && c1.next_due_ms <= 30_000, `${c1.next_due_ms}`);
  assertEquals([(await statusOf(e1)).attempts, (await statusOf(e2)).attempts], [0, 0]);
  // Due: the order's events are claimed, in order.
  await admin`update webhooks.deliveries set next_attempt_at = now() where id = ${e1}`;
  assertEquals(idsOf(await claimAsService(), order), [e1, e2]);
});

sqlTest("a claim that expires on the event's last try makes it dead, and it blocks its order", async () => {
  await clean();
  const { order, ids: [e1, e2] } = await events(2);
  await withOneTry(async () => {
    const c1 = await claimAsService(100, 1);
    assertEquals(c1.deliveries.map((d) => [d.id, d.attempt]), [[e1, 1]]);
    // The dispatcher died with it: the claim expires (moved into the past rather than waited for).
    await admin`update webhooks.deliveries set claimed_until = now() - interval '1 second' where id = ${e1}`;
    const c2 = await claimAsService();
    assertEquals(idsOf(c2, order), []);
    const [row] = await admin`select status, attempts, claim_token, last_error from webhooks.deliveries
      where id = ${e1}`;
    assertEquals([row.status, row.attempts, row.claim_token], ["dead", 1, null]);
    assert(/no try left/.test(row.last_error), row.last_error);
    assertEquals((await statusOf(e2)).status, "pending");
    // The dead claim's late outcome changes nothing.
    assertEquals(await record(c1.claim, [{ id: e1, http_status: 200 }]), 0);
    assertEquals((await statusOf(e1)).status, "dead");
  });
  assertEquals(idsOf(await claimAsService(), order), []);
});

// The orders flow's retries are the database webhooks' (webhooks.config.retry_schedule_seconds,
// Standard Webhooks' schedule, 8 tries over about 27.6 hours): what replaced the outbox's
// per-row max_attempts/backoff_base_ms (12 tries, 2 s doubling) and the Rust constants that
// mirrored them.
sqlTest("a failed try is retried on the webhooks schedule, and the order's later events wait for it", async () => {
  await clean();
  const { order, ids: [e1, e2] } = await events(2);
  const [cfg] = await admin`select retry_schedule_seconds from webhooks.config`;
  assertEquals(cfg.retry_schedule_seconds, [5, 300, 1800, 7200, 18000, 36000, 36000]);
  const c1 = await claimAsService(100, 1);
  assertEquals(await record(c1.claim, [{ id: e1, http_status: 503, error: "HTTP 503" }]), 1);
  const [d] = await admin`select status, attempts, last_status, last_error,
    extract(epoch from next_attempt_at - now())::float8 as due_in_s from webhooks.deliveries where id = ${e1}`;
  assertEquals([d.status, d.attempts, d.last_status, d.last_error], ["pending", 1, 503, "HTTP 503"]);
  assert(d.due_in_s > 4 && d.due_in_s <= 5, `${d.due_in_s}`);
  assertEquals(idsOf(await claimAsService(), order), []);
  await admin`update webhooks.deliveries set next_attempt_at = now() where id = ${e1}`;
  const c2 = await claimAsService();
  assertEquals(c2.deliveries.map((x) => [x.id, x.attempt]), [[e1, 2], [e2, 1]]);
});
