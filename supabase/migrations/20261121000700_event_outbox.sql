-- Signed, reliable database webhooks: a transactional outbox on orders.
--
-- Stock Supabase database webhooks call pg_net from the trigger: unsigned, at most once (an
-- unlogged queue, no retries, events lost on bulk writes). Here the trigger only writes a row
-- to event_outbox in the writing transaction, so an event exists if and only if its change
-- committed, however many rows one statement writes. The dispatch-events function claims
-- rows, POSTs each to its target function signed as Standard Webhooks and records the
-- outcome: delivered, retried with exponential backoff and jitter, or dead after the last
-- attempt (requeue_dead_events puts dead rows back). order-events receives them.
--
-- Delivery is at least once; receivers deduplicate on webhook-id (received_events).
-- Ordering: the events of one order are delivered in the order they were created. An event
-- is claimable only when every earlier event of its order is delivered or claimed in the same
-- batch (the dispatcher then delivers them one after the other). A dead event therefore blocks
-- the later events of its order until it is requeued: order is never violated.
--
-- Idempotent: safe to re-run. Every table: RLS on, no policies, service_role only.

-- Settings read at run time --------------------------------------------------------------------
create table if not exists public.app_settings (
  key text primary key,
  value jsonb not null,
  updated_at timestamptz not null default now()
);
comment on table public.app_settings is
  'Run-time switches read by functions. auto_process_orders (true/false): order-events processes new orders.';
insert into public.app_settings (key, value) values ('auto_process_orders', 'true'::jsonb)
  on conflict (key) do nothing;

-- The outbox ------------------------------------------------------------------------------------
create table if not exists public.event_outbox (
  id bigint generated always as identity primary key,
  -- The Standard Webhooks `webhook-id`: the same on every attempt, the receiver's dedup key.
  event_id text not null unique default ('evt_' || replace(gen_random_uuid()::text, '-', '')),
  -- Events with the same order_id are delivered in id order (null: no ordering constraint).
  order_id bigint,
  -- The function the event is POSTed to: {SUPABASE_URL}/functions/v1/{target}.
  target text not null check (target ~ '^[A-Za-z0-9_-]{1,64}$'),
  -- Supabase database-webhook shape: {type, table, schema, record, old_record}.
  payload jsonb not null,
  status text not null default 'pending' check (status in ('pending', 'delivered', 'dead')),
  -- Attempts started (counted when claimed; a released claim gives its attempt back).
  attempts int not null default 0 check (attempts >= 0),
  -- Retry policy of this row (see shared/src/events/retry.rs): attempt n failing waits
  -- min(backoff_base_ms * 2^(n-1), 1 h) +/- 10 %; after max_attempts the row is dead.
  max_attempts int not null default 12 check (max_attempts between 1 and 100),
  backoff_base_ms int not null default 2000 check (backoff_base_ms between 1 and 3600000),
  next_attempt_at timestamptz not null default now(),
  -- A claim: the rows of one dispatcher batch; invisible to other claims until claimed_until.
  claimed_until timestamptz,
  claim_token uuid,
  last_error text,
  created_at timestamptz not null default now(),
  delivered_at timestamptz
);
-- Claim candidates in id order, and the next due retry (partial: delivered rows, the bulk of
-- the table, are never scanned by the dispatcher).
create index if not exists event_outbox_pending_id_idx on public.event_outbox (id)
  where status = 'pending';
create index if not exists event_outbox_pending_due_idx on public.event_outbox (next_attempt_at)
  where status = 'pending';
-- "Is an earlier event of this order still undelivered?"
create index if not exists event_outbox_order_undelivered_idx on public.event_outbox (order_id, id)
  where status <> 'delivered';
create index if not exists event_outbox_dead_idx on public.event_outbox (id) where status = 'dead';
create index if not exists event_outbox_delivered_at_idx on public.event_outbox (delivered_at)
  where status = 'delivered';

comment on table public.event_outbox is
  'Database webhook events written by triggers in the writing transaction; delivered signed, at least once, in order per order_id, by dispatch-events.';

-- Receipts of order-events: one row per delivered webhook-id (dedup) and its outcome.
-- Kept apart from the payment helper's webhook_events, whose outcome values are payment ones.
create table if not exists public.received_events (
  source text not null,        -- 'event_outbox' (signed) or 'db_webhook' (stock, unsigned)
  event_id text not null,      -- webhook-id, or sha256:<hex of the body> for stock webhooks
  event_type text not null,    -- INSERT | UPDATE | DELETE
  order_id bigint,
  outcome text not null,
  details jsonb,
  received_at timestamptz not null default now(),
  primary key (source, event_id)
);
create index if not exists received_events_order_id_idx on public.received_events (order_id);
comment on table public.received_events is
  'Webhook ids order-events has acted on, with the outcome; written with (or after) the effect, so a redelivery changes nothing.';

