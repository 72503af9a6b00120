-- F5: a refunded order's queued fulfillment is cancelled, in the transaction of the refund.
-- Before, the fulfillment order-events had created for the paid order stayed 'queued' after a
-- refund: the goods would still ship. A trigger on the order's status (whatever writes it:
-- apply_payment_event for charge.refunded, or any other path) cancels a fulfillment that has
-- not started ('queued'). One already picking or shipped is left as it is: stopping it is a
-- decision for a person (the refund's payment_exceptions/audit rows show it).
-- Races: fulfill_order_event locks the order FOR SHARE and creates the fulfillment only for a
-- paid or fulfilled order; the refund locks it FOR UPDATE. If the fulfillment commits first,
-- the refund waits, then its trigger (a new statement, a new snapshot) sees and cancels it; if
-- the refund commits first, fulfill_order_event waits, then sees 'refunded' and creates nothing.
-- Idempotent: safe to re-run.

create or replace function public.cancel_fulfillment_of_refunded_order() returns trigger
language plpgsql security definer set search_path = ''
as $$
begin
  update public.fulfillments f set status = 'cancelled'
   where f.order_id = new.id and f.status = 'queued';
  return null;
end
$$;
revoke all on function public.cancel_fulfillment_of_refunded_order() from public, anon, authenticated;

drop trigger if exists orders_refund_cancels_fulfillment on public.orders;
create trigger orders_refund_cancels_fulfillment after update of status on public.orders
  for each row when (new.status = 'refunded' and old.status is distinct from 'refunded')
  execute function public.cancel_fulfillment_of_refunded_order();
