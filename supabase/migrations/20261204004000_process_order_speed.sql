-- process-order's SQL cost (issue 10, point 8). Same rules, same parameters and answers as in
-- 20261204003200; less work per call:
--
-- - private.lock_stock_needed and private.order_payment_ttl_seconds become PL/pgSQL. As SQL
--   functions with a SET clause they are never inlined, and PostgreSQL 15 plans a non-inlined
--   SQL function's query on every call; PL/pgSQL keeps each statement's plan for the session
--   (the REST server's pooled connections), so a call costs the execution only.
-- - apply_order_processing reads the order's lines once (they were read three times: for the
--   comparison with the priced lines, for the stock needed and its update); each read of
--   order_items is an index scan on a large table but, on a small one whose statistics lag
--   (a fresh project, a benchmark), a sequential scan in the cached generic plan.
-- - Helpers: private.lock_products(ids, needed) (the one place products are locked, in
--   product id order; lock_stock_needed reads an order's needs and calls it),
--   private.stock_refusal (insufficient_stock, nothing written), private.redeem_discount (the
--   discount checks and the redemption), private.lines_differ (priced lines against the
--   order's). apply_order_processing is their composition, in the same order as before (every
--   check before any write; products locked before the discount code's row).
-- Idempotent: safe to re-run.

create schema if not exists private;

-- The products an order needs (ids: distinct, qtys: the quantity of each), locked FOR NO KEY
-- UPDATE in product id order, whatever order they are given in (no deadlock between writers of stock, no conflict
-- with the FOR KEY SHARE of foreign-key checks: see 20261204000100 F2), one row per product
-- with its stock after the lock.
create or replace function private.lock_products(ids bigint[], qtys bigint[])
returns table (product_id bigint, sku text, needed bigint, stock int)
language plpgsql volatile set search_path = ''
as $$
begin
  return query
  select p.id, p.sku, need.qty, p.stock
    from unnest(lock_products.ids, lock_products.qtys) as need(id, qty)
    join public.products p on p.id = need.id
   order by p.id
   for no key update of p;
end
$$;

-- The stock an order's lines need, one row per product, locked by lock_products (product id
-- order), with its stock after the lock.
create or replace function private.lock_stock_needed(order_id bigint)
returns table (product_id bigint, sku text, needed bigint, stock int) language plpgsql volatile set search_path = '' as $$
declare
  ids bigint[];
  qtys bigint[];
begin
  select array_agg(i.product_id order by i.first), array_agg(i.qty order by i.first) into ids, qtys
    from (select l.product_id, sum(l.quantity)::bigint as qty, min(l.id) as first from public.order_items l
           where l.order_id = lock_stock_needed.order_id group by l.product_id) i;
  return query select * from private.lock_products(ids, qtys);
end
$$;

-- The TTL in seconds: app_settings.order_payment_ttl_seconds when it is a positive integer,
-- 1800 otherwise.
create or replace function private.order_payment_ttl_seconds() returns int
language plpgsql stable set search_path = ''
as $$
declare
  v jsonb;
begin
  select s.value into v from public.app_settings s where s.key = 'order_payment_ttl_seconds';
  if jsonb_typeof(v) = 'number' and (v #>> '{}') ~ '^[0-9]{1,9}$' and (v #>> '{}')::int > 0 then
    return (v #>> '{}')::int;
  end if;
  return 1800;
end
$$;

-- Lock the products (lock_products: product id order) and answer the insufficient_stock
-- refusal naming the short lines, or null. Nothing is written.
create or replace function private.stock_refusal(ids bigint[], qtys bigint[]) returns jsonb
language plpgsql volatile set search_path = ''
as $$
declare
  short jsonb;
begin
  select jsonb_agg(jsonb_build_object('product_id', s.product_id, 'sku', s.sku,
           'requested', s.needed, 'available', s.stock) order by s.product_id)
    into short
    from private.lock_products(stock_refusal.ids, stock_refusal.qtys) s
   where s.stock < s.needed;
  return case when short is not null then jsonb_build_object('kind', 'insufficient_stock', 'lines', short) end;
end
$$;

-- Redeem a discount code for an order (the code's row locked FOR UPDATE): the refusal
-- discount_unknown, discount_exhausted or discount_customer_limit (nothing written), or null
-- with the redemption counted. A user's redemptions are counted under the code's row lock, in a
-- statement whose snapshot follows the lock, so concurrent orders of one user are counted one
-- by one (see 20261204003200).
create or replace function private.redeem_discount(o public.orders, code text) returns jsonb
language plpgsql volatile set search_path = ''
as $$
declare
  d public.discount_codes;
begin
  select * into d from public.discount_codes c where c.code = redeem_discount.code for update;
  if not found then
    return jsonb_build_object('kind', 'discount_unknown');
  end if;
  if d.max_redemptions is not null and d.redemptions >= d.max_redemptions then
    return jsonb_build_object('kind', 'discount_exhausted');
  end if;
  if d.max_redemptions_per_customer is not null and (
       select count(*) from public.orders x
        where x.user_id = o.user_id and x.redeemed_discount_code = d.code
          and x.status <> 'expired' and x.id <> o.id) >= d.max_redemptions_per_customer then
    return jsonb_build_object('kind', 'discount_customer_limit');
  end if;
  update public.discount_codes c set redemptions = c.redemptions + 1 where c.code = d.code;
  return null;
end
$$;

-- Whether priced lines (jsonb [{product_id, quantity, unit_amount, ..}]) differ from an
-- order's lines (as arrays), as multisets of (product, quantity, unit amount).
create or replace function private.lines_differ(lines jsonb, product_ids bigint[], quantities bigint[],
                                                unit_amounts bigint[]) returns boolean
language plpgsql immutable set search_path = ''
as $$
begin
  return (select coalesce(array_agg(x order by x), '{}') from (
            select array[e.product_id, e.quantity, e.unit_amount] x
              from jsonb_to_recordset(lines_differ.lines) as e(product_id bigint, quantity bigint, unit_amount bigint)) priced)
         is distinct from
         (select coalesce(array_agg(x order by x), '{}') from (
            select array[u.product_id, u.quantity, u.unit_amount] x
              from unnest(lines_differ.product_ids, lines_differ.quantities, lines_differ.unit_amounts)
                   as u(product_id, quantity, unit_amount)) current);
end
$$;

revoke all on all functions in schema private from public, anon, authenticated;
grant execute on all functions in schema private to service_role;

-- apply_order_processing: as in 20261204003200 (the checks in the same order, the same
-- refusals, nothing written on a refusal), composed of the private helpers above.
create or replace function public.apply_order_processing(
  order_id bigint, expected_status text,
  subtotal_amount bigint, discount_amount bigint, tax_amount bigint, shipping_amount bigint, total_amount bigint,
  lines jsonb, discount_code text default null, actor uuid default null,
  claim uuid default null, response_text text default null, receipt jsonb default null
) returns jsonb language plpgsql set search_path = '' as $$
declare
  l record;
  o public.orders;
  refusal jsonb;
  pids bigint[];
  qtys bigint[];
  amounts bigint[];
  need_ids bigint[];
  need_qtys bigint[];
begin
  perform set_config('app.actor', coalesce(actor::text, ''), true);
  l := private.lock_order(apply_order_processing.order_id, expected_status);
  o := l.locked;
  refusal := l.refusal;
  <<checks>>
  begin
    exit checks when refusal is not null;

    -- The order's lines, read once (they cannot change while the order is locked: see
    -- guard_order_items in 20261204000100): compared with the priced ones, then what each
    -- product needs (in the lines' order; lock_products locks in product id order).
    select array_agg(i.product_id order by i.id), array_agg(i.quantity::bigint order by i.id),
           array_agg(i.unit_amount::bigint order by i.id)
      into pids, qtys, amounts
      from public.order_items i where i.order_id = o.id;
    if private.lines_differ(lines, pids, qtys, amounts) then
      refusal := jsonb_build_object('kind', 'order_changed');
      exit checks;
    end if;
    select array_agg(n.id order by n.first), array_agg(n.qty order by n.first) into need_ids, need_qtys
      from (select u.id, sum(u.qty)::bigint as qty, min(u.k) as first
              from unnest(pids, qtys) with ordinality as u(id, qty, k) group by u.id) n;

    refusal := private.stock_refusal(need_ids, need_qtys);
    exit checks when refusal is not null;
    if apply_order_processing.discount_code is not null then
      refusal := private.redeem_discount(o, apply_order_processing.discount_code);
      exit checks when refusal is not null;
    end if;
    update public.products p set stock = p.stock - n.qty
      from unnest(need_ids, need_qtys) as n(id, qty)
     where p.id = n.id;

    update public.orders t
       set (status, subtotal_amount, discount_amount, tax_amount, shipping_amount, total_amount,
            processed_at, payment_due_at, redeemed_discount_code)
         = ('processed', apply_order_processing.subtotal_amount, apply_order_processing.discount_amount,
            apply_order_processing.tax_amount, apply_order_processing.shipping_amount,
            apply_order_processing.total_amount, now(),
            now() + make_interval(secs => private.order_payment_ttl_seconds()), apply_order_processing.discount_code)
     where t.id = o.id;
  end checks;
  -- The event's receipt (order-events), written with the effect.
  if receipt is not null and refusal is null then
    insert into public.received_events (source, event_id, event_type, order_id, outcome, details)
    select receipt ->> 'source', receipt ->> 'event_id', receipt ->> 'event_type', o.id, 'processed',
           jsonb_build_object('total_amount', apply_order_processing.total_amount, 'currency', o.currency)
    on conflict do nothing;
  end if;
  if claim is not null then
    perform private.idempotency_settle(claim, case when refusal is null then 200 end,
                                       case when refusal is null then response_text end, refusal);
  end if;
  return jsonb_build_object('refusal', refusal);
end
$$;
revoke all on function public.apply_order_processing from public, anon, authenticated;
grant execute on function public.apply_order_processing to service_role;
