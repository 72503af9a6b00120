/**
 * Webhook signature verification (Standard Webhooks, Stripe, GitHub, Shopify) in wasm,
 * instantiated synchronously on import. Every function returns `{ ok: true, ... }` or
 * `{ ok: false, code, message }` and never throws.
 *
 * @module
 */

/** A scheme name (case-insensitive; `-` and `_` are ignored). */
export type WebhookScheme =
  | "standard"
  | "standardwebhooks"
  | "standard-webhooks"
  | "stripe"
  | "github"
  | "shopify";

/**
 * Request headers: a fetch `Headers`, a plain object (values may be `string[]`, as Node's
 * `req.headers`), or an iterable of `[name, value]` pairs (an array, a `Map`). Names are
 * matched case-insensitively; only the scheme's own headers are read.
 */
export type WebhookHeaders =
  | Headers
  | { readonly [name: string]: string | readonly string[] | undefined }
  | Iterable<readonly [string, string]>;

/** The raw body exactly as received; a string is encoded as UTF-8 (like `TextEncoder`). */
export type WebhookBody = string | Uint8Array | ArrayBuffer;

export interface VerifyWebhookOptions {
  scheme: WebhookScheme;
  /**
   * One secret or several (a request passes if it matches any). Standard Webhooks:
   * `whsec_<base64>` (also bare base64 or Supabase's `v1,whsec_...`), `whpk_`/`whsk_` ed25519
   * keys, several joined with `|`. Stripe, GitHub, Shopify: the secret string as it is.
   */
  secrets: string | readonly string[];
  headers: WebhookHeaders;
  body: WebhookBody;
  /** Current time in Unix seconds (default: `Date.now() / 1000`). */
  now?: number;
  /** Allowed clock skew in seconds (default 300; `Infinity` disables the check). */
  toleranceSeconds?: number;
  /** Largest body accepted, in bytes (default 262144); larger is `body_too_large`. */
  maxBodyBytes?: number;
}

/** Stable machine codes: the library's, plus `invalid_input` for arguments of the wrong shape. */
export type WebhookErrorCode =
  | "missing_header"
  | "malformed_header"
  | "timestamp_out_of_tolerance"
  | "no_matching_signature"
  | "body_too_large"
  | "invalid_secret"
  | "invalid_input";

/** A rejection. `message` names fields and headers, never secrets or signatures. */
export interface WebhookFailure {
  ok: false;
  code: WebhookErrorCode;
  message: string;
}

export interface WebhookVerified {
  ok: true;
  /** Delivery id to deduplicate on (`webhook-id`/`svix-id`, `X-GitHub-Delivery`, `X-Shopify-Webhook-Id`). */
  id?: string;
  /** The signed Unix timestamp (Standard Webhooks, Stripe). */
  timestamp?: number;
}

export type VerifyWebhookResult = WebhookVerified | WebhookFailure;

export interface SignWebhookOptions {
  /** `whsec_<base64>` (HMAC `v1`) or `whsk_<base64>` (ed25519 `v1a`); several joined with `|`. */
  secret: string;
  /** The message id: 1 to 256 visible ASCII characters without `.`. */
  id: string;
  /** Unix seconds, non-negative (default: now). */
  timestamp?: number;
  body: WebhookBody;
}

export interface StandardWebhookHeaders {
  "webhook-id": string;
  "webhook-timestamp": string;
  "webhook-signature": string;
}

export type SignWebhookResult =
  | { ok: true; headers: StandardWebhookHeaders }
  | WebhookFailure;

export interface SignStripeOptions {
  /** The endpoint secret (`whsec_...`), used as it is. */
  secret: string;
  /** Unix seconds, non-negative (default: now). */
  timestamp?: number;
  body: WebhookBody;
}

export type SignStripeResult = {
  ok: true;
  headers: { "stripe-signature": string };
} | WebhookFailure;

/** Verifies a webhook request: `{ ok: true, id?, timestamp? }` or `{ ok: false, code, message }`. Never throws. */
export declare function verifyWebhook(
  options: VerifyWebhookOptions,
): VerifyWebhookResult;

/**
 * Signs a Standard Webhooks message: `{ ok: true, headers: { "webhook-id", "webhook-timestamp",
 * "webhook-signature" } }` or `{ ok: false, code, message }`. Never throws.
 */
export declare function signWebhook(
  options: SignWebhookOptions,
): SignWebhookResult;

/**
 * Signs a Stripe event payload: `{ ok: true, headers: { "stripe-signature" } }` (as Stripe's
 * `generateTestHeaderString`) or `{ ok: false, code, message }`. Never throws.
 */
export declare function signStripe(
  options: SignStripeOptions,
): SignStripeResult;
