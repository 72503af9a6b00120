// A real browser against the local stack: headless Chromium opens a checkout page served from
// another origin (a static server on its own port), which loads supabase-js's browser build,
// places an order (rpc place_order, as the signed-in user) and calls
// supabase.functions.invoke('process-order'). The browser enforces CORS: the POST with
// `authorization`, `apikey`, `x-client-info` and a JSON body needs a preflight, and the page can
// read the answer only if the function's responses carry Access-Control-Allow-Origin.
// Needs the stack (make start) and `chromium` (make test installs it when missing).
import { assert, assertEquals } from "../assert.ts";
import {
  API_URL,
  e2e,
  KEY_MODE,
  LEGACY_ANON_KEY,
  newProduct,
  newUser,
  orderRow,
  PUBLISHABLE_KEY,
  signEs256Jwt,
  signJwt,
} from "../e2e/_helpers.ts";
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
  retry: string | null;
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
      retry: await page.text("retry"),
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

// Each key system the functions accept in this run: the publishable key with an ES256 user
// token always; the legacy anon key with an HS256 user token while the functions also hold the
// legacy keys (FUNCTION_KEYS=new removes them).
const keySystems = [
  ...(KEY_MODE === "legacy" ? [{ name: "legacy anon key, HS256 user", key: LEGACY_ANON_KEY, sign: signJwt }] : []),
  { name: "publishable key, ES256 user", key: PUBLISHABLE_KEY, sign: (c: Record<string, unknown>) => signEs256Jwt(c) },
];

for (const keys of keySystems) {
  e2e(
    `browser (${keys.name}): a page on another origin places an order and processes it with functions.invoke`,
    async () => {
      const { id: userId } = await newUser();
      const token = await keys.sign({ sub: userId, role: "authenticated", aud: "authenticated" });
      const shirt = await newProduct({ price: 1234, stock: 50 });
      const mug = await newProduct({ price: 500, stock: 50 });
      const { origin, server } = staticServer();
      try {
        assert(origin !== new URL(API_URL).origin, "the page is on another origin than the API");
        const o = await checkout(origin, {
          url: API_URL,
          key: keys.key,
          token,
          items: [{ product_id: shirt, quantity: 3 }, { product_id: mug, quantity: 1 }],
          region: "US-CA",
        });
        const context = JSON.stringify({ error: o.error, console: o.console, network: o.network }, null, 1);
        // subtotal 3 x 12.34 + 5.00 = 42.02; US-CA tax 7.25 % of 42.02 = 3.04645 -> 3.05;
        // shipping 5.99 (USD, under the 100.00 free-shipping threshold): 51.06.
        const subtotal = 3 * 1234 + 500;
        const expectedTotal = subtotal + 305 + 599;
        // The second invoke is refused, and the page can read why (the 409 carries CORS too).
        assertEquals(
          [o.error, o.placed, o.status, o.total, o.currency, o.retry],
          ["", "pending", "processed", String(expectedTotal), "USD", "409 status_conflict"],
          context,
        );
        const row = await orderRow(Number(o.orderId));
        assertEquals([row.user_id, row.status, Number(row.total_amount)], [userId, "processed", expectedTotal]);

        // The browser sent a CORS preflight for the function and it was answered 2xx with the headers.
        const calls = functionCalls(o, "process-order");
        const preflight = calls.find((n) => n.method === "OPTIONS");
        assert(preflight, `a preflight for process-order was recorded: ${context}`);
        assert(preflight.status! >= 200 && preflight.status! < 300, `preflight status ${preflight.status}`);
        assert(preflight.headers?.["access-control-allow-origin"], "preflight allows the origin");
        const posts = calls.filter((n) => n.method === "POST");
        assertEquals(
          posts.map((p) => [p.status, p.corsError, p.failed, Boolean(p.headers?.["access-control-allow-origin"])]),
          [[200, undefined, undefined, true], [409, undefined, undefined, true]],
          context,
        );
        // Nothing in the console but the browser's own note on the 409: no CORS message, no exception.
        assertEquals(
          o.console,
          [{ level: "error", text: "Failed to load resource: the server responded with a status of 409 (Conflict)" }],
          context,
        );
      } finally {
        await server.shutdown();
      }
    },
  );
}

e2e("browser: the test sees it when a function answers without CORS (control)", async () => {
  const { origin, server } = staticServer();
  const api = apiWithoutFunctionCors();
  try {
    const o = await checkout(origin, {
      url: api.url,
      key: PUBLISHABLE_KEY,
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
