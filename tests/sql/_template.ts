// Template databases for tests/sql (tests/sql/run.sh, tests/sql/mutations.sh): the bootstrap and
// the migrations are applied once per run into a template, and each test file's database is a
// copy of it (SQL_TEST_TEMPLATE, see _db.ts).
//
//   deno run --allow-all tests/sql/_template.ts create NAME [--from TEMPLATE] [--mutate MUTATION]
//       build template NAME (or copy the unmutated template TEMPLATE), then apply MUTATION
//   deno run --allow-all tests/sql/_template.ts drop-run TAG
//       drop every database of run TAG (SQL_TEST_RUN): its templates and what its files left
//   deno run --allow-all tests/sql/_template.ts mutations
//       one line per mutation of _mutations.ts: its name, then the test files named to kill it
import { buildTemplate, dropRun } from "./_db.ts";
import { MUTATIONS } from "./_mutations.ts";

function existsSync(url: URL): boolean {
  try {
    return Deno.statSync(url).isFile;
  } catch {
    return false;
  }
}

const [cmd, ...args] = Deno.args;
function option(name: string): string | undefined {
  const i = args.indexOf(name);
  if (i < 0) return undefined;
  if (!args[i + 1]) throw new Error(`${name} needs a value`);
  return args[i + 1];
}

if (cmd === "create" && args[0] && !args[0].startsWith("--")) {
  await buildTemplate(args[0], { from: option("--from"), mutate: option("--mutate") });
} else if (cmd === "drop-run" && args[0]) {
  const dropped = await dropRun(args[0]);
  if (dropped.length) console.error(`dropped ${dropped.join(" ")}`);
} else if (cmd === "mutations") {
  for (const [name, m] of Object.entries(MUTATIONS)) {
    const files = (m.killers ?? []).map((f) => `tests/sql/${f}.test.ts`);
    for (const f of files) {
      if (!existsSync(new URL(`../../${f}`, import.meta.url))) throw new Error(`mutation ${name}: no test file ${f}`);
    }
    console.log([name, ...files].join(" "));
  }
} else {
  console.error("usage: _template.ts create NAME [--from TEMPLATE] [--mutate MUTATION] | drop-run TAG | mutations");
  Deno.exit(2);
}
