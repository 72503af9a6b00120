-- Database webhooks for any table, to any endpoint (issue 11): the SQL API in schema `webhooks`.
--
-- Stock Supabase database webhooks call pg_net from a trigger: unsigned, never retried, an
-- unlogged queue. Here:
--   - webhooks.subscribe(table) puts a trigger on the table that writes, in the writing
--     transaction, one row to webhooks.events per changed row (Supabase's database-webhook payload
--     {type, table, schema, record, old_record}, event type `<table>.<insert|update|delete>`) and
--     one row to webhooks.deliveries per matching enabled endpoint (fan-out), then NOTIFYs
--     channel `webhooks`. No network call in a trigger.
--   - webhooks.create_endpoint(url, event_types, description) registers an endpoint
--     (`http(s)://...`, or `fn:<function>` for a function of this project) with a generated
--     Standard Webhooks secret (`whsec_...`); rotate_secret adds a new one and keeps the old one
--     valid for config.secret_overlap (24 h): every delivery meanwhile carries both signatures.
--   - The webhook-dispatch function claims due deliveries (webhooks.claim_deliveries: FOR UPDATE
--     SKIP LOCKED, a lease, order kept per endpoint and row), POSTs them signed and reports
--     each try (webhooks.record_attempts), which applies the rules: 2xx delivered; 410 Gone
--     disables the endpoint; anything else is retried on config.retry_schedule_seconds (Standard
--     Webhooks' recommended schedule by default), no sooner than a 429/503's Retry-After; after
--     the last retry the delivery is dead; an endpoint that has only failed for
--     config.auto_disable_after (5 days) is disabled.
--   - Every try is in webhooks.attempts (time, HTTP status, latency, first 1 KiB of the answer,
--     error); webhooks.endpoint_stats sums them up per endpoint.
--   - webhooks.purge() deletes finished deliveries, attempts and events past their retention
--     (pg_cron daily where it exists, scripts/scheduler.ts locally).
--
-- Everything is for service_role and postgres only (explicit REVOKE/GRANT below). The REST
-- server exposes `public` only, so the two functions that call over HTTP go through three
-- public wrappers (webhooks_claim, webhooks_record, webhooks_admin), service_role only.
-- Idempotent: safe to re-run.

create schema if not exists webhooks;
revoke all on schema webhooks from public, anon, authenticated;
grant usage on schema webhooks to service_role;

-- Settings (one row) ------------------------------------------------------------------------------
create table if not exists webhooks.config (
  id boolean primary key default true check (id),
  -- Wait after the n-th failed try (the n-th element); a delivery has 1 + cardinality tries.
  -- Standard Webhooks' recommended schedule: immediately, then 5 s, 5 min, 30 min, 2 h, 5 h,
  -- 10 h, 10 h (about 27.6 hours in all).
  retry_schedule_seconds int[] not null default '{5,300,1800,7200,18000,36000,36000}'
    check (cardinality(retry_schedule_seconds) <= 50 and 0 < all (retry_schedule_seconds)),
  -- A Retry-After above this is capped (a broken header cannot park a delivery for a year).
  max_retry_after_seconds int not null default 86400 check (max_retry_after_seconds between 1 and 604800),
  -- An endpoint whose tries have all failed for this long is disabled.
  auto_disable_after interval not null default '5 days' check (auto_disable_after >= interval '1 minute'),
  -- How long a rotated-out secret keeps signing.
  secret_overlap interval not null default '24 hours' check (secret_overlap >= interval '0'),
  -- A claim hides its deliveries this long from other dispatchers.
  lease_seconds int not null default 30 check (lease_seconds between 5 and 3600),
  -- Retention of finished deliveries (and their events) and of attempts.
  delivery_retention interval not null default '30 days' check (delivery_retention >= interval '1 day'),
  attempt_retention interval not null default '30 days' check (attempt_retention >= interval '1 day'),
  updated_at timestamptz not null default now()
);
insert into webhooks.config default values on conflict do nothing;
comment on table webhooks.config is
  'Database webhooks settings (one row): retry schedule, Retry-After cap, auto-disable period, secret overlap, lease, retention.';

-- Subscriptions, events, endpoints, deliveries, attempts ---------------------------------------
create table if not exists webhooks.subscriptions (
  schema_name text not null,
  table_name text not null,
  events text[] not null,
  key_columns text[] not null default '{}',  -- the primary key: a row's events keep their order
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  primary key (schema_name, table_name)
);

create table if not exists webhooks.events (
  id bigint generated always as identity primary key,
  -- The Standard Webhooks `webhook-id`: the same on every try and for every endpoint.
  message_id text not null unique default ('msg_' || replace(gen_random_uuid()::text, '-', '')),
  event_type text not null,                  -- <table>.<insert|update|delete>
  schema_name text not null,
  table_name text not null,
  row_key text,                              -- the row's primary key (json), null: no order
  payload jsonb not null,                    -- {type, table, schema, record, old_record}
  created_at timestamptz not null default now()
);
create index if not exists webhooks_events_created_at_idx on webhooks.events (created_at);

create table if not exists webhooks.endpoints (
  id uuid primary key default gen_random_uuid(),
  url text not null check (length(url) <= 2048 and
    (url ~ '^https?://[A-Za-z0-9.\-]+(:[0-9]{1,5})?(/[^[:space:]]*)?$'
     or url ~ '^https?://\[[0-9A-Fa-f:.]+\](:[0-9]{1,5})?(/[^[:space:]]*)?$'
     or url ~ '^fn:[A-Za-z0-9_-]{1,64}$')),
  event_types text[] check (event_types is null or cardinality(event_types) between 1 and 100),
  description text check (length(description) <= 1000),
  enabled boolean not null default true,
  disabled_reason text,
  disabled_at timestamptz,
  failing_since timestamptz,                 -- first failure since the last success
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);

create table if not exists webhooks.endpoint_secrets (
  id bigint generated always as identity primary key,
  endpoint_id uuid not null references webhooks.endpoints on delete cascade,
  secret text not null,
  created_at timestamptz not null default now(),
  expires_at timestamptz                     -- null: current; set when rotated out
);
create index if not exists webhooks_endpoint_secrets_endpoint_idx on webhooks.endpoint_secrets (endpoint_id);

create table if not exists webhooks.deliveries (
  id bigint generated always as identity primary key,
  event_id bigint not null references webhooks.events on delete cascade,
  endpoint_id uuid not null references webhooks.endpoints on delete cascade,
  row_key text,
  status text not null default 'pending' check (status in ('pending', 'delivered', 'dead')),
  attempts int not null default 0 check (attempts >= 0),   -- counted when claimed
  next_attempt_at timestamptz not null default now(),
  claimed_until timestamptz,
  claim_token uuid,
  last_status int,
  last_error text,
  created_at timestamptz not null default now(),
  finished_at timestamptz                                 -- delivered or dead
);
create index if not exists webhooks_deliveries_pending_idx on webhooks.deliveries (id)
  where status = 'pending';
create index if not exists webhooks_deliveries_row_idx on webhooks.deliveries (endpoint_id, row_key, id)
  where status = 'pending';
create unique index if not exists webhooks_deliveries_one_pending_idx
  on webhooks.deliveries (event_id, endpoint_id) where status = 'pending';
create index if not exists webhooks_deliveries_event_idx on webhooks.deliveries (event_id);
create index if not exists webhooks_deliveries_endpoint_idx on webhooks.deliveries (endpoint_id, status);
create index if not exists webhooks_deliveries_finished_idx on webhooks.deliveries (finished_at)
  where status <> 'pending';

create table if not exists webhooks.attempts (
  id bigint generated always as identity primary key,
  delivery_id bigint not null references webhooks.deliveries on delete cascade,
  endpoint_id uuid not null references webhooks.endpoints on delete cascade,
  attempt int not null,
  attempted_at timestamptz not null default now(),
  http_status int,
  latency_ms int,
  response text,                             -- the first 1 KiB of the answer
  error text
);
create index if not exists webhooks_attempts_delivery_idx on webhooks.attempts (delivery_id);
create index if not exists webhooks_attempts_endpoint_idx on webhooks.attempts (endpoint_id, attempted_at);
create index if not exists webhooks_attempts_at_idx on webhooks.attempts (attempted_at);

alter table webhooks.config enable row level security;
alter table webhooks.subscriptions enable row level security;
alter table webhooks.events enable row level security;
alter table webhooks.endpoints enable row level security;
alter table webhooks.endpoint_secrets enable row level security;
alter table webhooks.deliveries enable row level security;
alter table webhooks.attempts enable row level security;

-- Capture ---------------------------------------------------------------------------------------
-- The trigger of every subscribed table. Arguments: the primary key's columns. SECURITY DEFINER:
-- whoever writes the table has no right on the webhooks schema.
create or replace function webhooks.capture() returns trigger
language plpgsql security definer set search_path = ''
as $$
declare
  rec jsonb := case when tg_op in ('INSERT', 'UPDATE') then to_jsonb(new) end;
  old_rec jsonb := case when tg_op in ('UPDATE', 'DELETE') then to_jsonb(old) end;
  etype text := tg_table_name || '.' || lower(tg_op);
  key text;
  ev bigint;
begin
  if tg_nargs > 0 then
    select jsonb_agg(coalesce(rec, old_rec) -> a)::text into key from unnest(tg_argv) a;
  end if;
  insert into webhooks.events (event_type, schema_name, table_name, row_key, payload, created_at)
  values (etype, tg_table_schema, tg_table_name, key,
          jsonb_build_object('type', tg_op, 'table', tg_table_name, 'schema', tg_table_schema,
                             'record', rec, 'old_record', old_rec),
          clock_timestamp())
  returning id into ev;
  insert into webhooks.deliveries (event_id, endpoint_id, row_key)
  select ev, e.id, key from webhooks.endpoints e
   where e.enabled and (e.event_types is null or etype = any (e.event_types))
   order by e.id;
  if found then
    perform pg_notify('webhooks', '');
  end if;
  return null;
end
$$;

-- subscribe: capture `source`'s changes (the operations in `events`) from now on. Idempotent: a
-- second call replaces the trigger (e.g. with other operations). SECURITY DEFINER: creating a
-- trigger needs the table's owner.
create or replace function webhooks.subscribe(source regclass, events text[] default '{INSERT,UPDATE,DELETE}')
returns jsonb
language plpgsql security definer set search_path = ''
as $$
declare
  ops text[];
  nsp text;
  rel text;
  kind "char";
  keys text[];
begin
  if source is null then
    raise exception 'subscribe: source is required' using errcode = '22023';
  end if;
  select array_agg(distinct upper(x) order by upper(x)) into ops from unnest(events) x;
  if ops is null or cardinality(ops) = 0 or not ops <@ array['INSERT', 'UPDATE', 'DELETE'] then
    raise exception 'subscribe: events must be a non-empty subset of INSERT, UPDATE, DELETE'
      using errcode = '22023';
  end if;
  select n.nspname, c.relname, c.relkind into nsp, rel, kind
    from pg_class c join pg_namespace n on n.oid = c.relnamespace where c.oid = source;
  if kind not in ('r', 'p') then
    raise exception 'subscribe: % is not a table', source using errcode = '22023';
  end if;
  if nsp in ('webhooks', 'pg_catalog', 'information_schema') or nsp like 'pg\_%' then
    raise exception 'subscribe: tables of schema % cannot be subscribed', nsp using errcode = '22023';
  end if;
  select coalesce(array_agg(a.attname::text order by k.n), '{}') into keys
    from pg_index i
    cross join lateral unnest(i.indkey) with ordinality k(attnum, n)
    join pg_attribute a on a.attrelid = i.indrelid and a.attnum = k.attnum
   where i.indrelid = source and i.indisprimary;
  execute format('drop trigger if exists webhooks_capture on %s', source);
  execute format('create trigger webhooks_capture after %s on %s for each row execute function webhooks.capture(%s)',
                 array_to_string(ops, ' or '), source,
                 (select coalesce(string_agg(quote_literal(k), ', '), '') from unnest(keys) k));
  insert into webhooks.subscriptions (schema_name, table_name, events, key_columns)
  values (nsp, rel, ops, keys)
  on conflict (schema_name, table_name)
  do update set events = excluded.events, key_columns = excluded.key_columns, updated_at = now();
  return jsonb_build_object('schema', nsp, 'table', rel, 'events', to_jsonb(ops), 'key_columns', to_jsonb(keys));
end
$$;

-- unsubscribe: stop capturing. Events and deliveries already written stay. Answers whether
-- there was a subscription.
create or replace function webhooks.unsubscribe(source regclass) returns boolean
language plpgsql security definer set search_path = ''
as $$
declare
  n int;
begin
  if source is null then
    raise exception 'unsubscribe: source is required' using errcode = '22023';
  end if;
  execute format('drop trigger if exists webhooks_capture on %s', source);
  delete from webhooks.subscriptions s
   using pg_class c join pg_namespace ns on ns.oid = c.relnamespace
   where c.oid = source and s.schema_name = ns.nspname and s.table_name = c.relname;
  get diagnostics n = row_count;
  return n > 0;
end
$$;

-- Endpoints -------------------------------------------------------------------------------------
create or replace function webhooks.new_secret() returns text
language sql volatile set search_path = ''
as $$ select 'whsec_' || encode(extensions.gen_random_bytes(32), 'base64') $$;

create or replace function webhooks.check_event_types(event_types text[]) returns void
language plpgsql immutable set search_path = ''
as $$
begin
  if event_types is not null and (cardinality(event_types) not between 1 and 100
     or exists (select 1 from unnest(event_types) t
                 where t is null or t !~ '^[^.[:space:]]{1,63}\.(insert|update|delete)$')) then
    raise exception 'event_types: null (all) or 1..100 names like <table>.<insert|update|delete>'
      using errcode = '22023';
  end if;
end
$$;

-- create_endpoint: answers (id, secret). url: http(s)://host[:port][/path] (no credentials in
-- it) or fn:<function-name>. event_types null: every event.
create or replace function webhooks.create_endpoint(url text, event_types text[] default null,
                                                    description text default null)
