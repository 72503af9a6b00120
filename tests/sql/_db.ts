// Tests of the SQL rules against the local PostgreSQL (scripts/db.sh start; DB_URL from
// scripts/lib.sh). Each test file gets a database of its own, built from scripts/sql/bootstrap.sql
// and supabase/migrations (so it is independent of the stack's data, of a running dispatcher
// and of the other files), and opens one connection per session. Concurrency is deterministic:
// a session's statement is started, the test polls pg_locks (pg_blocking_pids) until it waits
// on a lock, then the holder commits or rolls back and the outcome is asserted. No fixed sleeps.
//
// Environment:
//   DB_URL              the server (default: this checkout's local stack, tests/stack_env.ts)
//   SQL_TEST_UNTIL      apply only migrations whose version is below this one (to show a test
//                       failing on the code before a fix)
//   SQL_TEST_BOOTSTRAP  another bootstrap file (e.g. an older version, same purpose)
//   SQL_TEST_KEEP=1     keep each file's database after the run (dropped otherwise)
//   SQL_TEST_MUTATE     apply the named mutation of tests/sql/_mutations.ts after the
//                       migrations (tests/sql/mutations.sh: each must turn a test red)
//   SQL_TEST_TEMPLATE   a template database made by tests/sql/_template.ts (tests/sql/run.sh
//                       and mutations.sh make one per run, and one per mutation): each file's
//                       database is then a copy of it (CREATE DATABASE ... TEMPLATE) instead of
//                       a build. It records the SQL_TEST_MUTATE/UNTIL/BOOTSTRAP it was built
//                       with, and a file refuses a template built for other settings. Files
//                       that build an older schema (`before`: the upgrade tests) always build.
//   SQL_TEST_RUN        a tag for this run's database names (sql_tests_<tag>_<file>), so that
//                       tests/sql/_template.ts drop-run can drop every one of them at the end
import postgres from "npm:postgres";
import { MUTATIONS } from "./_mutations.ts";
import { DB_URL } from "../stack_env.ts";

export type Sql = postgres.Sql;

const ROOT = new URL("../../", import.meta.url);
const BASE_URL = DB_URL;
const UNTIL = Deno.env.get("SQL_TEST_UNTIL");
const MUTATE = Deno.env.get("SQL_TEST_MUTATE");
const TEMPLATE = Deno.env.get("SQL_TEST_TEMPLATE");
const RUN = Deno.env.get("SQL_TEST_RUN");

/** Every statement of a test session gives up after this long rather than hang the suite. */
const STATEMENT_TIMEOUT_MS = 20_000;

function urlFor(db: string): string {
  const u = new URL(BASE_URL);
  u.pathname = `/${db}`;
  return u.toString();
}

/** The migration files, in order. */
function migrationFiles(): string[] {
  const dir = new URL("supabase/migrations/", ROOT);
  return [...Deno.readDirSync(dir)].map((e) => e.name).filter((n) => n.endsWith(".sql")).sort();
}

/** Apply the migrations whose version is at least `from` (and below SQL_TEST_UNTIL) to `db`. */
async function applyMigrations(db: Sql, from = "", before = UNTIL): Promise<string[]> {
  const applied = [];
  for (const f of migrationFiles()) {
    const version = f.split("_")[0];
    if (version < from || (before && version >= before)) continue;
    // One simple-protocol query: the statements of a file run in one implicit transaction.
    await db.unsafe(await Deno.readTextFile(new URL(`supabase/migrations/${f}`, ROOT)));
    applied.push(f);
  }
  return applied;
}

/** A server-level connection (to the `postgres` database) for `fn`. */
async function onServer<T>(fn: (server: Sql) => Promise<T>): Promise<T> {
  const server = postgres(BASE_URL, { max: 1, onnotice: () => {} });
  try {
    return await fn(server);
  } finally {
    await server.end();
  }
}

/** Edit the functions of `db` as mutation `name` of tests/sql/_mutations.ts says. */
async function applyMutation(db: Sql, name: string): Promise<void> {
  const m = MUTATIONS[name];
  if (!m) throw new Error(`unknown mutation ${name}; known: ${Object.keys(MUTATIONS).join(", ")}`);
  for (const { fn, from, to } of m.edits) {
    const [{ def }] = await db`select pg_get_functiondef(${fn}::regprocedure) as def`;
    if (!def.includes(from)) throw new Error(`mutation ${name}: text not found in ${fn}: ${from}`);
    await db.unsafe(def.split(from).join(to));
  }
}

