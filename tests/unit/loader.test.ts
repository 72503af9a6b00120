// The wasm loader and the wrappers, under plain Deno (no stack needed).
//
// 1. No wrapper's load path calls fetch() (or the streaming WebAssembly APIs, which take a
//    fetch Response): Supabase's edge-runtime rejects fetching module files. Plain Deno would
//    accept a fetch loader, so this test makes any such call fail loudly.
// 2. A Rust panic (a wasm trap under panic=abort) becomes a 500 JSON response, and the next
//    request runs on a fresh instance.
// 3. Wrappers stay thin: a few lines, no deno.land / jsr / esm.sh imports.
// 4. A function's shutdown hook runs once on `beforeunload` (edge-runtime's notice), kept alive
//    with EdgeRuntime.waitUntil, and never longer than its timeout. (SIGTERM: tests/e2e/shutdown.)
import { assert, assertEquals } from "../assert.ts";
import { corsHeaders, onShutdown, serveWasm, type WasmFunction } from "../../supabase/functions/_shared/serve_wasm.ts";

const functionsDir = new URL("../../supabase/functions/", import.meta.url);
const wrappers = [...Deno.readDirSync(functionsDir)]
  .filter((e) => e.isDirectory && !e.name.startsWith("_"))
  .map((e) => e.name)
  .sort();

Deno.test("there are wrappers to check", () => {
  assert(wrappers.includes("process-order"), `found ${wrappers}`);
});

