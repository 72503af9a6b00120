-- Unpaid orders expire (issue 12, point 1).
--
-- - orders.status gains 'expired'. The state machine (shared/orders/src/order.rs):
--   processed -> expired (by expire_unpaid_orders only), expired -> paid (a late payment that
--   revives the order, by apply_payment_event only, when the stock is still there).
-- - app_settings.order_payment_ttl_seconds (default 1800) is read when an order is processed:
--   apply_order_processing stores orders.payment_due_at = processed_at + TTL. Changing the
--   setting later moves no existing deadline.
-- - orders.redeemed_discount_code: the code whose redemption this order's processing counted,
--   so that expiry gives back exactly that redemption (orders.discount_code is what the user
--   typed, which processing may not have redeemed).
-- - expire_unpaid_orders(batch_size): every processed order past its payment_due_at, locked
--   FOR UPDATE SKIP LOCKED (two runs never take the same order; an order a payment or a
--   cancel holds is skipped and looked at next time, when its status has changed), becomes
--   'expired' in one transaction with its stock released and its discount redemption given
--   back. The orders_outbox_status trigger emits the status change as an event and the audit
--   trigger audits it, in the same transaction.
-- - Run by pg_cron every minute where it exists; by scripts/scheduler.ts every
--   EXPIRY_INTERVAL_MS (default 1 s) otherwise.
-- Idempotent: safe to re-run.

alter table public.orders drop constraint if exists orders_status_check;
alter table public.orders add constraint orders_status_check
  check (status in ('pending', 'processed', 'paid', 'fulfilled', 'cancelled', 'refunded', 'expired'));
alter table public.orders add column if not exists payment_due_at timestamptz;
alter table public.orders add column if not exists redeemed_discount_code text;
create index if not exists orders_payment_due_idx on public.orders (payment_due_at)
  where status = 'processed';

insert into public.app_settings (key, value) values ('order_payment_ttl_seconds', '1800'::jsonb)
on conflict (key) do nothing;