returns table (id uuid, secret text)
language plpgsql set search_path = ''
as $$
#variable_conflict use_column
declare
  new_id uuid;
  s text := webhooks.new_secret();
begin
  if url is null or length(url) > 2048
     or not (url ~ '^https?://[A-Za-z0-9.\-]+(:[0-9]{1,5})?(/[^[:space:]]*)?$'
             or url ~ '^https?://\[[0-9A-Fa-f:.]+\](:[0-9]{1,5})?(/[^[:space:]]*)?$'
             or url ~ '^fn:[A-Za-z0-9_-]{1,64}$') then
    raise exception 'create_endpoint: url must be http(s)://host[:port][/path] or fn:<function-name>'
      using errcode = '22023';
  end if;
  if length(description) > 1000 then
    raise exception 'create_endpoint: description is at most 1000 characters' using errcode = '22023';
  end if;
  perform webhooks.check_event_types(event_types);
  select array_agg(distinct t order by t) into event_types from unnest(event_types) t;
  insert into webhooks.endpoints (url, event_types, description)
  values (create_endpoint.url, create_endpoint.event_types, create_endpoint.description)
  returning endpoints.id into new_id;
  insert into webhooks.endpoint_secrets (endpoint_id, secret) values (new_id, s);
  return query select new_id, s;
