-- Database webhooks: webhook-admin learns the SQL API's last three operations.
--
-- webhooks.admin (the SQL API as one call, for the webhook-admin function through
-- public.webhooks_admin) gains:
--   - set_secret_env {id, secret_env}: webhooks.set_secret_env(id, secret_env)
--     (20261204005100_webhooks_secret_env.sql). `secret_env` must be given: a name (a string), or
--     null to go back to a stored, generated secret. Answers {id, secret_env} and, for null, the
--     new secret as "secret" (as rotate_secret answers its new one). A name is never a secret's
--     value; a refused one is 22023 whose message does not repeat it.
--   - set_dead_blocks_row {id, dead_blocks_row}: webhooks.set_dead_blocks_row(id, blocks)
--     (20261204005110_webhooks_dead_blocks_row.sql); `dead_blocks_row` a JSON true or false.
--     Answers {id, dead_blocks_row}.
--   - set_auto_disable {id, auto_disable}: webhooks.set_auto_disable(id, auto_disable)
--     (20261205000110_webhooks_auto_disable_per_endpoint.sql); `auto_disable` a JSON true or
--     false. Answers {id, auto_disable}.
--   - subscribe {table, events?, update_columns?}: update_columns (an array of column names, or
--     null/absent: every UPDATE) goes to webhooks.subscribe(source, events, update_columns)
--     (20261204005020_webhooks_update_columns.sql).
-- and list_endpoints answers each endpoint's secret_env, dead_blocks_row and auto_disable, and its held,
-- oldest_held_at and holding (webhooks.endpoint_held, 20261205000200_webhooks_endpoint_held.sql),
-- beside its stats.
-- A missing id is 22023 for the three new endpoint actions (the older actions answer P0002 for it, as
-- before). Everything else goes, unchanged, to the webhooks.admin of
-- 20261204005000_webhooks_endpoint_secret.sql, renamed webhooks.admin_given_secret; that one
-- calls webhooks.admin_base (20261204002000_webhooks.sql). public.webhooks_admin, unchanged,
-- rolls back the whole call on a refusal (22023 -> invalid_input, P0002 -> not_found).

do $$
begin
  if (select p.prosrc from pg_proc p where p.oid = 'webhooks.admin(text, jsonb)'::regprocedure)
     not like '%admin_given_secret%' then
    drop function if exists webhooks.admin_given_secret(text, jsonb);
    alter function webhooks.admin(text, jsonb) rename to admin_given_secret;
  end if;
end
$$;

create or replace function webhooks.admin(action text, args jsonb default '{}') returns jsonb
language plpgsql set search_path = ''
as $$
declare
  a jsonb := coalesce(args, '{}');
  ep uuid;
  out jsonb;
  s text;
  events text[];
  cols text[];
  flag text;
begin
  if action is null or action not in ('set_secret_env', 'set_dead_blocks_row', 'set_auto_disable', 'subscribe', 'list_endpoints')
     or jsonb_typeof(a) <> 'object'
     or (action = 'subscribe' and coalesce(jsonb_typeof(a -> 'update_columns'), 'null') = 'null') then
    return webhooks.admin_given_secret(action, args);
  end if;
  if action in ('set_secret_env', 'set_dead_blocks_row', 'set_auto_disable') then
    if coalesce(jsonb_typeof(a -> 'id'), 'null') <> 'string' then
      raise exception '%: id is required (an endpoint id)', action using errcode = '22023';
    end if;
    ep := (a ->> 'id')::uuid;
  end if;
  case action
    when 'set_secret_env' then
      if not a ? 'secret_env' or jsonb_typeof(a -> 'secret_env') not in ('string', 'null') then
        raise exception 'set_secret_env: secret_env is required: the name of a function secret, or null for a stored secret'
          using errcode = '22023';
      end if;
      s := webhooks.set_secret_env(ep, a ->> 'secret_env');
      out := jsonb_build_object('id', ep, 'secret_env', a -> 'secret_env');
      if s is not null then
        out := out || jsonb_build_object('secret', s);
      end if;
    when 'set_dead_blocks_row', 'set_auto_disable' then
      flag := case action when 'set_dead_blocks_row' then 'dead_blocks_row' else 'auto_disable' end;
      if coalesce(jsonb_typeof(a -> flag), 'null') <> 'boolean' then
        raise exception '%: % must be true or false', action, flag using errcode = '22023';
      end if;
      if action = 'set_dead_blocks_row' then
        perform webhooks.set_dead_blocks_row(ep, (a -> flag)::boolean);
      else
        perform webhooks.set_auto_disable(ep, (a -> flag)::boolean);
      end if;
      out := jsonb_build_object('id', ep, flag, a -> flag);
    when 'subscribe' then
      if jsonb_typeof(a -> 'update_columns') <> 'array'
         or exists (select 1 from jsonb_array_elements(a -> 'update_columns') c where jsonb_typeof(c) <> 'string') then
        raise exception 'subscribe: update_columns must be an array of column names or null' using errcode = '22023';
      end if;
      if a ? 'events' and jsonb_typeof(a -> 'events') not in ('array', 'null') then
        raise exception 'subscribe: events must be an array of INSERT, UPDATE, DELETE' using errcode = '22023';
      end if;
      select array_agg(t) into events
        from jsonb_array_elements_text(case when jsonb_typeof(a -> 'events') = 'array' then a -> 'events' else '[]' end) t;
      select coalesce(array_agg(c), '{}') into cols from jsonb_array_elements_text(a -> 'update_columns') c;
      out := webhooks.subscribe((a ->> 'table')::regclass, coalesce(events, '{INSERT,UPDATE,DELETE}'), cols);
    when 'list_endpoints' then
      select coalesce(jsonb_agg(x.item || jsonb_build_object('secret_env', e.secret_env,
                                                             'dead_blocks_row', e.dead_blocks_row,
                                                             'auto_disable', e.auto_disable,
                                                             'held', h.held, 'oldest_held_at', h.oldest_held_at,
                                                             'holding', h.holding)
                                order by x.n), '[]') into out
        from jsonb_array_elements(webhooks.admin_given_secret(action, args)) with ordinality x(item, n)
        join webhooks.endpoints e on e.id = (x.item ->> 'endpoint_id')::uuid
        join webhooks.endpoint_held h on h.endpoint_id = e.id;
  end case;
  return out;
exception
  when invalid_text_representation or invalid_datetime_format or datetime_field_overflow
       or undefined_table or invalid_name or numeric_value_out_of_range or invalid_parameter_value
       or syntax_error or undefined_object then
    raise exception '%', sqlerrm using errcode = '22023';
end
$$;

revoke all on function webhooks.admin(text, jsonb) from public, anon, authenticated;
grant execute on function webhooks.admin(text, jsonb) to service_role;
-- webhooks.admin_given_secret keeps the grants it had as webhooks.admin (service_role only).
