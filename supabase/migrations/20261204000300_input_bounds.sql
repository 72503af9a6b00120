-- F6: bounds on every text a client can write, so no accepted row can make an undeliverable
-- event (order-events refuses bodies over 256 KiB; an order row is now a few hundred bytes)
-- nor store megabytes three times (order, audit_log, event_outbox).
--
-- Client-writable texts: orders.currency, orders.discount_code and orders.shipping_region
-- (place_order, and the REST insert grant on orders); the Idempotency-Key header
-- (idempotency_keys.key, 255 like shared/src/idempotency.rs). Shop-side: discount_codes.code
-- (64, so every code can be typed into an order) and tax_rates.region (64).
-- Limits: codes and regions 1..64 characters without control characters; currency three
-- upper-case letters (ISO 4217).
--
-- Constraints are added NOT VALID (no scan, new rows checked at once) and validated only if
-- no existing row breaks them; otherwise a warning names the constraint and the rows stay as
-- they are until someone fixes them and runs ALTER TABLE ... VALIDATE CONSTRAINT.
-- place_order checks the same bounds first and answers 22023 with a message naming the field.
-- Idempotent: safe to re-run.

do $$
declare
  c record;
  bad bigint;
begin
  for c in
    select * from (values
      ('orders', 'orders_currency_iso4217', $e$currency ~ '^[A-Z]{3}$'$e$),
      ('orders', 'orders_discount_code_bounds',
       $e$discount_code is null or (char_length(discount_code) between 1 and 64 and discount_code !~ '[[:cntrl:]]')$e$),
      ('orders', 'orders_shipping_region_bounds',
       $e$shipping_region is null or (char_length(shipping_region) between 1 and 64 and shipping_region !~ '[[:cntrl:]]')$e$),
      ('discount_codes', 'discount_codes_code_bounds',
       $e$char_length(code) between 1 and 64 and code !~ '[[:cntrl:]]'$e$),
      ('tax_rates', 'tax_rates_region_bounds',
       $e$char_length(region) between 1 and 64 and region !~ '[[:cntrl:]]'$e$),
      ('idempotency_keys', 'idempotency_keys_key_bounds', $e$char_length(key) between 1 and 255$e$)
    ) v(tbl, name, expr)
  loop
    if not exists (select 1 from pg_constraint
                    where conname = c.name and conrelid = format('public.%I', c.tbl)::regclass) then
      execute format('alter table public.%I add constraint %I check (%s) not valid', c.tbl, c.name, c.expr);
    end if;
    if exists (select 1 from pg_constraint
                where conname = c.name and conrelid = format('public.%I', c.tbl)::regclass and not convalidated) then
      execute format('select count(*) from public.%I where not coalesce((%s), true)', c.tbl, c.expr) into bad;
      if bad = 0 then
        execute format('alter table public.%I validate constraint %I', c.tbl, c.name);
      else
        raise warning '% rows of public.% break %: new rows are checked, existing ones are not (fix them, then VALIDATE CONSTRAINT)',
          bad, c.tbl, c.name;
      end if;
    end if;
  end loop;
end
$$;

-- place_order: as in 20261121000400, with the bounds checked first (22023 naming the field).
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
  if char_length(place_order.discount_code) > 64 or place_order.discount_code ~ '[[:cntrl:]]' then
    raise exception 'discount_code must be at most 64 characters, without control characters'
      using errcode = '22023';
  end if;
  if char_length(place_order.shipping_region) > 64 or place_order.shipping_region ~ '[[:cntrl:]]' then
    raise exception 'shipping_region must be at most 64 characters, without control characters'
      using errcode = '22023';
  end if;
  if jsonb_typeof(items) is distinct from 'array' or jsonb_array_length(items) = 0 then
    raise exception 'items must be a non-empty array' using errcode = '22023';
  end if;
  if jsonb_array_length(items) > 1000 then
    raise exception 'items: at most 1000 lines' using errcode = '22023';
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
          then format('unknown product %s', left(t.item ->> 'product_id', 40))
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
