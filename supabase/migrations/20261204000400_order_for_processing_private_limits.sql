-- F7: order_for_processing no longer shows a user the discount's redemption limit and count.
-- A user could read them by placing an order with a code and calling order_for_processing
-- (process-order calls it with the caller's JWT). Pricing needs the kind, amount, minimum and
-- validity window; whether the code is exhausted is decided by apply_order_processing, which
-- counts the redemption under a lock and answers discount_exhausted (422). service_role callers
-- (process-order with the service key, order-events through begin_order_event) still get
-- max_redemptions and redemptions, so they reject an exhausted code before applying.
-- shared/src/store/mod.rs reads a missing `redemptions` as 0 (`max_redemptions` as none).
-- Otherwise as in 20261121000400. Idempotent: safe to re-run.

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
