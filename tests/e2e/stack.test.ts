// scripts/stack.sh status (`make status`): on the running stack every part is up with its pid
// and port and the exit status is 0; on a stack directory where nothing runs every part is down,
// the exit status is 1 and the URLs and keys are still printed; one part up among parts down is
// told apart.
import { assert, assertEquals } from "../assert.ts";
import { API_URL, e2e, PUBLISHABLE_KEY, SECRET_KEY } from "./_helpers.ts";

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
  assertEquals(by.postgres.port, Deno.env.get("PG_PORT") ?? "54322");
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
      FN_PORT_BASE: String(freePort()),
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
      FN_PORT_BASE: String(freePort()),
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
