// Benchmark peer, served only by the local stack (not deployed): process-order's work written
// by hand in TypeScript, for bench/process_order.ts's third column. It makes process-order's two
// calls with supabase-js (the same snapshot read, `GET /rpc/order_for_processing`, and the same
// apply, `POST /rpc/apply_order_processing`: the status check, the lines comparison, the stock
// reservation, the audit and the payment deadline, all in SQL) and prices the snapshot as
// process-order does for the bench's orders: subtotal, tax added at the region's rate in basis
// points rounded half-even, flat shipping unless free over an amount. No discount code (the
// bench's orders have none: one is refused 422, as are tax-inclusive prices), no Idempotency-Key. The client is made once per
// isolate, the faster way (the seed's function makes one per request).
import { createClient, type SupabaseClient } from "npm:@supabase/supabase-js";

// Made at the first request, not at start-up: without the legacy key (the stack's new-keys-only
// mode) the function must still start, as the seed's does, and fail its requests instead.
let client: SupabaseClient | undefined;
const db = () => client ??= createClient(Deno.env.get("SUPABASE_URL")!, Deno.env.get("SUPABASE_SERVICE_ROLE_KEY")!);

const json = (body: unknown, status = 200) =>
  new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json" } });

/** a × bp / 10 000, rounded half-even, in integer minor units. */
function basisPoints(amount: bigint, bp: bigint): bigint {
  const n = amount * bp;
  const q = n / 10000n;
  const r = n % 10000n;
  if (r * 2n > 10000n || (r * 2n === 10000n && q % 2n !== 0n)) return q + 1n;
  return q;
}

type Line = { product_id: number; quantity: number; unit_amount: number };

Deno.serve(async (req) => {
  const { order_id } = await req.json();
  if (!Number.isSafeInteger(order_id)) return json({ error: "order_id must be an integer" }, 400);
  const { data: snap, error } = await db().rpc("order_for_processing", { order_id }, { get: true });
  if (error) return json({ error: error.message }, 500);
  if (!snap) return json({ error: "order not found" }, 404);
  if (snap.order.status !== "pending") return json({ error: `order is ${snap.order.status}` }, 409);
  if (snap.order.discount_code || snap.tax?.prices_include_tax) {
    return json({ error: "discount codes and tax-inclusive prices are not priced here" }, 422);
  }
  const lines: Line[] = snap.lines.map((l: Line) => ({
    product_id: l.product_id,
    quantity: l.quantity,
    unit_amount: l.unit_amount,
  }));
  const subtotal = lines.reduce((s, l) => s + BigInt(l.quantity) * BigInt(l.unit_amount), 0n);
  const tax = snap.tax ? basisPoints(subtotal, BigInt(snap.tax.rate_bp)) : 0n;
  const ship = snap.shipping && snap.shipping.currency === snap.order.currency &&
      !(snap.shipping.free_over_amount !== null && subtotal >= BigInt(snap.shipping.free_over_amount))
    ? BigInt(snap.shipping.flat_amount)
    : 0n;
  const total = subtotal + tax + ship;
  const { data: applied, error: applyError } = await db().rpc("apply_order_processing", {
    order_id,
    expected_status: "pending",
    subtotal_amount: Number(subtotal),
    discount_amount: 0,
    tax_amount: Number(tax),
    shipping_amount: Number(ship),
    total_amount: Number(total),
    lines,
  });
  if (applyError) return json({ error: applyError.message }, 500);
  if (applied.refusal) return json({ error: applied.refusal }, 409);
  return json({ order_id, status: "processed", total_amount: Number(total) });
});
