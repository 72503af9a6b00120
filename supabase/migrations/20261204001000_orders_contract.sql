-- The orders RPCs as one typed contract (issue 10, points 1, 5 and 8). Replaces, forward only:
--
-- - idempotency_begin / idempotency_finish (scope, endpoint, key): the Idempotency-Key is now
--   handled inside the read and apply RPCs, so process-order and cancel-order make two REST
--   round trips with or without a key (four before). begin_order_request reads the order as
--   the caller sees it and, with a key, claims it (scope from the caller's JWT, here, once);
--   apply_order_processing and order_transition store the response under the claim in their
--   own transaction. idempotency_finish(claim, ..) remains for what Rust refuses between the
--   two (state machine, pricing: a second and last round trip) and to release a claim on 5xx.
-- - apply_order_event_processing, a forwarder re-declaring ten parameters: gone. The one apply
--   function takes the event's receipt as an optional parameter and writes it with the effect.
-- - Refusals as reason strings: every refusal is {"refusal": {"kind": .., ..}} (a tagged enum
--   the Rust side deserializes into `Refusal`), {"refusal": null} when applied.
-- - The "lock the order, check its status" and "stock needed (locked in product id order)"
--   blocks, repeated in three functions: private.lock_order and private.lock_stock_needed.
--
-- The outbox receiver's functions (begin_order_event, record_order_event, fulfill_order_event)
-- stay in 20261121000700; only the forwarder is dropped here, with the functions it forwarded
-- to. Grants name functions without their signatures (each name has one signature).
-- Callers: deploy the functions built from this commit right after this migration (the
-- previous functions call RPCs dropped here). Stored idempotency keys keep replaying (scope
-- format unchanged, rows without a claim token can be taken over when their lease expires).
-- Idempotent: safe to re-run.

create schema if not exists private;
revoke all on schema private from public, anon, authenticated;
grant usage on schema private to service_role;

alter table public.idempotency_keys add column if not exists claim_token uuid;
-- A refusal of the apply RPC, stored typed: Rust renders it, with the function that rendered
-- the first response, so a replay is the same bytes.
alter table public.idempotency_keys add column if not exists response_refusal jsonb;
create unique index if not exists idempotency_keys_claim_token_idx on public.idempotency_keys (claim_token);

drop function if exists public.apply_order_event_processing(text, text, text, bigint, text, bigint, bigint, bigint, bigint, bigint, jsonb, text, uuid);
drop function if exists public.apply_order_processing(bigint, text, bigint, bigint, bigint, bigint, bigint, jsonb, text, uuid);
drop function if exists public.order_transition(bigint, text, text, uuid);
drop function if exists public.idempotency_begin(text, text, text, text, int);
drop function if exists public.idempotency_finish(text, text, text, int, jsonb, boolean, text);

-- Private helpers -------------------------------------------------------------------------------

-- The order, locked FOR UPDATE, and why it cannot change: not_found, or status_conflict naming
-- its status when it is not in expected_status (refusal null: go on).
create or replace function private.lock_order(order_id bigint, expected_status text,
                                              out locked public.orders, out refusal jsonb)
language plpgsql set search_path = ''
as $$
begin
  select * into locked from public.orders o where o.id = lock_order.order_id for update;
  if not found then
    refusal := jsonb_build_object('kind', 'not_found');
  elsif locked.status <> lock_order.expected_status then
    refusal := jsonb_build_object('kind', 'status_conflict', 'current_status', locked.status);
  end if;
end
$$;

-- The stock an order's lines need, one row per product, each product locked FOR NO KEY UPDATE
-- in product id order (no deadlock between writers of stock, no conflict with the FOR KEY
-- SHARE of foreign-key checks: see 20261204000100 F2), with its stock after the lock.
create or replace function private.lock_stock_needed(order_id bigint)
returns table (product_id bigint, sku text, needed bigint, stock int)
language sql volatile set search_path = ''
as $$
  select p.id, p.sku, need.qty, p.stock
    from (select i.product_id, sum(i.quantity)::bigint as qty from public.order_items i
           where i.order_id = lock_stock_needed.order_id group by i.product_id) need
    join public.products p on p.id = need.product_id
   order by p.id
   for no key update of p
$$;

-- The idempotency answer for an existing key row, or null when the caller may take it over
-- (same request, not done, lease expired).
create or replace function private.idempotency_answer(k public.idempotency_keys, request_hash text)
returns jsonb
language sql stable set search_path = ''
as $$
  select case
    when k.request_hash <> idempotency_answer.request_hash then jsonb_build_object('state', 'mismatch')
    when k.state = 'done' then jsonb_build_object('state', 'replay', 'status', k.response_status,
      'body', k.response_body, 'body_text', k.response_text, 'refusal', k.response_refusal)
    when k.locked_until > now() then jsonb_build_object('state', 'in_flight')
  end
$$;

-- Store the outcome of a claimed request (its response text, or its refusal), or release the
-- claim (both null: a 5xx, so that a retry runs again). A claim taken over by another request
-- after its lease expired is no longer this caller's: nothing happens.
create or replace function private.idempotency_settle(claim uuid, response_status int, response_text text,
                                                      refusal jsonb)
returns void
language plpgsql set search_path = ''
as $$
begin
  if claim is null then
    return;
  end if;
  if response_text is null and refusal is null then
    delete from public.idempotency_keys t where t.claim_token = idempotency_settle.claim and t.state = 'in_flight';
  else
    update public.idempotency_keys t
       set state = 'done', response_status = idempotency_settle.response_status,
           response_text = idempotency_settle.response_text,
           response_refusal = idempotency_settle.refusal, expires_at = now() + interval '24 hours'
     where t.claim_token = idempotency_settle.claim and t.state = 'in_flight';
  end if;
end
$$;

revoke all on all functions in schema private from public, anon, authenticated;
grant execute on all functions in schema private to service_role;

-- The read --------------------------------------------------------------------------------------

-- begin_order_request: the order as the caller sees it (order_for_processing), and with an
-- Idempotency-Key, the key's state, in one round trip. Called with the caller's JWT. Keys are
-- scoped to the caller (user:<id> or role:service_role, from the JWT) and the endpoint; expired
-- ones are deleted here (at most 100 a call).
-- Answers {"state": "read", "snapshot": {..} | null, "claim": uuid | null}: the caller holds
-- the key for lease_seconds when claim is set (a key is claimed only for an order the caller
-- can see: a 404 stores nothing); or {"state": "replay", "status", "body_text", "body",
-- "refusal"}, {"state": "mismatch"}, {"state": "in_flight"}.
create or replace function public.begin_order_request(
  order_id bigint,
  endpoint text default null,
  idempotency_key text default null,
  request_hash text default null,
  lease_seconds int default 30
) returns jsonb
language plpgsql volatile security definer set search_path = ''
as $$
declare
  caller_scope text;
  k public.idempotency_keys;
  answer jsonb;
  snap jsonb;
  claim uuid;
begin
  if idempotency_key is not null then
    caller_scope := case when auth.role() = 'service_role' then 'role:service_role' else 'user:' || auth.uid() end;
    if caller_scope is null or endpoint is null or request_hash is null then
      raise exception 'an idempotency key needs a signed-in caller, an endpoint and a request hash'
        using errcode = '42501';
    end if;
    delete from public.idempotency_keys
     where ctid = any (array(select ctid from public.idempotency_keys where expires_at < now() limit 100));
    select * into k from public.idempotency_keys t
     where t.scope = caller_scope and t.endpoint = begin_order_request.endpoint
       and t.key = idempotency_key
     for update;
    if found then
      answer := private.idempotency_answer(k, request_hash);
      if answer is not null then
        return answer;
      end if;
    end if;
  end if;

  snap := public.order_for_processing(begin_order_request.order_id);
  if idempotency_key is not null and snap is not null then
    if k.key is not null then -- a lease that expired: take it over
      update public.idempotency_keys t
         set locked_until = now() + make_interval(secs => lease_seconds), claim_token = gen_random_uuid()
       where t.scope = k.scope and t.endpoint = k.endpoint and t.key = k.key
      returning t.claim_token into claim;
    else
      insert into public.idempotency_keys as t (scope, endpoint, key, request_hash, locked_until, claim_token)
      values (caller_scope, endpoint, idempotency_key, request_hash, now() + make_interval(secs => lease_seconds),
              gen_random_uuid())
      on conflict do nothing
      returning t.claim_token into claim;
      if claim is null then -- a concurrent request with this key got there first
        select * into k from public.idempotency_keys t
         where t.scope = caller_scope and t.endpoint = begin_order_request.endpoint
           and t.key = idempotency_key;
        return coalesce(private.idempotency_answer(k, request_hash), jsonb_build_object('state', 'in_flight'));
      end if;
    end if;
  end if;
  return jsonb_build_object('state', 'read', 'snapshot', snap, 'claim', claim);
end
$$;

-- The writes (service_role only) ----------------------------------------------------------------

-- apply_order_processing: the effects of one processing, all or nothing, if the order is still
-- in expected_status and its lines are the ones priced (optimistic concurrency), every line has
-- its stock and the discount has redemptions left. With a claim, the outcome is stored for the
-- Idempotency-Key (response_text on success, the refusal otherwise); with a receipt
-- ({"source", "event_id", "event_type"}: order-events), the event's receipt is written with the
-- effect. Answers {"refusal": null} or {"refusal": {"kind": "not_found" | "status_conflict"
-- (current_status) | "order_changed" | "insufficient_stock" (lines) | "discount_unknown" |
-- "discount_exhausted"}} with no effect written.
create or replace function public.apply_order_processing(
  order_id bigint,
  expected_status text,
  subtotal_amount bigint,
  discount_amount bigint,
  tax_amount bigint,
  shipping_amount bigint,
  total_amount bigint,
  lines jsonb,
  discount_code text default null,
  actor uuid default null,
  claim uuid default null,
  response_text text default null,
  receipt jsonb default null
) returns jsonb
language plpgsql set search_path = ''
as $$
declare
  l record;
  o public.orders;
  refusal jsonb;
  short jsonb;
  ids bigint[];
  qtys bigint[];
  d public.discount_codes;
begin
  perform set_config('app.actor', coalesce(actor::text, ''), true);
  <<checks>>
  begin
    select * into l from private.lock_order(apply_order_processing.order_id, expected_status);
    o := l.locked;
    refusal := l.refusal;
    exit checks when refusal is not null;

    if (select coalesce(array_agg(x order by x), '{}') from (
          select array[(e ->> 'product_id')::bigint, (e ->> 'quantity')::bigint, (e ->> 'unit_amount')::bigint] x
            from jsonb_array_elements(lines) e) priced)
       is distinct from
       (select coalesce(array_agg(x order by x), '{}') from (
          select array[i.product_id, i.quantity::bigint, i.unit_amount::bigint] x
            from public.order_items i where i.order_id = o.id) current) then
      refusal := jsonb_build_object('kind', 'order_changed');
      exit checks;
    end if;

    select jsonb_agg(jsonb_build_object('product_id', s.product_id, 'sku', s.sku,
             'requested', s.needed, 'available', s.stock) order by s.product_id)
             filter (where s.stock < s.needed),
           array_agg(s.product_id), array_agg(s.needed)
      into short, ids, qtys
      from private.lock_stock_needed(o.id) s;
    if short is not null then
      refusal := jsonb_build_object('kind', 'insufficient_stock', 'lines', short);
      exit checks;
    end if;

    if apply_order_processing.discount_code is not null then
      select * into d from public.discount_codes c where c.code = apply_order_processing.discount_code for update;
      if not found then
        refusal := jsonb_build_object('kind', 'discount_unknown');
        exit checks;
      end if;
      if d.max_redemptions is not null and d.redemptions >= d.max_redemptions then
        refusal := jsonb_build_object('kind', 'discount_exhausted');
        exit checks;
      end if;
      update public.discount_codes c set redemptions = c.redemptions + 1 where c.code = d.code;
    end if;

    update public.products p set stock = p.stock - n.qty
      from unnest(ids, qtys) as n(id, qty)
     where p.id = n.id;

    update public.orders set
        status = 'processed',
        subtotal_amount = apply_order_processing.subtotal_amount,
        discount_amount = apply_order_processing.discount_amount,
        tax_amount = apply_order_processing.tax_amount,
        shipping_amount = apply_order_processing.shipping_amount,
        total_amount = apply_order_processing.total_amount,
        processed_at = now()
      where id = o.id;

    if receipt is not null then
      insert into public.received_events (source, event_id, event_type, order_id, outcome, details)
      values (receipt ->> 'source', receipt ->> 'event_id', receipt ->> 'event_type', o.id, 'processed',
              jsonb_build_object('total_amount', apply_order_processing.total_amount, 'currency', o.currency))
      on conflict do nothing;
    end if;
  end checks;
  perform private.idempotency_settle(claim, case when refusal is null then 200 end,
                                     case when refusal is null then response_text end, refusal);
  return jsonb_build_object('refusal', refusal);
end
$$;

-- order_transition: a status change the Rust state machine allowed, if the order is still in
-- from_status; cancelling a processed order releases the stock its processing reserved. With a
-- claim, the outcome is stored for the Idempotency-Key. Answers as apply_order_processing.
create or replace function public.order_transition(
  order_id bigint,
  from_status text,
  to_status text,
  actor uuid default null,
  claim uuid default null,
  response_text text default null
) returns jsonb
language plpgsql set search_path = ''
as $$
declare
  l record;
  o public.orders;
  refusal jsonb;
  ids bigint[];
  qtys bigint[];
begin
  perform set_config('app.actor', coalesce(actor::text, ''), true);
  select * into l from private.lock_order(order_transition.order_id, from_status);
  o := l.locked;
  refusal := l.refusal;
  if refusal is null then
    if from_status = 'processed' and to_status = 'cancelled' then
      -- Lock first, update in a statement of its own: its snapshot, taken after the locks, sees
      -- the versions locked. (An UPDATE joined to the locking function scanned the versions
      -- of its own, older snapshot and deadlocked with processing under load.)
      select array_agg(s.product_id), array_agg(s.needed) into ids, qtys
        from private.lock_stock_needed(o.id) s;
      update public.products p set stock = p.stock + n.qty
        from unnest(ids, qtys) as n(id, qty)
       where p.id = n.id;
    end if;
    update public.orders set status = to_status where id = o.id;
  end if;
  perform private.idempotency_settle(claim, case when refusal is null then 200 end,
                                     case when refusal is null then response_text end, refusal);
  return jsonb_build_object('refusal', refusal);
end
$$;

-- idempotency_finish: the outcome of a claimed request that ended between the read and the
-- apply (a refusal of the state machine or of pricing: its status and exact body), or, with
-- no status, the claim released (a 5xx: a retry runs again).
create or replace function public.idempotency_finish(
  claim uuid, response_status int default null, response_text text default null
) returns void
language sql set search_path = ''
as $$
  select private.idempotency_settle(claim, response_status,
    case when response_status is not null then coalesce(response_text, '') end, null)
$$;

revoke all on function public.begin_order_request from public, anon;
grant execute on function public.begin_order_request to authenticated, service_role;
revoke all on function public.apply_order_processing, public.order_transition, public.idempotency_finish
  from public, anon, authenticated;
grant execute on function public.apply_order_processing, public.order_transition, public.idempotency_finish
  to service_role;
