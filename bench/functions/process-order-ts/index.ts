// Benchmark peer, served only by the local stack (not deployed): the seed's TypeScript
// process-order (../shared/seeds), ported to this schema (unit_amount, total_amount) with
// supabase-js through npm:. Kept as the seed wrote it: read, compute, write in two unguarded
// round trips. One fix: the seed's reduce had no initial value (it summed onto an object).
import { createClient } from "npm:@supabase/supabase-js";

Deno.serve(async (req) => {
  const supabase = createClient(Deno.env.get("SUPABASE_URL")!, Deno.env.get("SUPABASE_SERVICE_ROLE_KEY")!);
  const { order_id } = await req.json();
  const { data: order, error } = await supabase
    .from("orders")
    .select("*, items:order_items(*)")
    .eq("id", order_id)
    .single();
  if (error) return new Response(JSON.stringify({ error: error.message }), { status: 400 });
  const total = order.items.reduce(
    (sum: number, item: { quantity: number; unit_amount: number }) => sum + item.quantity * item.unit_amount,
    0,
  );
  const { error: updateError } = await supabase
    .from("orders")
    .update({ total_amount: total, status: "processed", processed_at: new Date().toISOString() })
    .eq("id", order_id);
  if (updateError) return new Response(JSON.stringify({ error: updateError.message }), { status: 500 });
  return new Response(JSON.stringify({ order_id, total, status: "processed" }), {
    headers: { "Content-Type": "application/json" },
  });
});
