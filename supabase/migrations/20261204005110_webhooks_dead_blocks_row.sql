-- Database webhooks: blocking per endpoint, what the orders outbox guarantees per order.
--
-- webhooks.endpoints.dead_blocks_row (default false, as before: a dead delivery lets its row's
-- later deliveries go). When true, a dead delivery of that endpoint holds every later delivery
-- of the same row (row_key) to that endpoint until it is requeued (webhooks.requeue_dead: back
-- to pending with the same id, so the row's order is kept) or superseded by a later delivery of
-- the same event to that endpoint (webhooks.replay; the replayed delivery has a later id, so
-- the row's held deliveries then go before it). Rows without a key (tables without a primary
-- key) are never held. Set with webhooks.set_dead_blocks_row(id, blocks) (22023 for null, P0002
-- for an unknown endpoint).
--
-- Where it is checked: webhooks.claim_deliveries' two per-row checks (before locking, on the
-- statement's snapshot; and again after locking, on a fresh one: a delivery that another
-- session's record_attempts made dead and committed in between holds its successors in the
-- same claim). The claim of 20261204002000_webhooks.sql is webhooks.claim_deliveries_base since
-- 20261204005100_webhooks_secret_env.sql; it is replaced here with the two checks added.
-- webhooks.purge keeps a dead delivery that holds its row (retention would otherwise release
-- the row's later deliveries after 30 days; the outbox keeps dead events until requeued).

alter table webhooks.endpoints add column if not exists dead_blocks_row boolean not null default false;

-- The dead deliveries of an endpoint and row: the checks' index.
create index if not exists webhooks_deliveries_row_dead_idx on webhooks.deliveries (endpoint_id, row_key, id)
  where status = 'dead';

create or replace function webhooks.set_dead_blocks_row(id uuid, blocks boolean) returns void
language plpgsql set search_path = ''
as $$
begin
  perform webhooks.require_endpoint(set_dead_blocks_row.id);
  if blocks is null then
    raise exception 'set_dead_blocks_row: blocks must be true or false' using errcode = '22023';
  end if;
  update webhooks.endpoints e set dead_blocks_row = blocks, updated_at = now()
   where e.id = set_dead_blocks_row.id and e.dead_blocks_row is distinct from blocks;
end
$$;

-- Whether dead delivery `d` holds its row: its endpoint blocks, it has a row, and no later
-- delivery of its event to its endpoint superseded it.
create or replace function webhooks.holds_row(d webhooks.deliveries) returns boolean
language sql stable set search_path = ''
as $$
  select d.status = 'dead' and d.row_key is not null
     and exists (select 1 from webhooks.endpoints e where e.id = d.endpoint_id and e.dead_blocks_row)
     and not exists (select 1 from webhooks.deliveries q
                      where q.event_id = d.event_id and q.endpoint_id = d.endpoint_id and q.id > d.id)
$$;

-- As in 20261204002000_webhooks.sql, plus the two dead-row checks.
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

  select coalesce(array_agg(c.id), '{}') into locked from (
    select d.id from webhooks.deliveries d
      join webhooks.endpoints e on e.id = d.endpoint_id
     where d.status = 'pending' and d.next_attempt_at <= now()
       and (d.claimed_until is null or d.claimed_until <= now())
       and d.attempts < tries and e.enabled
       and (select p.id from webhooks.deliveries p
             where p.endpoint_id = d.endpoint_id and p.row_key = d.row_key and p.id < d.id
               and p.status = 'pending'
               and not (p.next_attempt_at <= now() and (p.claimed_until is null or p.claimed_until <= now()))
             limit 1) is null
       and not (e.dead_blocks_row and exists (
             select 1 from webhooks.deliveries p
              where p.endpoint_id = d.endpoint_id and p.row_key = d.row_key and p.id < d.id and p.status = 'dead'
                and webhooks.holds_row(p)))
     order by d.id
     limit batch_size
     for update of d skip locked
  ) c;

  select coalesce(array_agg(k.id), '{}') into chosen from (
    select d.id, d.row_key,
           row_number() over (partition by d.endpoint_id, d.row_key order by d.id) as n
      from webhooks.deliveries d
      join webhooks.endpoints e on e.id = d.endpoint_id
     where d.id = any (locked)
       and (select p.id from webhooks.deliveries p
             where p.endpoint_id = d.endpoint_id and p.row_key = d.row_key and p.id < d.id
               and p.status = 'pending' and p.id <> all (locked)
             limit 1) is null
       and not (e.dead_blocks_row and exists (
             select 1 from webhooks.deliveries p
              where p.endpoint_id = d.endpoint_id and p.row_key = d.row_key and p.id < d.id and p.status = 'dead'
                and webhooks.holds_row(p)))
  ) k
  where k.row_key is null or k.n <= max_per_row;

  with c as (
    update webhooks.deliveries d
       set claimed_until = now() + make_interval(secs => lease), claim_token = token,
           attempts = d.attempts + 1
     where d.id = any (chosen)
     returning d.id, d.event_id, d.endpoint_id, d.attempts, d.row_key
  )
  select coalesce(jsonb_agg(jsonb_build_object(
           'id', c.id, 'webhook_id', v.message_id, 'endpoint_id', c.endpoint_id, 'url', e.url,
           'secrets', (select coalesce(jsonb_agg(k.secret order by k.id desc), '[]')
                         from webhooks.endpoint_secrets k
                        where k.endpoint_id = c.endpoint_id and (k.expires_at is null or k.expires_at > now())),
           'payload', v.payload, 'event_type', v.event_type, 'attempt', c.attempts, 'row_key', c.row_key)
           order by c.id), '[]')
    into claimed
    from c join webhooks.events v on v.id = c.event_id join webhooks.endpoints e on e.id = c.endpoint_id;

  select (extract(epoch from min(d.next_attempt_at) - now()) * 1000)::bigint into next_due
    from webhooks.deliveries d where d.status = 'pending' and d.next_attempt_at > now();
  return jsonb_build_object('claim', token, 'deliveries', claimed, 'next_due_ms', next_due);
end
$$;

-- As in 20261204002000_webhooks.sql, keeping dead deliveries that hold their row.
create or replace function webhooks.purge(batch_size int default 10000) returns jsonb
language plpgsql set search_path = ''
as $$
declare
  cfg webhooks.config;
  n_att int;
  n_del int;
  n_ev int;
begin
  if batch_size is null or batch_size not between 1 and 1000000 then
    raise exception 'purge: batch_size 1..1000000' using errcode = '22023';
  end if;
  select * into cfg from webhooks.config;
  delete from webhooks.attempts a
   where a.id = any (array(select x.id from webhooks.attempts x
                           where x.attempted_at < now() - cfg.attempt_retention limit batch_size));
  get diagnostics n_att = row_count;
  delete from webhooks.deliveries d
   where d.id = any (array(select x.id from webhooks.deliveries x
                           where x.status <> 'pending' and x.finished_at < now() - cfg.delivery_retention
                             and not webhooks.holds_row(x)
                           limit batch_size));
  get diagnostics n_del = row_count;
  delete from webhooks.events v
   where v.id = any (array(select x.id from webhooks.events x
                           where x.created_at < now() - cfg.delivery_retention
                             and not exists (select 1 from webhooks.deliveries d where d.event_id = x.id)
                           limit batch_size));
  get diagnostics n_ev = row_count;
  return jsonb_build_object('attempts', n_att, 'deliveries', n_del, 'events', n_ev,
                            'more', greatest(n_att, n_del, n_ev) >= batch_size);
end
$$;

revoke all on function webhooks.set_dead_blocks_row(uuid, boolean) from public, anon, authenticated;
revoke all on function webhooks.holds_row(webhooks.deliveries) from public, anon, authenticated;
revoke all on function webhooks.claim_deliveries_base(int, int, int) from public, anon, authenticated;
revoke all on function webhooks.purge(int) from public, anon, authenticated;
grant execute on function webhooks.set_dead_blocks_row(uuid, boolean) to service_role;
grant execute on function webhooks.holds_row(webhooks.deliveries) to service_role;
grant execute on function webhooks.claim_deliveries_base(int, int, int) to service_role;
grant execute on function webhooks.purge(int) to service_role;
