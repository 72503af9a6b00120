// webhook-admin on the running stack: the database webhooks' SQL API over HTTP. Only the
// service role (a secret key, or the legacy service_role key) may call it; bad input is a 400
// with a JSON error and changes nothing; an unknown endpoint is a 404.
import { assert, assertEquals } from "../assert.ts";
import { ANON_KEY, callFn, e2e, PUBLISHABLE_KEY, signUserJwt, sql } from "./_helpers.ts";
import { assertFnError } from "./_assert_helpers.ts";

const admin = (action: string, args?: unknown, token?: string | null) =>
  callFn("webhook-admin", args === undefined ? { action } : { action, args }, { token });

/** Everything a refused call could have changed. */
async function state() {
  const [r] = await sql`select
    (select count(*)::int from webhooks.endpoints) as endpoints,
    (select coalesce(jsonb_agg(jsonb_build_object('id', id, 'enabled', enabled, 'url', url) order by id), '[]')
       from webhooks.endpoints) as rows,
    (select count(*)::int from webhooks.endpoint_secrets) as secrets,
    (select count(*)::int from webhooks.subscriptions) as subscriptions,
    (select count(*)::int from webhooks.deliveries where status = 'pending') as pending`;
  return r;
}

const table = `e2e_admin_${crypto.randomUUID().slice(0, 8)}`;
await sql.unsafe(`create table public.${table} (id bigint primary key, v text)`);

e2e(
  "webhook-admin: 401 without the service role (no key, publishable key, a user's JWT), nothing changed",
  async () => {
    const before = await state();
    const user = await signUserJwt({
      sub: crypto.randomUUID(),
      role: "authenticated",
      aud: "authenticated",
      exp: Math.floor(Date.now() / 1000) + 600,
    });
    for (const token of [null, PUBLISHABLE_KEY, ANON_KEY, user]) {
      const r = await admin("create_endpoint", { url: "https://example.com/hook" }, token);
      assertFnError(r, 401, "unauthorized");
    }
    assertEquals(await state(), before);
  },
);

e2e("webhook-admin: bad input is 400 with a JSON error, an unknown endpoint 404, nothing changed", async () => {
  const before = await state();
  const cases: [unknown, string][] = [
    [{ action: "drop_everything" }, "invalid_input"],
    [{ action: "create_endpoint", args: { url: "ftp://example.com/" } }, "invalid_input"],
    [{ action: "create_endpoint", args: { url: "https://example.com/", event_types: "x.insert" } }, "invalid_input"],
    [{ action: "create_endpoint", args: { url: "https://example.com/", event_types: ["nodot"] } }, "invalid_input"],
    [{ action: "rotate_secret", args: { id: "not-a-uuid" } }, "invalid_input"],
    [{ action: "replay", args: { id: crypto.randomUUID() } }, "not_found"],
    [{ action: "subscribe", args: { table: "public.no_such_table_here" } }, "invalid_input"],
    [{ action: "subscribe", args: { table: `public.${table}`, events: ["TRUNCATE"] } }, "invalid_input"],
    [{ action: "list_endpoints", args: [] }, "invalid_body"],
    [{ action: "list_endpoints", extra: true }, "invalid_body"],
  ];
  for (const [body, code] of cases) {
    const r = await callFn("webhook-admin", body);
    const status = code === "not_found" ? 404 : 400;
    assertEquals([r.status, r.body?.error?.code], [status, code], JSON.stringify(body));
    assert(typeof r.body.error.message === "string");
  }
  const raw = await callFn("webhook-admin", null, { raw: "{not json" });
  assertEquals(raw.status, 400);
  assertEquals(await state(), before);
});

e2e(
  "webhook-admin: subscribe, create, rotate, disable, enable, list, replay, requeue, unsubscribe, delete",
  async () => {
    const sub = await admin("subscribe", { table: `public.${table}`, events: ["insert", "update"] });
    assertEquals(sub.status, 200);
    assertEquals(sub.body.result, { schema: "public", table, events: ["INSERT", "UPDATE"], key_columns: ["id"] });
    // An endpoint nobody listens on, disabled at once: deliveries wait, nothing is sent.
    const created = await admin("create_endpoint", {
      url: "https://hooks.invalid/x",
      event_types: [`${table}.insert`],
      description: "e2e",
    });
    assertEquals(created.status, 200);
    const { id, secret } = created.body.result;
    assert(/^whsec_[A-Za-z0-9+/]{43}=$/.test(secret), secret);
    assertEquals((await admin("disable_endpoint", { id, reason: "maintenance" })).body.result, { id, enabled: false });
    const [e] = await sql`select enabled, disabled_reason from webhooks.endpoints where id = ${id}`;
    assertEquals([e.enabled, e.disabled_reason], [false, "maintenance"]);
    const rotated = await admin("rotate_secret", { id });
    assert(rotated.body.result.secret !== secret && rotated.body.result.secret.startsWith("whsec_"));
    const [{ n: secrets }] =
      await sql`select count(*)::int as n from webhooks.endpoint_secrets where endpoint_id = ${id}`;
    assertEquals(secrets, 2);
    // Disabled: a new row makes no delivery to it; replay brings it.
    await sql.unsafe(`insert into public.${table} (id, v) values (1, 'a')`);
    const list = await admin("list_endpoints");
    const mine = list.body.result.find((x: { endpoint_id: string }) => x.endpoint_id === id);
    assertEquals([mine.enabled, mine.pending, mine.disabled_reason], [false, 0, "maintenance"]);
    const replay = await admin("replay", { id, since: new Date(Date.now() - 60_000).toISOString() });
    assertEquals(replay.body.result, { requeued: 1 });
    const deliveries = await admin("list_deliveries", { endpoint_id: id });
    assertEquals(deliveries.body.result.map((d: { status: string }) => d.status), ["pending"]);
    assertEquals(deliveries.body.result[0].event_type, `${table}.insert`);
    // requeue_dead: make it dead, requeue by endpoint.
    await sql`update webhooks.deliveries set status = 'dead', finished_at = now() where endpoint_id = ${id}`;
    assertEquals((await admin("requeue_dead", { endpoint_id: id })).body.result, { requeued: 1 });
    assertEquals((await admin("list_attempts", { endpoint_id: id })).body.result, []);
    assertEquals((await admin("unsubscribe", { table: `public.${table}` })).body.result, { unsubscribed: true });
    assertEquals((await admin("delete_endpoint", { id })).body.result, { id, deleted: true });
    assertFnError(await admin("enable_endpoint", { id }), 404, "not_found");
    const [{ n }] = await sql`select count(*)::int as n from webhooks.deliveries where endpoint_id = ${id}`;
    assertEquals(n, 0);
    await sql.unsafe(`drop table public.${table}`);
  },
);
