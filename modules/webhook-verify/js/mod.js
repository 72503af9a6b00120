// @ts-self-types="./mod.d.ts"
/**
 * Loader for the `webhook-verify` wasm module, usable from any Deno or Node code (also
 * Supabase's edge-runtime, whose `fetch` cannot read local files).
 *
 * The wasm is read from `index_bg.wasm` next to this file and instantiated synchronously with
 * `initSync`: never `fetch()` nor `WebAssembly.instantiateStreaming`. In a Supabase function,
 * list the wasm in `static_files` (supabase/config.toml) and allow reads in tests
 * (`deno test --allow-read`).
 *
 * @module
 */
import { readFileSync } from "node:fs";
import { initSync, signStripe, signWebhook, verifyWebhook } from "./index.js";

initSync({ module: readFileSync(new URL("./index_bg.wasm", import.meta.url)) });

export { signStripe, signWebhook, verifyWebhook };