end
$$;

create or replace function webhooks.require_endpoint(endpoint uuid) returns void
language plpgsql set search_path = ''
as $$
begin
  if endpoint is null or not exists (select 1 from webhooks.endpoints e where e.id = endpoint) then
    raise exception 'no endpoint %', coalesce(endpoint::text, 'null') using errcode = 'P0002';
  end if;
end
$$;

-- rotate_secret: a new current secret; the previous current one keeps signing for
-- config.secret_overlap (every delivery meanwhile carries both signatures).
create or replace function webhooks.rotate_secret(id uuid) returns text
language plpgsql set search_path = ''
as $$
declare
  s text := webhooks.new_secret();
  overlap interval := (select c.secret_overlap from webhooks.config c);
begin
  perform 1 from webhooks.endpoints e where e.id = rotate_secret.id for update;
  perform webhooks.require_endpoint(rotate_secret.id);
  update webhooks.endpoint_secrets k set expires_at = now() + overlap
   where k.endpoint_id = rotate_secret.id and (k.expires_at is null or k.expires_at > now() + overlap);
  insert into webhooks.endpoint_secrets (endpoint_id, secret) values (rotate_secret.id, s);
  delete from webhooks.endpoint_secrets k where k.endpoint_id = rotate_secret.id and k.expires_at <= now();
  return s;