-- One fulfillment per paid order, created by order-events.
create table if not exists public.fulfillments (
  id bigint generated always as identity primary key,
  order_id bigint not null references public.orders on delete cascade,
  status text not null default 'queued'
    check (status in ('queued', 'picking', 'shipped', 'delivered', 'cancelled')),
  source_event_id text,        -- the webhook-id that created it
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  constraint fulfillments_order_id_key unique (order_id)
);
drop trigger if exists fulfillments_touch_updated_at on public.fulfillments;
create trigger fulfillments_touch_updated_at before update on public.fulfillments
  for each row execute function public.touch_updated_at();

alter table public.app_settings enable row level security;
alter table public.event_outbox enable row level security;
alter table public.received_events enable row level security;
alter table public.fulfillments enable row level security;
revoke all on public.app_settings, public.event_outbox, public.received_events, public.fulfillments
  from anon, authenticated;
grant all on public.app_settings, public.event_outbox, public.received_events, public.fulfillments
  to service_role;

-- The trigger -----------------------------------------------------------------------------------
-- enqueue_outbox_event(target): one outbox row per changed row, in the same transaction, and a
-- NOTIFY on channel event_outbox (delivered to listeners only after commit; identical
-- notifications of one transaction are folded into one, so a bulk insert wakes the scheduler
-- once). No network call here. SECURITY DEFINER: the writer (a signed-in user through
-- place_order or REST) has no right on event_outbox.
create or replace function public.enqueue_outbox_event() returns trigger
language plpgsql security definer set search_path = ''
as $$
declare
  rec jsonb := case when tg_op in ('INSERT', 'UPDATE') then to_jsonb(new) end;
  old_rec jsonb := case when tg_op in ('UPDATE', 'DELETE') then to_jsonb(old) end;
begin
  insert into public.event_outbox (order_id, target, payload, created_at)
  values ((coalesce(rec, old_rec) ->> 'id')::bigint, tg_argv[0],
          jsonb_build_object('type', tg_op, 'table', tg_table_name, 'schema', tg_table_schema,
                             'record', rec, 'old_record', old_rec),
          clock_timestamp());
  perform pg_notify('event_outbox', tg_argv[0]);
  return null;
end
$$;
revoke all on function public.enqueue_outbox_event() from public, anon, authenticated;

drop trigger if exists orders_outbox_insert on public.orders;
create trigger orders_outbox_insert after insert on public.orders
  for each row execute function public.enqueue_outbox_event('order-events');
drop trigger if exists orders_outbox_status on public.orders;
create trigger orders_outbox_status after update of status on public.orders
  for each row when (old.status is distinct from new.status)
  execute function public.enqueue_outbox_event('order-events');

-- Dispatcher RPCs (service_role only) -----------------------------------------------------------

-- claim_outbox_events: claim up to batch_size due events for visibility_seconds.
-- A row is claimable when it is pending, due, not under a live claim, and every earlier
-- undelivered event of its order is claimed in this same batch (at most max_per_order events
-- of one order per batch, in id order). FOR UPDATE SKIP LOCKED lets concurrent dispatchers
-- take disjoint rows; the check after locking drops a row whose predecessor was skipped
-- (locked by another claim), so two dispatchers never hold events of one order out of order.
-- A row with no attempt left and no live claim (its dispatcher died during the last attempt,
-- or max_attempts was lowered) becomes dead.
-- Also deletes up to 500 delivered rows older than 7 days.
-- Answers {"claim": uuid, "events": [{id, event_id, order_id, target, payload, attempts,
--          max_attempts, backoff_base_ms}], "next_due_ms": ms until the next retry | null}.
create or replace function public.claim_outbox_events(
  batch_size int default 100,
  visibility_seconds int default 60,
  max_per_order int default 4
) returns jsonb
language plpgsql set search_path = ''
as $$
declare
  token uuid := gen_random_uuid();
  locked bigint[];
  chosen bigint[];
  claimed jsonb;
  next_due bigint;
