// The functions' files do not drift (no stack, no build needed):
//
// 1. functions/<name> (a crate), supabase/functions/<name>/index.ts (its wrapper) and
//    [functions.<name>] of supabase/config.toml name the same set of functions.
// 2. Every wrapper is exactly the generated text (indexTs of scripts/new-function.ts).
// 3. Every config table sets verify_jwt explicitly.
// 4. Every crate: package name = folder name, crate-type cdylib, src/lib.rs calls
//    edge_platform::edge_function! once.
// 5. The scaffold's templates (what `make new-function` writes) pass the same checks, use only
//    workspace dependencies and shared items that exist, and scaffold() refuses bad names.
//    That the scaffolded crate compiles (native + wasm32, clippy -D warnings) and answers on
//    the stack is checked by hand when the template changes (see README "Adding a function").
import { parse as parseToml } from "npm:smol-toml";
import { assert, assertEquals } from "../assert.ts";
import { cargoToml, configEntry, indexTs, libRs, nameProblem, scaffold } from "../../scripts/new-function.ts";

const root = new URL("../../", import.meta.url);
const read = (path: string, base = root) => Deno.readTextFileSync(new URL(path, base));
// A name no real function will take (the tests scaffold it into a temporary copy).
const SAMPLE = "zz-scaffold-sample";
const SCAFFOLD = "`make new-function NAME=<name>` writes all three";

function dirs(path: string, base = root): string[] {
  return [...Deno.readDirSync(new URL(path, base))]
    .filter((e) => e.isDirectory && !e.name.startsWith("_") && !e.name.startsWith("."))
    .map((e) => e.name)
    .sort();
}

function isFile(path: string, base = root): boolean {
  try {
    return Deno.statSync(new URL(path, base)).isFile;
  } catch {
    return false;
  }
}

type Config = { functions?: Record<string, Record<string, unknown>> };

/** The problems of the whole layout under `base`, each naming its file and the fix. */
function layoutProblems(base = root): string[] {
  const problems: string[] = [];
  const crates = dirs("functions/", base);
  const wrappers = dirs("supabase/functions/", base);
  const config = parseToml(read("supabase/config.toml", base)) as Config;
  const tables = Object.keys(config.functions ?? {}).sort();

  for (const name of new Set([...crates, ...wrappers, ...tables])) {
    const hasCrate = isFile(`functions/${name}/Cargo.toml`, base);
    const hasWrapper = isFile(`supabase/functions/${name}/index.ts`, base);
    const hasTable = tables.includes(name);
    if (!hasCrate) {
      problems.push(
        `functions/${name}/Cargo.toml is missing but ${
          hasWrapper ? `supabase/functions/${name}/index.ts` : `[functions.${name}] of supabase/config.toml`
        } exists: add the crate (${SCAFFOLD}) or remove the function's other files`,
      );
    }
    if (!hasWrapper) {
      problems.push(
        `supabase/functions/${name}/index.ts is missing: write indexTs("${name}") of scripts/new-function.ts there ` +
          `(${SCAFFOLD}), or remove functions/${name} and [functions.${name}]`,
      );
    } else if (read(`supabase/functions/${name}/index.ts`, base) !== indexTs(name)) {
      const actual = read(`supabase/functions/${name}/index.ts`, base).split("\n");
      const expected = indexTs(name).split("\n");
      const line = expected.findIndex((l, i) => actual[i] !== l);
      problems.push(
        `supabase/functions/${name}/index.ts differs from the generated wrapper at line ${line + 1} ` +
          `(${JSON.stringify(actual[line])}, expected ${JSON.stringify(expected[line])}): replace it with ` +
          `indexTs("${name}") of scripts/new-function.ts; a wrapper holds no logic (put it in functions/${name}), ` +
          `and a change for every wrapper goes into that template`,
      );
    }
    if (!hasTable) {
      problems.push(
        `supabase/config.toml has no [functions.${name}]: add it with verify_jwt = false (the function ` +
          `authenticates in code) or true`,
      );
    } else {
      problems.push(...tableProblems(name, config.functions![name]));
    }
    if (hasCrate) {
      const lib = isFile(`functions/${name}/src/lib.rs`, base) ? read(`functions/${name}/src/lib.rs`, base) : "";
      problems.push(...crateProblems(name, read(`functions/${name}/Cargo.toml`, base), lib));
    }
  }
  return problems;
}

