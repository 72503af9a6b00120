-- The orders flow becomes one subscription of the database webhooks (issue 11, step 4):
-- `public.orders` -> `fn:order-events`, with no special-case trigger code left.
--
-- Before: triggers orders_outbox_insert (AFTER INSERT) and orders_outbox_status (AFTER UPDATE OF
-- status WHEN old.status IS DISTINCT FROM new.status) called public.enqueue_outbox_event(
-- 'order-events'), which wrote public.event_outbox; dispatch-events claimed and delivered it
-- (claim_outbox_events, complete_outbox_events; requeue_dead_events for dead ones).
-- After, in this one transaction, with public.orders locked so that no order change slips
-- between the old capture and the new one:
--   - webhooks.subscribe('public.orders', '{INSERT,UPDATE}', '{status}'): the same changes make
--     events (an UPDATE only when status changed), with the same payload ({type, table, schema,
--     record, old_record}, the order row as to_jsonb), row key '[<order id>]';
--   - the endpoint fn:order-events for {orders.insert,orders.update} (an existing fn:order-events
--     endpoint is reused: its event types set, enabled), signed with the function secret
--     ORDER_EVENTS_SECRET (webhooks.set_secret_env), a dead delivery holding its order's later
--     ones until requeued (webhooks.set_dead_blocks_row), as the outbox did;
--   - every undelivered order-events row of event_outbox (pending, retrying, claimed, dead) is
--     copied, in outbox id order, into webhooks.events (message_id = the outbox event_id, so
--     the webhook-id order-events deduplicates on, received_events, stays the same across the
--     upgrade; the payload and creation time as they were) and webhooks.deliveries (status,
--     attempts, next attempt, last error). A pending row keeps at least one try of the webhooks
--     schedule (attempts capped at tries - 1; the outbox allowed 12 tries, the webhooks 8 by
--     default). A claimed row (a dispatch-events call in flight) becomes a pending delivery,
--     its claim dropped, due no sooner than the claim's end (its attempt counted, as an expired
--     outbox claim's is): a late POST of that dispatcher is a duplicate order-events ignores.
--     Each copied row gets event_outbox.moved_at;
--   - the two triggers, public.enqueue_outbox_event() (unless another trigger still uses it:
--     then a warning and it stays), the dispatcher RPCs claim_outbox_events,
--     complete_outbox_events and requeue_dead_events (dispatch-events only) and, where pg_cron
--     exists, the dispatch-events job and public.invoke_dispatch_events() go;
--   - public.event_outbox stays as read-only history: service_role keeps SELECT only; rows are
--     pruned by purge_retention (delivered ones 7 days after delivery, moved ones 7 days after
--     the move; its earlier body is private.purge_retention_base, SECURITY DEFINER);
--   - public.event_outbox_stats keeps its columns and now reports fn:order-events' deliveries
--     (webhooks.deliveries), so monitoring keeps working;
--   - public.purge_retention keeps its signature; 'event_outbox' counts the history rows it
--     pruned, and 'webhooks' is webhooks.purge()'s answer (its own retention settings).
--
-- Deployed projects: run `supabase db push`, then deploy the functions (webhook-dispatch signs
-- fn:order-events with ORDER_EVENTS_SECRET, which order-events already verifies with). Until
-- webhook-dispatch runs (pg_cron job 'webhook-dispatch', 20261204002010), order events wait.
-- Idempotent: a second run changes nothing (triggers and functions dropped if they exist, the
-- endpoint reused, rows already moved are skipped).

-- The switch: one statement, so it is atomic whoever runs the file (one transaction per file, as
-- `supabase db push` and tests/sql do, or a statement at a time): orders locked first (no order
-- change between the old capture and the new one), then the outbox (no dispatch-events outcome
-- lands between the copy and the end), the old triggers out, the subscription in, the copy.
do $move$
declare
  ep uuid;
  tries int := 1 + (select cardinality(c.retry_schedule_seconds) from webhooks.config c);
  others int;
