// dispatch-events: a Rust function (functions/dispatch-events) compiled to wasm-pkg/dispatch-events. No logic here.
import * as glue from "../../../wasm-pkg/dispatch-events/index.js";
import { serveWasm } from "../_shared/serve_wasm.ts";

const pkg = new URL("../../../wasm-pkg/dispatch-events/", import.meta.url);
Deno.serve(serveWasm(glue, pkg, Deno.env.toObject()));
