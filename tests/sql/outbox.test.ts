// The outbox claim rules of claim_outbox_events / complete_outbox_events (20261121000700):
// per-order order, a dead event blocking its order until requeued, an expired claim coming
// back, a stale claim token changing nothing, concurrent claims never splitting an order.
import { assert, assertEquals } from "../assert.ts";
import { SERVICE, type Sql, sqlTest, testDatabase } from "./_db.ts";

const db = await testDatabase("outbox");
const { admin } = db;
let nextOrder = 1_000_000;

/** `n` pending events of one new order id (ids ascending in creation order). */
async function events(n: number): Promise<{ order: number; ids: number[] }> {
  const order = nextOrder++;
  const ids: number[] = [];
  for (let i = 0; i < n; i++) {
    const [r] = await admin`insert into public.event_outbox (order_id, target, payload)
      values (${order}, 'order-events', ${admin.json({ seq: i })}) returning id`;
    ids.push(Number(r.id));
  }
  return { order, ids };
}

type Claim = {
  claim: string;
  events: { id: number; order_id: number; attempts: number }[];
  next_due_ms: number | null;
};

async function claim(sql: Sql, batch = 100, maxPerOrder = 4): Promise<Claim> {
  const [r] = await sql`select public.claim_outbox_events(${batch}, 60, ${maxPerOrder}) as r`;
  const c = r.r as any;
  return {
    claim: c.claim,
    events: c.events.map((e: any) => ({ id: Number(e.id), order_id: Number(e.order_id), attempts: e.attempts })),
    next_due_ms: c.next_due_ms === null ? null : Number(c.next_due_ms),
  };
}

/** One claim as the dispatcher (service_role) in its own transaction. */
async function claimAsService(batch = 100, maxPerOrder = 4): Promise<Claim> {
  const s = await db.session("dispatcher");
  await s.begin(SERVICE);
  const c = await claim(s.sql, batch, maxPerOrder);
  await s.commit();
  return c;
}

async function complete(token: string, results: unknown[]): Promise<number> {
  const s = await db.session("dispatcher");
  await s.begin(SERVICE);
  const [r] = await s.sql`select public.complete_outbox_events(${token}::uuid, ${s.sql.json(results as any)}) as r`;
  await s.commit();
  return (r.r as any).updated;
}

const idsOf = (c: Claim, order: number) => c.events.filter((e) => e.order_id === order).map((e) => e.id);

async function statusOf(id: number) {
  const [r] = await admin`select status, attempts, claim_token from public.event_outbox where id = ${id}`;
  return { ...r };
}

async function clean() {
  await admin`delete from public.event_outbox`;
}

sqlTest("per-order order: a later event of an order is not claimed while an earlier one is under claim", async () => {
  await clean();
  const { order, ids: [e1, e2, e3] } = await events(3);
  const c1 = await claimAsService(100, 1);
  assertEquals(idsOf(c1, order), [e1]);
  const c2 = await claimAsService();
  assertEquals(idsOf(c2, order), []);
  assertEquals(await complete(c1.claim, [{ id: e1, outcome: "delivered" }]), 1);
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
  assertEquals(c2.events.map((e) => e.id), [p.ids[0]]);
});

sqlTest("a dead event blocks its order until it is requeued, then the order resumes in order", async () => {
  await clean();
  const { order, ids: [e1, e2] } = await events(2);
  const c1 = await claimAsService(100, 1);
  assertEquals(idsOf(c1, order), [e1]);
  assertEquals(await complete(c1.claim, [{ id: e1, outcome: "dead", error: "413" }]), 1);
  assertEquals((await statusOf(e1)).status, "dead");
  for (let i = 0; i < 2; i++) assertEquals(idsOf(await claimAsService(), order), []);
  assertEquals((await statusOf(e2)).status, "pending");

  const s = await db.session("operator");
  await s.begin(SERVICE);
  const [r] = await s.sql`select public.requeue_dead_events(${[e1]}::bigint[]) as r`;
  await s.commit();
  assertEquals(r.r, { requeued: 1 });
  const c2 = await claimAsService();
  assertEquals(idsOf(c2, order), [e1, e2]);
  assertEquals(c2.events.find((e) => e.id === e1)?.attempts, 1);
});

sqlTest("an expired claim comes back; the stale claim token then changes nothing", async () => {
  await clean();
  const { order, ids: [e1] } = await events(1);
  const c1 = await claimAsService();
  assertEquals(idsOf(c1, order), [e1]);
  // The dispatcher died: its claim expires (moved into the past rather than waited for).
  await admin`update public.event_outbox set claimed_until = now() - interval '1 second' where id = ${e1}`;
  const c2 = await claimAsService();
  assertEquals(c2.events, [{ id: e1, order_id: order, attempts: 2 }]);
  assert(c2.claim !== c1.claim);

  // The first dispatcher comes back with its outcome: nothing changes.
  assertEquals(await complete(c1.claim, [{ id: e1, outcome: "delivered" }]), 0);
  assertEquals(await statusOf(e1), { status: "pending", attempts: 2, claim_token: c2.claim });
  assertEquals(await complete(c1.claim, [{ id: e1, outcome: "dead", error: "x" }]), 0);
  assertEquals((await statusOf(e1)).status, "pending");
  // The live claim's outcome is recorded.
  assertEquals(await complete(c2.claim, [{ id: e1, outcome: "delivered" }]), 1);
  assertEquals(await statusOf(e1), { status: "delivered", attempts: 2, claim_token: null });
});

