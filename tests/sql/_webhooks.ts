// The dispatcher's two calls (webhooks.claim_deliveries, webhooks.record_attempts) for the
// tests/sql/webhooks*.test.ts files, and the orders flow's endpoint and events
// (20261205000100_orders_via_webhooks.sql) for the files that wait on or count order events.
import type { Sql } from "./_db.ts";

export type Delivery = {
  id: number;
  webhook_id: string;
  endpoint_id: string;
  url: string;
  secrets: string[];
  secret_env?: string | null;
  payload: Record<string, unknown>;
  event_type: string;
  attempt: number;
  row_key: string | null;
};
export type Claim = { claim: string; deliveries: Delivery[]; next_due_ms: number | null };

/** claim(sql = admin, batch, maxPerRow) and record(token, results), on `admin` by default. */
export function dispatcherCalls(admin: Sql) {
  return {
    async claim(sql: Sql = admin, batch = 100, maxPerRow = 4): Promise<Claim> {
      const [r] = await sql`select webhooks.claim_deliveries(${batch}, ${maxPerRow}) as r`;
      const c = r.r as Claim;
      c.deliveries.forEach((d) => (d.id = Number(d.id)));
      return c;
    },
    async record(token: string, results: unknown[]): Promise<Record<string, any>> {
      const [r] = await admin`select webhooks.record_attempts(${token}::uuid, ${admin.json(results as any)}) as r`;
      return r.r;
    },
  };
}

/** endpoint(url, types): a new endpoint with a generated secret. reset(): public.things
 * subscribed afresh, no endpoint, no event, the default settings. */
export function fixtures(admin: Sql) {
  return {
    async endpoint(url = "https://example.com/hook", types: string[] | null = null) {
      const [r] = await admin`select * from webhooks.create_endpoint(${url}, ${types}::text[])`;
      return { id: r.id as string, secret: r.secret as string };
    },
    async reset() {
      await admin`select webhooks.unsubscribe('public.things')`;
      await admin`delete from public.things`;
      await admin`delete from webhooks.endpoints`;
      await admin`delete from webhooks.events`;
      await admin`update webhooks.config set retry_schedule_seconds = default, max_retry_after_seconds = default,
        auto_disable_after = default, secret_overlap = default`;
      await admin`select webhooks.subscribe('public.things')`;
    },
  };
}

/** The id of the orders flow's endpoint, fn:order-events (20261205000100_orders_via_webhooks.sql). */
export async function orderEventsEndpoint(admin: Sql): Promise<string> {
  const rows = await admin`select id from webhooks.endpoints where url = 'fn:order-events'`;
  if (rows.length !== 1) throw new Error(`expected one fn:order-events endpoint, found ${rows.length}`);
  return rows[0].id;
}

/** Order `order`'s events to fn:order-events, in order, each with its delivery's state. */
export async function orderEvents(admin: Sql, order: number) {
  return await admin`select v.message_id, v.event_type, v.payload, d.id as delivery_id, d.status, d.attempts
    from webhooks.events v join webhooks.deliveries d on d.event_id = v.id
    join webhooks.endpoints e on e.id = d.endpoint_id
    where e.url = 'fn:order-events' and v.schema_name = 'public' and v.table_name = 'orders'
      and v.row_key = ${JSON.stringify([order])}
    order by d.id`;
}
