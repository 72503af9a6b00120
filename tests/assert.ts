// Assertions for the Deno tests (jsr:@std/assert is not reachable here; node:assert is built in).
import { strict } from "node:assert";

export function assert(cond: unknown, msg?: string): asserts cond {
  strict.ok(cond, msg);
}

export function assertEquals<T>(actual: T, expected: T, msg?: string): void {
  strict.deepStrictEqual(actual, expected, msg);
}
