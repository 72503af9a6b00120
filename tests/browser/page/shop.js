// What a shop's checkout page does with supabase-js in a browser: place an order through
// PostgREST (rpc place_order) as the signed-in user, then ask the process-order function to
// price and process it (functions.invoke), and show the outcome. The settings come in the URL
// fragment (never sent to the server): {url, key, token, items, region, fn}. Then it asks
// again, which the function refuses, and shows that answer too.
const cfg = JSON.parse(decodeURIComponent(location.hash.slice(1)));
const show = (id, value) => (document.getElementById(id).textContent = String(value));

async function checkout() {
  const client = supabase.createClient(cfg.url, cfg.key, {
    // A signed-in user's JWT (what supabase.auth would hold after sign-in).
    accessToken: () => Promise.resolve(cfg.token),
  });
  const placed = await client.rpc("place_order", {
    currency: "USD",
    items: cfg.items,
    shipping_region: cfg.region,
  });
  if (placed.error) throw new Error(`place_order: ${placed.error.message}`);
  show("order-id", placed.data.id);
  show("placed-status", placed.data.status);

  const { data, error } = await client.functions.invoke(cfg.fn ?? "process-order", {
    body: { order_id: placed.data.id },
  });
  if (error) {
    // FunctionsHttpError carries the function's response; a fetch that CORS blocked does not.
    let detail = error.message;
    if (error.context && typeof error.context.json === "function") {
      detail += `: ${JSON.stringify(await error.context.json())}`;
    }
    throw new Error(`${error.name}: ${detail}`);
  }
  show("status", data.status);
  show("total", data.total_amount);
  show("currency", data.currency);

  // Processing it again is refused: show the HTTP status and error code the function answered.
  const again = await client.functions.invoke(cfg.fn ?? "process-order", { body: { order_id: placed.data.id } });
  if (again.error?.context && typeof again.error.context.json === "function") {
    show("retry", `${again.error.context.status} ${(await again.error.context.json()).error?.code}`);
  } else {
    show("retry", again.error ? `${again.error.name}: ${again.error.message}` : "accepted twice");
  }
}

checkout()
  .catch((err) => {
    show("error", err.message);
    console.error(err.message);
  })
  .finally(() => (document.body.dataset.done = "true"));