begin
  if batch_size not between 1 and 1000 or visibility_seconds not between 5 and 3600
     or max_per_order not between 1 and 100 then
    raise exception 'claim_outbox_events: batch_size 1..1000, visibility_seconds 5..3600, max_per_order 1..100'
      using errcode = '22023';
  end if;

  delete from public.event_outbox
   where id = any (array(select d.id from public.event_outbox d
                         where d.status = 'delivered' and d.delivered_at < now() - interval '7 days'
                         limit 500));

  update public.event_outbox e
     set status = 'dead', claimed_until = null, claim_token = null,
         last_error = coalesce(e.last_error || '; ', '')
                      || 'no attempt left (the last claim expired without an outcome)'
   where e.id = any (array(select x.id from public.event_outbox x
                           where x.status = 'pending' and x.attempts >= x.max_attempts
                             and (x.claimed_until is null or x.claimed_until <= now())
                           for update skip locked));

  select coalesce(array_agg(c.id), '{}') into locked from (
    select e.id from public.event_outbox e
     where e.status = 'pending' and e.next_attempt_at <= now()
       and (e.claimed_until is null or e.claimed_until <= now())
       and e.attempts < e.max_attempts
       -- (A scalar subquery with LIMIT, not NOT EXISTS: it stays a per-row index probe on
       -- (order_id, id) whatever the planner believes about the pending set's size.)
       and (select p.id from public.event_outbox p
             where p.order_id = e.order_id and p.id < e.id and p.status <> 'delivered'
               and not (p.status = 'pending' and p.next_attempt_at <= now()
                        and (p.claimed_until is null or p.claimed_until <= now()))
             limit 1) is null
     order by e.id
     limit batch_size
     for update of e skip locked
  ) c;

  -- Keep a row only if no earlier undelivered event of its order is outside this claim, and
  -- at most max_per_order rows per order.
  select coalesce(array_agg(k.id), '{}') into chosen from (
    select e.id, row_number() over (partition by e.order_id order by e.id) as n, e.order_id
      from public.event_outbox e
     where e.id = any (locked)
       and (select p.id from public.event_outbox p
             where p.order_id = e.order_id and p.id < e.id
               and p.status <> 'delivered' and p.id <> all (locked)
             limit 1) is null
  ) k
  where k.order_id is null or k.n <= max_per_order;

  with c as (
    update public.event_outbox e
       set claimed_until = now() + make_interval(secs => visibility_seconds),
           claim_token = token, attempts = e.attempts + 1
     where e.id = any (chosen)
     returning e.id, e.event_id, e.order_id, e.target, e.payload, e.attempts, e.max_attempts,
               e.backoff_base_ms
  )
  select coalesce(jsonb_agg(to_jsonb(c) order by c.id), '[]') into claimed from c;

  select (extract(epoch from min(e.next_attempt_at) - now()) * 1000)::bigint into next_due
    from public.event_outbox e where e.status = 'pending' and e.next_attempt_at > now();
  return jsonb_build_object('claim', token, 'events', claimed, 'next_due_ms', next_due);
end
$$;

-- complete_outbox_events: record what happened to the events of one claim. results:
-- [{"id", "outcome": "delivered" | "retry" | "dead" | "released", "error"?, "retry_in_ms"?}]
-- (the dispatcher decides with the shared Rust retry policy; a released row was not attempted
-- and gets its attempt back). Rows no longer under this claim are left alone.
-- Answers {"updated": n, "next_due_ms": ms until the next retry | null}.
create or replace function public.complete_outbox_events(claim uuid, results jsonb)
returns jsonb
language plpgsql set search_path = ''
as $$
declare
  n int;
  next_due bigint;
begin
  if jsonb_typeof(results) is distinct from 'array' then
    raise exception 'results must be an array' using errcode = '22023';
  end if;
  with r as (
    select (x ->> 'id')::bigint as id, x ->> 'outcome' as outcome, left(x ->> 'error', 2000) as error,
           greatest(coalesce((x ->> 'retry_in_ms')::bigint, 0), 0) as retry_in_ms
      from jsonb_array_elements(results) x
  ), u as (
    update public.event_outbox e set
        status = case r.outcome when 'delivered' then 'delivered' when 'dead' then 'dead' else 'pending' end,
        delivered_at = case when r.outcome = 'delivered' then clock_timestamp() end,
        last_error = case when r.outcome in ('retry', 'dead') then r.error else e.last_error end,
        next_attempt_at = case when r.outcome = 'retry'
                               then now() + make_interval(secs => r.retry_in_ms / 1000.0)
                               else e.next_attempt_at end,
        attempts = case when r.outcome = 'released' then greatest(e.attempts - 1, 0) else e.attempts end,
        claimed_until = null, claim_token = null
      from r
     where e.id = r.id and e.claim_token = complete_outbox_events.claim and e.status = 'pending'
       and r.outcome in ('delivered', 'retry', 'dead', 'released')
    returning e.id
  )
  select count(*) into n from u;
  select (extract(epoch from min(e.next_attempt_at) - now()) * 1000)::bigint into next_due
    from public.event_outbox e where e.status = 'pending' and e.next_attempt_at > now();
  return jsonb_build_object('updated', n, 'next_due_ms', next_due);
end
$$;

-- requeue_dead_events: dead rows (all, or those in ids) become pending, due now, with their
-- attempts reset; last_error is kept for the record. Wakes the scheduler.
-- POST /rest/v1/rpc/requeue_dead_events {"ids": [1, 2]} or {} for all. Answers {"requeued": n}.
create or replace function public.requeue_dead_events(ids bigint[] default null)
returns jsonb
language plpgsql set search_path = ''
as $$
declare
  n int;
begin
  update public.event_outbox e
     set status = 'pending', attempts = 0, next_attempt_at = now(), claimed_until = null,
         claim_token = null
   where e.status = 'dead' and (requeue_dead_events.ids is null or e.id = any (requeue_dead_events.ids));
  get diagnostics n = row_count;
  if n > 0 then
    perform pg_notify('event_outbox', 'requeue');
  end if;
  return jsonb_build_object('requeued', n);
end
$$;

-- Receiver RPCs (service_role only) ------------------------------------------------------------

-- begin_order_event: one round trip before processing a new order's event: has this event
-- been acted on, is automatic processing on, and (if both say go) the order as pricing needs it
-- (order_for_processing, as service_role). Answers {"seen", "auto_process_orders", "snapshot"}.
create or replace function public.begin_order_event(source text, event_id text, order_id bigint)
returns jsonb
language plpgsql stable set search_path = ''
as $$
declare
  seen boolean;
  auto boolean;
begin
  seen := exists (select 1 from public.received_events r
                   where r.source = begin_order_event.source and r.event_id = begin_order_event.event_id);
  auto := coalesce((select s.value not in ('false'::jsonb, '"false"'::jsonb)
                      from public.app_settings s where s.key = 'auto_process_orders'), true);
  return jsonb_build_object('seen', seen, 'auto_process_orders', auto,
    'snapshot', case when auto and not seen
                     then public.order_for_processing(begin_order_event.order_id) end);
end
$$;

-- apply_order_event_processing: apply_order_processing and, if it applied, the event's receipt
-- (outcome processed), in one transaction: the effect and its dedup record exist together or
-- not at all. Same parameters and answer as apply_order_processing, plus the event's identity.
create or replace function public.apply_order_event_processing(
  source text,
  event_id text,
  event_type text,
  order_id bigint,
  expected_status text,
  subtotal_amount bigint,
  discount_amount bigint,
  tax_amount bigint,
  shipping_amount bigint,
  total_amount bigint,
  lines jsonb,
  discount_code text default null,
  actor uuid default null
) returns jsonb
language plpgsql set search_path = ''
as $$
declare
  result jsonb;
begin
  result := public.apply_order_processing(
    order_id => apply_order_event_processing.order_id,
    expected_status => apply_order_event_processing.expected_status,
    subtotal_amount => apply_order_event_processing.subtotal_amount,
    discount_amount => apply_order_event_processing.discount_amount,
    tax_amount => apply_order_event_processing.tax_amount,
    shipping_amount => apply_order_event_processing.shipping_amount,
    total_amount => apply_order_event_processing.total_amount,
    lines => apply_order_event_processing.lines,
    discount_code => apply_order_event_processing.discount_code,
    actor => apply_order_event_processing.actor);
  if (result ->> 'ok')::boolean then
    insert into public.received_events (source, event_id, event_type, order_id, outcome, details)
    values (apply_order_event_processing.source, apply_order_event_processing.event_id,
            apply_order_event_processing.event_type, apply_order_event_processing.order_id, 'processed',
            jsonb_build_object('total_amount', apply_order_event_processing.total_amount,
                               'currency', result -> 'order' ->> 'currency'))
    on conflict do nothing;
  end if;
  return result;
end
$$;

-- record_order_event: remember an event's outcome once. Answers {"duplicate": bool}.
create or replace function public.record_order_event(
  source text,
  event_id text,
  event_type text,
  outcome text,
  order_id bigint default null,
  details jsonb default null
) returns jsonb
language plpgsql set search_path = ''
as $$
declare
  n int;
begin
  insert into public.received_events (source, event_id, event_type, order_id, outcome, details)
  values (record_order_event.source, record_order_event.event_id, record_order_event.event_type,
          record_order_event.order_id, record_order_event.outcome, record_order_event.details)
  on conflict do nothing;
  get diagnostics n = row_count;
  return jsonb_build_object('duplicate', n = 0);
end
$$;

-- fulfill_order_event: for an order that became paid, record the event and create its
-- fulfillment (status queued; one per order) in one transaction, so the receipt and the effect
-- exist together or not at all. An order no longer paid or fulfilled gets no fulfillment.
-- Answers {"duplicate": bool, "outcome": "fulfillment_created" | "fulfillment_exists" |
--          "order_not_found" | "not_paid", "order_status": ..}.
create or replace function public.fulfill_order_event(source text, event_id text, order_id bigint)
returns jsonb
language plpgsql set search_path = ''
as $$
declare
  o public.orders;
  n int;
  result text;
begin
  insert into public.received_events (source, event_id, event_type, order_id, outcome)
  values (fulfill_order_event.source, fulfill_order_event.event_id, 'UPDATE',
          fulfill_order_event.order_id, 'pending')
  on conflict do nothing;
  get diagnostics n = row_count;
  if n = 0 then
    return jsonb_build_object('duplicate', true, 'outcome', 'duplicate');
  end if;
  select * into o from public.orders t where t.id = fulfill_order_event.order_id for share;
  if not found then
    result := 'order_not_found';
  elsif o.status not in ('paid', 'fulfilled') then
    result := 'not_paid';
  else
    insert into public.fulfillments (order_id, source_event_id)
    values (o.id, fulfill_order_event.event_id)
    on conflict on constraint fulfillments_order_id_key do nothing;
    get diagnostics n = row_count;
    result := case when n = 1 then 'fulfillment_created' else 'fulfillment_exists' end;
  end if;
  update public.received_events r set outcome = result
   where r.source = fulfill_order_event.source and r.event_id = fulfill_order_event.event_id;
  return jsonb_build_object('duplicate', false, 'outcome', result, 'order_status', o.status);
end
$$;

revoke all on function public.claim_outbox_events(int, int, int) from public, anon, authenticated;
revoke all on function public.complete_outbox_events(uuid, jsonb) from public, anon, authenticated;
revoke all on function public.requeue_dead_events(bigint[]) from public, anon, authenticated;
revoke all on function public.begin_order_event(text, text, bigint) from public, anon, authenticated;
revoke all on function public.apply_order_event_processing(text, text, text, bigint, text, bigint, bigint, bigint, bigint, bigint, jsonb, text, uuid)
  from public, anon, authenticated;
revoke all on function public.record_order_event(text, text, text, text, bigint, jsonb) from public, anon, authenticated;
revoke all on function public.fulfill_order_event(text, text, bigint) from public, anon, authenticated;
grant execute on function public.claim_outbox_events(int, int, int) to service_role;
grant execute on function public.complete_outbox_events(uuid, jsonb) to service_role;
grant execute on function public.requeue_dead_events(bigint[]) to service_role;
grant execute on function public.begin_order_event(text, text, bigint) to service_role;
grant execute on function public.apply_order_event_processing(text, text, text, bigint, text, bigint, bigint, bigint, bigint, bigint, jsonb, text, uuid)
  to service_role;
grant execute on function public.record_order_event(text, text, text, text, bigint, jsonb) to service_role;
grant execute on function public.fulfill_order_event(text, text, bigint) to service_role;

-- Visibility ------------------------------------------------------------------------------------
-- One row: counts by status, events under a claim, events waiting for a retry, the age of the
-- oldest pending event and of the last delivery. security_invoker: the reader needs SELECT on
-- event_outbox, which only service_role has.
create or replace view public.event_outbox_stats with (security_invoker = true) as
select
  count(*) filter (where e.status = 'pending') as pending,
  count(*) filter (where e.status = 'pending' and e.claimed_until > now()) as in_flight,
  count(*) filter (where e.status = 'pending' and e.attempts > 0
                     and (e.claimed_until is null or e.claimed_until <= now())) as retrying,
  count(*) filter (where e.status = 'delivered') as delivered,
  count(*) filter (where e.status = 'dead') as dead,
  round(extract(epoch from now() - min(e.created_at) filter (where e.status = 'pending'))::numeric, 3)
    as oldest_pending_age_seconds,
  max(e.delivered_at) as last_delivered_at
from public.event_outbox e;
revoke all on public.event_outbox_stats from anon, authenticated;
grant select on public.event_outbox_stats to service_role;
comment on view public.event_outbox_stats is
  'Outbox health: pending / in flight / retrying / delivered / dead counts, oldest pending age. service_role only.';
