-- Trigger-based audit log on orders, order_items and products (pattern from the seed),
-- readable by service_role only. The actor is the signed-in user, or the user a function
-- acted for (set with set_config('app.actor', ..., true) inside its transaction).

create table if not exists public.audit_log (
  id bigint generated always as identity primary key,
  table_name text not null,
  record_id text not null,
  action text not null check (action in ('INSERT', 'UPDATE', 'DELETE')),
  old_data jsonb,
  new_data jsonb,
  changed_fields text[],
  actor uuid,
  actor_role text,
  created_at timestamptz not null default now()
);
create index if not exists audit_log_table_record_idx on public.audit_log (table_name, record_id);
create index if not exists audit_log_created_idx on public.audit_log (created_at);

alter table public.audit_log enable row level security;
revoke all on public.audit_log from anon, authenticated;
grant select on public.audit_log to service_role;

create or replace function public.audit_trigger() returns trigger
language plpgsql security definer set search_path = ''
as $$
declare
  old_j jsonb := case when tg_op in ('UPDATE', 'DELETE') then to_jsonb(old) end;
  new_j jsonb := case when tg_op in ('INSERT', 'UPDATE') then to_jsonb(new) end;
  changed text[];
begin
  if tg_op = 'UPDATE' then
    select array_agg(k order by k) into changed
    from jsonb_object_keys(new_j) k
    where new_j -> k is distinct from old_j -> k;
    if changed is null then
      return new; -- nothing changed: nothing to audit
    end if;
  end if;
  insert into public.audit_log (table_name, record_id, action, old_data, new_data, changed_fields,
                                actor, actor_role)
  values (tg_table_name, coalesce(new_j ->> 'id', old_j ->> 'id'), tg_op, old_j, new_j, changed,
          coalesce(nullif(current_setting('app.actor', true), '')::uuid, auth.uid()),
          coalesce(auth.role(), current_user));
  return coalesce(new, old);
end
$$;
revoke all on function public.audit_trigger() from public, anon, authenticated;

drop trigger if exists audit_orders on public.orders;
create trigger audit_orders after insert or update or delete on public.orders
  for each row execute function public.audit_trigger();
drop trigger if exists audit_order_items on public.order_items;
create trigger audit_order_items after insert or update or delete on public.order_items
  for each row execute function public.audit_trigger();
drop trigger if exists audit_products on public.products;
create trigger audit_products after insert or update or delete on public.products
  for each row execute function public.audit_trigger();