/**
 * Create (or re-create) database `name` from the bootstrap and the migrations (those before
 * `before` only, when given: a database at an older schema), with mutation `mutate` applied.
 */
async function buildDatabase(name: string, before?: string, mutate?: string): Promise<void> {
  await onServer(async (server) => {
    await server.unsafe(`drop database if exists "${name}" with (force)`);
    await server.unsafe(`create database "${name}"`);
  });
  const db = postgres(urlFor(name), { max: 1, onnotice: () => {} });
  try {
    const bootstrap = Deno.env.get("SQL_TEST_BOOTSTRAP") ?? new URL("scripts/sql/bootstrap.sql", ROOT);
    await db.unsafe(await Deno.readTextFile(bootstrap));
    await applyMigrations(db, "", before ?? UNTIL);
    if (mutate) await applyMutation(db, mutate);
  } finally {
    await db.end();
  }
}

/** What a template is built for: a file copies only a template built for its own settings. */
function settings(mutate: string | undefined) {
  return JSON.stringify({
    mutate: mutate ?? null,
    until: UNTIL ?? null,
    bootstrap: Deno.env.get("SQL_TEST_BOOTSTRAP") ?? null,
  });
}

/**
 * Make template database `name` (tests/sql/_template.ts): built from the bootstrap and the
 * migrations (SQL_TEST_UNTIL, SQL_TEST_BOOTSTRAP as for a file's own build), or a copy of
 * template `from`; then mutation `mutate` applied. It then takes no connections: copies need
 * a template nobody is connected to.
 */
export async function buildTemplate(name: string, opts: { from?: string; mutate?: string } = {}): Promise<void> {
  if (opts.from) {
    await onServer(async (server) => {
      await dropDatabases(server, [name]);
      const [t] = await server`select shobj_description(oid, 'pg_database') as built
        from pg_database where datname = ${opts.from!} and datistemplate`;
      if (!t) throw new Error(`no template database ${opts.from}`);
      if (t.built !== settings(undefined)) throw new Error(`template ${opts.from} is not unmutated: ${t.built}`);
      await server.unsafe(`create database "${name}" template "${opts.from}"`);
    });
    if (opts.mutate) {
      const db = postgres(urlFor(name), { max: 1, onnotice: () => {} });
      try {
        await applyMutation(db, opts.mutate);
      } finally {
        await db.end();
      }
    }
  } else {
    await onServer((server) => dropDatabases(server, [name]));
    await buildDatabase(name, undefined, opts.mutate);
  }
  await onServer(async (server) => {
    await server.unsafe(`comment on database "${name}" is '${settings(opts.mutate).replaceAll("'", "''")}'`);
    await server.unsafe(`alter database "${name}" with is_template true allow_connections false`);
  });
}

/** Drop databases (templates too), whoever is connected. */
async function dropDatabases(server: Sql, names: string[]): Promise<void> {
  for (const name of names) {
    await server.unsafe(`alter database "${name}" with is_template false`).catch((e) => {
      if (e?.code !== "3D000") throw e; // there is no such database: nothing to drop
    });
    await server.unsafe(`drop database if exists "${name}" with (force)`);
  }
}

/** Drop every database of run `tag` (SQL_TEST_RUN): its templates and what its files left. */
export async function dropRun(tag: string): Promise<string[]> {
  if (!/^[a-z0-9]+$/.test(tag)) throw new Error(`bad run tag ${tag}`);
  return await onServer(async (server) => {
    const rows = await server`select datname from pg_database where datname like ${`sql\_tests\_${tag}\_%`}`;
    const names = rows.map((r) => r.datname as string);
    await dropDatabases(server, names);
    return names;
  });
}

/** Database `name` as a copy of SQL_TEST_TEMPLATE, which must be built for this file's settings. */
async function copyTemplate(name: string, template: string): Promise<void> {
  await onServer(async (server) => {
    const [t] = await server`select shobj_description(oid, 'pg_database') as built
      from pg_database where datname = ${template} and datistemplate`;
    if (!t) throw new Error(`SQL_TEST_TEMPLATE: no template database ${template}`);
    if (t.built !== settings(MUTATE)) {
      throw new Error(`SQL_TEST_TEMPLATE ${template} was built for ${t.built}, this run is ${settings(MUTATE)}`);
    }
    await server.unsafe(`drop database if exists "${name}" with (force)`);
    await server.unsafe(`create database "${name}" template "${template}"`);
  });
}

/**
 * The database of one test file: built once when the file loads. `admin` (a superuser pool)
 * arranges fixtures and checks effects; `session()` opens one dedicated connection.
 */
