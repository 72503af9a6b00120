-- Order RPCs. Rust computes; the database checks the expected state and applies, in one
-- transaction. Functions that act with elevated rights are granted to service_role only.

-- place_order: one atomic call that creates a pending order and its items for the caller.
-- POST /rest/v1/rpc/place_order {"currency","items":[{"product_id","quantity"}],
--                                "discount_code"?, "shipping_region"?}
create or replace function public.place_order(
  currency text,
  items jsonb,
  discount_code text default null,
  shipping_region text default null
) returns public.orders
language plpgsql security definer set search_path = ''
as $$
declare
  uid uuid := auth.uid();
  o public.orders;
  bad text;
begin
  if uid is null then
    raise exception 'sign in to place an order' using errcode = '42501';
  end if;
  if place_order.currency is null or place_order.currency !~ '^[A-Z]{3}$' then
    raise exception 'currency must be an ISO 4217 code like "USD"' using errcode = '22023';
  end if;
  if jsonb_typeof(items) is distinct from 'array' or jsonb_array_length(items) = 0 then
    raise exception 'items must be a non-empty array' using errcode = '22023';
  end if;
  -- Every line: an integer product_id of an existing product, in the order's currency,
  -- and an integer quantity >= 1.
  select string_agg(format('line %s: %s', n, problem), '; ') into bad
  from (
    select t.n,
      case
        when jsonb_typeof(t.item -> 'product_id') is distinct from 'number'
          or jsonb_typeof(t.item -> 'quantity') is distinct from 'number'
          then 'product_id and quantity must be integers'
        when (t.item ->> 'quantity') !~ '^[0-9]+$' or (t.item ->> 'quantity')::numeric < 1
          or (t.item ->> 'quantity')::numeric > 2147483647
          then 'quantity must be an integer >= 1'
        when (t.item ->> 'product_id') !~ '^[0-9]+$' or (t.item ->> 'product_id')::numeric > 9223372036854775807
          or not exists (select 1 from public.products p where p.id = (t.item ->> 'product_id')::bigint)
          then format('unknown product %s', t.item -> 'product_id')
        when exists (select 1 from public.products p
                     where p.id = (t.item ->> 'product_id')::bigint and p.currency <> place_order.currency)
          then format('product %s is not sold in %s', t.item ->> 'product_id', place_order.currency)
      end as problem
    from jsonb_array_elements(items) with ordinality as t(item, n)
  ) checks
  where problem is not null;
  if bad is not null then
    raise exception 'invalid items: %', bad using errcode = '22023';
  end if;

  insert into public.orders (user_id, currency, discount_code, shipping_region)
  values (uid, place_order.currency, nullif(place_order.discount_code, ''), nullif(place_order.shipping_region, ''))
  returning * into o;
  insert into public.order_items (order_id, product_id, quantity, unit_amount)
  select o.id, (t.item ->> 'product_id')::bigint, (t.item ->> 'quantity')::int, 0
  from jsonb_array_elements(items) with ordinality as t(item, n)
  order by t.n;
  return o;
end
$$;
revoke all on function public.place_order(text, jsonb, text, text) from public, anon;
grant execute on function public.place_order(text, jsonb, text, text) to authenticated, service_role;

-- order_for_processing: everything pricing needs, in one round trip, as the caller sees it.
-- A user sees only their own order (someone else's reads as null, so existence does not leak).
create or replace function public.order_for_processing(order_id bigint) returns jsonb
language plpgsql stable security definer set search_path = ''
as $$
declare
  o public.orders;
begin
  select * into o from public.orders where id = order_for_processing.order_id;
  if not found then
    return null;
  end if;
  if auth.role() is distinct from 'service_role' and o.user_id is distinct from auth.uid() then
    return null;
  end if;
  return jsonb_build_object(
    'order', jsonb_build_object('id', o.id, 'user_id', o.user_id, 'status', o.status,
      'currency', o.currency, 'discount_code', o.discount_code,
      'shipping_region', o.shipping_region, 'total_amount', o.total_amount),
    'lines', coalesce((
      select jsonb_agg(jsonb_build_object(
        'product_id', i.product_id, 'sku', p.sku, 'quantity', i.quantity,
        'unit_amount', i.unit_amount, 'product_currency', p.currency,
        'product_active', p.active) order by i.id)
      from public.order_items i join public.products p on p.id = i.product_id
      where i.order_id = o.id), '[]'::jsonb),
    'discount', (
      select jsonb_build_object('code', d.code, 'percent_bp', d.percent_bp,
        'fixed_amount', d.fixed_amount, 'fixed_currency', d.fixed_currency,
        'min_subtotal_amount', d.min_subtotal_amount,
        'valid_from', extract(epoch from d.valid_from)::bigint,
        'valid_until', extract(epoch from d.valid_until)::bigint,
        'max_redemptions', d.max_redemptions, 'redemptions', d.redemptions)
      from public.discount_codes d where d.code = o.discount_code),
    'tax', (select jsonb_build_object('region', t.region, 'rate_bp', t.rate_bp)
            from public.tax_rates t where t.region = o.shipping_region),
    'shipping', (select jsonb_build_object('currency', s.currency, 'flat_amount', s.flat_amount,
                   'free_over_amount', s.free_over_amount)
                 from public.shipping_rates s where s.currency = o.currency),
    'now', extract(epoch from now())::bigint
  );
end
$$;
revoke all on function public.order_for_processing(bigint) from public, anon;
grant execute on function public.order_for_processing(bigint) to authenticated, service_role;

-- apply_order_processing: the effects of one processing, all or nothing. service_role only.
-- Checks: the order is still in expected_status and its lines are the ones that were priced
-- (optimistic concurrency), enough stock on every line, the discount still has redemptions.
-- Answers {"ok":true,"order":{..}} or {"ok":false,"reason":..,..} with nothing written.
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
  actor uuid default null
) returns jsonb
language plpgsql set search_path = ''
as $$
declare
  o public.orders;
  priced jsonb;
  current jsonb;
  short jsonb;
  d public.discount_codes;