end
$$;

create or replace function webhooks.disable_endpoint(id uuid, reason text default 'disabled by an operator')
returns void
language plpgsql set search_path = ''
as $$
begin
  perform webhooks.require_endpoint(disable_endpoint.id);
  update webhooks.endpoints e
     set enabled = false, disabled_reason = left(coalesce(reason, 'disabled by an operator'), 1000),
         disabled_at = now(), updated_at = now()
   where e.id = disable_endpoint.id and e.enabled;
end
$$;

-- enable_endpoint: back on; its pending deliveries resume, its failing period starts over.
-- (Events written while it was disabled have no delivery: replay brings them.)
create or replace function webhooks.enable_endpoint(id uuid) returns void
language plpgsql set search_path = ''
as $$
begin
  perform webhooks.require_endpoint(enable_endpoint.id);
  update webhooks.endpoints e
     set enabled = true, disabled_reason = null, disabled_at = null, failing_since = null, updated_at = now()
   where e.id = enable_endpoint.id and not e.enabled;
end
$$;

create or replace function webhooks.delete_endpoint(id uuid) returns void
language plpgsql set search_path = ''
as $$
begin
  perform webhooks.require_endpoint(delete_endpoint.id);
  delete from webhooks.endpoints e where e.id = delete_endpoint.id;
end
$$;

-- replay: a new pending delivery to endpoint `id` of every event since `since` it subscribes to
-- (same webhook-id as the first time), unless one is already pending. Answers how many.
create or replace function webhooks.replay(id uuid, since timestamptz) returns int
language plpgsql set search_path = ''
as $$
declare
  n int;
  types text[];
begin
  perform webhooks.require_endpoint(replay.id);
  if since is null then
    raise exception 'replay: since is required' using errcode = '22023';
  end if;
  select e.event_types into types from webhooks.endpoints e where e.id = replay.id;
  insert into webhooks.deliveries (event_id, endpoint_id, row_key)
  select v.id, replay.id, v.row_key from webhooks.events v
   where v.created_at >= since and (types is null or v.event_type = any (types))
   order by v.id
  on conflict (event_id, endpoint_id) where status = 'pending' do nothing;
  get diagnostics n = row_count;
  if n > 0 then
    perform pg_notify('webhooks', '');
  end if;
  return n;
end
$$;

-- requeue_dead: dead deliveries back to pending with fresh tries, filtered by endpoint, time of
-- the event (since/until) and event types (all filters optional, combined with and). Answers
-- how many.
create or replace function webhooks.requeue_dead(endpoint uuid default null, since timestamptz default null,
                                                 until timestamptz default null, event_types text[] default null)
returns int
language plpgsql set search_path = ''
as $$
declare
  n int;
begin
  if endpoint is not null then
    perform webhooks.require_endpoint(endpoint);
  end if;
  perform webhooks.check_event_types(event_types);
  update webhooks.deliveries d
     set status = 'pending', attempts = 0, next_attempt_at = now(), finished_at = null,
         claimed_until = null, claim_token = null
    from webhooks.events v
   where v.id = d.event_id and d.status = 'dead'
     and (endpoint is null or d.endpoint_id = endpoint)
     and (since is null or v.created_at >= since)
     and (until is null or v.created_at < until)
     and (event_types is null or v.event_type = any (event_types))
     and not exists (select 1 from webhooks.deliveries p
                      where p.event_id = d.event_id and p.endpoint_id = d.endpoint_id and p.status = 'pending');
  get diagnostics n = row_count;
  if n > 0 then
    perform pg_notify('webhooks', '');
  end if;
  return n;
end
$$;

-- Dispatcher ------------------------------------------------------------------------------------
-- claim_deliveries: claim up to batch_size due deliveries of enabled endpoints for a lease
-- (config.lease_seconds unless given). A delivery is claimable when it is pending, due, not under
-- a live claim, and no earlier pending delivery of the same endpoint and row is outside this
-- claim (at most max_per_row of one endpoint and row per claim, delivered in id order by the
-- dispatcher). FOR UPDATE SKIP LOCKED: concurrent claims take disjoint rows; the check after
-- locking drops a row whose predecessor another claim holds. A delivery with no try left and
-- no live claim (its dispatcher died during the last try) becomes dead.
-- Answers {"claim": uuid, "deliveries": [{id, webhook_id, endpoint_id, url, secrets, payload,
--          event_type, attempt, row_key}], "next_due_ms": ms until the next retry | null}.
create or replace function webhooks.claim_deliveries(batch_size int default 100, max_per_row int default 4,
                                                     lease_seconds int default null)
returns jsonb
language plpgsql set search_path = ''
as $$
declare
  token uuid := gen_random_uuid();
  cfg webhooks.config;
  tries int;
  lease int;
  locked bigint[];
  chosen bigint[];
  claimed jsonb;
  next_due bigint;
