// End to end: process-order and cancel-order through the gateway, RLS through REST and
// supabase-js, concurrency, idempotency keys, audit. Needs the local stack (make start).
import { assert, assertEquals } from "../assert.ts";
import {
  ANON_KEY,
  API_URL,
  callFn,
  client,
  e2e,
  explicitProcessing,
  functionKeysEnv,
  newProduct,
  newUser,
  orderRow,
  placeOrder,
  SERVICE_ROLE_KEY,
  signJwt,
  sql,
  stockOf,
} from "./_helpers.ts";

// These tests call process-order themselves: no automatic processing while they run.
const restoreAutoProcessing = explicitProcessing();

e2e("functions.invoke('process-order') prices and processes a placed order", async () => {
  const user = await newUser();
  const p1 = await newProduct({ price: 1999 });
  const p2 = await newProduct({ price: 1250 });
  const order = await placeOrder(user, [{ product_id: p1, quantity: 2 }, { product_id: p2, quantity: 1 }], {
    shipping_region: "US-CA",
  });
  assertEquals(order.status, "pending");
  const { data, error } = await client(SERVICE_ROLE_KEY).functions.invoke("process-order", {
    body: { order_id: order.id },
  });
  assertEquals(error, null);
  // 2 x 19.99 + 12.50 = 52.48; tax 7.25 % -> 3.80 (half-even of 3.8048); shipping 5.99
  assertEquals(
    [data.status, data.subtotal_amount, data.discount_amount, data.tax_amount, data.shipping_amount, data.total_amount],
    ["processed", 5248, 0, 380, 599, 6227],
  );
  assertEquals(data.lines.map((l: { line_amount: number }) => l.line_amount), [3998, 1250]);
  const row = await orderRow(order.id);
  assertEquals([row.status, Number(row.total_amount)], ["processed", 6227]);
  assert(row.processed_at, "processed_at is set");
  assertEquals(await stockOf(p1), 998);
});

e2e("errors: 401 without or with a bad JWT, 405, 400, 404, 409 with the JSON shape", async () => {
  const user = await newUser();
  const order = await placeOrder(user, [{ product_id: await newProduct(), quantity: 1 }]);
  const forged = await signJwt({ role: "service_role" }, "not-the-secret-not-the-secret-not-the-secret");
  const cases: [Promise<{ status: number; body: any }>, number, string][] = [
    [callFn("process-order", { order_id: order.id }, { token: null }), 401, "unauthorized"],
    [callFn("process-order", { order_id: order.id }, { token: forged }), 401, "unauthorized"],
    [callFn("process-order", { order_id: order.id }, { token: "abc.def.ghi" }), 401, "unauthorized"],
    [callFn("process-order", { order_id: order.id }, { token: ANON_KEY }), 401, "unauthorized"],
    [callFn("cancel-order", { order_id: order.id }, { token: ANON_KEY }), 401, "unauthorized"],
    [
      callFn("process-order", null, { raw: JSON.stringify({ order_id: order.id, pad: "x".repeat(20_000) }) }),
      413,
      "payload_too_large",
    ],
    [callFn("process-order", null, { method: "GET" }), 405, "method_not_allowed"],
    [callFn("process-order", null, { raw: "{not json" }), 400, "malformed_json"],
    [callFn("process-order", { order: 1 }), 400, "invalid_body"],
    [callFn("process-order", { order_id: "1" }), 400, "invalid_body"],
    [callFn("process-order", { order_id: 9_000_000_000 }), 404, "not_found"],
  ];
  for (const [reply, status, code] of cases) {
    const r = await reply;
    assertEquals([r.status, r.body?.error?.code], [status, code], JSON.stringify(r.body));
    assert(typeof r.body.error.message === "string");
  }
  assertEquals((await orderRow(order.id)).status, "pending", "no error changed the order");
  assertEquals((await callFn("process-order", { order_id: order.id })).status, 200);
  const again = await callFn("process-order", { order_id: order.id });
  assertEquals([again.status, again.body.error.code, again.body.error.details.current_status], [
    409,
    "status_conflict",
    "processed",
  ]);
});

e2e("50 concurrent process-order calls on one order: exactly one effect", async () => {
  const user = await newUser();
  const product = await newProduct({ price: 500, stock: 100 });
  const order = await placeOrder(user, [{ product_id: product, quantity: 3 }]);
  const replies = await Promise.all(
    Array.from({ length: 50 }, () => callFn("process-order", { order_id: order.id })),
  );
  const statuses = replies.map((r) => r.status);
  assertEquals(statuses.filter((s) => s === 200).length, 1, `statuses: ${statuses}`);
  assertEquals(statuses.filter((s) => s === 409).length, 49, `statuses: ${statuses}`);
  assertEquals(await stockOf(product), 97, "stock reserved once");
  const [{ n }] = await sql`select count(*)::int n from public.audit_log
    where table_name = 'orders' and record_id = ${String(order.id)} and 'status' = any(changed_fields)`;
  assertEquals(n, 1, "one status change in the audit log");
});

