/**
 * Webhook signature verification (Standard Webhooks, Stripe, GitHub, Shopify) in wasm,
 * instantiated synchronously on import. Every function returns `{ ok: true, ... }` or
 * `{ ok: false, code, message }` and never throws.
 *
 * @module
 */
export { signStripe, signWebhook, verifyWebhook } from "./index.js";
export type {
  SignStripeOptions,
  SignStripeResult,
  SignWebhookOptions,
  SignWebhookResult,
  StandardWebhookHeaders,
  VerifyWebhookOptions,
  VerifyWebhookResult,
  WebhookBody,
  WebhookErrorCode,
  WebhookFailure,
  WebhookHeaders,
  WebhookScheme,
  WebhookVerified,
} from "./index.js";
