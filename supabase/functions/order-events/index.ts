// order-events: a Rust function (functions/order-events) compiled to wasm-pkg/order-events. No logic here.
import * as glue from "../../../wasm-pkg/order-events/index.js";
import { serveWasm } from "../_shared/serve_wasm.ts";

const pkg = new URL("../../../wasm-pkg/order-events/", import.meta.url);
Deno.serve(serveWasm(glue, pkg, Deno.env.toObject()));
