-- Database webhooks: the claim cannot go quadratic on statistics taken while nothing was pending.
--
-- What happened (a 30 s soak with a PostgreSQL crash in it; a make bench cell at 300 orders/s):
-- webhook-dispatch's claim took 6.9 s, then 84.6 ms, against 5 to 15 ms, and 6,454 order events
-- were still pending after a 60 s drain. The cause, reproduced with auto_explain: in steady state
-- almost nothing is pending (each delivery goes within a second), so autoanalyze records
-- webhooks.deliveries with status 'pending' at a frequency near zero. On the next burst, the
-- planner estimates one pending row and, for the claim's per-candidate order check ("no earlier
-- pending delivery of the same endpoint and row"), takes webhooks_deliveries_pending_idx (id)
-- where status = 'pending' with "id < d.id" as its only index condition, instead of
-- webhooks_deliveries_row_idx (endpoint_id, row_key, id): each candidate then reads every earlier
-- pending delivery. With 6,000 pending, 2,400 of them in flight, a claim of 100 took 137 ms
-- (6 ms with fresh statistics); with tens of thousands pending, seconds. A crash makes it last:
-- PostgreSQL 15 resets the counters autovacuum triggers on in crash recovery, so the stale
-- statistics stay until enough rows change again.
--
-- The fix takes the planner's choices away; it does not move them to another index (with
-- webhooks_deliveries_pending_idx out of reach, the planner took the unique (event_id,
-- endpoint_id) index by endpoint: 1.8 s; written as joins, a nested loop re-ran one side:
-- 5.7 s). In webhooks.claim_deliveries_base:
-- - the check before locking is one pass over the pending deliveries: a window by endpoint and
--   row in id order ("every earlier pending delivery of the row claimable now");
-- - the ready ones are locked one by one by their id alone (a status condition there let the
--   planner scan an index partial on pending for each lookup), then checked on the locked row;
-- - the check after locking is one pass over the pending deliveries of the locked ones' rows
--   (an IN kept a subquery hashed once by the OR beside it);
-- - the dead-row check is webhooks.row_held, PL/pgSQL (never inlined: one probe of the dead
--   index per delivery);
-- - the claimed deliveries' events and endpoints are scalar subqueries (never a hash of every
--   event on a stale row count).
-- The claim's work is then linear in the pending deliveries whatever the statistics: 10 to 12 ms
-- for 100 out of 6,000 pending with none, stale or fresh ones (tests/sql/
-- webhooks_claim_stats.test.ts counts the rows it reads). And autoanalyze looks at the table
-- every 1,000 changed rows instead of 10 % of it.
-- Idempotent.

alter table webhooks.deliveries set (autovacuum_analyze_scale_factor = 0, autovacuum_analyze_threshold = 1000);

-- Whether a dead delivery of endpoint `endpoint` and row `row_key`, earlier than delivery `id`,
-- holds that row (the endpoint blocks its rows on a dead delivery: webhooks.holds_row). PL/pgSQL,
-- so it is never inlined into the claim's statements: one probe of
-- webhooks_deliveries_row_dead_idx per delivery, whatever the statistics.
create or replace function webhooks.row_held(endpoint uuid, row_key text, id bigint) returns boolean
language plpgsql stable set search_path = ''
as $$
begin
  return row_held.row_key is not null
     and exists (select 1 from webhooks.endpoints e where e.id = row_held.endpoint and e.dead_blocks_row)
     and exists (select 1 from webhooks.deliveries p
                  where p.endpoint_id = row_held.endpoint and p.row_key = row_held.row_key
                    and p.id < row_held.id and p.status = 'dead' and webhooks.holds_row(p));
end
$$;

-- As in 20261204005110_webhooks_dead_blocks_row.sql, with the order checks made one pass each.
create or replace function webhooks.claim_deliveries_base(batch_size int default 100, max_per_row int default 4,
                                                     lease_seconds int default null)
returns jsonb
language plpgsql set search_path = ''
as $$
declare
  token uuid := gen_random_uuid();
  cfg webhooks.config;
  tries int;
  lease int;
  locked bigint[];
  chosen bigint[];
  claimed jsonb;
  next_due bigint;
  ready bigint[];
  rid bigint;
  cand webhooks.deliveries;
