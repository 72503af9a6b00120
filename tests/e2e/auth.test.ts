// End to end: callers are authenticated by the functions themselves, in both key modes
// (FUNCTION_KEYS=legacy|new, see _helpers.ts). Bad tokens are sent to each function's OWN port,
// past the gateway, so the 401 is the function's; the gateway's key handling (sb_ keys, ES256
// users swapped for the REST server, the JWKS endpoint) is checked through its port.
import { spawnListening } from "../../scripts/lone_bundle.ts";
import { assert, assertEquals } from "../assert.ts";
import {
  API_URL,
  client,
  e2e,
  explicitProcessing,
  functionUrl,
  KEY_MODE,
  LEGACY_SERVICE_ROLE_KEY,
  newProduct,
  newUser,
  orderRow,
  placeOrder,
  PUBLISHABLE_KEY,
  SECRET_KEY,
  SERVICE_ROLE_KEY,
  signEs256Jwt,
  SIGNING_KEY,
  signJwt,
  sql,
  type User,
} from "./_helpers.ts";

const restoreAutoProcessing = explicitProcessing();

const now = () => Math.floor(Date.now() / 1000);
const enc = new TextEncoder();
const b64url = (bytes: Uint8Array) =>
  btoa(String.fromCharCode(...bytes)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");

/** A P-256 key that is not the project's. */
async function foreignKey(): Promise<JsonWebKey & { kid: string }> {
  const pair = await crypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, true, ["sign", "verify"]);
  return { ...(await crypto.subtle.exportKey("jwk", pair.privateKey)), kid: SIGNING_KEY.kid };
}

/** A token with the given header and claims and no valid signature. */
function unsigned(header: Record<string, unknown>, claims: Record<string, unknown>, sig = ""): string {
  return `${b64url(enc.encode(JSON.stringify(header)))}.${b64url(enc.encode(JSON.stringify(claims)))}.${sig}`;
}

/** Every kind of bad user token, for `user`. */
async function badTokens(user: User): Promise<[string, string][]> {
  const claims = { sub: user.id, role: "authenticated", aud: "authenticated", exp: now() + 3600 };
  const good = await signEs256Jwt(claims);
  const [h, p] = good.split(".");
  return [
    ["forged (a foreign key under the project's kid)", await signEs256Jwt(claims, await foreignKey())],
    ["wrong key (unknown kid)", await signEs256Jwt(claims, SIGNING_KEY, { kid: "not-a-key-of-this-project" })],
    ["unsigned (no signature)", `${h}.${p}.`],
    ["alg none", unsigned({ alg: "none", typ: "JWT" }, claims)],
    ["alg none with the kid", unsigned({ alg: "none", kid: SIGNING_KEY.kid }, claims, "e30")],
    ["expired", await signEs256Jwt({ ...claims, exp: now() - 60 })],
    ["not valid yet (nbf)", await signEs256Jwt({ ...claims, nbf: now() + 3600 })],
    ["wrong audience", await signEs256Jwt({ ...claims, aud: "someone-else" })],
    ["no audience", await signEs256Jwt({ sub: user.id, role: "authenticated", exp: now() + 3600 })],
    [
      "tampered claims",
      `${h}.${b64url(enc.encode(JSON.stringify({ ...claims, sub: crypto.randomUUID() })))}.${good.split(".")[2]}`,
    ],
    // The legacy secret is not the functions' business in new mode; in legacy mode a token
    // signed with another secret is forged.
    [
      "HS256 (only a JWKS in new mode; another secret in legacy mode)",
      await signJwt(claims, KEY_MODE === "new" ? undefined : "not-the-secret-not-the-secret-not-the-secret"),
    ],
    ["HS256 signed with the public key's JSON", await signJwt(claims, JSON.stringify(SIGNING_KEY))],
    ["garbage", "abc.def.ghi"],
  ];
}

async function direct(name: string, headers: Record<string, string>, body: unknown) {
  const resp = await fetch(`${await functionUrl(name)}/functions/v1/${name}`, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: JSON.stringify(body),
  });
  const text = await resp.text();
  let json: any = null;
  try {
    json = JSON.parse(text);
  } catch { /* asserted below */ }
  return { status: resp.status, body: json, text };
}

