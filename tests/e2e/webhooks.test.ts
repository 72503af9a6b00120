// Database webhooks end to end on the running stack: a table created here, subscribed with
// webhooks.subscribe, endpoints on a real HTTP receiver (a Deno server in this test) that
// verifies every request with npm `standardwebhooks`; the scheduler calls webhook-dispatch on
// the NOTIFY of each write. Fan-out to two endpoints and one function endpoint in row order,
// 410 disabling an endpoint, 429 and 503 with Retry-After honoured, an answer's body read up to
// the cap, the 10 s timeout covering the body, a rotation carrying two signatures, replay, and a
// second webhook-dispatch without WEBHOOK_ALLOW_PRIVATE refusing a loopback endpoint. The function endpoint is `fn:order-events` with ORDER_EVENTS_SECRET as its secret
// (webhooks.create_endpoint's signing_secret, 20261204005000): order-events verifies every
// request with it (401 otherwise) and answers, for a table that is not `orders`,
// `{"event_id": <webhook-id>, "order_id": <record.id>, "outcome": "ignored"}`, which
// webhooks.attempts keeps: the receiver's own account of what it verified, once per try.
import { assert, assertEquals } from "../assert.ts";
import { Webhook } from "npm:standardwebhooks";
import { parse as parseDotenv } from "npm:dotenv";
import { API_URL, e2e, functionKeysEnv, SERVICE_ROLE_KEY, sql } from "./_helpers.ts";
import { spawnListening } from "../../scripts/lone_bundle.ts";
import { until } from "./_assert_helpers.ts";

type Received = {
  path: string;
  id: string;
  signature: string;
  body: string;
  at: number;
  verifiedWith: string[];
};

/** The receiver: answers by path; verifies each request against the secrets known for it. */
const received: Received[] = [];
const secrets = new Map<string, string[]>(); // path -> secrets that must each verify
const answers = new Map<string, (n: number) => Response>(); // path -> answer for the n-th request
const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
  const path = new URL(req.url).pathname;
  const body = await req.text();
  const headers = Object.fromEntries(req.headers);
  const verifiedWith: string[] = [];
  for (const s of secrets.get(path) ?? []) {
    try {
      new Webhook(s).verify(body, headers);
      verifiedWith.push(s);
    } catch { /* recorded as not verified */ }
  }
  const n = received.filter((r) => r.path === path).length;
  received.push({
    path,
    id: headers["webhook-id"],
    signature: headers["webhook-signature"],
    body,
    at: Date.now(),
    verifiedWith,
  });
  return answers.get(path)?.(n) ?? new Response("ok");
});
const base = `http://127.0.0.1:${server.addr.port}`;
const DISPATCH = new URL("../../supabase/functions/webhook-dispatch/index.ts", import.meta.url).pathname;

const table = `e2e_hooks_${crypto.randomUUID().slice(0, 8)}`;
await sql.unsafe(`create table public.${table} (id bigint primary key, n int not null default 0)`);
await sql`select webhooks.subscribe(${`public.${table}`}::regclass)`;
// Short retries, so the 503 test measures Retry-After rather than the 5 s first step.
await sql`update webhooks.config set retry_schedule_seconds = '{1,1,1}'`;
const types = [`${table}.insert`, `${table}.update`, `${table}.delete`];
const created: string[] = [];

async function endpoint(path: string): Promise<{ id: string; secret: string }> {
  const [r] = await sql`select * from webhooks.create_endpoint(${base + path}, ${types}::text[])`;
  created.push(r.id);
  secrets.set(path, [r.secret]);
  return { id: r.id, secret: r.secret };
}

const at = (path: string) => received.filter((r) => r.path === path);

const env = parseDotenv(Deno.readTextFileSync(new URL("../../supabase/functions/.env", import.meta.url)));

/** A `fn:order-events` endpoint signing with `secret` (null: a generated one). */
async function functionEndpoint(secret: string | null): Promise<string> {
  const [r] = await sql`select * from webhooks.create_endpoint('fn:order-events', ${types}::text[],
    'e2e: order-events verifies, ignores this table', ${secret})`;
  created.push(r.id);
  return r.id;
}

