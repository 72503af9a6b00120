// The claim's work is linear in the pending deliveries whatever the statistics say
// (20261205000400_webhooks_claim_plan.sql). In steady state almost nothing is pending, so
// autoanalyze records webhooks.deliveries with no pending delivery; on the next burst the old
// claim's per-candidate order check, planned on that, read every earlier pending delivery for
// each candidate (a 30 s soak stalled on 6.9 s claims). Counted here in index entries and heap
// rows read (pg_stat_xact_*, this transaction's own counters), not in time.
import { assertEquals } from "../assert.ts";
import { SERVICE, sqlTest, testDatabase } from "./_db.ts";
import { dispatcherCalls } from "./_webhooks.ts";

const db = await testDatabase("webhooks_claim_stats");
const { admin } = db;
const calls = dispatcherCalls(admin);

const HISTORY = 20_000; // delivered deliveries, analyzed while nothing was pending
const ROWS = 3_000; // rows with two pending deliveries each (an insert, then an update)
const IN_FLIGHT = 1_200; // the first rows' insert deliveries, under another claim

/** Index entries and heap rows read from webhooks.deliveries in the current transaction. */
async function reads(sql: typeof admin): Promise<number> {
  const [r] = await sql`select pg_catalog.pg_stat_get_xact_tuples_returned('webhooks.deliveries'::regclass)
    + (select sum(pg_catalog.pg_stat_get_xact_tuples_returned(i.indexrelid)) from pg_catalog.pg_index i
        where i.indrelid = 'webhooks.deliveries'::regclass) as n`;
  return Number(r.n);
}

sqlTest(
  "a burst claimed on statistics taken with nothing pending: the first ready deliveries, read linearly",
  async () => {
    const [ep] = await admin`insert into webhooks.endpoints (url, dead_blocks_row) values ('fn:claim-stats', true)
    returning id`;
    await admin`insert into webhooks.events (event_type, schema_name, table_name, row_key, payload)
    select 'INSERT', 'public', 'things', 'old-' || g, '{}' from generate_series(1, ${HISTORY}) g`;
    await admin`insert into webhooks.deliveries (event_id, endpoint_id, row_key, status, attempts, finished_at)
    select v.id, ${ep.id}, v.row_key, 'delivered', 1, now() from webhooks.events v where v.row_key like 'old-%'`;
    await admin`analyze webhooks.deliveries`;
    const [st] = await admin`select coalesce(max(f), 0) as f from pg_stats s, unnest(s.most_common_freqs) f
    where s.schemaname = 'webhooks' and s.tablename = 'deliveries' and s.attname = 'status'`;
    assertEquals(Number(st.f), 1, "the statistics say every delivery is delivered");

    // The burst: each row's insert event, then each row's update event (ids in that order).
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

    // Linear: a few passes over the pending deliveries and the claimed ones' lookups (25,084 when
    // written). A lookup per candidate over the earlier pending ones reads at least
    // 100 x 1,200 = 120,000 (the claim of 20261204005110 on these statistics: 304,079).
    const bound = 6 * 2 * ROWS;
    if (read > bound) {
      throw new Error(
        `the claim read ${read} index entries and rows of webhooks.deliveries (bound ${bound})`,
      );
    }
  },
);
