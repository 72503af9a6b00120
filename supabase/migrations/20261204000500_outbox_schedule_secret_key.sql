-- Hosted Supabase: the dispatch-events schedule (20261121000800) moves to the new API keys, as
-- Supabase documents for calling a function from pg_cron + pg_net, and cron's own log is purged.
--
-- What changes:
--   - The key comes from the Vault secret 'secret_key' (a `sb_secret_...` key) and is sent as the
--     `apikey` header; functions check it in constant time (shared/src/auth). The legacy
--     'service_role_key' secret (a JWT) still works while a project has legacy keys: a key that
--     is not an sb_ key is also sent as `Authorization: Bearer`. dispatch-events has
--     verify_jwt = false and authenticates the caller itself.
--   - A daily job deletes cron.job_run_details rows older than 3 days: pg_cron never purges
--     them, and the 5 s job adds about 17,000 rows a day.
--
-- Set once per project (read at each run, so they can be set after this migration):
--   select vault.create_secret('https://<ref>.supabase.co', 'project_url');
--   select vault.create_secret('sb_secret_...', 'secret_key');
-- (the settings app.settings.supabase_url / app.settings.secret_key are read where there is no
-- Vault). Until both are set, each run raises a notice and calls nothing.
--
-- Applied only where pg_cron and pg_net are available; elsewhere (the local stack, which runs
-- scripts/scheduler.ts) a notice, nothing changed, so every migration still applies.
-- Idempotent: the function is replaced, the jobs are replaced by name.

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
      headers jsonb;
    begin
      begin
        select decrypted_secret into url from vault.decrypted_secrets where name = 'project_url';
        select coalesce(
                 (select decrypted_secret from vault.decrypted_secrets where name = 'secret_key'),
                 (select decrypted_secret from vault.decrypted_secrets where name = 'service_role_key'))
          into key;
      exception when undefined_table or invalid_schema_name or insufficient_privilege then
        null; -- no Vault here: fall back to the settings
      end;
      url := coalesce(url, nullif(current_setting('app.settings.supabase_url', true), ''));
      key := coalesce(key, nullif(current_setting('app.settings.secret_key', true), ''),
                      nullif(current_setting('app.settings.service_role_key', true), ''));
      if url is null or key is null then
        raise notice 'invoke_dispatch_events: set the project_url and secret_key Vault secrets';
        return null;
      end if;
      headers := jsonb_build_object('Content-Type', 'application/json', 'apikey', key);
      if key not like 'sb\_%' then
        -- A legacy service_role JWT: the bearer is what legacy callers are checked on.
        headers := headers || jsonb_build_object('Authorization', 'Bearer ' || key);
      end if;
      return net.http_post(
        url := rtrim(url, '/') || '/functions/v1/dispatch-events',
        headers := headers,
        body := '{}'::jsonb,
        timeout_milliseconds := 60000
      );
    end
    $body$
  $fn$;
  execute 'revoke all on function public.invoke_dispatch_events() from public, anon, authenticated';
  execute 'grant execute on function public.invoke_dispatch_events() to service_role';
  execute $c$comment on function public.invoke_dispatch_events() is
    'POST dispatch-events with the secret key as apikey (Vault project_url + secret_key; a legacy service_role_key also as bearer); run by pg_cron every 5 s.'$c$;

  perform cron.unschedule(j.jobid) from cron.job j where j.jobname = 'dispatch-events';
  perform cron.schedule('dispatch-events', '5 seconds', 'select public.invoke_dispatch_events()');

  perform cron.unschedule(j.jobid) from cron.job j where j.jobname = 'purge-cron-job-run-details';
  perform cron.schedule('purge-cron-job-run-details', '41 3 * * *',
    $job$delete from cron.job_run_details where end_time < now() - interval '3 days'$job$);
exception
  -- e.g. pg_cron available but not preloaded, or created in another database: say so, and let
  -- the other migrations apply; the outbox still works with any other caller of dispatch-events.
  when others then
    raise warning 'dispatch-events could not be scheduled with pg_cron: % (%)', sqlerrm, sqlstate;
end
$outer$;
