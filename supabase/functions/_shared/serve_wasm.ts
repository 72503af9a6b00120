// Serve a Rust function compiled with `wasm-bindgen --target web` (see scripts/build-wasm.sh).
//
// The .wasm is read with Deno.readFileSync and instantiated synchronously with initSync:
// never fetch(), which Supabase's edge-runtime rejects for module files
// (supabase/edge-runtime#640).
//
// Panics: the release profile aborts on panic, so a Rust panic is a wasm trap
// (RuntimeError: unreachable). wasm-bindgen-futures polls futures from microtasks, so the trap
// usually surfaces as an uncaught exception, not as a rejection of the request's promise: left
// alone it would end the process and leave the request hanging. We catch uncaught wasm traps,
// answer every request in flight on the trapped instance with a 500 JSON body, and load a fresh
// instance (a trap can leave the instance's memory mid-update) for the requests that follow.

/** What wasm-bindgen generates for a function crate. */
export interface WasmHandler {
  initSync(opts: { module: WebAssembly.Module }): unknown;
  handle(req: Request, env: Record<string, string>): Promise<Response>;
}

const INTERNAL_ERROR = { error: { code: "internal_error", message: "internal error" } };

type Instance = { glue: Promise<WasmHandler>; inFlight: Set<(err: unknown) => void>; retired: boolean };

/**
 * A `Deno.serve` handler running `glue.handle` from the package in `pkgDir`
 * (`index.js` + `index_bg.wasm`).
 */
export function serveWasm(
  glue: WasmHandler,
  pkgDir: URL,
  env: Record<string, string>,
): (req: Request) => Promise<Response> {
  const module = new WebAssembly.Module(Deno.readFileSync(new URL("index_bg.wasm", pkgDir)));
  glue.initSync({ module });
  let current: Instance = { glue: Promise.resolve(glue), inFlight: new Set(), retired: false };
  let generation = 0;

  const retire = (instance: Instance, err: unknown) => {
    if (instance.retired) return;
    instance.retired = true;
    console.error(`wasm instance failed (${err instanceof Error ? err.message : err}); loading a fresh one`);
    for (const fail of instance.inFlight) fail(err);
    instance.inFlight.clear();
    if (current === instance) {
      // A new URL is a new module instance of the glue, with its own wasm instance.
      generation += 1;
      const fresh = import(new URL(`index.js?instance=${generation}`, pkgDir).href).then((g: WasmHandler) => {
        g.initSync({ module });
        return g;
      });
      current = { glue: fresh, inFlight: new Set(), retired: false };
    }
  };

  const isTrap = (err: unknown) => err instanceof WebAssembly.RuntimeError;
  globalThis.addEventListener("error", (event) => {
    if (isTrap(event.error)) {
      event.preventDefault();
      retire(current, event.error);
    }
  });
  globalThis.addEventListener("unhandledrejection", (event) => {
    if (isTrap(event.reason)) {
      event.preventDefault();
      retire(current, event.reason);
    }
  });

  return async (req) => {
    const instance = current;
    let fail: (err: unknown) => void = () => {};
    const trapped = new Promise<never>((_, reject) => (fail = reject));
    instance.inFlight.add(fail);
    try {
      const handler = await instance.glue;
      return await Promise.race([handler.handle(req, env), trapped]);
    } catch (err) {
      // The export never rejects on its own (errors are responses): anything thrown here left
      // the wasm instance mid-call.
      retire(instance, err);
      return Response.json(INTERNAL_ERROR, { status: 500 });
    } finally {
      instance.inFlight.delete(fail);
    }
  };
}
