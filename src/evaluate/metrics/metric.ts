import type { MetricConfig, TestCase } from "../../config/schema.js";
import type { ParamConfig } from "../../search/space.js";
import type { TargetResponse } from "../../target/types.js";
import type { Embedder } from "../embeddings.js";
import type { Judge } from "../judge.js";
import type { Corpus } from "../lexical.js";

/** Model services a metric may call; absent ones fall back to the documented offline measures. */
export interface EvaluationServices {
  judge: Judge | null;
  embedder: Embedder | null;
}

interface MetricInput {
  response: TargetResponse;
  testCase: TestCase;
  params: ParamConfig;
  /** The metric's own settings from the config (weight, threshold, budget_per_call, ...). */
  options: MetricConfig;
  /** Term statistics over the run's test cases, for TF-IDF. */
  corpus: Corpus;
  resultField?: string;
  services: EvaluationServices;
  /** Record what a judge or embedding call cost (kept apart from the target's cost). */
  spend: (usd: number) => void;
  signal?: AbortSignal;
}

/** A built-in metric: a score in [0, 1] where higher is better, or null when it does not apply to this case. */
export interface Metric {
  readonly id: string;
  readonly description: string;
  score(input: MetricInput): number | null | Promise<number | null>;
}

export function clamp01(x: number): number {
  if (!Number.isFinite(x)) return 0;
  return Math.min(1, Math.max(0, x));
}

/** A numeric option under any of its spellings. */
export function option(options: MetricConfig, names: readonly string[], fallback: number): number {
  for (const name of names) {
    const value = (options as Record<string, unknown>)[name];
    if (typeof value === "number" && Number.isFinite(value) && value > 0) return value;
  }
  return fallback;
}
