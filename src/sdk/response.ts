/**
 * The seed's response object (OptimizationResultSchema, src/run/schema.ts) made from a run's report, for a run in
 * process and a run in the worker alike, and the run ids and seeds both hosts draw.
 */
import type { ConfigIssue } from "../config/issues.js";
import type { OptimizationFailure, OptimizationResult, RunReport, RunTotals } from "../run/schema.js";
import { hashConfig } from "../search/hash.js";

// runOptimization's callers and the CLI read the result's types from here; src/run/schema.ts defines them.
export type { OptimizationFailure, OptimizationResult, OptimizationSuccess } from "../run/schema.js";

export function fail(error: string, extra: Partial<OptimizationFailure> = {}): OptimizationFailure {
  return { success: false, error, configs_generated: 0, configs_saved: 0, ...extra };
}

export function newRunId(apiName: string, now = new Date()): string {
  const hex = Array.from(crypto.getRandomValues(new Uint8Array(4)), (b) => b.toString(16).padStart(2, "0")).join("");
  return `${apiName}_${Math.floor(now.getTime() / 1000)}_${hex}`;
}

export function randomSeed(): number {
  return crypto.getRandomValues(new Uint32Array(1))[0] as number;
}

export const warningText = (issues: readonly ConfigIssue[]) => issues.map((w) => (w.path ? `${w.path}: ${w.message}` : w.message));

export function toSeedResponse(report: RunReport): OptimizationResult {
  const totals: RunTotals = {
    target_calls: report.target_calls,
    failed_calls: report.failed_calls,
    retries: report.retries,
    failures: report.failures,
    cost_usd: report.cost_usd,
    evaluation_cost_usd: report.evaluation_cost_usd,
    history: report.history,
    ...(report.society ? { society: report.society } : {}),
    ...(report.generalization ? { generalization: report.generalization } : {}),
  };
  if (report.error !== null || !report.best) {
    return fail(report.error ?? "no result", {
      ...totals,
      warnings: warningText(report.warnings),
      optimization_run_id: report.run_id,
      stop_reason: report.stop_reason,
      best_config: report.best?.config ?? null,
      best_score: report.best?.score ?? null,
    });
  }
  const bestHash = hashConfig(report.best.config);
  return {
    success: true,
    best_config: report.best.config,
    best_score: report.best.score,
    best_metrics: report.candidates.find((c) => c.complete && hashConfig(c.params) === bestHash)?.metrics ?? {},
    configs_generated: report.configs_generated,
    configs_saved: report.candidates.length,
    optimization_run_id: report.run_id,
    generations_run: report.generations_run,
    timestamp: report.finished_at,
    ...totals,
    warnings: warningText(report.warnings),
    algorithm: report.algorithm,
    seed: report.seed,
    stop_reason: report.stop_reason,
  };
}
