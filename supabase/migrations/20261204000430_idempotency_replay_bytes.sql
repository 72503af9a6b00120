-- Idempotent replays return the first response's exact bytes. response_body was jsonb, which
-- reorders keys (by length, then bytes) and drops whitespace: a replay was the same JSON, not
-- the same response. The body is now stored as text (response_text) and replayed as is
-- (body_text in idempotency_begin's answer); rows stored before keep replaying response_body.
-- idempotency_finish gains response_text (response_body stays, now optional, for callers of
-- the old shape during a deploy). Otherwise as in 20261121000500. Idempotent: safe to re-run.

alter table public.idempotency_keys add column if not exists response_text text;

create or replace function public.idempotency_begin(
  scope text, endpoint text, key text, request_hash text, lease_seconds int default 30
) returns jsonb
language plpgsql set search_path = ''
as $$
declare
  k public.idempotency_keys;
begin
  delete from public.idempotency_keys
   where ctid = any (array(select ctid from public.idempotency_keys
                           where expires_at < now() limit 100));
  insert into public.idempotency_keys as t (scope, endpoint, key, request_hash, locked_until)
  values (idempotency_begin.scope, idempotency_begin.endpoint, idempotency_begin.key,
          idempotency_begin.request_hash, now() + make_interval(secs => lease_seconds))
  on conflict do nothing
  returning * into k;
  if found then
    return jsonb_build_object('state', 'new');
  end if;
  select * into k from public.idempotency_keys t
   where t.scope = idempotency_begin.scope and t.endpoint = idempotency_begin.endpoint
     and t.key = idempotency_begin.key
   for update;
  if k.request_hash <> idempotency_begin.request_hash then
    return jsonb_build_object('state', 'mismatch');
  end if;
  if k.state = 'done' then
    return jsonb_build_object('state', 'replay', 'status', k.response_status, 'body', k.response_body,
                              'body_text', k.response_text);
  end if;
  if k.locked_until > now() then
    return jsonb_build_object('state', 'in_flight');
  end if;
  update public.idempotency_keys t set locked_until = now() + make_interval(secs => lease_seconds)
   where t.scope = k.scope and t.endpoint = k.endpoint and t.key = k.key;
  return jsonb_build_object('state', 'new');
end
$$;
revoke all on function public.idempotency_begin(text, text, text, text, int) from public, anon, authenticated;
grant execute on function public.idempotency_begin(text, text, text, text, int) to service_role;

-- A new parameter is a new signature: drop the old one so that a call by name is never ambiguous.
drop function if exists public.idempotency_finish(text, text, text, int, jsonb, boolean);
create or replace function public.idempotency_finish(
  scope text, endpoint text, key text, response_status int, response_body jsonb default null,
  store boolean default true, response_text text default null
) returns void
language plpgsql set search_path = ''
as $$
begin
  if store then
    update public.idempotency_keys t
       set state = 'done', response_status = idempotency_finish.response_status,
           response_body = idempotency_finish.response_body,
           response_text = idempotency_finish.response_text,
           expires_at = now() + interval '24 hours'
     where t.scope = idempotency_finish.scope and t.endpoint = idempotency_finish.endpoint
       and t.key = idempotency_finish.key;
  else
    delete from public.idempotency_keys t
     where t.scope = idempotency_finish.scope and t.endpoint = idempotency_finish.endpoint
       and t.key = idempotency_finish.key and t.state = 'in_flight';
  end if;
end
$$;
revoke all on function public.idempotency_finish(text, text, text, int, jsonb, boolean, text) from public, anon, authenticated;
grant execute on function public.idempotency_finish(text, text, text, int, jsonb, boolean, text) to service_role;