export async function testDatabase(name: string, opts: { before?: string } = {}) {
  const dbName = RUN ? `sql_tests_${RUN}_${name}` : `sql_tests_${name}`;
  // An older schema is always built (the upgrade tests apply the new migrations to it, and a
  // mutation is never applied there: the migrations would replace it).
  if (TEMPLATE && !opts.before) await copyTemplate(dbName, TEMPLATE);
  else await buildDatabase(dbName, opts.before, opts.before ? undefined : MUTATE);
  const url = urlFor(dbName);
  const admin = postgres(url, { max: 4, onnotice: () => {} });
  const sessions: Session[] = [];
  let closed = false;
  const db = {
    admin,
    url,
    /** Apply the migrations from version `from` on (a database built with `before`): the upgrade. */
    migrate(from: string): Promise<string[]> {
      return applyMigrations(admin, from);
    },
    async session(label = "session"): Promise<Session> {
      const sql = postgres(url, {
        max: 1,
        onnotice: () => {},
        connection: { application_name: `sql-test ${label}`, statement_timeout: STATEMENT_TIMEOUT_MS },
      });
      const [{ pid }] = await sql`select pg_backend_pid() as pid`;
      const s = new Session(sql, Number(pid), admin);
      sessions.push(s);
      return s;
    },
    /**
     * Close every connection and drop the database (kept with SQL_TEST_KEEP=1, to look at).
     * Runs once, after the file's last test (registered below); calling it earlier is fine.
     */
    async close() {
      if (closed) return;
      closed = true;
      for (const s of sessions) await s.sql.end({ timeout: 1 });
      await admin.end({ timeout: 1 });
      if (Deno.env.get("SQL_TEST_KEEP") === "1") return;
      await onServer((server) => server.unsafe(`drop database if exists "${dbName}" with (force)`));
    },
  };
  Deno.test.afterAll(() => db.close());
  return db;
}

export type Claims = { role: string; sub?: string };

/** One connection. `begin(claims)` opens a transaction as the role that calls in production. */
export class Session {
  constructor(readonly sql: Sql, readonly pid: number, private admin: Sql) {}

  /** begin; set local role <role>; request.jwt.claims as PostgREST sets them. */
  async begin(claims: Claims): Promise<void> {
    await this.sql`begin`;
    await this.as(claims);
  }

  /** Inside an open transaction: act as `claims.role` with those JWT claims. */
  async as(claims: Claims): Promise<void> {
    if (!/^(service_role|authenticated|anon)$/.test(claims.role)) throw new Error(`role ${claims.role}`);
    await this.sql.unsafe(`set local role ${claims.role}`);
    await this.sql`select set_config('request.jwt.claims', ${JSON.stringify(claims)}, true)`;
  }

  async commit(): Promise<void> {
    await this.sql`commit`;
  }

  async rollback(): Promise<void> {
    await this.sql`rollback`;
  }

  /** Start a statement without waiting for it. */
  start<T>(query: Promise<T>): Pending<T> {
    return new Pending(query);
  }

  /** Poll until this session waits on a lock held by another (pg_blocking_pids). */
  async waitUntilBlocked(pending?: Pending<unknown>, ms = 10_000): Promise<void> {
    const end = Date.now() + ms;
    while (Date.now() < end) {
      const [r] = await this.admin`select cardinality(pg_blocking_pids(${this.pid}::int)) > 0 as blocked`;
      if (r.blocked) return;
      if (pending?.done) {
        throw new Error(
          `expected session ${this.pid} to wait on a lock, but its statement finished: ${
            JSON.stringify(await pending.result, (_k, v) => v instanceof Error ? String(v) : v)
          }`,
        );
      }
      await new Promise((r) => setTimeout(r, 5));
    }
    throw new Error(`session ${this.pid} did not wait on a lock within ${ms} ms`);
  }

  /** Poll until this session waits on a lock, or its statement has finished (either is fine). */
  async waitUntilBlockedOrDone(pending: Pending<unknown>, ms = 10_000): Promise<"blocked" | "done"> {
    const end = Date.now() + ms;
    while (Date.now() < end) {
      if (pending.done) return "done";
      const [r] = await this.admin`select cardinality(pg_blocking_pids(${this.pid}::int)) > 0 as blocked`;
      if (r.blocked) return "blocked";
      await new Promise((r) => setTimeout(r, 5));
    }
    throw new Error(`session ${this.pid} neither waited nor finished within ${ms} ms`);
  }
}

