// Deploy shape: each function as the Supabase CLI ships it. `deno bundle` turns its index.ts
// into one file (everything reached by static imports, the wasm bytes included); that file alone
// is copied into an empty folder and run with --allow-net --allow-env and NO read permission,
// then exercised for real against the local stack. A function that still read or fetched its
// wasm at run time, or imported something by a computed URL, fails here.
import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { parse as parseDotenv } from "npm:dotenv";
import Stripe from "npm:stripe";
import { Webhook } from "npm:standardwebhooks";
import { bundleAlone, runAlone } from "../../scripts/lone_bundle.ts";
import {
  ANON_KEY,
  API_URL,
  e2e,
  functionKeysEnv,
  newProduct,
  newUser,
  orderRow,
  placeOrder,
  quietOrderEvents,
  SERVICE_ROLE_KEY,
  setAutoProcess,
  sql,
} from "./_helpers.ts";

const root = new URL("../../", import.meta.url);
const secrets = parseDotenv(Deno.readTextFileSync(new URL("supabase/functions/.env", root)));

type Bundled = { url: string; log: () => string; stop: () => Promise<void> };

/** Bundle `entry` (relative to the repo root), run the single file alone from an empty folder. */
async function runBundled(entry: string): Promise<Bundled> {
  const { dir } = await bundleAlone(entry);
  assertEquals([...Deno.readDirSync(dir)].map((e) => e.name), ["function.js"]);
  const fn = await runAlone(dir, { ...secrets, SUPABASE_URL: API_URL, ...functionKeysEnv() });
  return {
    url: fn.url,
    log: fn.log,
    stop: async () => {
      await fn.stop();
      await Deno.remove(dir, { recursive: true });
    },
  };
}

async function post(url: string, body: string, headers: Record<string, string> = {}) {
  const resp = await fetch(url, { method: "POST", headers: { "content-type": "application/json", ...headers }, body });
  const text = await resp.text();
  let json: any = text;
  try {
    json = JSON.parse(text);
  } catch { /* asserted by the caller */ }
  return { status: resp.status, body: json, headers: resp.headers };
}

const service = { authorization: `Bearer ${SERVICE_ROLE_KEY}`, apikey: SERVICE_ROLE_KEY };

e2e("bundled process-order and cancel-order price, reserve and release stock with no read permission", async () => {
  await setAutoProcess(false);
  const process = await runBundled("supabase/functions/process-order/index.ts");
  const cancel = await runBundled("supabase/functions/cancel-order/index.ts");
  try {
    const user = await newUser();
    const product = await newProduct({ price: 1999, stock: 10 });
    const order = await placeOrder(user, [{ product_id: product, quantity: 3 }]);
    const done = await post(process.url, JSON.stringify({ order_id: order.id }), service);
    assertEquals([done.status, done.body.status, done.body.subtotal_amount], [200, "processed", 5997]);
    assertEquals(done.headers.get("access-control-allow-origin"), "*");
    const [{ stock }] = await sql`select stock from public.products where id = ${product}`;
    assertEquals(stock, 7);
    const cancelled = await post(cancel.url, JSON.stringify({ order_id: order.id }), service);
    assertEquals([cancelled.status, cancelled.body.status], [200, "cancelled"]);
    const [{ stock: after }] = await sql`select stock from public.products where id = ${product}`;
    assertEquals(after, 10);
    // A preflight needs no credentials.
    const pre = await fetch(process.url, { method: "OPTIONS", headers: { origin: "https://shop.example" } });
    await pre.body?.cancel();
    assertEquals(pre.status, 204);
    for (const b of [process, cancel]) assert(!/NotCapable|PermissionDenied|read access/i.test(b.log()), b.log());
  } finally {
    await process.stop();
    await cancel.stop();
    await setAutoProcess(true);
  }
});

