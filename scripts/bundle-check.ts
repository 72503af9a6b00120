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
import { bundleAlone, runAlone } from "./lone_bundle.ts";

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

async function gzipSize(bytes: Uint8Array<ArrayBuffer>): Promise<number> {
  const stream = new Blob([bytes]).stream().pipeThrough(new CompressionStream("gzip"));
  return (await new Response(stream).arrayBuffer()).byteLength;
}

// Enough env to boot; nothing here reaches a database.
const bootEnv = {
  SUPABASE_URL: "http://127.0.0.1:9",
  SUPABASE_ANON_KEY: "anon",
  SUPABASE_SERVICE_ROLE_KEY: "service",
  STRIPE_WEBHOOK_SECRET: "whsec_check",
  ORDER_EVENTS_SECRET: "whsec_Y2hlY2stY2hlY2stY2hlY2stY2hlY2stY2hlY2s=",
};

/** Start the lone bundle; the ms until its first answer, and its answers. */
async function start(dir: string) {
  const t0 = performance.now();
  const fn = await runAlone(dir, bootEnv);
  let result;
  try {
    const first = await fetch(fn.url, { method: "OPTIONS", headers: { origin: "https://check.example" } });
    const ms = performance.now() - t0;
    const preflight = { status: first.status, origin: first.headers.get("access-control-allow-origin") };
    await first.body?.cancel();
    const get = await fetch(fn.url);
    result = { ms, preflight, get: { status: get.status, body: await get.text() } };
  } finally {
    await fn.stop();
  }
  if (/NotCapable|PermissionDenied|requires read access/i.test(fn.log())) {
    throw new Error(`needed a permission it will not have: ${fn.log().slice(0, 300)}`);
  }
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
    const { dir, bytes } = await bundleAlone(entry);
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