begin
  perform set_config('app.actor', coalesce(actor::text, ''), true);
  select * into o from public.orders where id = apply_order_processing.order_id for update;
  if not found then
    return jsonb_build_object('ok', false, 'reason', 'not_found');
  end if;
  if o.status <> expected_status then
    return jsonb_build_object('ok', false, 'reason', 'status_conflict', 'current_status', o.status);
  end if;

  select coalesce(jsonb_agg(jsonb_build_array((l ->> 'product_id')::bigint, (l ->> 'quantity')::int,
           (l ->> 'unit_amount')::bigint) order by (l ->> 'product_id')::bigint,
           (l ->> 'quantity')::int, (l ->> 'unit_amount')::bigint), '[]')
    into priced from jsonb_array_elements(lines) l;
  select coalesce(jsonb_agg(jsonb_build_array(i.product_id, i.quantity, i.unit_amount)
           order by i.product_id, i.quantity, i.unit_amount), '[]')
    into current from public.order_items i where i.order_id = o.id;
  if priced <> current then
    return jsonb_build_object('ok', false, 'reason', 'order_changed');
  end if;

  -- Lock the products in id order (no deadlocks between orders), then check every line.
  perform 1 from public.products p
    where p.id in (select i.product_id from public.order_items i where i.order_id = o.id)
    order by p.id for update;
  select jsonb_agg(jsonb_build_object('product_id', p.id, 'sku', p.sku,
           'requested', need.qty, 'available', p.stock) order by p.id)
    into short
    from (select i.product_id, sum(i.quantity)::bigint qty from public.order_items i
          where i.order_id = o.id group by i.product_id) need
    join public.products p on p.id = need.product_id
    where p.stock < need.qty;
  if short is not null then
    return jsonb_build_object('ok', false, 'reason', 'insufficient_stock', 'lines', short);
  end if;

  if apply_order_processing.discount_code is not null then
    select * into d from public.discount_codes c where c.code = apply_order_processing.discount_code for update;
    if not found then
      return jsonb_build_object('ok', false, 'reason', 'discount_unknown');
    end if;
    if d.max_redemptions is not null and d.redemptions >= d.max_redemptions then
      return jsonb_build_object('ok', false, 'reason', 'discount_exhausted');
    end if;
    update public.discount_codes c set redemptions = c.redemptions + 1 where c.code = d.code;
  end if;

  update public.products p set stock = p.stock - need.qty
    from (select i.product_id, sum(i.quantity)::int qty from public.order_items i
          where i.order_id = o.id group by i.product_id) need
    where p.id = need.product_id;

  update public.orders set
      status = 'processed',
      subtotal_amount = apply_order_processing.subtotal_amount,
      discount_amount = apply_order_processing.discount_amount,
      tax_amount = apply_order_processing.tax_amount,
      shipping_amount = apply_order_processing.shipping_amount,
      total_amount = apply_order_processing.total_amount,
      processed_at = now()
    where id = o.id
    returning * into o;
  return jsonb_build_object('ok', true, 'order', to_jsonb(o));
end
$$;
revoke all on function public.apply_order_processing(bigint, text, bigint, bigint, bigint, bigint, bigint, jsonb, text, uuid)
  from public, anon, authenticated;
grant execute on function public.apply_order_processing(bigint, text, bigint, bigint, bigint, bigint, bigint, jsonb, text, uuid)
  to service_role;

-- order_transition: apply a status change that the shared Rust state machine allowed,
-- if the order is still in from_status. Cancelling a processed order releases its stock.
-- service_role only.
create or replace function public.order_transition(
  order_id bigint,
  from_status text,
  to_status text,
  actor uuid default null
) returns jsonb
language plpgsql set search_path = ''
as $$
declare
  o public.orders;
begin
  perform set_config('app.actor', coalesce(actor::text, ''), true);
  select * into o from public.orders where id = order_transition.order_id for update;
  if not found then
    return jsonb_build_object('ok', false, 'reason', 'not_found');
  end if;
  if o.status <> from_status then
    return jsonb_build_object('ok', false, 'reason', 'status_conflict', 'current_status', o.status);
  end if;
  if from_status = 'processed' and to_status = 'cancelled' then
    update public.products p set stock = p.stock + need.qty
      from (select i.product_id, sum(i.quantity)::int qty from public.order_items i
            where i.order_id = o.id group by i.product_id) need
      where p.id = need.product_id;
  end if;
  update public.orders set status = to_status where id = o.id returning * into o;
  return jsonb_build_object('ok', true, 'order', to_jsonb(o));
end
$$;
revoke all on function public.order_transition(bigint, text, text, uuid) from public, anon, authenticated;
grant execute on function public.order_transition(bigint, text, text, uuid) to service_role;
