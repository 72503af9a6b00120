// `make dev`: watch the sources and keep the running local stack serving them, as
// `supabase functions serve` does. Run by scripts/dev.sh (which starts the stack first).
//
// - A Rust file of a workspace crate (functions/*, modules/*, shared/, crates/*, ...): the wasm
//   packages that depend on that crate (the workspace graph from `cargo metadata`, so a crate
//   split or a new dependency needs no change here) are rebuilt with `build-wasm.sh --dev`,
//   then `stack.sh reload` restarts the functions whose files changed. Root Cargo.toml or
//   Cargo.lock: every package.
// - A wrapper or a shared TypeScript file (supabase/functions/**, bench/functions/**):
//   `stack.sh reload` only; the gateway restarts the functions whose import graph holds it.
// - The gateway's own inputs (scripts/gateway.ts, supabase/config.toml, supabase/functions/.env,
//   the signing keys): `stack.sh refresh`, which restarts the gateway.
// Other functions keep their processes. Each round prints what it rebuilt and restarted and
// how long it took from the first change seen.
const root = new URL("../", import.meta.url).pathname.replace(/\/$/, "");
const decoder = new TextDecoder();

type Crate = { name: string; dir: string; deps: string[] };

/** The workspace crates, each with the names of the workspace crates it depends on. */
async function workspace(): Promise<Crate[]> {
  const out = await new Deno.Command("cargo", {
    args: ["metadata", "--format-version", "1", "--no-deps", "--offline"],
    cwd: root,
    stderr: "inherit",
  }).output();
  if (!out.success) throw new Error("cargo metadata failed");
  const meta = JSON.parse(decoder.decode(out.stdout)) as {
    packages: { name: string; manifest_path: string; dependencies: { name: string; path?: string }[] }[];
  };
  const byDir = new Map(meta.packages.map((p) => [p.manifest_path.replace(/\/Cargo\.toml$/, ""), p.name]));
  return meta.packages.map((p) => ({
    name: p.name,
    dir: p.manifest_path.replace(/\/Cargo\.toml$/, ""),
    // Path dependencies inside the workspace (any kind: a dev-dependency rebuilds too much, never too little).
    deps: p.dependencies.flatMap((d) => (d.path && byDir.has(d.path) ? [byDir.get(d.path)!] : [])),
  }));
}

/** What build-wasm.sh builds (same rule): crates in functions/*, modules/*, tests/fixtures/*. */
const isWasmPackage = (c: Crate) => /\/(functions|modules|tests\/fixtures)\/[^/]+$/.test(c.dir.slice(root.length));

/** The wasm packages to rebuild when the crates `changed` changed: they and their dependents. */
export function affected(crates: Crate[], changed: Set<string>): string[] {
  const hit = new Set(changed);
  for (let grew = true; grew;) {
    grew = false;
    for (const c of crates) {
      if (!hit.has(c.name) && c.deps.some((d) => hit.has(d))) {
        hit.add(c.name);
        grew = true;
      }
    }
  }
  return crates.filter((c) => hit.has(c.name) && isWasmPackage(c)).map((c) => c.dir.split("/").pop()!).sort();
}

/** The crate whose folder holds `path` (the deepest one), if any. */
const owner = (crates: Crate[], path: string) =>
  crates.filter((c) => path.startsWith(c.dir + "/")).sort((a, b) => b.dir.length - a.dir.length)[0];

async function run(cmd: string, ...args: string[]): Promise<boolean> {
  const { success } = await new Deno.Command(cmd, { args, cwd: root, stdin: "null" }).output();
  return success;
}

const gatewayInputs = new Set(
  ["scripts/gateway.ts", "supabase/config.toml", "supabase/functions/.env", "supabase/signing_keys.json"].map((p) =>
    `${root}/${p}`
  ),
);
// Editor droppings and build output: never a reason to rebuild.
const ignored = (p: string) =>
  /\/(target|node_modules|\.git|wasm-pkg)\//.test(p) || /(^|\/)(\.#|#)[^/]*$|~$|\.sw[a-p]x?$|\/4913$/.test(p);

