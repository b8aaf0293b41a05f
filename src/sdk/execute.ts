/**
 * The in-process run: asks the study for evaluations, runs them concurrently (at most parallel_workers at a
 * time), scores them, and tells the study, until it is done. A Durable Object drives the same study from queue
 * reports instead.
 */
import type { ConfigIssue } from "../config/issues.js";
import type { TestCase } from "../config/schema.js";
import { type CaseResult, scoreCase } from "../evaluate/case.js";
import { studySettings } from "../optimize/settings.js";
import {
  ask,
  bestOf,
  createStudy,
  type Evaluation,
  type EvaluationResult,
  finish,
  type GenerationSummary,
  type StopReason,
  type StudyState,
  tell,
} from "../optimize/study.js";
import type { ParamConfig } from "../search/space.js";
import type { PreparedRun } from "./prepare.js";

export interface EvaluationRecord extends CaseResult {
  generation: number;
  candidate: string;
  params: ParamConfig;
}

export interface CandidateRecord {
  generation: number;
  candidate: string;
  params: ParamConfig;
  /** Full weighted score, or the race's estimate when it was stopped early. */
  score: number;
  complete: boolean;
  dropped: boolean;
}

export type RunEvent =
  | {
      type: "run_started";
      run_id: string;
      algorithm: string;
      generations: number;
      population_size: number;
      test_cases: number;
      max_calls: number;
    }
  | { type: "generation_started"; generation: number }
  | {
      type: "evaluation";
      generation: number;
      candidate: string;
      test_case_id: string;
      score: number;
      success: boolean;
      error: string | null;
      target_calls: number;
    }
  | { type: "generation_finished"; generation: number; best: number | null; mean: number | null; calls: number; target_calls: number }
  | { type: "run_finished"; success: boolean; best_score: number | null; target_calls: number; stop_reason: string };

export interface RunReport {
  run_id: string;
  api_name: string;
  algorithm: string;
  seed: number;
  started_at: string;
  finished_at: string;
  stop_reason: StopReason;
  best: { config: ParamConfig; score: number } | null;
  generations_run: number;
  configs_generated: number;
  target_calls: number;
  failed_calls: number;
  cost_usd: number;
  history: GenerationSummary[];
  candidates: CandidateRecord[];
  evaluations: EvaluationRecord[];
  warnings: ConfigIssue[];
  /** Set when the run produced no usable result. */
  error: string | null;
}

export interface ExecuteOptions {
  runId: string;
  seed: number;
  onEvent?: (event: RunEvent) => void;
  signal?: AbortSignal;
}

/** Upper bound on target calls, for progress bars. */
export function maxCalls(run: PreparedRun): number {
  const { evolution, execution } = run.config.optimization;
  const bound = evolution.population_size * evolution.generations * run.testCases.length;
  return Math.min(bound, execution.max_target_calls ?? bound);
}

/** Run `work` over the items, at most `limit` at a time; once `signal` aborts, no new item starts. */
async function pool<T>(items: readonly T[], limit: number, work: (item: T) => Promise<void>, signal?: AbortSignal): Promise<void> {
  let next = 0;
  const workers = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length && !signal?.aborted) {
      const item = items[next++] as T;
      await work(item);
    }
  });
  await Promise.all(workers);
}

export async function executeRun(run: PreparedRun, options: ExecuteOptions): Promise<RunReport> {
  const { config, testCases, scoring, target } = run;
  const emit = (event: RunEvent) => {
    try {
      options.onEvent?.(event);
    } catch {
      // A broken progress callback must not break the run.
    }
  };
  const startedAt = new Date();
  const settings = studySettings(config.optimization);
  let state: StudyState = createStudy({ settings, space: config.search_space.parameters, testCases, seed: options.seed });
  const byId = new Map(testCases.map((t) => [t.id, t]));
  const evaluations: EvaluationRecord[] = [];
  const workers = config.optimization.execution.parallel_workers;
  emit({
    type: "run_started",
    run_id: options.runId,
    algorithm: settings.algorithm,
    generations: settings.generations,
    population_size: settings.populationSize,
    test_cases: testCases.length,
    max_calls: maxCalls(run),
  });

  let cancelled = false;
  let finishedReported = 0;
  let startedReported = -1;
  let callsReported = 0;
  const report = () => {
    for (const summary of state.history.slice(finishedReported)) {
      callsReported += summary.calls;
      emit({
        type: "generation_finished",
        generation: summary.generation,
        best: summary.best,
        mean: summary.mean,
        calls: summary.calls,
        target_calls: callsReported,
      });
    }
    finishedReported = state.history.length;
    if (state.current && state.current.index > startedReported) {
      startedReported = state.current.index;
      emit({ type: "generation_started", generation: startedReported });
    }
  };
  while (state.status === "running" && !cancelled) {
    const asked = ask(state);
    state = asked.state;
    report();
    if (asked.evaluations.length === 0) continue;
    const results: EvaluationResult[] = [];
    try {
      await pool(
        asked.evaluations,
        workers,
        async (e: Evaluation) => {
          const testCase = byId.get(e.testCaseId) as TestCase;
          const outcome = await scoreCase(target, scoring, e.config, testCase, options.signal);
          results.push({ hash: e.hash, testCaseId: e.testCaseId, score: outcome.score });
          evaluations.push({ generation: e.generation, candidate: e.hash, params: e.config, ...outcome });
          emit({
            type: "evaluation",
            generation: e.generation,
            candidate: e.hash,
            test_case_id: e.testCaseId,
            score: outcome.score,
            success: outcome.success,
            error: outcome.error,
            target_calls: evaluations.length,
          });
        },
        options.signal,
      );
    } catch (error) {
      if (!options.signal?.aborted) throw error;
    }
    state = tell(state, results);
    cancelled = options.signal?.aborted === true;
  }
  if (cancelled) {
    state = finish(state, "cancelled");
    report();
  }

  const best = bestOf(state);
  const failed = evaluations.filter((e) => !e.success);
  let error: string | null = null;
  if (cancelled) error = "Optimization was cancelled";
  else if (evaluations.length > 0 && failed.length === evaluations.length) {
    error = `every call to the target failed (${failed.length} calls); first error: ${failed[0]?.error ?? "unknown"}`;
  } else if (!best) error = "no config was scored on every test case (is max_target_calls too low?)";

  const result: RunReport = {
    run_id: options.runId,
    api_name: config.api.name,
    algorithm: settings.algorithm,
    seed: options.seed,
    started_at: startedAt.toISOString(),
    finished_at: new Date().toISOString(),
    stop_reason: state.stopReason ?? "generations",
    best: best ? { config: best.config, score: best.score } : null,
    generations_run: state.history.length,
    configs_generated: state.trials.length,
    target_calls: evaluations.length,
    failed_calls: failed.length,
    cost_usd: evaluations.reduce((sum, e) => sum + e.cost_usd, 0),
    history: state.history,
    candidates: state.trials.map((t) => ({
      generation: t.generation,
      candidate: t.hash,
      params: state.configs[t.hash] as ParamConfig,
      score: t.fitness,
      complete: t.complete,
      dropped: t.dropped,
    })),
    evaluations: evaluations.sort(
      (a, b) => a.generation - b.generation || a.candidate.localeCompare(b.candidate) || a.test_case_id.localeCompare(b.test_case_id),
    ),
    warnings: run.warnings,
    error,
  };
  emit({
    type: "run_finished",
    success: error === null,
    best_score: best?.score ?? null,
    target_calls: result.target_calls,
    stop_reason: result.stop_reason,
  });
  return result;
}
