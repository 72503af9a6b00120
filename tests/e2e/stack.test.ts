// scripts/stack.sh status (`make status`): on the running stack every part is up with its pid
// and port and the exit status is 0; on a stack directory where nothing runs every part is down,
// the exit status is 1 and the URLs and keys are still printed; one part up among parts down is
// told apart.
import { assert, assertEquals } from "../assert.ts";
import { API_URL, e2e, type FunctionProcess, PUBLISHABLE_KEY, SECRET_KEY } from "./_helpers.ts";
import { PG_PORT } from "../stack_env.ts";

const root = new URL("../../", import.meta.url).pathname;
const stackSh = `${root}scripts/stack.sh`;

type Part = { name: string; state: string; pid: string; port: string };
type Status = { code: number; stdout: string; stderr: string; parts: Part[] };

async function status(env: Record<string, string> = {}): Promise<Status> {
  const out = await new Deno.Command("bash", { args: [stackSh, "status"], env, stdout: "piped", stderr: "piped" })
    .output();
  const stdout = new TextDecoder().decode(out.stdout);
  const stderr = new TextDecoder().decode(out.stderr);
  const lines = stdout.split("\n");
  const start = lines.findIndex((l) => /^PART\s+STATE\s+PID\s+PORT$/.test(l));
  assert(start >= 0, `no parts table in:\n${stdout}`);
  const parts: Part[] = [];
  for (const l of lines.slice(start + 1)) {
    if (!l.trim()) break;
    const m = l.match(/^(\S+(?: \S+)?)\s+(up|down)\s+(\S+)\s+(\S+)$/);
    assert(m, `unreadable part line: ${l}`);
    parts.push({ name: m[1], state: m[2], pid: m[3], port: m[4] });
  }
  return { code: out.code, stdout, stderr, parts };
}

/** A port nothing listens on (the kernel's pick, released). */
function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

const pidFile = (part: string) => Deno.readTextFileSync(`${root}.stack/${part}.pid`).trim();

e2e("stack status: every part of the running stack is up, with its pid and port; exit 0", async () => {
  const s = await status();
  assertEquals(s.code, 0, `${s.stdout}\n${s.stderr}`);
  assertEquals(s.stderr, "");
  const health = await (await fetch(`${API_URL}/health`)).json();
  const fnNames = health.functions.map((f: { name: string }) => `function ${f.name}`);
  assertEquals(s.parts.map((p) => p.name), ["postgres", "rest", "gateway", ...fnNames, "scheduler"]);
  for (const p of s.parts) assertEquals(p.state, "up", `${p.name} is ${p.state}`);
  const by = Object.fromEntries(s.parts.map((p) => [p.name, p]));
  const apiPort = new URL(API_URL).port;
  assertEquals(by.gateway.port, apiPort);
  assertEquals(by.gateway.pid, pidFile("gateway"));
  assertEquals(by.rest.pid, pidFile("rest"));
  assertEquals(by.scheduler.pid, pidFile("scheduler"));
  assertEquals(by.scheduler.port, "-");
  assertEquals(by.postgres.port, PG_PORT);
  for (const f of health.functions) {
    const p = by[`function ${f.name}`];
    assertEquals([p.pid, p.port], [String(f.pid), String(f.port)]);
    // The pid is a live process running that function's wrapper.
    const cmdline = Deno.readTextFileSync(`/proc/${f.pid}/cmdline`);
    assert(cmdline.includes(`/functions/${f.name}/index.ts`), `pid ${f.pid} is not ${f.name}: ${cmdline}`);
  }
  // The block `supabase status` prints, keys included.
  assert(s.stdout.includes(`         API URL: ${API_URL}\n`));
  assert(s.stdout.includes(` Publishable key: ${PUBLISHABLE_KEY}\n`));
  assert(s.stdout.includes(`      Secret key: ${SECRET_KEY}\n`));
});

