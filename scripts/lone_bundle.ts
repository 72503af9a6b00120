// A function as a deploy ships it: `deno bundle` of its index.ts into one file, alone in an
// empty folder, run with --allow-net --allow-env and no read permission. Used by
// scripts/bundle-check.ts (no database) and tests/e2e/bundle.test.ts (against the stack).

const root = new URL("../", import.meta.url);

/** Bundle `entry` (a path relative to the repo root) into `<empty folder>/function.js`. */
export async function bundleAlone(entry: string): Promise<{ dir: string; bytes: Uint8Array<ArrayBuffer> }> {
  const out = await Deno.makeTempDir({ prefix: "bundle-out-" });
  const result = await new Deno.Command(Deno.execPath(), {
    args: ["bundle", "--quiet", new URL(entry, root).pathname, "-o", `${out}/function.js`],
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!result.success) throw new Error(`deno bundle ${entry}: ${new TextDecoder().decode(result.stderr)}`);
  // Only the bundle moves into the folder it runs from.
  const dir = await Deno.makeTempDir({ prefix: "bundle-run-" });
  await Deno.copyFile(`${out}/function.js`, `${dir}/function.js`);
  await Deno.remove(out, { recursive: true });
  return { dir, bytes: Deno.readFileSync(`${dir}/function.js`) };
}

export type Running = {
  url: string;
  /** ms from spawn until the server listened. */
  listenMs: number;
  log: () => string;
  stop: () => Promise<void>;
};

/**
 * Run `dir/function.js` with `env` only (no inherited variables) and no read permission, on a
 * port the OS picks; resolves once it listens.
 */
export function runAlone(dir: string, env: Record<string, string>): Promise<Running> {
  return spawnListening(["run", "--allow-net", "--allow-env", "--no-prompt", "function.js"], env, dir);
}

/**
 * Start a `Deno.serve` program (`deno <args>`, in `cwd`) with `env` only, on a port the OS
 * picks (fixed ports collide with Linux's ephemeral range), and resolve once it prints its
 * "Listening on" line.
 */
export async function spawnListening(args: string[], env: Record<string, string>, cwd?: string): Promise<Running> {
  const t0 = performance.now();
  const child = new Deno.Command(Deno.execPath(), {
    args,
    cwd,
    clearEnv: true,
    env: {
      ...env,
      PATH: Deno.env.get("PATH") ?? "",
      ...(Deno.env.get("DENO_DIR") ? { DENO_DIR: Deno.env.get("DENO_DIR")! } : {}),
      DENO_NO_UPDATE_CHECK: "1",
      DENO_SERVE_ADDRESS: "tcp:127.0.0.1:0",
      NO_COLOR: "1",
    },
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let output = "";
  let listening: (url: string) => void = () => {};
  const listened = new Promise<string>((resolve) => (listening = resolve));
  const decoder = new TextDecoder();
  const drain = async (s: ReadableStream<Uint8Array>) => {
    for await (const c of s) {
      output += decoder.decode(c, { stream: true });
      const m = output.match(/Listening on (http:\/\/127\.0\.0\.1:\d+)\//);
      if (m) listening(m[1]);
    }
  };
  const drained = Promise.all([drain(child.stdout), drain(child.stderr)]);
  let exited = false;
  const status = child.status.then((s) => {
    exited = true;
    return s;
  });
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<null>((r) => (timer = setTimeout(() => r(null), 20_000)));
  const url = await Promise.race([listened, status.then(() => null), timeout]);
  clearTimeout(timer);
  const stop = async () => {
    if (!exited) {
      try {
        child.kill();
      } catch { /* exited meanwhile */ }
    }
    await status;
    await drained;
  };
  if (!url) {
    await stop();
    throw new Error(`the bundle did not start: ${output.slice(0, 500)}`);
  }
  return { url, listenMs: performance.now() - t0, log: () => output, stop };
}