e2e(
  "each function's own port answers 401 to forged, unsigned, expired, wrong-audience, wrong-key and alg:none tokens",
  async () => {
    const user = await newUser();
    const order = await placeOrder(user, [{ product_id: await newProduct(), quantity: 1 }]);
    const tokens = await badTokens(user);
    const insert = { type: "INSERT", table: "orders", schema: "public", record: { id: order.id, status: "pending" } };
    for (
      const [name, body] of [
        ["process-order", { order_id: order.id }],
        ["cancel-order", { order_id: order.id }],
        ["webhook-dispatch", {}],
        ["order-events", insert],
      ] as const
    ) {
      for (const [what, token] of tokens) {
        for (
          const headers of [{ authorization: `Bearer ${token}` }, {
            authorization: `Bearer ${token}`,
            apikey: PUBLISHABLE_KEY,
          }] as Record<string, string>[]
        ) {
          const r = await direct(name, headers, body);
          assertEquals(r.status, 401, `${name}, ${what}: ${r.text}`);
          assertEquals(r.body?.error?.code, "unauthorized", `${name}, ${what}`);
          assert(!r.text.includes(token), `${name} echoes the token`);
        }
      }
    }
    // Nothing changed, nothing recorded.
    assertEquals((await orderRow(order.id)).status, "pending");
    // (The signed delivery of the INSERT through webhook-dispatch may be recorded; an unsigned
    // one may not.)
    const [{ n }] = await sql`select count(*)::int n from public.received_events
    where order_id = ${order.id} and source = 'db_webhook'`;
    assertEquals(n, 0);
    // The same port serves a genuine caller: the port mapping is right.
    const ok = await direct("process-order", { authorization: `Bearer ${user.token}` }, { order_id: order.id });
    assertEquals([ok.status, ok.body?.status], [200, "processed"]);
  },
);

e2e("API keys on the functions' own ports: secret is the service role, publishable alone is 401", async () => {
  const user = await newUser();
  const order = await placeOrder(user, [{ product_id: await newProduct(), quantity: 1 }]);
  for (
    const [what, headers] of [
      ["publishable key", { apikey: PUBLISHABLE_KEY }],
      ["publishable key as the same bearer", { apikey: PUBLISHABLE_KEY, authorization: `Bearer ${PUBLISHABLE_KEY}` }],
      ["secret key as bearer beside another apikey", {
        apikey: PUBLISHABLE_KEY,
        authorization: `Bearer ${SECRET_KEY}`,
      }],
      ["a near-miss secret key", { apikey: SECRET_KEY.slice(0, -1) + "x" }],
      ["no credentials", {}],
    ] as [string, Record<string, string>][]
  ) {
    for (const name of ["process-order", "webhook-dispatch"]) {
      const r = await direct(name, headers, name === "process-order" ? { order_id: order.id } : {});
      assertEquals(r.status, 401, `${name}, ${what}: ${r.text}`);
      assert(!r.text.includes(SECRET_KEY.slice(10)), "no key in the answer");
    }
  }
  // A user's token is not enough for webhook-dispatch (service role only).
  assertEquals((await direct("webhook-dispatch", { authorization: `Bearer ${user.token}` }, {})).status, 401);
  // The legacy service_role JWT: the service role in legacy mode; in new mode the functions have
  // no legacy key and no JWT secret, so it is just an unverifiable token.
  const legacy = await direct("webhook-dispatch", { authorization: `Bearer ${LEGACY_SERVICE_ROLE_KEY}` }, {});
  assertEquals(legacy.status, KEY_MODE === "new" ? 401 : 200, legacy.text);
  assertEquals((await orderRow(order.id)).status, "pending");
  const r = await direct("process-order", { apikey: SECRET_KEY }, { order_id: order.id });
  assertEquals([r.status, r.body?.status], [200, "processed"], r.text);
});

