-- Idempotency-Key support (IETF draft-ietf-httpapi-idempotency-key-header semantics) for
-- process-order and cancel-order. Keys are scoped to the caller and kept 24 hours; expired
-- keys are deleted by idempotency_begin itself (a few per call), so no scheduler is needed.

create table if not exists public.idempotency_keys (
  scope text not null,             -- the caller: a user id, or 'service_role'
  key text not null,
  endpoint text not null,
  request_hash text not null,      -- SHA-256 of the request body
  state text not null default 'in_flight' check (state in ('in_flight', 'done')),
  response_status int,
  response_body jsonb,
  locked_until timestamptz not null,
  created_at timestamptz not null default now(),
  expires_at timestamptz not null default now() + interval '24 hours',
  primary key (scope, endpoint, key)
);
create index if not exists idempotency_keys_expires_idx on public.idempotency_keys (expires_at);

alter table public.idempotency_keys enable row level security;
revoke all on public.idempotency_keys from anon, authenticated;
grant all on public.idempotency_keys to service_role;

-- Begin a keyed request. Answers {"state": "new" | "replay" | "mismatch" | "in_flight", ...}.
-- "new" means the caller now holds the key for lease_seconds (a crashed holder's key can be
-- taken over after that).
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
    return jsonb_build_object('state', 'replay', 'status', k.response_status, 'body', k.response_body);
  end if;
  if k.locked_until > now() then
    return jsonb_build_object('state', 'in_flight');
  end if;
  update public.idempotency_keys t set locked_until = now() + make_interval(secs => lease_seconds)
   where t.scope = k.scope and t.endpoint = k.endpoint and t.key = k.key;
  return jsonb_build_object('state', 'new');
end
$$;

-- Finish a keyed request: store its response for replay, or (store = false, for transient
-- 5xx failures) release the key so a retry runs again.
create or replace function public.idempotency_finish(
  scope text, endpoint text, key text, response_status int, response_body jsonb, store boolean default true
) returns void
language plpgsql set search_path = ''
as $$
begin
  if store then
    update public.idempotency_keys t
       set state = 'done', response_status = idempotency_finish.response_status,
           response_body = idempotency_finish.response_body,
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

revoke all on function public.idempotency_begin(text, text, text, text, int) from public, anon, authenticated;
revoke all on function public.idempotency_finish(text, text, text, int, jsonb, boolean) from public, anon, authenticated;
grant execute on function public.idempotency_begin(text, text, text, text, int) to service_role;
grant execute on function public.idempotency_finish(text, text, text, int, jsonb, boolean) to service_role;
