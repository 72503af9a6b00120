-- Partial refunds (issue 12, point 2).
--
-- - orders.status gains 'partially_refunded' (state machine, shared/orders/src/order.rs:
--   paid | fulfilled -> partially_refunded -> refunded, paid | fulfilled -> refunded).
-- - public.refunds: one row per provider refund (provider, provider_refund_id unique), its
--   order, amount, currency and time, written with the event that first listed it.
-- - orders.refunded_amount: how much of the order's total has been refunded (never more).
-- - apply_payment_event takes the charge's refunds list (refunds jsonb: [{"id", "amount",
--   "currency", "created"}]) with to_status refunded or partially_refunded (Rust's reading of
--   the cumulative amount_refunded); the database decides from what it has recorded (see the
--   function). A refund beyond the total paid is a payment_exceptions row
--   'refund_exceeds_payment', nothing recorded.
-- - A full refund cancels a queued fulfillment (the trigger of 20261204000200 fires on
--   'refunded'; a partial refund leaves the fulfillment alone).
-- Idempotent: safe to re-run.

alter table public.orders drop constraint if exists orders_status_check;
alter table public.orders add constraint orders_status_check
  check (status in ('pending', 'processed', 'paid', 'fulfilled', 'cancelled', 'refunded', 'expired',
                    'partially_refunded'));
alter table public.orders add column if not exists refunded_amount bigint not null default 0;
alter table public.orders drop constraint if exists orders_refunded_amount_check;
alter table public.orders add constraint orders_refunded_amount_check
  check (refunded_amount >= 0 and refunded_amount <= coalesce(total_amount, 0));
-- Orders refunded before this migration were refunded in full (partial refunds were exceptions).
update public.orders set refunded_amount = total_amount
 where status = 'refunded' and refunded_amount = 0 and total_amount is not null;

create table if not exists public.refunds (
  id bigint generated always as identity primary key,
  provider text not null,
  provider_refund_id text not null check (length(provider_refund_id) between 1 and 255),
  order_id bigint not null references public.orders (id) on delete cascade,
  event_id text not null,            -- the event that first listed it
  amount bigint not null check (amount > 0),
  currency text not null check (currency ~ '^[A-Z]{3}$'),
  refunded_at timestamptz not null,  -- the provider's time (Stripe: created)
  created_at timestamptz not null default now(),
  constraint refunds_provider_refund_key unique (provider, provider_refund_id)
);
create index if not exists refunds_order_id_idx on public.refunds (order_id);
alter table public.refunds enable row level security;
revoke all on public.refunds from anon, authenticated;
grant all on public.refunds to service_role;
comment on table public.refunds is
  'Provider refunds, one row per refund id, recorded from charge.refunded events; their sum never exceeds the order total.';

alter table public.webhook_events drop constraint if exists webhook_events_outcome_check;
alter table public.webhook_events add constraint webhook_events_outcome_check
  check (outcome in ('paid', 'refunded', 'partially_refunded', 'exception', 'ignored'));

alter table public.payment_exceptions drop constraint if exists payment_exceptions_reason_check;
alter table public.payment_exceptions add constraint payment_exceptions_reason_check check (reason in (
  'missing_order_id', 'order_not_found', 'invalid_amount', 'amount_mismatch', 'currency_mismatch',
  'status_conflict', 'partial_refund', 'order_expired',
  'refund_exceeds_payment'  -- refunds adding up to more than the order's total
));

drop function if exists public.apply_payment_event(text, text, text, bigint, text, text, bigint, text, text, text, jsonb);

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
  details jsonb default null,
  refunds jsonb default null
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
  refunded bigint;
  new_status text;
  inserted_refunds int;
begin
  if apply_payment_event.to_status is not null then
    -- The only transitions a payment provider drives (a bug in the caller, not a race).
    if apply_payment_event.exception_reason is not null
       or not ((apply_payment_event.to_status = 'paid'
                and apply_payment_event.expected_status in ('processed', 'expired'))
            or (apply_payment_event.to_status in ('refunded', 'partially_refunded')
                and apply_payment_event.expected_status in ('paid', 'fulfilled', 'partially_refunded', 'refunded')))
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
    elsif o.status <> apply_payment_event.expected_status
          and not (apply_payment_event.to_status in ('refunded', 'partially_refunded')
                   and o.status in ('paid', 'fulfilled', 'partially_refunded', 'refunded')) then
      reason := 'status_conflict';
    elsif o.currency <> upper(apply_payment_event.currency) then
      reason := 'currency_mismatch';
    elsif apply_payment_event.to_status = 'paid' and o.total_amount is distinct from apply_payment_event.amount then
      reason := 'amount_mismatch';
    elsif apply_payment_event.to_status in ('refunded', 'partially_refunded') then
      -- A refund event (charge.refunded): amount is the charge's cumulative amount_refunded,
      -- refunds its refunds list. Each refund is recorded once (provider, refund id); the
      -- order's refunded amount is the largest of what any event said and the sum of the
      -- refunds recorded, so a redelivery or an older event arriving late changes nothing, and
      -- the status only moves forward: partially_refunded, then refunded at the total paid.
      select greatest(o.refunded_amount, apply_payment_event.amount,
                      coalesce(sum(x.amount), 0) + coalesce((
                        select sum((e ->> 'amount')::bigint) from jsonb_array_elements(coalesce(apply_payment_event.refunds, '[]')) e
                         where not exists (select 1 from public.refunds r2
                                            where r2.provider = apply_payment_event.provider and r2.provider_refund_id = e ->> 'id')), 0))
        into refunded
        from public.refunds x where x.order_id = o.id;
      if refunded > o.total_amount then
        reason := 'refund_exceeds_payment';
      else
        insert into public.refunds (provider, provider_refund_id, order_id, event_id, amount, currency, refunded_at)
        select apply_payment_event.provider, e ->> 'id', o.id, apply_payment_event.event_id,
               (e ->> 'amount')::bigint, upper(e ->> 'currency'),
               coalesce(to_timestamp((e ->> 'created')::bigint), now())
          from jsonb_array_elements(coalesce(apply_payment_event.refunds, '[]')) e
        on conflict on constraint refunds_provider_refund_key do nothing;
        get diagnostics inserted_refunds = row_count;
        new_status := case when refunded >= o.total_amount then 'refunded' else 'partially_refunded' end;
        if o.status = new_status or o.status = 'refunded' then
          result := case when inserted_refunds > 0 or refunded > o.refunded_amount then o.status else 'ignored' end;
          update public.orders t set refunded_amount = refunded where t.id = o.id and t.refunded_amount < refunded;
        else
          perform set_config('app.actor', '', true); -- audited as service_role, no user
          update public.orders t set status = new_status, refunded_amount = refunded
           where t.id = o.id returning * into o;
          result := new_status;
        end if;
      end if;
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
revoke all on function public.apply_payment_event(text, text, text, bigint, text, text, bigint, text, text, text, jsonb, jsonb)
  from public, anon, authenticated;
grant execute on function public.apply_payment_event(text, text, text, bigint, text, text, bigint, text, text, text, jsonb, jsonb)
  to service_role;
comment on function public.apply_payment_event(text, text, text, bigint, text, text, bigint, text, text, text, jsonb, jsonb) is
  'Record a verified payment event once (webhook_events) and apply it: a payment (a late one revives an expired order when its stock is there), refunds (recorded once each, partially_refunded then refunded), or a payment exception, in one transaction. service_role only.';