e2e("supabase-js with the publishable key and an ES256 user token places and processes an order", async () => {
  const id = crypto.randomUUID();
  await sql`insert into auth.users (id, email) values (${id}, ${id + "@test.local"})`;
  const token = await signEs256Jwt({ sub: id, role: "authenticated", aud: "authenticated" });
  const product = await newProduct({ price: 1500 });
  const db = client(PUBLISHABLE_KEY, token);
  const placed = await db.rpc("place_order", { currency: "USD", items: [{ product_id: product, quantity: 2 }] });
  assertEquals(placed.error, null);
  const orderId = Number(placed.data.id);
  assertEquals((await orderRow(orderId)).user_id, id);
  const { data, error } = await db.functions.invoke("process-order", { body: { order_id: orderId } });
  assertEquals(error, null);
  assertEquals([data.status, data.subtotal_amount], ["processed", 3000]);
  // The user reads their order back through REST (RLS saw the ES256 user).
  const mine = await db.from("orders").select("id, status").eq("id", orderId);
  assertEquals(mine.data, [{ id: orderId, status: "processed" }]);
  // Another user's ES256 token neither sees nor processes it.
  const other = await newUser();
  const theirs = client(
    PUBLISHABLE_KEY,
    await signEs256Jwt({ sub: other.id, aud: "authenticated", role: "authenticated" }),
  );
  assertEquals((await theirs.from("orders").select("id").eq("id", orderId)).data, []);
  const denied = await theirs.functions.invoke("cancel-order", { body: { order_id: orderId } });
  assertEquals(denied.error?.context?.status, 404);
  await denied.error?.context?.body?.cancel?.();
});

e2e("supabase-js with the secret key invokes process-order", async () => {
  const user = await newUser();
  const order = await placeOrder(user, [{ product_id: await newProduct({ price: 700 }), quantity: 3 }]);
  const { data, error } = await client(SECRET_KEY).functions.invoke("process-order", { body: { order_id: order.id } });
  assertEquals(error, null);
  assertEquals([data.order_id, data.status, data.subtotal_amount], [order.id, "processed", 2100]);
  assertEquals((await orderRow(order.id)).status, "processed");
});

e2e("the gateway: JWKS endpoint, sb_ keys as roles, bearer sb_ key only when equal to apikey", async () => {
  const jwks = await (await fetch(`${API_URL}/auth/v1/.well-known/jwks.json`)).json();
  assertEquals(jwks.keys.length, 1);
  assertEquals([jwks.keys[0].kid, jwks.keys[0].alg, jwks.keys[0].kty], [SIGNING_KEY.kid, "ES256", "EC"]);
  assertEquals(jwks.keys[0].d, undefined, "no private part");
  const rest = (path: string, headers: Record<string, string>) => fetch(`${API_URL}/rest/v1/${path}`, { headers });
  // audit_log is readable by service_role only.
  const service = await rest("audit_log?select=id&limit=1", { apikey: SECRET_KEY });
  assertEquals(service.status, 200);
  assertEquals((await service.json()).length, 1);
  const anon = await rest("audit_log?select=id&limit=1", { apikey: PUBLISHABLE_KEY });
  assert(anon.status >= 400, `the publishable key read audit_log: ${anon.status}`);
  await anon.body?.cancel();
  for (
    const headers of [
      { apikey: PUBLISHABLE_KEY, authorization: `Bearer ${SECRET_KEY}` },
      { apikey: SECRET_KEY, authorization: `Bearer ${PUBLISHABLE_KEY}` },
      { apikey: "sb_secret_not-a-key-of-this-project" },
      {
        apikey: PUBLISHABLE_KEY,
        authorization: `Bearer ${await signEs256Jwt({ role: "service_role" }, await foreignKey())}`,
      },
      {
        apikey: PUBLISHABLE_KEY,
        authorization: `Bearer ${await signEs256Jwt({ role: "authenticated", exp: now() - 5 })}`,
      },
    ] as Record<string, string>[]
  ) {
    const r = await rest("products?select=id&limit=1", headers);
    assertEquals(r.status, 401, JSON.stringify(headers).slice(0, 80));
    await r.body?.cancel();
  }
  // The mode's own keys work the same way through supabase-js.
  const products = await client(SERVICE_ROLE_KEY).from("products").select("id").limit(1);
  assertEquals(products.error, null);
});

