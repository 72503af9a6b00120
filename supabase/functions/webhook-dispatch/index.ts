// webhook-dispatch: a Rust function (functions/webhook-dispatch) compiled to wasm-pkg/webhook-dispatch. No logic here.
import * as glue from "../../../wasm-pkg/webhook-dispatch/index.js";
import { wasmBytes } from "../../../wasm-pkg/webhook-dispatch/wasm.js";
import { serveWasm } from "../_shared/serve_wasm.ts";

Deno.serve(serveWasm(glue, wasmBytes, Deno.env.toObject()));
