-- Payments from a Stripe-compatible provider (the payment-webhook function).
--
-- webhook_events: every verified event id, once per provider. The row is written in the SAME
-- transaction as the event's effect, so a redelivered event finds it and changes nothing.
-- payment_exceptions: events that could not be applied (amount or currency mismatch, order in
-- the wrong status, partial refund, missing or unknown order) for a person to look at. The
-- provider still gets a 2xx: retrying would never make these events applicable.
-- Idempotent: safe to re-run. Both tables are service_role only (RLS on, no policies).

create table if not exists public.webhook_events (
  provider text not null,            -- 'stripe'
  event_id text not null,            -- the provider's event id (evt_...): the dedup key
  type text not null,                -- the provider's event type, e.g. payment_intent.succeeded
  order_id bigint,                   -- the order the event named, if it named one
  object_id text,                    -- the provider object (pi_..., ch_...), for tracing
  -- Set before the inserting transaction commits; null is never visible to other sessions.
  outcome text check (outcome in ('paid', 'refunded', 'exception', 'ignored')),
  received_at timestamptz not null default now(),
  constraint webhook_events_pkey primary key (provider, event_id)
);
create index if not exists webhook_events_order_id_idx on public.webhook_events (order_id);

create table if not exists public.payment_exceptions (
  id bigint generated always as identity primary key,
  provider text not null,
  event_id text not null,
  event_type text not null,
  -- The order the event named. No foreign key: an event naming an unknown order is recorded too.
  order_id bigint,
  reason text not null check (reason in (
    'missing_order_id',   -- metadata.order_id absent or not a positive integer
    'order_not_found',    -- no such order
    'invalid_amount',     -- the event's amount (or currency) is absent or not an integer
    'amount_mismatch',    -- the event's amount differs from the order's total_amount
    'currency_mismatch',  -- the event's currency differs from the order's currency
    'status_conflict',    -- the order is not in a status the event may move it from
    'partial_refund'      -- charge.refunded for less than the charge
  )),
  expected_status text,  -- the status the transition was decided on, if one was decided
  order_status text,     -- the order's status when the event was handled
  amount bigint,         -- what the event says (minor units), refunds: amount_refunded
  currency text,         -- what the event says, upper-cased
  order_amount bigint,   -- the order's total_amount when the event was handled
  order_currency text,
  details jsonb not null default '{}'::jsonb,
  created_at timestamptz not null default now(),
  constraint payment_exceptions_event_key unique (provider, event_id),
  constraint payment_exceptions_event_fkey foreign key (provider, event_id)
    references public.webhook_events (provider, event_id) on delete cascade
);
create index if not exists payment_exceptions_order_id_idx on public.payment_exceptions (order_id);

alter table public.webhook_events enable row level security;
alter table public.payment_exceptions enable row level security;
revoke all on public.webhook_events, public.payment_exceptions from anon, authenticated;
grant all on public.webhook_events, public.payment_exceptions to service_role;

comment on table public.webhook_events is
  'Verified webhook events, one row per (provider, event_id), written in the transaction of the event''s effect: a redelivery changes nothing.';
comment on table public.payment_exceptions is
  'Payment events that were recorded but not applied (mismatch, wrong status, partial refund, unknown order); the order is unchanged.';

-- apply_payment_event: record one verified provider event and its effect, all or nothing.
-- service_role only.
--
-- 1. Insert (provider, event_id) into webhook_events; if it is already there the event is a
--    duplicate: answer {"duplicate": true, "outcome": "duplicate", "first_outcome": ..} and do
--    nothing else. (A concurrent delivery of the same event waits on the unique index and then
--    sees the duplicate.)
-- 2. to_status set (the Rust state machine allowed expected_status -> to_status): lock the
--    order and re-check it against the row: still in expected_status, same total_amount and
--    currency. All true: the order becomes to_status. Otherwise: a payment_exceptions row.
-- 3. exception_reason set (Rust decided the event cannot apply): a payment_exceptions row.
-- 4. Neither: the event is recorded as ignored.
-- Answers {"duplicate": false, "outcome": "paid"|"refunded"|"exception"|"ignored",
--          "reason": .. | null, "order_status": .. | null}.
-- Nullable parameters have defaults: callers leave them out rather than sending JSON null.
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
begin
  if apply_payment_event.to_status is not null then
    -- The only transitions a payment provider drives (a bug in the caller, not a race).
    if apply_payment_event.exception_reason is not null
       or not ((apply_payment_event.to_status = 'paid' and apply_payment_event.expected_status = 'processed')
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
  'Record a verified payment event once (webhook_events) and apply its order transition or record a payment exception, in one transaction. service_role only.';
