// process-order: a Rust function (functions/process-order) compiled to wasm-pkg/process-order. No logic here.
import * as glue from "../../../wasm-pkg/process-order/index.js";
import { serveWasm } from "../_shared/serve_wasm.ts";

const pkg = new URL("../../../wasm-pkg/process-order/", import.meta.url);
Deno.serve(serveWasm(glue, pkg, Deno.env.toObject()));
