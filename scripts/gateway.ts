// Local API gateway: what Kong + `supabase functions serve` give a Supabase project, without
// Docker. Listens on API_PORT (scripts/lib.sh):
//   /rest/v1/*           -> the PostgREST-compatible server (postrust) on REST_PORT, with the
//                           caller's key turned into a JWT it understands (see restAuth)
//   /functions/v1/<name> -> supabase/functions/<name>/index.ts, each in its own Deno process,
//                           behind a JWT check when verify_jwt (supabase/config.toml) is true
//                           (which, as on Supabase, also lets the project's sb_ keys through);
//                           OPTIONS (CORS preflight) always passes unchecked
//   /auth/v1/.well-known/jwks.json -> the public half of supabase/signing_keys.json
//   /health              -> 200 once every function answers; each function's name, ready,
//                           port and pid (scripts/stack.sh status prints them)
// Keys, as `supabase start` has them: the legacy HS256 JWT secret with its anon and service_role
// JWTs, the publishable and secret API keys, and the ES256 signing key of [auth]
// signing_keys_path. Each function listens on a port the OS picks (listed by /health) and
// gets SUPABASE_URL, SUPABASE_DB_URL, SUPABASE_PUBLISHABLE_KEYS, SUPABASE_SECRET_KEYS,
// SUPABASE_JWKS, the legacy SUPABASE_ANON_KEY, SUPABASE_SERVICE_ROLE_KEY and JWT_SECRET, and
// the entries of supabase/functions/.env (and WEBHOOK_ALLOW_PRIVATE=true unless set). With FUNCTION_KEYS=new the functions get the new keys
// only: no legacy key and no JWT secret, as a project whose legacy keys are disabled.
// A process that exits is restarted (a fresh instance). SIGHUP reloads: each function whose
// files changed (its wrapper's local import graph: the wrapper, supabase/functions/_shared,
// wasm-pkg/<name>) gets a new process, which takes over once it listens; the others keep
// theirs (scripts/stack.sh reload sends it and waits; make dev uses it). Only a process of the
// same user can signal the gateway: no HTTP route restarts anything. Everything a process prints goes to
// LOGS/functions/<name>.log and to the combined LOGS/functions.log; one line per request
// (except /health) to stdout, which scripts/stack.sh sends to LOGS/gateway.log.
import { parse as parseToml } from "npm:smol-toml";
import { parse as parseDotenv } from "npm:dotenv";

const env = (name: string): string => {
  const v = Deno.env.get(name);
  if (!v) throw new Error(`gateway: ${name} is not set`);
  return v;
};
const root = new URL("../", import.meta.url);
const apiPort = Number(env("API_PORT"));
const restPort = Number(env("REST_PORT"));
const jwtSecret = env("JWT_SECRET");
const anonKey = env("ANON_KEY");
const serviceRoleKey = env("SERVICE_ROLE_KEY");
const publishableKey = env("PUBLISHABLE_KEY");
const secretKey = env("SECRET_KEY");
const logs = env("LOGS");
const functionKeys = Deno.env.get("FUNCTION_KEYS") === "new" ? "new" : "legacy";

type Fn = {
  name: string;
  port: number;
  verifyJwt: boolean;
  ready: boolean;
  pid: number | null;
  /** The process serving requests, and a replacement starting after a reload (null if none). */
  child: Deno.ChildProcess | null;
  next: Deno.ChildProcess | null;
  /** The fingerprint of the files the serving process started from (see fingerprint()). */
  fingerprint: string;
  /** The fingerprint a reload asked for, when its replacement is starting or failed to. */
  wanted: string;
  /** Its folder is gone (seen by a reload): its process is stopped and not restarted. */
  removed: boolean;
};
type FnConfig = { verify_jwt?: boolean };

type Config = { functions?: Record<string, FnConfig>; auth?: { signing_keys_path?: string } };
const readConfig = () => parseToml(Deno.readTextFileSync(new URL("supabase/config.toml", root))) as Config;
// Re-read on every reload (a function's verify_jwt may change, a new function brings its table).
let config = readConfig();