e2e("fan-out: two endpoints and a function each get every event once, in row order, signed and verified", async () => {
  await endpoint("/a");
  await endpoint("/b");
  const fn = await functionEndpoint(env.ORDER_EVENTS_SECRET);
  const rows = 1000;
  await sql.begin(async (tx) => {
    await tx.unsafe(`insert into public.${table} (id) select g from generate_series(1, ${rows}) g`);
    await tx.unsafe(`update public.${table} set n = 1 where id <= 100`);
  });
  const total = rows + 100;
  await until(() => Promise.resolve(at("/a").length >= total && at("/b").length >= total), 60_000, 50);
  const events = await sql.unsafe(
    `select message_id, payload from webhooks.events where table_name = '${table}' order by id`,
  );
  assertEquals(events.length, total);
  for (const path of ["/a", "/b"]) {
    const got = at(path);
    // Exactly once each, by webhook-id.
    assertEquals(got.length, total, path);
    assertEquals(new Set(got.map((r) => r.id)).size, total, path);
    assertEquals(new Set(got.map((r) => r.id)), new Set(events.map((e) => e.message_id)), path);
    // Every request verified with the endpoint's secret, and the body is the payload.
    assert(got.every((r) => r.verifiedWith.length === 1), `${path}: a signature did not verify`);
    const byId = new Map(events.map((e) => [e.message_id, e.payload]));
    for (const r of got.slice(0, 50)) assertEquals(JSON.parse(r.body), byId.get(r.id));
    // Row order: each updated row's insert arrived before its update.
    const seen = new Map<number, string[]>();
    for (const r of got) {
      const p = JSON.parse(r.body);
      const id = Number((p.record ?? p.old_record).id);
      seen.set(id, [...(seen.get(id) ?? []), p.type]);
    }
    for (let id = 1; id <= 100; id++) assertEquals(seen.get(id), ["INSERT", "UPDATE"], `${path} row ${id}`);
    assertEquals(JSON.parse(got[0].body).table, table);
  }
  // The last tries are recorded just after their answers.
  const delivered = async () => {
    const [{ n }] = await sql`select count(*)::int as n from webhooks.deliveries
      where endpoint_id = any(${created}::uuid[]) and status = 'delivered'`;
    return n;
  };
  await until(async () => await delivered() === 3 * total, 60_000);
  assertEquals(await delivered(), 3 * total);
  const [att] = await sql`select count(*)::int as n, min(http_status) as lo, max(http_status) as hi
    from webhooks.attempts where endpoint_id = any(${created}::uuid[])`;
  assertEquals([att.n, att.lo, att.hi], [3 * total, 200, 200]);
  // The function: one try per event, each answered 200 by order-events after verifying the
  // signature with ORDER_EVENTS_SECRET, echoing the webhook-id it verified.
  const tries = await sql`select t.http_status, t.attempt, t.response::jsonb as r
    from webhooks.attempts t where t.endpoint_id = ${fn} order by t.id`;
  assertEquals(tries.length, total);
  assert(tries.every((t) => t.http_status === 200 && t.attempt === 1 && t.r.outcome === "ignored"));
  const echoed = tries.map((t) => t.r.event_id as string);
  assertEquals(new Set(echoed).size, total);
  assertEquals(new Set(echoed), new Set(events.map((e) => e.message_id)));
  // Row order at the function: each updated row's insert was answered before its update.
  const typeOf = new Map(events.map((e) => [e.message_id, e.payload.type as string]));
  const byRow = new Map<number, string[]>();
  for (const t of tries) byRow.set(t.r.order_id, [...(byRow.get(t.r.order_id) ?? []), typeOf.get(t.r.event_id)!]);
  assertEquals(byRow.size, rows);
  for (let id = 1; id <= 100; id++) assertEquals(byRow.get(id), ["INSERT", "UPDATE"], `fn row ${id}`);
  await sql`select webhooks.delete_endpoint(id) from unnest(${created}::uuid[]) id`;
  created.length = 0;
});

e2e("an endpoint answering 410 Gone ends disabled; its delivery is dead with the try recorded", async () => {
  answers.set("/gone", () => new Response("gone", { status: 410 }));
  const ep = await endpoint("/gone");
  await sql.unsafe(`insert into public.${table} (id) values (5001)`);
  const row = await until(async () => {
    const [e] = await sql`select enabled, disabled_reason from webhooks.endpoints where id = ${ep.id}`;
    return e.enabled ? null : e;
  }, 15_000);
  assertEquals(row?.disabled_reason, "the endpoint answered 410 Gone");
  const [d] = await sql`select status, attempts, last_status from webhooks.deliveries where endpoint_id = ${ep.id}`;
  assertEquals([d.status, d.attempts, d.last_status], ["dead", 1, 410]);
  const [a] = await sql`select http_status, response from webhooks.attempts where endpoint_id = ${ep.id}`;
  assertEquals([a.http_status, a.response], [410, "gone"]);
  // Later events skip it.
  await sql.unsafe(`insert into public.${table} (id) values (5002)`);
  await new Promise((r) => setTimeout(r, 500));
  assertEquals(at("/gone").length, 1);
  await sql`select webhooks.delete_endpoint(${ep.id})`;
});

