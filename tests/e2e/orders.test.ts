// End to end: process-order and cancel-order through the gateway, RLS through REST and
// supabase-js, concurrency, idempotency keys, audit. Needs the local stack (make start).
import { spawnListening } from "../../scripts/lone_bundle.ts";
import { assert, assertEquals } from "../assert.ts";
import {
  ANON_KEY,
  API_URL,
  callFn,
  client,
  e2e,
  functionKeysEnv,
  newProduct,
  newUser,
  orderRow,
  placeOrder,
  type Reply,
  SERVICE_ROLE_KEY,
  signJwt,
  sql,
  stockOf,
} from "./_helpers.ts";
import {
  assertFnError,
  assertRestError,
  assertUnchanged,
  explicitProcessingHooks,
  snapshot,
  whileOrderLocked,
  within,
  withOrderFault,
} from "./_assert_helpers.ts";

const GATEWAY_LOG = `${
  Deno.env.get("STACK_DIR") ?? new URL("../../.stack", import.meta.url).pathname
}/logs/gateway.log`;

// These tests call process-order themselves: no automatic processing while they run.
explicitProcessingHooks();

// PostgreSQL's insufficient_privilege (42501: a missing grant, an RLS check, the RPCs' own
// refusal). PostgREST answers it 401 without a JWT and 403 with one; the local REST server
// (postrust in compat mode) answers 401 in both cases (see /work/shared/platform.md).
const DENIED = { status: 401, code: "42501" };

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
  assertRestError(audit, DENIED.status, DENIED.code, /^permission denied for table audit_log$/);
  const auditService = await client(SERVICE_ROLE_KEY).from("audit_log").select("id").limit(1);
  assertEquals([auditService.error, auditService.data!.length], [null, 1]);
});

e2e("through REST a user cannot change statuses or amounts, nor forge unit_amount", async () => {
  const user = await newUser();
  const product = await newProduct({ price: 4200, stock: 50 });
  const order = await placeOrder(user, [{ product_id: product, quantity: 1 }]);
  const db = client(ANON_KEY, user.token);
  const before = await snapshot([order.id], [product]);

  // No UPDATE grant on orders: refused outright, not "0 rows updated".
  const upd = await db.from("orders").update({ status: "paid", total_amount: 1 }).eq("id", order.id).select();
  assertRestError(upd, DENIED.status, DENIED.code, /^permission denied for table orders$/);
  // Another user cannot add items to this order (the insert policy), and nobody can create an
  // order in another status (no grant on the status column) or for someone else (the policy).
  const other = await newUser();
  const sneaky = await client(ANON_KEY, other.token).from("order_items")
    .insert({ order_id: order.id, product_id: product, quantity: 1 });
  assertRestError(sneaky, DENIED.status, DENIED.code, /row-level security policy for table "order_items"/);
  const direct = await db.from("orders").insert({ user_id: user.id, currency: "USD", status: "paid" });
  assertRestError(direct, DENIED.status, DENIED.code, /^permission denied for table orders$/);
  const forOther = await db.from("orders").insert({ user_id: other.id, currency: "USD" });
  assertRestError(forOther, DENIED.status, DENIED.code, /row-level security policy for table "orders"/);
  await assertUnchanged(before, "no refused write changed the order, its items or the stock");
  const [{ n }] = await sql`select count(*)::int n from public.orders where user_id in (${user.id}, ${other.id})`;
  assertEquals(n, 1, "no order was created");

  // A user may add an item to their own pending order, but the database sets its price.
  const forged = await db.from("order_items").insert({
    order_id: order.id,
    product_id: product,
    quantity: 1,
    unit_amount: 1,
  })
    .select("unit_amount");
  assertEquals([forged.status, forged.error], [201, null]);
  assertEquals(Number(forged.data![0].unit_amount), 4200, "the database captures the product's price");
  const row = await orderRow(order.id);
  assertEquals([row.status, row.total_amount], ["pending", null]);
});

