-- Hosted Supabase: run dispatch-events every 5 seconds with pg_cron + pg_net.
--
-- Applied only where both extensions are available; elsewhere (the local stack, which runs
-- scripts/scheduler.ts instead: LISTEN on event_outbox + a 2 s timer) it raises a notice and
-- changes nothing, so every migration still applies.
--
-- Settings the job needs, read at each run (so they can be set after this migration):
--   project URL:      Vault secret 'project_url'      (e.g. https://<ref>.supabase.co)
--                     or the setting app.settings.supabase_url
--   service_role key: Vault secret 'service_role_key'
--                     or the setting app.settings.service_role_key
-- e.g.  select vault.create_secret('https://<ref>.supabase.co', 'project_url');
--       select vault.create_secret('<service_role key>', 'service_role_key');
-- Until both are set, each run raises a notice and calls nothing.
-- The function also needs its own secret: `supabase secrets set ORDER_EVENTS_SECRET=whsec_...`.
--
-- pg_net is asynchronous: a run only queues the call, so a slow dispatcher never delays
-- pg_cron; overlapping calls are safe (claims are disjoint, see claim_outbox_events).
-- Idempotent: the job is replaced by name.

do $outer$
begin
  if not (exists (select 1 from pg_available_extensions where name = 'pg_cron')
          and exists (select 1 from pg_available_extensions where name = 'pg_net')) then
    raise notice 'pg_cron or pg_net is not available: dispatch-events is not scheduled here (run scripts/scheduler.ts, which scripts/stack.sh starts)';
    return;
  end if;

  create extension if not exists pg_cron;
  create extension if not exists pg_net;

  -- Calls dispatch-events once; service_role only (and pg_cron's owner).
  execute $fn$
    create or replace function public.invoke_dispatch_events() returns bigint
    language plpgsql security definer set search_path = ''
    as $body$
    declare
      url text;
      key text;
    begin
      begin
        select decrypted_secret into url from vault.decrypted_secrets where name = 'project_url';
        select decrypted_secret into key from vault.decrypted_secrets where name = 'service_role_key';
      exception when undefined_table or invalid_schema_name or insufficient_privilege then
        null; -- no Vault here: fall back to the settings
      end;
      url := coalesce(url, nullif(current_setting('app.settings.supabase_url', true), ''));
      key := coalesce(key, nullif(current_setting('app.settings.service_role_key', true), ''));
      if url is null or key is null then
        raise notice 'invoke_dispatch_events: set the project_url and service_role_key Vault secrets';
        return null;
      end if;
      return net.http_post(
        url := rtrim(url, '/') || '/functions/v1/dispatch-events',
        headers := jsonb_build_object('Content-Type', 'application/json',
                                      'Authorization', 'Bearer ' || key),
        body := '{}'::jsonb,
        timeout_milliseconds := 60000
      );
    end
    $body$
  $fn$;
  execute 'revoke all on function public.invoke_dispatch_events() from public, anon, authenticated';
  execute 'grant execute on function public.invoke_dispatch_events() to service_role';
  execute $c$comment on function public.invoke_dispatch_events() is
    'POST dispatch-events with the service_role key (Vault project_url + service_role_key); run by pg_cron every 5 s.'$c$;

  perform cron.unschedule(j.jobid) from cron.job j where j.jobname = 'dispatch-events';
  perform cron.schedule('dispatch-events', '5 seconds', 'select public.invoke_dispatch_events()');
exception
  -- e.g. pg_cron available but not preloaded, or created in another database: say so, and let
  -- the other migrations apply; the outbox still works with any other caller of dispatch-events.
  when others then
    raise warning 'dispatch-events could not be scheduled with pg_cron: % (%)', sqlerrm, sqlstate;
end
$outer$;
