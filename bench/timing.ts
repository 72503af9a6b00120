// Interleaved micro-benchmark timing shared by the webhook benches: every implementation warms up
// for >= 300 ms (V8 tiers wasm and JS up) and gets a batch size that lasts >= `batchMs`; then
// rounds run one batch of each implementation in turn, so that load from other processes hits
// all of them alike. The figure is the median over rounds of the mean µs per call.

export type Op = () => unknown;
export interface Impl {
  name: string;
  op: Op;
  isAsync: boolean;
  n?: number;
  results: number[];
}

/** Mean µs per call of `op` over `n` calls (awaiting when it returns a promise). */
export async function timeBatch(op: Op, n: number, isAsync: boolean): Promise<number> {
  const t0 = performance.now();
  if (isAsync) { for (let i = 0; i < n; i++) await op(); }
  else for (let i = 0; i < n; i++) op();
  return ((performance.now() - t0) * 1000) / n;
}

/** Warms `impl` up for >= 300 ms and sizes its batches to last >= `batchMs`. */
export async function calibrate(impl: Impl, batchMs: number): Promise<void> {
  let n = 32;
  let spent = 0;
  while (spent < 300) {
    const us = await timeBatch(impl.op, n, impl.isAsync);
    spent += (us * n) / 1000;
    n = Math.max(n, Math.ceil((batchMs * 1000) / us));
  }
  impl.n = n;
}

/** Calibrates every implementation, then runs `batches` interleaved rounds; medians in µs. */
export async function measure(impls: Impl[], batches: number, batchMs: number): Promise<number[]> {
  for (const impl of impls) await calibrate(impl, batchMs);
  for (let round = 0; round < batches; round++) {
    for (const impl of impls) impl.results.push(await timeBatch(impl.op, impl.n!, impl.isAsync));
  }
  return impls.map((impl) => median(impl.results));
}

export const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
export const fmt = (us: number) => us < 10 ? us.toFixed(2) : us.toFixed(1);

/** An environment variable when `--allow-env` grants it. */
export const env = (name: string) =>
  Deno.permissions.querySync({ name: "env", variable: name }).state === "granted" ? Deno.env.get(name) : undefined;
