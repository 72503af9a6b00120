// `make jwt SUB=… [ROLE=…] [EXP=…]` (scripts/jwt.ts): the token it prints is an ES256 user token
// of this stack (kid, aud, iss, exp) that, with the publishable key, places an order through
// REST and processes it through process-order; bad arguments are refused without a token.
import { assert, assertEquals } from "../assert.ts";
import {
  API_URL,
  e2e,
  explicitProcessing,
  newProduct,
  orderRow,
  PUBLISHABLE_KEY,
  SIGNING_KEY,
  sql,
  stockOf,
} from "./_helpers.ts";

const root = new URL("../../", import.meta.url).pathname;
const restoreAutoProcessing = explicitProcessing();

async function makeJwt(vars: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const out = await new Deno.Command("make", {
    args: ["-s", "-C", root, "jwt", ...vars],
    stdout: "piped",
    stderr: "piped",
  })
    .output();
  return { code: out.code, stdout: new TextDecoder().decode(out.stdout), stderr: new TextDecoder().decode(out.stderr) };
}

const decode = (part: string) => JSON.parse(atob(part.replace(/-/g, "+").replace(/_/g, "/")));

e2e("make jwt: an ES256 user token of this stack that places and processes an order", async () => {
  const id = crypto.randomUUID();
  await sql`insert into auth.users (id, email) values (${id}, ${id + "@test.local"})`;
  const out = await makeJwt([`SUB=${id}`, "EXP=600"]);
  assertEquals([out.code, out.stderr], [0, ""]);
  assert(/^[\w-]+\.[\w-]+\.[\w-]+\n$/.test(out.stdout), `not one token on one line: ${out.stdout}`);
  const token = out.stdout.trim();
  const [h, p] = token.split(".");
  assertEquals(decode(h), { alg: "ES256", typ: "JWT", kid: SIGNING_KEY.kid });
  const claims = decode(p);
  assertEquals([claims.sub, claims.role, claims.aud, claims.iss], [
    id,
    "authenticated",
    "authenticated",
    `${API_URL}/auth/v1`,
  ]);
  assertEquals(claims.exp - claims.iat, 600);
  assert(Math.abs(claims.iat - Date.now() / 1000) < 30, `iat ${claims.iat}`);

  const headers = { apikey: PUBLISHABLE_KEY, authorization: `Bearer ${token}`, "content-type": "application/json" };
  const product = await newProduct({ price: 1250, stock: 10 });
  const placed = await fetch(`${API_URL}/rest/v1/rpc/place_order`, {
    method: "POST",
    headers,
    body: JSON.stringify({ currency: "USD", items: [{ product_id: product, quantity: 2 }] }),
  });
  const order = await placed.json();
  assertEquals(placed.status, 200, JSON.stringify(order));
  const orderId = Number(order.id);
  assertEquals([(await orderRow(orderId)).user_id, (await orderRow(orderId)).status], [id, "pending"]);

  const processed = await fetch(`${API_URL}/functions/v1/process-order`, {
    method: "POST",
    headers,
    body: JSON.stringify({ order_id: orderId }),
  });
  const body = await processed.json();
  assertEquals([processed.status, body.order_id, body.status, body.subtotal_amount], [200, orderId, "processed", 2500]);
  assertEquals((await orderRow(orderId)).status, "processed");
  assertEquals(await stockOf(product), 8);
});

e2e("make jwt: ROLE is carried; bad SUB, ROLE or EXP print no token and fail", async () => {
  const id = crypto.randomUUID();
  const anon = await makeJwt([`SUB=${id}`, "ROLE=anon"]);
  assertEquals(anon.code, 0, anon.stderr);
  const claims = decode(anon.stdout.trim().split(".")[1]);
  assertEquals([claims.role, claims.exp - claims.iat], ["anon", 3600]);
  for (
    const [vars, message] of [
      [[], "SUB must be a user id (a UUID), got ''"],
      [["SUB=not-a-uuid"], "SUB must be a user id (a UUID), got 'not-a-uuid'"],
      [[`SUB=${id}`, "ROLE=bad role"], "ROLE must be a role name, got 'bad role'"],
      [[`SUB=${id}`, "EXP=-5"], "EXP must be a number of seconds (1 to 999999999), got '-5'"],
      [[`SUB=${id}`, "EXP=1.5"], "EXP must be a number of seconds (1 to 999999999), got '1.5'"],
    ] as [string[], string][]
  ) {
    const r = await makeJwt(vars);
    assert(r.code !== 0, `${vars.join(" ")} succeeded`);
    assertEquals(r.stdout, "", `${vars.join(" ")} printed a token`);
    assert(r.stderr.includes(`error: ${message}\n`), r.stderr);
  }
});

restoreAutoProcessing();
