// The upgrade to the typed orders contract (20261204001000): a database at the schema before
// it, with live orders and idempotency keys written by the previous RPCs, is upgraded by
// applying the new migrations; its orders still process and cancel correctly, and its keys
// still replay, answer in flight, or can be taken over.
import { assert, assertEquals } from "../assert.ts";
import { fixtures, SERVICE, sqlTest, testDatabase } from "./_db.ts";

const CONTRACT = "20261204001000";
const db = await testDatabase("upgrade", { before: CONTRACT });
const { admin } = db;
const fx = fixtures(admin);

sqlTest("a database with live orders and keys upgrades, and its orders process and cancel", async () => {
  // Today's schema: the previous RPCs exist, the new ones do not.
  const [{ old_apply, new_read }] = await admin`select
    to_regprocedure('public.apply_order_event_processing(text,text,text,bigint,text,bigint,bigint,bigint,bigint,bigint,jsonb,text,uuid)') is not null as old_apply,
    to_regproc('public.begin_order_request') is not null as new_read`;
  assertEquals([old_apply, new_read], [true, false]);

  const user = await fx.user();
  const p = await fx.product({ price: 1000, stock: 10 });
  const q = await fx.product({ price: 250, stock: 10 });
  const pending = await fx.order(user, [[p, 2], [q, 1]]);
  const processed = await fx.order(user, [[p, 3]]);
  // Processed by the previous apply (its ok/reason answer), as the old function did.
  const s = await db.session("old code");
  await s.begin(SERVICE);
  const [old] = await s.sql`select public.apply_order_processing(
      order_id => ${processed}, expected_status => 'pending', subtotal_amount => 3000,
      discount_amount => 0, tax_amount => 0, shipping_amount => 0, total_amount => 3000,
      lines => ${s.sql.json(await fx.pricedLines(processed))}) as r`;
  assertEquals(old.r.ok, true);
  // Keys of the previous code: one answered, one in flight (live lease), one whose holder died.
  const body = '{"order_id":1, "status":"processed"}';
  for (const key of ["done", "live", "dead"]) {
    await s.sql`select public.idempotency_begin('role:service_role', 'process-order', ${key}, 'h1', 30)`;
  }
  await s.sql`select public.idempotency_finish(scope => 'role:service_role', endpoint => 'process-order',
    key => 'done', response_status => 200, response_text => ${body})`;
  await s.commit();
  await admin`update public.idempotency_keys set locked_until = now() - interval '1 second' where key = 'dead'`;
  assertEquals([await fx.stock(p), await fx.stock(q)], [7, 10]);

  // The upgrade: the new migrations, applied as `supabase db push` would; then once more
  // (idempotent DDL).
  const applied = await db.migrate(CONTRACT);
  assert(applied.length >= 1 && applied[0].startsWith(CONTRACT), JSON.stringify(applied));
  await db.migrate(CONTRACT);
  const [{ forwarder, begin_fn }] = await admin`select
    to_regproc('public.apply_order_event_processing') is not null as forwarder,
    to_regproc('public.idempotency_begin') is not null as begin_fn`;
  assertEquals([forwarder, begin_fn], [false, false], "the forwarder and the separate key RPCs are gone");

  // The pending order: read, processed with the new contract, stock reserved, audited.
  await s.begin(SERVICE);
  const [read] = await s.sql`select public.begin_order_request(${pending}) as r`;
  assertEquals([read.r.state, read.r.claim, read.r.snapshot.order.status], ["read", null, "pending"]);
  const [applied1] = await s.sql`select public.apply_order_processing(
      order_id => ${pending}, expected_status => 'pending', subtotal_amount => 2250,
      discount_amount => 0, tax_amount => 0, shipping_amount => 0, total_amount => 2250,
      lines => ${s.sql.json(await fx.pricedLines(pending))}) as r`;
  await s.commit();
  assertEquals(applied1.r, { refusal: null });
  assertEquals([await fx.status(pending), await fx.stock(p), await fx.stock(q)], ["processed", 5, 9]);
  const [{ n }] = await admin`select count(*)::int n from public.audit_log
    where table_name = 'orders' and record_id = ${String(pending)} and 'processed_at' = any(changed_fields)`;
  assertEquals(n, 1);

  // The order the old code processed: cancelled with the new contract, its stock released
  // exactly; a second cancel is a typed refusal.
  await s.begin(SERVICE);
  const [cancel] = await s.sql`select public.order_transition(${processed}, 'processed', 'cancelled') as r`;
  const [again] = await s.sql`select public.order_transition(${processed}, 'processed', 'cancelled') as r`;
  await s.commit();
  assertEquals(cancel.r, { refusal: null });
  assertEquals(again.r, { refusal: { kind: "status_conflict", current_status: "cancelled" } });
  assertEquals([await fx.status(processed), await fx.stock(p)], ["cancelled", 8]);

  // The old keys: the answered one replays its exact bytes, the live one is in flight, the
  // dead one is taken over (a claim), and with another body each is a mismatch.
  await s.begin(SERVICE);
  const key = async (k: string, hash = "h1") =>
    (await s.sql`select public.begin_order_request(${pending}, 'process-order', ${k}, ${hash}) as r`)[0].r;
  assertEquals(await key("done"), { state: "replay", status: 200, body: null, body_text: body, refusal: null });
  assertEquals(await key("live"), { state: "in_flight" });
  const taken = await key("dead");
  assertEquals(taken.state, "read");
  assert(typeof taken.claim === "string", JSON.stringify(taken));
  assertEquals(await key("done", "h2"), { state: "mismatch" });
  await s.commit();
});