e2e("stack status: nothing running: every part down, the keys still printed, exit 1", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const s = await status({
      STACK_DIR: dir,
      PG_PORT: String(freePort()),
      API_PORT: String(freePort()),
      REST_PORT: String(freePort()),
    });
    assertEquals(s.code, 1);
    assert(s.parts.length >= 4 + 5, `too few parts:\n${s.stdout}`);
    for (const p of s.parts) assertEquals([p.name, p.state, p.pid], [p.name, "down", "-"]);
    assert(s.parts.some((p) => p.name === "function process-order"), "the functions are not listed");
    assertEquals(s.stderr, "error: the local stack is not running (make start)\n");
    assert(s.stdout.includes(` Publishable key: ${PUBLISHABLE_KEY}\n`));
    assert(s.stdout.includes(`      Secret key: ${SECRET_KEY}\n`));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

e2e("stack status: one part up among parts down is named as such; exit 1", async () => {
  const dir = await Deno.makeTempDir();
  // A live process standing in for the scheduler (the scheduler has no port: its pid decides).
  const sleeper = new Deno.Command("sleep", { args: ["30"] }).spawn();
  try {
    Deno.writeTextFileSync(`${dir}/scheduler.pid`, `${sleeper.pid}\n`);
    Deno.writeTextFileSync(`${dir}/gateway.pid`, "999999999\n"); // no such process
    const s = await status({
      STACK_DIR: dir,
      PG_PORT: String(freePort()),
      API_PORT: String(freePort()),
      REST_PORT: String(freePort()),
    });
    assertEquals(s.code, 1);
    const by = Object.fromEntries(s.parts.map((p) => [p.name, p]));
    assertEquals([by.scheduler.state, by.scheduler.pid], ["up", String(sleeper.pid)]);
    assertEquals([by.gateway.state, by.gateway.pid], ["down", "-"]);
    const down = s.parts.filter((p) => p.state === "down").map((p) => p.name);
    assertEquals(s.stderr, `error: not running: ${down.join(" ")}\n`);
    assert(!s.stderr.includes("scheduler"));
  } finally {
    sleeper.kill();
    await sleeper.status;
    await Deno.remove(dir, { recursive: true });
  }
});

// --- logs -------------------------------------------------------------------------------------
const logs = `${root}.stack/logs`;
const sizeOf = (path: string) => Deno.statSync(path).size;
const readFrom = (path: string, offset: number) => new TextDecoder().decode(Deno.readFileSync(path).subarray(offset));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
async function until<T>(check: () => T | null | Promise<T | null>, ms: number): Promise<T | null> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await check();
    if (v || Date.now() > end) return v;
    await sleep(50);
  }
}

e2e("gateway log: one line per request (time, method, path without the query, status, ms, target)", async () => {
  const gatewayLog = `${logs}/gateway.log`;
  const from = sizeOf(gatewayLog);
  const id = crypto.randomUUID();
  const fnResp = await fetch(`${API_URL}/functions/v1/process-order/${id}`, { headers: { apikey: SECRET_KEY } });
  await fnResp.body?.cancel();
  const restResp = await fetch(`${API_URL}/rest/v1/no_such_table_${id.replaceAll("-", "")}?apikey=query-probe-${id}`, {
    headers: { apikey: PUBLISHABLE_KEY },
  });
  await restResp.body?.cancel();
  const missing = await fetch(`${API_URL}/functions/v1/no-such-function-${id}`);
  await missing.body?.cancel();
  assertEquals(missing.status, 404);
  const iso = "\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d\\.\\d{3}Z";
  const expected = [
    new RegExp(`^${iso} GET /functions/v1/process-order/${id} ${fnResp.status} \\d+\\.\\dms process-order$`, "m"),
    new RegExp(
      `^${iso} GET /rest/v1/no_such_table_${id.replaceAll("-", "")} ${restResp.status} \\d+\\.\\dms rest$`,
      "m",
    ),
    new RegExp(`^${iso} GET /functions/v1/no-such-function-${id} 404 \\d+\\.\\dms -$`, "m"),
  ];
  const text = await until(() => {
    const t = readFrom(gatewayLog, from);
    return expected.every((re) => re.test(t)) ? t : null;
  }, 3000);
  assert(text, `request lines missing from gateway.log:\n${readFrom(gatewayLog, from)}`);
  assert(!text.includes(`query-probe-${id}`), "the query string was logged");
  assert(!text.includes("GET /health "), "/health was logged");
});