// The asymmetric signing keys (a JWK array with private parts, as `supabase gen signing-key`
// writes it); the path is relative to supabase/, as in the CLI.
type SigningJwk = JsonWebKey & { kid: string; alg: string };
const signingKeysPath = config.auth?.signing_keys_path;
const signingKeys: SigningJwk[] = signingKeysPath
  ? JSON.parse(Deno.readTextFileSync(new URL(signingKeysPath, new URL("supabase/", root))))
  : [];
/** The public set: what /auth/v1/.well-known/jwks.json serves and functions get as SUPABASE_JWKS. */
const publicJwks = {
  keys: signingKeys.map(({ kty, kid, alg, crv, x, y, n, e }) => ({
    kty,
    kid,
    alg,
    use: "sig",
    key_ops: ["verify"],
    ...(crv ? { crv, x, y } : { n, e }),
  })),
};
const jwksVerifiers = new Map<string, CryptoKey>();
for (const k of signingKeys) {
  if (k.alg !== "ES256") continue; // the local stack signs with ES256 only
  jwksVerifiers.set(
    k.kid,
    await crypto.subtle.importKey(
      "jwk",
      { kty: k.kty, crv: k.crv, x: k.x, y: k.y },
      {
        name: "ECDSA",
        namedCurve: "P-256",
      },
      false,
      ["verify"],
    ),
  );
}
// Product functions, then local-only benchmark peers (bench/functions, never deployed). Read at
// start and again on every reload: a function scaffolded (or removed) while the stack runs is
// started (or stopped) by the next SIGHUP, as `supabase functions serve` picks up new folders.
const functionDirs = [new URL("supabase/functions/", root), new URL("bench/functions/", root)];
function discover(): Map<string, URL> {
  const found = new Map<string, URL>();
  for (const dir of functionDirs) {
    let entries: Deno.DirEntry[] = [];
    try {
      entries = [...Deno.readDirSync(dir)];
    } catch { /* no such folder */ }
    for (const e of entries.sort((a, b) => a.name.localeCompare(b.name))) {
      if (!e.isDirectory || e.name.startsWith("_") || found.has(e.name)) continue;
      try {
        if (Deno.statSync(new URL(`${e.name}/index.ts`, dir)).isFile) {
          found.set(e.name, new URL(`${e.name}/index.ts`, dir));
        }
      } catch { /* not a function */ }
    }
  }
  return found;
}
const locations = discover();
// Function processes listen on a port the OS picks (port 0): fixed ports in Linux's ephemeral
// range (32768-60999, where Supabase's own 543xx ports sit) can be taken by an outgoing
// connection, or by a TCP self-connect while probing a port nobody listens on yet. A process is
// ready once it prints Deno.serve's "Listening on" line, which names the port.
const newFn = (name: string): Fn => ({
  name,
  port: 0,
  verifyJwt: config.functions?.[name]?.verify_jwt ?? true,
  ready: false,
  pid: null,
  child: null,
  next: null,
  fingerprint: "",
  wanted: "",
  removed: false,
});
const fns = new Map<string, Fn>([...locations.keys()].sort().map((name) => [name, newFn(name)]));

