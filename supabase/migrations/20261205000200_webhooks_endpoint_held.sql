-- Database webhooks: held deliveries counted per endpoint, view webhooks.endpoint_held.
--
-- With dead_blocks_row (20261204005110_webhooks_dead_blocks_row.sql) a dead delivery holds its
-- row's later deliveries to that endpoint until it is requeued or replayed. Those are pending,
-- and webhooks.endpoint_stats counts them in `pending` (as before), but no dispatcher claims
-- them however long one waits. webhooks.endpoint_held, one row per endpoint:
--   - held: the pending deliveries of the endpoint that a dead delivery of the same row holds
--     (webhooks.holds_row, the claim's own rule); held <= endpoint_stats.pending; 0 for an
--     endpoint without dead_blocks_row;
--   - oldest_held_at: the creation time of the oldest of them (null: none);
--   - holding: the dead deliveries that hold a row back (what to requeue or replay).
-- `select * from webhooks.endpoint_stats join webhooks.endpoint_held using (endpoint_id)`;
-- webhook-admin's list_endpoints answers the three beside the stats.
--
-- Why a view of its own rather than three more columns of webhooks.endpoint_stats: the
-- migrations are re-runnable (tests/sql/upgrade.test.ts applies them all twice), and a re-run of
-- 20261204002000_webhooks.sql's CREATE OR REPLACE VIEW endpoint_stats would fail on a wider view
-- ("cannot drop columns from view"). endpoint_stats keeps its columns and their meaning.

create or replace view webhooks.endpoint_held with (security_invoker = true) as
select e.id as endpoint_id, coalesce(h.held, 0) as held, h.oldest_held_at, coalesce(k.holding, 0) as holding
  from webhooks.endpoints e
  -- Only for an endpoint that blocks: each of its pending deliveries with a row, against the
  -- (endpoint_id, row_key, id) index of dead deliveries (the claim's check).
  left join lateral (
    select count(*) as held, min(x.created_at) as oldest_held_at
      from webhooks.deliveries x
     where x.endpoint_id = e.id and x.status = 'pending' and x.row_key is not null
       and exists (select 1 from webhooks.deliveries p
                    where p.endpoint_id = x.endpoint_id and p.row_key = x.row_key and p.id < x.id
                      and p.status = 'dead' and webhooks.holds_row(p))) h on e.dead_blocks_row
  left join lateral (
    select count(*) as holding
      from webhooks.deliveries p
     where p.endpoint_id = e.id and p.status = 'dead' and webhooks.holds_row(p)) k on e.dead_blocks_row;
comment on view webhooks.endpoint_held is
  'Per endpoint: held (pending deliveries a dead delivery of their row holds, dead_blocks_row), the oldest one''s creation time, and holding (the dead deliveries that hold a row).';

revoke all on webhooks.endpoint_held from public, anon, authenticated;
grant select on webhooks.endpoint_held to service_role;