e2e("the gateway's verify_jwt lets the project's keys and verified JWTs through, and OPTIONS unchecked", async () => {
  // process-order-ts (a local benchmark peer) is the one function left with verify_jwt = true.
  const url = `${API_URL}/functions/v1/process-order-ts`;
  const call = async (headers: Record<string, string>, method = "POST") => {
    const r = await fetch(url, { method, headers, body: method === "POST" ? "{}" : undefined });
    const text = await r.text();
    return { status: r.status, gateway401: r.status === 401 && text.includes('"unauthorized"') };
  };
  for (
    const headers of [
      {},
      { apikey: "sb_secret_not-a-key-of-this-project" },
      { apikey: PUBLISHABLE_KEY, authorization: `Bearer ${SECRET_KEY}` },
      { authorization: `Bearer ${SECRET_KEY}` }, // a bearer sb_ key needs the same apikey
      { authorization: `Bearer ${await signEs256Jwt({ role: "authenticated" }, await foreignKey())}` },
      { authorization: `Bearer ${await signJwt({ role: "service_role" }, "x".repeat(40))}` },
      { authorization: "Basic dXNlcjpwYXNz" },
    ] as Record<string, string>[]
  ) {
    assert((await call(headers)).gateway401, `the gateway let ${JSON.stringify(headers).slice(0, 60)} through`);
  }
  const user = await signEs256Jwt({ sub: crypto.randomUUID(), role: "authenticated", aud: "authenticated" });
  for (
    const headers of [
      { apikey: PUBLISHABLE_KEY },
      { apikey: SECRET_KEY, authorization: `Bearer ${SECRET_KEY}` },
      { apikey: PUBLISHABLE_KEY, authorization: `Bearer ${user}` },
      { authorization: `Bearer ${LEGACY_SERVICE_ROLE_KEY}` },
    ] as Record<string, string>[]
  ) {
    const r = await call(headers);
    assert(!r.gateway401, `the gateway refused ${JSON.stringify(headers).slice(0, 60)}`);
  }
  // A CORS preflight carries no credentials: it reaches the function.
  assert(!(await call({}, "OPTIONS")).gateway401);
});

e2e("RS256 user tokens verify inside the wasm too (a process-order with an RSA JWKS)", async () => {
  // The local stack signs ES256; Supabase projects may sign RS256. A process of our own, whose
  // SUPABASE_JWKS holds an RSA key: a genuine token gets past the signature (and is refused
  // for its audience), a forged one is refused for its signature.
  const pair = await crypto.subtle.generateKey(
    { name: "RSASSA-PKCS1-v1_5", modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]), hash: "SHA-256" },
    true,
    ["sign", "verify"],
  );
  const other = await crypto.subtle.generateKey(
    { name: "RSASSA-PKCS1-v1_5", modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]), hash: "SHA-256" },
    true,
    ["sign", "verify"],
  );
  const { n, e } = await crypto.subtle.exportKey("jwk", pair.publicKey);
  const jwks = { keys: [{ kty: "RSA", kid: "rsa-1", alg: "RS256", use: "sig", n, e }] };
  const rs256 = async (claims: Record<string, unknown>, key: CryptoKey) => {
    const input = `${b64url(enc.encode(JSON.stringify({ alg: "RS256", kid: "rsa-1" })))}.${
      b64url(enc.encode(JSON.stringify({ exp: now() + 600, ...claims })))
    }`;
    const sig = new Uint8Array(await crypto.subtle.sign("RSASSA-PKCS1-v1_5", key, enc.encode(input)));
    return `${input}.${b64url(sig)}`;
  };
  const fn = await spawnListening(
    ["run", "--allow-net", "--allow-env", "--allow-read", "--no-prompt", "supabase/functions/process-order/index.ts"],
    {
      SUPABASE_URL: API_URL,
      SUPABASE_SECRET_KEYS: JSON.stringify({ default: SECRET_KEY }),
      SUPABASE_PUBLISHABLE_KEYS: JSON.stringify({ default: PUBLISHABLE_KEY }),
      SUPABASE_JWKS: JSON.stringify(jwks),
    },
  );
  try {
    const call = async (token: string) => {
      const r = await fetch(`${fn.url}/`, {
        method: "POST",
        headers: { authorization: `Bearer ${token}` },
        body: JSON.stringify({ order_id: 1 }),
      });
      return { status: r.status, body: await r.json() };
    };
    const claims = { sub: crypto.randomUUID(), role: "authenticated", aud: "elsewhere" };
    const genuine = await call(await rs256(claims, pair.privateKey));
    assertEquals([genuine.status, genuine.body.error.message], [401, "invalid JWT: audience is not authenticated"]);
    const forged = await call(await rs256(claims, other.privateKey));
    assertEquals([forged.status, forged.body.error.message], [401, "invalid JWT: bad signature"]);
    // An ES256 token (the stack's key is not in this JWKS): no key for it.
    const es = await call(await signEs256Jwt(claims));
    assertEquals([es.status, es.body.error.message], [401, "invalid JWT: no signing key matches its kid"]);
  } finally {
    await fn.stop();
  }
});

