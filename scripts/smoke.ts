// Smoke check of a deployed project (or the local stack): every function answers as it should.
//
//   make smoke URL=https://<ref>.supabase.co KEY=<secret key: sb_secret_… or the legacy service_role JWT>
//   deno run --allow-net --allow-env scripts/smoke.ts <URL> <KEY>        (the same, without make)
//
// One line per check (`ok` or `FAIL`), then a count; exits 1 if any check failed, 2 on bad usage.
// KEY is sent as `apikey` and as `Authorization: Bearer`, as supabase-js sends it. Nothing is
// written unless SMOKE_ORDER=1 (webhook-dispatch delivers due database webhooks, as its schedule does).
//
// Optional environment:
//   SMOKE_ORIGIN              Origin sent with the CORS preflights (default https://smoke.example;
//                             set one of your ALLOWED_ORIGINS if you restricted them)
//   SMOKE_TIMEOUT_MS          per request (default 20000: a cold start can take seconds)
//   SMOKE_ORDER=1             also place, process and cancel one real order; needs:
//     SMOKE_PUBLISHABLE_KEY   the project's publishable key (sb_publishable_…) or legacy anon key
//     SMOKE_USER_TOKEN        a signed-in user's access token (supabase.auth.getSession())
//     SMOKE_PRODUCT_ID        an active product with stock (one unit is reserved, then released)
//     SMOKE_CURRENCY          the product's currency (default USD)
//     SMOKE_REGION            shipping region (optional)

// Arguments first (make passes "" for an unset variable), then the environment.
const baseUrl = (Deno.args[0] || Deno.env.get("URL") || "").replace(/\/+$/, "");
const key = Deno.args[1] || Deno.env.get("KEY") || "";
if (!/^https?:\/\/[^/]+/.test(baseUrl) || !key) {
  console.error("usage: make smoke URL=https://<project-ref>.supabase.co KEY=<sb_secret_… or service_role JWT>");
  Deno.exit(2);
}
const env = (name: string, fallback = "") => Deno.env.get(name) ?? fallback;
const origin = env("SMOKE_ORIGIN", "https://smoke.example");
const timeoutMs = Number(env("SMOKE_TIMEOUT_MS", "20000"));
const fnUrl = (name: string) => `${baseUrl}/functions/v1/${name}`;
const REQUIRED_HEADERS = ["authorization", "x-client-info", "apikey", "content-type", "idempotency-key"];
const FUNCTIONS = ["process-order", "cancel-order", "payment-webhook", "order-events", "webhook-dispatch"];
const keyHeaders = { apikey: key, authorization: `Bearer ${key}` };

type Reply = { status: number; headers: Headers; text: string; json: any };
let failures = 0;
let checks = 0;

async function call(url: string, init: RequestInit = {}): Promise<Reply> {
  const headers = new Headers(init.headers);
  headers.set("origin", origin);
  const resp = await fetch(url, { ...init, headers, signal: AbortSignal.timeout(timeoutMs) });
  const text = await resp.text();
  let json: any = undefined;
  try {
    json = JSON.parse(text);
  } catch { /* not JSON: the check says so */ }
  return { status: resp.status, headers: resp.headers, text, json };
}

/** Run one check: `fn` returns a short note on success or throws the reason it failed. */
async function check(name: string, fn: () => Promise<string>): Promise<boolean> {
  checks++;
  try {
    const note = await fn();
    console.log(`ok   ${name}${note ? `: ${note}` : ""}`);
    return true;
  } catch (err) {
    failures++;
    console.log(`FAIL ${name}: ${err instanceof Error ? err.message : err}`);
    return false;
  }
}

const short = (r: Reply) => `${r.status} ${r.text.length > 200 ? r.text.slice(0, 200) + "…" : r.text}`;

/** An error answer: this status, a JSON body {error:{code}} (code checked when given), CORS on it. */
function expectError(r: Reply, status: number, code?: string): string {
  if (r.status !== status) throw new Error(`expected ${status}, got ${short(r)}`);
  const got = r.json?.error?.code ?? r.json?.code ?? r.json?.error;
  if (r.json === undefined) throw new Error(`expected a JSON body, got ${short(r)}`);
  if (code && got !== code) throw new Error(`expected error code ${code}, got ${short(r)}`);
  expectCors(r);
  return `${status} ${typeof got === "string" ? got : JSON.stringify(r.json)}`;
}

function expectCors(r: Reply) {
  const allow = r.headers.get("access-control-allow-origin");
  if (allow !== "*" && allow !== origin) {
    // With verify_jwt = true the platform answers a missing or bad JWT itself, without CORS
    // (supabase/edge-runtime#213): a browser then sees a network error instead of the 401.
    const hint = r.status === 401 ? "; a 401 without CORS usually comes from verify_jwt = true, not the function" : "";
    throw new Error(
      `no Access-Control-Allow-Origin for ${origin} on a ${r.status} answer (got ${allow ?? "none"})${hint}`,
    );
  }
}

