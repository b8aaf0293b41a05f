import type { TestCase } from "../config/schema.js";
import { isPlainObject, type JsonValue } from "../json.js";
import type { ParamConfig } from "../search/space.js";
import { extractModel, extractText, extractUsage } from "./extract.js";
import { costOf, type ModelPrice } from "./pricing.js";
import { failure, type Target } from "./types.js";

/** An in-process function optimized instead of an HTTP API: (params, testCase) => answer. */
export type LocalFunction = (params: ParamConfig, testCase: TestCase) => unknown;

function toJson(value: unknown): JsonValue {
  if (value === undefined) return null;
  try {
    return JSON.parse(JSON.stringify(value)) as JsonValue;
  } catch {
    return String(value);
  }
}

export function localTarget(fn: LocalFunction, options: { timeoutSeconds: number; prices?: Readonly<Record<string, ModelPrice>> }): Target {
  return async (params, testCase, signal) => {
    const started = performance.now();
    let timer: ReturnType<typeof setTimeout> | undefined;
    let onAbort: (() => void) | undefined;
    try {
      if (signal?.aborted) throw signal.reason;
      const stop = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`timed out after ${options.timeoutSeconds} s`)), options.timeoutSeconds * 1000);
        onAbort = () => reject(signal?.reason);
        signal?.addEventListener("abort", onAbort, { once: true });
      });
      const result = await Promise.race([Promise.resolve().then(() => fn({ ...params }, testCase)), stop]);
      const latency = performance.now() - started;
      const body = toJson(result);
      const usage = extractUsage(body);
      const model = extractModel(body) ?? (typeof params.model === "string" ? params.model : null);
      return {
        ok: true,
        status: null,
        body,
        text: typeof result === "string" ? result : isPlainObject(body) || Array.isArray(body) ? extractText(body) : String(body ?? ""),
        latency_ms: latency,
        usage,
        model,
        cost_usd: costOf(model, usage, options.prices),
        error: null,
        attempts: 1,
      };
    } catch (error) {
      if (signal?.aborted) throw signal.reason;
      return failure(`local function failed: ${error instanceof Error ? error.message : String(error)}`, {
        latency_ms: performance.now() - started,
      });
    } finally {
      if (timer !== undefined) clearTimeout(timer);
      if (onAbort) signal?.removeEventListener("abort", onAbort);
    }
  };
}
