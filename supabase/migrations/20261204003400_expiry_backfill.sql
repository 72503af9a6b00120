-- Orders processed before 20261204003000 have no payment_due_at and would never expire. They
-- get a deadline of this migration's time plus the TTL (not processed_at plus the TTL: an
-- upgrade must not expire, all at once, every unpaid order the shop has, without notice).
-- Only rows still without a deadline: re-running it changes nothing. Orders redeemed a discount
-- before orders.redeemed_discount_code existed: their code is taken from orders.discount_code
-- when their discount_amount shows it was applied, so expiry gives the redemption back.
-- Idempotent: safe to re-run.

update public.orders
   set payment_due_at = now() + make_interval(secs => private.order_payment_ttl_seconds())
 where status = 'processed' and payment_due_at is null;

update public.orders o
   set redeemed_discount_code = d.code
  from public.discount_codes d
 where o.redeemed_discount_code is null and o.discount_code is not null and o.discount_amount > 0
   and o.processed_at is not null and d.code = o.discount_code
   and o.status in ('processed', 'paid', 'fulfilled', 'cancelled', 'refunded', 'partially_refunded');
