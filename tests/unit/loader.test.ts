// The wasm loader and the wrappers, under plain Deno (no stack needed).
//
// 1. No wrapper's load path calls fetch() (or the streaming WebAssembly APIs, which take a
//    fetch Response): Supabase's edge-runtime rejects fetching module files. Plain Deno would
//    accept a fetch loader, so this test makes any such call fail loudly.
// 2. A Rust panic (a wasm trap under panic=abort) becomes a 500 JSON response, and the next
//    request runs on a fresh instance.
// 3. Wrappers stay thin: a few lines, no deno.land / jsr / esm.sh imports.
import { assert, assertEquals } from "../assert.ts";
import { serveWasm, type WasmHandler } from "../../supabase/functions/_shared/serve_wasm.ts";

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
  });
}

// A real Rust panic through the shared glue: tests/fixtures/panic-probe panics on request,
// either in the first poll of its future or after an await (so the trap surfaces as an
// uncaught exception in a microtask, not as a rejection).
Deno.test("a Rust panic answers 500 JSON and the next request runs on a fresh instance", async () => {
  const pkg = new URL("../../wasm-pkg/panic-probe/", import.meta.url);
  const glue = await import(new URL("index.js", pkg).href) as WasmHandler;
  const handler = serveWasm(glue, pkg, {});
  const post = async (body: string) => {
    const resp = await handler(new Request("http://localhost/", { method: "POST", body }));
    return [resp.status, await resp.json()];
  };
  assertEquals(await post("hello"), [200, { body: "hello" }]);
  const internal = { error: { code: "internal_error", message: "internal error" } };
  assertEquals(await post("panic"), [500, internal]);
  assertEquals(await post("after"), [200, { body: "after" }], "the request after a panic must succeed");
  assertEquals(await post("panic-later"), [500, internal]);
  // Requests in flight on a trapped instance fail with it; later ones run on a fresh instance.
  const [a, b] = await Promise.all([post("panic-later"), post("x")]);
  assertEquals(a, [500, internal]);
  assertEquals(b[0] === 200 || b[0] === 500, true);
  assertEquals(await post("still alive"), [200, { body: "still alive" }]);
});
