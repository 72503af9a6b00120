// Two clones run their stacks and suites side by side (other ports, other folders): nothing in
// scripts/, tests/, bench/ or the Makefile may name the default ports or a fixed shared folder,
// except scripts/lib.sh (the shell's defaults) and tests/stack_env.ts (the same for Deno).
import { assertEquals } from "../assert.ts";

const root = new URL("../../", import.meta.url).pathname;
const allowed = new Set(["scripts/lib.sh", "tests/stack_env.ts", "tests/unit/stack_env.test.ts"]);
// The stack's default ports (543xx), and folders every checkout would share: /tmp/<name>
// (mktemp and Deno.makeTempDir are fine: they pick a new name) and PostgreSQL's home.
const fixed = [/\b543\d\d\b/, /["'=\s]\/tmp\/[\w.-]/, /\/var\/lib\/postgresql/];

function* files(dir: string): Generator<string> {
  for (const e of Deno.readDirSync(`${root}${dir}`)) {
    const path = `${dir}/${e.name}`;
    if (e.isDirectory && !["node_modules", "page", "fixtures"].includes(e.name)) yield* files(path);
    else if (e.isFile && /\.(ts|sh|js)$/.test(e.name)) yield path;
  }
}

Deno.test("no default port or fixed shared folder outside scripts/lib.sh and tests/stack_env.ts", () => {
  const hits: string[] = [];
  for (const path of ["Makefile", ...files("scripts"), ...files("tests"), ...files("bench")]) {
    if (allowed.has(path)) continue;
    Deno.readTextFileSync(`${root}${path}`).split("\n").forEach((line, i) => {
      if (fixed.some((re) => re.test(line))) hits.push(`${path}:${i + 1}: ${line.trim()}`);
    });
  }
  assertEquals(hits, []);
});
