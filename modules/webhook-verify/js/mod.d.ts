/**
 * Webhook signature verification (Standard Webhooks and so Svix, Clerk, Resend and Supabase
 * Auth Hooks; Stripe, GitHub, Shopify, Slack, Paddle, Lemon Squeezy, Razorpay, Linear, Zoom,
 * Twitch, Discord, Square, Twilio, Intercom, Vercel, SendGrid) in wasm,
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
  | "shopify"
  | "slack"
  | "paddle"
  | "lemonsqueezy"
  | "razorpay"
  | "linear"
  | "zoom"
  | "twitch"
  | "discord"
  | "square"
  | "twilio"
  | "intercom"
  | "vercel"
  | "sendgrid";

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
   * keys, several joined with `|`. Discord: the application's public key (64 hex digits).
   * SendGrid: the verification key (base64 DER, as SendGrid shows it; PEM also works). Every
   * other scheme: the secret string as it is.
   */
  secrets: string | readonly string[];
  headers: WebhookHeaders;
  body: WebhookBody;
  /**
   * The full URL the provider requested (scheme, host, path, query), exactly as configured
   * with it: required by `square` (the notification URL) and `twilio` (with a JSON body, the
   * URL carries `bodySHA256`), ignored by the others.
   */
  url?: string;
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
  | "missing_url"
  | "malformed_body"
  | "invalid_input";

/** A rejection. `message` names fields and headers, never secrets or signatures. */
export interface WebhookFailure {
  ok: false;
  code: WebhookErrorCode;
  message: string;
}

export interface WebhookVerified {
  ok: true;
  /**
   * Delivery id to deduplicate on: `webhook-id`/`svix-id`, Twitch's message id (signed), or
   * `X-GitHub-Delivery`, `X-Shopify-Webhook-Id`, `X-Razorpay-Event-Id`, `Linear-Delivery`,
   * `I-Twilio-Idempotency-Token` (not signed).
   */
  id?: string;
  /** The signed Unix timestamp, for schemes that sign one. */
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

export interface SignRequestOptions {
  scheme: WebhookScheme;
  /**
   * What the verifier is given, except Discord (a 32-byte ed25519 seed, hex) and SendGrid (a
   * P-256 private key, base64 PKCS#8 DER).
   */
  secret: string;
  /** The message id: Standard Webhooks (no `.`) and Twitch; 1 to 256 visible ASCII characters. */
  id?: string;
  /** Unix seconds, non-negative (default: now). */
  timestamp?: number;
  /** The request URL: Square and Twilio. */
  url?: string;
  body: WebhookBody;
}

export type SignRequestResult =
  | { ok: true; headers: Record<string, string> }
  | WebhookFailure;

/**
 * Signs `body` as the scheme's provider would send it: `{ ok: true, headers }` (lower-case
 * names) or `{ ok: false, code, message }`. For tests, relays and local senders. Never throws.
 */
export declare function signRequest(
  options: SignRequestOptions,
): SignRequestResult;

/**
 * Zoom's `endpoint.url_validation` answer for its `payload.plainToken` (verify the request
 * first): respond with `{ plainToken, encryptedToken }` as JSON, status 200. Never throws.
 */
export declare function zoomUrlValidation(
  options: { secret: string; plainToken: string },
): { ok: true; plainToken: string; encryptedToken: string } | WebhookFailure;

/**
 * The `challenge` of a Twitch `webhook_callback_verification` body (verify the request first):
 * respond with it as `text/plain`, status 200. Never throws.
 */
export declare function twitchChallenge(
  body: WebhookBody,
): { ok: true; challenge: string } | WebhookFailure;

/** Every scheme's canonical name (`standard`, `stripe`, `github`, `shopify`, then the providers). */
export declare const schemes: readonly WebhookScheme[];
