// The claim's work is linear in the pending deliveries whatever the statistics say
// (20261205000400_webhooks_claim_plan.sql). In steady state almost nothing is pending, so
// autoanalyze records webhooks.deliveries with no pending delivery; on the next burst the old
// claim's per-candidate order check, planned on that, read every earlier pending delivery for
// each candidate (a 30 s soak stalled on 6.9 s claims). Counted here in index entries and heap
// rows read (pg_stat_get_xact_tuples_returned: this transaction's own counters), not in time.
import { assertEquals } from "../assert.ts";
import { SERVICE, sqlTest, testDatabase } from "./_db.ts";
import { dispatcherCalls } from "./_webhooks.ts";

const db = await testDatabase("webhooks_claim_stats");
const { admin } = db;
const calls = dispatcherCalls(admin);

const HISTORY = 20_000; // delivered deliveries, more than when the statistics were taken
const ROWS = 3_000; // rows with two pending deliveries each (an insert, then an update)
const IN_FLIGHT = 1_200; // the first rows' insert deliveries, under another claim

/** Index entries and heap rows read from webhooks.deliveries in the current transaction. */
async function reads(sql: typeof admin): Promise<number> {
  const [r] = await sql`select pg_catalog.pg_stat_get_xact_tuples_returned('webhooks.deliveries'::regclass)
    + (select sum(pg_catalog.pg_stat_get_xact_tuples_returned(i.indexrelid)) from pg_catalog.pg_index i
        where i.indrelid = 'webhooks.deliveries'::regclass) as n`;
  return Number(r.n);
}

// No autoanalyze while this file runs: each test sets the statistics it is about.
await admin`alter table webhooks.deliveries set (autovacuum_enabled = false)`;
const [ep] = await admin`insert into webhooks.endpoints (url, dead_blocks_row) values ('fn:claim-stats', true)
  returning id`;

/** The status frequencies the planner has for webhooks.deliveries ({} when never analyzed). */
async function statusStats(): Promise<Record<string, number>> {
  const rows = await admin`select v, f from pg_stats s,
      unnest(s.most_common_vals::text::text[], s.most_common_freqs) as x(v, f)
    where s.schemaname = 'webhooks' and s.tablename = 'deliveries' and s.attname = 'status'`;
  return Object.fromEntries(rows.map((r) => [r.v, Number(r.f)]));
}

/** `n` delivered deliveries (rows old-<from>..), as a project's history. */
async function history(from: number, n: number) {
  await admin`insert into webhooks.events (event_type, schema_name, table_name, row_key, payload)
    select 'INSERT', 'public', 'things', 'old-' || g, '{}' from generate_series(${from}::int, ${from + n - 1}::int) g`;
  await admin`insert into webhooks.deliveries (event_id, endpoint_id, row_key, status, attempts, finished_at)
    select v.id, ${ep.id}, v.row_key, 'delivered', 1, now() from webhooks.events v
     where v.row_key like 'old-%' and not exists (select 1 from webhooks.deliveries d where d.event_id = v.id)`;
}

/**
 * The burst (each row's insert delivery, then each row's update delivery, the first IN_FLIGHT
 * under another claim), one claim of 100 as the dispatcher, and what it read; the burst is
 * deleted afterwards. Checks the claim's answer: the first ready deliveries in id order.
 */
async function burstClaim(): Promise<number> {
  await admin`insert into webhooks.events (event_type, schema_name, table_name, row_key, payload)
    select t, 'public', 'things', 'row-' || g, '{}'
      from generate_series(1, ${ROWS}) g, unnest(array['INSERT', 'UPDATE']) with ordinality as k(t, n)
     order by k.n, g`;
  await admin`insert into webhooks.deliveries (event_id, endpoint_id, row_key)
    select v.id, ${ep.id}, v.row_key from webhooks.events v where v.row_key like 'row-%' order by v.id`;
  await admin`update webhooks.deliveries d set claimed_until = now() + interval '5 min', attempts = 1,
      claim_token = gen_random_uuid()
    where d.id in (select x.id from webhooks.deliveries x where x.row_key like 'row-%' order by x.id limit ${IN_FLIGHT})`;
  const [p] = await admin`select count(*)::int as n from webhooks.deliveries where status = 'pending'`;
  assertEquals(p.n, 2 * ROWS);

  const s = await db.session("dispatcher");
  await s.begin(SERVICE);
  const before = await reads(s.sql);
  const claim = await calls.claim(s.sql, 100, 4);
  const read = (await reads(s.sql)) - before;
  await s.rollback();

  // The rows after the in-flight ones, their insert deliveries, in id order; no update delivery
  // (each waits for its row's insert).
  const expected = await admin`select d.id from webhooks.deliveries d join webhooks.events v on v.id = d.event_id
    where d.row_key like 'row-%' and v.event_type = 'INSERT' and d.claimed_until is null order by d.id limit 100`;
  assertEquals(claim.deliveries.map((d) => d.id), expected.map((r) => Number(r.id)));
  assertEquals(new Set(claim.deliveries.map((d) => d.row_key)).size, 100);
  await admin`delete from webhooks.events where row_key like 'row-%'`;
  return read;
}

// Linear: a few passes over the pending deliveries and the claimed ones' lookups (25,096 to
// 29,079 when written). A lookup per
// candidate over the earlier pending ones reads at least 100 x 1,200 = 120,000; a whole index
// of pending deliveries scanned per lookup, 100 x 6,000.
const BOUND = 10 * 2 * ROWS;
function linear(read: number) {
  if (read > BOUND) {
    throw new Error(`the claim read ${read} index entries and rows of webhooks.deliveries (bound ${BOUND})`);
  }
}

sqlTest("a burst claimed on a table never analyzed: the first ready deliveries, read linearly", async () => {
  assertEquals(await statusStats(), {}, "no statistics yet");
  await history(1, HISTORY);
  linear(await burstClaim());
});

sqlTest(
  "a burst claimed on statistics taken with nothing pending: the first ready deliveries, read linearly",
  async () => {
    await admin`analyze webhooks.deliveries`;
    assertEquals(await statusStats(), { delivered: 1 }, "the statistics say every delivery is delivered");
    // The claim of 20261204005110 read 304,079 here: its order check read every earlier pending
    // delivery for each candidate.
    linear(await burstClaim());
  },
);

sqlTest(
  "a burst claimed on statistics taken while the table was small: the first ready deliveries, read linearly",
  async () => {
    await admin`delete from webhooks.events where row_key like 'old-%'`;
    await history(1, 20);
    await admin`analyze webhooks.deliveries`;
    assertEquals(await statusStats(), { delivered: 1 }, "the statistics say every delivery is delivered");
    await history(21, HISTORY);
    linear(await burstClaim());
  },
);
