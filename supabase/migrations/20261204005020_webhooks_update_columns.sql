-- Database webhooks: capture an UPDATE only when one of chosen columns changed.
--
-- webhooks.subscribe(source, events default '{INSERT,UPDATE,DELETE}', update_columns text[]
-- default null): with update_columns, an UPDATE makes an event only if one of those columns is
-- distinct from before (e.g. '{status}': status changes, not every touch of the row; what the
-- orders outbox captures). Done by PostgreSQL before the trigger function runs: the UPDATE goes
-- to a second trigger, webhooks_capture_update, `AFTER UPDATE OF <columns> ... WHEN (old.<c> IS
-- DISTINCT FROM new.<c> OR ...)`; INSERT and DELETE stay on webhooks_capture. Both run the
-- same webhooks.capture(<key columns>). Columns must be columns of the table (22023 otherwise,
-- nothing changed), and UPDATE one of the events. Without update_columns, as before (a second
-- subscribe without them removes the filter). webhooks.subscriptions.update_columns shows it,
-- and the answer has "update_columns" when they were given.
--
-- The functions of 20261204002000_webhooks.sql stay as webhooks.subscribe_base and
-- webhooks.unsubscribe_base (their bodies name no function-qualified parameter, so a rename
-- keeps them working); the new ones call them.

alter table webhooks.subscriptions add column if not exists update_columns text[];

do $$
begin
  if to_regprocedure('webhooks.subscribe(regclass, text[])') is not null then
    drop function if exists webhooks.subscribe_base(regclass, text[]);
    alter function webhooks.subscribe(regclass, text[]) rename to subscribe_base;
  end if;
  if (select p.prosrc from pg_proc p where p.oid = 'webhooks.unsubscribe(regclass)'::regprocedure)
     not like '%unsubscribe_base%' then
    drop function if exists webhooks.unsubscribe_base(regclass);
    alter function webhooks.unsubscribe(regclass) rename to unsubscribe_base;
  end if;
end
$$;

create or replace function webhooks.subscribe(source regclass, events text[] default '{INSERT,UPDATE,DELETE}',
                                              update_columns text[] default null)
returns jsonb
language plpgsql security definer set search_path = ''
as $$
declare
  out jsonb;
  cols text[];
  others text[];
  keys text;
begin
  if update_columns is not null then
    if source is null then
      raise exception 'subscribe: source is required' using errcode = '22023';
    end if;
    select array_agg(distinct c order by c) into cols from unnest(update_columns) c;
    if cols is null or cardinality(cols) = 0 or cardinality(cols) > 100 or exists (
         select 1 from unnest(cols) c
          where c is null or not exists (select 1 from pg_attribute a
                                          where a.attrelid = source and a.attname = c
                                            and a.attnum > 0 and not a.attisdropped)) then
      raise exception 'subscribe: update_columns must name 1 to 100 columns of %', source using errcode = '22023';
    end if;
    if not exists (select 1 from unnest(events) x where upper(x) = 'UPDATE') then
      raise exception 'subscribe: update_columns needs UPDATE among the events' using errcode = '22023';
    end if;
  end if;
  execute format('drop trigger if exists webhooks_capture_update on %s', source);
  out := webhooks.subscribe_base(source, events);
  if update_columns is not null then
    select coalesce(string_agg(quote_literal(k), ', '), '') into keys
      from jsonb_array_elements_text(out -> 'key_columns') k;
    select array_agg(x) into others from jsonb_array_elements_text(out -> 'events') x where x <> 'UPDATE';
    execute format('drop trigger if exists webhooks_capture on %s', source);
    if others is not null then
      execute format('create trigger webhooks_capture after %s on %s for each row execute function webhooks.capture(%s)',
                     array_to_string(others, ' or '), source, keys);
    end if;
    execute format('create trigger webhooks_capture_update after update of %s on %s for each row when (%s) '
                   'execute function webhooks.capture(%s)',
                   (select string_agg(quote_ident(c), ', ') from unnest(cols) c), source,
                   (select string_agg(format('old.%1$I is distinct from new.%1$I', c), ' or ') from unnest(cols) c),
                   keys);
  end if;
  update webhooks.subscriptions s set update_columns = cols
   where s.schema_name = out ->> 'schema' and s.table_name = out ->> 'table';
  return case when cols is null then out else out || jsonb_build_object('update_columns', to_jsonb(cols)) end;
end
$$;

create or replace function webhooks.unsubscribe(source regclass) returns boolean
language plpgsql security definer set search_path = ''
as $$
begin
  if source is not null then
    execute format('drop trigger if exists webhooks_capture_update on %s', source);
  end if;
  return webhooks.unsubscribe_base(source);
end
$$;

revoke all on function webhooks.subscribe(regclass, text[], text[]) from public, anon, authenticated;
revoke all on function webhooks.unsubscribe(regclass) from public, anon, authenticated;
grant execute on function webhooks.subscribe(regclass, text[], text[]) to service_role;
grant execute on function webhooks.unsubscribe(regclass) to service_role;
-- subscribe_base and unsubscribe_base keep the grants they had (service_role only).
