// Mutations for tests/sql/mutations.sh (issue 14): each deletes one rule from a SQL function
// (a textual edit of pg_get_functiondef's output, applied with CREATE OR REPLACE in the test
// file's own database after the migrations). Each must make at least one test of tests/sql fail.
// `killers` names the test files (tests/sql/<name>.test.ts) known to catch it: mutations.sh runs
// them first and stops at the first failing test; the verdict is still "a test of tests/sql
// fails" (the other files run when the named ones all pass, and a survivor ran the whole suite).
export type Mutation = { about: string; killers?: string[]; edits: { fn: string; from: string; to: string }[] };

const APPLY =
  "public.apply_order_processing(bigint,text,bigint,bigint,bigint,bigint,bigint,jsonb,text,uuid,uuid,text,jsonb)";
const LOCK_PRODUCTS = "private.lock_products(bigint[],bigint[])";
const REDEEM = "private.redeem_discount(public.orders,text)";
const TRANSITION = "public.order_transition(bigint,text,text,uuid,uuid,text)";
const PAYMENT = "public.apply_payment_event(text,text,text,bigint,text,text,bigint,text,text,text,jsonb,jsonb)";
const ANSWER = "private.idempotency_answer(public.idempotency_keys,text)";
// The claim of 20261204002000_webhooks.sql; webhooks.claim_deliveries wraps it since
// 20261204005100_webhooks_secret_env.sql; its order checks are one pass each since
// 20261205000400_webhooks_claim_plan.sql, its dead-row check webhooks.row_held.
const HOOK_CLAIM = "webhooks.claim_deliveries_base(integer,integer,integer)";
const HOOK_RECORD = "webhooks.record_attempts(uuid,jsonb)";
const EXPIRE = "public.expire_unpaid_orders(integer)";

