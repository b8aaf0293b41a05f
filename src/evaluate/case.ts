import { z } from "zod";
import type { MetricConfig, TestCase } from "../config/schema.js";
import type { ParamConfig } from "../search/space.js";
import { redact } from "../target/secrets.js";
import type { Target, TargetResponse } from "../target/types.js";
import { type Evaluator, EvaluatorError, runCustomEvaluator } from "./custom.js";
import { JudgeError } from "./judge.js";
import type { Corpus } from "./lexical.js";
import { clamp01, type EvaluationServices } from "./metrics/metric.js";
import { RuleError } from "./metrics/rules.js";
import { ProviderError } from "./providers.js";
import type { PlannedMetric } from "./registry.js";

/** What failed: the call to the team's API, or scoring the answer (judge, embeddings, evaluator, rules). */
export const FailureKindSchema = z.enum(["target", "evaluation"]);

/** One (config, test case) evaluation, as the results, the run's answers and the output files report it. */
export const CaseResultSchema = z.object({
  test_case_id: z.string(),
  /** Σ weight × metric score / Σ weight over the metrics that apply; 0 for a failed case. */
  score: z.number(),
  /** Each metric's score; null where the metric did not apply. */
  metrics: z.record(z.string(), z.number().nullable()),
  success: z.boolean(),
  error: z.string().nullable(),
  failure: FailureKindSchema.nullable(),
  latency_ms: z.number(),
  /** What the call to the team's API cost. */
  cost_usd: z.number(),
  /** What scoring cost (judge and embedding calls), apart from the target's cost. */
  evaluation_cost_usd: z.number(),
  input_tokens: z.number().nullable(),
  output_tokens: z.number().nullable(),
  attempts: z.int(),
  /** The start of the answer text (the full text is not kept). */
  response_excerpt: z.string(),
});
export type CaseResult = z.output<typeof CaseResultSchema>;

export interface CaseScoring {
  metrics: readonly PlannedMetric[];
  evaluator: Evaluator | null;
  corpus: Corpus;
  resultField?: string;
  services: EvaluationServices;
  /** Judges by metric name, for metrics that override evaluation.judge. */
  judges?: Readonly<Record<string, EvaluationServices["judge"]>>;
  /** Every form of every secret of the run: scrubbed from all a case keeps (errors, the answer excerpt). */
  secrets?: readonly string[];
  /** Names the custom evaluator in its errors, like `groq_responses.score_groq_response`. */
  evaluatorLabel?: string;
  /** How much of each answer is kept (default EXCERPT_CHARS; more when the society collects preference data). */
  answerChars?: number;
}

const EXCERPT_CHARS = 500;
/** An answer kept whole for preference data, up to this: the pairs teach from whole answers, bounded per row. */
export const PREFERENCE_ANSWER_CHARS = 4_000;

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

/**
 * A custom metric's value as a score: `lower_is_better` values are costs (1 - value, or 1 - value / threshold),
 * and a threshold on any other metric is the value that scores 1.
 */
export function customScore(value: number, options: MetricConfig): number {
  const threshold = options.threshold;
  if (options.type === "lower_is_better") return clamp01(threshold ? 1 - value / threshold : 1 - value);
  return clamp01(threshold ? value / threshold : value);
}

function result(
  testCase: TestCase,
  response: TargetResponse,
  score: number,
  metrics: Record<string, number | null>,
  error: string | null,
  failure: CaseResult["failure"],
  evaluationCost: number,
  scoring: CaseScoring,
): CaseResult {
  const secrets = scoring.secrets ?? [];
  return {
    test_case_id: testCase.id,
    score,
    metrics,
    success: error === null,
    error: error === null ? null : redact(error, secrets),
    failure,
    latency_ms: Math.round(response.latency_ms * 10) / 10,
    cost_usd: response.cost_usd,
    evaluation_cost_usd: evaluationCost,
    input_tokens: response.usage?.input_tokens ?? null,
    output_tokens: response.usage?.output_tokens ?? null,
    attempts: response.attempts,
    response_excerpt: redact(response.text, secrets).slice(0, scoring.answerChars ?? EXCERPT_CHARS),
  };
}

/** Call the target and score the answer. A failed call, judge or evaluator scores 0 for this case only. */
export async function scoreCase(
  target: Target,
  scoring: CaseScoring,
  params: ParamConfig,
  testCase: TestCase,
  signal?: AbortSignal,
): Promise<CaseResult> {
  const response = await target(params, testCase, signal);
  const zeros = Object.fromEntries(scoring.metrics.map((m) => [m.name, 0]));
  if (!response.ok) return result(testCase, response, 0, zeros, response.error ?? "call failed", "target", 0, scoring);
  const scores: Record<string, number | null> = {};
  let spent = 0;
  const spend = (usd: number) => {
    spent += usd;
  };
  try {
    for (const m of scoring.metrics) {
      if (m.kind !== "builtin") continue;
      const judge = scoring.judges?.[m.name];
      scores[m.name] = await m.metric.score({
        response,
        testCase,
        params,
        options: m.options,
        corpus: scoring.corpus,
        services: judge !== undefined ? { ...scoring.services, judge } : scoring.services,
        spend,
        ...(scoring.resultField ? { resultField: scoring.resultField } : {}),
        ...(signal ? { signal } : {}),
      });
    }
    const custom = scoring.metrics.filter((m) => m.kind === "custom");
    if (custom.length > 0) {
      if (!scoring.evaluator) throw new EvaluatorError(`no custom evaluator for ${custom.map((m) => m.name).join(", ")}`);
      const values = await runCustomEvaluator(
        scoring.evaluator,
        custom.map((m) => m.name),
        response,
        testCase,
        params,
        scoring.evaluatorLabel,
      );
      for (const m of custom) scores[m.name] = customScore(values[m.name] as number, m.options);
    }
  } catch (error) {
    if (signal?.aborted) throw error;
    if (error instanceof EvaluatorError || error instanceof JudgeError || error instanceof ProviderError || error instanceof RuleError) {
      return result(testCase, response, 0, zeros, error.message, "evaluation", spent, scoring);
    }
    throw error;
  }
  return result(testCase, response, aggregate(scoring.metrics, scores), scores, null, null, spent, scoring);
}
