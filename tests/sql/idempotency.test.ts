// Idempotency keys (20261121000500, handled inside the read and apply RPCs since
// 20261204001000): two requests with the same key at once, replays, leases.
import { assert, assertEquals } from "../assert.ts";
import { fixtures, SERVICE, type Sql, sqlTest, testDatabase } from "./_db.ts";

const db = await testDatabase("idempotency");
const { admin } = db;
const fx = fixtures(admin);
const ORDER = await fx.order(await fx.user(), [[await fx.product(), 1]]);
/** The claim each key's last "new" answer handed out. */
const claims = new Map<string, string>();

/** begin_order_request as process-order calls it with a key; a claimed read reads as {state: "new"}. */
function begin(sql: Sql, key: string, hash = "h1", lease = 30) {
  return sql`select public.begin_order_request(order_id => ${ORDER}, endpoint => 'process-order',
      idempotency_key => ${key}, request_hash => ${hash}, lease_seconds => ${lease}) as r`
    .then((rows) => {
      const r = rows[0].r as Record<string, any>;
      if (r.state !== "read") return r;
      assert(r.snapshot?.order?.id === ORDER, JSON.stringify(r));
      if (r.claim === null) return { state: "read without a claim" };
      claims.set(key, r.claim);
      return { state: "new" };
    });
}

/** idempotency_finish as shared/orders/src/store/postgrest.rs calls it: the body as sent, text. */
function finish(sql: Sql, key: string, status: number, text: string, store = true) {
  return sql`select public.idempotency_finish(claim => ${claims.get(key)!}::uuid,
    response_status => ${store ? status : null}, response_text => ${text})`;
}

async function row(key: string) {
  const rows = await admin`select state, response_status, response_text from public.idempotency_keys
    where scope = 'role:service_role' and endpoint = 'process-order' and key = ${key}`;
  return rows.length ? { ...rows[0] } : null;
}

sqlTest("two requests with the same key at once: the second waits, then sees it in flight", async () => {
  const key = crypto.randomUUID();
  const a = await db.session("first request");
  const b = await db.session("second request");
  await a.begin(SERVICE);
  assertEquals(await begin(a.sql, key), { state: "new" });
  await b.begin(SERVICE);
  const second = b.start(begin(b.sql, key));
  await b.waitUntilBlocked(second);
  await a.commit();
  const r = await second.result;
  await b.commit();
  assert(r.ok, String(!r.ok && r.error));
  assertEquals(r.value, { state: "in_flight" });
  assertEquals(await row(key), { state: "in_flight", response_status: null, response_text: null });

  // The first finishes: the same key and body replays its response byte for byte (jsonb
  // would reorder these keys and drop the spaces), another body is refused.
  const sent = '{"order_id":7, "status":"processed", "currency":"USD", "lines":[]}';
  await a.begin(SERVICE);
  await finish(a.sql, key, 200, sent);
  await a.commit();
  await b.begin(SERVICE);
  assertEquals(await begin(b.sql, key), {
    state: "replay",
    status: 200,
    body: null,
    body_text: sent,
    refusal: null,
  });
  assertEquals(await begin(b.sql, key, "h2"), { state: "mismatch" });
  await b.commit();
});

sqlTest("two requests with the same key at once: if the first rolls back, the second runs", async () => {
  const key = crypto.randomUUID();
  const a = await db.session("first request");
  const b = await db.session("second request");
  await a.begin(SERVICE);
  assertEquals(await begin(a.sql, key), { state: "new" });
  await b.begin(SERVICE);
  const second = b.start(begin(b.sql, key));
  await b.waitUntilBlocked(second);
  await a.rollback();
  const r = await second.result;
  await b.commit();
  assert(r.ok);
  assertEquals(r.value, { state: "new" });
  assertEquals((await row(key))?.state, "in_flight");
});

sqlTest("a live lease answers in_flight; an expired one is taken over; a 5xx releases the key", async () => {
  const key = crypto.randomUUID();
  const s = await db.session("requests");
  await s.begin(SERVICE);
  assertEquals(await begin(s.sql, key), { state: "new" });
  await s.commit();
  await s.begin(SERVICE);
  assertEquals(await begin(s.sql, key), { state: "in_flight" });
  await s.commit();
  // The holder crashed: its lease ends (moved into the past rather than waited for).
  await admin`update public.idempotency_keys set locked_until = now() - interval '1 second' where key = ${key}`;
  await s.begin(SERVICE);
  assertEquals(await begin(s.sql, key), { state: "new" });
  await s.commit();
  // A transient failure is not stored: the key is released and a retry runs again.
  await s.begin(SERVICE);
  await finish(s.sql, key, 503, '{"error":"busy"}', false);
  await s.commit();
  assertEquals(await row(key), null);
  await s.begin(SERVICE);
  assertEquals(await begin(s.sql, key), { state: "new" });
  await s.commit();
});