-- The TTL in seconds: app_settings.order_payment_ttl_seconds when it is a positive integer,
-- 1800 otherwise.
create or replace function private.order_payment_ttl_seconds() returns int
language sql stable set search_path = ''
as $$
  select coalesce((select case when jsonb_typeof(s.value) = 'number' and (s.value #>> '{}') ~ '^[0-9]{1,9}$'
                                    and (s.value #>> '{}')::int > 0
                               then (s.value #>> '{}')::int end
                     from public.app_settings s where s.key = 'order_payment_ttl_seconds'), 1800)
$$;

-- Give back the stock an order's processing reserved (locked in product id order, updated in
-- a statement of its own: see order_transition in 20261204001000).
create or replace function private.release_stock(order_id bigint) returns void
language plpgsql set search_path = ''
as $$
declare
  ids bigint[];
  qtys bigint[];
begin
  select array_agg(s.product_id), array_agg(s.needed) into ids, qtys
    from private.lock_stock_needed(release_stock.order_id) s;
  update public.products p set stock = p.stock + n.qty
    from unnest(ids, qtys) as n(id, qty)
   where p.id = n.id;
end
$$;

revoke all on all functions in schema private from public, anon, authenticated;
grant execute on all functions in schema private to service_role;

create or replace function public.apply_order_processing(
  order_id bigint,
  expected_status text,
  subtotal_amount bigint,
  discount_amount bigint,
  tax_amount bigint,
  shipping_amount bigint,
  total_amount bigint,
  lines jsonb,
  discount_code text default null,
  actor uuid default null,
  claim uuid default null,
  response_text text default null,
  receipt jsonb default null
) returns jsonb
language plpgsql set search_path = ''
as $$
declare
  l record;
  o public.orders;
  refusal jsonb;
  short jsonb;
  ids bigint[];
  qtys bigint[];
  d public.discount_codes;
begin
  perform set_config('app.actor', coalesce(actor::text, ''), true);
  <<checks>>
  begin
    select * into l from private.lock_order(apply_order_processing.order_id, expected_status);
    o := l.locked;
    refusal := l.refusal;
    exit checks when refusal is not null;

    if (select coalesce(array_agg(x order by x), '{}') from (
          select array[(e ->> 'product_id')::bigint, (e ->> 'quantity')::bigint, (e ->> 'unit_amount')::bigint] x
            from jsonb_array_elements(lines) e) priced)
       is distinct from
       (select coalesce(array_agg(x order by x), '{}') from (
          select array[i.product_id, i.quantity::bigint, i.unit_amount::bigint] x
            from public.order_items i where i.order_id = o.id) current) then
      refusal := jsonb_build_object('kind', 'order_changed');
      exit checks;
    end if;

    select jsonb_agg(jsonb_build_object('product_id', s.product_id, 'sku', s.sku,
             'requested', s.needed, 'available', s.stock) order by s.product_id)
             filter (where s.stock < s.needed),
           array_agg(s.product_id), array_agg(s.needed)
      into short, ids, qtys
      from private.lock_stock_needed(o.id) s;
    if short is not null then
      refusal := jsonb_build_object('kind', 'insufficient_stock', 'lines', short);
      exit checks;
    end if;

    if apply_order_processing.discount_code is not null then
      select * into d from public.discount_codes c where c.code = apply_order_processing.discount_code for update;
      if not found then
        refusal := jsonb_build_object('kind', 'discount_unknown');
        exit checks;
      end if;
      if d.max_redemptions is not null and d.redemptions >= d.max_redemptions then
        refusal := jsonb_build_object('kind', 'discount_exhausted');
        exit checks;
      end if;
      update public.discount_codes c set redemptions = c.redemptions + 1 where c.code = d.code;
    end if;

    update public.products p set stock = p.stock - n.qty
      from unnest(ids, qtys) as n(id, qty)
     where p.id = n.id;

    update public.orders set
        status = 'processed',
        subtotal_amount = apply_order_processing.subtotal_amount,
        discount_amount = apply_order_processing.discount_amount,
        tax_amount = apply_order_processing.tax_amount,
        shipping_amount = apply_order_processing.shipping_amount,
        total_amount = apply_order_processing.total_amount,
        processed_at = now(),
        payment_due_at = now() + make_interval(secs => private.order_payment_ttl_seconds()),
        redeemed_discount_code = d.code
      where id = o.id;

    if receipt is not null then
      insert into public.received_events (source, event_id, event_type, order_id, outcome, details)
      values (receipt ->> 'source', receipt ->> 'event_id', receipt ->> 'event_type', o.id, 'processed',
              jsonb_build_object('total_amount', apply_order_processing.total_amount, 'currency', o.currency))
      on conflict do nothing;
    end if;
  end checks;
  perform private.idempotency_settle(claim, case when refusal is null then 200 end,
                                     case when refusal is null then response_text end, refusal);
  return jsonb_build_object('refusal', refusal);
end
$$;


-- expire_unpaid_orders: at most batch_size processed orders past their payment_due_at become
-- 'expired', each exactly once (FOR UPDATE SKIP LOCKED; the status is re-checked on the locked
-- row), with their stock and discount redemption released, in one transaction. Answers the
-- number expired. service_role only.
create or replace function public.expire_unpaid_orders(batch_size int default 100) returns int
language plpgsql set search_path = ''
as $$
declare
  o record;
  n int := 0;
begin
  if batch_size is null or batch_size not between 1 and 10000 then
    raise exception 'expire_unpaid_orders: batch_size 1..10000' using errcode = '22023';
  end if;
  perform set_config('app.actor', '', true); -- audited as the system, no user
  for o in
    select t.id, t.redeemed_discount_code from public.orders t
     where t.status = 'processed' and t.payment_due_at <= now()
     order by t.payment_due_at, t.id
     limit batch_size
     for update skip locked
  loop
    perform private.release_stock(o.id);
    if o.redeemed_discount_code is not null then
      update public.discount_codes c set redemptions = greatest(c.redemptions - 1, 0)
       where c.code = o.redeemed_discount_code;
    end if;
    update public.orders t set status = 'expired' where t.id = o.id;
    n := n + 1;
  end loop;
  return n;
end
$$;
revoke all on function public.expire_unpaid_orders(int) from public, anon, authenticated;
grant execute on function public.expire_unpaid_orders(int) to service_role;
comment on function public.expire_unpaid_orders(int) is
  'Processed orders unpaid past payment_due_at become expired (stock and discount redemption released), once each, SKIP LOCKED batches. service_role only.';

-- The late-payment rule ----------------------------------------------------------------------
-- payment_intent.succeeded for an expired order (the Rust state machine allows expired -> paid,
-- for payments only): apply_payment_event revives it when the stock allows, else records a
-- payment_exceptions row with reason 'order_expired' (refund it). Never lost either way.
alter table public.payment_exceptions drop constraint if exists payment_exceptions_reason_check;
alter table public.payment_exceptions add constraint payment_exceptions_reason_check check (reason in (
  'missing_order_id', 'order_not_found', 'invalid_amount', 'amount_mismatch', 'currency_mismatch',
  'status_conflict', 'partial_refund',
  'order_expired'       -- a payment for an expired order whose stock is gone: refund it
));

create or replace function public.apply_payment_event(
  provider text,
  event_id text,
  event_type text,
  order_id bigint default null,
  to_status text default null,
  expected_status text default null,
  amount bigint default null,
  currency text default null,
  exception_reason text default null,
  object_id text default null,
  details jsonb default null
) returns jsonb
language plpgsql set search_path = ''
as $$
declare
  o public.orders;
  inserted int;
  first_outcome text;
  reason text := apply_payment_event.exception_reason;
  result text;
  short jsonb;
  ids bigint[];
  qtys bigint[];
begin
  if apply_payment_event.to_status is not null then
    -- The only transitions a payment provider drives (a bug in the caller, not a race).
    if apply_payment_event.exception_reason is not null
       or not ((apply_payment_event.to_status = 'paid'
                and apply_payment_event.expected_status in ('processed', 'expired'))
            or (apply_payment_event.to_status = 'refunded'
                and apply_payment_event.expected_status in ('paid', 'fulfilled')))
       or apply_payment_event.amount is null or apply_payment_event.currency is null then
      raise exception 'apply_payment_event: not a payment transition (% -> %)',
        apply_payment_event.expected_status, apply_payment_event.to_status using errcode = '22023';
    end if;
  end if;

  insert into public.webhook_events (provider, event_id, type, order_id, object_id)
  values (apply_payment_event.provider, apply_payment_event.event_id, apply_payment_event.event_type,
          apply_payment_event.order_id, apply_payment_event.object_id)
  on conflict on constraint webhook_events_pkey do nothing;
  get diagnostics inserted = row_count;
  if inserted = 0 then
    select w.outcome into first_outcome from public.webhook_events w
     where w.provider = apply_payment_event.provider and w.event_id = apply_payment_event.event_id;
    return jsonb_build_object('duplicate', true, 'outcome', 'duplicate', 'first_outcome', first_outcome);
  end if;

  if apply_payment_event.order_id is not null then
    select * into o from public.orders t where t.id = apply_payment_event.order_id for update;
  end if;

  if apply_payment_event.to_status is null and reason is null then
    result := 'ignored';
  elsif reason is null then
    -- Optimistic concurrency: the decision was made on a read; the locked row decides.
    if o.id is null then
      reason := 'order_not_found';
    elsif o.status <> apply_payment_event.expected_status then
      reason := 'status_conflict';
    elsif o.currency <> upper(apply_payment_event.currency) then
      reason := 'currency_mismatch';
    elsif o.total_amount is distinct from apply_payment_event.amount then
      reason := 'amount_mismatch';
    elsif o.status = 'expired' then
      -- A late payment: the order is revived (paid) when every line's stock is still there,
      -- reserved again with its discount redemption counted again (the customer paid the
      -- discounted total; the code's limit is not re-checked). Otherwise it lands in
      -- payment_exceptions as order_expired, for a refund.
      select jsonb_agg(jsonb_build_object('product_id', s.product_id, 'sku', s.sku,
               'requested', s.needed, 'available', s.stock) order by s.product_id)
               filter (where s.stock < s.needed),
             array_agg(s.product_id), array_agg(s.needed)
        into short, ids, qtys
        from private.lock_stock_needed(o.id) s;
      if short is not null then
        reason := 'order_expired';
        details := coalesce(apply_payment_event.details, '{}'::jsonb) || jsonb_build_object('insufficient_stock', short);
      else
        perform set_config('app.actor', '', true); -- audited as service_role, no user
        update public.products p set stock = p.stock - n.qty
          from unnest(ids, qtys) as n(id, qty)
         where p.id = n.id;
        if o.redeemed_discount_code is not null then
          update public.discount_codes c set redemptions = c.redemptions + 1
           where c.code = o.redeemed_discount_code;
        end if;
        update public.orders t set status = 'paid', payment_due_at = null
         where t.id = o.id returning * into o;
        result := 'paid';
      end if;
    else
      perform set_config('app.actor', '', true); -- audited as service_role, no user
      update public.orders t set status = apply_payment_event.to_status
       where t.id = o.id returning * into o;
      result := apply_payment_event.to_status;
    end if;
  end if;

  if reason is not null then
    insert into public.payment_exceptions (provider, event_id, event_type, order_id, reason,
        expected_status, order_status, amount, currency, order_amount, order_currency, details)
    values (apply_payment_event.provider, apply_payment_event.event_id, apply_payment_event.event_type,
        apply_payment_event.order_id, reason, apply_payment_event.expected_status, o.status,
        apply_payment_event.amount, upper(apply_payment_event.currency), o.total_amount, o.currency,
        coalesce(apply_payment_event.details, '{}'::jsonb));
    result := 'exception';
  end if;

  update public.webhook_events w set outcome = result
   where w.provider = apply_payment_event.provider and w.event_id = apply_payment_event.event_id;
  return jsonb_build_object('duplicate', false, 'outcome', result, 'reason', reason,
                            'order_status', o.status);
end
$$;
revoke all on function public.apply_payment_event(text, text, text, bigint, text, text, bigint, text, text, text, jsonb)
  from public, anon, authenticated;
grant execute on function public.apply_payment_event(text, text, text, bigint, text, text, bigint, text, text, text, jsonb)
  to service_role;
comment on function public.apply_payment_event(text, text, text, bigint, text, text, bigint, text, text, text, jsonb) is
  'Record a verified payment event once (webhook_events) and apply its order transition (a late payment revives an expired order when its stock is there) or record a payment exception, in one transaction. service_role only.';

-- Hosted Supabase: every minute with pg_cron. Elsewhere a notice, and scripts/scheduler.ts calls it.
do $outer$
begin
  if not exists (select 1 from pg_available_extensions where name = 'pg_cron') then
    raise notice 'pg_cron is not available: expire_unpaid_orders is not scheduled here (scripts/scheduler.ts calls it)';
    return;
  end if;
  create extension if not exists pg_cron;
  perform cron.unschedule(j.jobid) from cron.job j where j.jobname = 'expire-unpaid-orders';
  perform cron.schedule('expire-unpaid-orders', '* * * * *', 'select public.expire_unpaid_orders(1000)');
exception
  when others then
    raise warning 'expire_unpaid_orders could not be scheduled with pg_cron: % (%)', sqlerrm, sqlstate;
end
$outer$;
