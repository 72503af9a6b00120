-- Retention: public.purge_retention() deletes what no rule needs any more, in bounded batches.
-- service_role only. Scheduled daily by pg_cron where it exists (hosted Supabase); the local
-- stack's scheduler (scripts/scheduler.ts) calls it otherwise.
--
-- Defaults, each safe for the dedupe window it protects:
--   received_events     30 days  order-events' dedupe of webhook-ids. The dispatcher's retries of
--                                one event span about 70 minutes (12 attempts, backoff doubling
--                                from 2 s, capped at 1 h); requeue_dead_events can bring an
--                                event back later, so a month is kept. (A redelivery after
--                                that still changes nothing: processing answers status_conflict,
--                                a fulfillment is one per order.)
--   webhook_events      30 days  payment-webhook's dedupe of provider event ids: Stripe retries
--                                for up to 3 days, and a replay from its dashboard can come
--                                later; a month is ten times the retry window.
--                      365 days  for events with a payment_exceptions row (deleting the event
--                                deletes its exception, which is for a person to look at).
--   idempotency_keys    expired  (expires_at, 24 hours after the response was stored).
--   event_outbox         7 days  after delivery (delivered rows only; pending and dead rows are
--                                never deleted).
--   audit_log          365 days  (a business decision: pass null to keep it forever).
-- The dedupe windows cannot be set below 7 days (22023): more than twice Stripe's 3 days.
-- Each table loses at most batch_size rows per call (short transactions); `more` says whether
-- any table had more to delete, so a caller can call again.
-- Answers {"received_events": n, "webhook_events": n, "idempotency_keys": n, "event_outbox": n,
--          "audit_log": n, "more": bool}.
-- Idempotent: safe to re-run.

create or replace function public.purge_retention(
  received_events_after interval default '30 days',
  webhook_events_after interval default '30 days',
  webhook_exceptions_after interval default '365 days',
  outbox_delivered_after interval default '7 days',
  audit_log_after interval default '365 days',
  batch_size int default 10000
) returns jsonb
language plpgsql set search_path = ''
as $$
declare
  n_received int;
  n_webhook int;
  n_idem int;
  n_outbox int;
  n_audit int := 0;
begin
  if received_events_after is null or received_events_after < interval '7 days'
     or webhook_events_after is null or webhook_events_after < interval '7 days'
     or webhook_exceptions_after is null or webhook_exceptions_after < webhook_events_after then
    raise exception 'purge_retention: dedupe windows must be at least 7 days (webhook exceptions at least as long as webhook events)'
      using errcode = '22023';
  end if;
  if outbox_delivered_after is null or outbox_delivered_after < interval '1 day'
     or (audit_log_after is not null and audit_log_after < interval '1 day')
     or batch_size is null or batch_size not between 1 and 1000000 then
    raise exception 'purge_retention: outbox and audit retention at least 1 day, batch_size 1..1000000'
      using errcode = '22023';
  end if;

  delete from public.received_events r
   where r.ctid = any (array(select x.ctid from public.received_events x
                             where x.received_at < now() - received_events_after limit batch_size));
  get diagnostics n_received = row_count;

  delete from public.webhook_events w
   where w.ctid = any (array(
     select x.ctid from public.webhook_events x
      where x.received_at < now() - webhook_events_after
        and (x.received_at < now() - webhook_exceptions_after
             or not exists (select 1 from public.payment_exceptions p
                             where p.provider = x.provider and p.event_id = x.event_id))
      limit batch_size));
  get diagnostics n_webhook = row_count;

  delete from public.idempotency_keys k
   where k.ctid = any (array(select x.ctid from public.idempotency_keys x
                             where x.expires_at < now() limit batch_size));
  get diagnostics n_idem = row_count;

  delete from public.event_outbox e
   where e.id = any (array(select x.id from public.event_outbox x
                           where x.status = 'delivered' and x.delivered_at < now() - outbox_delivered_after
                           limit batch_size));
  get diagnostics n_outbox = row_count;

  if audit_log_after is not null then
    delete from public.audit_log a
     where a.id = any (array(select x.id from public.audit_log x
                             where x.created_at < now() - audit_log_after limit batch_size));
    get diagnostics n_audit = row_count;
  end if;

  return jsonb_build_object('received_events', n_received, 'webhook_events', n_webhook,
    'idempotency_keys', n_idem, 'event_outbox', n_outbox, 'audit_log', n_audit,
    'more', greatest(n_received, n_webhook, n_idem, n_outbox, n_audit) >= batch_size);
end
$$;
revoke all on function public.purge_retention(interval, interval, interval, interval, interval, int)
  from public, anon, authenticated;
grant execute on function public.purge_retention(interval, interval, interval, interval, interval, int)
  to service_role;
comment on function public.purge_retention(interval, interval, interval, interval, interval, int) is
  'Deletes received_events/webhook_events older than 30 days (webhook events with a payment exception: 365), expired idempotency keys, outbox rows delivered over 7 days ago, audit_log rows over 365 days old; batched. service_role only.';

-- Hosted Supabase: once a day with pg_cron. Elsewhere a notice, and scripts/scheduler.ts calls it.
do $outer$
begin
  if not exists (select 1 from pg_available_extensions where name = 'pg_cron') then
    raise notice 'pg_cron is not available: purge_retention is not scheduled here (scripts/scheduler.ts calls it)';
    return;
  end if;
  create extension if not exists pg_cron;
  perform cron.unschedule(j.jobid) from cron.job j where j.jobname = 'purge-retention';
  perform cron.schedule('purge-retention', '17 3 * * *', 'select public.purge_retention()');
exception
  when others then
    raise warning 'purge_retention could not be scheduled with pg_cron: % (%)', sqlerrm, sqlstate;
end
$outer$;