function tableProblems(name: string, table: Record<string, unknown>): string[] {
  return typeof table.verify_jwt === "boolean" ? [] : [
    `supabase/config.toml: [functions.${name}] does not set verify_jwt (the CLI's default is true): ` +
    `add verify_jwt = false (the function authenticates in code) or verify_jwt = true`,
  ];
}

function crateProblems(name: string, cargoText: string, libText: string): string[] {
  const problems: string[] = [];
  const cargo = parseToml(cargoText) as { package?: { name?: string }; lib?: { "crate-type"?: string[] } };
  if (cargo.package?.name !== name) {
    problems.push(
      `functions/${name}/Cargo.toml: [package] name is ${JSON.stringify(cargo.package?.name)}: ` +
        `set name = "${name}" (the folder's name; scripts/build-wasm.sh builds wasm-pkg/<name> from it)`,
    );
  }
  if (!cargo.lib?.["crate-type"]?.includes("cdylib")) {
    problems.push(
      `functions/${name}/Cargo.toml: [lib] crate-type lacks "cdylib" (no .wasm is built without it): ` +
        `set crate-type = ["cdylib", "rlib"]`,
    );
  }
  // Code only: the crate docs may mention the macro.
  const code = libText.split("\n").filter((l) => !l.trim().startsWith("//")).join("\n");
  const calls = code.match(/\bedge_platform::edge_function!\s*\(/g)?.length ?? 0;
  if (calls !== 1) {
    problems.push(
      `functions/${name}/src/lib.rs calls edge_platform::edge_function! ${calls} times: export the function ` +
        `with exactly one edge_platform::edge_function!(handler, max_body = <bytes>) (see libRs in scripts/new-function.ts)`,
    );
  }
  return problems;
}

Deno.test("crates, wrappers and config.toml tables name the same functions, generated and complete", () => {
  const crates = dirs("functions/");
  assert(crates.includes("process-order"), `found ${crates}`);
  assertEquals(layoutProblems(), []);
});

Deno.test("the layout check catches drift, naming the file and the fix", () => {
  const tmp = new URL(`file://${Deno.makeTempDirSync({ prefix: "layout-" })}/`);
  try {
    for (const dir of ["functions/a/src", "functions/b/src", "supabase/functions/a", "supabase/functions/c"]) {
      Deno.mkdirSync(new URL(dir, tmp), { recursive: true });
    }
    Deno.writeTextFileSync(new URL("functions/a/Cargo.toml", tmp), cargoToml("a").replace('name = "a"', 'name = "x"'));
    Deno.writeTextFileSync(new URL("functions/a/src/lib.rs", tmp), "pub fn nothing() {}\n");
    Deno.writeTextFileSync(new URL("functions/b/Cargo.toml", tmp), cargoToml("b").replace('"cdylib", ', ""));
    Deno.writeTextFileSync(new URL("functions/b/src/lib.rs", tmp), libRs("b"));
    Deno.writeTextFileSync(new URL("supabase/functions/a/index.ts", tmp), indexTs("a") + "console.log(1);\n");
    Deno.writeTextFileSync(new URL("supabase/functions/c/index.ts", tmp), indexTs("c"));
    Deno.writeTextFileSync(new URL("supabase/config.toml", tmp), "[functions.a]\nimport_map = 'x'\n");
    const problems = layoutProblems(tmp);
    const expect = [
      'functions/a/Cargo.toml: [package] name is "x": set name = "a"',
      "functions/a/src/lib.rs calls edge_platform::edge_function! 0 times",
      "supabase/functions/a/index.ts differs from the generated wrapper at line 7",
      "[functions.a] does not set verify_jwt",
      'functions/b/Cargo.toml: [lib] crate-type lacks "cdylib"',
      "supabase/functions/b/index.ts is missing",
      "supabase/config.toml has no [functions.b]",
      "functions/c/Cargo.toml is missing but supabase/functions/c/index.ts exists",
      "supabase/config.toml has no [functions.c]",
    ];
    for (const e of expect) assert(problems.some((p) => p.includes(e)), `no problem says ${e}: ${problems.join("\n")}`);
    assertEquals(problems.length, expect.length, problems.join("\n"));
  } finally {
    Deno.removeSync(tmp, { recursive: true });
  }
});

Deno.test("the scaffold's templates pass the layout check and use what exists", () => {
  const name = SAMPLE;
  assertEquals(crateProblems(name, cargoToml(name), libRs(name)), []);
  const table = (parseToml(configEntry(name)) as Config).functions?.[name];
  assertEquals(table, { verify_jwt: false });
  // Appended to the real config it still parses, keeping every existing table.
  const real = parseToml(read("supabase/config.toml")) as Config;
  const appended = parseToml(read("supabase/config.toml") + configEntry(name)) as Config;
  assertEquals(Object.keys(appended.functions!).sort(), [...Object.keys(real.functions!), name].sort());
  // Every `<dep>.workspace = true` of the template is a workspace dependency.
  const workspace = parseToml(read("Cargo.toml")) as { workspace: { dependencies: Record<string, unknown> } };
  const deps = [...cargoToml(name).matchAll(/^([a-z0-9_-]+)\.workspace = true$/gm)].map((m) => m[1])
    .filter((d) => !["version", "edition", "license", "publish"].includes(d));
  assert(deps.length >= 4, `found ${deps}`);
  for (const d of deps) {
    assert(d in workspace.workspace.dependencies, `the template's ${d} is not a workspace dependency`);
  }
  // What the template's lib.rs uses from edge-platform is still there.
  const http = read("shared/platform/src/http.rs");
  for (
    const item of [
      "pub fn json<",
      "pub fn parse_json<",
      "pub fn require_method(",
      "pub type Request",
      "pub type Response",
      "pub fn respond(",
    ]
  ) {
    assert(
      http.includes(item),
      `shared/platform/src/http.rs no longer has ${item}: update libRs in scripts/new-function.ts`,
    );
  }
  assert(
    read("shared/platform/src/lib.rs").includes("pub use error::{Error, Result};"),
    "edge_platform::Result is gone",
  );
  // The template's wrapper is one a real function has (the loader test checks those are thin).
  assertEquals(indexTs("process-order"), read("supabase/functions/process-order/index.ts"));
  assert(!/zz-scaffold-sample|zz_scaffold_sample/.test(indexTs("x") + cargoToml("x") + libRs("x") + configEntry("x")));
});

Deno.test("scaffold() writes a function that passes the layout check, and refuses bad or taken names", () => {
  const tmp = new URL(`file://${Deno.makeTempDirSync({ prefix: "scaffold-" })}/`);
  try {
    for (const name of dirs("functions/")) {
      Deno.mkdirSync(new URL(`functions/${name}/src/`, tmp), { recursive: true });
      Deno.mkdirSync(new URL(`supabase/functions/${name}/`, tmp), { recursive: true });
      for (
        const f of [
          `functions/${name}/Cargo.toml`,
          `functions/${name}/src/lib.rs`,
          `supabase/functions/${name}/index.ts`,
        ]
      ) {
        Deno.writeTextFileSync(new URL(f, tmp), read(f));
      }
    }
    Deno.mkdirSync(new URL("tests/fixtures/panic-probe/", tmp), { recursive: true });
    Deno.writeTextFileSync(new URL("supabase/config.toml", tmp), read("supabase/config.toml"));
    assertEquals(layoutProblems(tmp), []);

    assertEquals(scaffold(SAMPLE, tmp), [
      `functions/${SAMPLE}/Cargo.toml`,
      `functions/${SAMPLE}/src/lib.rs`,
      `supabase/functions/${SAMPLE}/index.ts`,
      "supabase/config.toml",
    ]);
    assertEquals(layoutProblems(tmp), []);
    assertEquals(read(`functions/${SAMPLE}/src/lib.rs`, tmp), libRs(SAMPLE));
    assert(read("supabase/config.toml", tmp).startsWith(read("supabase/config.toml")));

    const bad = ["", "Hello", "hello_world", "-a", "a-", "a--b", "1a", "a.b", "a/b", "x".repeat(51), "test", "std"];
    for (const name of bad) assert(nameProblem(name, tmp), `accepted ${JSON.stringify(name)}`);
    for (const name of [SAMPLE, "process-order", "panic-probe"]) {
      assert(/already/.test(nameProblem(name, tmp) ?? ""), `${name} is taken`);
    }
    assertEquals(nameProblem("a2-b", tmp), null);
    const before = read("supabase/config.toml", tmp);
    let refused = "";
    try {
      scaffold(SAMPLE, tmp);
    } catch (e) {
      refused = (e as Error).message;
    }
    assertEquals(refused, `functions/${SAMPLE} already exists`);
    assertEquals(read("supabase/config.toml", tmp), before, "a refused scaffold changed config.toml");
  } finally {
    Deno.removeSync(tmp, { recursive: true });
  }
});
