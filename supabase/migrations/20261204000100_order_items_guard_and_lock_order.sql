-- Order items change only while their order is pending (F1), and every writer locks products
-- in one order with lock modes that do not conflict with foreign-key checks (F2).
--
-- F1. The insert policy on order_items reads the order's status from the statement's snapshot:
-- while apply_order_processing holds the order (FOR UPDATE), a user's insert still sees
-- 'pending', its foreign-key check waits for the lock and then succeeds: a processed order
-- gained items that were never priced nor reserved, and cancelling it released stock that was
-- never taken. guard_order_items (BEFORE INSERT/UPDATE/DELETE, every role) locks the parent
-- order FOR SHARE, which waits for any transaction changing the order (its status updates take
-- FOR UPDATE or FOR NO KEY UPDATE), then reads the latest committed status; anything but
-- 'pending' is refused with 42501, the error the insert policy gives outside the race. So the
-- items of a processed order are exactly the ones that were priced and reserved, and
-- cancel-order (order_transition processed -> cancelled) releases exactly what was reserved.
-- The other way round (the insert first, processing second) apply_order_processing waits for
-- the inserting transaction and then answers order_changed, since its lines differ.
--
-- F2. place_order's foreign keys take FOR KEY SHARE on products in the client's item order,
-- and apply_order_processing took FOR UPDATE on them: FOR UPDATE conflicts with FOR KEY SHARE,
-- so two orders with the same products in opposite order deadlocked (40P01). Products are now
-- locked FOR NO KEY UPDATE (what an UPDATE of stock takes anyway), which does not conflict with
-- FOR KEY SHARE: foreign-key checks never wait for processing nor the other way round. Every
-- writer of stock (processing here, the stock release of order_transition's cancel) locks its
-- products in product id order before changing any, so writers cannot deadlock among
-- themselves either. (place_order keeps inserting lines in the client's order: its KEY SHARE
-- locks conflict with no stock writer, and the lines keep the order the client gave.)
-- Idempotent: safe to re-run.

create or replace function public.guard_order_items() returns trigger
language plpgsql security definer set search_path = ''
as $$
declare
  st text;
begin
  if tg_op in ('UPDATE', 'DELETE') then
    select o.status into st from public.orders o where o.id = old.order_id for share;
    -- Not found: the order itself is being deleted (the cascade of its items).
    if found and st <> 'pending' then
      raise exception 'order % is %: its items can change only while it is pending', old.order_id, st
        using errcode = '42501';
    end if;
  end if;
  if tg_op in ('INSERT', 'UPDATE') then
    select o.status into st from public.orders o where o.id = new.order_id for share;
    if found and st <> 'pending' then
      raise exception 'order % is %: items can be added only while it is pending', new.order_id, st
        using errcode = '42501';
    end if;
    -- Not found: the foreign key refuses the row (23503).
    return new;
  end if;
  return old;
end
$$;
revoke all on function public.guard_order_items() from public, anon, authenticated;

-- Named to fire before order_items_capture_price (triggers fire in name order): a refused row
-- costs no price lookup.
drop trigger if exists order_items_a_guard on public.order_items;
create trigger order_items_a_guard before insert or update or delete on public.order_items
  for each row execute function public.guard_order_items();

-- apply_order_processing: as in 20261121000400, with products locked FOR NO KEY UPDATE in
-- product id order (see F2 above).
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

  -- Lock the products in product id order (no deadlocks between writers of stock), FOR NO KEY
  -- UPDATE (no conflict with the FOR KEY SHARE of foreign-key checks), then check every line.
  -- One row per product (an order may list a product twice: locking a row this transaction
  -- already holds, while others queue on it, deadlocked under load).
  perform 1 from (select distinct i.product_id from public.order_items i where i.order_id = o.id) need
    join public.products p on p.id = need.product_id
    order by p.id
    for no key update of p;
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

-- order_transition: as in 20261121000400, with the stock release of a cancelled processed
-- order locking its products in product id order first (see F2 above).
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
    perform 1 from (select distinct i.product_id from public.order_items i where i.order_id = o.id) need
      join public.products p on p.id = need.product_id
      order by p.id
      for no key update of p;
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
