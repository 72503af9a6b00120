// `make new-function NAME=<name>`: scaffold an edge function that builds, passes `make test` and
// answers on the local stack as it is; then replace its `respond_to` with the function's logic.
//
// Writes functions/<name>/Cargo.toml, functions/<name>/src/lib.rs (one `edge_function!` call
// and a native-testable handler: a POST of a JSON object is echoed back, any other method is a
// 405), supabase/functions/<name>/index.ts (the generated wrapper) and appends a
// `[functions.<name>]` table to supabase/config.toml.
//
// The templates live here and nowhere else: tests/unit/functions_layout.test.ts imports them and
// fails when a function's files drift from them (or from each other).
//
// Usage: deno run --allow-read --allow-write scripts/new-function.ts <name>

/** Lowercase letters, digits and single dashes, starting with a letter (a Cargo package name,
 * a Supabase function slug and a wasm-pkg folder at once). */
export const NAME_PATTERN = /^[a-z][a-z0-9]*(-[a-z0-9]+)*$/;

/** Names Cargo or rustc refuse or mistake for something else (the lib is `<name>` with `_`). */
const RESERVED = new Set([
  "std",
  "core",
  "alloc",
  "proc-macro",
  "test",
  "self",
  "super",
  "crate",
  "edge-platform",
  "edge-orders",
  "edge-outbox",
  "edge-webhook",
]);

/** `supabase/functions/<name>/index.ts`: the wrapper, the same for every function. */
export function indexTs(name: string): string {
  return `// ${name}: a Rust function (functions/${name}) compiled to wasm-pkg/${name}. No logic here.
import * as glue from "../../../wasm-pkg/${name}/index.js";
import { wasmBytes } from "../../../wasm-pkg/${name}/wasm.js";
import { serveWasm } from "../_shared/serve_wasm.ts";

Deno.serve(serveWasm(glue, wasmBytes, Deno.env.toObject()));
`;
}

/** `functions/<name>/Cargo.toml` of a new function. */
export function cargoToml(name: string): string {
  return `[package]
name = "${name}"
version.workspace = true
edition.workspace = true
license.workspace = true
publish.workspace = true

[lib]
crate-type = ["cdylib", "rlib"]

[dependencies]
edge-platform = { path = "../../shared/platform" }
wasm-bindgen.workspace = true
http.workspace = true
serde_json.workspace = true

[lints]
workspace = true

[target.'cfg(target_arch = "wasm32")'.dependencies]
web-sys.workspace = true
wasm-bindgen-futures.workspace = true
`;
}

/** `functions/<name>/src/lib.rs` of a new function. */
export function libRs(name: string): string {
  return `//! \`${name}\`: TODO say what this function does and who may call it.
//!
//! \`POST /functions/v1/${name}\` with a JSON object answers \`{"received": <that object>}\`;
//! another method is a 405, a body that is not a JSON object a 400. Replace [\`respond_to\`] with the
//! function's logic. It is plain Rust, tested natively (\`cargo test -p ${name}\`); errors travel
//! back with \`?\` and the boundary turns them into JSON error responses once. The closure below
//! runs it on wasm32, where its second argument (an \`edge_platform::edge::Ctx\`) holds the
//! function's environment (\`ctx.env().get("NAME")\`): pass what \`respond_to\` needs from it.
//! Callers are not authenticated yet: see \`edge_platform::auth\` before touching any data.

use edge_platform::http::{json, parse_json, require_method, Request, Response};
use edge_platform::Result;

edge_platform::edge_function!(
    |req, _ctx| async move { respond_to(&req) },
    max_body = 64 * 1024
);

/// The function's logic.
pub fn respond_to(req: &Request) -> Result<Response> {
    require_method(req, http::Method::POST, "POST")?;
    let body: serde_json::Value = parse_json(req.body())?;
    Ok(json(200, &serde_json::json!({ "received": body })))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(method: &str, body: &str) -> Request {
        http::Request::builder()
            .method(method)
            .uri("/")
            .body(body.as_bytes().to_vec())
            .expect("a valid request")
    }

    fn answer(result: Result<Response>) -> (u16, serde_json::Value) {
        let resp = edge_platform::http::respond(result);
        let body = serde_json::from_slice(resp.body()).expect("a JSON body");
        (resp.status().as_u16(), body)
    }

    #[test]
    fn echoes_a_json_object() {
        let (status, body) = answer(respond_to(&request("POST", r#"{"a": 1}"#)));
        assert_eq!(status, 200);
        assert_eq!(body, serde_json::json!({ "received": { "a": 1 } }));
    }

    #[test]
    fn refuses_other_methods_and_bodies() {
        let (status, body) = answer(respond_to(&request("GET", "")));
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (405, Some("method_not_allowed"))
        );
        let (status, body) = answer(respond_to(&request("POST", "[1]")));
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (400, Some("invalid_body"))
        );
    }
}
`;
}