begin
  lock table public.orders in access exclusive mode;
  lock table public.event_outbox in access exclusive mode;
  alter table public.event_outbox add column if not exists moved_at timestamptz;
  comment on column public.event_outbox.moved_at is
    'When 20261205000100_orders_via_webhooks.sql copied this undelivered row into webhooks.events/deliveries (same event_id as message_id).';

  drop trigger if exists orders_outbox_insert on public.orders;
  drop trigger if exists orders_outbox_status on public.orders;
  perform webhooks.subscribe('public.orders', '{INSERT,UPDATE}', '{status}');

  -- The endpoint: the oldest fn:order-events one if there is one, else a new one.
  select e.id into ep from webhooks.endpoints e where e.url = 'fn:order-events'
   order by e.created_at, e.id limit 1;
  if ep is null then
    select c.id into ep from webhooks.create_endpoint('fn:order-events', '{orders.insert,orders.update}',
      'The orders flow (20261205000100_orders_via_webhooks.sql): new orders processed, paid orders fulfilled.') c;
  else
    update webhooks.endpoints e set event_types = '{orders.insert,orders.update}', updated_at = now()
     where e.id = ep and e.event_types is distinct from '{orders.insert,orders.update}'::text[];
    if not (select e.enabled from webhooks.endpoints e where e.id = ep) then
      raise notice 'fn:order-events endpoint % was disabled; enabled (the orders flow needs it)', ep;
      perform webhooks.enable_endpoint(ep);
    end if;
  end if;
  if (select e.secret_env from webhooks.endpoints e where e.id = ep) is distinct from 'ORDER_EVENTS_SECRET' then
    perform webhooks.set_secret_env(ep, 'ORDER_EVENTS_SECRET');
  end if;
  perform webhooks.set_dead_blocks_row(ep, true);

  -- The copy, in outbox id order (so a row's deliveries keep the order of its events). The
  -- data-modifying CTEs run to completion whether or not the final statement reads them.
  with src as (
    select o.id, o.event_id, o.order_id, o.payload, o.status, o.attempts, o.next_attempt_at,
           o.claimed_until, o.last_error, o.created_at
      from public.event_outbox o
     where o.status in ('pending', 'dead') and o.target = 'order-events' and o.moved_at is null
  ), ev as (
    insert into webhooks.events (message_id, event_type, schema_name, table_name, row_key, payload, created_at)
    select s.event_id, coalesce(s.payload ->> 'table', 'orders') || '.' || lower(coalesce(s.payload ->> 'type', 'INSERT')),
           coalesce(s.payload ->> 'schema', 'public'), coalesce(s.payload ->> 'table', 'orders'),
           case when s.order_id is not null then jsonb_build_array(s.order_id)::text end,
           s.payload, s.created_at
      from src s
     order by s.id
    on conflict (message_id) do nothing
    returning id, message_id
  ), copied as (
    insert into webhooks.deliveries (event_id, endpoint_id, row_key, status, attempts, next_attempt_at,
                                     last_error, created_at, finished_at)
    select ev.id, ep, case when s.order_id is not null then jsonb_build_array(s.order_id)::text end,
           s.status,
           case when s.status = 'pending' then least(s.attempts, tries - 1) else s.attempts end,
           case when s.status = 'pending' and s.claimed_until > s.next_attempt_at then s.claimed_until
                else s.next_attempt_at end,
           s.last_error, s.created_at,
           case when s.status = 'dead' then now() end
      from ev join src s on s.event_id = ev.message_id
     order by ev.id
  )
  update public.event_outbox o set moved_at = now() from src s where o.id = s.id;

  select count(*) into others from public.event_outbox o
   where o.status in ('pending', 'dead') and o.moved_at is null;
  if others > 0 then
    raise warning '% undelivered event_outbox rows for targets other than order-events stay in event_outbox (not moved)', others;
  end if;
  if exists (select 1 from webhooks.deliveries d where d.endpoint_id = ep and d.status = 'pending') then
    perform pg_notify('webhooks', '');
  end if;
end
$move$;

-- The old trigger function, unless something else still uses it.
do $$
declare
  users text;
begin
  if to_regprocedure('public.enqueue_outbox_event()') is null then
    return;
  end if;
  select string_agg(format('%s on %s', t.tgname, t.tgrelid::regclass), ', ') into users
    from pg_trigger t where t.tgfoid = 'public.enqueue_outbox_event()'::regprocedure;
  if users is null then
    drop function public.enqueue_outbox_event();
  else
    raise warning 'public.enqueue_outbox_event() is kept: still used by %, whose events nobody dispatches now', users;
  end if;
end
$$;

-- dispatch-events' RPCs.
drop function if exists public.claim_outbox_events(int, int, int);
drop function if exists public.complete_outbox_events(uuid, jsonb);
drop function if exists public.requeue_dead_events(bigint[]);

-- Hosted Supabase: the dispatch-events job goes (webhook-dispatch's job, 20261204002010, stays).
do $outer$
begin
  if exists (select 1 from pg_extension where extname = 'pg_cron') then
    perform cron.unschedule(j.jobid) from cron.job j where j.jobname = 'dispatch-events';
  end if;
exception
  when others then
    raise warning 'the dispatch-events pg_cron job could not be unscheduled: % (%)', sqlerrm, sqlstate;
end
$outer$;
drop function if exists public.invoke_dispatch_events();

-- event_outbox: read-only history ---------------------------------------------------------------
revoke insert, update, delete, truncate, references, trigger on public.event_outbox from service_role;
revoke all on public.event_outbox from public, anon, authenticated;
grant select on public.event_outbox to service_role;
comment on table public.event_outbox is
  'History (read-only since 20261205000100_orders_via_webhooks.sql): order events as the outbox delivered them before the orders flow became the fn:order-events subscription of the database webhooks. Undelivered rows were copied to webhooks.events/deliveries (moved_at). Pruned by purge_retention.';

-- Retention ----------------------------------------------------------------------------------------
-- purge_retention of 20261204000420_retention.sql deletes delivered event_outbox rows as its
-- caller (service_role), which may no longer write the history: it becomes
-- private.purge_retention_base, SECURITY DEFINER (it checks its arguments itself: every window
-- has a floor), and public.purge_retention (same signature and defaults, service_role only)
-- calls it, then prunes the moved rows (private.purge_outbox_moved: `outbox_delivered_after`
-- after the move) and runs webhooks.purge() (the database webhooks' own retention, its settings
-- in webhooks.config). Answers what it did, plus "webhooks": webhooks.purge()'s answer;
-- "event_outbox" counts both kinds of history rows, "more" any table's.
do $$
begin
  if (select p.prosrc from pg_proc p
       where p.oid = to_regprocedure('public.purge_retention(interval, interval, interval, interval, interval, int)'))
     not like '%purge_retention_base%' then
    drop function if exists private.purge_retention_base(interval, interval, interval, interval, interval, int);
    alter function public.purge_retention(interval, interval, interval, interval, interval, int)
      rename to purge_retention_base;
    alter function public.purge_retention_base(interval, interval, interval, interval, interval, int)
      set schema private;
  end if;
end
$$;
alter function private.purge_retention_base(interval, interval, interval, interval, interval, int) security definer;
comment on function private.purge_retention_base(interval, interval, interval, interval, interval, int) is
  'The retention of 20261204000420_retention.sql (SECURITY DEFINER since 20261205000100: it prunes the read-only event_outbox history); called by public.purge_retention.';

create or replace function private.purge_outbox_moved(after interval, batch_size int) returns int
language plpgsql security definer set search_path = ''
as $$
declare
  n int;
begin
  if after is null or after < interval '1 day' or batch_size is null or batch_size not between 1 and 1000000 then
    raise exception 'purge_outbox_moved: after at least 1 day, batch_size 1..1000000' using errcode = '22023';
  end if;
  delete from public.event_outbox e
   where e.id = any (array(select x.id from public.event_outbox x where x.moved_at < now() - after limit batch_size));
  get diagnostics n = row_count;
  return n;
end
$$;

create or replace function public.purge_retention(
  received_events_after interval default '30 days',
  webhook_events_after interval default '30 days',
  webhook_exceptions_after interval default '365 days',
  outbox_delivered_after interval default '7 days',
  audit_log_after interval default '365 days',
  batch_size int default 10000
) returns jsonb
language plpgsql set search_path = ''
as $$
declare
  done jsonb := private.purge_retention_base(received_events_after, webhook_events_after,
    webhook_exceptions_after, outbox_delivered_after, audit_log_after, batch_size);
  moved int := private.purge_outbox_moved(outbox_delivered_after, batch_size);
  hooks jsonb := webhooks.purge(batch_size);
begin
  return done || jsonb_build_object(
    'event_outbox', (done ->> 'event_outbox')::int + moved,
    'webhooks', hooks,
    'more', (done ->> 'more')::boolean or moved >= batch_size or (hooks ->> 'more')::boolean);
end
$$;
revoke all on function private.purge_retention_base(interval, interval, interval, interval, interval, int)
  from public, anon, authenticated;
revoke all on function private.purge_outbox_moved(interval, int) from public, anon, authenticated;
revoke all on function public.purge_retention(interval, interval, interval, interval, interval, int)
  from public, anon, authenticated;
grant execute on function private.purge_retention_base(interval, interval, interval, interval, interval, int)
  to service_role;
grant execute on function private.purge_outbox_moved(interval, int) to service_role;
grant execute on function public.purge_retention(interval, interval, interval, interval, interval, int)
  to service_role;
comment on function public.purge_retention(interval, interval, interval, interval, interval, int) is
  'Deletes received_events/webhook_events older than 30 days (webhook events with a payment exception: 365), expired idempotency keys, event_outbox history (delivered, or moved to the webhooks, over 7 days ago), audit_log rows over 365 days old, and runs webhooks.purge(); batched. service_role only.';

-- Visibility: the same columns as before, for fn:order-events' deliveries ------------------------
create or replace view public.event_outbox_stats with (security_invoker = true) as
select
  count(*) filter (where d.status = 'pending') as pending,
  count(*) filter (where d.status = 'pending' and d.claimed_until > now()) as in_flight,
  count(*) filter (where d.status = 'pending' and d.attempts > 0
                     and (d.claimed_until is null or d.claimed_until <= now())) as retrying,
  count(*) filter (where d.status = 'delivered') as delivered,
  count(*) filter (where d.status = 'dead') as dead,
  round(extract(epoch from now() - min(d.created_at) filter (where d.status = 'pending'))::numeric, 3)
    as oldest_pending_age_seconds,
  max(d.finished_at) filter (where d.status = 'delivered') as last_delivered_at
from webhooks.deliveries d
where d.endpoint_id in (select e.id from webhooks.endpoints e where e.url = 'fn:order-events');
revoke all on public.event_outbox_stats from public, anon, authenticated;
grant select on public.event_outbox_stats to service_role;
comment on view public.event_outbox_stats is
  'The orders flow''s health (since 20261205000100: fn:order-events deliveries in webhooks.deliveries): pending / in flight / retrying / delivered / dead counts, oldest pending age, last delivery. service_role only.';
