// process-order: a Rust function (functions/process-order) compiled to wasm-pkg/process-order. No logic here.
import * as glue from "../../../wasm-pkg/process-order/index.js";
import { wasmBytes } from "../../../wasm-pkg/process-order/wasm.js";
import { serveWasm } from "../_shared/serve_wasm.ts";

Deno.serve(serveWasm(glue, wasmBytes, Deno.env.toObject()));
