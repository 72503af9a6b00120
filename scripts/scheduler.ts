// Local scheduler for database webhooks: what pg_cron + pg_net do on hosted Supabase
// (supabase/migrations/20261204002010_webhooks_schedule.sql), without either extension.
//
// It LISTENs on channel `webhooks`, which the capture trigger of every subscribed table NOTIFYs
// (notifications reach listeners only after the writing transaction commits, so the rows are
// there; the orders flow is one such subscription, orders -> fn:order-events, since
// 20261205000100_orders_via_webhooks.sql), and calls
// POST {API_URL}/functions/v1/webhook-dispatch with the secret key as `apikey` (what the pg_cron
// job sends; SERVICE_ROLE_KEY as bearer if no SECRET_KEY is given):
//   - promptly after inserts: bursts are coalesced into at most one call in flight plus one
//     queued; a call whose answer says `more` (its time budget ran out with work left) is
//     followed by another at once;
//   - on a slow timer (every SCHEDULER_TICK_MS, default 2 s), for retries whose backoff
//     expired and claims of a dispatcher that died; and sooner when a call reports that a
//     retry is due in less than that (`next_due_ms`).
// It also runs the retention purge, as pg_cron does daily on hosted Supabase
// (supabase/migrations/20261204000420_retention.sql): `select public.purge_retention()` (which
// runs `webhooks.purge()` too since 20261205000100) once at start and every
// RETENTION_INTERVAL_MS (default 1 h), again at once while it answers `more`.
// And it expires unpaid orders, as pg_cron does every minute on hosted Supabase
// (supabase/migrations/20261204003000_order_expiry.sql): `select public.expire_unpaid_orders()`
// every EXPIRY_INTERVAL_MS (default 1 s; one indexed query when nothing is due), again at once
// while a batch comes back full.
// Started and stopped by scripts/stack.sh (log: .stack/logs/scheduler.log).
import postgres from "npm:postgres";
import { API_URL, DB_URL } from "../tests/stack_env.ts";

const env = (name: string, fallback?: string): string => {
  const v = Deno.env.get(name) ?? fallback;
  if (!v) throw new Error(`scheduler: ${name} is not set`);
  return v;
};
const apiUrl = env("API_URL", API_URL);
const dbUrl = env("DB_URL", DB_URL);
const secretKey = Deno.env.get("SECRET_KEY");
const authHeaders: Record<string, string> = secretKey
  ? { apikey: secretKey }
  : { authorization: `Bearer ${env("SERVICE_ROLE_KEY")}` };
const tickMs = Number(env("SCHEDULER_TICK_MS", "2000"));
const CALL_TIMEOUT_MS = 150_000; // the dispatcher's budget is 20 s; this only catches a hang

type Report = {
  claimed: number;
  delivered: number;
  retried: number;
  dead: number;
  more: boolean;
  next_due_ms: number | null;
};

const log = (msg: string) => console.log(`${new Date().toISOString()} ${msg}`);

/** The dispatcher, called on its channel's notifications and on the tick. */
class Dispatcher {
  running = false; // a call is in flight
  queued = false; // another call is wanted once it returns
  wakeTimer: ReturnType<typeof setTimeout> | undefined;
  lastError = "";
  totals = { calls: 0, claimed: 0, delivered: 0, retried: 0, dead: 0 };

  constructor(readonly name: string) {}

  async call(): Promise<Report> {
    const resp = await fetch(`${apiUrl}/functions/v1/${this.name}`, {
      method: "POST",
      headers: { ...authHeaders, "content-type": "application/json" },
      body: "{}",
      signal: AbortSignal.timeout(CALL_TIMEOUT_MS),
    });
    const text = await resp.text();
    if (!resp.ok) throw new Error(`${this.name} answered ${resp.status}: ${text.slice(0, 300)}`);
    const report = JSON.parse(text) as Report;
    const t = this.totals;
    t.calls += 1;
    t.claimed += report.claimed;
    t.delivered += report.delivered;
    t.retried += report.retried;
    t.dead += report.dead;
    if (report.retried || report.dead) {
      log(
        `${this.name}: claimed ${report.claimed} delivered ${report.delivered} retried ${report.retried} dead ${report.dead}`,
      );
    }
    return report;
  }