e2e("function logs: a function's own file gets its lines (and its restarts), the combined file too", async () => {
  const health = await (await fetch(`${API_URL}/health`)).json();
  const old = health.functions.find((f: { name: string }) => f.name === "cancel-order");
  assert(old?.pid, "no cancel-order pid in /health");
  const own = `${logs}/functions/cancel-order.log`;
  const other = `${logs}/functions/process-order.log`;
  const combined = `${logs}/functions.log`;
  const [ownFrom, otherFrom, combinedFrom] = [sizeOf(own), sizeOf(other), sizeOf(combined)];
  Deno.kill(old.pid, "SIGKILL");
  // The gateway notes the exit and starts a fresh process, which says where it listens.
  const lines = [
    /\[gateway\] cancel-order exited \(\d+\); restarting\n/,
    /\[cancel-order\] Listening on http:\/\/127\.0\.0\.1:\d+\/\n/,
  ];
  const text = await until(() => {
    const t = readFrom(own, ownFrom);
    return lines.every((re) => re.test(t)) ? t : null;
  }, 20_000);
  assert(text, `cancel-order.log:\n${readFrom(own, ownFrom)}`);
  const all = readFrom(combined, combinedFrom);
  for (const re of lines) assert(re.test(all), `not in functions.log: ${re}`);
  assert(!readFrom(other, otherFrom).includes("cancel-order"), "cancel-order's lines reached process-order.log");
  // Back to ready, under a new pid.
  const fresh = await until(async () => {
    const h = await (await fetch(`${API_URL}/health`)).json();
    const f = h.functions.find((f: { name: string }) => f.name === "cancel-order");
    return f.ready && f.pid !== old.pid ? f : null;
  }, 20_000);
  assert(fresh, "cancel-order did not come back");
  // On the port its Listening line names (the OS picks one per start).
  assert(text.includes(`Listening on http://127.0.0.1:${fresh.port}/`), `port ${fresh.port} not in:\n${text}`);
});

e2e("stack logs <part>: follows one part's log; an unknown part is refused", async () => {
  const tail = new Deno.Command("bash", { args: [stackSh, "logs", "gateway"], stdout: "piped", stderr: "piped" })
    .spawn();
  const reader = tail.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let seen = "";
  try {
    const id = crypto.randomUUID();
    await sleep(300); // tail has opened the file
    const r = await fetch(`${API_URL}/functions/v1/no-such-function-${id}`);
    await r.body?.cancel();
    const deadline = Date.now() + 5000;
    while (!seen.includes(`GET /functions/v1/no-such-function-${id} 404 `) && Date.now() < deadline) {
      const next = await Promise.race([reader.read(), sleep(500).then(() => null)]);
      if (next && !next.done) seen += next.value;
    }
    assert(seen.includes(`GET /functions/v1/no-such-function-${id} 404 `), `not followed:\n${seen}`);
  } finally {
    tail.kill("SIGTERM"); // `logs` execs tail: this is tail itself
    await tail.status;
    await reader.cancel().catch(() => {});
    await tail.stderr.cancel();
  }
  const bad = await new Deno.Command("bash", {
    args: [stackSh, "logs", "no-such-part"],
    stdout: "piped",
    stderr: "piped",
  })
    .output();
  assertEquals(bad.code, 1);
  const err = new TextDecoder().decode(bad.stderr);
  assert(err.startsWith("error: no log named 'no-such-part': "), err);
  assert(err.includes("process-order"), err);
});

