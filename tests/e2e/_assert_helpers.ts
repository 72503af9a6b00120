// Assertions and arrangements shared by the e2e files: exact error replies, "nothing changed"
// snapshots of the rows a test touches, a request held on a row lock, an injected database
// fault, and setup that runs as hooks (not counted as tests).
import { assert, assertEquals } from "../assert.ts";
import { type Reply, setAutoProcess, sql } from "./_helpers.ts";

/**
 * Automatic processing of new orders off while this file runs (the file calls process-order
 * itself), back on (the default) afterwards. Hooks, not tests: a failure here fails the run, but
 * setup is not counted as a passed test.
 */
export function explicitProcessingHooks() {
  Deno.test.beforeAll(() => setAutoProcess(false));
  Deno.test.afterAll(() => setAutoProcess(true));
}

/** Automatic processing on (the default) before this file's tests. */
export function autoProcessingHook() {
  Deno.test.beforeAll(() => setAutoProcess(true));
}

/** A function's JSON error: exact status and code, a message, and the details if given. */
export function assertFnError(r: Reply, status: number, code: string, details?: unknown) {
  assertEquals([r.status, r.body?.error?.code], [status, code], JSON.stringify(r.body));
  assertEquals(typeof r.body.error.message, "string", JSON.stringify(r.body));
  if (details !== undefined) assertEquals(r.body.error.details, details, JSON.stringify(r.body));
}

/** A PostgREST error as supabase-js returns it: exact HTTP status and PostgreSQL/PostgREST code. */
export function assertRestError(
  r: { status: number; error: { code?: string; message?: string } | null },
  status: number,
  code: string,
  message?: RegExp,
) {
  assert(r.error, `expected an error, got ${JSON.stringify(r)}`);
  assertEquals([r.status, r.error.code], [status, code], JSON.stringify(r.error));
  if (message) assert(message.test(r.error.message ?? ""), `message ${JSON.stringify(r.error.message)} !~ ${message}`);
}

/**
 * Every row a test could have changed: the orders (with their items) and the products given,
 * plus the audit rows of those orders. Compare two snapshots to show that nothing changed.
 */
export async function snapshot(orderIds: number[], productIds: number[] = []) {
  const orders = await sql`select o.*, (select coalesce(jsonb_agg(to_jsonb(i) order by i.id), '[]')
      from public.order_items i where i.order_id = o.id) items
    from public.orders o where o.id = any(${orderIds}::bigint[]) order by o.id`;
  const products = await sql`select id, stock, active, unit_amount, currency from public.products
    where id = any(${productIds}::bigint[]) order by id`;
  const [audit] = await sql`select count(*)::int n from public.audit_log
    where table_name = 'orders' and record_id = any(${orderIds.map(String)}::text[])`;
  return JSON.parse(JSON.stringify({ orders, products, audit: audit.n }));
}

/** `before` (a snapshot) still holds: nothing the test can see changed. */
export async function assertUnchanged(before: Awaited<ReturnType<typeof snapshot>>, msg = "nothing changed") {
  const orderIds = before.orders.map((o: { id: number }) => Number(o.id));
  const productIds = before.products.map((p: { id: number }) => Number(p.id));
  assertEquals(await snapshot(orderIds, productIds), before, msg);
}

/** Poll until `fn` is truthy (at most `ms`); returns its last value. */
export async function until<T>(fn: () => Promise<T>, ms = 10_000, step = 20): Promise<T> {
  const end = Date.now() + ms;
  let v = await fn();
  while (!v && Date.now() < end) {
    await new Promise((r) => setTimeout(r, step));
    v = await fn();
  }
  return v;
}

/** `p`, or a failure naming `what` after `ms` (a request that should answer at once but waits). */
export async function within<T>(ms: number, p: Promise<T>, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([p, late]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Run `body` while the test's own transaction holds `select ... for update` on order `orderId`.
 * `blocked()` (passed to body) waits until another session is waiting for that lock: a
 * request is then deterministically held inside its apply RPC until `body` returns. Requests
 * made inside `body` that could wait for the same lock must be bounded with `within`: if `body`
 * throws, the transaction ends and the lock is released.
 */
export async function whileOrderLocked<T>(
  orderId: number,
  body: (blocked: () => Promise<void>) => Promise<T>,
): Promise<T> {
  const result = await sql.begin(async (tx) => {
    const [{ pid }] = await tx`select pg_backend_pid() pid`;
    await tx`select id from public.orders where id = ${orderId} for update`;
    const blocked = async () => {
      const waiting = await until(async () => {
        const [r] =
          await sql`select count(*)::int n from pg_stat_activity where ${pid}::int = any(pg_blocking_pids(pid))`;
        return r.n > 0;
      });
      assert(waiting, `no session waited for the lock on order ${orderId}`);
    };
    return await body(blocked);
  });
  return result as T;
}

/**
 * A database fault for one row: while `body` runs, every `op` of a `table` row whose `column` is
 * `id` fails with an unexpected PostgreSQL error (XX000, message `<message> <id>`), as a broken
 * migration or a lost disk would. The trigger is dropped afterwards, also when `body` throws.
 */
export async function withRowFault<T>(
  fault: { name: string; table: string; op: "insert" | "update"; column: string; id: number; message: string },
  body: () => Promise<T>,
): Promise<T> {
  const name = `${fault.name}_${Number(fault.id)}`;
  await sql.unsafe(`create schema if not exists e2e_faults`);
  await sql.unsafe(`create or replace function e2e_faults.${name}() returns trigger language plpgsql as $$
    begin raise exception '${fault.message} %', new.${fault.column} using errcode = 'XX000'; end $$`);
  await sql.unsafe(`create trigger ${name} before ${fault.op} on ${fault.table} for each row
    when (new.${fault.column} = ${Number(fault.id)}) execute function e2e_faults.${name}()`);
  try {
    return await body();
  } finally {
    await sql.unsafe(`drop trigger if exists ${name} on ${fault.table}`);
    await sql.unsafe(`drop function if exists e2e_faults.${name}()`);
    await sql.unsafe(`drop schema if exists e2e_faults`);
  }
}

/** Every UPDATE of order `orderId` fails (XX000) while `body` runs (withRowFault). */
export const withOrderFault = <T>(orderId: number, body: () => Promise<T>): Promise<T> =>
  withRowFault({
    name: "e2e_fault",
    table: "public.orders",
    op: "update",
    column: "id",
    id: orderId,
    message: "injected fault for order",
  }, body);