for (const status of [429, 503]) {
  e2e(`${status} with Retry-After: 2 is retried no sooner than 2 s later, with the same webhook-id`, async () => {
    const path = `/busy${status}`;
    answers.set(
      path,
      (n) => n === 0 ? new Response("busy", { status, headers: { "retry-after": "2" } }) : new Response("ok"),
    );
    const ep = await endpoint(path);
    await sql.unsafe(`insert into public.${table} (id) values (${6000 + status})`);
    await until(() => Promise.resolve(at(path).length >= 2), 15_000);
    const [first, second] = at(path);
    // The schedule's own wait is 1 s here: only Retry-After makes it 2.
    assert(second.at - first.at >= 2000, `retried after ${second.at - first.at} ms`);
    assertEquals(second.id, first.id);
    assert(first.verifiedWith.length === 1 && second.verifiedWith.length === 1);
    const tries = await until(async () => {
      const t = await sql`select http_status, error from webhooks.attempts where endpoint_id = ${ep.id} order by id`;
      return t.length === 2 ? t : null;
    }, 5000);
    assert(tries);
    assertEquals(tries.map((t) => t.http_status), [status, 200]);
    assertEquals(tries[0].error, `HTTP ${status}`);
    await until(async () => {
      const [d] = await sql`select status from webhooks.deliveries where endpoint_id = ${ep.id}`;
      return d.status === "delivered";
    }, 5000);
    await sql`select webhooks.delete_endpoint(${ep.id})`;
  });
}

e2e(
  "an answer's body is read up to the cap (4 KiB) and then dropped: an endless body is a quick 2xx, 1 KiB kept",
  async () => {
    let sent = 0;
    let cancelled = false;
    const chunk = new TextEncoder().encode("x".repeat(1024));
    answers.set("/endless", () =>
      new Response(
        new ReadableStream<Uint8Array>({
          pull(c) {
            sent += chunk.length;
            c.enqueue(chunk);
            return new Promise((r) => setTimeout(r, 5));
          },
          cancel() {
            cancelled = true;
          },
        }),
        { status: 200 },
      ));
    const ep = await endpoint("/endless");
    await sql.unsafe(`insert into public.${table} (id) values (6101)`);
    const d = await until(async () => {
      const [x] = await sql`select status, attempts from webhooks.deliveries where endpoint_id = ${ep.id}`;
      return x?.status === "delivered" ? x : null;
    }, 15_000);
    assertEquals(d?.attempts, 1);
    const [a] = await sql`select http_status, latency_ms, length(response)::int as kept, error
    from webhooks.attempts where endpoint_id = ${ep.id}`;
    assertEquals([a.http_status, a.kept, a.error], [200, 1024, null]);
    // Far below the 10 s timeout: the dispatcher stopped reading, it did not wait for an end.
    assert(a.latency_ms < 5000, `latency ${a.latency_ms} ms`);
    await until(() => Promise.resolve(cancelled), 5000);
    assert(cancelled, "the body stream was never cancelled");
    const stopped = sent;
    await new Promise((r) => setTimeout(r, 200));
    assertEquals(sent, stopped, "the body is still being read");
    await sql`select webhooks.delete_endpoint(${ep.id})`;
  },
);

e2e("a try gets 10 s, the body included: headers then silence is a timeout, recorded and retried", async () => {
  let stalled: ReadableStreamDefaultController<Uint8Array> | undefined;
  answers.set("/stall", (n) =>
    n === 0
      ? new Response(
        new ReadableStream<Uint8Array>({
          start(c) {
            stalled = c;
            c.enqueue(new TextEncoder().encode("partial"));
          },
        }),
        { status: 200 },
      )
      : new Response("ok"));
  const ep = await endpoint("/stall");
  await sql.unsafe(`insert into public.${table} (id) values (6201)`);
  const tries = await until(
    async () => {
      const t = await sql`select http_status, latency_ms, error from webhooks.attempts
      where endpoint_id = ${ep.id} order by id`;
      return t.length === 2 ? t : null;
    },
    25_000,
    100,
  );
  assert(tries, "no second try");
  assertEquals([tries[0].http_status, tries[0].error], [null, "no answer within 10000 ms"]);
  assert(tries[0].latency_ms >= 10_000 && tries[0].latency_ms < 12_000, `latency ${tries[0].latency_ms} ms`);
  assertEquals(tries[1].http_status, 200);
  const [first, second] = at("/stall");
  assertEquals(second.id, first.id);
  try {
    stalled?.close();
  } catch { /* already cancelled by the dispatcher's abort */ }
  await sql`select webhooks.delete_endpoint(${ep.id})`;
});

