-- Database webhooks: a replay keeps a blocking endpoint's row order.
--
-- Until now webhooks.replay(id, since) added a new delivery for each event since `since` (unless
-- one was pending). On an endpoint with dead_blocks_row (20261204005110_webhooks_dead_blocks_row.sql)
-- a replayed dead delivery that held its row was superseded by the new one, which has a later id:
-- the row's held deliveries then went first and the replayed event after them, so that row's
-- events reached the endpoint out of order (what dead_blocks_row is there to prevent).
--
-- Now a dead delivery that holds its row (webhooks.holds_row) is requeued in place, as
-- webhooks.requeue_dead does it (pending, fresh tries, the same id): it goes first, then the
-- deliveries it held, in order. Every other event since `since` gets a new delivery as before
-- (none when one is pending, as the requeued ones now are). The answer counts both. An endpoint
-- without dead_blocks_row is served exactly as before (no dead delivery of it holds a row).
-- The function of 20261204002000_webhooks.sql is replaced whole (its body qualifies a parameter
-- with the function's name, so it cannot be kept under another name and called).

create or replace function webhooks.replay(id uuid, since timestamptz) returns int
language plpgsql set search_path = ''
as $$
declare
  requeued int;
  added int;
  types text[];
begin
  perform webhooks.require_endpoint(replay.id);
  if since is null then
    raise exception 'replay: since is required' using errcode = '22023';
  end if;
  select e.event_types into types from webhooks.endpoints e where e.id = replay.id;
  update webhooks.deliveries d
     set status = 'pending', attempts = 0, next_attempt_at = now(), finished_at = null,
         claimed_until = null, claim_token = null
    from webhooks.events v
   where v.id = d.event_id and d.endpoint_id = replay.id and d.status = 'dead'
     and v.created_at >= since and (types is null or v.event_type = any (types))
     and webhooks.holds_row(d)
     and not exists (select 1 from webhooks.deliveries p
                      where p.event_id = d.event_id and p.endpoint_id = d.endpoint_id and p.status = 'pending');
  get diagnostics requeued = row_count;
  insert into webhooks.deliveries (event_id, endpoint_id, row_key)
  select v.id, replay.id, v.row_key from webhooks.events v
   where v.created_at >= since and (types is null or v.event_type = any (types))
   order by v.id
  on conflict (event_id, endpoint_id) where status = 'pending' do nothing;
  get diagnostics added = row_count;
  if requeued + added > 0 then
    perform pg_notify('webhooks', '');
  end if;
  return requeued + added;
end
$$;

revoke all on function webhooks.replay(uuid, timestamptz) from public, anon, authenticated;
grant execute on function webhooks.replay(uuid, timestamptz) to service_role;
