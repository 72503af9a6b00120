-- Database webhooks: the claim's order check cannot go quadratic on stale statistics.
--
-- webhooks.claim_deliveries skips a delivery while an earlier pending one of the same endpoint
-- and row is not claimable: a subquery per candidate, meant for webhooks_deliveries_row_idx
-- (endpoint_id, row_key, id) where pending. On a burst into a table whose statistics were taken
-- when it held a handful of pending rows (a freshly started stack, a quiet hour), the planner
-- costed webhooks_deliveries_endpoint_idx (endpoint_id, status) the same and took it: each
-- candidate then read every pending delivery of its endpoint, and a claim of 100 out of 5,000
-- took 2 to 4 s (seen with auto_explain: "Index Scan using webhooks_deliveries_endpoint_idx
-- ... Filter: ((id < d.id) AND (row_key = d.row_key) ..."), a 5,000-row burst drained at
-- about 220 deliveries/s instead of 1,000-1,400.
--
-- The (endpoint_id, status) index now covers finished deliveries only (the per-endpoint counts
-- of delivered and dead ones, requeue_dead); pending ones by endpoint are served by
-- webhooks_deliveries_row_idx, whose leading column is the endpoint. The subquery is left with
-- one index that matches it.
create index if not exists webhooks_deliveries_endpoint_done_idx on webhooks.deliveries (endpoint_id, status)
  where status <> 'pending';
drop index if exists webhooks.webhooks_deliveries_endpoint_idx;