e2e("place_order rejects bad input with 400 naming the lines, and writes nothing", async () => {
  const user = await newUser();
  const usd = await newProduct({ stock: 7 });
  const jpy = await newProduct({ currency: "JPY", stock: 7 });
  const db = client(ANON_KEY, user.token);
  const before = await snapshot([], [usd, jpy]);
  const cases: [Record<string, unknown>, string][] = [
    [{ currency: "USD", items: [] }, "items must be a non-empty array"],
    [
      { currency: "USD", items: [{ product_id: usd, quantity: 0 }] },
      "invalid items: line 1: quantity must be an integer >= 1",
    ],
    [
      { currency: "USD", items: [{ product_id: 999_999_999, quantity: 1 }] },
      "invalid items: line 1: unknown product 999999999",
    ],
    [
      { currency: "USD", items: [{ product_id: jpy, quantity: 1 }] },
      `invalid items: line 1: product ${jpy} is not sold in USD`,
    ],
    [{ currency: "usd", items: [{ product_id: usd, quantity: 1 }] }, 'currency must be an ISO 4217 code like "USD"'],
    [
      {
        currency: "USD",
        items: [{ product_id: usd, quantity: 1 }, { product_id: jpy, quantity: 2 }, {
          product_id: 999_999_999,
          quantity: 1,
        }],
      },
      `invalid items: line 2: product ${jpy} is not sold in USD; line 3: unknown product 999999999`,
    ],
  ];
  for (const [args, message] of cases) {
    const r = await db.rpc("place_order", args);
    assertEquals([r.status, r.error?.code, r.error?.message], [400, "22023", message], JSON.stringify(args));
  }
  const anon = await client(ANON_KEY).rpc("place_order", {
    currency: "USD",
    items: [{ product_id: usd, quantity: 1 }],
  });
  assertRestError(anon, DENIED.status, DENIED.code, /^permission denied for function place_order$/);
  const [{ n }] = await sql`select count(*)::int n from public.orders where user_id = ${user.id}`;
  assertEquals(n, 0, "no order was written");
  const [{ items }] =
    await sql`select count(*)::int items from public.order_items where product_id in (${usd}, ${jpy})`;
  assertEquals(items, 0, "no item was written");
  await assertUnchanged(before, "no stock moved");
});

