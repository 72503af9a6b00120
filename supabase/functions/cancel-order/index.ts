// cancel-order: a Rust function (functions/cancel-order) compiled to wasm-pkg/cancel-order. No logic here.
import * as glue from "../../../wasm-pkg/cancel-order/index.js";
import { wasmBytes } from "../../../wasm-pkg/cancel-order/wasm.js";
import { serveWasm } from "../_shared/serve_wasm.ts";

Deno.serve(serveWasm(glue, wasmBytes, Deno.env.toObject()));
