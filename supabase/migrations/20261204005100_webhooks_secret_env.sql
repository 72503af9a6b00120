-- Database webhooks: a function endpoint signed with a function secret the database never sees.
--
-- webhooks.endpoints.secret_env names an environment variable of webhook-dispatch (a function
-- secret: `supabase secrets set ORDER_EVENTS_SECRET=whsec_...`; on hosted Supabase every function
-- of a project sees every secret of it, and the database sees none). An endpoint with secret_env
-- is signed with that variable's value only; it has no stored secret. Allowed for `fn:`
-- endpoints only, and for names `^[A-Z][A-Z0-9_]*_SECRET$` that are not the platform's
-- (`SUPABASE_*`, `SB_*`: SUPABASE_JWT_SECRET is never a signing key): a migration can then
-- create `fn:order-events` signed with ORDER_EVENTS_SECRET without knowing it. Rotation is the
-- function secret's own.
--
-- webhooks.set_secret_env(id, secret_env) returns text:
--   - a name: the endpoint signs with that variable from now on; its stored secrets are deleted;
--     answers null. 22023 for a refused name or an endpoint that is not `fn:`, P0002 for an
--     unknown endpoint; nothing changed then.
--   - null: back to a stored secret: a new generated one, which it answers.
-- While secret_env is set, adding a stored secret (rotate_secret, either form) is refused with
-- 22023 (a trigger on webhooks.endpoint_secrets), naming the variable, never a value.
--
-- webhooks.claim_deliveries answers "secret_env" (the name or null) with each delivery, and
-- "secrets": [] for such an endpoint. webhook-dispatch signs with the variable's value; a
-- variable that is not set (or not a whsec_ secret) is a failed try recorded in
-- webhooks.attempts and the delivery's last_error (naming the variable, never a value),
-- retried on the schedule like any other failure.

alter table webhooks.endpoints add column if not exists secret_env text;

do $$
begin
  if not exists (select 1 from pg_constraint
                  where conname = 'endpoints_secret_env_check' and conrelid = 'webhooks.endpoints'::regclass) then
    alter table webhooks.endpoints add constraint endpoints_secret_env_check
      check (secret_env is null
             or (url ~ '^fn:' and secret_env ~ '^[A-Z][A-Z0-9_]*_SECRET$' and length(secret_env) <= 128
                 and secret_env !~ '^(SUPABASE|SB)_'));
  end if;
end
$$;

create or replace function webhooks.set_secret_env(id uuid, secret_env text) returns text
language plpgsql set search_path = ''
as $$
declare
  u text;
  s text;
begin
  perform webhooks.require_endpoint(set_secret_env.id);
  select e.url into u from webhooks.endpoints e where e.id = set_secret_env.id for update;
  if set_secret_env.secret_env is null then
    update webhooks.endpoints e set secret_env = null, updated_at = now()
     where e.id = set_secret_env.id;
    s := webhooks.new_secret();
    insert into webhooks.endpoint_secrets (endpoint_id, secret) values (set_secret_env.id, s);
    return s;
  end if;
  if u !~ '^fn:' then
    raise exception 'set_secret_env: only a fn: endpoint can sign with a function secret' using errcode = '22023';
  end if;
  if set_secret_env.secret_env !~ '^[A-Z][A-Z0-9_]*_SECRET$' or length(set_secret_env.secret_env) > 128
     or set_secret_env.secret_env ~ '^(SUPABASE|SB)_' then
    raise exception 'set_secret_env: the name must match ^[A-Z][A-Z0-9_]*_SECRET$ (at most 128 characters) and not start with SUPABASE_ or SB_'
      using errcode = '22023';
  end if;
  update webhooks.endpoints e set secret_env = set_secret_env.secret_env, updated_at = now()
   where e.id = set_secret_env.id;
  delete from webhooks.endpoint_secrets k where k.endpoint_id = set_secret_env.id;
  return null;
end
$$;

create or replace function webhooks.refuse_stored_secret() returns trigger
language plpgsql set search_path = ''
as $$
declare
  name text;
begin
  select e.secret_env into name from webhooks.endpoints e where e.id = new.endpoint_id;
  if name is not null then
    raise exception 'endpoint % signs with the function secret %: rotate that secret, or call webhooks.set_secret_env(id, null) first',
      new.endpoint_id, name using errcode = '22023';
  end if;
  return new;
end
$$;

drop trigger if exists webhooks_refuse_stored_secret on webhooks.endpoint_secrets;
create trigger webhooks_refuse_stored_secret before insert on webhooks.endpoint_secrets
  for each row execute function webhooks.refuse_stored_secret();

-- claim_deliveries: the one of 20261204002000_webhooks.sql, renamed webhooks.claim_deliveries_base
-- (its body names no function-qualified parameter, so the rename keeps it working), and this
-- one around it: each delivery gains "secret_env", and "secrets" is [] when it is set.
do $$
begin
  if (select p.prosrc from pg_proc p where p.oid = 'webhooks.claim_deliveries(int, int, int)'::regprocedure)
     not like '%claim_deliveries_base%' then
    drop function if exists webhooks.claim_deliveries_base(int, int, int);
    alter function webhooks.claim_deliveries(int, int, int) rename to claim_deliveries_base;
  end if;
end
$$;

create or replace function webhooks.claim_deliveries(batch_size int default 100, max_per_row int default 4,
                                                     lease_seconds int default null)
returns jsonb
language plpgsql set search_path = ''
as $$
declare
  out jsonb := webhooks.claim_deliveries_base(batch_size, max_per_row, lease_seconds);
begin
  return jsonb_set(out, '{deliveries}', (
    select coalesce(jsonb_agg(x || jsonb_build_object(
             'secret_env', e.secret_env,
             'secrets', case when e.secret_env is null then x -> 'secrets' else '[]'::jsonb end)
             order by n), '[]')
      from jsonb_array_elements(out -> 'deliveries') with ordinality t(x, n)
      join webhooks.endpoints e on e.id = (x ->> 'endpoint_id')::uuid));
end
$$;

revoke all on function webhooks.set_secret_env(uuid, text) from public, anon, authenticated;
revoke all on function webhooks.refuse_stored_secret() from public, anon, authenticated, service_role;
revoke all on function webhooks.claim_deliveries(int, int, int) from public, anon, authenticated;
revoke all on function webhooks.claim_deliveries_base(int, int, int) from public, anon, authenticated;
grant execute on function webhooks.set_secret_env(uuid, text) to service_role;
grant execute on function webhooks.claim_deliveries(int, int, int) to service_role;
grant execute on function webhooks.claim_deliveries_base(int, int, int) to service_role;
