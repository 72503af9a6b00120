-- Pricing inputs: discount codes, tax rates per region, shipping per currency.
-- Amounts are integer minor units; rates are basis points (1 bp = 0.01 %).

create table if not exists public.discount_codes (
  code text primary key,
  percent_bp int check (percent_bp between 1 and 10000),
  fixed_amount bigint check (fixed_amount > 0),
  fixed_currency char(3),
  min_subtotal_amount bigint not null default 0 check (min_subtotal_amount >= 0),
  valid_from timestamptz,
  valid_until timestamptz,
  max_redemptions int check (max_redemptions >= 0),
  redemptions int not null default 0 check (redemptions >= 0),
  -- Exactly one kind: a percentage, or a fixed amount in one currency.
  constraint discount_kind check (
    (percent_bp is not null and fixed_amount is null and fixed_currency is null)
    or (percent_bp is null and fixed_amount is not null and fixed_currency is not null)
  ),
  constraint discount_not_over_redeemed check (max_redemptions is null or redemptions <= max_redemptions)
);

create table if not exists public.tax_rates (
  region text primary key,
  rate_bp int not null check (rate_bp between 0 and 10000)
);
comment on table public.tax_rates is
  'Tax rate per shipping region; applies to the discounted goods subtotal, not to shipping.';

create table if not exists public.shipping_rates (
  currency char(3) primary key,
  flat_amount bigint not null check (flat_amount >= 0),
  free_over_amount bigint check (free_over_amount >= 0)
);
comment on table public.shipping_rates is
  'Flat shipping per currency; free when the discounted subtotal >= free_over_amount.';

alter table public.discount_codes enable row level security;
alter table public.tax_rates enable row level security;
alter table public.shipping_rates enable row level security;

-- Discount codes are not enumerable by clients; only service_role reads them.
revoke all on public.discount_codes, public.tax_rates, public.shipping_rates from anon, authenticated;
grant all on public.discount_codes, public.tax_rates, public.shipping_rates to service_role;
grant select on public.tax_rates, public.shipping_rates to anon, authenticated;
drop policy if exists tax_rates_read on public.tax_rates;
create policy tax_rates_read on public.tax_rates for select to anon, authenticated using (true);
drop policy if exists shipping_rates_read on public.shipping_rates;
create policy shipping_rates_read on public.shipping_rates for select to anon, authenticated using (true);