// 1. CORS preflight, on every function.
for (const name of FUNCTIONS) {
  await check(`${name}: CORS preflight`, async () => {
    const r = await call(fnUrl(name), {
      method: "OPTIONS",
      headers: {
        "access-control-request-method": "POST",
        "access-control-request-headers": REQUIRED_HEADERS.join(", "),
      },
    });
    if (r.status < 200 || r.status > 299) throw new Error(`expected 2xx, got ${short(r)}`);
    expectCors(r);
    const methods = (r.headers.get("access-control-allow-methods") ?? "").toLowerCase();
    if (methods !== "*" && !methods.split(/\s*,\s*/).includes("post")) {
      throw new Error(`Access-Control-Allow-Methods lacks POST: ${methods || "none"}`);
    }
    const allowed = (r.headers.get("access-control-allow-headers") ?? "").toLowerCase().split(/\s*,\s*/);
    const missing = allowed.includes("*") ? [] : REQUIRED_HEADERS.filter((h) => !allowed.includes(h));
    if (missing.length) throw new Error(`Access-Control-Allow-Headers lacks ${missing.join(", ")}`);
    return `${r.status}`;
  });
}

// 2. Each function's own answer.
const post = (name: string, body: unknown, headers: Record<string, string> = {}) =>
  call(fnUrl(name), {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
const NO_SUCH_ORDER = 999_999_999_999;

for (const name of ["process-order", "cancel-order"]) {
  await check(`${name}: no credentials -> 401`, async () => expectError(await post(name, { order_id: 1 }), 401));
  await check(
    `${name}: secret key, unknown order -> 404`,
    async () => expectError(await post(name, { order_id: NO_SUCH_ORDER }, keyHeaders), 404, "not_found"),
  );
}
await check("payment-webhook: bad Stripe signature -> 400", async () => {
  const body = JSON.stringify({ id: "evt_smoke", type: "payment_intent.succeeded", data: { object: {} } });
  const signature = `t=${Math.floor(Date.now() / 1000)},v1=${"0".repeat(64)}`;
  return expectError(await post("payment-webhook", body, { "stripe-signature": signature }), 400);
});
await check(
  "order-events: no signature -> 401",
  async () => expectError(await post("order-events", { type: "order.created", data: {} }), 401, "unauthorized"),
);
await check("webhook-dispatch: secret key -> 200", async () => {
  const r = await post("webhook-dispatch", { max_events: 10, budget_ms: 5000 }, keyHeaders);
  if (r.status !== 200 || typeof r.json?.claimed !== "number") {
    throw new Error(`expected 200 {claimed,…}, got ${short(r)}`);
  }
  expectCors(r);
  return `200 claimed ${r.json.claimed}, delivered ${r.json.delivered}`;
});

// 3. Optionally, one real order: placed by a user through REST, processed, then cancelled.
if (env("SMOKE_ORDER") === "1") {
  const publishable = env("SMOKE_PUBLISHABLE_KEY");
  const userToken = env("SMOKE_USER_TOKEN");
  const productId = Number(env("SMOKE_PRODUCT_ID"));
  if (!publishable || !userToken || !Number.isSafeInteger(productId) || productId < 1) {
    await check("order: inputs", () => {
      throw new Error("SMOKE_ORDER=1 needs SMOKE_PUBLISHABLE_KEY, SMOKE_USER_TOKEN and SMOKE_PRODUCT_ID");
    });
  } else {
    const asUser = { apikey: publishable, authorization: `Bearer ${userToken}` };
    let orderId = 0;
    const placed = await check("order: place_order as the user (REST)", async () => {
      const region = env("SMOKE_REGION");
      const r = await call(`${baseUrl}/rest/v1/rpc/place_order`, {
        method: "POST",
        headers: { "content-type": "application/json", ...asUser },
        body: JSON.stringify({
          currency: env("SMOKE_CURRENCY", "USD"),
          items: [{ product_id: productId, quantity: 1 }],
          ...(region ? { shipping_region: region } : {}),
        }),
      });
      if (r.status !== 200 || r.json?.status !== "pending") throw new Error(`expected 200 pending, got ${short(r)}`);
      orderId = Number(r.json.id);
      return `order ${orderId} pending`;
    });
    if (placed) {
      await check("order: process-order as the user", async () => {
        const r = await post("process-order", { order_id: orderId }, asUser);
        if (r.status === 200 && r.json?.status === "processed" && Number.isSafeInteger(r.json.total_amount)) {
          expectCors(r);
          return `200 processed, total ${r.json.total_amount} ${r.json.currency}`;
        }
        // Automatic processing (order-events, via webhook-dispatch) may have been first: also a success.
        if (r.status === 409 && r.json?.error?.details?.current_status === "processed") {
          return "409: already processed by automatic processing";
        }
        throw new Error(`expected 200 processed, got ${short(r)}`);
      });
      await check("order: the user reads it back processed (REST)", async () => {
        const r = await call(`${baseUrl}/rest/v1/orders?id=eq.${orderId}&select=status,total_amount`, {
          headers: asUser,
        });
        const row = r.json?.[0];
        if (r.status !== 200 || row?.status !== "processed" || !Number.isSafeInteger(Number(row.total_amount))) {
          throw new Error(`expected [{status: processed, total_amount}], got ${short(r)}`);
        }
        return `status processed, total ${row.total_amount}`;
      });
      await check("order: cancel-order with the secret key releases it", async () => {
        const r = await post("cancel-order", { order_id: orderId }, keyHeaders);
        if (r.status !== 200 || r.json?.status !== "cancelled") {
          throw new Error(`expected 200 cancelled, got ${short(r)}`);
        }
        return "200 cancelled";
      });
    }
  }
}

console.log(`${checks - failures} of ${checks} checks passed against ${baseUrl}`);
Deno.exit(failures ? 1 : 0);
