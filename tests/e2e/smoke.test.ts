// `make smoke` (scripts/smoke.ts) against the local stack: green with the secret key and a real
// order, and red, on exactly the checks that need the key, with a key that is not the project's.
import { assert, assertEquals } from "../assert.ts";
import {
  API_URL,
  e2e,
  KEY_MODE,
  LEGACY_ANON_KEY,
  LEGACY_SERVICE_ROLE_KEY,
  newProduct,
  newUser,
  orderRow,
  PUBLISHABLE_KEY,
  SECRET_KEY,
  SERVICE_ROLE_KEY,
  signEs256Jwt,
  signJwt,
  stockOf,
} from "./_helpers.ts";

const smokeScript = new URL("../../scripts/smoke.ts", import.meta.url).pathname;

async function smoke(args: string[], env: Record<string, string> = {}) {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-net", "--allow-env", smokeScript, ...args],
    env: { NO_COLOR: "1", ...env },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
  return { code: out.code, text, lines: text.trim().split("\n") };
}

const CHECKS_WITHOUT_ORDER = [
  "process-order: CORS preflight",
  "cancel-order: CORS preflight",
  "payment-webhook: CORS preflight",
  "order-events: CORS preflight",
  "webhook-dispatch: CORS preflight",
  "process-order: no credentials -> 401",
  "process-order: secret key, unknown order -> 404",
  "cancel-order: no credentials -> 401",
  "cancel-order: secret key, unknown order -> 404",
  "payment-webhook: bad Stripe signature -> 400",
  "order-events: no signature -> 401",
  "webhook-dispatch: secret key -> 200",
];
const ORDER_CHECKS = [
  "order: place_order as the user (REST)",
  "order: process-order as the user",
  "order: the user reads it back processed (REST)",
  "order: cancel-order with the secret key releases it",
];

/** The verdict ("ok" or "FAIL") printed for each named check, in the order printed. */
const verdicts = (lines: string[], names: string[]) =>
  lines.filter((l) => l.startsWith("ok ") || l.startsWith("FAIL ")).map((l) => {
    const rest = l.replace(/^(ok|FAIL) +/, "");
    return [l.startsWith("ok") ? "ok" : "FAIL", names.find((n) => rest === n || rest.startsWith(`${n}: `)) ?? rest];
  });

// Each key system the functions accept in this run: the secret key (with the publishable key and
// an ES256 user for the order) always; the legacy service_role key (with the anon key and an
// HS256 user) while the functions also hold the legacy keys (FUNCTION_KEYS=new removes them).
const keySystems = [
  ...(KEY_MODE === "legacy"
    ? [{ name: "legacy service_role key", key: LEGACY_SERVICE_ROLE_KEY, anon: LEGACY_ANON_KEY, sign: signJwt }]
    : []),
  {
    name: "sb_secret_ key",
    key: SECRET_KEY,
    anon: PUBLISHABLE_KEY,
    sign: (c: Record<string, unknown>) => signEs256Jwt(c),
  },
];

for (const keys of keySystems) {
  e2e(`smoke (${keys.name}): every check passes, and its test order ends cancelled with its stock back`, async () => {
    const { id: userId } = await newUser();
    const product = await newProduct({ price: 2500, stock: 10 });
    const run = await smoke([API_URL, keys.key], {
      SMOKE_ORDER: "1",
      SMOKE_PUBLISHABLE_KEY: keys.anon,
      SMOKE_USER_TOKEN: await keys.sign({ sub: userId, role: "authenticated", aud: "authenticated" }),
      SMOKE_PRODUCT_ID: String(product),
    });
    assertEquals(run.code, 0, run.text);
    const all = [...CHECKS_WITHOUT_ORDER, ...ORDER_CHECKS];
    assertEquals(verdicts(run.lines, all), all.map((n) => ["ok", n]), run.text);
    assertEquals(run.lines.at(-1), `16 of 16 checks passed against ${API_URL}`);
    // The order it placed: the user's, processed (total 25.00 + 5.99 shipping, no tax rule for
    // the default region), then cancelled with its stock released.
    const orderId = Number(run.text.match(/order (\d+) pending/)?.[1]);
    const row = await orderRow(orderId);
    assertEquals([row.user_id, row.status, Number(row.total_amount)], [userId, "cancelled", 3099]);
    assertEquals(await stockOf(product), 10);
  });
}

for (
  const [name, key] of [
    [
      "a service_role JWT signed with another secret",
      () => signJwt({ role: "service_role" }, "not-the-project-secret-not-the-project-secret"),
    ],
    ["an sb_secret_ key that is not the project's", () => Promise.resolve("sb_secret_NotTheProjectsKey0000000000")],
  ] as const
) {
  e2e(`smoke with ${name}: exactly the three checks that need the key fail, with 401 (exit 1)`, async () => {
    const run = await smoke([API_URL, await key()]);
    assertEquals(run.code, 1, run.text);
    const needsKey = new Set([
      "process-order: secret key, unknown order -> 404",
      "cancel-order: secret key, unknown order -> 404",
      "webhook-dispatch: secret key -> 200",
    ]);
    assertEquals(
      verdicts(run.lines, CHECKS_WITHOUT_ORDER),
      CHECKS_WITHOUT_ORDER.map((n) => [needsKey.has(n) ? "FAIL" : "ok", n]),
      run.text,
    );
    assert(run.lines.filter((l) => l.startsWith("FAIL")).every((l) => /, got 401 /.test(l)), run.text);
    assertEquals(run.lines.at(-1), `9 of 12 checks passed against ${API_URL}`);
  });
}

e2e("smoke: usage line and exit 2 without URL and KEY; SMOKE_ORDER without its inputs fails", async () => {
  const bare = await smoke(["", ""], { URL: "", KEY: "" });
  assertEquals([bare.code, bare.lines], [2, [
    "usage: make smoke URL=https://<project-ref>.supabase.co KEY=<sb_secret_… or service_role JWT>",
  ]]);
  const missing = await smoke([API_URL, SERVICE_ROLE_KEY], { SMOKE_ORDER: "1" });
  assertEquals(missing.code, 1, missing.text);
  assert(
    missing.lines.includes(
      "FAIL order: inputs: SMOKE_ORDER=1 needs SMOKE_PUBLISHABLE_KEY, SMOKE_USER_TOKEN and SMOKE_PRODUCT_ID",
    ),
    missing.text,
  );
});
