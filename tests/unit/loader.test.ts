// The wasm loader and the wrappers, under plain Deno (no stack needed).
//
// 1. No wrapper's load path calls fetch() (or the streaming WebAssembly APIs, which take a
//    fetch Response): Supabase's edge-runtime rejects fetching module files. Plain Deno would
//    accept a fetch loader, so this test makes any such call fail loudly.
// 2. A trap (what a Rust panic is under panic=abort) becomes a 500 JSON response, and the next
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

/** A package whose handle() traps on "panic" and keeps trapping (a poisoned instance). */
function trapPackage(): URL {
  const dir = Deno.makeTempDirSync({ prefix: "trap-pkg-" });
  // The smallest valid wasm module: magic + version.
  Deno.writeFileSync(`${dir}/index_bg.wasm`, new Uint8Array([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0]));
  Deno.writeTextFileSync(
    `${dir}/index.js`,
    `let poisoned = false;
export function initSync({ module }) { if (!(module instanceof WebAssembly.Module)) throw new Error("no module"); }
export async function handle(req) {
  const body = await req.text();
  if (poisoned) throw new WebAssembly.RuntimeError("unreachable (poisoned instance)");
  if (body === "panic") { poisoned = true; throw new WebAssembly.RuntimeError("unreachable"); }
  return Response.json({ ok: true, body });
}`,
  );
  return new URL(`file://${dir}/`);
}

Deno.test("a trap answers 500 JSON and the next request runs on a fresh instance", async () => {
  const pkg = trapPackage();
  const glue = await import(new URL("index.js", pkg).href) as WasmHandler;
  const handler = serveWasm(glue, pkg, {});
  const post = (body: string) => handler(new Request("http://localhost/", { method: "POST", body }));

  const first = await post("hello");
  assertEquals(first.status, 200);
  assertEquals((await first.json()).body, "hello");

  const crashed = await post("panic");
  assertEquals(crashed.status, 500);
  assertEquals(await crashed.json(), { error: { code: "internal_error", message: "internal error" } });

  const after = await post("again");
  assertEquals(after.status, 200, "the request after a trap must not hit the poisoned instance");
  assertEquals((await after.json()).body, "again");
});