export const MUTATIONS: Record<string, Mutation> = {
  discount_per_customer: {
    killers: ["discount_limits"],
    about: "apply_order_processing (private.redeem_discount) without the per-customer discount limit",
    edits: [{
      fn: REDEEM,
      from: "and x.status <> 'expired' and x.id <> o.id) >= d.max_redemptions_per_customer",
      to: "and false) >= d.max_redemptions_per_customer",
    }],
  },
  refund_cap: {
    killers: ["refunds"],
    about: "apply_payment_event recording refunds beyond the total paid",
    edits: [{ fn: PAYMENT, from: "if refunded > o.total_amount then", to: "if false then" }],
  },
  refund_once: {
    killers: ["refunds"],
    about: "apply_payment_event counting every listed refund again (no dedupe against recorded refunds)",
    edits: [{
      fn: PAYMENT,
      from: "where not exists (select 1 from public.refunds r2",
      to: "where true or not exists (select 1 from public.refunds r2",
    }],
  },
  expire_skip_locked: {
    killers: ["expiry"],
    about: "expire_unpaid_orders waiting on locked orders instead of skipping them (FOR UPDATE without SKIP LOCKED)",
    edits: [{ fn: EXPIRE, from: "for update skip locked", to: "for update" }],
  },
  expire_release_stock: {
    killers: ["expiry"],
    about: "expire_unpaid_orders without releasing the expired order's stock",
    edits: [{ fn: EXPIRE, from: "perform private.release_stock(o.id);", to: "null;" }],
  },
  expire_release_discount: {
    killers: ["expiry"],
    about: "expire_unpaid_orders without giving back the discount redemption",
    edits: [{
      fn: EXPIRE,
      from: "set redemptions = greatest(c.redemptions - 1, 0)",
      to: "set redemptions = c.redemptions",
    }],
  },
  expire_due_check: {
    killers: ["expiry", "discount_limits"],
    about: "expire_unpaid_orders expiring processed orders that are not yet due",
    edits: [{ fn: EXPIRE, from: "and t.payment_due_at <= now()", to: "" }],
  },
  late_payment_stock_check: {
    killers: ["expiry"],
    about: "apply_payment_event reviving an expired order without checking its stock",
    edits: [{
      fn: PAYMENT,
      from: "if short is not null then\n        reason := 'order_expired';",
      to: "if false then\n        reason := 'order_expired';",
    }],
  },
  order_changed: {
    killers: ["orders"],
    about: "apply_order_processing without the order_changed check (priced lines vs current lines)",
    edits: [{
      fn: APPLY,
      from: `      refusal := jsonb_build_object('kind', 'order_changed');
      exit checks;`,
      to: "      null;",
    }],
  },
  // The orders flow's claim rules (tests/sql/outbox.test.ts): since
  // 20261205000100_orders_via_webhooks.sql the orders go through webhooks.claim_deliveries.
  claim_per_order: {
    killers: ["outbox"],
    about: "webhooks.claim_deliveries without any per-row ordering (both checks below deleted)",
    edits: [],
  },
  claim_order_precheck: {
    killers: ["outbox"],
    about:
      "webhooks.claim_deliveries without the per-row check before locking (an earlier pending delivery outside a claimable state)",
    edits: [{
      fn: HOOK_CLAIM,
      from: `   where w.due and w.attempts < tries and (w.row_key is null or w.due_so_far)`,
      to: `   where w.due and w.attempts < tries`,
    }],
  },
  // The same edits as hooks_row_order_recheck and hooks_dead_blocks_row (set below), killed by
  // the orders flow's own tests.
  claim_order_recheck: {
    killers: ["outbox"],
    about:
      "webhooks.claim_deliveries without the per-row check after locking (an earlier pending delivery outside this claim), for an order's events",
    edits: [],
  },
  claim_order_dead_blocks: {
    killers: ["outbox"],
    about: "webhooks.claim_deliveries_base without dead_blocks_row (both checks): a dead order event lets its order go",
    edits: [],
  },
  outbox_history_moved_age: {
    killers: ["retention"],
    about: "purge_retention (private.purge_outbox_moved) deleting moved event_outbox rows whatever their age",
    edits: [{
      fn: "private.purge_outbox_moved(interval,integer)",
      from: `where x.moved_at < now() - after`,
      to: `where x.moved_at is not null`,
    }],
  },
  payment_status_recheck: {
    killers: ["payments"],
    about: "apply_payment_event without the recheck of the locked order's status against expected_status",
    edits: [{
      fn: PAYMENT,
      from: `    elsif o.status <> apply_payment_event.expected_status
          and not (`,
      to: `    elsif false
          and not (`,
    }],
  },
  product_lock_order: {
    killers: ["orders"],
    // Without the product id order, the locks follow the order the lines list the products in
    // (the order processing and cancelling pass them in).
    about: "processing and cancelling (private.lock_products) lock products in the lines' order, not by product id",
    edits: [
      {
        fn: LOCK_PRODUCTS,
        from: "   order by p.id\n   for no key update of p",
        to: "   order by array_position(lock_products.ids, p.id)\n   for no key update of p",
      },
    ],
  },
  release_with_old_versions: {
    killers: ["orders"],
    about: "order_transition updates the stock it releases in the statement that locks it (old row versions)",
    edits: [{
      fn: TRANSITION,
      from: `      select array_agg(s.product_id), array_agg(s.needed) into ids, qtys
        from private.lock_stock_needed(o.id) s;
      update public.products p set stock = p.stock + n.qty
        from unnest(ids, qtys) as n(id, qty)
       where p.id = n.id;`,
      to: `      update public.products p set stock = p.stock + s.needed
        from private.lock_stock_needed(o.id) s
       where p.id = s.product_id;`,
    }],
  },
  idempotency_in_flight: {
    killers: ["idempotency"],
    about: "begin_order_request without the in-flight check (a live lease of another request)",
    edits: [{
      fn: ANSWER,
      from: `    when k.locked_until > now() then jsonb_build_object('state', 'in_flight')\n`,
      to: "",
    }],
  },
  hooks_row_order_recheck: {
    killers: ["webhooks"],
    about:
      "webhooks.claim_deliveries without the per-row check after locking (an earlier pending delivery another claim holds)",
    edits: [{
      fn: HOOK_CLAIM,
      from: `where w.id = any (locked) and (w.row_key is null or (w.first_of_row and w.n <= max_per_row))`,
      to: `where w.id = any (locked) and (w.row_key is null or w.n <= max_per_row)`,
    }],
  },
  hooks_dead_blocks_row: {
    killers: ["webhooks_orders_move"],
    about: "webhooks.claim_deliveries_base without dead_blocks_row (both checks): a dead delivery lets its row go",
    edits: [{
      fn: "webhooks.row_held(uuid,text,bigint)",
      from: `and exists (select 1 from webhooks.endpoints e where e.id = row_held.endpoint and e.dead_blocks_row)`,
      to: `and false`,
    }],
  },
  hooks_dead_purge: {
    killers: ["webhooks_orders_move"],
    about: "webhooks.purge deleting dead deliveries that hold their row",
    edits: [{
      fn: "webhooks.purge(integer)",
      from: `and not webhooks.holds_row(x)`,
      to: `and true`,
    }],
  },
  hooks_replay_in_place: {
    killers: ["webhooks_held"],
    about:
      "webhooks.replay superseding a dead delivery that holds its row instead of requeueing it in place (the row out of order)",
    edits: [{
      fn: "webhooks.replay(uuid,timestamptz)",
      from: `     and webhooks.holds_row(d)`,
      to: `     and false`,
    }],
  },
  hooks_admin_dead_blocks_row: {
    killers: ["webhooks_held"],
    about: "webhooks.admin's set_dead_blocks_row not passing the flag on (always false)",
    edits: [{
      fn: "webhooks.admin(text,jsonb)",
      from: `perform webhooks.set_dead_blocks_row(ep, (a -> flag)::boolean);`,
      to: `perform webhooks.set_dead_blocks_row(ep, false);`,
    }],
  },
  hooks_gone_disables: {
    killers: ["webhooks"],
    about: "webhooks.record_attempts without disabling the endpoint on 410 Gone",
    edits: [{
      fn: HOOK_RECORD,
      from: `      update webhooks.endpoints e
         set enabled = false, disabled_reason = 'the endpoint answered 410 Gone', disabled_at = now(), updated_at = now()
       where e.id = d.endpoint_id and e.enabled;`,
      to: "      perform 1;",
    }],
  },
  hooks_retry_after: {
    killers: ["webhooks"],
    about: "webhooks.record_attempts ignoring Retry-After",
    edits: [{
      fn: HOOK_RECORD,
      from: `        delay := greatest(delay, least(r.retry_after, cfg.max_retry_after_seconds));`,
      to: "        delay := delay;",
    }],
  },
  hooks_auto_disable_off: {
    killers: ["webhooks_auto_disable"],
    about: "an endpoint with auto_disable off disabled by record_attempts all the same (the trigger keeps nothing)",
    edits: [{ fn: "private.webhooks_keep_enabled()", from: "    return null;", to: "    return new;" }],
  },
  hooks_auto_disable_gone_check: {
    killers: ["webhooks_auto_disable"],
    about:
      "an operator's disable of a fn: endpoint with auto_disable off, reason '410 Gone' but no 410 tried, taken for record_attempts' and skipped",
    edits: [{
      fn: "private.webhooks_auto_disabling(webhooks.endpoints)",
      from: "order by a.id desc limit 1) = 410",
      to: "limit 0) is null",
    }],
  },
  hooks_auto_disable_fn_gone: {
    killers: ["webhooks_auto_disable"],
    about: "a fn: endpoint with auto_disable off disabled by 410 Gone (the rule without its fn: exception)",
    edits: [{
      fn: "private.webhooks_may_auto_disable(webhooks.endpoints,text)",
      from: "(why = 'gone' and e.url !~ '^fn:')",
      to: "(why = 'gone')",
    }],
  },
};

MUTATIONS.claim_order_recheck.edits = MUTATIONS.hooks_row_order_recheck.edits;
MUTATIONS.claim_order_dead_blocks.edits = MUTATIONS.hooks_dead_blocks_row.edits;
MUTATIONS.claim_per_order.edits = [...MUTATIONS.claim_order_precheck.edits, ...MUTATIONS.claim_order_recheck.edits];
