// Issue 9, F10: a dispatcher told to stop gives back the delivery claims it holds at once; one
// that dies keeps them until their lease (30 s) ends. Against the running stack: the real
// webhook-dispatch process (a child of the gateway, which restarts it), the real scheduler, the
// real webhooks SQL, on the orders' own endpoint (fn:order-events, 20261205000100).
//
// How the dispatcher is made to hold a claim: the test's own transaction locks an order
// (`for update`), and a delivery of an event of that order goes to order-events, whose apply RPC
// then waits for the lock. Once a session is seen waiting on it, the dispatcher's POST is in
// flight and its claim is held. To observe the released row before the scheduler claims it
// again, a not-yet-due delivery of the same endpoint and row with a smaller id (the "blocker") is
// put in front of it: a row's deliveries go out in id order, so nobody claims it while the
// blocker waits.
import { assert, assertEquals } from "../assert.ts";
import { e2e, functionProcess, newProduct, newUser, orderEventsEndpoint, quietOrderEvents, sql } from "./_helpers.ts";
import { autoProcessingHook, until } from "./_assert_helpers.ts";

autoProcessingHook();

const root = new URL("../../", import.meta.url);
const functionsLog = new URL(".stack/logs/functions.log", root);
/** webhook-dispatch's lease (HookConfig::new). */
const LEASE_MS = 30_000;

/** The pid of the gateway's webhook-dispatch process, if one runs. */
const dispatcherPid = async () => (await functionProcess("webhook-dispatch"))?.pid ?? null;

const alive = (pid: number) => {
  try {
    // A zombie (exited, not yet reaped by the gateway) counts as gone.
    return !/\) Z /.test(Deno.readTextFileSync(`/proc/${pid}/stat`));
  } catch {
    return false;
  }
};

/** A webhook-dispatch process other than `old` that the gateway reports ready. */
async function freshDispatcher(old: number): Promise<number> {
  const pid = await until(
    async () => {
      const fn = await functionProcess("webhook-dispatch");
      if (!fn?.pid || fn.pid === old) return null;
      return fn.ready ? fn.pid : null;
    },
    20_000,
    50,
  );
  assert(pid, "the gateway did not bring webhook-dispatch back");
  return pid;
}

type DeliveryRow = {
  status: string;
  attempts: number;
  claim_token: string | null;
  claimed_until: Date | null;
  /** claimed_until is in the future (by the database clock). */
  live: boolean;
  last_error: string | null;
  /** The database clock when read. */
  db_now: Date;
};

async function deliveryRow(id: number): Promise<DeliveryRow> {
  const [r] = await sql`select status, attempts, claim_token::text, claimed_until,
      coalesce(claimed_until > now(), false) live, last_error, now() db_now
    from webhooks.deliveries where id = ${id}`;
  return r as unknown as DeliveryRow;
}

/** A delivery to the orders' endpoint of a new event (row key `row`): its id and message id. */
async function delivery(
  payload: unknown,
  row: string | null,
  dueIn = "0 seconds",
): Promise<{ id: number; event: number; message_id: string; created_at: Date }> {
  const endpoint = await orderEventsEndpoint();
  const [r] = await sql`with ev as (
      insert into webhooks.events (event_type, schema_name, table_name, row_key, payload)
      values ('orders.insert', 'public', 'orders', ${row}, ${sql.json(payload as never)})
      returning id, message_id)
    insert into webhooks.deliveries (event_id, endpoint_id, row_key, next_attempt_at)
    select ev.id, ${endpoint}, ${row}, now() + ${dueIn}::interval from ev
    returning id, event_id, (select message_id from ev), created_at`;
  return { id: Number(r.id), event: Number(r.event_id), message_id: r.message_id, created_at: r.created_at };
}

/**
 * Sessions whose statement started at or after `since` and that wait for a lock `pid` holds,
 * directly or behind a session that does (a second waiter for a row queues behind the first).
 */
async function waitingOn(pid: number, since: Date): Promise<number> {
  const [r] = await sql`select count(*)::int n from pg_stat_activity a
    where a.query_start >= ${since}
      and (${pid}::int = any(pg_blocking_pids(a.pid))
           or exists (select 1 from pg_stat_activity w
                       where w.pid = any(pg_blocking_pids(a.pid)) and ${pid}::int = any(pg_blocking_pids(w.pid))))`;
  return r.n;
}