begin
  select * into cfg from webhooks.config;
  tries := 1 + cardinality(cfg.retry_schedule_seconds);
  lease := coalesce(lease_seconds, cfg.lease_seconds);
  if batch_size is null or batch_size not between 1 and 1000 or max_per_row is null
     or max_per_row not between 1 and 100 or lease not between 5 and 3600 then
    raise exception 'claim_deliveries: batch_size 1..1000, max_per_row 1..100, lease_seconds 5..3600'
      using errcode = '22023';
  end if;

  update webhooks.deliveries d
     set status = 'dead', claimed_until = null, claim_token = null, finished_at = now(),
         last_error = coalesce(d.last_error || '; ', '') || 'no try left (the last claim expired without an outcome)'
   where d.id = any (array(select x.id from webhooks.deliveries x
                           where x.status = 'pending' and x.attempts >= tries
                             and (x.claimed_until is null or x.claimed_until <= now())
                           for update skip locked));

  select coalesce(array_agg(c.id), '{}') into locked from (
    select d.id from webhooks.deliveries d
      join webhooks.endpoints e on e.id = d.endpoint_id
     where d.status = 'pending' and d.next_attempt_at <= now()
       and (d.claimed_until is null or d.claimed_until <= now())
       and d.attempts < tries and e.enabled
       and (select p.id from webhooks.deliveries p
             where p.endpoint_id = d.endpoint_id and p.row_key = d.row_key and p.id < d.id
               and p.status = 'pending'
               and not (p.next_attempt_at <= now() and (p.claimed_until is null or p.claimed_until <= now()))
             limit 1) is null
     order by d.id
     limit batch_size
     for update of d skip locked
  ) c;

  select coalesce(array_agg(k.id), '{}') into chosen from (
    select d.id, d.row_key,
           row_number() over (partition by d.endpoint_id, d.row_key order by d.id) as n
      from webhooks.deliveries d
     where d.id = any (locked)
       and (select p.id from webhooks.deliveries p
             where p.endpoint_id = d.endpoint_id and p.row_key = d.row_key and p.id < d.id
               and p.status = 'pending' and p.id <> all (locked)
             limit 1) is null
  ) k
  where k.row_key is null or k.n <= max_per_row;

  with c as (
    update webhooks.deliveries d
       set claimed_until = now() + make_interval(secs => lease), claim_token = token,
           attempts = d.attempts + 1
     where d.id = any (chosen)
     returning d.id, d.event_id, d.endpoint_id, d.attempts, d.row_key
  )
  select coalesce(jsonb_agg(jsonb_build_object(
           'id', c.id, 'webhook_id', v.message_id, 'endpoint_id', c.endpoint_id, 'url', e.url,
           'secrets', (select coalesce(jsonb_agg(k.secret order by k.id desc), '[]')
                         from webhooks.endpoint_secrets k
                        where k.endpoint_id = c.endpoint_id and (k.expires_at is null or k.expires_at > now())),
           'payload', v.payload, 'event_type', v.event_type, 'attempt', c.attempts, 'row_key', c.row_key)
           order by c.id), '[]')
    into claimed
    from c join webhooks.events v on v.id = c.event_id join webhooks.endpoints e on e.id = c.endpoint_id;

  select (extract(epoch from min(d.next_attempt_at) - now()) * 1000)::bigint into next_due
    from webhooks.deliveries d where d.status = 'pending' and d.next_attempt_at > now();
  return jsonb_build_object('claim', token, 'deliveries', claimed, 'next_due_ms', next_due);
end
$$;

-- record_attempts: what happened to the deliveries of one claim. results: [{"id", "released"?,
-- "http_status"?, "latency_ms"?, "response"?, "error"?, "retry_after_seconds"?}]. A released
-- delivery was not tried: back to pending with its try given back, nothing recorded. Otherwise
-- one webhooks.attempts row, and:
--   2xx                 delivered; the endpoint's failing period ends
--   410                 dead, and the endpoint is disabled ('410 Gone')
--   anything else       retried after retry_schedule_seconds[try] (429 and 503: no sooner than
--                       Retry-After, capped at max_retry_after_seconds), dead after the last
--                       try; the endpoint's failing period starts (if it had not), and an
--                       endpoint failing for auto_disable_after is disabled
-- Rows no longer under this claim are left alone. Answers {"updated": n, "delivered": n,
-- "retried": n, "dead": n, "disabled": [endpoint ids], "next_due_ms": ms | null}.
create or replace function webhooks.record_attempts(claim uuid, results jsonb) returns jsonb
language plpgsql set search_path = ''
as $$
declare
  cfg webhooks.config;
  tries int;
  r record;
  d webhooks.deliveries;
  delay int;
  failing timestamptz;
  n_updated int := 0;
  n_delivered int := 0;
  n_retried int := 0;
  n_dead int := 0;
  disabled uuid[] := '{}';
  next_due bigint;
