// Serve a Rust function compiled with `wasm-bindgen --target web` (see scripts/build-wasm.sh).
//
// The .wasm is read with Deno.readFileSync and instantiated synchronously with initSync:
// never fetch(), which Supabase's edge-runtime rejects for module files
// (supabase/edge-runtime#640). A Rust panic aborts the instance (a wasm trap); the request
// gets a 500 JSON body and the next request runs on a freshly loaded instance.

/** What wasm-bindgen generates for a function crate. */
export interface WasmHandler {
  initSync(opts: { module: WebAssembly.Module }): unknown;
  handle(req: Request, env: Record<string, string>): Promise<Response>;
}

const INTERNAL_ERROR = { error: { code: "internal_error", message: "internal error" } };

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
  let current: Promise<WasmHandler> = Promise.resolve(glue);
  let generation = 0;
  return async (req) => {
    const instance = current;
    try {
      return await (await instance).handle(req, env);
    } catch (err) {
      console.error(`wasm handler failed: ${err instanceof Error ? err.message : err}`);
      if (current === instance) {
        // The instance may be poisoned (a trap leaves its memory and stack mid-way): load a
        // fresh copy of the glue module (a new URL is a new module instance) for what follows.
        generation += 1;
        current = import(new URL(`index.js?instance=${generation}`, pkgDir).href)
          .then((fresh: WasmHandler) => {
            fresh.initSync({ module });
            return fresh;
          });
      }
      return Response.json(INTERNAL_ERROR, { status: 500 });
    }
  };
}