for (const name of wrappers) {
  Deno.test(`${name}: loads and answers without fetch()`, async () => {
    const calls: string[] = [];
    const saved = {
      fetch: globalThis.fetch,
      instantiateStreaming: WebAssembly.instantiateStreaming,
      compileStreaming: WebAssembly.compileStreaming,
      serve: Deno.serve,
    };
    let handler: ((req: Request) => Promise<Response>) | undefined;
    globalThis.fetch = (input: RequestInfo | URL) => {
      calls.push(`fetch ${input}`);
      return Promise.reject(new TypeError("NetworkError when attempting to fetch resource"));
    };
    WebAssembly.instantiateStreaming = () => {
      calls.push("instantiateStreaming");
      return Promise.reject(new Error("instantiateStreaming used"));
    };
    WebAssembly.compileStreaming = () => {
      calls.push("compileStreaming");
      return Promise.reject(new Error("compileStreaming used"));
    };
    // deno-lint-ignore no-explicit-any
    (Deno as any).serve = (h: (req: Request) => Promise<Response>) => {
      handler = h;
      return {} as Deno.HttpServer;
    };
    // The env a deployed function has (wrappers read it when they load); the URL is a closed
    // port, so any network call would fail anyway.
    const env: Record<string, string> = {
      SUPABASE_URL: "http://127.0.0.1:9",
      SUPABASE_ANON_KEY: "anon",
      SUPABASE_SERVICE_ROLE_KEY: "service",
      STRIPE_WEBHOOK_SECRET: "whsec_test",
      ORDER_EVENTS_SECRET: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
    };
    for (const [k, v] of Object.entries(env)) Deno.env.set(k, v);
    try {
      await import(new URL(`${name}/index.ts?probe=${crypto.randomUUID()}`, functionsDir).href);
      const serve = handler as ((req: Request) => Promise<Response>) | undefined;
      assert(serve, "the wrapper did not call Deno.serve");
      // A GET reaches the wasm export and is answered there (405) without any network call.
      const resp = await serve(new Request(`http://localhost/functions/v1/${name}`, { method: "GET" }));
      const body = await resp.json();
      assertEquals(resp.status, 405);
      assertEquals(body.error.code, "method_not_allowed");
      assertEquals(calls, []);
    } finally {
      globalThis.fetch = saved.fetch;
      WebAssembly.instantiateStreaming = saved.instantiateStreaming;
      WebAssembly.compileStreaming = saved.compileStreaming;
      // deno-lint-ignore no-explicit-any
      (Deno as any).serve = saved.serve;
      for (const k of Object.keys(env)) Deno.env.delete(k);
    }
  });

  Deno.test(`${name}: the wrapper is thin`, () => {
    const src = Deno.readTextFileSync(new URL(`${name}/index.ts`, functionsDir));
    const code = src.split("\n").filter((l) => l.trim() && !l.trim().startsWith("//"));
    assert(code.length <= 8, `${name}/index.ts has ${code.length} lines of code`);
    assert(!/deno\.land|jsr:|esm\.sh/.test(src), "imports from deno.land, jsr or esm.sh");
    assert(/serveWasm\(/.test(src), "does not use the shared loader");
    assert(/import \{ wasmBytes \} from "[^"]+\/wasm\.js";/.test(src), "does not import its wasm bytes statically");
    assert(!/readFile|Deno\.open|fetch\(/.test(src), "reads or fetches something at run time");
  });
}

// One loader for the probe, as a function process has one (the glue module is a singleton).
let probeHandler: ((req: Request) => Promise<Response>) | undefined;
async function probe() {
  if (!probeHandler) {
    const glue = await import("../../wasm-pkg/panic-probe/index.js") as unknown as WasmFunction;
    const { wasmBytes } = await import("../../wasm-pkg/panic-probe/wasm.js");
    probeHandler = serveWasm(glue, wasmBytes, {});
  }
  return probeHandler;
}

// A real Rust panic through the shared glue: tests/fixtures/panic-probe panics on request,
// either in the first poll of its future or after an await (so the trap surfaces as an
// uncaught exception in a microtask, not as a rejection).
Deno.test("a Rust panic answers 500 JSON and the next request runs on a fresh instance", async () => {
  const handler = await probe();
  const post = async (body: string) => {
    const resp = await handler(new Request("http://localhost/", { method: "POST", body }));
    return [resp.status, await resp.json()];
  };
  assertEquals(await post("hello"), [200, { body: "hello" }]);
  const internal = { error: { code: "internal_error", message: "internal error" } };
  assertEquals(await post("panic"), [500, internal]);
  assertEquals(await post("after"), [200, { body: "after" }], "the request after a panic must succeed");
  assertEquals(await post("panic-later"), [500, internal]);
  assertEquals(await post("hold"), [200, { body: "hold" }]);
  // Every request in flight on a trapped instance answers 500 (three held on a 300 ms timer
  // when another panics); their timers then fire into the reset glue, harmlessly.
  const held = [post("hold"), post("hold"), post("hold")];
  assertEquals(await post("panic"), [500, internal]);
  assertEquals(await Promise.all(held), [[500, internal], [500, internal], [500, internal]]);
  await new Promise((r) => setTimeout(r, 400));
  assertEquals(await post("still alive"), [200, { body: "still alive" }]);
});

Deno.test("bodies over the function's limit are refused before they are read", async () => {
  const handler = await probe();
  const limit = (await import("../../wasm-pkg/panic-probe/index.js")).max_body_bytes();
  assertEquals(limit, 64 * 1024);
  const tooLarge = { error: { code: "payload_too_large", message: `body is larger than ${limit} bytes` } };
  // Exactly at the limit: served.
  const atLimit = await handler(new Request("http://localhost/", { method: "POST", body: "a".repeat(limit) }));
  assertEquals(atLimit.status, 200);
  assertEquals((await atLimit.json()).body.length, limit);
  // A declared length over the limit: refused without reading a byte of the body.
  let pulled = 0;
  const endless = new ReadableStream<Uint8Array>({
    pull(c) {
      pulled += 1;
      c.enqueue(new Uint8Array(1024));
    },
  });
  const declared = await handler(
    new Request("http://localhost/", {
      method: "POST",
      body: endless,
      headers: { "content-length": String(limit + 1) },
    }),
  );
  assertEquals([declared.status, await declared.json()], [413, tooLarge]);
  assert(pulled <= 1, `read ${pulled} chunks of a body declared too large`);
  // A chunked body (no length) is read only up to the limit.
  pulled = 0;
  const chunked = await handler(new Request("http://localhost/", { method: "POST", body: endless }));
  assertEquals([chunked.status, await chunked.json()], [413, tooLarge]);
  assert(pulled <= 66, `read ${pulled} KiB of an endless body with a 64 KiB limit`);
});

Deno.test("CORS: preflight without credentials, and the origin header on every response", async () => {
  const open = await probe();
  const pre = await open(
    new Request("http://localhost/", {
      method: "OPTIONS",
      headers: { origin: "https://shop.example", "access-control-request-method": "POST" },
    }),
  );
  assertEquals(pre.status, 204);
  assertEquals(pre.headers.get("access-control-allow-origin"), "*");
  assertEquals(pre.headers.get("access-control-allow-methods"), "POST, GET, OPTIONS");
  for (const h of ["authorization", "x-client-info", "apikey", "content-type", "idempotency-key"]) {
    assert(pre.headers.get("access-control-allow-headers")!.split(", ").includes(h), `missing ${h}`);
  }
  const ok = await open(new Request("http://localhost/", { method: "POST", body: "x" }));
  assertEquals(ok.headers.get("access-control-allow-origin"), "*");
  const panicked = await open(new Request("http://localhost/", { method: "POST", body: "panic" }));
  assertEquals([panicked.status, panicked.headers.get("access-control-allow-origin")], [500, "*"]);

  // A list of origins: an allowed origin is echoed, another gets no allow-origin at all.
  assertEquals(corsHeaders("https://a.example, https://b.example", "https://b.example"), {
    "access-control-allow-origin": "https://b.example",
    "vary": "Origin",
  });
  assertEquals(corsHeaders("https://a.example", "https://evil.example"), { "vary": "Origin" });
  assertEquals(corsHeaders(undefined, null), { "access-control-allow-origin": "*" });
});

Deno.test("shutdown hook: once on beforeunload, kept alive with EdgeRuntime.waitUntil, bounded by its timeout", async () => {
  const rt = globalThis as unknown as { EdgeRuntime?: { waitUntil(p: Promise<unknown>): void } };
  const waited: Promise<unknown>[] = [];
  rt.EdgeRuntime = { waitUntil: (p) => void waited.push(p) };
  let calls = 0;
  let finish: () => void = () => {};
  const trigger = onShutdown(() => {
    calls += 1;
    return new Promise<void>((resolve) => (finish = resolve));
  }, 1000);
  try {
    globalThis.dispatchEvent(new Event("beforeunload"));
    globalThis.dispatchEvent(new Event("beforeunload"));
    assertEquals(calls, 1);
    assert(waited.includes(trigger()), "the shutdown was not handed to EdgeRuntime.waitUntil");
    assertEquals(calls, 1);
    finish();
    await trigger();
  } finally {
    delete rt.EdgeRuntime;
  }
  // A hook that never settles is given up on after the timeout; one that throws is logged.
  const started = performance.now();
  await onShutdown(() => new Promise(() => {}), 100)();
  const ms = performance.now() - started;
  assert(ms >= 95 && ms < 1000, `gave up after ${ms.toFixed(0)} ms, not 100`);
  await onShutdown(() => Promise.reject(new Error("boom")), 100)();
});