e2e("bundled order-events verifies a signed event and processes the order", async () => {
  await setAutoProcess(true);
  const fn = await runBundled("supabase/functions/order-events/index.ts");
  try {
    const user = await newUser();
    const product = await newProduct({ price: 500, stock: 5 });
    // An order whose own delivery to fn:order-events is marked delivered, so only our bundled
    // call processes it.
    const { id, payload } = await sql.begin(async (tx) => {
      const [o] = await tx`insert into public.orders (user_id, currency) values (${user.id}, 'USD') returning id`;
      await tx`insert into public.order_items (order_id, product_id, quantity, unit_amount)
        values (${o.id}, ${product}, 2, 0)`;
      const [insert] = await quietOrderEvents(tx, Number(o.id));
      return { id: Number(o.id), payload: insert.payload };
    });
    const raw = JSON.stringify(payload);
    const webhookId = `evt_${crypto.randomUUID().replaceAll("-", "")}`;
    const now = new Date();
    const signature = new Webhook(secrets.ORDER_EVENTS_SECRET).sign(webhookId, now, raw);
    const headers = {
      "webhook-id": webhookId,
      "webhook-timestamp": String(Math.floor(now.getTime() / 1000)),
      "webhook-signature": signature,
    };
    const resp = await post(fn.url, raw, headers);
    assertEquals(resp.status, 200, JSON.stringify(resp.body));
    assertEquals((await orderRow(id)).status, "processed");
    const [receipt] = await sql`select outcome from public.received_events where event_id = ${webhookId}`;
    assertEquals(receipt.outcome, "processed");
    // Unsigned: refused by the bundled function itself.
    const unsigned = await post(fn.url, raw);
    assertEquals(unsigned.status, 401);
  } finally {
    await fn.stop();
  }
});

e2e("bundled payment-webhook pays a processed order from a Stripe-signed event", async () => {
  await setAutoProcess(true);
  const fn = await runBundled("supabase/functions/payment-webhook/index.ts");
  try {
    const user = await newUser();
    const product = await newProduct({ price: 1000, stock: 5 });
    const order = await placeOrder(user, [{ product_id: product, quantity: 1 }]);
    const processed = await (async () => {
      for (let i = 0; i < 100; i++) {
        const row = await orderRow(order.id);
        if (row.status === "processed") return row;
        await new Promise((r) => setTimeout(r, 50));
      }
      return null;
    })();
    assert(processed, "the order was not processed automatically");
    const event = {
      id: `evt_${crypto.randomUUID().replaceAll("-", "")}`,
      type: "payment_intent.succeeded",
      data: {
        object: {
          id: `pi_${crypto.randomUUID().slice(0, 8)}`,
          object: "payment_intent",
          amount: Number(processed.total_amount),
          currency: "usd",
          metadata: { order_id: String(order.id) },
        },
      },
    };
    const payload = JSON.stringify(event);
    const signature = await Stripe.webhooks.generateTestHeaderStringAsync({
      payload,
      secret: secrets.STRIPE_WEBHOOK_SECRET,
    });
    const resp = await post(fn.url, payload, { "stripe-signature": signature });
    assertEquals(resp.status, 200, JSON.stringify(resp.body));
    assertEquals((await orderRow(order.id)).status, "paid");
  } finally {
    await fn.stop();
  }
});

e2e("bundled webhook-dispatch claims and reports with the service key only", async () => {
  const fn = await runBundled("supabase/functions/webhook-dispatch/index.ts");
  try {
    const ok = await post(fn.url, "{}", service);
    assertEquals(ok.status, 200, JSON.stringify(ok.body));
    for (const k of ["claimed", "delivered", "retried", "dead"]) assertEquals(typeof ok.body[k], "number", k);
    const anon = await post(fn.url, "{}", { authorization: `Bearer ${ANON_KEY}`, apikey: ANON_KEY });
    assertEquals(anon.status, 401);
  } finally {
    await fn.stop();
  }
});

e2e("a bundled function survives a real panic: in-flight requests 500, the next one 200", async () => {
  const fn = await runBundled("tests/fixtures/panic-probe/index.ts");
  try {
    assertEquals(await post(fn.url, "hello").then((r) => [r.status, r.body]), [200, { body: "hello" }]);
    const held = [post(fn.url, "hold"), post(fn.url, "hold")];
    await new Promise((r) => setTimeout(r, 50));
    const internal = { error: { code: "internal_error", message: "internal error" } };
    assertEquals(await post(fn.url, "panic").then((r) => [r.status, r.body]), [500, internal]);
    assertEquals((await Promise.all(held)).map((r) => [r.status, r.body]), [[500, internal], [500, internal]]);
    assertEquals(await post(fn.url, "panic-later").then((r) => [r.status, r.body]), [500, internal]);
    await new Promise((r) => setTimeout(r, 400)); // the held timers fire into the reset glue
    assertEquals(await post(fn.url, "after").then((r) => [r.status, r.body]), [200, { body: "after" }]);
    assert(fn.log().includes("probe panicked"), "the panic hook did not log the panic");
  } finally {
    await fn.stop();
  }
});
