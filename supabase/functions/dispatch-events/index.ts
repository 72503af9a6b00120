// dispatch-events: a Rust function (functions/dispatch-events) compiled to wasm-pkg/dispatch-events. No logic here.
import * as glue from "../../../wasm-pkg/dispatch-events/index.js";
import { wasmBytes } from "../../../wasm-pkg/dispatch-events/wasm.js";
import { serveWasm } from "../_shared/serve_wasm.ts";

Deno.serve(serveWasm(glue, wasmBytes, Deno.env.toObject()));