e2e("two orders racing for the last unit: one 200, one 422 naming the line", async () => {
  const product = await newProduct({ price: 100, stock: 1 });
  const [a, b] = [await newUser(), await newUser()];
  const oa = await placeOrder(a, [{ product_id: product, quantity: 1 }]);
  const ob = await placeOrder(b, [{ product_id: product, quantity: 1 }]);
  const [ra, rb] = await Promise.all([
    callFn("process-order", { order_id: oa.id }),
    callFn("process-order", { order_id: ob.id }),
  ]);
  const statuses = [ra.status, rb.status].sort();
  assertEquals(statuses, [200, 422]);
  const loser = ra.status === 422 ? ra : rb;
  assertEquals(loser.body.error.code, "insufficient_stock");
  assertEquals(loser.body.error.details.lines[0].product_id, product);
  assertEquals(await stockOf(product), 0);
  const loserId = ra.status === 422 ? oa.id : ob.id;
  assertEquals((await orderRow(loserId)).status, "pending", "nothing changed for the loser");
});

e2e("a user processes and cancels only their own order; others get 404", async () => {
  const [owner, other] = [await newUser(), await newUser()];
  const product = await newProduct({ stock: 10 });
  const order = await placeOrder(owner, [{ product_id: product, quantity: 4 }]);
  assertEquals((await callFn("process-order", { order_id: order.id }, { token: other.token })).status, 404);
  assertEquals((await callFn("cancel-order", { order_id: order.id }, { token: other.token })).status, 404);
  assertEquals((await callFn("process-order", { order_id: order.id }, { token: owner.token })).status, 200);
  assertEquals(await stockOf(product), 6);
  const cancelled = await callFn("cancel-order", { order_id: order.id }, { token: owner.token });
  assertEquals([cancelled.status, cancelled.body.status, cancelled.body.previous_status], [
    200,
    "cancelled",
    "processed",
  ]);
  assertEquals(await stockOf(product), 10, "cancelling a processed order releases its stock");
  const twice = await callFn("cancel-order", { order_id: order.id }, { token: owner.token });
  assertEquals([twice.status, twice.body.error.details.current_status], [409, "cancelled"]);
  const [{ actor }] = await sql`select actor from public.audit_log where table_name = 'orders'
    and record_id = ${String(order.id)} and action = 'UPDATE' order by id desc limit 1`;
  assertEquals(actor, owner.id, "the audit log names the user the function acted for");
});

e2e("RLS through supabase-js: anon sees nothing, a user sees their own, service_role sees all", async () => {
  const [a, b] = [await newUser(), await newUser()];
  const product = await newProduct();
  const oa = await placeOrder(a, [{ product_id: product, quantity: 1 }]);
  const ob = await placeOrder(b, [{ product_id: product, quantity: 1 }]);

  const anon = await client(ANON_KEY).from("orders").select("id");
  assertEquals([anon.error, anon.data], [null, []]);

  const mine = await client(ANON_KEY, a.token).from("orders").select("id, items:order_items(quantity)");
  assertEquals(mine.error, null);
  assertEquals(mine.data!.map((o) => Number(o.id)), [oa.id]);
  assertEquals(mine.data![0].items.length, 1);

  const all = await client(SERVICE_ROLE_KEY).from("orders").select("id").in("id", [oa.id, ob.id]);
  assertEquals(all.data!.map((o) => Number(o.id)).sort(), [oa.id, ob.id].sort());

  const products = await client(ANON_KEY).from("products").select("id").eq("id", product);
  assertEquals(products.data!.length, 1, "products are public");
  const audit = await client(ANON_KEY, a.token).from("audit_log").select("id").limit(1);
  assert(audit.error || audit.data!.length === 0, "audit_log is not readable by users");
  const auditService = await client(SERVICE_ROLE_KEY).from("audit_log").select("id").limit(1);
  assertEquals([auditService.error, auditService.data!.length], [null, 1]);
});

