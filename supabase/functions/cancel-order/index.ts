// cancel-order: a Rust function (functions/cancel-order) compiled to wasm-pkg/cancel-order. No logic here.
import * as glue from "../../../wasm-pkg/cancel-order/index.js";
import { serveWasm } from "../_shared/serve_wasm.ts";

const pkg = new URL("../../../wasm-pkg/cancel-order/", import.meta.url);
Deno.serve(serveWasm(glue, pkg, Deno.env.toObject()));