  /** Call until nothing is left to do now; then arm the wake-up for the next due retry. */
  async drain() {
    this.running = true;
    let nextDue: number | null = null;
    try {
      do {
        this.queued = false;
        let report = await this.call();
        while (report.more) report = await this.call();
        nextDue = report.next_due_ms;
      } while (this.queued);
      this.lastError = "";
    } catch (err) {
      const msg = err instanceof Error ? err.message : String(err);
      if (msg !== this.lastError) log(`error: ${msg}`); // the tick retries; log each new error once
      this.lastError = msg;
    } finally {
      this.running = false;
    }
    if (nextDue !== null && nextDue < tickMs) {
      clearTimeout(this.wakeTimer);
      this.wakeTimer = setTimeout(() => this.kick(), Math.max(nextDue, 10));
    }
  }

  /** Something may be due: call now, or once the call in flight returns. */
  kick() {
    if (this.running) {
      this.queued = true;
      return;
    }
    this.drain();
  }
}

const hooks = new Dispatcher("webhook-dispatch");
const dispatchers = [hooks];

const sql = postgres(dbUrl, { max: 1, onnotice: () => {} });
// onlisten runs on every (re)connection: events written while disconnected are picked up.
await sql.listen("webhooks", () => hooks.kick(), () => {
  log("listening on channel webhooks");
  hooks.kick();
});
const tick = setInterval(() => dispatchers.forEach((d) => d.kick()), tickMs);

const retentionMs = Number(env("RETENTION_INTERVAL_MS", "3600000"));
let purging = false;
async function purge() {
  if (purging) return;
  purging = true;
  try {
    for (let i = 0; i < 100; i++) {
      const [{ result }] = await sql`select public.purge_retention() as result`;
      const r = result as Record<string, unknown> & { webhooks?: Record<string, unknown>; more?: boolean };
      const { webhooks = {}, ...own } = r;
      const deleted = [...Object.entries(own), ...Object.entries(webhooks)].filter(([k, v]) => k !== "more" && v);
      if (deleted.length) log(`retention: ${JSON.stringify(r)}`);
      if (!r.more) break;
    }
  } catch (err) {
    log(`retention: ${err instanceof Error ? err.message : err}`);
  } finally {
    purging = false;
  }
}
purge();
const retention = setInterval(purge, retentionMs);

const expiryMs = Number(env("EXPIRY_INTERVAL_MS", "1000"));
const EXPIRY_BATCH = 100;
let expiring = false;
async function expireUnpaid() {
  if (expiring) return;
  expiring = true;
  try {
    for (let i = 0; i < 100; i++) {
      const [{ n }] = await sql`select public.expire_unpaid_orders(${EXPIRY_BATCH}) as n`;
      if (n) log(`expiry: ${n} unpaid orders expired`);
      if (n < EXPIRY_BATCH) break;
    }
  } catch (err) {
    log(`expiry: ${err instanceof Error ? err.message : err}`);
  } finally {
    expiring = false;
  }
}
const expiry = setInterval(expireUnpaid, expiryMs);
const summary = setInterval(() => {
  for (const d of dispatchers) {
    if (d.totals.calls) log(`${d.name} last 60 s: ${JSON.stringify(d.totals)}`);
    Object.assign(d.totals, { calls: 0, claimed: 0, delivered: 0, retried: 0, dead: 0 });
  }
}, 60_000);
log(`scheduler started: ${apiUrl}/functions/v1/webhook-dispatch, tick ${tickMs} ms`);

const shutdown = async () => {
  clearInterval(tick);
  clearInterval(retention);
  clearInterval(expiry);
  clearInterval(summary);
  dispatchers.forEach((d) => clearTimeout(d.wakeTimer));
  await sql.end({ timeout: 1 });
  Deno.exit(0);
};
Deno.addSignalListener("SIGTERM", shutdown);
Deno.addSignalListener("SIGINT", shutdown);