e2e("through REST a user cannot change statuses or amounts, nor forge unit_amount", async () => {
  const user = await newUser();
  const product = await newProduct({ price: 4200 });
  const order = await placeOrder(user, [{ product_id: product, quantity: 1 }]);
  const db = client(ANON_KEY, user.token);

  const upd = await db.from("orders").update({ status: "paid", total_amount: 1 }).eq("id", order.id).select();
  assert(upd.error || upd.data!.length === 0, `update went through: ${JSON.stringify(upd)}`);
  const row = await orderRow(order.id);
  assertEquals([row.status, row.total_amount], ["pending", null]);

  const forged = await db.from("order_items").insert({
    order_id: order.id,
    product_id: product,
    quantity: 1,
    unit_amount: 1,
  })
    .select("unit_amount");
  assertEquals(forged.error, null);
  assertEquals(Number(forged.data![0].unit_amount), 4200, "the database captures the product's price");

  const other = await newUser();
  const sneaky = await client(ANON_KEY, other.token).from("order_items")
    .insert({ order_id: order.id, product_id: product, quantity: 1 });
  assert(sneaky.error, "a user cannot add items to someone else's order");

  const direct = await db.from("orders").insert({ user_id: user.id, currency: "USD", status: "paid" });
  assert(direct.error, "a user cannot create an order in another status");
});

e2e("place_order rejects bad input and writes nothing", async () => {
  const user = await newUser();
  const usd = await newProduct();
  const jpy = await newProduct({ currency: "JPY" });
  const db = client(ANON_KEY, user.token);
  for (
    const args of [
      { currency: "USD", items: [] },
      { currency: "USD", items: [{ product_id: usd, quantity: 0 }] },
      { currency: "USD", items: [{ product_id: 999_999_999, quantity: 1 }] },
      { currency: "USD", items: [{ product_id: jpy, quantity: 1 }] },
      { currency: "usd", items: [{ product_id: usd, quantity: 1 }] },
    ]
  ) {
    const r = await db.rpc("place_order", args);
    assert(r.error, `accepted ${JSON.stringify(args)}`);
  }
  const [{ n }] = await sql`select count(*)::int n from public.orders where user_id = ${user.id}`;
  assertEquals(n, 0);
  const anon = await client(ANON_KEY).rpc("place_order", {
    currency: "USD",
    items: [{ product_id: usd, quantity: 1 }],
  });
  assert(anon.error, "anon cannot place orders");
});

e2e("inactive products and wrong-currency lines are 422 naming the lines", async () => {
  const user = await newUser();
  const good = await newProduct();
  const retired = await newProduct();
  const order = await placeOrder(user, [{ product_id: good, quantity: 1 }, { product_id: retired, quantity: 1 }]);
  await sql`update public.products set active = false where id = ${retired}`;
  const r = await callFn("process-order", { order_id: order.id });
  assertEquals([r.status, r.body.error.code], [422, "invalid_lines"]);
  assertEquals(r.body.error.details.lines.map((l: { product_id: number }) => l.product_id), [retired]);
  assertEquals((await orderRow(order.id)).status, "pending");
});

e2e("discount codes: applied, rejected with a reason, and a last redemption is used once", async () => {
  const code = `ONE-${crypto.randomUUID().slice(0, 8)}`;
  const expired = `OLD-${crypto.randomUUID().slice(0, 8)}`;
  await sql`insert into public.discount_codes (code, percent_bp, max_redemptions) values (${code}, 2500, 1)`;
  await sql`insert into public.discount_codes (code, fixed_amount, fixed_currency, valid_until)
    values (${expired}, 100, 'USD', now() - interval '1 day')`;
  const product = await newProduct({ price: 10_000 });
  const [a, b, c] = [await newUser(), await newUser(), await newUser()];
  const oa = await placeOrder(a, [{ product_id: product, quantity: 1 }], { discount_code: code });
  const ob = await placeOrder(b, [{ product_id: product, quantity: 1 }], { discount_code: code });
  const [ra, rb] = await Promise.all([
    callFn("process-order", { order_id: oa.id }),
    callFn("process-order", { order_id: ob.id }),
  ]);
  const statuses = [ra.status, rb.status].sort();
  assertEquals(statuses, [200, 422]);
  const winner = ra.status === 200 ? ra : rb;
  const loser = ra.status === 200 ? rb : ra;
  // 100.00 - 25 % = 75.00; no tax region; free shipping needs 100.00 after discount: 5.99
  assertEquals([winner.body.discount_amount, winner.body.total_amount], [2500, 7500 + 599]);
  assertEquals(loser.body.error.code, "discount_rejected");
  const [{ redemptions }] = await sql`select redemptions from public.discount_codes where code = ${code}`;
  assertEquals(redemptions, 1);

  const oc = await placeOrder(c, [{ product_id: product, quantity: 1 }], { discount_code: expired });
  const rc = await callFn("process-order", { order_id: oc.id });
  assertEquals([rc.status, rc.body.error.code, rc.body.error.details.reason], [422, "discount_rejected", "expired"]);
});

