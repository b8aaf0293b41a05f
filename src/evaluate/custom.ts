/**
 * Custom evaluators, with the seed's two calling conventions:
 *   - SDK style, `(prediction, expected, context)`: called once per test case; returns a number (used for every
 *     custom metric) or `{metric: score}`, picked per metric: its own key, else `score`, else the mean.
 *     prediction = {result (the response body), text, latency_ms, cost_usd, usage, model};
 *     context = {params, test_case: {id, input, metadata}, metrics: [names it should score]}.
 *   - core style, `(result, expected, params, metric)`: called once per metric with the response body; returns a
 *     number. A function declaring four parameters is core style; fewer, SDK style.
 * Either may be async. Scores are clamped to [0, 1]; anything that is not a number is an error for that case.
 */
import type { TestCase } from "../config/schema.js";
import type { JsonValue } from "../json.js";
import type { ParamConfig } from "../search/space.js";
import type { TargetResponse, TokenUsage } from "../target/types.js";
import { clamp01 } from "./metrics/metric.js";

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
  if (typeof n !== "number" || Number.isNaN(n)) {
    throw new EvaluatorError(
      `custom evaluator returned ${JSON.stringify(value) ?? String(value)} for metric '${metric}', expected a number in [0, 1]`,
    );
  }
  return clamp01(n);
}

function pick(result: unknown, metric: string): number {
  if (typeof result === "number" || typeof result === "boolean") return toScore(result, metric);
  if (result && typeof result === "object" && !Array.isArray(result)) {
    const record = result as Record<string, unknown>;
    if (metric in record) return toScore(record[metric], metric);
    if ("score" in record) return toScore(record.score, metric);
    const values = Object.values(record).filter((v): v is number => typeof v === "number" && !Number.isNaN(v));
    if (values.length > 0) return clamp01(values.reduce((a, b) => a + b, 0) / values.length);
  }
  return toScore(result, metric);
}

/** Scores of the custom metrics for one test case. */
export async function runCustomEvaluator(
  evaluator: Evaluator,
  metrics: readonly string[],
  response: TargetResponse,
  testCase: TestCase,
  params: ParamConfig,
): Promise<Record<string, number>> {
  const scores: Record<string, number> = {};
  try {
    if (evaluator.length >= 4) {
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
    throw new EvaluatorError(`custom evaluator failed: ${error instanceof Error ? error.message : String(error)}`);
  }
}
