// A real browser against the local stack: headless Chromium opens a checkout page served from
// another origin (a static server on its own port), which loads supabase-js's browser build,
// places an order (rpc place_order, as the signed-in user) and calls
// supabase.functions.invoke('process-order'). The browser enforces CORS: the POST with
// `authorization`, `apikey`, `x-client-info` and a JSON body needs a preflight, and the page can
// read the answer only if the function's responses carry Access-Control-Allow-Origin.
// Needs the stack (make start) and `chromium` (make test installs it when missing).
import { assert, assertEquals } from "../assert.ts";
import { ANON_KEY, API_URL, e2e, newProduct, newUser, orderRow } from "../e2e/_helpers.ts";
import { explicitProcessingHooks } from "../e2e/_assert_helpers.ts";
import { type NetworkEntry, Page } from "./chromium.ts";

const pageDir = new URL("./page/", import.meta.url);
const supabaseUmd = new URL("../../node_modules/@supabase/supabase-js/dist/umd/supabase.js", import.meta.url);

/** The shop's own origin: the page, its script and supabase-js, nothing else. */
function staticServer(): { origin: string; server: Deno.HttpServer } {
  const files: Record<string, [URL, string]> = {
    "/": [new URL("index.html", pageDir), "text/html; charset=utf-8"],
    "/shop.js": [new URL("shop.js", pageDir), "text/javascript; charset=utf-8"],
    "/supabase.js": [supabaseUmd, "text/javascript; charset=utf-8"],
  };
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (req) => {
    const file = files[new URL(req.url).pathname];
    if (!file) return new Response("not found", { status: 404 });
    return new Response(Deno.readFileSync(file[0]), { headers: { "content-type": file[1] } });
  });
  return { origin: `http://127.0.0.1:${server.addr.port}`, server };
}

/**
 * A stand-in API with CORS on its REST route (place_order answers a fake pending order) and
 * none on its function route, as our functions were before CORS: shows that the test sees a
 * CORS failure when there is one.
 */
function apiWithoutFunctionCors(): { url: string; server: Deno.HttpServer } {
  const cors = {
    "access-control-allow-origin": "*",
    "access-control-allow-headers": "*",
    "access-control-allow-methods": "POST, OPTIONS",
  };
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (req) => {
    const path = new URL(req.url).pathname;
    if (path === "/rest/v1/rpc/place_order") {
      if (req.method === "OPTIONS") return new Response(null, { status: 204, headers: cors });
      return Response.json({ id: 1, status: "pending" }, { headers: cors });
    }
    if (req.method === "OPTIONS") return Response.json({ error: "method not allowed" }, { status: 405 });
    return Response.json({ order_id: 1, status: "processed", total_amount: 1 });
  });
  return { url: `http://127.0.0.1:${server.addr.port}`, server };
}

type Outcome = {
  orderId: string | null;
  placed: string | null;
  status: string | null;
  total: string | null;
  currency: string | null;
  error: string | null;
  network: NetworkEntry[];
  console: { level: string; text: string }[];
};

/** Open the checkout page with these settings and return what it shows and what happened. */
async function checkout(pageOrigin: string, settings: Record<string, unknown>): Promise<Outcome> {
  const page = await Page.launch();
  try {
    await page.goto(`${pageOrigin}/#${encodeURIComponent(JSON.stringify(settings))}`);
    await page.waitFor(`document.body.dataset.done === "true"`);
    // Let the last network events arrive.
    await new Promise((r) => setTimeout(r, 100));
    return {
      orderId: await page.text("order-id"),
      placed: await page.text("placed-status"),
      status: await page.text("status"),
      total: await page.text("total"),
      currency: await page.text("currency"),
      error: await page.text("error"),
      network: [...page.network.values()],
      console: page.console,
    };
  } finally {
    await page.close();
  }
}

const functionCalls = (o: Outcome, name: string) => o.network.filter((n) => n.url.endsWith(`/functions/v1/${name}`));

// The page processes its order itself: no automatic processing while this file runs.
explicitProcessingHooks();

e2e("browser: a page on another origin places an order and processes it with functions.invoke", async () => {
  const user = await newUser();
  const shirt = await newProduct({ price: 1234, stock: 50 });
  const mug = await newProduct({ price: 500, stock: 50 });
  const { origin, server } = staticServer();
  try {
    assert(origin !== new URL(API_URL).origin, "the page is on another origin than the API");
    const o = await checkout(origin, {
      url: API_URL,
      key: ANON_KEY,
      token: user.token,
      items: [{ product_id: shirt, quantity: 3 }, { product_id: mug, quantity: 1 }],
      region: "US-CA",
    });
    const context = JSON.stringify({ error: o.error, console: o.console, network: o.network }, null, 1);
    // subtotal 3 x 12.34 + 5.00 = 42.02; US-CA tax 7.25 % of 42.02 = 3.04645 -> 3.05;
    // shipping 5.99 (USD, under the 100.00 free-shipping threshold): 51.06.
    const subtotal = 3 * 1234 + 500;
    const expectedTotal = subtotal + 305 + 599;
    assertEquals(
      [o.error, o.placed, o.status, o.total, o.currency],
      ["", "pending", "processed", String(expectedTotal), "USD"],
      context,
    );
    const row = await orderRow(Number(o.orderId));
    assertEquals([row.user_id, row.status, Number(row.total_amount)], [user.id, "processed", expectedTotal]);

    // The browser sent a CORS preflight for the function and it was answered 2xx with the headers.
    const calls = functionCalls(o, "process-order");
    const preflight = calls.find((n) => n.method === "OPTIONS");
    assert(preflight, `a preflight for process-order was recorded: ${context}`);
    assert(preflight.status! >= 200 && preflight.status! < 300, `preflight status ${preflight.status}`);
    assert(preflight.headers?.["access-control-allow-origin"], "preflight allows the origin");
    const post = calls.find((n) => n.method === "POST");
    assertEquals([post?.status, post?.corsError, post?.failed], [200, undefined, undefined], context);
    assert(post?.headers?.["access-control-allow-origin"], "the POST's answer carries Access-Control-Allow-Origin");
    // Nothing in the console: no CORS message, no error, no exception.
    assertEquals(o.console, [], context);
  } finally {
    await server.shutdown();
  }
});

e2e("browser: the test sees it when a function answers without CORS (control)", async () => {
  const { origin, server } = staticServer();
  const api = apiWithoutFunctionCors();
  try {
    const o = await checkout(origin, {
      url: api.url,
      key: ANON_KEY,
      token: "not-used",
      items: [{ product_id: 1, quantity: 1 }],
      region: "US-CA",
    });
    const context = JSON.stringify({ error: o.error, console: o.console, network: o.network }, null, 1);
    assertEquals([o.placed, o.status, o.total], ["pending", "", ""], context);
    assert(o.error?.startsWith("FunctionsFetchError"), context);
    assert(o.console.some((c) => /CORS/.test(c.text)), `the console names CORS: ${context}`);
    assert(functionCalls(o, "process-order").some((n) => n.corsError), `a CORS error was recorded: ${context}`);
  } finally {
    await server.shutdown();
    await api.server.shutdown();
  }
});
