/**
 * Which scorer each configured metric uses. In order:
 *   1. `function: custom` goes to the custom evaluator;
 *   2. a built-in `type`: the seed's llm_judge, cost_normalized, cosine_similarity, diversity_score,
 *      latency_penalty; rule metrics (contains, regex, json_valid, json_schema, length, exact_match, similarity);
 *      the reference's built-in evaluators (text_quality, json_structure, json_validity, code_quality);
 *   3. a built-in name (latency_ms, cost_usd, cost_per_call, success_rate, accuracy): the seed's metrics;
 *      accuracy uses `function` exact_match or similarity, else the custom evaluator when there is one,
 *      else exact_match;
 *   4. anything else (a direction type such as higher_is_better, or none) goes to the custom evaluator, and is an
 *      error when there is none.
 * Every built-in score is in [0, 1] and higher is better. For custom-scored metrics, `type: lower_is_better`
 * means the evaluator reports a cost (score = 1 - value, or 1 - value / threshold with a threshold), and a
 * `threshold` on a higher_is_better metric is the value that scores 1 (score = value / threshold).
 */
import type { ConfigIssue } from "../config/issues.js";
import type { MetricConfig } from "../config/schema.js";
import { own } from "../json.js";
import { exactMatchMetric, similarityMetric } from "./metrics/accuracy.js";
import { codeQualityMetric } from "./metrics/code-quality.js";
import { cosineMetric } from "./metrics/cosine.js";
import { costNormalizedMetric, costUsdMetric } from "./metrics/cost.js";
import { diversityMetric } from "./metrics/diversity.js";
import { jsonStructureMetric, jsonValidityMetric } from "./metrics/json-structure.js";
import { judgeMetric } from "./metrics/judge.js";
import { latencyMetric } from "./metrics/latency.js";
import type { Metric } from "./metrics/metric.js";
import { containsMetric, jsonSchemaMetric, jsonValidMetric, lengthMetric, regexMetric } from "./metrics/rules.js";
import { successMetric } from "./metrics/success.js";
import { textQualityMetric } from "./metrics/text-quality.js";

export const METRIC_TYPES: Readonly<Record<string, Metric>> = {
  llm_judge: judgeMetric,
  cost_normalized: costNormalizedMetric,
  cosine_similarity: cosineMetric,
  diversity_score: diversityMetric,
  latency_penalty: latencyMetric,
  contains: containsMetric,
  regex: regexMetric,
  json_valid: jsonValidMetric,
  json_schema: jsonSchemaMetric,
  length: lengthMetric,
  exact_match: exactMatchMetric,
  similarity: similarityMetric,
  text_quality: textQualityMetric,
  json_structure: jsonStructureMetric,
  json_validity: jsonValidityMetric,
  code_quality: codeQualityMetric,
};

export const METRIC_NAMES: Readonly<Record<string, Metric>> = {
  latency_ms: latencyMetric,
  cost_usd: costUsdMetric,
  cost_per_call: costUsdMetric,
  success_rate: successMetric,
};

const ACCURACY_FUNCTIONS: Readonly<Record<string, Metric>> = { exact_match: exactMatchMetric, similarity: similarityMetric };

/** Types that only say which way is better; they pick no scorer. */
const DIRECTIONS = new Set(["higher_is_better", "lower_is_better"]);

export type PlannedMetric =
  | { name: string; weight: number; kind: "builtin"; metric: Metric; options: MetricConfig }
  | { name: string; weight: number; kind: "custom"; options: MetricConfig };

export interface MetricPlan {
  metrics: PlannedMetric[];
  errors: ConfigIssue[];
  /** Names of the metrics the custom evaluator must score. */
  customMetrics: string[];
}

export function planMetrics(metrics: Readonly<Record<string, MetricConfig>>, hasCustomEvaluator: boolean): MetricPlan {
  const planned: PlannedMetric[] = [];
  const errors: ConfigIssue[] = [];
  for (const [name, options] of Object.entries(metrics)) {
    const path = `evaluation.metrics.${name}`;
    const base = { name, weight: options.weight, options };
    const custom = () => planned.push({ ...base, kind: "custom" });
    const builtin = (metric: Metric) => planned.push({ ...base, kind: "builtin", metric });

    if (options.function === "custom") {
      if (hasCustomEvaluator) custom();
      else
        errors.push({
          path: `${path}.function`,
          message: "is custom, but no custom evaluator is configured (evaluation.custom_evaluator, or the SDK's evaluator option)",
        });
      continue;
    }
    const byType = options.type ? own(METRIC_TYPES, options.type) : undefined;
    if (byType) {
      builtin(byType);
      continue;
    }
    const byName = own(METRIC_NAMES, name);
    if (byName) {
      builtin(byName);
      continue;
    }
    if (name === "accuracy") {
      const fn = options.function ? own(ACCURACY_FUNCTIONS, options.function) : undefined;
      if (fn) builtin(fn);
      else if (options.function) {
        errors.push({
          path: `${path}.function`,
          message: `unknown accuracy function '${options.function}' (exact_match, similarity or custom)`,
        });
      } else if (hasCustomEvaluator) custom();
      else builtin(exactMatchMetric);
      continue;
    }
    if (hasCustomEvaluator) {
      custom();
      continue;
    }
    const known = `built-in types: ${Object.keys(METRIC_TYPES).join(", ")}; built-in names: ${[...Object.keys(METRIC_NAMES), "accuracy"].join(", ")}`;
    if (options.type && !DIRECTIONS.has(options.type)) {
      errors.push({
        path: `${path}.type`,
        message: `unknown metric type '${options.type}' and no custom evaluator is configured (${known})`,
      });
    } else {
      errors.push({ path, message: `'${name}' is not a built-in metric and no custom evaluator is configured to score it (${known})` });
    }
  }
  return { metrics: planned, errors, customMetrics: planned.filter((m) => m.kind === "custom").map((m) => m.name) };
}
