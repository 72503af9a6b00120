-- Tax-inclusive prices (issue 12, point 4).
--
-- tax_rates.prices_include_tax (default false): the region's prices are gross. Pricing
-- (shared/orders/src/pricing.rs) then extracts the tax from the discounted goods,
-- goods x rate / (10 000 + rate) rounded half-even (the one rule, Money::included_tax), and
-- the total is the gross goods plus shipping (the tax is not added again). order_for_processing
-- shows the flag with the rate; otherwise as in 20261204000400. An order stores its amounts as
-- priced: with included tax, total_amount = subtotal - discount + shipping and tax_amount is the
-- part of the goods that is tax.
-- Idempotent: safe to re-run.

alter table public.tax_rates add column if not exists prices_include_tax boolean not null default false;
comment on table public.tax_rates is
  'Tax rate per shipping region; applies to the discounted goods subtotal, not to shipping. prices_include_tax: the prices are gross and the tax is extracted from them.';

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
        'valid_until', extract(epoch from d.valid_until)::bigint)
        -- The redemption limit and count are the shop's business: service_role only.
        || case when auth.role() = 'service_role'
                then jsonb_build_object('max_redemptions', d.max_redemptions, 'redemptions', d.redemptions)
                else '{}'::jsonb end
      from public.discount_codes d where d.code = o.discount_code),
    'tax', (select jsonb_build_object('region', t.region, 'rate_bp', t.rate_bp,
                                      'prices_include_tax', t.prices_include_tax)
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
