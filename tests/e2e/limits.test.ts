// Hostile input at the edges (issue 9: F3 unbounded bodies, F11 lenient JSON, F13 future Stripe
// timestamps), through the real gateway into the real function processes.
import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { parse as parseDotenv } from "npm:dotenv";
import Stripe from "npm:stripe";
import { API_URL, callFn, e2e, functionProcess, SERVICE_ROLE_KEY } from "./_helpers.ts";

const root = new URL("../../", import.meta.url);
const secrets = parseDotenv(Deno.readTextFileSync(new URL("supabase/functions/.env", root)));
const MB = 1024 * 1024;

/** Resident memory (bytes) of a process, from /proc. */
function rss(pid: number): number {
  const m = Deno.readTextFileSync(`/proc/${pid}/status`).match(/VmRSS:\s+(\d+) kB/);
  return m ? Number(m[1]) * 1024 : 0;
}

/** 200 MB of zeros, produced as they are read (the test itself holds none of it). */
function zeros(total: number): ReadableStream<Uint8Array> {
  const chunk = new Uint8Array(64 * 1024);
  let sent = 0;
  return new ReadableStream({
    pull(c) {
      if (sent >= total) return c.close();
      sent += chunk.byteLength;
      c.enqueue(chunk);
    },
  });
}

for (const name of ["payment-webhook", "order-events", "process-order", "cancel-order", "webhook-dispatch"]) {
  e2e(`${name}: a 200 MB body is refused 413 in under 1 s, memory flat`, async () => {
    const gateway = Number(Deno.readTextFileSync(new URL(".stack/gateway.pid", root)).trim());
    const fnPid = (await functionProcess(name))?.pid;
    assert(fnPid, `no process for ${name}`);
    const before = { gateway: rss(gateway), fn: rss(fnPid) };
    for (const declared of [true, false]) {
      const started = performance.now();
      const headers: Record<string, string> = {
        "content-type": "application/json",
        authorization: `Bearer ${SERVICE_ROLE_KEY}`,
      };
      if (declared) headers["content-length"] = String(200 * MB);
      const resp = await fetch(`${API_URL}/functions/v1/${name}`, {
        method: "POST",
        headers,
        body: zeros(200 * MB),
        // deno-lint-ignore no-explicit-any
        ...({ duplex: "half" } as any),
      }).catch((e) => e as Error);
      const ms = performance.now() - started;
      assert(resp instanceof Response, `${name}: the request failed: ${resp}`);
      const body = await resp.json();
      assertEquals([resp.status, body.error.code], [413, "payload_too_large"]);
      assert(ms < 1000, `${name} (${declared ? "declared" : "chunked"}): 413 after ${ms.toFixed(0)} ms`);
    }
    const grown = { gateway: rss(gateway) - before.gateway, fn: rss(fnPid) - before.fn };
    assert(grown.gateway < 32 * MB, `gateway grew ${grown.gateway} bytes`);
    assert(grown.fn < 32 * MB, `${name} grew ${grown.fn} bytes`);
  });
}

e2e("process-order and cancel-order refuse a JSON array and invalid UTF-8 (400), not read as an object", async () => {
  for (const name of ["process-order", "cancel-order"]) {
    const array = await callFn(name, null, { raw: "[1]" });
    assertEquals([array.status, array.body.error.code], [400, "invalid_body"]);
    const badUtf8 = await fetch(`${API_URL}/functions/v1/${name}`, {
      method: "POST",
      headers: { authorization: `Bearer ${SERVICE_ROLE_KEY}`, "content-type": "application/json" },
      body: new Uint8Array([...new TextEncoder().encode('{"order_id":1,"x":"'), 0xff, 0xfe, 0x22, 0x7d]),
    });
    assertEquals([badUtf8.status, (await badUtf8.json()).error.code], [400, "malformed_json"]);
  }
});

e2e("payment-webhook refuses a Stripe signature timestamped a year ahead", async () => {
  const payload = JSON.stringify({ id: `evt_${crypto.randomUUID()}`, type: "payment_intent.succeeded", data: {} });
  const header = await Stripe.webhooks.generateTestHeaderStringAsync({
    payload,
    secret: secrets.STRIPE_WEBHOOK_SECRET,
    timestamp: Math.floor(Date.now() / 1000) + 365 * 86400,
  });
  const resp = await callFn("payment-webhook", null, {
    token: null,
    raw: payload,
    headers: { "stripe-signature": header },
  });
  assertEquals([resp.status, resp.body.error.code], [400, "timestamp_out_of_tolerance"]);
});
