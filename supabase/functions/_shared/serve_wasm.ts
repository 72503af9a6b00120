// Serve a Rust function compiled with `wasm-bindgen --target web` (see scripts/build-wasm.sh).
//
// Deploy shape: the wasm bytes come from `wasm-pkg/<name>/wasm.js`, which the function's
// index.ts imports statically, so every bundler (the Supabase CLI's, `deno bundle`) ships them.
// Nothing is read from disk and nothing is fetched (Supabase's edge-runtime rejects fetching
// module files, supabase/edge-runtime#640); the module is instantiated synchronously.
//
// Around the Rust handler, this wrapper does what must happen before any byte reaches wasm:
// - CORS: `OPTIONS` is answered here (204, no credentials needed) and every response, errors
//   included, carries `Access-Control-Allow-Origin`. Origins: env `ALLOWED_ORIGINS`, a comma
//   separated list, default `*`.
// - Body limit: the function's own limit (its `max_body_bytes()` export). A declared
//   Content-Length over it is refused before reading; a chunked body is read only up to it.
//
// Panics: the release profile aborts on panic, so a Rust panic is a wasm trap
// (RuntimeError: unreachable). wasm-bindgen-futures polls futures from microtasks, so the trap
// usually surfaces as an uncaught exception, not as a rejection of the request's promise: left
// alone it would end the process and leave the request hanging. We catch uncaught wasm traps,
// answer every request in flight on the trapped instance with a 500 JSON body, and reset the
// glue to a fresh wasm instance of the same module (`--experimental-reset-state-function`; a
// trap can leave the instance's memory mid-update). No re-import, so it works inside a bundle.
//
// Shutdown: a function whose glue has a `shutdown(env)` export (`edge_function!(..., shutdown =
// ...)`; webhook-dispatch gives back its delivery claims there) gets it called once, bounded by
// SHUTDOWN_TIMEOUT_MS: on SIGTERM where `Deno.addSignalListener` exists (plain Deno, the local
// stack), after which the process exits 0; and on `beforeunload`, which Supabase's edge-runtime
// dispatches before it tears a worker down (kept alive meanwhile with `EdgeRuntime.waitUntil`
// where that exists). Functions without the export keep the runtime's default behaviour.

/** What wasm-bindgen generates for a function crate (exports of `edge_platform::edge_function!`). */
export interface WasmFunction {
  initSync(opts: { module: WebAssembly.Module }): unknown;
  /** `body`: the request body, already read here (so it crosses into wasm once). */
  handle(req: Request, env: Record<string, string>, body?: Uint8Array): Promise<Response>;
  max_body_bytes(): number;
  __wbg_reset_state(): void;
  /** Present when the crate names a shutdown hook. */
  shutdown?(env: Record<string, string>): Promise<void>;
}

/** The longest a `shutdown` export may run before the process exits anyway. */
export const SHUTDOWN_TIMEOUT_MS = 2000;

type ShutdownRuntime = {
  Deno?: { addSignalListener?(signal: "SIGTERM", handler: () => void): void; exit?(code?: number): never };
  EdgeRuntime?: { waitUntil?(p: Promise<unknown>): void };
};

/**
 * Run `hook` once when the process is told to stop: on SIGTERM (then exit 0), where the runtime
 * has signal listeners, and on `beforeunload`. Never longer than `timeoutMs`; a hook that throws
 * is logged. Returns the trigger (the same promise however often it fires).
 */
export function onShutdown(hook: () => Promise<unknown>, timeoutMs = SHUTDOWN_TIMEOUT_MS): () => Promise<void> {
  let running: Promise<void> | undefined;
  const run = () =>
    running ??= (async () => {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const late = new Promise<void>((resolve) => {
        timer = setTimeout(() => {
          console.error(`shutdown hook still running after ${timeoutMs} ms; giving up on it`);
          resolve();
        }, timeoutMs);
      });
      try {
        await Promise.race([hook(), late]);
      } catch (err) {
        console.error(`shutdown hook failed: ${err instanceof Error ? err.message : err}`);
      } finally {
        clearTimeout(timer);
      }
    })();
  const rt = globalThis as unknown as ShutdownRuntime;
  if (typeof rt.Deno?.addSignalListener === "function") {
    try {
      rt.Deno.addSignalListener("SIGTERM", () => {
        run().finally(() => rt.Deno?.exit?.(0));
      });
    } catch { /* this runtime has no signals for user code: beforeunload only */ }
  }
  globalThis.addEventListener("beforeunload", () => {
    const done = run();
    rt.EdgeRuntime?.waitUntil?.(done);
  });
  return run;
}

const ALLOW_HEADERS = "authorization, x-client-info, apikey, content-type, idempotency-key";
const ALLOW_METHODS = "POST, GET, OPTIONS";
// Raised by the glue when a promise of a reset instance settles: expected after a reset, harmless.
const STALE_CLOSURE = "Cannot invoke closure from previous WASM instance";