// --- warm start -------------------------------------------------------------------------------
e2e("stack start on the running, unchanged stack restarts nothing, in under 10 s", async () => {
  const before = (await status()).parts;
  assert(before.every((p) => p.state === "up"), "the stack is not fully up");
  const started = performance.now();
  // The mode the gateway runs in: another FUNCTION_KEYS would be a change (and a restart).
  const mode = Deno.readTextFileSync(`${root}.stack/function-keys`).trim();
  const out = await new Deno.Command("bash", {
    args: [stackSh, "start"],
    env: { FUNCTION_KEYS: mode },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const seconds = (performance.now() - started) / 1000;
  const stdout = new TextDecoder().decode(out.stdout);
  assertEquals(out.code, 0, `${stdout}\n${new TextDecoder().decode(out.stderr)}`);
  assert(stdout.startsWith("Unchanged, left running: rest gateway scheduler.\nLocal stack is running.\n"), stdout);
  assert(seconds < 10, `took ${seconds.toFixed(1)} s`);
  const after = (await status()).parts;
  assertEquals(after.map((p) => [p.name, p.state, p.pid]), before.map((p) => [p.name, "up", p.pid]));
});

/** Runs `scripts/stack.sh reload`: its exit code and output. */
async function reload() {
  const out = await new Deno.Command("bash", { args: [stackSh, "reload"], stdout: "piped", stderr: "piped" })
    .output();
  return {
    code: out.code,
    stdout: new TextDecoder().decode(out.stdout),
    stderr: new TextDecoder().decode(out.stderr),
  };
}

// scripts/stack.sh reload (what `make dev` runs after a build): the gateway restarts only the
// functions whose files changed; a replacement that does not start leaves the old process serving.
e2e("stack reload: an edited wrapper restarts only its function; a broken one keeps the old process", async () => {
  const name = "order-events";
  const wrapper = `${root}supabase/functions/${name}/index.ts`;
  const original = Deno.readTextFileSync(wrapper);
  const pids = async () => {
    const health = await (await fetch(`${API_URL}/health`)).json() as { functions: FunctionProcess[] };
    return Object.fromEntries(health.functions.map((f) => [f.name, f.pid]));
  };
  const others = (p: Record<string, number | null>) => Object.entries(p).filter(([n]) => n !== name);
  const answers = async () => {
    const resp = await fetch(`${API_URL}/functions/v1/${name}`, { method: "OPTIONS" });
    await resp.body?.cancel();
    return resp.status;
  };
  const before = await pids();
  try {
    let r = await reload();
    assertEquals([r.code, r.stdout.trim()], [0, "restarted: none (no function files changed)"], r.stderr);
    assertEquals(await pids(), before);

    Deno.writeTextFileSync(wrapper, `${original}// reload probe\n`);
    r = await reload();
    assertEquals([r.code, r.stdout.trim()], [0, `restarted: ${name}`], r.stderr);
    const edited = await pids();
    assert(edited[name] !== null && edited[name] !== before[name], `${name} kept pid ${before[name]}`);
    assertEquals(others(edited), others(before));
    assertEquals(await answers(), 204);

    Deno.writeTextFileSync(wrapper, `${original}const broken = ;\n`);
    r = await reload();
    assertEquals(r.code, 1);
    assert(r.stderr.includes(`the new code of: ${name} did not start`), r.stderr);
    assertEquals(await pids(), edited);
    assertEquals(await answers(), 204);
  } finally {
    Deno.writeTextFileSync(wrapper, original);
  }
  const r = await reload();
  assertEquals(r.code, 0, r.stderr);
  const restored = await pids();
  assertEquals(others(restored), others(before));
  assertEquals(await answers(), 204);
});

// A function folder added while the stack runs (`make new-function`, then a build) is started by
// the next reload, as `supabase functions serve` picks up new folders; one removed is stopped.
e2e("stack reload: a new function folder is started, a removed one is stopped", async () => {
  const name = "zz-reload-probe";
  const dir = `${root}supabase/functions/${name}`;
  const health = async () =>
    (await (await fetch(`${API_URL}/health`)).json() as { functions: FunctionProcess[] }).functions;
  const before = await health();
  assert(!before.some((f) => f.name === name), "a probe folder was left behind by an earlier run");
  const call = async () => {
    // OPTIONS passes the gateway's JWT check unchecked, as a CORS preflight does on Supabase.
    const resp = await fetch(`${API_URL}/functions/v1/${name}`, { method: "OPTIONS" });
    const body = await resp.text();
    return [resp.status, resp.headers.get("x-probe"), body] as const;
  };
  assertEquals((await call())[0], 404);
  Deno.mkdirSync(dir);
  try {
    Deno.writeTextFileSync(
      `${dir}/index.ts`,
      `Deno.serve(() => new Response(null, { status: 204, headers: { "x-probe": "yes" } }));\n`,
    );
    const r = await reload();
    assertEquals([r.code, r.stdout.trim()], [0, `restarted: ${name}`], r.stderr);
    assertEquals(await call(), [204, "yes", ""]);
    const added = await health();
    // The others kept their processes.
    assertEquals(
      added.filter((f) => f.name !== name).map((f) => [f.name, f.pid]),
      before.map((f) => [f.name, f.pid]),
    );
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
  const r = await reload();
  assertEquals(r.code, 0, r.stderr);
  const [status, , body] = await call();
  assertEquals(status, 404);
  assertEquals(JSON.parse(body).error.code, "function_not_found");
  assertEquals((await health()).map((f) => [f.name, f.pid]), before.map((f) => [f.name, f.pid]));
});
