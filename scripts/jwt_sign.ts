// JWT signing for the local stack's tools and tests (scripts/jwt.ts, tests/e2e/_helpers.ts):
// HS256 with the legacy JWT secret, ES256 with a signing key of supabase/signing_keys.json.
// No side effects at import: callers pass the secret or the key.

const enc = new TextEncoder();

/** base64url without padding (RFC 7515). */
export const b64url = (bytes: Uint8Array): string =>
  btoa(String.fromCharCode(...bytes)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");

const part = (value: unknown) => b64url(enc.encode(JSON.stringify(value)));

/** An HS256 JWT of `claims` signed with `secret`; `header` entries override alg and typ. */
export async function signHs256(
  claims: Record<string, unknown>,
  secret: string,
  header: Record<string, unknown> = {},
): Promise<string> {
  const input = `${part({ alg: "HS256", typ: "JWT", ...header })}.${part(claims)}`;
  const key = await crypto.subtle.importKey("raw", enc.encode(secret), { name: "HMAC", hash: "SHA-256" }, false, [
    "sign",
  ]);
  const sig = new Uint8Array(await crypto.subtle.sign("HMAC", key, enc.encode(input)));
  return `${input}.${b64url(sig)}`;
}

/**
 * An ES256 JWT of `claims` signed with the private P-256 `jwk`; the header names its kid, and
 * `header` entries override alg, typ and kid.
 */
export async function signEs256(
  claims: Record<string, unknown>,
  jwk: JsonWebKey & { kid?: string },
  header: Record<string, unknown> = {},
): Promise<string> {
  const input = `${part({ alg: "ES256", typ: "JWT", kid: jwk.kid, ...header })}.${part(claims)}`;
  const { kty, crv, x, y, d } = jwk;
  const key = await crypto.subtle.importKey(
    "jwk",
    { kty, crv, x, y, d },
    { name: "ECDSA", namedCurve: "P-256" },
    false,
    [
      "sign",
    ],
  );
  const sig = new Uint8Array(await crypto.subtle.sign({ name: "ECDSA", hash: "SHA-256" }, key, enc.encode(input)));
  return `${input}.${b64url(sig)}`;
}

/** The signing keys of supabase/signing_keys.json (private parts included), read from `root`. */
export function readSigningKeys(root: URL): (JsonWebKey & { kid: string; alg: string })[] {
  return JSON.parse(Deno.readTextFileSync(new URL("supabase/signing_keys.json", root)));
}

/**
 * The claims of a user access token as the local Auth server (GoTrue) issues them: `iss` is the
 * stack's `<API URL>/auth/v1`, `aud` authenticated, a session and the password method.
 */
export function userClaims(opts: { sub: string; role: string; expiresIn: number; apiUrl: string; now?: number }) {
  const iat = opts.now ?? Math.floor(Date.now() / 1000);
  return {
    iss: `${opts.apiUrl}/auth/v1`,
    sub: opts.sub,
    aud: "authenticated",
    exp: iat + opts.expiresIn,
    iat,
    role: opts.role,
    aal: "aal1",
    amr: [{ method: "password", timestamp: iat }],
    session_id: crypto.randomUUID(),
    is_anonymous: false,
    app_metadata: { provider: "email", providers: ["email"] },
    user_metadata: {},
  };
}