// What a function process runs from: the local files its wrapper reaches by static or dynamic
// imports with literal relative specifiers (the wrapper, supabase/functions/_shared/*,
// wasm-pkg/<name>/*), plus every file in its own folder. A reload restarts a function when the
// hash of their paths and contents moved.
const importRe = /(?:^|[^\w.])(?:import|export)\s*(?:[\w*{}\s,$]+\s*from\s*)?\(?\s*["']([^"']+)["']/g;
function localGraph(entry: URL): string[] {
  const seen = new Set<string>();
  const dir = new URL("./", entry);
  const visit = (url: URL) => {
    if (url.protocol !== "file:" || seen.has(url.pathname)) return;
    seen.add(url.pathname);
    let text = "";
    try {
      text = Deno.readTextFileSync(url);
    } catch { /* missing: the hash says so */ }
    if (!/\.(m?[jt]sx?)$/.test(url.pathname)) return;
    for (const m of text.matchAll(importRe)) {
      if (m[1].startsWith("./") || m[1].startsWith("../")) visit(new URL(m[1], url));
    }
  };
  visit(entry);
  const walk = (d: URL) => {
    for (const e of Deno.readDirSync(d)) {
      if (e.isDirectory) walk(new URL(`${e.name}/`, d));
      else if (e.isFile) seen.add(new URL(e.name, d).pathname);
    }
  };
  try {
    walk(dir);
  } catch { /* gone */ }
  return [...seen].sort();
}
async function fingerprint(name: string): Promise<string> {
  const h: Uint8Array[] = [];
  for (const path of localGraph(locations.get(name)!)) {
    let bytes: Uint8Array = encoder.encode("<missing>");
    try {
      bytes = Deno.readFileSync(path);
    } catch { /* missing */ }
    h.push(encoder.encode(`${path}\0${bytes.byteLength}\0`), bytes);
  }
  const all = new Uint8Array(h.reduce((n, b) => n + b.byteLength, 0));
  let at = 0;
  for (const b of h) {
    all.set(b, at);
    at += b.byteLength;
  }
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", all));
  return [...digest.slice(0, 12)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

let secrets: Record<string, string> = {};
try {
  secrets = parseDotenv(Deno.readTextFileSync(new URL("supabase/functions/.env", root)));
} catch { /* no .env: no user secrets */ }

// Function output: every line into the combined LOGS/functions.log and into the function's own
// LOGS/functions/<name>.log, both as "<time> [<name>] <line>" (the gateway's lines about a
// function, such as its restarts, as "<time> [gateway] …" in both).
const openLog = (path: string) => Deno.openSync(path, { append: true, create: true, write: true });
const combinedLog = openLog(`${logs}/functions.log`);
Deno.mkdirSync(`${logs}/functions`, { recursive: true });
const fnLogs = new Map<string, Deno.FsFile>();
const fnLog = (name: string) => {
  let f = fnLogs.get(name);
  if (!f) fnLogs.set(name, f = openLog(`${logs}/functions/${name}.log`));
  return f;
};
const encoder = new TextEncoder();
const writeLog = (fn: string, line: string) => {
  const bytes = encoder.encode(line);
  combinedLog.writeSync(bytes);
  fnLog(fn).writeSync(bytes);
};

async function pipe(name: string, stream: ReadableStream<Uint8Array>, onLine?: (line: string) => void) {
  const decoder = new TextDecoder();
  let rest = "";
  for await (const chunk of stream) {
    const text = rest + decoder.decode(chunk, { stream: true });
    const lines = text.split("\n");
    rest = lines.pop() ?? "";
    for (const l of lines) {
      writeLog(name, `${new Date().toISOString()} [${name}] ${l}\n`);
      onLine?.(l);
    }
  }
}

// What Supabase gives every function. FUNCTION_KEYS=new: the new keys only.
// The gateway's own env minus every key it holds, so none reaches a function by inheritance.
const gatewayOnly = /^(JWT_SECRET|ANON_KEY|SERVICE_ROLE_KEY|PUBLISHABLE_KEY|SECRET_KEY|FUNCTION_KEYS|SUPABASE_.*)$/;
const functionEnv: Record<string, string> = {
  ...Object.fromEntries(Object.entries(Deno.env.toObject()).filter(([k]) => !gatewayOnly.test(k))),
  SUPABASE_URL: `http://127.0.0.1:${apiPort}`,
  SUPABASE_DB_URL: env("DB_URL"),
  SUPABASE_PUBLISHABLE_KEYS: JSON.stringify({ default: publishableKey }),
  SUPABASE_SECRET_KEYS: JSON.stringify({ default: secretKey }),
  SUPABASE_JWKS: JSON.stringify(publicJwks),
  ...(functionKeys === "legacy"
    ? { SUPABASE_ANON_KEY: anonKey, SUPABASE_SERVICE_ROLE_KEY: serviceRoleKey, JWT_SECRET: jwtSecret }
    : {}),
};

// Local-stack defaults, below supabase/functions/.env and the gateway's env: webhook-dispatch may
// deliver to 127.0.0.1 (the tests' receivers). Off by default anywhere else.
const localDefaults: Record<string, string> = { WEBHOOK_ALLOW_PRIVATE: "true" };

let stopping = false;
/**
 * Start a process for `fn`. The first one (and one after a crash) serves as soon as it listens;
 * a replacement (`replace`, after a reload) takes over only once it listens, and the old
 * process is then told to stop. A replacement that exits before listening leaves the old one
 * serving (its log says why; /health marks the function stale).
 */
async function spawn(fn: Fn, replace = false) {
  const print = await fingerprint(fn.name);
  fn.wanted = print;
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-net",
      "--allow-env",
      "--allow-read",
      "--allow-sys",
      "--no-prompt",
      locations.get(fn.name)!.pathname,
    ],
    env: { ...localDefaults, ...secrets, ...functionEnv, DENO_SERVE_ADDRESS: "tcp:127.0.0.1:0", NO_COLOR: "1" },
    clearEnv: true, // functionEnv already holds what may be inherited

    stdout: "piped",
    stderr: "piped",
  }).spawn();
  if (replace && fn.child) {
    try {
      fn.next?.kill("SIGKILL"); // an older replacement still starting: this one supersedes it
    } catch { /* already gone */ }
    fn.next = child;
  } else {
    fn.child = child;
    fn.pid = child.pid;
    fn.fingerprint = print;
  }
  const listening = (line: string) => {
    const m = line.match(/Listening on http:\/\/127\.0\.0\.1:(\d+)\//);
    if (!m) return;
    if (fn.next === child) {
      const old = fn.child;
      fn.child = child;
      fn.next = null;
      fn.pid = child.pid;
      fn.fingerprint = print;
      writeLog(
        fn.name,
        `${new Date().toISOString()} [gateway] ${fn.name} reloaded (pid ${child.pid}, was ${old?.pid})\n`,
      );
      try {
        old?.kill("SIGTERM");
      } catch { /* already gone */ }
    }
    if (fn.child === child) {
      fn.port = Number(m[1]);
      fn.ready = true;
    }
  };
  pipe(fn.name, child.stdout, listening);
  pipe(fn.name, child.stderr, listening);
  child.status.then((s) => {
    if (fn.next === child) {
      fn.next = null;
      writeLog(
        fn.name,
        `${
          new Date().toISOString()
        } [gateway] ${fn.name}: the reloaded process exited (${s.code}) before listening; the previous one keeps serving\n`,
      );
      return;
    }
    if (fn.child !== child) return; // replaced by a reload
    fn.child = null;
    if (fn.removed) return;
    fn.ready = false;
    fn.port = 0;
    fn.pid = null;
    if (stopping) return;
    writeLog(fn.name, `${new Date().toISOString()} [gateway] ${fn.name} exited (${s.code}); restarting\n`);
    setTimeout(() => spawn(fn), 250);
  });
}

// SIGHUP: restart the functions whose files changed (see fingerprint()). /health counts the
// reloads done and says whether a replacement is still starting.
let reloads = 0;
let reloading = false;
async function reload() {
  if (reloading) return;
  reloading = true;
  try {
    // Folders added or removed since the last look, and config.toml's current verify_jwt.
    try {
      config = readConfig();
    } catch (e) {
      console.error(`gateway: supabase/config.toml not re-read (${e}); keeping the previous one`);
    }
    const found = discover();
    for (const [name, fn] of fns) {
      if (found.has(name)) continue;
      fn.removed = true;
      fns.delete(name);
      locations.delete(name);
      writeLog(name, `${new Date().toISOString()} [gateway] ${name}: its folder is gone; stopped\n`);
      for (const c of [fn.child, fn.next]) {
        try {
          c?.kill("SIGTERM");
        } catch { /* already gone */ }
      }
    }
    for (const [name, url] of found) {
      locations.set(name, url);
      const known = fns.get(name);
      if (known) {
        known.verifyJwt = config.functions?.[name]?.verify_jwt ?? true;
        continue;
      }
      const fn = newFn(name);
      fns.set(name, fn);
      writeLog(name, `${new Date().toISOString()} [gateway] ${name}: new function folder; starting\n`);
      await spawn(fn);
    }
    for (const fn of fns.values()) {
      const print = await fingerprint(fn.name);
      if (print === fn.fingerprint && !fn.next) {
        fn.wanted = print; // back to what runs (a failed reload's files were reverted)
        continue;
      }
      if (print === fn.wanted && fn.next) continue; // already starting
      if (!fn.child) continue; // between crash restarts: the next spawn reads the new files
      await spawn(fn, true);
    }
  } finally {
    reloads += 1;
    reloading = false;
  }
}

const b64url = (s: string) => Uint8Array.from(atob(s.replace(/-/g, "+").replace(/_/g, "/")), (c) => c.charCodeAt(0));
const toB64url = (bytes: Uint8Array) =>
  btoa(String.fromCharCode(...bytes)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
const hmacKey = await crypto.subtle.importKey(
  "raw",
  encoder.encode(jwtSecret),
  { name: "HMAC", hash: "SHA-256" },
  false,
  ["sign", "verify"],
);

type Claims = Record<string, unknown> & { exp?: number; nbf?: number; role?: string };
type Verified = { alg: "HS256" | "ES256"; claims: Claims };

// Tokens already verified (the same keys arrive on every request), with what they verified to.
const verified = new Map<string, Verified>();

/** Verify a JWT: HS256 with the legacy secret or ES256 with a signing key (by kid), then exp/nbf. */
async function verifyJwt(token: string): Promise<Verified | string> {
  const now = Date.now() / 1000;
  const known = verified.get(token);
  if (known) {
    if (typeof known.claims.exp === "number" && known.claims.exp <= now) return "JWT expired";
    return known;
  }
  const parts = token.split(".");
  if (parts.length !== 3) return "invalid JWT";
  try {
    const header = JSON.parse(new TextDecoder().decode(b64url(parts[0])));
    const input = encoder.encode(`${parts[0]}.${parts[1]}`);
    let ok = false;
    if (header.alg === "HS256") {
      ok = await crypto.subtle.verify("HMAC", hmacKey, b64url(parts[2]), input);
    } else if (header.alg === "ES256") {
      const key = jwksVerifiers.get(header.kid);
      if (!key) return "invalid JWT: unknown kid";
      ok = await crypto.subtle.verify({ name: "ECDSA", hash: "SHA-256" }, key, b64url(parts[2]), input);
    } else {
      return "invalid JWT: unsupported algorithm";
    }
    if (!ok) return "invalid JWT";
    const claims = JSON.parse(new TextDecoder().decode(b64url(parts[1]))) as Claims;
    if (typeof claims.exp === "number" && claims.exp <= now) return "JWT expired";
    if (typeof claims.nbf === "number" && claims.nbf > now) return "JWT not valid yet";
    if (verified.size > 10_000) verified.clear();
    const v: Verified = { alg: header.alg, claims };
    verified.set(token, v);
    return v;
  } catch {
    return "invalid JWT";
  }
}

/** An HS256 JWT with `claims`, signed with the legacy secret (the only one postrust knows). */
async function mintHs256(claims: Claims): Promise<string> {
  const head = toB64url(encoder.encode(JSON.stringify({ alg: "HS256", typ: "JWT" })));
  const body = toB64url(encoder.encode(JSON.stringify(claims)));
  const sig = new Uint8Array(await crypto.subtle.sign("HMAC", hmacKey, encoder.encode(`${head}.${body}`)));
  return `${head}.${body}.${toB64url(sig)}`;
}

// Minted tokens, reused until a minute before they expire.
const minted = new Map<string, { token: string; exp: number }>();
async function mintedFor(cacheKey: string, claims: () => Claims): Promise<string> {
  const now = Date.now() / 1000;
  const hit = minted.get(cacheKey);
  if (hit && hit.exp - 60 > now) return hit.token;
  const c = claims();
  const token = await mintHs256(c);
  if (minted.size > 10_000) minted.clear();
  minted.set(cacheKey, { token, exp: typeof c.exp === "number" ? c.exp : now + 3600 });
  return token;
}

/** The sb_ API key's role, or null for a key this project does not have. */
function apiKeyRole(key: string): "anon" | "service_role" | null {
  if (key === publishableKey) return "anon";
  if (key === secretKey) return "service_role";
  return null;
}

const bearerOf = (auth: string | null) => auth?.match(/^Bearer\s+(\S+)$/i)?.[1];

/**
 * The Authorization header the REST server gets, or an error message. As Supabase's gateway:
 * `apikey: sb_publishable_…` acts as anon and `apikey: sb_secret_…` as service_role, swapped for
 * a short-lived HS256 JWT; a bearer sb_ key only when it equals apikey; a user's JWT verified.
 * postrust verifies HS256 only, so a verified ES256 user JWT is swapped for an HS256 one with
 * the same claims (Supabase's PostgREST reads the JWKS instead).
 */
async function restAuth(headers: Headers): Promise<string | { error: string }> {
  const apikey = headers.get("apikey");
  const auth = headers.get("authorization");
  const bearer = bearerOf(auth);
  if (auth && !bearer) return { error: "the Authorization header must be a Bearer token" };
  const roleJwt = (role: "anon" | "service_role") =>
    role === "anon" ? anonKey : mintedFor("service_role", () => ({
      iss: "supabase-local-gateway",
      role: "service_role",
      iat: Math.floor(Date.now() / 1000),
      exp: Math.floor(Date.now() / 1000) + 300,
    }));
  if (bearer?.startsWith("sb_") || (!bearer && apikey?.startsWith("sb_"))) {
    const key = bearer ?? apikey!;
    if (bearer && apikey !== bearer) return { error: "a bearer API key must equal the apikey header" };
    const role = apiKeyRole(key);
    if (!role) return { error: "invalid API key" };
    return `Bearer ${await roleJwt(role)}`;
  }
  if (apikey?.startsWith("sb_") && !apiKeyRole(apikey)) return { error: "invalid API key" };
  const token = bearer ?? apikey;
  if (!token) return "";
  const v = await verifyJwt(token);
  if (typeof v === "string") return { error: v };
  if (v.alg === "HS256") return `Bearer ${token}`;
  return `Bearer ${await mintedFor(token, () => v.claims)}`;
}

/**
 * verify_jwt for functions, as Supabase's gateway does it: a JWT that verifies (legacy HS256 or
 * the ES256 signing key), or one of the project's sb_ keys in apikey (a bearer sb_ key only when
 * equal to apikey). It authenticates no one by itself: the functions verify their callers.
 */
async function functionJwtProblem(headers: Headers): Promise<string | null> {
  const apikey = headers.get("apikey");
  const auth = headers.get("authorization");
  const bearer = bearerOf(auth);
  if (auth && !bearer) return "the Authorization header must be a Bearer token";
  if (bearer?.startsWith("sb_") || (!bearer && apikey?.startsWith("sb_"))) {
    if (bearer && apikey !== bearer) return "a bearer API key must equal the apikey header";
    return apiKeyRole(bearer ?? apikey!) ? null : "invalid API key";
  }
  if (!bearer) return "missing authorization header";
  const v = await verifyJwt(bearer);
  return typeof v === "string" ? v : null;
}

const jsonError = (status: number, code: string, message: string) =>
  Response.json({ error: { code, message } }, { status });

// Bodies are streamed, never buffered here: a declared Content-Length over the cap is refused
// before reading, and a chunked body is cut at the cap. Functions apply their own, smaller
// limits (before reading too); the cap only bounds what the gateway passes on.
const MAX_BODY = Number(Deno.env.get("GATEWAY_MAX_BODY") ?? 8 * 1024 * 1024);
const tooLarge = () => jsonError(413, "payload_too_large", `body is larger than ${MAX_BODY} bytes`);

class BodyTooLarge extends Error {}

function capped(body: ReadableStream<Uint8Array>): ReadableStream<Uint8Array> {
  let seen = 0;
  return body.pipeThrough(
    new TransformStream<Uint8Array, Uint8Array>({
      transform(chunk, controller) {
        seen += chunk.byteLength;
        if (seen > MAX_BODY) controller.error(new BodyTooLarge());
        else controller.enqueue(chunk);
      },
    }),
  );
}

async function proxy(req: Request, target: string, headers: Headers): Promise<Response> {
  headers.delete("host");
  const declared = req.headers.get("content-length");
  if (declared !== null && !(Number(declared) <= MAX_BODY)) return tooLarge();
  const body = req.method === "GET" || req.method === "HEAD" || !req.body ? undefined : capped(req.body);
  try {
    const resp = await fetch(target, { method: req.method, headers, body, redirect: "manual" });
    return new Response(resp.body, { status: resp.status, headers: resp.headers });
  } catch (err) {
    if (err instanceof BodyTooLarge || (err as Error)?.cause instanceof BodyTooLarge) return tooLarge();
    throw err;
  }
}

/** Where a path goes, for the request log: "rest", a function's name, or "-". */
function targetOf(path: string): string {
  if (path.startsWith("/rest/v1/") || path === "/rest/v1") return "rest";
  const m = path.match(/^\/functions\/v1\/([^/]+)/);
  if (m) return fns.has(m[1]) ? m[1] : "-";
  return path === "/auth/v1/.well-known/jwks.json" ? "jwks" : "-";
}

/**
 * One line per request on stdout (LOGS/gateway.log): time, method, path (never the query, which
 * can carry keys), status, milliseconds until the response headers, target. /health (polled by
 * scripts/stack.sh) is not logged.
 */
async function logged(req: Request): Promise<Response> {
  const started = performance.now();
  const path = new URL(req.url).pathname;
  let status = 500;
  try {
    const resp = await handler(req);
    status = resp.status;
    return resp;
  } finally {
    if (path !== "/health") {
      const ms = (performance.now() - started).toFixed(1);
      console.log(`${new Date().toISOString()} ${req.method} ${path} ${status} ${ms}ms ${targetOf(path)}`);
    }
  }
}

async function handler(req: Request): Promise<Response> {
  const url = new URL(req.url);
  const path = url.pathname;
  if (path === "/health") {
    const all = [...fns.values()];
    const ready = all.every((f) => f.ready);
    // scripts/stack.sh status reads name, ready, port and pid in this order.
    // stale: a reload asked for files its replacement process did not come up with (yet).
    const functions = all.map((f) => ({
      name: f.name,
      ready: f.ready,
      port: f.port,
      pid: f.pid,
      stale: f.wanted !== f.fingerprint,
    }));
    // pending: a replacement, or a process (a function new since the last reload, say) still starting.
    const pending = reloading || all.some((f) => f.next !== null || (f.child !== null && !f.ready));
    return Response.json({ ready, reloads, reloading: pending, functions }, {
      status: ready ? 200 : 503,
    });
  }
  if (path === "/auth/v1/.well-known/jwks.json") {
    return Response.json(publicJwks, { headers: { "cache-control": "public, max-age=600" } });
  }
  if (path.startsWith("/rest/v1/") || path === "/rest/v1") {
    const headers = new Headers(req.headers);
    const auth = await restAuth(headers);
    if (typeof auth !== "string") return jsonError(401, "unauthorized", auth.error);
    if (auth) headers.set("authorization", auth);
    try {
      return await proxy(
        req,
        `http://127.0.0.1:${restPort}${path.slice("/rest/v1".length) || "/"}${url.search}`,
        headers,
      );
    } catch {
      return jsonError(503, "rest_unavailable", "the REST server is not answering");
    }
  }
  const m = path.match(/^\/functions\/v1\/([^/]+)(\/.*)?$/);
  if (m) {
    const fn = fns.get(m[1]);
    if (!fn) return jsonError(404, "function_not_found", `no function named ${m[1]}`);
    // A CORS preflight carries no credentials: it goes to the function unchecked.
    if (fn.verifyJwt && req.method !== "OPTIONS") {
      const problem = await functionJwtProblem(req.headers);
      if (problem) return jsonError(401, "unauthorized", problem);
    }
    if (!fn.ready) return jsonError(503, "function_unavailable", `function ${fn.name} is not answering`);
    try {
      return await proxy(req, `http://127.0.0.1:${fn.port}${path}${url.search}`, new Headers(req.headers));
    } catch {
      return jsonError(503, "function_unavailable", `function ${fn.name} is not answering`);
    }
  }
  return jsonError(404, "not_found", "no route");
}

for (const fn of fns.values()) spawn(fn);
const server = Deno.serve({ hostname: "127.0.0.1", port: apiPort, onListen() {} }, logged);
const shutdown = async () => {
  stopping = true;
  for (const fn of fns.values()) {
    try {
      fn.next?.kill("SIGTERM");
    } catch { /* already gone */ }
  }
  await server.shutdown();
  Deno.exit(0);
};
Deno.addSignalListener("SIGTERM", shutdown);
Deno.addSignalListener("SIGINT", shutdown);
Deno.addSignalListener("SIGHUP", () => void reload());