begin
  select * into cfg from webhooks.config;
  tries := 1 + cardinality(cfg.retry_schedule_seconds);
  lease := coalesce(lease_seconds, cfg.lease_seconds);
  if batch_size is null or batch_size not between 1 and 1000 or max_per_row is null
     or max_per_row not between 1 and 100 or lease not between 5 and 3600 then
    raise exception 'claim_deliveries: batch_size 1..1000, max_per_row 1..100, lease_seconds 5..3600'
      using errcode = '22023';
  end if;

  update webhooks.deliveries d
     set status = 'dead', claimed_until = null, claim_token = null, finished_at = now(),
         last_error = coalesce(d.last_error || '; ', '') || 'no try left (the last claim expired without an outcome)'
   where d.id = any (array(select x.id from webhooks.deliveries x
                           where x.status = 'pending' and x.attempts >= tries
                             and (x.claimed_until is null or x.claimed_until <= now())
                           for update skip locked));

  -- Each order check is one pass over the pending deliveries by endpoint and row (a window), not
  -- a lookup per candidate: its cost is the number of pending deliveries whatever plan the
  -- statistics give. The ready ones, in id order: due and not claimed, a try left, an enabled
  -- endpoint, and every earlier pending delivery of their endpoint and row also due and not
  -- claimed (rows without a key are not ordered).
  select coalesce(array_agg(w.id order by w.id), '{}') into ready
    from (select p.id, p.row_key, p.attempts, p.endpoint_id,
                 p.next_attempt_at <= now() and (p.claimed_until is null or p.claimed_until <= now()) as due,
                 bool_and(p.next_attempt_at <= now() and (p.claimed_until is null or p.claimed_until <= now()))
                   over (partition by p.endpoint_id, p.row_key collate "C" order by p.id) as due_so_far
            from webhooks.deliveries p
           where p.status = 'pending'
          offset 0) w
   where w.due and w.attempts < tries and (w.row_key is null or w.due_so_far)
     and w.endpoint_id = any (array(select e.id from webhooks.endpoints e where e.enabled));

  -- Lock them in id order, one by one, skipping those another claim holds, until batch_size;
  -- keep those still claimable once locked (the row's latest version) and not held by a dead
  -- delivery. The lookup states the id alone: a condition on status would let the planner
  -- take an index partial on pending (scanned whole, on a stale row count) for the primary key.
  locked := '{}';
  foreach rid in array ready loop
    exit when cardinality(locked) >= batch_size;
    select * into cand from webhooks.deliveries x where x.id = rid for update skip locked;
    if found and cand.status = 'pending' and cand.next_attempt_at <= now()
       and (cand.claimed_until is null or cand.claimed_until <= now()) and cand.attempts < tries
       and not webhooks.row_held(cand.endpoint_id, cand.row_key, cand.id) then
      locked := locked || rid;
    end if;
  end loop;

  -- Of the locked ones, on a fresh snapshot: those with no earlier pending delivery of their
  -- endpoint and row outside this claim (one pass again, over the pending deliveries of the
  -- locked ones' rows: the OR keeps the IN a subquery hashed once), at most max_per_row a row, and still
  -- not held by a dead delivery (another session's record_attempts may have made one dead).
  select coalesce(array_agg(k.id order by k.id), '{}') into chosen
    from (select w.id, w.endpoint_id, w.row_key, w.n
            from (select p.id, p.endpoint_id, p.row_key,
                         bool_and(p.id = any (locked)) over (partition by p.endpoint_id, p.row_key collate "C" order by p.id) as first_of_row,
                         row_number() over (partition by p.endpoint_id, p.row_key collate "C" order by p.id) as n
                    from webhooks.deliveries p
                   where p.status = 'pending'
                     and ((p.endpoint_id, p.row_key) in (select c.endpoint_id, c.row_key from webhooks.deliveries c
                                                          where c.id = any (locked))
                          or (p.row_key is null and p.id = any (locked)))
                  offset 0) w
           where w.id = any (locked) and (w.row_key is null or (w.first_of_row and w.n <= max_per_row))
          offset 0) k
   where not webhooks.row_held(k.endpoint_id, k.row_key, k.id);

  with c as (
    update webhooks.deliveries d
       set claimed_until = now() + make_interval(secs => lease), claim_token = token,
           attempts = d.attempts + 1
     where d.id = any (chosen)
     returning d.id, d.event_id, d.endpoint_id, d.attempts, d.row_key
  )
  -- Each claimed delivery's event and endpoint by their primary keys, one row each (a scalar
  -- subquery is never turned into a join: no hash of every event on a stale row count).
  select coalesce(jsonb_agg(jsonb_build_object(
           'id', c.id, 'endpoint_id', c.endpoint_id,
           'url', (select e.url from webhooks.endpoints e where e.id = c.endpoint_id),
           'secrets', (select coalesce(jsonb_agg(k.secret order by k.id desc), '[]')
                         from webhooks.endpoint_secrets k
                        where k.endpoint_id = c.endpoint_id and (k.expires_at is null or k.expires_at > now())),
           'attempt', c.attempts, 'row_key', c.row_key)
           || (select jsonb_build_object('webhook_id', v.message_id, 'payload', v.payload, 'event_type', v.event_type)
                 from webhooks.events v where v.id = c.event_id)
           order by c.id), '[]')
    into claimed
    from c;

  select (extract(epoch from min(d.next_attempt_at) - now()) * 1000)::bigint into next_due
    from webhooks.deliveries d where d.status = 'pending' and d.next_attempt_at > now();
  return jsonb_build_object('claim', token, 'deliveries', claimed, 'next_due_ms', next_due);
end
$$;

revoke all on function webhooks.row_held(uuid, text, bigint) from public, anon, authenticated;
revoke all on function webhooks.claim_deliveries_base(int, int, int) from public, anon, authenticated;
grant execute on function webhooks.row_held(uuid, text, bigint) to service_role;
grant execute on function webhooks.claim_deliveries_base(int, int, int) to service_role;
