// purge_retention (issue 9): what it deletes, what it keeps, who may call it.
import { assertEquals } from "../assert.ts";
import { codeOf, fixtures, SERVICE, sqlTest, testDatabase } from "./_db.ts";

const db = await testDatabase("retention");
const { admin } = db;

async function purge(args = "") {
  const s = await db.session("scheduler");
  await s.begin(SERVICE);
  const [r] = await s.sql.unsafe(`select public.purge_retention(${args}) as r`);
  await s.commit();
  return r.r;
}

async function ids(table: string, column: string): Promise<string[]> {
  const rows = await admin.unsafe(`select ${column} as k from public.${table} order by 1`);
  return rows.map((r) => String(r.k));
}

sqlTest("purge_retention deletes only what is past its window and keeps every dedupe record younger", async () => {
  await admin`insert into public.received_events (source, event_id, event_type, outcome, received_at) values
    ('event_outbox', 'r-old', 'INSERT', 'processed', now() - interval '31 days'),
    ('event_outbox', 'r-29d', 'INSERT', 'processed', now() - interval '29 days')`;
  await admin`insert into public.webhook_events (provider, event_id, type, outcome, received_at) values
    ('stripe', 'w-old', 'payment_intent.succeeded', 'paid', now() - interval '31 days'),
    ('stripe', 'w-recent', 'payment_intent.succeeded', 'paid', now() - interval '4 days'),
    ('stripe', 'w-exception', 'payment_intent.succeeded', 'exception', now() - interval '40 days')`;
  await admin`insert into public.payment_exceptions (provider, event_id, event_type, reason)
    values ('stripe', 'w-exception', 'payment_intent.succeeded', 'order_not_found')`;
  await admin`insert into public.idempotency_keys (scope, key, endpoint, request_hash, state, locked_until, expires_at)
    values ('s', 'k-expired', 'process-order', 'h', 'done', now(), now() - interval '1 minute'),
           ('s', 'k-live', 'process-order', 'h', 'done', now(), now() + interval '23 hours')`;
  // event_outbox is history since 20261205000100 (written here as the owner): delivered rows go
  // 7 days after delivery, rows moved to the webhooks 7 days after the move, others stay.
  await admin`insert into public.event_outbox (order_id, target, payload, status, delivered_at, moved_at, event_id)
    values (1, 'order-events', '{}', 'delivered', now() - interval '8 days', null, 'e-old'),
           (1, 'order-events', '{}', 'delivered', now() - interval '6 days', null, 'e-recent'),
           (2, 'order-events', '{}', 'dead', null, null, 'e-dead'),
           (3, 'order-events', '{}', 'dead', null, now() - interval '8 days', 'e-moved-old'),
           (4, 'order-events', '{}', 'pending', null, now() - interval '6 days', 'e-moved-recent')`;
  await admin`update public.event_outbox set created_at = now() - interval '90 days'`;
  // The database webhooks' own retention (webhooks.config: 30 days) runs too: an order event
  // delivered 31 days ago goes with its delivery; a pending one stays, however old.
  await admin`insert into public.orders (id, user_id, currency)
    values (1000001, ${await fixtures(admin).user()}, 'USD'), (1000002, ${await fixtures(admin).user()}, 'USD')`;
  await admin`delete from public.audit_log where table_name = 'orders'`; // their audit rows: not under test here
  await admin`update webhooks.events set created_at = now() - interval '31 days' where table_name = 'orders'`;
  await admin`update webhooks.deliveries d set status = 'delivered', finished_at = now() - interval '31 days'
    from webhooks.events v where v.id = d.event_id and v.row_key = '[1000001]'`;
  await admin`insert into public.audit_log (table_name, record_id, action, created_at) values
    ('orders', 'a-old', 'INSERT', now() - interval '366 days'), ('orders', 'a-recent', 'INSERT', now())`;

  assertEquals(await purge(), {
    received_events: 1,
    webhook_events: 1,
    idempotency_keys: 1,
    event_outbox: 2,
    audit_log: 1,
    webhooks: { attempts: 0, deliveries: 1, events: 1, more: false },
    more: false,
  });
  assertEquals(await ids("received_events", "event_id"), ["r-29d"]);
  assertEquals(await ids("webhook_events", "event_id"), ["w-exception", "w-recent"]);
  assertEquals(await ids("payment_exceptions", "event_id"), ["w-exception"]);
  assertEquals(await ids("idempotency_keys", "key"), ["k-live"]);
  assertEquals(await ids("event_outbox", "event_id"), ["e-dead", "e-moved-recent", "e-recent"]);
  const left = await admin`select v.row_key, d.status from webhooks.events v
    join webhooks.deliveries d on d.event_id = v.id where v.table_name = 'orders'`;
  assertEquals(left.map((r) => [r.row_key, r.status]), [["[1000002]", "pending"]]);
  assertEquals(await ids("audit_log", "record_id"), ["a-recent"]);
  // Nothing left to do: a second call deletes nothing.
  assertEquals((await purge()).more, false);
  // audit_log_after => null keeps the audit log forever; batches are bounded.
  await admin`insert into public.audit_log (table_name, record_id, action, created_at)
    select 'orders', 'b-' || g, 'INSERT', now() - interval '400 days' from generate_series(1, 3) g`;
  assertEquals((await purge("audit_log_after => null")).audit_log, 0);
  assertEquals(await purge("batch_size => 2"), {
    received_events: 0,
    webhook_events: 0,
    idempotency_keys: 0,
    event_outbox: 0,
    audit_log: 2,
    webhooks: { attempts: 0, deliveries: 0, events: 0, more: false },
    more: true,
  });
  assertEquals((await purge("batch_size => 2")).audit_log, 1);
});

sqlTest("purge_retention refuses a dedupe window under 7 days and is service_role only", async () => {
  const s = await db.session("caller");
  for (const args of ["received_events_after => '6 days'", "webhook_events_after => '1 day'"]) {
    await s.begin(SERVICE);
    const r = await s.start(s.sql.unsafe(`select public.purge_retention(${args})`)).result;
    await s.rollback();
    assertEquals(codeOf(r), "22023");
  }
  for (const role of ["anon", "authenticated"]) {
    await s.begin({ role, sub: crypto.randomUUID() });
    const r = await s.start(s.sql`select public.purge_retention()`).result;
    await s.rollback();
    assertEquals(codeOf(r), "42501");
  }
});