e2e(
  "after rotate_secret each delivery carries two signatures, each secret verifies it; replay redelivers",
  async () => {
    const ep = await endpoint("/rot");
    const [{ s }] = await sql`select webhooks.rotate_secret(${ep.id}) as s`;
    secrets.set("/rot", [ep.secret, s]);
    await sql.unsafe(`insert into public.${table} (id) values (7001)`);
    await until(() => Promise.resolve(at("/rot").length >= 1), 10_000);
    const [r] = at("/rot");
    assertEquals(r.signature.split(" ").length, 2);
    assertEquals(r.verifiedWith, [ep.secret, s]);
    // Replay: the same event again, same webhook-id.
    // Replay adds a delivery unless one is pending: wait for the first to be recorded.
    await until(async () => {
      const [d] = await sql`select status from webhooks.deliveries where endpoint_id = ${ep.id}`;
      return d.status === "delivered";
    }, 5000);
    const [{ since }] = await sql`select created_at as since from webhooks.events
    where table_name = ${table} and row_key = '[7001]'`;
    const [{ n }] = await sql`select webhooks.replay(${ep.id}, ${since}) as n`;
    assertEquals(n, 1);
    await until(() => Promise.resolve(at("/rot").length >= 2), 10_000);
    assertEquals(at("/rot")[1].id, r.id);
    assertEquals(at("/rot")[1].verifiedWith.length, 2);
    await sql`select webhooks.delete_endpoint(${ep.id})`;
  },
);

e2e(
  "a fn: endpoint whose secret the function does not know: 401 from order-events, retried, never delivered",
  async () => {
    const fn = await functionEndpoint(null);
    await sql.unsafe(`insert into public.${table} (id) values (8001)`);
    const tries = await until(async () => {
      const t = await sql`select http_status, response from webhooks.attempts where endpoint_id = ${fn} order by id`;
      return t.length >= 2 ? t : null;
    }, 15_000);
    assert(tries);
    assert(tries.every((t) => t.http_status === 401), JSON.stringify(tries));
    const [d] = await sql`select status, last_status from webhooks.deliveries where endpoint_id = ${fn}`;
    assert(d.status !== "delivered" && d.last_status === 401, JSON.stringify(d));
    await sql`select webhooks.delete_endpoint(${fn})`;
  },
);

e2e(
  "a fn: endpoint signed with a function secret by name (secret_env): delivered; an unset one fails, named, retried",
  async () => {
    const fn = await functionEndpoint(null);
    await sql`select webhooks.set_secret_env(${fn}, 'ORDER_EVENTS_SECRET')`;
    const missing = await functionEndpoint(null);
    await sql`select webhooks.set_secret_env(${missing}, 'E2E_NOT_SET_SECRET')`;
    const [{ n: stored }] = await sql`select count(*)::int as n from webhooks.endpoint_secrets
      where endpoint_id in (${fn}, ${missing})`;
    assertEquals(stored, 0);
    await sql.unsafe(`insert into public.${table} (id) values (8101)`);
    const [ev] = await sql`select message_id from webhooks.events
      where table_name = ${table} and row_key = '[8101]'`;
    // order-events verified the signature made with ORDER_EVENTS_SECRET from webhook-dispatch's
    // environment (it answers 401 otherwise) and echoes the webhook-id.
    const ok = await until(async () => {
      const [d] = await sql`select status from webhooks.deliveries where endpoint_id = ${fn}`;
      return d?.status === "delivered" ? d : null;
    }, 15_000);
    assert(ok);
    const [t] = await sql`select http_status, attempt, response::jsonb as r from webhooks.attempts
      where endpoint_id = ${fn}`;
    assertEquals([t.http_status, t.attempt, t.r.event_id, t.r.outcome], [200, 1, ev.message_id, "ignored"]);
    // The unset variable: failed tries without a request, the name in the error, no value.
    const error = "cannot sign: the function secret E2E_NOT_SET_SECRET is not set in webhook-dispatch's environment";
    const tries = await until(async () => {
      const a = await sql`select http_status, error, response from webhooks.attempts
        where endpoint_id = ${missing} order by id`;
      return a.length >= 2 ? a : null;
    }, 15_000);
    assert(tries);
    assert(
      tries.every((a) => a.http_status === null && a.error === error && a.response === null),
      JSON.stringify(tries),
    );
    const [d] = await sql`select status, last_error from webhooks.deliveries where endpoint_id = ${missing}`;
    assertEquals([d.status === "delivered", d.last_error], [false, error]);
    await sql`select webhooks.delete_endpoint(${fn})`;
    await sql`select webhooks.delete_endpoint(${missing})`;
  },
);

