// webhook-admin on the running stack: the database webhooks' SQL API over HTTP. Only the
// service role (a secret key, or the legacy service_role key) may call it; bad input is a 400
// with a JSON error and changes nothing; an unknown endpoint is a 404.
import { assert, assertEquals } from "../assert.ts";
import { ANON_KEY, callFn, e2e, PUBLISHABLE_KEY, signUserJwt, sql } from "./_helpers.ts";
import { assertFnError } from "./_assert_helpers.ts";
import { parse as parseDotenv } from "npm:dotenv";

const admin = (action: string, args?: unknown, token?: string | null) =>
  callFn("webhook-admin", args === undefined ? { action } : { action, args }, { token });

/** Everything a refused call could have changed (deliveries to fn:order-events aside: the
 * orders flow's own traffic may move meanwhile). */
async function state() {
  const [r] = await sql`select
    (select count(*)::int from webhooks.endpoints) as endpoints,
    (select coalesce(jsonb_agg(jsonb_build_object('id', id, 'enabled', enabled, 'url', url) order by id), '[]')
       from webhooks.endpoints) as rows,
    (select count(*)::int from webhooks.endpoint_secrets) as secrets,
    (select count(*)::int from webhooks.subscriptions) as subscriptions,
    (select count(*)::int from webhooks.deliveries where status = 'pending' and endpoint_id not in (
       select id from webhooks.endpoints where url = 'fn:order-events')) as pending,
    (select coalesce(jsonb_agg(jsonb_build_object('id', id, 'secret_env', secret_env,
       'dead_blocks_row', dead_blocks_row) order by id), '[]') from webhooks.endpoints) as settings,
    (select coalesce(jsonb_agg(jsonb_build_object('id', id, 'secret', secret, 'expires_at', expires_at) order by id), '[]')
       from webhooks.endpoint_secrets) as secret_rows,
    (select coalesce(jsonb_agg(jsonb_build_object('t', table_name, 'events', events, 'u', update_columns)
       order by table_name), '[]') from webhooks.subscriptions) as subscription_rows,
    (select coalesce(jsonb_agg(jsonb_build_object('id', id, 'status', status, 'attempts', attempts) order by id), '[]')
       from webhooks.deliveries where endpoint_id not in (
       select id from webhooks.endpoints where url = 'fn:order-events')) as delivery_rows,
    (select coalesce(jsonb_agg(tgname::text order by tgname), '[]') from pg_trigger
      where tgname like 'webhooks_capture%' and not tgisinternal) as triggers`;
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

// set_secret_env, set_dead_blocks_row and subscribe's update_columns (20261205000210), on a
// table of their own.
const table2 = `e2e_admin2_${crypto.randomUUID().slice(0, 8)}`;
await sql.unsafe(`create table public.${table2} (id bigint primary key, v text, w int not null default 0)`);
const functionEnv = parseDotenv(Deno.readTextFileSync(new URL("../../supabase/functions/.env", import.meta.url)));

/** Every refused call: the status and code, a message, nothing changed, `hidden` never in the answer. */
async function refused(cases: [string, unknown, number, string][], hidden: string[] = []) {
  const before = await state();
  for (const [action, args, status, code] of cases) {
    const r = await admin(action, args);
    const what = `${action} ${JSON.stringify(args)}`;
    assertEquals([r.status, r.body?.error?.code], [status, code], what);
    assert(typeof r.body.error.message === "string" && r.body.error.message.length > 0, what);
    for (const h of hidden) assert(!JSON.stringify(r.body).includes(h), `${what} echoed a secret`);
  }
  assertEquals(await state(), before);
}

e2e(
  "webhook-admin: set_secret_env signs a fn: endpoint with a function secret by name, null goes back; bad input 400/404, nothing changed, no secret echoed",
  async () => {
    const fn = await admin("create_endpoint", { url: "fn:order-events", event_types: ["e2e_admin_none.insert"] });
    const web = await admin("create_endpoint", {
      url: "https://hooks.invalid/y",
      event_types: ["e2e_admin_none.insert"],
    });
    assertEquals([fn.status, web.status], [200, 200]);
    const id = fn.body.result.id as string;
    const value = functionEnv.ORDER_EVENTS_SECRET as string;
    assert(value?.startsWith("whsec_"));
    const looksLikeASecret = "whsec_" + btoa("a-secret-value-put-where-a-name-goes");
    await refused([
      ["set_secret_env", { id }, 400, "invalid_input"], // secret_env must be given (null to go back)
      ["set_secret_env", { id, secret_env: 42 }, 400, "invalid_input"],
      ["set_secret_env", { id, secret_env: ["ORDER_EVENTS_SECRET"] }, 400, "invalid_input"],
      ["set_secret_env", { id, secret_env: "order_events_secret" }, 400, "invalid_input"],
      ["set_secret_env", { id, secret_env: "ORDER_EVENTS_KEY" }, 400, "invalid_input"],
      ["set_secret_env", { id, secret_env: "SUPABASE_JWT_SECRET" }, 400, "invalid_input"],
      ["set_secret_env", { id, secret_env: "SB_ANY_SECRET" }, 400, "invalid_input"],
      ["set_secret_env", { id, secret_env: `A${"B".repeat(130)}_SECRET` }, 400, "invalid_input"],
      ["set_secret_env", { id, secret_env: looksLikeASecret }, 400, "invalid_input"],
      ["set_secret_env", { id: web.body.result.id, secret_env: "ORDER_EVENTS_SECRET" }, 400, "invalid_input"],
      ["set_secret_env", { secret_env: "ORDER_EVENTS_SECRET" }, 400, "invalid_input"],
      ["set_secret_env", { id: "nope", secret_env: "ORDER_EVENTS_SECRET" }, 400, "invalid_input"],
      ["set_secret_env", { id: crypto.randomUUID(), secret_env: "ORDER_EVENTS_SECRET" }, 404, "not_found"],
    ], [looksLikeASecret.slice(6), value]);

    const set = await admin("set_secret_env", { id, secret_env: "ORDER_EVENTS_SECRET" });
    assertEquals([set.status, set.body], [200, { result: { id, secret_env: "ORDER_EVENTS_SECRET" } }]);
    const [e] = await sql`select secret_env, (select count(*)::int from webhooks.endpoint_secrets
      where endpoint_id = ${id}) as stored from webhooks.endpoints where id = ${id}`;
    assertEquals([e.secret_env, e.stored], ["ORDER_EVENTS_SECRET", 0]);
    const list = await admin("list_endpoints");
    const mine = list.body.result.find((x: { endpoint_id: string }) => x.endpoint_id === id);
    assertEquals([mine.secret_env, mine.dead_blocks_row], ["ORDER_EVENTS_SECRET", false]);
    assert(!JSON.stringify(list.body).includes(value), "list_endpoints echoed the function secret");
    // Rotation is the function secret's own: refused, naming the variable, nothing written.
    await refused([["rotate_secret", { id }, 400, "invalid_input"]], [value]);
    const rot = await admin("rotate_secret", { id });
    assert(rot.body.error.message.includes("ORDER_EVENTS_SECRET"), rot.body.error.message);

    // null: back to a stored, generated secret, which the answer carries (as rotate_secret's).
    const back = await admin("set_secret_env", { id, secret_env: null });
    assertEquals(back.status, 200);
    const { secret, ...rest } = back.body.result;
    assertEquals(rest, { id, secret_env: null });
    assert(/^whsec_[A-Za-z0-9+/]{43}=$/.test(secret), secret);
    const rows = await sql`select k.secret, e.secret_env from webhooks.endpoint_secrets k
      join webhooks.endpoints e on e.id = k.endpoint_id where k.endpoint_id = ${id}`;
    assertEquals(rows.map((r) => [r.secret, r.secret_env]), [[secret, null]]);
    for (const x of [id, web.body.result.id]) assertEquals((await admin("delete_endpoint", { id: x })).status, 200);
  },
);

e2e(
  "webhook-admin: set_dead_blocks_row holds a row behind its dead delivery, list_endpoints counts the held ones, replay keeps the row's order; bad input 400/404",
  async () => {
    await sql`select webhooks.subscribe(${`public.${table2}`}::regclass)`;
    const created = await admin("create_endpoint", {
      url: "https://hooks.invalid/held",
      event_types: [`${table2}.insert`, `${table2}.update`],
    });
    const id = created.body.result.id as string;
    // Disabled while its deliveries are made, so no dispatcher tries them.
    assertEquals((await admin("disable_endpoint", { id })).status, 200);
    await refused([
      ["set_dead_blocks_row", { id }, 400, "invalid_input"],
      ["set_dead_blocks_row", { id, dead_blocks_row: null }, 400, "invalid_input"],
      ["set_dead_blocks_row", { id, dead_blocks_row: "true" }, 400, "invalid_input"],
      ["set_dead_blocks_row", { id, dead_blocks_row: 1 }, 400, "invalid_input"],
      ["set_dead_blocks_row", { dead_blocks_row: true }, 400, "invalid_input"],
      ["set_dead_blocks_row", { id: "nope", dead_blocks_row: true }, 400, "invalid_input"],
      ["set_dead_blocks_row", { id: crypto.randomUUID(), dead_blocks_row: true }, 404, "not_found"],
    ]);
    // Row 1: insert, then two updates; its insert's delivery dead. Row 2: insert.
    await sql.unsafe(`insert into public.${table2} (id) values (1), (2)`);
    await sql.unsafe(`update public.${table2} set w = w + 1 where id = 1`);
    await sql.unsafe(`update public.${table2} set w = w + 1 where id = 1`);
    const since = new Date(Date.now() - 60_000).toISOString();
    assertEquals((await admin("replay", { id, since })).body.result, { requeued: 4 });
    const [first] = await sql`select d.id from webhooks.deliveries d where d.endpoint_id = ${id}
      and d.row_key = '[1]' order by d.id limit 1`;
    await sql`update webhooks.deliveries set status = 'dead', finished_at = now(), attempts = 8
      where id = ${first.id}`;
    const stats = async () => {
      const r = await admin("list_endpoints");
      const m = r.body.result.find((x: { endpoint_id: string }) => x.endpoint_id === id);
      return { blocks: m.dead_blocks_row, pending: m.pending, dead: m.dead, held: m.held, holding: m.holding };
    };
    assertEquals(await stats(), { blocks: false, pending: 3, dead: 1, held: 0, holding: 0 });
    const on = await admin("set_dead_blocks_row", { id, dead_blocks_row: true });
    assertEquals([on.status, on.body], [200, { result: { id, dead_blocks_row: true } }]);
    assertEquals(await stats(), { blocks: true, pending: 3, dead: 1, held: 2, holding: 1 });
    const [e] = await sql`select dead_blocks_row from webhooks.endpoints where id = ${id}`;
    assertEquals(e.dead_blocks_row, true);
    // Replay while it blocks: the dead delivery is requeued in place (its id, before the ones it
    // held), not superseded by a later one; nothing is held any more.
    assertEquals((await admin("replay", { id, since })).body.result, { requeued: 1 });
    const row1 = await sql`select id, status, attempts from webhooks.deliveries where endpoint_id = ${id}
      and row_key = '[1]' order by id`;
    assertEquals(row1.length, 3);
    assertEquals([row1[0].id, row1[0].status, row1[0].attempts], [first.id, "pending", 0]);
    assertEquals(await stats(), { blocks: true, pending: 4, dead: 0, held: 0, holding: 0 });
    const off = await admin("set_dead_blocks_row", { id, dead_blocks_row: false });
    assertEquals(off.body.result, { id, dead_blocks_row: false });
    assertEquals((await admin("delete_endpoint", { id })).status, 200);
  },
);

e2e(
  "webhook-admin: subscribe with update_columns captures an UPDATE only when one of them changed; bad columns 400, nothing changed",
  async () => {
    const target = `public.${table2}`;
    const sub = await admin("subscribe", { table: target, events: ["insert", "update"], update_columns: ["v"] });
    assertEquals([sub.status, sub.body.result], [200, {
      schema: "public",
      table: table2,
      events: ["INSERT", "UPDATE"],
      key_columns: ["id"],
      update_columns: ["v"],
    }]);
    const [s] = await sql`select events, update_columns from webhooks.subscriptions where table_name = ${table2}`;
    assertEquals([s.events, s.update_columns], [["INSERT", "UPDATE"], ["v"]]);
    await refused([
      ["subscribe", { table: target, update_columns: "v" }, 400, "invalid_input"],
      ["subscribe", { table: target, update_columns: ["nope"] }, 400, "invalid_input"],
      ["subscribe", { table: target, update_columns: [1] }, 400, "invalid_input"],
      ["subscribe", { table: target, update_columns: [] }, 400, "invalid_input"],
      ["subscribe", { table: target, update_columns: ["ctid"] }, 400, "invalid_input"],
      ["subscribe", { table: target, events: ["insert"], update_columns: ["v"] }, 400, "invalid_input"],
      ["subscribe", { table: target, events: "update", update_columns: ["v"] }, 400, "invalid_input"],
      ["subscribe", { table: "public.no_such_table_here", update_columns: ["v"] }, 400, "invalid_input"],
      ["subscribe", { update_columns: ["v"] }, 400, "invalid_input"],
    ]);
    const captured = async () =>
      (await sql`select event_type, payload from webhooks.events where table_name = ${table2} and row_key = '[10]'
        order by id`).map((e) => `${e.event_type}:${e.payload.record.v}:${e.payload.record.w}`);
    await sql.unsafe(`insert into ${target} (id, v) values (10, 'a')`);
    await sql.unsafe(`update ${target} set w = 5 where id = 10`); // v not touched
    await sql.unsafe(`update ${target} set v = 'a', w = 6 where id = 10`); // v set, unchanged
    await sql.unsafe(`update ${target} set v = 'b' where id = 10`); // changed
    assertEquals(await captured(), [`${table2}.insert:a:0`, `${table2}.update:b:6`]);
    // Without update_columns (or with null): every UPDATE again.
    const plain = await admin("subscribe", { table: target, events: ["update"], update_columns: null });
    assertEquals(plain.body.result, { schema: "public", table: table2, events: ["UPDATE"], key_columns: ["id"] });
    await sql.unsafe(`update ${target} set w = 7 where id = 10`);
    assertEquals((await captured()).at(-1), `${table2}.update:b:7`);
    const [t] = await sql`select update_columns from webhooks.subscriptions where table_name = ${table2}`;
    assertEquals(t.update_columns, null);
    assertEquals((await admin("unsubscribe", { table: target })).body.result, { unsubscribed: true });
    await sql.unsafe(`drop table ${target}`);
  },
);

e2e(
  "webhook-admin: set_auto_disable switches an endpoint's auto-disable, list_endpoints shows it, fn:order-events has it off; bad input 400/404",
  async () => {
    const created = await admin("create_endpoint", { url: "https://hooks.invalid/auto-disable" });
    const id = created.body.result.id as string;
    assertEquals((await admin("disable_endpoint", { id })).status, 200); // no dispatcher tries it
    const flag = async (ep: string) =>
      (await admin("list_endpoints")).body.result.find((x: { endpoint_id: string }) => x.endpoint_id === ep)
        ?.auto_disable;
    assertEquals(await flag(id), true, "on by default");
    await refused([
      ["set_auto_disable", { id }, 400, "invalid_input"],
      ["set_auto_disable", { id, auto_disable: null }, 400, "invalid_input"],
      ["set_auto_disable", { id, auto_disable: "false" }, 400, "invalid_input"],
      ["set_auto_disable", { id, auto_disable: 0 }, 400, "invalid_input"],
      ["set_auto_disable", { auto_disable: false }, 400, "invalid_input"],
      ["set_auto_disable", { id: "nope", auto_disable: false }, 400, "invalid_input"],
      ["set_auto_disable", { id: crypto.randomUUID(), auto_disable: false }, 404, "not_found"],
    ]);
    assertEquals(await flag(id), true, "a refused call changed nothing");
    const off = await admin("set_auto_disable", { id, auto_disable: false });
    assertEquals([off.status, off.body], [200, { result: { id, auto_disable: false } }]);
    const [row] = await sql`select auto_disable from webhooks.endpoints where id = ${id}`;
    assertEquals([row.auto_disable, await flag(id)], [false, false]);
    assertEquals((await admin("set_auto_disable", { id, auto_disable: true })).body.result, { id, auto_disable: true });
    assertEquals(await flag(id), true);
    // The orders flow's own endpoint is never auto-disabled (20261205000110).
    const [orders] = await sql`select id from webhooks.endpoints where url = 'fn:order-events'`;
    assertEquals(await flag(orders.id), false);
    assertEquals((await admin("delete_endpoint", { id })).status, 200);
  },
);
