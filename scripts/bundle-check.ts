// The deploy-shape check, with no database needed: every function in supabase/config.toml is
// bundled with `deno bundle` (everything its static imports reach, as the Supabase CLI ships it),
// the single file is copied into an empty folder and started with --allow-net --allow-env and no
// read permission; it must answer a CORS preflight (204) and a GET (405 JSON from the wasm, so
// the module was instantiated). Prints one line per function; exits non-zero on any failure.
//
// `--bench [runs]`: a Markdown table instead: bundle bytes (raw, gzipped) and spawn-to-first-
// response (median of `runs` cold starts: process spawn until the first HTTP answer), beside
// the seed's TypeScript process-order (bench/functions/process-order-ts) bundled the same way.
//
// Usage: deno run --allow-all scripts/bundle-check.ts [--bench [runs]]
import { parse as parseToml } from "npm:smol-toml";

const root = new URL("../", import.meta.url);
const bench = Deno.args[0] === "--bench";
const runs = bench ? Number(Deno.args[1] ?? 7) : 1;
const config = parseToml(Deno.readTextFileSync(new URL("supabase/config.toml", root))) as {
  functions?: Record<string, unknown>;
};
const entries: [string, string][] = Object.keys(config.functions ?? {}).sort().map((
  name,
) => [name, `supabase/functions/${name}/index.ts`]);
if (bench) entries.push(["seed TypeScript process-order", "bench/functions/process-order-ts/index.ts"]);

async function bundle(entry: string): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "bundle-check-" });
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["bundle", "--quiet", new URL(entry, root).pathname, "-o", `${dir}/function.js`],
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!out.success) throw new Error(`deno bundle ${entry}: ${new TextDecoder().decode(out.stderr)}`);
  return dir;
}

async function gzipSize(bytes: Uint8Array<ArrayBuffer>): Promise<number> {
  const stream = new Blob([bytes]).stream().pipeThrough(new CompressionStream("gzip"));
  return (await new Response(stream).arrayBuffer()).byteLength;
}

let nextPort = Number(Deno.env.get("FN_PORT_BASE") ?? 54340) + 90;

/** Start the lone bundle; resolve with the ms until its first answer and the answers. */
async function start(dir: string) {
  const port = nextPort++;
  const t0 = performance.now();
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-net", "--allow-env", "--no-prompt", "function.js"],
    cwd: dir,
    clearEnv: true,
    env: {
      PATH: Deno.env.get("PATH") ?? "",
      DENO_NO_UPDATE_CHECK: "1",
      DENO_SERVE_ADDRESS: `tcp:127.0.0.1:${port}`,
      // Enough env to boot; nothing here reaches a database.
      SUPABASE_URL: "http://127.0.0.1:9",
      SUPABASE_ANON_KEY: "anon",
      SUPABASE_SERVICE_ROLE_KEY: "service",
      STRIPE_WEBHOOK_SECRET: "whsec_check",
      ORDER_EVENTS_SECRET: "whsec_Y2hlY2stY2hlY2stY2hlY2stY2hlY2stY2hlY2s=",
    },
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const url = `http://127.0.0.1:${port}/`;
  let result;
  try {
    let first: Response | undefined;
    while (!first && performance.now() - t0 < 20_000) {
      first = await fetch(url, { method: "OPTIONS", headers: { origin: "https://check.example" } }).catch(() => {
        return undefined;
      });
      if (!first) await new Promise((r) => setTimeout(r, 2));
    }
    const ms = performance.now() - t0;
    if (first) {
      const preflight = { status: first.status, origin: first.headers.get("access-control-allow-origin") };
      await first.body?.cancel();
      const get = await fetch(url);
      result = { ms, preflight, get: { status: get.status, body: await get.text() } };
    }
  } finally {
    child.kill();
    await child.status;
  }
  const err = new TextDecoder().decode((await new Response(child.stderr).arrayBuffer()) as ArrayBuffer);
  if (/NotCapable|PermissionDenied|requires read access/i.test(err)) {
    throw new Error(`needed a permission it will not have: ${err.slice(0, 300)}`);
  }
  if (!result) throw new Error(`no answer within 20 s: ${err.slice(0, 300)}`);
  return result;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
let failed = 0;
if (bench) {
  console.log("| function | bundle bytes | gzipped | spawn to first response (median of " + runs + ") |");
  console.log("| --- | ---: | ---: | ---: |");
}
for (const [name, entry] of entries) {
  try {
    const dir = await bundle(entry);
    const bytes = Deno.readFileSync(`${dir}/function.js`);
    const times: number[] = [];
    let last: Awaited<ReturnType<typeof start>> | undefined;
    for (let i = 0; i < runs; i++) {
      last = await start(dir);
      times.push(last.ms);
    }
    await Deno.remove(dir, { recursive: true });
    if (bench) {
      console.log(
        `| ${name} | ${bytes.length.toLocaleString("en-US")} | ${(await gzipSize(bytes)).toLocaleString("en-US")} | ${
          median(times).toFixed(0)
        } ms |`,
      );
      continue;
    }
    const ok = last!.preflight.status === 204 && last!.preflight.origin === "*" && last!.get.status === 405 &&
      last!.get.body.includes('"method_not_allowed"');
    if (!ok) throw new Error(`unexpected answers: ${JSON.stringify(last)}`);
    console.log(
      `ok   ${name}: ${bytes.length} bytes, one file, no read permission, answered in ${last!.ms.toFixed(0)} ms`,
    );
  } catch (e) {
    failed += 1;
    console.log(`FAIL ${name}: ${e instanceof Error ? e.message : e}`);
  }
}
if (failed) Deno.exit(1);
