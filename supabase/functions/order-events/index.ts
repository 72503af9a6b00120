// order-events: a Rust function (functions/order-events) compiled to wasm-pkg/order-events. No logic here.
import * as glue from "../../../wasm-pkg/order-events/index.js";
import { wasmBytes } from "../../../wasm-pkg/order-events/wasm.js";
import { serveWasm } from "../_shared/serve_wasm.ts";

Deno.serve(serveWasm(glue, wasmBytes, Deno.env.toObject()));