e2e(
  "SIGTERM: webhook-dispatch gives its claim back within 1 s, try not counted; after SIGKILL the claim waits for its 30 s lease",
  async () => {
    const user = await newUser();
    const product = await newProduct({ stock: 10 });
    // A pending order whose own INSERT delivery is marked delivered: the test sends its event itself.
    const { orderId, payload } = await sql.begin(async (tx) => {
      const [o] = await tx`insert into public.orders (user_id, currency) values (${user.id}, 'USD') returning id`;
      await tx`insert into public.order_items (order_id, product_id, quantity, unit_amount)
      values (${o.id}, ${product}, 1, 0)`;
      const [insert] = await quietOrderEvents(tx, Number(o.id));
      return { orderId: Number(o.id), payload: insert.payload };
    });
    const row = `[${orderId}]`;
    // The blocker: pending, due in an hour, no row yet (so it blocks nothing until moved).
    const blocker = await delivery({}, null, "1 hour");
    const block = (on: boolean) =>
      sql`update webhooks.deliveries set row_key = ${on ? row : null} where id = ${blocker.id}`;
    const dropBlocker = () => sql`delete from webhooks.events where id = ${blocker.event}`;
    let messageId = "";
    let deliveryId = 0;
    const logStart = Deno.statSync(functionsLog).size;

    try {
      await sql.begin(async (lock) => {
        const [{ pid: lockPid }] = await lock`select pg_backend_pid() pid`;
        await lock`select id from public.orders where id = ${orderId} for update`;
        const d = await delivery(payload, row);
        deliveryId = d.id;
        messageId = d.message_id;
        await sql`select pg_notify('webhooks', 'shutdown-test')`;

        // 1. The dispatcher claims the delivery and POSTs it; order-events waits for our lock.
        assert(await until(async () => (await waitingOn(lockPid, d.created_at)) >= 1, 15_000), "no POST in flight");
        const claimed = await deliveryRow(deliveryId);
        assertEquals([claimed.status, claimed.attempts, claimed.live], ["pending", 1, true]);
        assert(claimed.claim_token, "the delivery is not under a claim");
        await block(true);

        // 2. SIGTERM: the claim comes back at once, its try given back.
        const pid = await dispatcherPid();
        assert(pid, "no webhook-dispatch process");
        const termAt = performance.now();
        Deno.kill(pid, "SIGTERM");
        const released = await until(
          async () => {
            const r = await deliveryRow(deliveryId);
            return r.claim_token === null ? r : null;
          },
          5_000,
          10,
        );
        const releasedMs = performance.now() - termAt;
        assert(released, "the claim was not given back");
        assert(releasedMs < 1000, `given back after ${releasedMs.toFixed(0)} ms`);
        assertEquals(
          [released.status, released.attempts, released.claim_token, released.claimed_until, released.last_error],
          ["pending", 0, null, null, null],
        );
        // No try was recorded for it.
        const [{ tries }] =
          await sql`select count(*)::int tries from webhooks.attempts where delivery_id = ${deliveryId}`;
        assertEquals(tries, 0);
        // The process exited on its own, with status 0, after logging the release.
        assert(await until(() => Promise.resolve(!alive(pid)), 3_000), "webhook-dispatch did not exit");
        const log = await until(async () => {
          const text = new TextDecoder().decode((await Deno.readFile(functionsLog)).subarray(logStart));
          return /\[gateway\] webhook-dispatch exited \(0\)/.test(text) ? text : null;
        }, 3_000);
        assert(log, "the gateway did not log a clean exit of webhook-dispatch");
        assert(
          /\[webhook-dispatch\] webhook-dispatch: shutting down: \d+ claims reported, [1-9]\d* deliveries released/
            .test(log),
          "no release logged",
        );

        // 3. The gateway restarts the function; the scheduler's next call claims the delivery
        //    again (try 1: the one given back was not counted) and its POST waits for our lock.
        await freshDispatcher(pid);
        await block(false);
        await sql`select pg_notify('webhooks', 'shutdown-test')`;
        const again = await until(async () => {
          const r = await deliveryRow(deliveryId);
          return r.claim_token !== null && r.live ? r : null;
        }, 15_000);
        assert(again, "the delivery was not claimed again");
        assertEquals([again.status, again.attempts], ["pending", 1]);
        const claimedAt = new Date(again.claimed_until!.getTime() - LEASE_MS);
        assert(await until(async () => (await waitingOn(lockPid, claimedAt)) >= 1, 10_000), "no second POST");
        await block(true);

        // 4. SIGKILL: no hook runs; the claim stays, its try counted, until the lease ends.
        const pid2 = await dispatcherPid();
        assert(pid2 && pid2 !== pid, "no new webhook-dispatch process");
        const killAt = performance.now();
        Deno.kill(pid2, "SIGKILL");
        let last = again;
        let liveMs = 0;
        for (;;) {
          const r = await deliveryRow(deliveryId);
          assertEquals(
            [r.status, r.attempts, r.claim_token, r.claimed_until?.getTime()],
            ["pending", 1, again.claim_token, again.claimed_until!.getTime()],
            "the claim of a killed dispatcher changed before its lease ended",
          );
          last = r;
          if (!r.live) break;
          liveMs = performance.now() - killAt;
          assert(liveMs < LEASE_MS + 1000, "the claim outlived its 30 s lease");
          await new Promise((res) => setTimeout(res, 50));
        }
        const expiredMs = performance.now() - killAt;
        // Still held well past the 1 s a clean shutdown takes; claimable within 30 s of the claim.
        assert(liveMs > 1000, `the claim of a killed dispatcher ended after only ${liveMs.toFixed(0)} ms`);
        assert(expiredMs <= LEASE_MS + 500, `claimable only ${expiredMs.toFixed(0)} ms after the kill`);
        console.log(
          `claim given back ${releasedMs.toFixed(0)} ms after SIGTERM; after SIGKILL held ${
            expiredMs.toFixed(0)
          } ms (until its lease ended)`,
        );
        assert(last.db_now.getTime() - again.db_now.getTime() <= LEASE_MS + 500);
        assert(again.claimed_until!.getTime() - again.db_now.getTime() <= LEASE_MS);
        await dropBlocker();
      });
    } finally {
      await dropBlocker();
    }

    // 5. Lock gone, blocker gone: the delivery is made. Three claims, two tries counted: the one
    //    given back on SIGTERM was not.
    const delivered = await until(async () => {
      const r = await deliveryRow(deliveryId);
      return r.status === "delivered" ? r : null;
    }, 20_000);
    assert(delivered, "the delivery was not made");
    assertEquals(delivered.attempts, 2);
    // The order was processed once, whichever of the three POSTs got there first.
    const [order] = await sql`select status from public.orders where id = ${orderId}`;
    assertEquals(order.status, "processed");
    const receipts = await sql`select outcome from public.received_events where event_id = ${messageId}`;
    assertEquals(receipts.map((r) => r.outcome), ["processed"]);
    assert(await freshDispatcher(-1), "webhook-dispatch is not ready");
  },
);

