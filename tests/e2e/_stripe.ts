// Stripe-signed events for the e2e tests (signed with npm:stripe, as Stripe's own test helper
// does), delivered through the gateway to payment-webhook.
import Stripe from "npm:stripe";
import { callFn, type Reply } from "./_helpers.ts";

// The local default from supabase/functions/.env.example (copied to .env on start).
export const SECRET = Deno.env.get("STRIPE_WEBHOOK_SECRET") ?? "whsec_local_stripe_secret_for_tests_only";

export type StripeEvent = { id: string; type: string; data: { object: Record<string, unknown> } };

export async function signature(payload: string, opts: { secret?: string; timestamp?: number } = {}): Promise<string> {
  return await Stripe.webhooks.generateTestHeaderStringAsync({
    payload,
    secret: opts.secret ?? SECRET,
    ...(opts.timestamp === undefined ? {} : { timestamp: opts.timestamp }),
  });
}

/** Deliver `event` (or a raw payload) signed as Stripe signs it; no JWT (verify_jwt = false). */
export async function deliver(
  event: StripeEvent | string,
  opts: { secret?: string; timestamp?: number; header?: string | null; method?: string } = {},
): Promise<Reply> {
  const payload = typeof event === "string" ? event : JSON.stringify(event);
  const headers: Record<string, string> = {};
  const header = opts.header === undefined ? await signature(payload, opts) : opts.header;
  if (header !== null) headers["stripe-signature"] = header;
  return await callFn("payment-webhook", null, { token: null, raw: payload, headers, method: opts.method });
}

export const eventId = () => `evt_test_${crypto.randomUUID().replaceAll("-", "")}`;

export function paymentSucceeded(orderId: unknown, amount: unknown, currency = "usd", id = eventId()): StripeEvent {
  return {
    id,
    type: "payment_intent.succeeded",
    data: {
      object: {
        id: `pi_${crypto.randomUUID().slice(0, 8)}`,
        object: "payment_intent",
        amount,
        currency,
        metadata: { order_id: String(orderId) },
      },
    },
  };
}

/** charge.refunded: the charge's cumulative amount_refunded and its refunds list (by default
 * one refund of the whole amount refunded). */
export function chargeRefunded(
  orderId: number,
  amount: number,
  amountRefunded: number,
  id = eventId(),
  refunds: { id: string; amount: number }[] = [{ id: `re_${crypto.randomUUID().slice(0, 8)}`, amount: amountRefunded }],
  charge = `ch_${crypto.randomUUID().slice(0, 8)}`,
): StripeEvent {
  return {
    id,
    type: "charge.refunded",
    data: {
      object: {
        id: charge,
        object: "charge",
        amount,
        amount_refunded: amountRefunded,
        currency: "usd",
        refunded: amount === amountRefunded,
        metadata: { order_id: String(orderId) },
        refunds: {
          object: "list",
          data: refunds.map((r) => ({
            ...r,
            object: "refund",
            currency: "usd",
            created: 1_700_000_000,
            status: "succeeded",
          })),
          has_more: false,
        },
      },
    },
  };
}
