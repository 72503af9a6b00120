// `make jwt SUB=<uuid> [ROLE=authenticated] [EXP=3600]`: prints a user access token for the
// local stack, ES256-signed with the first ES256 key of supabase/signing_keys.json (its kid in
// the header), aud authenticated, iss <API URL>/auth/v1, as the local Auth server issues it.
// Use it with the publishable (or anon) key: `-H "apikey: $PUBLISHABLE_KEY" -H "Authorization:
// Bearer $(make -s jwt SUB=…)"`. The token says who the user is; it does not create the user
// (orders need a row in auth.users).
// Usage: deno run --allow-read --allow-env scripts/jwt.ts --sub <uuid> [--role <role>] [--exp <seconds>]
import { parseArgs } from "node:util";
import { readSigningKeys, signEs256, userClaims } from "./jwt_sign.ts";
import { API_URL } from "../tests/stack_env.ts";

const usage = "usage: scripts/jwt.ts --sub <uuid> [--role authenticated] [--exp 3600]   (make jwt SUB=<uuid> ...)";
function fail(message: string): never {
  console.error(`error: ${message}\n${usage}`);
  Deno.exit(2);
}

let values: { sub?: string; role?: string; exp?: string };
try {
  ({ values } = parseArgs({
    args: Deno.args,
    options: { sub: { type: "string" }, role: { type: "string" }, exp: { type: "string" } },
    strict: true,
  }));
} catch (e) {
  fail((e as Error).message);
}
const sub = values.sub ?? "";
const role = values.role || "authenticated";
const exp = values.exp || "3600";
if (!/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(sub)) {
  fail(`SUB must be a user id (a UUID), got '${sub}'`);
}
if (!/^[a-z_][a-z0-9_]*$/.test(role)) fail(`ROLE must be a role name, got '${role}'`);
if (!/^[1-9][0-9]{0,8}$/.test(exp)) fail(`EXP must be a number of seconds (1 to 999999999), got '${exp}'`);

const key = readSigningKeys(new URL("../", import.meta.url)).find((k) => k.alg === "ES256");
if (!key) fail("supabase/signing_keys.json has no ES256 key");
const apiUrl = API_URL;
console.log(await signEs256(userClaims({ sub: sub.toLowerCase(), role, expiresIn: Number(exp), apiUrl }), key));
