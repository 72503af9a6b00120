// The upgrade that moves the orders flow onto the database webhooks
// (20261205000100_orders_via_webhooks.sql): a database at the schema before it, with order
// events in event_outbox delivered, pending, retrying, claimed (a dispatch-events call in
// flight) and dead, and an fn:order-events endpoint someone had made, is upgraded (twice:
// idempotent). Each undelivered event becomes a delivery to fn:order-events with the same
// webhook-id, payload, state and tries; the delivered ones are not copied; the old triggers and
// RPCs are gone; event_outbox is read-only history; a new order change makes exactly one
// delivery and no outbox row.
import { assert, assertEquals } from "../assert.ts";
import { codeOf, fixtures, SERVICE, sqlTest, testDatabase } from "./_db.ts";
import { dispatcherCalls } from "./_webhooks.ts";

const MOVE = "20261205000100";
const db = await testDatabase("upgrade_orders_webhooks", { before: MOVE });
const { admin } = db;
const fx = fixtures(admin);
const { claim } = dispatcherCalls(admin);

sqlTest("undelivered outbox events become fn:order-events deliveries with their ids, state and order", async () => {
  // Today's schema: the outbox triggers, no subscription of orders.
  const before = await admin`select tgname from pg_trigger where tgrelid = 'public.orders'::regclass
    and tgname in ('orders_outbox_insert', 'orders_outbox_status', 'webhooks_capture', 'webhooks_capture_update')
    order by 1`;
  assertEquals(before.map((r) => r.tgname), ["orders_outbox_insert", "orders_outbox_status"]);
  // An fn:order-events endpoint made earlier (all event types, a stored secret, disabled).
  const [old] = await admin`select * from webhooks.create_endpoint('fn:order-events')`;
  await admin`select webhooks.disable_endpoint(${old.id}, 'not yet')`;
  const [other] = await admin`select * from webhooks.create_endpoint('https://example.com/hook', '{things.insert}')`;

  const user = await fx.user();
  const order = async () =>
    Number((await admin`insert into public.orders (user_id, currency) values (${user}, 'USD') returning id`)[0].id);
  const [delivered, pending, retrying, claimed, dead, worn] = [
    await order(),
    await order(),
    await order(),
    await order(),
    await order(),
    await order(),
  ];
  // The dead order's later event (a status change), held behind its dead insert.
  await admin`update public.orders set status = 'cancelled' where id = ${dead}`;
  const ev = async (o: number, type = "INSERT") =>
    Number(
      (await admin`select id from public.event_outbox where order_id = ${o} and payload->>'type' = ${type}`)[0].id,
    );
  await admin`update public.event_outbox set status = 'delivered', attempts = 1, delivered_at = now()
    where id = ${await ev(delivered)}`;
  await admin`update public.event_outbox set attempts = 3, last_error = 'HTTP 500',
    next_attempt_at = now() + interval '1 hour' where id = ${await ev(retrying)}`;
  await admin`update public.event_outbox set attempts = 1, claimed_until = now() + interval '60 seconds',
    claim_token = gen_random_uuid() where id = ${await ev(claimed)}`;
  await admin`update public.event_outbox set status = 'dead', attempts = 12, last_error = 'HTTP 413'
    where id = ${await ev(dead)}`;
  await admin`update public.event_outbox set attempts = 11, last_error = 'timeout' where id = ${await ev(worn)}`;
  const outbox = await admin`select * from public.event_outbox order by id`;
  assertEquals(outbox.length, 7);

  // The upgrade, as `supabase db push` applies it; then once more (idempotent).
  const applied = await db.migrate(MOVE);
  assert(applied.length >= 1 && applied[0].startsWith(MOVE), JSON.stringify(applied));
  await db.migrate(MOVE);

  // The endpoint: the earlier one, reused: order events only, enabled, signed with the function
  // secret (its stored secret gone), a dead delivery holding its order.
  const eps = await admin`select id, url, event_types, enabled, secret_env, dead_blocks_row from webhooks.endpoints
    order by url`;
  assertEquals(eps.map((e) => ({ ...e })), [
    {
      id: old.id,
      url: "fn:order-events",
      event_types: ["orders.insert", "orders.update"],
      enabled: true,
      secret_env: "ORDER_EVENTS_SECRET",
      dead_blocks_row: true,
    },
    {
      id: other.id,
      url: "https://example.com/hook",
      event_types: ["things.insert"],
      enabled: true,
      secret_env: null,
      dead_blocks_row: false,
    },
  ]);
  const [{ secrets }] = await admin`select count(*)::int as secrets from webhooks.endpoint_secrets
    where endpoint_id = ${old.id}`;
  assertEquals(secrets, 0);

  // Each undelivered event: one delivery, same webhook-id, payload, creation time and state, in
  // outbox order; the delivered one is not copied.
  const copies = await admin`select v.message_id, v.event_type, v.schema_name, v.table_name, v.row_key,
      v.payload, v.created_at, d.endpoint_id, d.row_key as d_row_key, d.status, d.attempts,
      d.next_attempt_at, d.last_error, d.claimed_until, d.claim_token, d.finished_at is not null as finished
    from webhooks.events v join webhooks.deliveries d on d.event_id = v.id order by d.id`;
  const undelivered = outbox.filter((o) => o.status !== "delivered");
  assertEquals(copies.map((c) => c.message_id), undelivered.map((o) => o.event_id));
  const tries = 8; // 1 + the default schedule's 7 retries
  for (const [i, o] of undelivered.entries()) {
    const c = copies[i];
    const key = JSON.stringify([Number(o.order_id)]);
    assertEquals(
      [c.event_type, c.schema_name, c.table_name, c.row_key, c.d_row_key, c.endpoint_id],
      [`orders.${o.payload.type.toLowerCase()}`, "public", "orders", key, key, old.id],
    );
    assertEquals(c.payload, o.payload);
    assertEquals(c.created_at.getTime(), o.created_at.getTime());
    assertEquals([c.status, c.last_error, c.claimed_until, c.claim_token], [o.status, o.last_error, null, null]);
    assertEquals(c.finished, o.status === "dead");
    // Tries: as they were, but a pending event keeps at least one of the webhooks schedule.
    assertEquals(c.attempts, o.status === "pending" ? Math.min(o.attempts, tries - 1) : o.attempts);
    // Due as it was; a claimed one no sooner than its claim's end.
    assertEquals(c.next_attempt_at.getTime(), (o.claimed_until ?? o.next_attempt_at).getTime());
  }
  const byOrder = (o: number) => copies.filter((c) => c.row_key === JSON.stringify([o]));
  assertEquals(byOrder(delivered), []);
  assertEquals(byOrder(worn).map((c) => [c.attempts, c.last_error]), [[7, "timeout"]]);
  assertEquals(byOrder(retrying).map((c) => [c.attempts, c.last_error]), [[3, "HTTP 500"]]);
  assertEquals(byOrder(dead).map((c) => [c.event_type, c.status]), [["orders.insert", "dead"], [
    "orders.update",
    "pending",
  ]]);

  // The old capture and dispatcher are gone; the subscription is there.
  const [gone] = await admin`select
    (select count(*)::int from pg_trigger where tgname in ('orders_outbox_insert', 'orders_outbox_status')) as triggers,
    to_regproc('public.enqueue_outbox_event') is null as enqueue,
    to_regproc('public.claim_outbox_events') is null as claim,
    to_regproc('public.complete_outbox_events') is null as complete,
    to_regproc('public.requeue_dead_events') is null as requeue`;
  assertEquals({ ...gone }, { triggers: 0, enqueue: true, claim: true, complete: true, requeue: true });
  const [sub] = await admin`select events, update_columns from webhooks.subscriptions
    where schema_name = 'public' and table_name = 'orders'`;
  assertEquals([sub.events, sub.update_columns], [["INSERT", "UPDATE"], ["status"]]);

  // event_outbox: the history, untouched but for moved_at on the copied rows; read-only.
  const history = await admin`select id, status, attempts, last_error, moved_at is not null as moved
    from public.event_outbox order by id`;
  assertEquals(
    history.map((h) => [h.status, h.attempts, h.last_error, h.moved]),
    outbox.map((o) => [o.status, o.attempts, o.last_error, o.status !== "delivered"]),
  );
  const s = await db.session("service");
  for (
    const q of [
      (sql: typeof admin) =>
        sql`insert into public.event_outbox (order_id, target, payload) values (1, 'order-events', '{}')`,
      (sql: typeof admin) => sql`update public.event_outbox set status = 'pending'`,
      (sql: typeof admin) => sql`delete from public.event_outbox`,
    ]
  ) {
    await s.begin(SERVICE);
    const r = await s.start(q(s.sql)).result;
    await s.rollback();
    assertEquals(codeOf(r), "42501");
  }
  await s.begin(SERVICE);
  const [{ n: readable }] = await s.sql`select count(*)::int as n from public.event_outbox`;
  const [stats] = await s.sql`select pending::int, in_flight::int, retrying::int, delivered::int, dead::int
    from public.event_outbox_stats`;
  await s.commit();
  assertEquals(readable, 7);
  assertEquals({ ...stats }, { pending: 5, in_flight: 0, retrying: 3, delivered: 0, dead: 1 });

  // Claims: the due ones; not the retrying one (an hour away), not the claimed one (its old
  // claim still runs), not the dead order's update (held).
  const c = await claim();
  assertEquals(c.deliveries.map((d) => d.row_key), [JSON.stringify([pending]), JSON.stringify([worn])]);
  assertEquals(c.deliveries.map((d) => d.webhook_id), [
    undelivered.find((o) => Number(o.order_id) === pending)!.event_id,
    undelivered.find((o) => Number(o.order_id) === worn)!.event_id,
  ]);
  assertEquals(c.deliveries.map((d) => d.secret_env), ["ORDER_EVENTS_SECRET", "ORDER_EVENTS_SECRET"]);
  // Requeued, the dead order's events go in order.
  assertEquals((await admin`select webhooks.requeue_dead(${old.id}) as n`)[0].n, 1);
  const c2 = await claim();
  assertEquals(c2.deliveries.map((d) => [d.row_key, d.event_type]), [
    [JSON.stringify([dead]), "orders.insert"],
    [JSON.stringify([dead]), "orders.update"],
  ]);

  // After the upgrade: a new order and a status change, one delivery each, no outbox row.
  const fresh = await order();
  await admin`update public.orders set status = 'processed' where id = ${fresh}`;
  await admin`update public.orders set shipping_region = 'DE' where id = ${fresh}`;
  const made = await admin`select v.event_type, d.endpoint_id, d.status from webhooks.events v
    join webhooks.deliveries d on d.event_id = v.id where v.row_key = ${JSON.stringify([fresh])} order by d.id`;
  assertEquals(made.map((m) => [m.event_type, m.endpoint_id, m.status]), [
    ["orders.insert", old.id, "pending"],
    ["orders.update", old.id, "pending"],
  ]);
  const [{ n: outboxRows }] = await admin`select count(*)::int as n from public.event_outbox`;
  assertEquals(outboxRows, 7);
});

sqlTest("the migration applied again later changes nothing: no second endpoint, nothing copied twice", async () => {
  const state = async () =>
    (await admin`select (select count(*) from webhooks.endpoints)::int as endpoints,
      (select count(*) from webhooks.events)::int as events,
      (select count(*) from webhooks.deliveries)::int as deliveries,
      (select count(*) from public.event_outbox where moved_at is not null)::int as moved,
      (select count(*) from pg_trigger where tgrelid = 'public.orders'::regclass and tgname like 'webhooks_capture%')::int
        as triggers`)[0];
  const first = { ...(await state()) };
  assertEquals([first.endpoints, first.moved, first.triggers], [2, 6, 2]);
  await db.migrate(MOVE);
  assertEquals({ ...(await state()) }, first);
});
