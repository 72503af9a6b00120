// @ts-self-types="./mod.d.ts"
/**
 * Loader for the `webhook-verify` wasm module, usable from any Deno or Node code (also
 * Supabase's edge-runtime, whose `fetch` cannot read local files).
 *
 * The wasm bytes come from `wasm.js` (generated next to this file by scripts/embed-wasm.ts) by a
 * static import, and are instantiated synchronously with `initSync`: never `fetch()`, never a
 * file read, so any bundler (the Supabase CLI's included) ships them and no read permission is
 * needed.
 *
 * @module
 */
import { initSync, signStripe, signWebhook, verifyWebhook } from "./index.js";
import { wasmBytes } from "./wasm.js";

initSync({ module: wasmBytes });

export { signStripe, signWebhook, verifyWebhook };
