-- Live data written by the code of the schema before 20261204001000 (the typed orders
-- contract), the schema of the first release of the redesign issue. `scripts/test.sh` builds
-- a new stack database as an upgrade: the migrations before that version, this file, then the
-- newer migrations and the seed (scripts/db.sh, STACK_UPGRADE_FROM). The e2e suite then runs on
-- a database that was upgraded with orders and events in flight; tests/e2e/upgraded.test.ts
-- checks what became of them.
--
-- Ids from 900001: the seed (applied after the upgrade) uses small explicit ids, and the
-- sequences are left alone so the e2e suite's own rows never reach these.
--   900001 pending, its INSERT event still pending in the outbox: processed automatically
--          after the upgrade (the event crosses the upgrade).
--   900002 processed by the previous apply_order_processing (stock reserved by the old code);
--          its status-change event still pending.
--   900003 pending, its INSERT event dead (12 failed attempts): stays pending, never processed.

insert into auth.users (id, email) values
  ('00000000-0000-4000-8000-00000000a001', 'live-upgrade@example.com')
on conflict do nothing;

insert into public.products (id, sku, name, unit_amount, currency, stock, active) values
  (900001, 'LIVE-UPGRADE-A', 'Live upgrade product A', 1000, 'USD', 50, true),
  (900002, 'LIVE-UPGRADE-B', 'Live upgrade product B', 250, 'USD', 50, true)
on conflict do nothing;

insert into public.orders (id, user_id, currency) values
  (900001, '00000000-0000-4000-8000-00000000a001', 'USD'),
  (900002, '00000000-0000-4000-8000-00000000a001', 'USD'),
  (900003, '00000000-0000-4000-8000-00000000a001', 'USD')
on conflict do nothing;
insert into public.order_items (order_id, product_id, quantity, unit_amount) values
  (900001, 900001, 2, 0), (900001, 900002, 1, 0),
  (900002, 900001, 3, 0),
  (900003, 900002, 4, 0);

-- 900002: processed by the previous RPC, as the previous process-order called it.
set role service_role;
select public.apply_order_processing(
  order_id => 900002, expected_status => 'pending', subtotal_amount => 3000, discount_amount => 0,
  tax_amount => 0, shipping_amount => 599, total_amount => 3599,
  lines => '[{"product_id": 900001, "quantity": 3, "unit_amount": 1000}]'::jsonb);
reset role;

-- 900003: its event failed for good.
update public.event_outbox
set status = 'dead', attempts = 12, last_error = 'HTTP 500: live data before the upgrade'
where order_id = 900003;
