// Tests and benchmarks leave the database as they found it. `markRows` notes, for every table of
// the project's schemas (all but PostgreSQL's own and the migration history, so a new table is
// covered without a change here), which rows it holds: the largest id for a table keyed by one
// integer column, the primary keys (or whole rows, without one) otherwise. `deleteRowsSince`
// then deletes every row added after the mark, in passes until one finds nothing (deliveries
// still in flight when it starts land later). Rows the mark saw are kept as they are (an update
// to a seeded row is not undone). Triggers are off while it deletes (session_replication_role =
// replica): no audit rows about the clean-up, no guard refusing to drop a processed order's
// items; every table is cleaned, so nothing dangles. Needs a superuser connection (DB_URL).
import type postgres from "npm:postgres";

type Sql = ReturnType<typeof postgres>;
type TableMark = { table: string; key: string; maxId?: string; keys?: string[] };
export type RowMark = TableMark[];

const SYSTEM = ["pg_catalog", "information_schema", "supabase_migrations"];

export async function markRows(sql: Sql): Promise<RowMark> {
  const tables = await sql<{ table: string; pk: string[] | null; int_pk: boolean }[]>`
    select format('%I.%I', n.nspname, c.relname) as table,
      (select array_agg(quote_ident(a.attname) order by a.attnum) from pg_index i
        join pg_attribute a on a.attrelid = i.indrelid and a.attnum = any(i.indkey)
        where i.indrelid = c.oid and i.indisprimary) as pk,
      (select count(*) = 1 and bool_and(a.atttypid in ('int2'::regtype, 'int4'::regtype, 'int8'::regtype))
        from pg_index i join pg_attribute a on a.attrelid = i.indrelid and a.attnum = any(i.indkey)
        where i.indrelid = c.oid and i.indisprimary) as int_pk
    from pg_class c join pg_namespace n on n.oid = c.relnamespace
    where c.relkind in ('r', 'p') and not c.relispartition and n.nspname <> all(${SYSTEM})
      and n.nspname not like 'pg\\_%'
    order by 1`;
  const mark: RowMark = [];
  for (const t of tables) {
    if (t.pk && t.int_pk) {
      const [row] = await sql.unsafe(`select coalesce(max(${t.pk[0]}), 0)::text as m from ${t.table}`);
      mark.push({ table: t.table, key: t.pk[0], maxId: row.m });
    } else {
      const key = t.pk ? `row(${t.pk.join(", ")})::text` : `t::text`;
      const rows = await sql.unsafe(`select ${key} as k from ${t.table} t`);
      mark.push({ table: t.table, key, keys: rows.map((r) => r.k as string) });
    }
  }
  return mark;
}

/** Deletes the rows added since `mark`; returns how many. */
export async function deleteRowsSince(sql: Sql, mark: RowMark, settleMs = 500): Promise<number> {
  let total = 0;
  for (let pass = 0; pass < 20; pass++) {
    const deleted = await sql.begin(async (tx) => {
      await tx`set local session_replication_role = replica`;
      let n = 0;
      for (const t of mark) {
        const r = t.maxId !== undefined
          ? await tx.unsafe(`delete from ${t.table} where ${t.key} > $1`, [t.maxId])
          : await tx.unsafe(`delete from ${t.table} t where ${t.key} not in (select unnest($1::text[]))`, [t.keys!]);
        n += r.count;
      }
      return n;
    });
    total += deleted;
    if (deleted === 0 && pass > 0) return total;
    await new Promise((r) => setTimeout(r, settleMs));
  }
  throw new Error("rows kept arriving while cleaning up (a process still writing?)");
}