/** Run `code` in a plain Deno process, SIGTERM it once it printed "ready". */
async function sigterm(code: string) {
  const loader = new URL("supabase/functions/_shared/serve_wasm.ts", root).href;
  const child = new Deno.Command(Deno.execPath(), {
    args: ["eval", "--ext=ts", `import { onShutdown } from "${loader}";\n${code}`],
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let out = "";
  while (!out.includes("ready\n")) {
    const { value, done } = await reader.read();
    if (done) break;
    out += value;
  }
  const started = performance.now();
  child.kill("SIGTERM");
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    out += value;
  }
  const status = await child.status;
  const stderr = await new Response(child.stderr).text();
  return { status, out, stderr, ms: performance.now() - started };
}

e2e(
  "SIGTERM in the loader: the hook runs once and the process exits 0; bounded by its timeout; no hook, no change",
  async () => {
    // Referencing onShutdown keeps the import in the no-hook case (it only installs on a call).
    const hooked = await sigterm(`
    onShutdown(async () => {
      console.log("hook");
      await new Promise((r) => setTimeout(r, 100));
      console.log("hook done");
    });
    setInterval(() => {}, 1000);
    console.log("ready");`);
    assertEquals([hooked.status.code, hooked.status.signal, hooked.out], [0, null, "ready\nhook\nhook done\n"]);
    assert(hooked.ms >= 95, `exited ${hooked.ms.toFixed(0)} ms after SIGTERM, before the hook ended`);

    const stuck = await sigterm(`
    onShutdown(() => new Promise(() => {}), 300);
    setInterval(() => {}, 1000);
    console.log("ready");`);
    assertEquals([stuck.status.code, stuck.out], [0, "ready\n"]);
    assert(stuck.ms >= 290 && stuck.ms < 2000, `exited ${stuck.ms.toFixed(0)} ms after SIGTERM, not 300`);
    assert(stuck.stderr.includes("shutdown hook still running after 300 ms"), stuck.stderr);

    const plain = await sigterm(`
    void onShutdown;
    setInterval(() => {}, 1000);
    console.log("ready");`);
    assertEquals([plain.status.code, plain.status.signal, plain.out], [143, "SIGTERM", "ready\n"]);
  },
);