/** The CORS headers for a request from `origin` under `ALLOWED_ORIGINS` (default `*`). */
export function corsHeaders(allowedOrigins: string | undefined, origin: string | null): Record<string, string> {
  const allowed = (allowedOrigins ?? "*").split(",").map((o) => o.trim()).filter(Boolean);
  if (allowed.length === 0 || allowed.includes("*")) return { "access-control-allow-origin": "*" };
  if (origin !== null && allowed.includes(origin)) {
    return { "access-control-allow-origin": origin, "vary": "Origin" };
  }
  return { "vary": "Origin" };
}

/** An error answered here, before wasm runs: the body shape of every error the Rust side answers
 * (`{"error": {"code", "message"}}`, shared/platform/src/error.rs). */
const jsonError = (status: number, code: string, message: string) =>
  Response.json({ error: { code, message } }, { status });
const tooLarge = (limit: number) => jsonError(413, "payload_too_large", `body is larger than ${limit} bytes`);

/** The body, read up to `limit` bytes; null when it is (or declares to be) bigger. */
async function readBody(req: Request, limit: number): Promise<Uint8Array<ArrayBuffer> | null> {
  const declared = req.headers.get("content-length");
  if (declared !== null && !(Number(declared) <= limit)) return null;
  if (!req.body) return new Uint8Array();
  const reader = req.body.getReader();
  const chunks: Uint8Array<ArrayBuffer>[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > limit) {
      await reader.cancel().catch(() => {});
      return null;
    }
    chunks.push(value);
  }
  if (chunks.length === 1) return chunks[0];
  const body = new Uint8Array(size);
  let at = 0;
  for (const c of chunks) {
    body.set(c, at);
    at += c.byteLength;
  }
  return body;
}

/** A `Deno.serve` handler running `glue.handle` on the wasm module in `wasmBytes`. */
export function serveWasm(
  glue: WasmFunction,
  wasmBytes: Uint8Array<ArrayBuffer>,
  env: Record<string, string>,
): (req: Request) => Promise<Response> {
  glue.initSync({ module: new WebAssembly.Module(wasmBytes) });
  const maxBody = glue.max_body_bytes();
  if (typeof glue.shutdown === "function") onShutdown(() => glue.shutdown!(env));
  // One glue, successive wasm instances: `generation` names the live one.
  let generation = 0;
  const inFlight = new Map<number, Set<(err: unknown) => void>>([[0, new Set()]]);

  const retire = (gen: number, err: unknown) => {
    if (gen !== generation) return; // already replaced
    console.error(`wasm instance failed (${err instanceof Error ? err.message : err}); starting a fresh one`);
    const failing = inFlight.get(gen) ?? new Set();
    inFlight.delete(gen);
    generation += 1;
    inFlight.set(generation, new Set());
    glue.__wbg_reset_state();
    for (const fail of failing) fail(err);
  };

  const isTrap = (err: unknown) => err instanceof WebAssembly.RuntimeError;
  const isStale = (err: unknown) => err instanceof Error && err.message.includes(STALE_CLOSURE);
  globalThis.addEventListener("error", (event) => {
    if (isTrap(event.error)) retire(generation, event.error);
    if (isTrap(event.error) || isStale(event.error)) event.preventDefault();
  });
  globalThis.addEventListener("unhandledrejection", (event) => {
    if (isTrap(event.reason)) retire(generation, event.reason);
    if (isTrap(event.reason) || isStale(event.reason)) event.preventDefault();
  });

  const run = async (req: Request): Promise<Response> => {
    if (req.method === "OPTIONS") {
      return new Response(null, {
        status: 204,
        headers: {
          "access-control-allow-methods": ALLOW_METHODS,
          "access-control-allow-headers": ALLOW_HEADERS,
          "access-control-max-age": "86400",
        },
      });
    }
    // The body goes to wasm as bytes, beside the original request (no second Request).
    let body = new Uint8Array();
    if (req.body !== null || req.headers.has("content-length")) {
      const read = await readBody(req, maxBody);
      if (read === null) return tooLarge(maxBody);
      if (req.method !== "GET" && req.method !== "HEAD") body = read;
    }
    const gen = generation;
    let fail: (err: unknown) => void = () => {};
    const trapped = new Promise<never>((_, reject) => (fail = reject));
    const waiting = inFlight.get(gen)!;
    waiting.add(fail);
    try {
      return await Promise.race([glue.handle(req, env, body), trapped]);
    } catch (err) {
      // The export never rejects on its own (errors are responses): anything thrown here left
      // the wasm instance mid-call.
      retire(gen, err);
      return jsonError(500, "internal_error", "internal error");
    } finally {
      waiting.delete(fail);
    }
  };

  return async (req) => {
    const resp = await run(req);
    const cors = corsHeaders(env.ALLOWED_ORIGINS, req.headers.get("origin"));
    for (const [k, v] of Object.entries(cors)) resp.headers.set(k, v);
    if (req.method !== "OPTIONS") resp.headers.set("access-control-expose-headers", "idempotent-replayed");
    return resp;
  };
}