begin
  if jsonb_typeof(results) is distinct from 'array' then
    raise exception 'record_attempts: results must be an array' using errcode = '22023';
  end if;
  select * into cfg from webhooks.config;
  tries := 1 + cardinality(cfg.retry_schedule_seconds);
  -- Lock order, endpoints (by id) before deliveries, as delete_endpoint's cascade takes them:
  -- concurrent reports and deletes wait for each other instead of deadlocking.
  perform 1 from webhooks.endpoints e
   where e.id in (select x.endpoint_id from webhooks.deliveries x
                   where x.claim_token = record_attempts.claim
                     and x.id in (select (y ->> 'id')::bigint from jsonb_array_elements(results) y))
   order by e.id
   for no key update;
  for r in
    select (x ->> 'id')::bigint as id, coalesce((x ->> 'released')::boolean, false) as released,
           (x ->> 'http_status')::int as http_status, greatest((x ->> 'latency_ms')::int, 0) as latency_ms,
           left(x ->> 'response', 1024) as response, left(x ->> 'error', 2000) as error,
           greatest((x ->> 'retry_after_seconds')::bigint, 0) as retry_after
      from jsonb_array_elements(results) x
     order by 1
  loop
    select * into d from webhooks.deliveries x
     where x.id = r.id and x.claim_token = record_attempts.claim and x.status = 'pending' for update;
    continue when not found;
    n_updated := n_updated + 1;
    if r.released then
      update webhooks.deliveries x set attempts = greatest(x.attempts - 1, 0), claimed_until = null, claim_token = null
       where x.id = d.id;
      continue;
    end if;
    insert into webhooks.attempts (delivery_id, endpoint_id, attempt, attempted_at, http_status, latency_ms, response, error)
    values (d.id, d.endpoint_id, d.attempts,
            clock_timestamp() - make_interval(secs => coalesce(r.latency_ms, 0) / 1000.0),
            r.http_status, r.latency_ms, r.response, r.error);
    if r.http_status between 200 and 299 then
      update webhooks.deliveries x
         set status = 'delivered', finished_at = clock_timestamp(), last_status = r.http_status,
             last_error = null, claimed_until = null, claim_token = null
       where x.id = d.id;
      update webhooks.endpoints e set failing_since = null
       where e.id = d.endpoint_id and e.failing_since is not null;
      n_delivered := n_delivered + 1;
      continue;
    end if;
    if r.http_status = 410 then
      update webhooks.deliveries x
         set status = 'dead', finished_at = clock_timestamp(), last_status = 410,
             last_error = coalesce(r.error, 'HTTP 410 Gone'), claimed_until = null, claim_token = null
       where x.id = d.id;
      update webhooks.endpoints e
         set enabled = false, disabled_reason = 'the endpoint answered 410 Gone', disabled_at = now(), updated_at = now()
       where e.id = d.endpoint_id and e.enabled;
      if found then disabled := disabled || d.endpoint_id; end if;
      n_dead := n_dead + 1;
      continue;
    end if;
    if d.attempts >= tries then
      update webhooks.deliveries x
         set status = 'dead', finished_at = clock_timestamp(), last_status = r.http_status,
             last_error = r.error, claimed_until = null, claim_token = null
       where x.id = d.id;
      n_dead := n_dead + 1;
    else
      delay := cfg.retry_schedule_seconds[d.attempts];
      if r.http_status in (429, 503) and r.retry_after is not null then
        delay := greatest(delay, least(r.retry_after, cfg.max_retry_after_seconds));
      end if;
      update webhooks.deliveries x
         set next_attempt_at = now() + make_interval(secs => delay), last_status = r.http_status,
             last_error = r.error, claimed_until = null, claim_token = null
       where x.id = d.id;
      n_retried := n_retried + 1;
    end if;
    update webhooks.endpoints e set failing_since = coalesce(e.failing_since, now())
     where e.id = d.endpoint_id
    returning e.failing_since into failing;
    if failing <= now() - cfg.auto_disable_after then
      update webhooks.endpoints e
         set enabled = false, disabled_at = now(), updated_at = now(),
             disabled_reason = 'every try failed since ' || to_char(failing at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')
       where e.id = d.endpoint_id and e.enabled;
      if found then disabled := disabled || d.endpoint_id; end if;
    end if;
  end loop;
  select (extract(epoch from min(x.next_attempt_at) - now()) * 1000)::bigint into next_due
    from webhooks.deliveries x where x.status = 'pending' and x.next_attempt_at > now();
  return jsonb_build_object('updated', n_updated, 'delivered', n_delivered, 'retried', n_retried,
                            'dead', n_dead, 'disabled', to_jsonb(disabled), 'next_due_ms', next_due);
end
$$;

-- Retention -------------------------------------------------------------------------------------
-- purge: delete finished deliveries and attempts past their retention, and events older than
-- the delivery retention that no delivery refers to any more; at most batch_size rows of each
-- per call (`more` says whether to call again). Pending deliveries are never deleted.
create or replace function webhooks.purge(batch_size int default 10000) returns jsonb
language plpgsql set search_path = ''
as $$
declare
  cfg webhooks.config;
  n_att int;
  n_del int;
  n_ev int;
begin
  if batch_size is null or batch_size not between 1 and 1000000 then
    raise exception 'purge: batch_size 1..1000000' using errcode = '22023';
  end if;
  select * into cfg from webhooks.config;
  delete from webhooks.attempts a
   where a.id = any (array(select x.id from webhooks.attempts x
                           where x.attempted_at < now() - cfg.attempt_retention limit batch_size));
  get diagnostics n_att = row_count;
  delete from webhooks.deliveries d
   where d.id = any (array(select x.id from webhooks.deliveries x
                           where x.status <> 'pending' and x.finished_at < now() - cfg.delivery_retention
                           limit batch_size));
  get diagnostics n_del = row_count;
  delete from webhooks.events v
   where v.id = any (array(select x.id from webhooks.events x
                           where x.created_at < now() - cfg.delivery_retention
                             and not exists (select 1 from webhooks.deliveries d where d.event_id = x.id)
                           limit batch_size));
  get diagnostics n_ev = row_count;
  return jsonb_build_object('attempts', n_att, 'deliveries', n_del, 'events', n_ev,
                            'more', greatest(n_att, n_del, n_ev) >= batch_size);
end
$$;

-- Visibility ------------------------------------------------------------------------------------
create or replace view webhooks.endpoint_stats with (security_invoker = true) as
select e.id as endpoint_id, e.url, e.enabled, e.disabled_reason, e.failing_since,
       coalesce(d.pending, 0) as pending, coalesce(d.in_flight, 0) as in_flight,
       coalesce(d.delivered, 0) as delivered, coalesce(d.dead, 0) as dead,
       coalesce(a.attempts_24h, 0) as attempts_24h, coalesce(a.failures_24h, 0) as failures_24h,
       a.p50_latency_ms_24h, a.p99_latency_ms_24h, a.last_attempt_at, a.last_success_at,
       d.oldest_pending_at
  from webhooks.endpoints e
  left join lateral (
    select count(*) filter (where x.status = 'pending') as pending,
           count(*) filter (where x.status = 'pending' and x.claimed_until > now()) as in_flight,
           count(*) filter (where x.status = 'delivered') as delivered,
           count(*) filter (where x.status = 'dead') as dead,
           min(x.created_at) filter (where x.status = 'pending') as oldest_pending_at
      from webhooks.deliveries x where x.endpoint_id = e.id) d on true
  left join lateral (
    select count(*) filter (where y.attempted_at > now() - interval '24 hours') as attempts_24h,
           count(*) filter (where y.attempted_at > now() - interval '24 hours'
                              and (y.http_status is null or y.http_status not between 200 and 299)) as failures_24h,
           (percentile_disc(0.5) within group (order by y.latency_ms)
              filter (where y.attempted_at > now() - interval '24 hours')) as p50_latency_ms_24h,
           (percentile_disc(0.99) within group (order by y.latency_ms)
              filter (where y.attempted_at > now() - interval '24 hours')) as p99_latency_ms_24h,
           max(y.attempted_at) as last_attempt_at,
           max(y.attempted_at) filter (where y.http_status between 200 and 299) as last_success_at
      from webhooks.attempts y where y.endpoint_id = e.id) a on true;
comment on view webhooks.endpoint_stats is
  'Per endpoint: deliveries by status, tries and failures in the last 24 h, latency p50/p99, last try and success.';

-- The HTTP entry points (public: the REST server exposes public only) --------------------------
create or replace function public.webhooks_claim(batch_size int default 100, max_per_row int default 4,
                                                 lease_seconds int default null)
returns jsonb
language sql set search_path = ''
as $$ select webhooks.claim_deliveries(batch_size, max_per_row, lease_seconds) $$;

create or replace function public.webhooks_record(claim uuid, results jsonb) returns jsonb
language sql set search_path = ''
as $$ select webhooks.record_attempts(claim, results) $$;

-- webhooks.admin(action, args): the SQL API as one call, for the webhook-admin function (through
-- public.webhooks_admin below). Bad input raises 22023, an unknown endpoint P0002.
create or replace function webhooks.admin(action text, args jsonb default '{}') returns jsonb
language plpgsql set search_path = ''
as $$
declare
  a jsonb := coalesce(args, '{}');
  out jsonb;
  types text[];
begin
  if jsonb_typeof(a) <> 'object' then
    raise exception 'args must be an object' using errcode = '22023';
  end if;
  if a ? 'event_types' and jsonb_typeof(a -> 'event_types') not in ('array', 'null') then
    raise exception 'event_types must be an array of strings or null' using errcode = '22023';
  end if;
  if jsonb_typeof(a -> 'event_types') = 'array' then
    if exists (select 1 from jsonb_array_elements(a -> 'event_types') t where jsonb_typeof(t) <> 'string') then
      raise exception 'event_types must be an array of strings or null' using errcode = '22023';
    end if;
    select array_agg(t) into types from jsonb_array_elements_text(a -> 'event_types') t;
    types := coalesce(types, '{}');
  end if;
  case action
    when 'subscribe' then
      out := webhooks.subscribe((a ->> 'table')::regclass,
                                coalesce((select array_agg(t) from jsonb_array_elements_text(a -> 'events') t),
                                         '{INSERT,UPDATE,DELETE}'));
    when 'unsubscribe' then
      out := jsonb_build_object('unsubscribed', webhooks.unsubscribe((a ->> 'table')::regclass));
    when 'create_endpoint' then
      select to_jsonb(c) into out from webhooks.create_endpoint(a ->> 'url', types, a ->> 'description') c;
    when 'rotate_secret' then
      out := jsonb_build_object('secret', webhooks.rotate_secret((a ->> 'id')::uuid));
    when 'disable_endpoint' then
      perform webhooks.disable_endpoint((a ->> 'id')::uuid, coalesce(a ->> 'reason', 'disabled by an operator'));
      out := jsonb_build_object('id', a ->> 'id', 'enabled', false);
    when 'enable_endpoint' then
      perform webhooks.enable_endpoint((a ->> 'id')::uuid);
      out := jsonb_build_object('id', a ->> 'id', 'enabled', true);
    when 'delete_endpoint' then
      perform webhooks.delete_endpoint((a ->> 'id')::uuid);
      out := jsonb_build_object('id', a ->> 'id', 'deleted', true);
    when 'replay' then
      out := jsonb_build_object('requeued', webhooks.replay((a ->> 'id')::uuid, (a ->> 'since')::timestamptz));
    when 'requeue_dead' then
      out := jsonb_build_object('requeued', webhooks.requeue_dead((a ->> 'endpoint_id')::uuid,
        (a ->> 'since')::timestamptz, (a ->> 'until')::timestamptz, types));
    when 'list_endpoints' then
      select coalesce(jsonb_agg(to_jsonb(s) order by e.created_at, e.id), '[]') into out
        from webhooks.endpoints e join webhooks.endpoint_stats s on s.endpoint_id = e.id;
    when 'list_deliveries' then
      select coalesce(jsonb_agg(to_jsonb(x) order by x.id desc), '[]') into out from (
        select d.id, v.message_id as webhook_id, v.event_type, d.endpoint_id, d.status, d.attempts,
               d.next_attempt_at, d.last_status, d.last_error, d.created_at, d.finished_at
          from webhooks.deliveries d join webhooks.events v on v.id = d.event_id
         where (a ->> 'endpoint_id' is null or d.endpoint_id = (a ->> 'endpoint_id')::uuid)
           and (a ->> 'status' is null or d.status = a ->> 'status')
         order by d.id desc
         limit least(greatest(coalesce((a ->> 'limit')::int, 100), 1), 1000)) x;
    when 'list_attempts' then
      select coalesce(jsonb_agg(to_jsonb(y) order by y.id desc), '[]') into out from (
        select t.id, t.delivery_id, t.endpoint_id, t.attempt, t.attempted_at, t.http_status, t.latency_ms,
               t.response, t.error
          from webhooks.attempts t
         where (a ->> 'delivery_id' is null or t.delivery_id = (a ->> 'delivery_id')::bigint)
           and (a ->> 'endpoint_id' is null or t.endpoint_id = (a ->> 'endpoint_id')::uuid)
         order by t.id desc
         limit least(greatest(coalesce((a ->> 'limit')::int, 100), 1), 1000)) y;
    else
      raise exception 'unknown action %', coalesce(action, 'null') using errcode = '22023';
  end case;
  return out;
exception
  when invalid_text_representation or invalid_datetime_format or datetime_field_overflow
       or undefined_table or invalid_name or numeric_value_out_of_range or invalid_parameter_value
       or syntax_error or undefined_object then
    raise exception '%', sqlerrm using errcode = '22023';
end
$$;

-- public.webhooks_admin(action, args): webhooks.admin over the REST API. Answers
-- {"ok": true, "result": ..} or, for bad input (22023) or an unknown endpoint (P0002),
-- {"ok": false, "error": {"code": "invalid_input" | "not_found", "message"}}: the exception
-- block rolls back whatever the call had done, so a refused call changes nothing.
create or replace function public.webhooks_admin(action text, args jsonb default '{}') returns jsonb
language plpgsql set search_path = ''
as $$
begin
  return jsonb_build_object('ok', true, 'result', webhooks.admin(action, args));
exception
  when sqlstate '22023' then
    return jsonb_build_object('ok', false, 'error', jsonb_build_object('code', 'invalid_input', 'message', sqlerrm));
  when sqlstate 'P0002' then
    return jsonb_build_object('ok', false, 'error', jsonb_build_object('code', 'not_found', 'message', sqlerrm));
end
$$;

-- Privileges: service_role and postgres only ----------------------------------------------------
revoke all on all tables in schema webhooks from public, anon, authenticated;
revoke all on all sequences in schema webhooks from public, anon, authenticated;
revoke all on all functions in schema webhooks from public, anon, authenticated;
grant select, insert, update, delete on all tables in schema webhooks to service_role;
grant usage, select on all sequences in schema webhooks to service_role;
grant execute on all functions in schema webhooks to service_role;
-- The trigger function runs for every writer as its owner; nobody calls it directly.
revoke execute on function webhooks.capture() from service_role;
revoke all on function public.webhooks_claim(int, int, int) from public, anon, authenticated;
revoke all on function public.webhooks_record(uuid, jsonb) from public, anon, authenticated;
revoke all on function public.webhooks_admin(text, jsonb) from public, anon, authenticated;
grant execute on function public.webhooks_claim(int, int, int) to service_role;
grant execute on function public.webhooks_record(uuid, jsonb) to service_role;
grant execute on function public.webhooks_admin(text, jsonb) to service_role;

-- Scheduling where pg_cron exists (hosted Supabase): the daily purge. Dispatch is scheduled by
-- 20261204002010_webhooks_schedule.sql. Elsewhere a notice; scripts/scheduler.ts does both.
do $outer$
begin
  if not exists (select 1 from pg_available_extensions where name = 'pg_cron') then
    raise notice 'pg_cron is not available: webhooks.purge is not scheduled here (scripts/scheduler.ts calls it)';
    return;
  end if;
  create extension if not exists pg_cron;
  perform cron.unschedule(j.jobid) from cron.job j where j.jobname = 'webhooks-purge';
  perform cron.schedule('webhooks-purge', '27 3 * * *', 'select webhooks.purge()');
exception
  when others then
    raise warning 'webhooks.purge could not be scheduled with pg_cron: % (%)', sqlerrm, sqlstate;
end
$outer$;
