-- Per-customer discount limits (issue 12, point 3).
--
-- discount_codes.max_redemptions_per_customer (null: no limit): how many of one user's orders
-- may redeem the code. A user's redemptions are their orders whose processing redeemed it
-- (orders.redeemed_discount_code), except expired ones (expiry gives the redemption back; a
-- late payment that revives the order counts it again). A cancelled order keeps its redemption,
-- as for the global limit. apply_order_processing counts them while it holds the code's row
-- FOR UPDATE, so two orders of one user racing are counted one after the other: the second
-- is refused {"kind": "discount_customer_limit"} (process-order: 422 discount_rejected,
-- reason customer_limit) with nothing written.
-- Idempotent: safe to re-run.

alter table public.discount_codes add column if not exists max_redemptions_per_customer int;
alter table public.discount_codes drop constraint if exists discount_codes_max_redemptions_per_customer_check;
alter table public.discount_codes add constraint discount_codes_max_redemptions_per_customer_check
  check (max_redemptions_per_customer is null or max_redemptions_per_customer > 0);
create index if not exists orders_user_redeemed_discount_idx on public.orders (user_id, redeemed_discount_code)
  where redeemed_discount_code is not null;

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
      -- Per customer: counted under the code's row lock (taken above), in a statement whose
      -- snapshot follows the lock, so concurrent orders of one user are counted one by one.
      if d.max_redemptions_per_customer is not null and (
           select count(*) from public.orders x
            where x.user_id = o.user_id and x.redeemed_discount_code = d.code
              and x.status <> 'expired' and x.id <> o.id) >= d.max_redemptions_per_customer then
        refusal := jsonb_build_object('kind', 'discount_customer_limit');
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


