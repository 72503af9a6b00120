// webhook-admin: a Rust function (functions/webhook-admin) compiled to wasm-pkg/webhook-admin. No logic here.
import * as glue from "../../../wasm-pkg/webhook-admin/index.js";
import { wasmBytes } from "../../../wasm-pkg/webhook-admin/wasm.js";
import { serveWasm } from "../_shared/serve_wasm.ts";

Deno.serve(serveWasm(glue, wasmBytes, Deno.env.toObject()));
