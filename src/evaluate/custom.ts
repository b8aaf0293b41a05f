/**
 * Custom evaluators, with the seed's two calling conventions:
 *   - SDK style, `(prediction, expected, context)`: called once per test case; returns a number (used for every
 *     custom metric) or `{metric: score}`, picked per metric: its own key, else `score`, else the mean.
 *     prediction = {result (the response body), text, latency_ms, cost_usd, usage, model};
 *     context = {params, test_case: {id, input, metadata}, metrics: [names it should score]}.
 *   - core style, `(result, expected, params, metric)`: called once per metric with the response body; returns a
 *     number.
 * As in the reference, the style is told by the parameter names (prediction/context: SDK; result/params/metric:
 * core); for other names (or minified code), a function declaring four parameters is core style, fewer SDK style.
 * Either may be async. Anything that is not a number is an error for that case; numbers become scores by the
 * metric's type and threshold (see customScore in case.ts).
 */
import type { TestCase } from "../config/schema.js";
import type { JsonValue } from "../json.js";
import type { ParamConfig } from "../search/space.js";
import type { TargetResponse, TokenUsage } from "../target/types.js";

export interface Prediction {
  result: JsonValue;
  text: string;
  latency_ms: number;
  cost_usd: number;
  usage: TokenUsage | null;
  model: string | null;
}

export interface EvaluatorContext {
  params: ParamConfig;
  test_case: { id: string; input: Record<string, JsonValue>; metadata: Record<string, unknown> };
  metrics: string[];
}

type Awaitable<T> = T | Promise<T>;
export type SdkEvaluator = (
  prediction: Prediction,
  expected: JsonValue,
  context: EvaluatorContext,
) => Awaitable<number | Record<string, number>>;
export type CoreEvaluator = (result: JsonValue, expected: JsonValue, params: ParamConfig, metric: string) => Awaitable<number>;
export type Evaluator = SdkEvaluator | CoreEvaluator;

export class EvaluatorError extends Error {}

function toScore(value: unknown, metric: string): number {
  const n = typeof value === "boolean" ? Number(value) : value;
  if (typeof n !== "number" || !Number.isFinite(n)) {
    throw new EvaluatorError(
      `custom evaluator returned ${JSON.stringify(value) ?? String(value)} for metric '${metric}', expected a number`,
    );
  }
  return n;
}

function pick(result: unknown, metric: string): number {
  if (typeof result === "number" || typeof result === "boolean") return toScore(result, metric);
  if (result && typeof result === "object" && !Array.isArray(result)) {
    const record = result as Record<string, unknown>;
    if (Object.hasOwn(record, metric)) return toScore(record[metric], metric);
    if (Object.hasOwn(record, "score")) return toScore(record.score, metric);
    const values = Object.values(record).filter((v): v is number => typeof v === "number" && Number.isFinite(v));
    if (values.length > 0) return values.reduce((a, b) => a + b, 0) / values.length;
  }
  return toScore(result, metric);
}

/** The declared parameter names of a function, as far as its source shows them. */
function parameterNames(fn: (...args: never[]) => unknown): string[] {
  const source = Function.prototype.toString.call(fn);
  const single = source.match(/^(?:async\s+)?([A-Za-z_$][\w$]*)\s*=>/);
  if (single?.[1]) return [single[1]];
  const list = source.match(/\(([^)]*)\)/)?.[1] ?? "";
  return list
    .split(",")
    .map((p) =>
      p
        .replace(/=.*$/s, "")
        .replace(/^\.\.\./, "")
        .trim(),
    )
    .filter((p) => p !== "");
}

function evaluatorStyle(fn: Evaluator): "sdk" | "core" {
  const names = parameterNames(fn as (...args: never[]) => unknown).map((n) => n.replace(/^_+/, ""));
  if (names.includes("prediction") || names.includes("context")) return "sdk";
  if (names.includes("result") || names.includes("metric") || names.includes("params")) return "core";
  return fn.length >= 4 ? "core" : "sdk";
}

/**
 * A class evaluator's `evaluate` method as a function whose parameter names still tell its convention (a bound
 * method hides them).
 */
export function methodEvaluator(instance: object, method: Evaluator): Evaluator {
  if (evaluatorStyle(method) === "core") {
    return function core(result: JsonValue, expected: JsonValue, params: ParamConfig, metric: string) {
      return (method as CoreEvaluator).call(instance, result, expected, params, metric);
    };
  }
  return function sdk(prediction: Prediction, expected: JsonValue, context: EvaluatorContext) {
    return (method as SdkEvaluator).call(instance, prediction, expected, context);
  };
}

/** Scores of the custom metrics for one test case. */
export async function runCustomEvaluator(
  evaluator: Evaluator,
  metrics: readonly string[],
  response: TargetResponse,
  testCase: TestCase,
  params: ParamConfig,
  label?: string,
): Promise<Record<string, number>> {
  const scores: Record<string, number> = {};
  try {
    if (evaluatorStyle(evaluator) === "core") {
      for (const metric of metrics) {
        scores[metric] = toScore(await (evaluator as CoreEvaluator)(response.body, testCase.expected, { ...params }, metric), metric);
      }
      return scores;
    }
    const prediction: Prediction = {
      result: response.body,
      text: response.text,
      latency_ms: response.latency_ms,
      cost_usd: response.cost_usd,
      usage: response.usage,
      model: response.model,
    };
    const context: EvaluatorContext = {
      params: { ...params },
      test_case: { id: testCase.id, input: testCase.input, metadata: testCase.metadata },
      metrics: [...metrics],
    };
    const result = await (evaluator as SdkEvaluator)(prediction, testCase.expected, context);
    for (const metric of metrics) scores[metric] = pick(result, metric);
    return scores;
  } catch (error) {
    if (error instanceof EvaluatorError) throw error;
    throw new EvaluatorError(
      `custom evaluator${label ? ` ${label}` : ""} failed: ${error instanceof Error ? error.message : String(error)}`,
    );
  }
}
