-- process-order's SQL on a new database connection (issue 10, point 8). The REST server keeps a
-- pool of connections (40 locally) and opens them as load rises; PL/pgSQL plans each statement
-- of a function on the first five calls in a connection (custom plans for the arguments given)
-- before it settles on the generic plan, so every new connection paid the planning of about
-- twenty statements (the order RPCs, their helpers and the triggers they fire) five times over.
-- Every one of these statements looks rows up by key (an order id, product ids, a discount code),
-- where the generic plan is the custom one: plan them once per connection.
--
-- Measured on one new connection each (PostgreSQL backend CPU, median of 5): orders 2 to 6 cost
-- 2.1 ms each before, 1.3 to 1.45 ms after (as from the seventh on, before and after); the first
-- order (catalog caches, compiling the functions) is unchanged.
--
-- The setting applies to everything a call runs (helpers, triggers) and ends with the call.
-- Idempotent: safe to re-run.

alter function public.order_for_processing set plan_cache_mode = force_generic_plan;
alter function public.begin_order_request set plan_cache_mode = force_generic_plan;
alter function public.apply_order_processing set plan_cache_mode = force_generic_plan;
alter function public.order_transition set plan_cache_mode = force_generic_plan;
