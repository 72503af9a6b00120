-- Database webhooks: automatic disabling, per endpoint. The orders flow's endpoint is never
-- disabled for failing.
--
-- webhooks.record_attempts disables an endpoint that has only failed for
-- config.auto_disable_after (5 days), and one that answered 410 Gone. Fan-out goes to enabled
-- endpoints only, so events written while an endpoint is disabled get no delivery to it. For
-- `fn:order-events` (20261205000100_orders_via_webhooks.sql) that would skip every order
-- created after a long outage of order-events until someone enabled it and replayed; the orders
-- outbox never skipped anything (events went dead and waited to be requeued).
--
-- webhooks.endpoints.auto_disable (default true: as before). When false:
--   - the failing-period rule never disables the endpoint: its failing_since keeps counting
--     (endpoint_stats shows it), its deliveries keep being retried on the schedule and then go
--     dead (requeue_dead brings them back), and new events keep getting deliveries;
--   - 410 Gone: the delivery is dead as before; a `fn:` endpoint (a function of this project)
--     stays enabled, an `http(s)://` endpoint is still disabled. A 410 from our own function is
--     a bug in it, not a request to stop: disabling would skip events, the very thing this
--     switch prevents. An external receiver's 410 is Standard Webhooks' "stop sending to this
--     URL" (the URL is gone; sending on achieves nothing), so it is honoured whatever the
--     switch says.
-- An operator's webhooks.disable_endpoint disables it as ever.
-- Set with webhooks.set_auto_disable(id, auto_disable) (P0002 for an unknown endpoint, 22023 for
-- a null flag; nothing changed then). Every existing fn:order-events endpoint gets false here.
--
-- How, without a second copy of record_attempts' body: a BEFORE UPDATE trigger on
-- webhooks.endpoints skips (returns null for) an update that turns `enabled` off when it is one
-- of record_attempts' two automatic disables (private.webhooks_auto_disabling: the reason it
-- writes, and what it is written for: the period really over, or a 410 the endpoint's latest
-- attempt) and private.webhooks_may_auto_disable says no. A skipped update is not found, so
-- record_attempts does not list the endpoint under "disabled". Any other disable
-- (disable_endpoint with its own reason, the admin function) goes through. (Not a SET clause on
-- record_attempts marking "inside record_attempts": a custom setting in a function's SET
-- clause needs a superuser in PostgreSQL 15, which `postgres` is not on hosted Supabase.)
-- A later CREATE OR REPLACE of webhooks.record_attempts must keep its two disable reasons
-- ('the endpoint answered 410 Gone'; 'every try failed since <failing_since, UTC, ISO 8601>');
-- tests/sql/webhooks_auto_disable.test.ts fails otherwise.
-- Idempotent: safe to re-run.

alter table webhooks.endpoints add column if not exists auto_disable boolean not null default true;
comment on column webhooks.endpoints.auto_disable is
  'false: never disabled for failing (config.auto_disable_after), and a fn: endpoint not for 410 Gone either (20261205000110).';

-- Which automatic disable by record_attempts `e` (the row an update would write) is: 'gone'
-- (410 Gone), 'failing' (failing for config.auto_disable_after), or null (none: an operator's).
create or replace function private.webhooks_auto_disabling(e webhooks.endpoints) returns text
language sql stable set search_path = ''
as $$
  select case
    when e.disabled_reason = 'the endpoint answered 410 Gone'
         and (select a.http_status from webhooks.attempts a where a.endpoint_id = e.id
               order by a.id desc limit 1) = 410
      then 'gone'
    when e.failing_since <= now() - (select c.auto_disable_after from webhooks.config c)
         and e.disabled_reason = 'every try failed since '
                                 || to_char(e.failing_since at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')
      then 'failing'
  end
$$;

-- The rule: whether record_attempts may disable `e` automatically, for `why` ('gone', 'failing').
create or replace function private.webhooks_may_auto_disable(e webhooks.endpoints, why text) returns boolean
language sql immutable set search_path = ''
as $$
  select e.auto_disable or (why = 'gone' and e.url !~ '^fn:')
$$;

create or replace function private.webhooks_keep_enabled() returns trigger
language plpgsql set search_path = ''
as $$
declare
  why text := private.webhooks_auto_disabling(new);
begin
  if why is not null and not private.webhooks_may_auto_disable(new, why) then
    return null;
  end if;
  return new;
end
$$;

drop trigger if exists webhooks_keep_enabled on webhooks.endpoints;
create trigger webhooks_keep_enabled before update of enabled on webhooks.endpoints
  for each row when (old.enabled and not new.enabled and not new.auto_disable)
  execute function private.webhooks_keep_enabled();

create or replace function webhooks.set_auto_disable(id uuid, auto_disable boolean) returns void
language plpgsql set search_path = ''
as $$
begin
  perform webhooks.require_endpoint(set_auto_disable.id);
  if set_auto_disable.auto_disable is null then
    raise exception 'set_auto_disable: auto_disable must be true or false' using errcode = '22023';
  end if;
  update webhooks.endpoints e set auto_disable = set_auto_disable.auto_disable, updated_at = now()
   where e.id = set_auto_disable.id and e.auto_disable is distinct from set_auto_disable.auto_disable;
end
$$;

-- The orders flow: never disabled automatically. One that is disabled already (by an operator,
-- or for failing before this migration) is left so, with a warning: events written meanwhile
-- have no delivery to it.
do $$
declare
  ep record;
begin
  update webhooks.endpoints e set auto_disable = false, updated_at = now()
   where e.url = 'fn:order-events' and e.auto_disable;
  for ep in select e.id, e.disabled_at, e.disabled_reason from webhooks.endpoints e
             where e.url = 'fn:order-events' and not e.enabled order by e.id loop
    raise warning 'fn:order-events endpoint % is disabled (%, since %): orders changed since then have no delivery; select webhooks.enable_endpoint(''%''), then webhooks.replay(''%'', ''%'')',
      ep.id, ep.disabled_reason, ep.disabled_at, ep.id, ep.id, ep.disabled_at;
  end loop;
end
$$;

revoke all on function private.webhooks_auto_disabling(webhooks.endpoints) from public, anon, authenticated;
revoke all on function private.webhooks_may_auto_disable(webhooks.endpoints, text) from public, anon, authenticated;
revoke all on function private.webhooks_keep_enabled() from public, anon, authenticated, service_role;
revoke all on function webhooks.set_auto_disable(uuid, boolean) from public, anon, authenticated;
grant execute on function private.webhooks_auto_disabling(webhooks.endpoints) to service_role;
grant execute on function private.webhooks_may_auto_disable(webhooks.endpoints, text) to service_role;
grant execute on function webhooks.set_auto_disable(uuid, boolean) to service_role;
