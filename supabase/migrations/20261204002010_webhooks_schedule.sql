-- Hosted Supabase: call webhook-dispatch (database webhooks, 20261204002000_webhooks.sql) every
-- 5 s with pg_cron + pg_net, as 20261204000500 does for dispatch-events: the project URL and the
-- secret key from the Vault secrets 'project_url' and 'secret_key' (a legacy 'service_role_key'
-- also works and is sent as bearer too), the key as the `apikey` header.
-- Elsewhere (the local stack: scripts/scheduler.ts LISTENs on channel `webhooks` and calls it)
-- a notice, nothing changed. Idempotent: the function and the job are replaced by name.

do $outer$
begin
  if not (exists (select 1 from pg_available_extensions where name = 'pg_cron')
          and exists (select 1 from pg_available_extensions where name = 'pg_net')) then
    raise notice 'pg_cron or pg_net is not available: webhook-dispatch is not scheduled here (scripts/scheduler.ts calls it)';
    return;
  end if;
  create extension if not exists pg_cron;
  create extension if not exists pg_net;

  execute $fn$
    create or replace function webhooks.invoke_dispatch() returns bigint
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
        null;
      end;
      url := coalesce(url, nullif(current_setting('app.settings.supabase_url', true), ''));
      key := coalesce(key, nullif(current_setting('app.settings.secret_key', true), ''),
                      nullif(current_setting('app.settings.service_role_key', true), ''));
      if url is null or key is null then
        raise notice 'webhooks.invoke_dispatch: set the project_url and secret_key Vault secrets';
        return null;
      end if;
      headers := jsonb_build_object('Content-Type', 'application/json', 'apikey', key);
      if key not like 'sb\_%' then
        headers := headers || jsonb_build_object('Authorization', 'Bearer ' || key);
      end if;
      return net.http_post(url := rtrim(url, '/') || '/functions/v1/webhook-dispatch',
                           headers := headers, body := '{}'::jsonb, timeout_milliseconds := 60000);
    end
    $body$
  $fn$;
  execute 'revoke all on function webhooks.invoke_dispatch() from public, anon, authenticated';
  execute 'grant execute on function webhooks.invoke_dispatch() to service_role';

  perform cron.unschedule(j.jobid) from cron.job j where j.jobname = 'webhook-dispatch';
  perform cron.schedule('webhook-dispatch', '5 seconds', 'select webhooks.invoke_dispatch()');
exception
  when others then
    raise warning 'webhook-dispatch could not be scheduled with pg_cron: % (%)', sqlerrm, sqlstate;
end
$outer$;
