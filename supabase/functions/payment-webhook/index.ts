// payment-webhook: a Rust function (functions/payment-webhook) compiled to wasm-pkg/payment-webhook. No logic here.
import * as glue from "../../../wasm-pkg/payment-webhook/index.js";
import { serveWasm } from "../_shared/serve_wasm.ts";

const pkg = new URL("../../../wasm-pkg/payment-webhook/", import.meta.url);
Deno.serve(serveWasm(glue, pkg, Deno.env.toObject()));
