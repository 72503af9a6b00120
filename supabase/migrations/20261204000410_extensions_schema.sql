-- F8: extensions live in the schema `extensions`, as on Supabase, not in `public`.
-- In public, every function of an extension is an RPC of the REST API: anon could call
-- rpc/gen_salt, rpc/gen_random_uuid, rpc/digest. The REST server exposes `public` only.
-- pgcrypto (and any other relocatable extension found in public) moves with ALTER EXTENSION
-- ... SET SCHEMA; a database without pgcrypto gets it in `extensions`. No function of ours
-- calls a pgcrypto function: gen_random_uuid() (event_outbox's default, claim_outbox_events)
-- is PostgreSQL's own in pg_catalog since 13, which `search_path = ''` still resolves.
-- Code that needs pgcrypto writes extensions.digest(...), extensions.gen_random_bytes(...).
-- On hosted Supabase this changes nothing (pgcrypto is already there).
-- Idempotent: safe to re-run.

create schema if not exists extensions;
grant usage on schema extensions to anon, authenticated, service_role;

do $$
declare
  e record;
begin
  for e in
    select x.extname from pg_extension x
     where x.extnamespace = 'public'::regnamespace and x.extrelocatable
  loop
    execute format('alter extension %I set schema extensions', e.extname);
  end loop;
  if not exists (select 1 from pg_extension where extname = 'pgcrypto') then
    create extension pgcrypto with schema extensions;
  end if;
end
$$;

-- The one function of ours anon could still execute (a trigger function, so harmless, but the
-- rule is: nothing in public runs for anon unless granted). bootstrap.sql's
-- `alter default privileges in schema public revoke execute ... from public` does not remove
-- PostgreSQL's global default (per-schema default privileges only add), so each function
-- revokes explicitly.
revoke all on function public.touch_updated_at() from public, anon, authenticated;