/** The `[functions.<name>]` table appended to supabase/config.toml. */
export function configEntry(name: string): string {
  return `
# ${name}: scaffolded by \`make new-function\`; it checks no caller yet (verify_jwt = false:
# authenticate in code, see shared/platform/src/auth).
[functions.${name}]
verify_jwt = false
`;
}

/** Why `name` cannot be a new function under `root`, or null when it can. */
export function nameProblem(name: string, root: URL): string | null {
  if (!NAME_PATTERN.test(name) || name.length > 50) {
    return `"${name}" is not a function name: use lowercase letters, digits and single dashes, starting with a letter (at most 50)`;
  }
  if (RESERVED.has(name)) return `"${name}" is reserved by Cargo or Rust: pick another name`;
  for (const dir of ["functions", "supabase/functions", "modules", "tests/fixtures", "bench/functions"]) {
    if (exists(new URL(`${dir}/${name}`, root))) return `${dir}/${name} already exists`;
  }
  const config = Deno.readTextFileSync(new URL("supabase/config.toml", root));
  if (config.includes(`[functions.${name}]`)) return `supabase/config.toml already has [functions.${name}]`;
  return null;
}

function exists(url: URL): boolean {
  try {
    Deno.statSync(url);
    return true;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return false;
    throw e;
  }
}

/** Write the new function's files under `root`; returns the paths written (relative). */
export function scaffold(name: string, root: URL): string[] {
  const problem = nameProblem(name, root);
  if (problem) throw new Error(problem);
  Deno.mkdirSync(new URL(`functions/${name}/src/`, root), { recursive: true });
  Deno.mkdirSync(new URL(`supabase/functions/${name}/`, root), { recursive: true });
  const files: [string, string][] = [
    [`functions/${name}/Cargo.toml`, cargoToml(name)],
    [`functions/${name}/src/lib.rs`, libRs(name)],
    [`supabase/functions/${name}/index.ts`, indexTs(name)],
  ];
  for (const [path, text] of files) Deno.writeTextFileSync(new URL(path, root), text, { createNew: true });
  const configUrl = new URL("supabase/config.toml", root);
  const config = Deno.readTextFileSync(configUrl);
  Deno.writeTextFileSync(configUrl, (config.endsWith("\n") ? config : config + "\n") + configEntry(name));
  return [...files.map(([path]) => path), "supabase/config.toml"];
}

if (import.meta.main) {
  const name = Deno.args[0] ?? "";
  if (Deno.args.length !== 1 || !name) {
    console.error("usage: make new-function NAME=<name>   (lowercase letters, digits, dashes)");
    Deno.exit(2);
  }
  try {
    for (const path of scaffold(name, new URL("../", import.meta.url))) console.log(`wrote ${path}`);
  } catch (e) {
    console.error(`error: ${e instanceof Error ? e.message : e}`);
    Deno.exit(1);
  }
  console.log(`next: write the handler (respond_to) in functions/${name}/src/lib.rs, then
  cargo test -p ${name} && scripts/build-wasm.sh ${name} && scripts/stack.sh reload
  (as scaffolded, a POST of a JSON object to /functions/v1/${name} answers {"received": <it>})`);
}