e2e(
  "WEBHOOK_ALLOW_PRIVATE unset (as on a hosted project): a loopback endpoint is refused without a request, recorded, retried",
  async () => {
    // A second webhook-dispatch, started with the function environment of a hosted project (no
    // WEBHOOK_ALLOW_PRIVATE; the local stack's own sets it). Both dispatchers claim from the same
    // deliveries: the one whose claim lands first tries. The stack's is woken by NOTIFY, by its 2 s
    // tick or at a due retry; a delivery made due by a plain UPDATE (no NOTIFY) and claimed at once
    // by this one is its own unless a tick falls in those few milliseconds (then another round).
    const alone = await spawnListening(
      ["run", "--allow-net", "--allow-env", "--allow-read", "--allow-sys", "--no-prompt", DISPATCH],
      { SUPABASE_URL: API_URL, ...functionKeysEnv() },
    );
    try {
      answers.set("/private", () => new Response("refused by the test", { status: 500 }));
      await sql`update webhooks.config set retry_schedule_seconds = '{3600,3600,3600,3600,3600,3600,3600,3600}'`;
      const ep = await endpoint("/private");
      await sql.unsafe(`insert into public.${table} (id) values (6301)`);
      // The stack's dispatcher (private addresses allowed) tries first: a request, answered 500.
      await until(() => Promise.resolve(at("/private").length === 1), 10_000);
      const attempts = () =>
        sql`select http_status, error, response from webhooks.attempts where endpoint_id = ${ep.id} order by id`;
      await until(async () => (await attempts()).length === 1, 5000);
      const refusal = "127.0.0.1 is a loopback/private/link-local address (WEBHOOK_ALLOW_PRIVATE is off)";
      let report: Record<string, number> = {};
      for (let round = 0; round < 5 && !report.claimed; round++) {
        await sql`update webhooks.deliveries set next_attempt_at = now() where endpoint_id = ${ep.id}`;
        const r = await fetch(`${alone.url}/`, {
          method: "POST",
          headers: { authorization: `Bearer ${SERVICE_ROLE_KEY}`, apikey: SERVICE_ROLE_KEY },
          body: "{}",
        });
        report = await r.json();
        assertEquals(r.status, 200, JSON.stringify(report));
      }
      assert(report.claimed, "the second dispatcher never claimed the delivery (the stack's won every round)");
      const tries = await attempts();
      const mine = tries.filter((t) => t.error === refusal);
      assertEquals(mine.map((t) => [t.http_status, t.response]), [[null, null]]);
      // Every request the receiver got is a try of the stack's dispatcher (answered 500): the
      // refused try made none.
      assertEquals(at("/private").length, tries.filter((t) => t.http_status === 500).length);
      const [d] =
        await sql`select status, last_error, last_status, next_attempt_at > now() + interval '59 minutes' as later
        from webhooks.deliveries where endpoint_id = ${ep.id}`;
      assertEquals([d.status, d.last_error, d.last_status, d.later], ["pending", refusal, null, true]);
      await sql`select webhooks.delete_endpoint(${ep.id})`;
    } finally {
      await sql`update webhooks.config set retry_schedule_seconds = '{1,1,1}'`;
      await alone.stop();
    }
  },
);

e2e("cleanup: unsubscribe, drop the table, restore the retry schedule, stop the receiver", async () => {
  await sql`delete from webhooks.endpoints where id = any(${created}::uuid[])`;
  const [{ u }] = await sql`select webhooks.unsubscribe(${`public.${table}`}::regclass) as u`;
  assertEquals(u, true);
  await sql.unsafe(`drop table public.${table}`);
  await sql`update webhooks.config set retry_schedule_seconds = default`;
  await server.shutdown();
});