sqlTest("concurrent claims: a dispatcher never takes a later event of an order another is claiming", async () => {
  await clean();
  const { order, ids: [e1, e2] } = await events(2);
  const a = await db.session("dispatcher A");
  const b = await db.session("dispatcher B");
  await a.begin(SERVICE);
  const ca = await claim(a.sql, 1); // holds e1, not yet committed
  assertEquals(idsOf(ca, order), [e1]);
  await b.begin(SERVICE);
  const cb = await claim(b.sql); // e1 is locked (skipped); e2 must not be taken without it
  await b.commit();
  await a.commit();
  assertEquals(idsOf(cb, order), []);
  assertEquals((await statusOf(e2)).claim_token, null);
  assertEquals(await complete(ca.claim, [{ id: e1, outcome: "delivered" }]), 1);
  assertEquals(idsOf(await claimAsService(), order), [e2]);
});

sqlTest("an event waiting out its backoff is not claimed, nor are the later events of its order", async () => {
  await clean();
  const { order, ids: [e1, e2] } = await events(2);
  const other = await events(1);
  await admin`update public.event_outbox set next_attempt_at = now() + interval '30 seconds' where id = ${e1}`;
  const c1 = await claimAsService();
  assertEquals([idsOf(c1, order), idsOf(c1, other.order)], [[], other.ids]);
  assert(c1.next_due_ms !== null && c1.next_due_ms > 25_000 && c1.next_due_ms <= 30_000, `${c1.next_due_ms}`);
  assertEquals([(await statusOf(e1)).attempts, (await statusOf(e2)).attempts], [0, 0]);
  // Due: the order's events are claimed, in order.
  await admin`update public.event_outbox set next_attempt_at = now() where id = ${e1}`;
  assertEquals(idsOf(await claimAsService(), order), [e1, e2]);
});

sqlTest("a claim that expires on the event's last attempt makes it dead, and it blocks its order", async () => {
  await clean();
  const { order, ids: [e1, e2] } = await events(2);
  await admin`update public.event_outbox set max_attempts = 1 where id = ${e1}`;
  const c1 = await claimAsService(100, 1);
  assertEquals(c1.events, [{ id: e1, order_id: order, attempts: 1 }]);
  // The dispatcher died with it: the claim expires (moved into the past rather than waited for).
  await admin`update public.event_outbox set claimed_until = now() - interval '1 second' where id = ${e1}`;
  const c2 = await claimAsService();
  assertEquals(idsOf(c2, order), []);
  const [row] = await admin`select status, attempts, claim_token, last_error from public.event_outbox
    where id = ${e1}`;
  assertEquals([row.status, row.attempts, row.claim_token], ["dead", 1, null]);
  assert(/no attempt left/.test(row.last_error), row.last_error);
  assertEquals((await statusOf(e2)).status, "pending");
  // The dead claim's late outcome changes nothing.
  assertEquals(await complete(c1.claim, [{ id: e1, outcome: "delivered" }]), 0);
  assertEquals((await statusOf(e1)).status, "dead");
});

// The retry defaults live in one place: the event_outbox column defaults. The Rust constants
// (shared/outbox/src/retry.rs) are what the in-memory store and the retry tests use for a row
// written without them; they must say the same.
sqlTest(
  "the retry defaults of event_outbox are the Rust DEFAULT_MAX_ATTEMPTS and DEFAULT_BACKOFF_BASE_MS",
  async () => {
    const rust = await Deno.readTextFile(new URL("../../shared/outbox/src/retry.rs", import.meta.url));
    const constant = (name: string) =>
      Number(
        rust.match(new RegExp(`pub const ${name}: u\\d+ = ([\\d_]+);`))?.[1]
          ?.replaceAll("_", ""),
      );
    const [row] = await admin`select
      (select column_default from information_schema.columns where table_schema = 'public'
        and table_name = 'event_outbox' and column_name = 'max_attempts') as max_attempts,
      (select column_default from information_schema.columns where table_schema = 'public'
        and table_name = 'event_outbox' and column_name = 'backoff_base_ms') as backoff_base_ms`;
    assertEquals(
      [Number(row.max_attempts), Number(row.backoff_base_ms)],
      [constant("DEFAULT_MAX_ATTEMPTS"), constant("DEFAULT_BACKOFF_BASE_MS")],
    );
  },
);
