-- Local development seed: a few products, a demo user with a pending order, pricing tables.
-- Applied once on a new database (make start on a fresh stack, make reset).

insert into auth.users (id, email) values
  ('00000000-0000-4000-8000-000000000001', 'demo@example.com'),
  ('00000000-0000-4000-8000-000000000002', 'other@example.com')
on conflict do nothing;

insert into public.products (id, sku, name, unit_amount, currency, stock, active) values
  (1, 'TSHIRT-BLK-M', 'T-shirt, black, M', 1999, 'USD', 100, true),
  (2, 'MUG-WHT', 'Mug, white', 1250, 'USD', 50, true),
  (3, 'STICKER-PACK', 'Sticker pack', 499, 'USD', 1000, true),
  (4, 'TENUGUI', 'Tenugui towel', 1800, 'JPY', 20, true),
  (5, 'DATES-1KG', 'Dates, 1 kg', 4250, 'KWD', 10, true),
  (6, 'OLD-HOODIE', 'Hoodie (discontinued)', 4999, 'USD', 5, false)
on conflict do nothing;
select setval(pg_get_serial_sequence('public.products', 'id'), (select max(id) from public.products));

insert into public.tax_rates (region, rate_bp) values
  ('US-CA', 725), ('US-NY', 400), ('DE', 1900), ('JP', 1000), ('KW', 0)
on conflict do nothing;

insert into public.shipping_rates (currency, flat_amount, free_over_amount) values
  ('USD', 599, 10000), ('EUR', 499, 8000), ('JPY', 800, 10000), ('KWD', 1500, null)
on conflict do nothing;

insert into public.discount_codes (code, percent_bp, fixed_amount, fixed_currency, min_subtotal_amount,
                                   valid_from, valid_until, max_redemptions) values
  ('WELCOME10', 1000, null, null, 0, null, null, null),
  ('FIVEOFF', null, 500, 'USD', 2000, null, null, 100)
on conflict do nothing;

-- The demo user's pending order, shipped to US-CA: 2 x T-shirt + 1 x Mug = 52.48 USD,
-- tax 7.25 % = 3.80, shipping 5.99: total 62.27 USD.
insert into public.orders (id, user_id, currency, shipping_region) values
  (1, '00000000-0000-4000-8000-000000000001', 'USD', 'US-CA')
on conflict do nothing;
insert into public.order_items (order_id, product_id, quantity, unit_amount)
select 1, 1, 2, 0 where not exists (select 1 from public.order_items where order_id = 1);
insert into public.order_items (order_id, product_id, quantity, unit_amount)
select 1, 2, 1, 0 where not exists (select 1 from public.order_items where order_id = 1 and product_id = 2);
select setval(pg_get_serial_sequence('public.orders', 'id'), (select max(id) from public.orders));

-- The demo order stays pending for the README's explicit process-order call: its INSERT event's
-- delivery to fn:order-events (the orders subscription of the database webhooks) is marked
-- delivered here, so automatic processing (order-events) leaves it alone. Orders placed after
-- the seed are processed automatically (app_settings.auto_process_orders).
update webhooks.deliveries d set status = 'delivered', finished_at = now()
  from webhooks.events v, webhooks.endpoints e
 where v.id = d.event_id and e.id = d.endpoint_id and e.url = 'fn:order-events'
   and v.schema_name = 'public' and v.table_name = 'orders' and v.row_key = '[1]'
   and d.status = 'pending';
