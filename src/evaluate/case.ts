import type { TestCase } from "../config/schema.js";
import type { ParamConfig } from "../search/space.js";
import type { Target, TargetResponse } from "../target/types.js";
import { type Evaluator, EvaluatorError, runCustomEvaluator } from "./custom.js";
import type { Corpus } from "./lexical.js";
import type { PlannedMetric } from "./registry.js";

/** One (config, test case) evaluation, as the results and the output files report it. */
export interface CaseResult {
  test_case_id: string;
  /** Σ weight × metric score / Σ weight over the metrics that apply; 0 for a failed call. */
  score: number;
  metrics: Record<string, number | null>;
  success: boolean;
  error: string | null;
  latency_ms: number;
  cost_usd: number;
  input_tokens: number | null;
  output_tokens: number | null;
  attempts: number;
  /** The start of the answer text (the full text is not kept). */
  response_excerpt: string;
}

export interface CaseScoring {
  metrics: readonly PlannedMetric[];
  evaluator: Evaluator | null;
  corpus: Corpus;
  resultField?: string;
}

const EXCERPT_CHARS = 500;

export function aggregate(metrics: readonly PlannedMetric[], scores: Record<string, number | null>): number {
  let sum = 0;
  let total = 0;
  for (const m of metrics) {
    const s = scores[m.name];
    if (s === null || s === undefined) continue;
    sum += m.weight * s;
    total += m.weight;
  }
  return total > 0 ? sum / total : 0;
}

function result(
  testCase: TestCase,
  response: TargetResponse,
  score: number,
  metrics: Record<string, number | null>,
  error: string | null,
): CaseResult {
  return {
    test_case_id: testCase.id,
    score,
    metrics,
    success: error === null,
    error,
    latency_ms: Math.round(response.latency_ms * 10) / 10,
    cost_usd: response.cost_usd,
    input_tokens: response.usage?.input_tokens ?? null,
    output_tokens: response.usage?.output_tokens ?? null,
    attempts: response.attempts,
    response_excerpt: response.text.slice(0, EXCERPT_CHARS),
  };
}

/** Call the target and score the answer. A failed call or a failing evaluator scores 0 for this case only. */
export async function scoreCase(
  target: Target,
  scoring: CaseScoring,
  params: ParamConfig,
  testCase: TestCase,
  signal?: AbortSignal,
): Promise<CaseResult> {
  const response = await target(params, testCase, signal);
  const zeros = Object.fromEntries(scoring.metrics.map((m) => [m.name, 0]));
  if (!response.ok) return result(testCase, response, 0, zeros, response.error ?? "call failed");
  const scores: Record<string, number | null> = {};
  for (const m of scoring.metrics) {
    if (m.kind === "builtin") {
      scores[m.name] = m.metric.score({
        response,
        testCase,
        params,
        options: m.options,
        corpus: scoring.corpus,
        ...(scoring.resultField ? { resultField: scoring.resultField } : {}),
      });
    }
  }
  const custom = scoring.metrics.filter((m) => m.kind === "custom").map((m) => m.name);
  if (custom.length > 0) {
    if (!scoring.evaluator) return result(testCase, response, 0, zeros, `no custom evaluator for ${custom.join(", ")}`);
    try {
      Object.assign(scores, await runCustomEvaluator(scoring.evaluator, custom, response, testCase, params));
    } catch (error) {
      if (!(error instanceof EvaluatorError)) throw error;
      return result(testCase, response, 0, zeros, error.message);
    }
  }
  return result(testCase, response, aggregate(scoring.metrics, scores), scores, null);
}
