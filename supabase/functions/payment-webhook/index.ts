// payment-webhook: a Rust function (functions/payment-webhook) compiled to wasm-pkg/payment-webhook. No logic here.
import * as glue from "../../../wasm-pkg/payment-webhook/index.js";
import { wasmBytes } from "../../../wasm-pkg/payment-webhook/wasm.js";
import { serveWasm } from "../_shared/serve_wasm.ts";

Deno.serve(serveWasm(glue, wasmBytes, Deno.env.toObject()));