e2e("Idempotency-Key: replay, mismatch, in flight", async () => {
  const user = await newUser();
  const product = await newProduct({ stock: 10 });
  const o1 = await placeOrder(user, [{ product_id: product, quantity: 1 }]);
  const o2 = await placeOrder(user, [{ product_id: product, quantity: 1 }]);
  const key = `"${crypto.randomUUID()}"`;
  const opts = { token: user.token, headers: { "idempotency-key": key } };
  const first = await callFn("process-order", { order_id: o1.id }, opts);
  assertEquals(first.status, 200);
  const replay = await callFn("process-order", { order_id: o1.id }, opts);
  assertEquals([replay.status, replay.body], [200, first.body], "same key, same body: the first response");
  assertEquals(replay.headers.get("idempotent-replayed"), "true");
  assertEquals(await stockOf(product), 9, "no second effect");

  const mismatch = await callFn("process-order", { order_id: o2.id }, opts);
  assertEquals([mismatch.status, mismatch.body.error.code], [422, "idempotency_key_reused"]);
  assertEquals((await orderRow(o2.id)).status, "pending");

  // Another caller may use the same key: keys are scoped to the caller.
  const other = await newUser();
  const o3 = await placeOrder(other, [{ product_id: product, quantity: 1 }]);
  const scoped = await callFn("process-order", { order_id: o3.id }, {
    token: other.token,
    headers: { "idempotency-key": key },
  });
  assertEquals(scoped.status, 200);

  // A key held by a request still running (its lease not expired): 409, nothing done.
  const held = crypto.randomUUID();
  const body = JSON.stringify({ order_id: o2.id });
  const hash = [...new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(body)))]
    .map((b) => b.toString(16).padStart(2, "0")).join("");
  await sql`insert into public.idempotency_keys (scope, endpoint, key, request_hash, locked_until)
    values (${"user:" + user.id}, 'process-order', ${held}, ${hash}, now() + interval '1 minute')`;
  const busy = await callFn("process-order", null, { ...opts, raw: body, headers: { "idempotency-key": held } });
  assertEquals([busy.status, busy.body.error.code], [409, "idempotency_key_in_flight"]);
  assertEquals((await orderRow(o2.id)).status, "pending");

  // Expired keys are cleaned up by later calls.
  await sql`update public.idempotency_keys set expires_at = now() - interval '1 second' where key = ${held}`;
  await callFn("process-order", { order_id: o2.id }, { headers: { "idempotency-key": crypto.randomUUID() } });
  const [{ n }] = await sql`select count(*)::int n from public.idempotency_keys where key = ${held}`;
  assertEquals(n, 0);
});

e2e("the REST server unreachable: 503 JSON without internals", async () => {
  // A second process-order process whose SUPABASE_URL points at a closed port.
  const port = Number(Deno.env.get("FN_PORT_BASE") ?? 54340) + 59;
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-net", "--allow-env", "--allow-read", "supabase/functions/process-order/index.ts"],
    env: {
      DENO_SERVE_ADDRESS: `tcp:127.0.0.1:${port}`,
      SUPABASE_URL: "http://127.0.0.1:9",
      ...functionKeysEnv(),
    },
    stdout: "null",
    stderr: "null",
  }).spawn();
  try {
    let resp: Response | undefined;
    for (let i = 0; i < 100 && !resp; i++) {
      resp = await fetch(`http://127.0.0.1:${port}/`, {
        method: "POST",
        headers: { authorization: `Bearer ${SERVICE_ROLE_KEY}` },
        body: JSON.stringify({ order_id: 1 }),
      }).catch(() => undefined);
      if (!resp) await new Promise((r) => setTimeout(r, 100));
    }
    assert(resp, "the function process did not start");
    const text = await resp.text();
    assertEquals(resp.status, 503);
    assertEquals(JSON.parse(text).error.code, "upstream_unavailable");
    assert(!text.includes("127.0.0.1") && !text.includes(":9"), `leaks internals: ${text}`);
  } finally {
    child.kill();
    await child.status;
  }
});

e2e("the gateway serves REST under /rest/v1 with the apikey header alone", async () => {
  const resp = await fetch(`${API_URL}/rest/v1/products?select=sku&limit=1`, { headers: { apikey: ANON_KEY } });
  assertEquals(resp.status, 200);
  assertEquals((await resp.json()).length, 1);
});

restoreAutoProcessing();
