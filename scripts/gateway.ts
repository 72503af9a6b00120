// Local API gateway: what Kong + `supabase functions serve` give a Supabase project, without
// Docker. Listens on API_PORT (54321):
//   /rest/v1/*           -> the PostgREST-compatible server (postrust) on REST_PORT
//   /functions/v1/<name> -> supabase/functions/<name>/index.ts, each in its own Deno process,
//                           behind a JWT check when verify_jwt (supabase/config.toml) is true
//   /health              -> 200 once every function answers
// Function processes get SUPABASE_URL, SUPABASE_ANON_KEY, SUPABASE_SERVICE_ROLE_KEY,
// SUPABASE_DB_URL and the entries of supabase/functions/.env. A process that exits is
// restarted (a fresh instance). Everything a process prints goes to LOGS/functions.log.
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
const fnPortBase = Number(env("FN_PORT_BASE"));
const jwtSecret = env("JWT_SECRET");
const logs = env("LOGS");

type Fn = { name: string; port: number; verifyJwt: boolean; ready: boolean };
type FnConfig = { verify_jwt?: boolean };

const config = parseToml(Deno.readTextFileSync(new URL("supabase/config.toml", root))) as {
  functions?: Record<string, FnConfig>;
};
// Product functions, then local-only benchmark peers (bench/functions, never deployed).
const functionDirs = [new URL("supabase/functions/", root), new URL("bench/functions/", root)];
const locations = new Map<string, URL>();
for (const dir of functionDirs) {
  let entries: Deno.DirEntry[] = [];
  try {
    entries = [...Deno.readDirSync(dir)];
  } catch { /* no such folder */ }
  for (const e of entries) {
    if (!e.isDirectory || e.name.startsWith("_") || locations.has(e.name)) continue;
    try {
      if (Deno.statSync(new URL(`${e.name}/index.ts`, dir)).isFile) {
        locations.set(e.name, new URL(`${e.name}/index.ts`, dir));
      }
    } catch { /* not a function */ }
  }
}
const names = [...locations.keys()].sort();
const fns = new Map<string, Fn>(names.map((name, i) => [name, {
  name,
  port: fnPortBase + i,
  verifyJwt: config.functions?.[name]?.verify_jwt ?? true,
  ready: false,
}]));

let secrets: Record<string, string> = {};
try {
  secrets = parseDotenv(Deno.readTextFileSync(new URL("supabase/functions/.env", root)));
} catch { /* no .env: no user secrets */ }

const log = await Deno.open(`${logs}/functions.log`, { append: true, create: true, write: true });
const encoder = new TextEncoder();
const writeLog = (line: string) => log.writeSync(encoder.encode(line));

async function pipe(name: string, stream: ReadableStream<Uint8Array>) {
  const decoder = new TextDecoder();
  let rest = "";
  for await (const chunk of stream) {
    const text = rest + decoder.decode(chunk, { stream: true });
    const lines = text.split("\n");
    rest = lines.pop() ?? "";
    for (const l of lines) writeLog(`${new Date().toISOString()} [${name}] ${l}\n`);
  }
}

let stopping = false;
function spawn(fn: Fn) {
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
    env: {
      ...secrets,
      DENO_SERVE_ADDRESS: `tcp:127.0.0.1:${fn.port}`,
      SUPABASE_URL: `http://127.0.0.1:${apiPort}`,
      SUPABASE_ANON_KEY: env("ANON_KEY"),
      SUPABASE_SERVICE_ROLE_KEY: env("SERVICE_ROLE_KEY"),
      SUPABASE_DB_URL: env("DB_URL"),
    },
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  pipe(fn.name, child.stdout);
  pipe(fn.name, child.stderr);
  child.status.then((s) => {
    fn.ready = false;
    if (stopping) return;
    writeLog(`${new Date().toISOString()} [gateway] ${fn.name} exited (${s.code}); restarting\n`);
    setTimeout(() => spawn(fn), 250);
  });
  waitReady(fn);
}

async function waitReady(fn: Fn) {
  for (let i = 0; i < 600 && !stopping; i++) {
    try {
      const c = await Deno.connect({ hostname: "127.0.0.1", port: fn.port });
      c.close();
      fn.ready = true;
      return;
    } catch {
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

const b64url = (s: string) => Uint8Array.from(atob(s.replace(/-/g, "+").replace(/_/g, "/")), (c) => c.charCodeAt(0));
const hmacKey = await crypto.subtle.importKey(
  "raw",
  encoder.encode(jwtSecret),
  { name: "HMAC", hash: "SHA-256" },
  false,
  ["verify"],
);

// Tokens already verified, with their expiry (seconds): the same keys arrive on every request.
const verified = new Map<string, number>();

/** Verify an HS256 JWT signed with the project's secret; returns why not, or null if valid. */
async function jwtProblem(auth: string | null): Promise<string | null> {
  const token = auth?.match(/^Bearer\s+(\S+)$/i)?.[1];
  if (!token) return "missing authorization header";
  const known = verified.get(token);
  if (known !== undefined && known > Date.now() / 1000) return null;
  const parts = token.split(".");
  if (parts.length !== 3) return "invalid JWT";
  try {
    const header = JSON.parse(new TextDecoder().decode(b64url(parts[0])));
    if (header.alg !== "HS256") return "invalid JWT";
    const ok = await crypto.subtle.verify("HMAC", hmacKey, b64url(parts[2]), encoder.encode(`${parts[0]}.${parts[1]}`));
    if (!ok) return "invalid JWT";
    const claims = JSON.parse(new TextDecoder().decode(b64url(parts[1])));
    if (typeof claims.exp === "number" && claims.exp < Date.now() / 1000) return "JWT expired";
    if (verified.size > 10_000) verified.clear();
    verified.set(token, typeof claims.exp === "number" ? claims.exp : Infinity);
    return null;
  } catch {
    return "invalid JWT";
  }
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

async function handler(req: Request): Promise<Response> {
  const url = new URL(req.url);
  const path = url.pathname;
  if (path === "/health") {
    const all = [...fns.values()];
    const ready = all.every((f) => f.ready);
    return Response.json({ ready, functions: all.map((f) => ({ name: f.name, ready: f.ready })) }, {
      status: ready ? 200 : 503,
    });
  }
  if (path.startsWith("/rest/v1/") || path === "/rest/v1") {
    const headers = new Headers(req.headers);
    const apikey = headers.get("apikey");
    if (!headers.has("authorization") && apikey) headers.set("authorization", `Bearer ${apikey}`);
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
    if (fn.verifyJwt) {
      const problem = await jwtProblem(req.headers.get("authorization"));
      if (problem) return jsonError(401, "unauthorized", problem);
    }
    try {
      return await proxy(req, `http://127.0.0.1:${fn.port}${path}${url.search}`, new Headers(req.headers));
    } catch {
      return jsonError(503, "function_unavailable", `function ${fn.name} is not answering`);
    }
  }
  return jsonError(404, "not_found", "no route");
}

for (const fn of fns.values()) spawn(fn);
const server = Deno.serve({ hostname: "127.0.0.1", port: apiPort, onListen() {} }, handler);
const shutdown = async () => {
  stopping = true;
  await server.shutdown();
  Deno.exit(0);
};
Deno.addSignalListener("SIGTERM", shutdown);
Deno.addSignalListener("SIGINT", shutdown);