e2e("the pg_cron schedule sends the secret key as apikey (and a legacy key also as bearer)", async () => {
  // The one dispatcher's schedule (webhook-dispatch; dispatch-events' job is unscheduled by
  // 20261205000100). No pg_cron/pg_net here, so the migration only raised a notice: run its
  // function definition in a transaction against a stand-in net.http_post that records the
  // call, then roll back. (No Vault here either: the settings stand in for its secrets.)
  const migration = Deno.readTextFileSync(
    new URL("../../supabase/migrations/20261204002010_webhooks_schedule.sql", import.meta.url),
  );
  const start = migration.indexOf("execute $fn$") + "execute $fn$".length;
  const definition = migration.slice(start, migration.indexOf("$fn$;", start));
  assert(definition.includes("create or replace function webhooks.invoke_dispatch()"));
  const calls: { url: string; headers: Record<string, string> }[][] = [];
  const rollback = new Error("rollback");
  await sql.begin(async (tx) => {
    await tx.unsafe("create schema net");
    await tx.unsafe(`create table net.calls (url text, headers jsonb)`);
    await tx.unsafe(`create function net.http_post(url text, headers jsonb, body jsonb, timeout_milliseconds int)
      returns bigint language sql as $$ insert into net.calls values (url, headers) returning 1::bigint $$`);
    await tx.unsafe(definition);
    await tx.unsafe("set local app.settings.supabase_url = 'https://ref.supabase.co/'");
    for (const key of [SECRET_KEY, LEGACY_SERVICE_ROLE_KEY]) {
      await tx.unsafe(`set local app.settings.secret_key = '${key}'`);
      await tx`select webhooks.invoke_dispatch()`;
    }
    calls.push(await tx`select url, headers from net.calls`);
    // Without a key nothing is called.
    await tx.unsafe("set local app.settings.secret_key = ''");
    const [{ id }] = await tx`select webhooks.invoke_dispatch() as id`;
    assertEquals(id, null);
    throw rollback;
  }).catch((e) => {
    if (e !== rollback) throw e;
  });
  const [secret, legacy] = calls[0];
  assertEquals(secret.url, "https://ref.supabase.co/functions/v1/webhook-dispatch");
  assertEquals(secret.headers, { apikey: SECRET_KEY, "Content-Type": "application/json" });
  assertEquals(legacy.headers, {
    apikey: LEGACY_SERVICE_ROLE_KEY,
    Authorization: `Bearer ${LEGACY_SERVICE_ROLE_KEY}`,
    "Content-Type": "application/json",
  });
  const [{ n }] = await sql`select count(*)::int n from pg_namespace where nspname = 'net'`;
  assertEquals(n, 0, "rolled back");
});

restoreAutoProcessing();