export type Settled<T> = { ok: true; value: T } | { ok: false; error: any };

/** A statement in flight: `done` once it settled; `result` never rejects. */
export class Pending<T> {
  done = false;
  readonly result: Promise<Settled<T>>;
  constructor(query: Promise<T>) {
    this.result = query.then(
      (value) => {
        this.done = true;
        return { ok: true as const, value };
      },
      (error) => {
        this.done = true;
        return { ok: false as const, error };
      },
    );
  }
}

/** The SQLSTATE of a settled failure (or "ok"). */
export function codeOf(r: Settled<unknown>): string {
  return r.ok ? "ok" : String(r.error?.code ?? r.error);
}

/** Deno.test with the pools' timers allowed to outlive single tests. */
export function sqlTest(name: string, fn: () => Promise<void>) {
  Deno.test({ name, fn, sanitizeOps: false, sanitizeResources: false });
}

export const SERVICE: Claims = { role: "service_role" };

/** Fixtures and calls used by several files. */
export function fixtures(admin: Sql) {
  return {
    async user(): Promise<string> {
      const id = crypto.randomUUID();
      await admin`insert into auth.users (id, email) values (${id}, ${id + "@sql.test"})`;
      return id;
    },
    async product(opts: { price?: number; stock?: number; currency?: string } = {}): Promise<number> {
      const sku = `S-${crypto.randomUUID()}`;
      const [r] = await admin`insert into public.products (sku, name, unit_amount, currency, stock)
        values (${sku}, ${sku}, ${opts.price ?? 1000}, ${opts.currency ?? "USD"}, ${opts.stock ?? 100})
        returning id`;
      return Number(r.id);
    },
    /** place_order as the user (authenticated), items in the given order. */
    async order(
      user: string,
      items: [number, number][],
      opts: { discount_code?: string; shipping_region?: string } = {},
    ): Promise<number> {
      return await admin.begin(async (tx) => {
        await tx.unsafe("set local role authenticated");
        await tx`select set_config('request.jwt.claims', ${
          JSON.stringify({ role: "authenticated", sub: user })
        }, true)`;
        const [o] = await tx`select (public.place_order('USD',
          ${tx.json(items.map(([product_id, quantity]) => ({ product_id, quantity })))},
          ${opts.discount_code ?? null}, ${opts.shipping_region ?? null})).id`;
        return Number(o.id);
      });
    },
    async stock(product: number): Promise<number> {
      const [r] = await admin`select stock from public.products where id = ${product}`;
      return Number(r.stock);
    },
    async status(order: number): Promise<string> {
      const [r] = await admin`select status from public.orders where id = ${order}`;
      return r.status;
    },
    async items(order: number): Promise<[number, number][]> {
      const rows =
        await admin`select product_id, quantity from public.order_items where order_id = ${order} order by id`;
      return rows.map((r) => [Number(r.product_id), Number(r.quantity)]);
    },
    /** The lines as Rust priced them: what order_for_processing showed at that moment. */
    async pricedLines(order: number) {
      const rows = await admin`select product_id, quantity, unit_amount from public.order_items
        where order_id = ${order} order by id`;
      return rows.map((r) => ({
        product_id: Number(r.product_id),
        quantity: Number(r.quantity),
        unit_amount: Number(r.unit_amount),
      }));
    },
  };
}

/** apply_order_processing as the process-order function calls it (service_role), on `sql`. */
export function applyProcessing(
  sql: Sql,
  order: number,
  lines: { product_id: number; quantity: number; unit_amount: number }[],
  opts: { expected?: string; discount_code?: string; discount?: number } = {},
) {
  const subtotal = lines.reduce((a, l) => a + l.quantity * l.unit_amount, 0);
  const discount = opts.discount ?? 0;
  return sql`select public.apply_order_processing(
      order_id => ${order}, expected_status => ${opts.expected ?? "pending"},
      subtotal_amount => ${subtotal}, discount_amount => ${discount}, tax_amount => 0,
      shipping_amount => 0, total_amount => ${subtotal - discount},
      lines => ${sql.json(lines)}, discount_code => ${opts.discount_code ?? null}) as r`
    .then((rows) => rows[0].r as Record<string, any>);
}

/** order_transition as cancel-order calls it (service_role), on `sql`. */
export function transition(sql: Sql, order: number, from: string, to: string) {
  return sql`select public.order_transition(${order}, ${from}, ${to}) as r`.then((rows) =>
    rows[0].r as Record<string, any>
  );
}
