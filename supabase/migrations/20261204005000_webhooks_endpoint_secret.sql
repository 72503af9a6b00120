-- Database webhooks: an endpoint's secret may be given instead of generated.
--
-- webhooks.create_endpoint(url, event_types, description, signing_secret) and
-- webhooks.rotate_secret(id, signing_secret), new overloads (every argument required; the
-- shorter forms are unchanged): with signing_secret null, a generated whsec_ secret as before;
-- otherwise that secret, which must be a Standard Webhooks secret: `whsec_` and the
-- base64 of 24 to 64 bytes. What it is for:
--   - a `fn:<name>` endpoint, whose receiver is a function of this project: the function must
--     verify with the endpoint's secret, and on hosted Supabase the database cannot read function
--     secrets, nor a function the database's secrets without a round trip. So the operator sets
--     one secret in both places: `supabase secrets set MY_FN_SECRET=whsec_...` and
--     `webhooks.create_endpoint('fn:my-fn', null, null, 'whsec_...')` (e.g. `fn:order-events` with
--     ORDER_EVENTS_SECRET, which order-events verifies with);
--   - moving an endpoint from another provider (Svix, Hookdeck) without its receiver changing
--     its secret.
-- rotate_secret(id, signing_secret) is the same for a rotation: set the function's secret to accept
-- both (the verifiers take several), rotate to the new one, and drop the old one after the
-- overlap. A refused secret is 22023 whose message never contains the secret.
--
-- webhooks.admin learns args.secret for create_endpoint and rotate_secret.

create or replace function webhooks.check_secret(secret text) returns void
language plpgsql immutable set search_path = ''
as $$
declare
  n int;
begin
  if secret is null then
    return;
  end if;
  if secret !~ '^whsec_[A-Za-z0-9+/]+={0,2}$' or length(secret) > 200 then
    raise exception 'secret must be whsec_ followed by the base64 of 24 to 64 bytes' using errcode = '22023';
  end if;
  begin
    n := length(decode(substr(secret, 7), 'base64'));
  exception when others then
    raise exception 'secret must be whsec_ followed by the base64 of 24 to 64 bytes' using errcode = '22023';
  end;
  if n not between 24 and 64 then
    raise exception 'secret must be whsec_ followed by the base64 of 24 to 64 bytes' using errcode = '22023';
  end if;
end
$$;

-- New overloads beside the functions of 20261204002000_webhooks.sql (which stay as they are and
-- answer every call with fewer arguments): every argument required, so no call is ambiguous.
-- They check the given secret, call the original, and put the given secret in place of the
-- generated one, in the same transaction.
create or replace function webhooks.create_endpoint(url text, event_types text[], description text,
                                                    signing_secret text)
returns table (id uuid, secret text)
language plpgsql set search_path = ''
as $$
#variable_conflict use_column
declare
  new_id uuid;
  s text;
begin
  perform webhooks.check_secret(signing_secret);
  select b.id, b.secret into new_id, s
    from webhooks.create_endpoint(create_endpoint.url, create_endpoint.event_types, create_endpoint.description) b;
  if signing_secret is not null then
    update webhooks.endpoint_secrets k set secret = signing_secret where k.endpoint_id = new_id;
    s := signing_secret;
  end if;
  return query select new_id, s;
end
$$;

create or replace function webhooks.rotate_secret(id uuid, signing_secret text) returns text
language plpgsql set search_path = ''
as $$
declare
  s text;
begin
  perform webhooks.check_secret(signing_secret);
  s := webhooks.rotate_secret(rotate_secret.id);
  if signing_secret is not null then
    update webhooks.endpoint_secrets k set secret = signing_secret
     where k.endpoint_id = rotate_secret.id and k.secret = s;
    s := signing_secret;
  end if;
  return s;
end
$$;

-- webhooks.admin learns args.secret (a string, or null/absent for a generated one) for
-- create_endpoint and rotate_secret. The admin of 20261204002000_webhooks.sql stays, renamed
-- webhooks.admin_base, and does everything else; with a secret, this one checks it, lets the base
-- create (or rotate) as before and puts the given secret in place of the generated one, in the
-- same transaction (public.webhooks_admin rolls the whole call back on a refusal).
do $$
begin
  if (select p.prosrc from pg_proc p where p.oid = 'webhooks.admin(text, jsonb)'::regprocedure)
     not like '%admin_base%' then
    drop function if exists webhooks.admin_base(text, jsonb);
    alter function webhooks.admin(text, jsonb) rename to admin_base;
  end if;
end
$$;

create or replace function webhooks.admin(action text, args jsonb default '{}') returns jsonb
language plpgsql set search_path = ''
as $$
declare
  given text;
  out jsonb;
  ep uuid;
begin
  if action not in ('create_endpoint', 'rotate_secret') or jsonb_typeof(args) is distinct from 'object'
     or jsonb_typeof(args -> 'secret') is null or jsonb_typeof(args -> 'secret') = 'null' then
    return webhooks.admin_base(action, case when jsonb_typeof(args) = 'object' then args - 'secret' else args end);
  end if;
  if jsonb_typeof(args -> 'secret') <> 'string' then
    raise exception 'secret must be a string or null' using errcode = '22023';
  end if;
  given := args ->> 'secret';
  perform webhooks.check_secret(given);
  out := webhooks.admin_base(action, args - 'secret');
  ep := coalesce(out ->> 'id', args ->> 'id')::uuid;
  update webhooks.endpoint_secrets k set secret = given
   where k.id = (select max(x.id) from webhooks.endpoint_secrets x where x.endpoint_id = ep);
  return jsonb_set(out, '{secret}', to_jsonb(given));
end
$$;

revoke all on function webhooks.check_secret(text) from public, anon, authenticated;
revoke all on function webhooks.create_endpoint(text, text[], text, text) from public, anon, authenticated;
revoke all on function webhooks.rotate_secret(uuid, text) from public, anon, authenticated;
revoke all on function webhooks.admin(text, jsonb) from public, anon, authenticated;
grant execute on function webhooks.check_secret(text) to service_role;
grant execute on function webhooks.create_endpoint(text, text[], text, text) to service_role;
grant execute on function webhooks.rotate_secret(uuid, text) to service_role;
grant execute on function webhooks.admin(text, jsonb) to service_role;
-- webhooks.admin_base keeps the grants it had as webhooks.admin (service_role only).