let crates = await workspace();
let all = affected(crates, new Set(crates.map((c) => c.name)));

/** One round for the paths that changed. */
async function round(paths: Set<string>, since: number) {
  const changedCrates = new Set<string>();
  let reload = false, refresh = false, everything = false;
  for (const p of paths) {
    if (p === `${root}/Cargo.toml` || p === `${root}/Cargo.lock`) everything = true;
    else if (gatewayInputs.has(p)) refresh = true;
    else if (p.startsWith(`${root}/supabase/functions/`) || p.startsWith(`${root}/bench/functions/`)) reload = true;
    else {
      const c = owner(crates, p);
      if (c) changedCrates.add(c.name);
    }
  }
  if (everything) {
    crates = await workspace();
    all = affected(crates, new Set(crates.map((c) => c.name)));
  }
  const build = everything ? all : affected(crates, changedCrates);
  const rel = [...paths].map((p) => p.slice(root.length + 1)).sort();
  console.log(`dev: changed ${rel.slice(0, 5).join(", ")}${rel.length > 5 ? ` (+${rel.length - 5})` : ""}`);
  if (build.length > 0) {
    console.log(`dev: building ${build.join(" ")}`);
    if (!await run(`${root}/scripts/build-wasm.sh`, "--dev", ...build)) {
      console.log("dev: the build failed (above); waiting for the next change");
      return;
    }
    reload = true;
  }
  if (refresh) {
    console.log("dev: the gateway's own files changed: restarting the gateway (stack.sh refresh)");
    if (!await run(`${root}/scripts/stack.sh`, "refresh")) console.log("dev: refresh failed (above)");
  } else if (reload) {
    if (!await run(`${root}/scripts/stack.sh`, "reload")) console.log("dev: reload failed (above)");
  } else {
    console.log("dev: nothing to rebuild or restart");
    return;
  }
  console.log(`dev: done in ${((performance.now() - since) / 1000).toFixed(1)} s`);
}

// Watch the folders of the workspace crates (by their top folder: functions, modules, shared,
// crates, ...), the functions' TypeScript, and (not recursively) the root, supabase/ and scripts/.
const tops = new Set(crates.map((c) => c.dir.slice(root.length + 1).split("/")[0]).filter((t) => t !== ""));
const exists = (p: string) => {
  try {
    Deno.statSync(p);
    return true;
  } catch {
    return false;
  }
};
const deep = [...tops, "supabase/functions", "bench/functions"].map((t) => `${root}/${t}`).filter(exists);
const shallow = [root, `${root}/supabase`, `${root}/scripts`];

let pending = new Set<string>();
let since = 0;
let busy = false;
let timer: ReturnType<typeof setTimeout> | undefined;
async function flush() {
  if (busy || pending.size === 0) return;
  busy = true;
  const paths = pending;
  const started = since;
  pending = new Set();
  try {
    await round(paths, started);
  } catch (err) {
    console.log(`dev: ${err instanceof Error ? err.message : err}`);
  } finally {
    busy = false;
  }
  if (pending.size > 0) flush();
}
function note(paths: string[], recursive: boolean) {
  for (const p of paths) {
    if (ignored(p)) continue;
    // The shallow watchers report everything in their folder: keep only the files that matter.
    if (!recursive && !gatewayInputs.has(p) && p !== `${root}/Cargo.toml` && p !== `${root}/Cargo.lock`) continue;
    if (pending.size === 0) since = performance.now();
    pending.add(p);
  }
  clearTimeout(timer);
  timer = setTimeout(flush, 200); // editors write in several steps
}
async function watch(paths: string[], recursive: boolean) {
  for await (const ev of Deno.watchFs(paths, { recursive })) {
    if (ev.kind === "access" || ev.kind === "other") continue;
    note(ev.paths, recursive);
  }
}
watch(deep, true);
watch(shallow, false);
console.log(
  `dev: watching ${
    [...deep, ...shallow].map((p) => p.slice(root.length + 1) || ".").join(", ")
  } (Ctrl-C stops watching; the stack keeps running)`,
);