e2e("inactive products and wrong-currency lines are 422 naming each line; nothing changes", async () => {
  const user = await newUser();
  const good = await newProduct({ stock: 10 });
  const retired = await newProduct({ stock: 10 });
  const yen = await newProduct({ currency: "JPY", price: 500, stock: 10 });
  const order = await placeOrder(user, [{ product_id: good, quantity: 1 }, { product_id: retired, quantity: 1 }]);
  // The user sends a line in another currency through REST (place_order would refuse it; a
  // plain insert into one's own pending order is allowed, and pricing must catch it).
  const sent = await client(ANON_KEY, user.token).from("order_items").insert({
    order_id: order.id,
    product_id: yen,
    quantity: 2,
  });
  assertEquals([sent.status, sent.error], [201, null]);
  await sql`update public.products set active = false where id = ${retired}`;
  const skus = Object.fromEntries(
    (await sql`select id, sku from public.products where id in (${retired}, ${yen})`).map((p) => [Number(p.id), p.sku]),
  );
  const before = await snapshot([order.id], [good, retired, yen]);
  const r = await callFn("process-order", { order_id: order.id });
  assertFnError(r, 422, "invalid_lines", {
    lines: [
      { product_id: retired, sku: skus[retired], reason: "inactive" },
      { product_id: yen, sku: skus[yen], reason: "currency_mismatch", expected: "USD", found: "JPY" },
    ],
  });
  await assertUnchanged(before, "the order stays pending, unpriced, and no stock moved");
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

// The order RPCs that process-order sent through the gateway since byte `from` of its log
// (method and path of each; the log has one line per request: scripts/gateway.ts).
function orderRpcsSince(from: number): string[] {
  const log = new TextDecoder().decode(Deno.readFileSync(GATEWAY_LOG).subarray(from));
  return [
    ...log.matchAll(/ (GET|POST) \/rest\/v1\/rpc\/(order_for_processing|begin_order_request|apply_order_processing) /g),
  ]
    .map((m) => `${m[1]} ${m[2]}`);
}

e2e(
  "process-order: two REST round trips; without a key the read is a GET (read-only), with one the keyed read is a POST",
  async () => {
    const user = await newUser();
    const product = await newProduct({ price: 500, stock: 10 });
    const plain = await placeOrder(user, [{ product_id: product, quantity: 1 }]);
    const keyed = await placeOrder(user, [{ product_id: product, quantity: 2 }]);
    // Automatic processing is off in this file: the outbox's deliveries of these orders' events
    // call none of the RPCs counted here (begin_order_event reads the order for the receiver).

    let from = Deno.statSync(GATEWAY_LOG).size;
    const r1 = await callFn("process-order", { order_id: plain.id }, { token: user.token });
    assertEquals([r1.status, r1.body.status], [200, "processed"]);
    // The log line is written when the response is: the apply's line is there before ours.
    assertEquals(orderRpcsSince(from), ["GET order_for_processing", "POST apply_order_processing"]);

    from = Deno.statSync(GATEWAY_LOG).size;
    const opts = { token: user.token, headers: { "idempotency-key": crypto.randomUUID() } };
    const r2 = await callFn("process-order", { order_id: keyed.id }, opts);
    assertEquals([r2.status, r2.body.status], [200, "processed"]);
    assertEquals(orderRpcsSince(from), ["POST begin_order_request", "POST apply_order_processing"]);
    // A replay of the key: the keyed read answers it, one round trip.
    from = Deno.statSync(GATEWAY_LOG).size;
    const r3 = await callFn("process-order", { order_id: keyed.id }, opts);
    assertEquals([r3.status, r3.body], [200, r2.body]);
    assertEquals(orderRpcsSince(from), ["POST begin_order_request"]);
    assertEquals(await stockOf(product), 7);

    // The read by GET is order_for_processing, a stable function: the REST server runs it in a
    // read-only transaction and answers as for the POST (the caller's own order, or null).
    const other = await newUser();
    const get = (token: string, id: number) =>
      fetch(`${API_URL}/rest/v1/rpc/order_for_processing?order_id=${id}`, {
        headers: { apikey: ANON_KEY, authorization: `Bearer ${token}` },
      }).then(async (r) => [r.status, await r.json()]);
    const [status, mine] = await get(user.token, plain.id);
    assertEquals([status, mine.order.id, mine.order.status, mine.lines.length], [200, plain.id, "processed", 1]);
    assertEquals(await get(other.token, plain.id), [200, null]);
  },
);

e2e("Idempotency-Key: replay, mismatch, keys per caller, expired keys cleaned up", async () => {
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

  // Expired keys are cleaned up by later calls.
  const stale = crypto.randomUUID();
  await sql`insert into public.idempotency_keys (scope, endpoint, key, request_hash, locked_until, expires_at)
    values (${"user:" + user.id}, 'process-order', ${stale}, 'x', now(), now() - interval '1 second')`;
  const cleaning = await callFn("process-order", { order_id: o2.id }, {
    headers: { "idempotency-key": crypto.randomUUID() },
  });
  assertEquals(cleaning.status, 200, JSON.stringify(cleaning.body));
  const [{ n }] = await sql`select count(*)::int n from public.idempotency_keys where key = ${stale}`;
  assertEquals(n, 0);
});

async function keyRow(key: string) {
  const rows = await sql`select state, response_status from public.idempotency_keys where key = ${key}`;
  return rows[0] ?? null;
}

e2e("two concurrent requests with one Idempotency-Key: one runs, the other is 409 in flight", async () => {
  const user = await newUser();
  const product = await newProduct({ price: 700, stock: 10 });
  const order = await placeOrder(user, [{ product_id: product, quantity: 2 }]);
  const other = await placeOrder(user, [{ product_id: product, quantity: 1 }]);
  const key = crypto.randomUUID();
  const opts = { token: user.token, headers: { "idempotency-key": key } };
  let first: Promise<Reply> | undefined;
  // The first request takes the key, prices the order and waits in its apply RPC for the row
  // lock this test holds; the others arrive while it is held.
  const [second, otherBody] = await whileOrderLocked(order.id, async (blocked) => {
    first = callFn("process-order", { order_id: order.id }, opts);
    await blocked();
    assertEquals(await keyRow(key), { state: "in_flight", response_status: null });
    // Both answer at once: neither waits for the first request (nor runs it again).
    const second = await within(5000, callFn("process-order", { order_id: order.id }, opts), "the second request");
    const otherBody = await within(5000, callFn("process-order", { order_id: other.id }, opts), "another body");
    assertEquals((await orderRow(order.id)).status, "pending", "the first request is still held");
    return [second, otherBody];
  });
  assertFnError(second, 409, "idempotency_key_in_flight");
  assertEquals(second.headers.get("idempotent-replayed"), null);
  assertFnError(otherBody, 422, "idempotency_key_reused");
  const done = await first!;
  assertEquals([done.status, done.body.status, done.body.total_amount], [200, "processed", 1400 + 599]);
  assertEquals(done.headers.get("idempotent-replayed"), null);
  assertEquals(await keyRow(key), { state: "done", response_status: 200 });
  assertEquals(await stockOf(product), 8, "stock reserved once");
  assertEquals((await orderRow(other.id)).status, "pending", "the other body did nothing");
  const [{ n }] = await sql`select count(*)::int n from public.audit_log
    where table_name = 'orders' and record_id = ${String(order.id)} and 'status' = any(changed_fields)`;
  assertEquals(n, 1, "one status change");
  // Once the first has answered, the same request is its replay.
  const replay = await callFn("process-order", { order_id: order.id }, opts);
  assertEquals([replay.status, replay.body], [200, done.body]);
  assertEquals(replay.headers.get("idempotent-replayed"), "true");
});

e2e("Idempotency-Key: a 5xx is not stored, the key is released and a retry runs again", async () => {
  const user = await newUser();
  const product = await newProduct({ price: 1000, stock: 5 });
  const order = await placeOrder(user, [{ product_id: product, quantity: 1 }]);
  const key = crypto.randomUUID();
  const opts = { token: user.token, headers: { "idempotency-key": key } };
  const before = await snapshot([order.id], [product]);
  const failed = await withOrderFault(order.id, () => callFn("process-order", { order_id: order.id }, opts));
  assertFnError(failed, 502, "upstream_error");
  assert(!JSON.stringify(failed.body).includes("injected"), `leaks the database error: ${JSON.stringify(failed.body)}`);
  assertEquals(await keyRow(key), null, "the key was released");
  await assertUnchanged(before, "the failed attempt changed nothing");
  // The retry with the same key runs (not a replay of the 502) and succeeds.
  const retry = await callFn("process-order", { order_id: order.id }, opts);
  assertEquals([retry.status, retry.body.status, retry.body.total_amount], [200, "processed", 1000 + 599]);
  assertEquals(retry.headers.get("idempotent-replayed"), null);
  assertEquals(await keyRow(key), { state: "done", response_status: 200 });
  assertEquals(await stockOf(product), 4);
  const replay = await callFn("process-order", { order_id: order.id }, opts);
  assertEquals([replay.status, replay.body, replay.headers.get("idempotent-replayed")], [200, retry.body, "true"]);
});

e2e("cancel-order with Idempotency-Key: replay without a second release, 422 for another body", async () => {
  const user = await newUser();
  const product = await newProduct({ price: 300, stock: 10 });
  const order = await placeOrder(user, [{ product_id: product, quantity: 3 }]);
  const second = await placeOrder(user, [{ product_id: product, quantity: 1 }]);
  assertEquals((await callFn("process-order", { order_id: order.id })).status, 200);
  assertEquals((await callFn("process-order", { order_id: second.id })).status, 200);
  assertEquals(await stockOf(product), 6);
  const key = crypto.randomUUID();
  const opts = { token: user.token, headers: { "idempotency-key": key } };
  const cancelled = await callFn("cancel-order", { order_id: order.id }, opts);
  assertEquals([cancelled.status, cancelled.body], [200, {
    order_id: order.id,
    status: "cancelled",
    previous_status: "processed",
  }]);
  assertEquals(cancelled.headers.get("idempotent-replayed"), null);
  assertEquals(await stockOf(product), 9, "the processed order's stock is released");
  const replay = await callFn("cancel-order", { order_id: order.id }, opts);
  assertEquals([replay.status, replay.body, replay.headers.get("idempotent-replayed")], [200, cancelled.body, "true"]);
  assertEquals(await stockOf(product), 9, "a replay releases nothing again");
  // Without the key, the same cancel meets the state machine.
  const bare = await callFn("cancel-order", { order_id: order.id }, { token: user.token });
  assertFnError(bare, 409, "status_conflict");
  assertEquals(bare.body.error.details.current_status, "cancelled");
  // The same key with another body: 422, the other order untouched.
  const before = await snapshot([second.id], [product]);
  const reused = await callFn("cancel-order", { order_id: second.id }, opts);
  assertFnError(reused, 422, "idempotency_key_reused");
  await assertUnchanged(before, "the second order is still processed and its stock reserved");
  // Keys are per endpoint: the same key on process-order is a new request.
  const third = await placeOrder(user, [{ product_id: product, quantity: 1 }]);
  const processed = await callFn("process-order", { order_id: third.id }, opts);
  assertEquals([processed.status, processed.headers.get("idempotent-replayed")], [200, null]);
});

e2e("the REST server unreachable: 503 JSON without internals", async () => {
  // A second process-order process whose SUPABASE_URL points at a closed port.
  const fn = await spawnListening(
    ["run", "--allow-net", "--allow-env", "--allow-read", "--no-prompt", "supabase/functions/process-order/index.ts"],
    { SUPABASE_URL: "http://127.0.0.1:9", ...functionKeysEnv() },
  );
  try {
    const resp = await fetch(`${fn.url}/`, {
      method: "POST",
      headers: { authorization: `Bearer ${SERVICE_ROLE_KEY}`, apikey: SERVICE_ROLE_KEY },
      body: JSON.stringify({ order_id: 1 }),
    });
    const text = await resp.text();
    assertEquals(resp.status, 503);
    assertEquals(JSON.parse(text).error.code, "upstream_unavailable");
    assert(!text.includes("127.0.0.1") && !text.includes(":9"), `leaks internals: ${text}`);
  } finally {
    await fn.stop();
  }
});

e2e("the gateway serves REST under /rest/v1 with the apikey header alone", async () => {
  const resp = await fetch(`${API_URL}/rest/v1/products?select=sku&limit=1`, { headers: { apikey: ANON_KEY } });
  assertEquals(resp.status, 200);
  assertEquals((await resp.json()).length, 1);
});
