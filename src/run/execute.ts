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
  /** Mean of each metric over the test cases it was scored on (metrics that did not apply are left out). */
  metrics: Record<string, number>;
}

export interface FailureSummary {
  test_case_id: string;
  failures: number;
  evaluations: number;
  reasons: { kind: "target" | "evaluation"; message: string; count: number }[];
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
  /** A run on the service reports its calls so far when polled, not one event per evaluation. */
  | { type: "progress"; target_calls: number }
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

/** What a run did, however it ended: reported in the result on success and on failure alike. */
export interface RunTotals {
  target_calls: number;
  failed_calls: number;
  /** Attempts beyond the first, over all calls to the target. */
  retries: number;
  /** Which test cases failed, how often and why. */
  failures: FailureSummary[];
  /** What the calls to the team's API cost (USD); billed whether or not the run completes. */
  cost_usd: number;
  /** What scoring cost: judge and embedding calls (USD). */
  evaluation_cost_usd: number;
  history: GenerationSummary[];
}

export interface RunReport extends RunTotals {
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

export function failureSummary(evaluations: readonly EvaluationRecord[]): FailureSummary[] {
  const byCase = new Map<string, FailureSummary>();
  for (const e of evaluations) {
    const entry = byCase.get(e.test_case_id) ?? { test_case_id: e.test_case_id, failures: 0, evaluations: 0, reasons: [] };
    byCase.set(e.test_case_id, entry);
    entry.evaluations += 1;
    if (e.success) continue;
    entry.failures += 1;
    const message = (e.error ?? "failed").slice(0, 300);
    const kind = e.failure ?? "target";
    const reason = entry.reasons.find((r) => r.message === message && r.kind === kind);
    if (reason) reason.count += 1;
    else entry.reasons.push({ kind, message, count: 1 });
  }
  return [...byCase.values()]
    .filter((f) => f.failures > 0)
    .map((f) => ({ ...f, reasons: f.reasons.sort((a, b) => b.count - a.count) }))
    .sort((a, b) => b.failures - a.failures || a.test_case_id.localeCompare(b.test_case_id));
}

function metricMeans(evaluations: readonly EvaluationRecord[]): Record<string, number> {
  const sums = new Map<string, { sum: number; n: number }>();
  for (const e of evaluations) {
    for (const [name, value] of Object.entries(e.metrics)) {
      if (value === null) continue;
      const entry = sums.get(name) ?? { sum: 0, n: 0 };
      entry.sum += value;
      entry.n += 1;
      sums.set(name, entry);
    }
  }
  return Object.fromEntries([...sums].map(([name, { sum, n }]) => [name, sum / n]));
}

/**
 * Whether a run should stop because nothing works: no evaluation has succeeded after a whole round. Going on
 * would only spend calls (and the user's time) on an unreachable or misconfigured target.
 */
export function nothingWorks(evaluations: readonly Pick<EvaluationRecord, "success">[]): boolean {
  return evaluations.length > 0 && evaluations.every((e) => !e.success);
}

/** Upper bound on target calls, for progress bars. */
export function maxCalls(run: PreparedRun): number {
  const { evolution, execution } = run.config.optimization;
  const bound = evolution.population_size * evolution.generations * run.testCases.length;
  return Math.min(bound, execution.max_target_calls ?? bound);
}

/** Run `work` over the items, at most `limit` at a time; once `stop()` says so, no new item starts. */
async function pool<T>(items: readonly T[], limit: number, work: (item: T) => Promise<void>, stop: () => boolean): Promise<void> {
  let next = 0;
  const workers = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length && !stop()) {
      const item = items[next++] as T;
      await work(item);
    }
  });
  await Promise.all(workers);
}

/** Every candidate the study has scored, with its params and fitness (an estimate when raced out). */
export function candidatesOf(state: StudyState): Omit<CandidateRecord, "metrics">[] {
  return state.trials.map((t) => ({
    generation: t.generation,
    candidate: t.hash,
    params: state.configs[t.hash] as ParamConfig,
    score: t.fitness,
    complete: t.complete,
    dropped: t.dropped,
  }));
}

/**
 * generation_finished events for the generations of `history` after the first `reported`, their target_calls a
 * running total from `callsBefore`: the progress a run in process and a run on a server report alike.
 */
export function generationEvents(
  history: readonly GenerationSummary[],
  reported: number,
  callsBefore: number,
): { events: RunEvent[]; calls: number } {
  let calls = callsBefore;
  const events: RunEvent[] = history.slice(reported).map((summary) => {
    calls += summary.calls;
    return {
      type: "generation_finished",
      generation: summary.generation,
      best: summary.best,
      mean: summary.mean,
      calls: summary.calls,
      target_calls: calls,
    };
  });
  return { events, calls };
}

/** The report of a finished study: the same for a run in process and one coordinated by a Durable Object. */
export function assembleReport(args: {
  runId: string;
  apiName: string;
  seed: number;
  startedAt: Date;
  finishedAt?: Date;
  state: StudyState;
  evaluations: EvaluationRecord[];
  warnings: ConfigIssue[];
  cancelled: boolean;
}): RunReport {
  const { state, evaluations } = args;
  const best = bestOf(state);
  const byCandidate = new Map<string, EvaluationRecord[]>();
  for (const e of evaluations) byCandidate.set(e.candidate, [...(byCandidate.get(e.candidate) ?? []), e]);
  const failed = evaluations.filter((e) => !e.success);
  let error: string | null = null;
  if (args.cancelled) error = "Optimization was cancelled";
  else if (evaluations.length > 0 && failed.length === evaluations.length) {
    const what = failed.every((e) => e.failure === "target") ? "call to the target" : "evaluation";
    error = `every ${what} failed (${failed.length} calls); first error: ${failed[0]?.error ?? "unknown"}`;
  } else if (!best && state.stopReason === "max_cost_usd") {
    error = "the max_cost_usd budget was spent before any config was scored on every test case";
  } else if (!best) error = "no config was scored on every test case (is max_target_calls too low?)";
  return {
    run_id: args.runId,
    api_name: args.apiName,
    algorithm: state.settings.algorithm,
    seed: args.seed,
    started_at: args.startedAt.toISOString(),
    finished_at: (args.finishedAt ?? new Date()).toISOString(),
    stop_reason: state.stopReason ?? "generations",
    best: best ? { config: best.config, score: best.score } : null,
    generations_run: state.history.length,
    configs_generated: state.trials.length,
    target_calls: evaluations.length,
    failed_calls: failed.length,
    retries: evaluations.reduce((sum, e) => sum + Math.max(0, e.attempts - 1), 0),
    failures: failureSummary(evaluations),
    cost_usd: evaluations.reduce((sum, e) => sum + e.cost_usd, 0),
    evaluation_cost_usd: evaluations.reduce((sum, e) => sum + e.evaluation_cost_usd, 0),
    history: state.history,
    candidates: candidatesOf(state).map((c) => ({ ...c, metrics: metricMeans(byCandidate.get(c.candidate) ?? []) })),
    evaluations: [...evaluations].sort(
      (a, b) => a.generation - b.generation || a.candidate.localeCompare(b.candidate) || a.test_case_id.localeCompare(b.test_case_id),
    ),
    warnings: args.warnings,
    error,
  };
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
  let spent = 0;
  const budget = config.optimization.execution.max_cost_usd ?? Number.POSITIVE_INFINITY;
  let finishedReported = 0;
  let startedReported = -1;
  let callsReported = 0;
  const report = () => {
    const finished = generationEvents(state.history, finishedReported, callsReported);
    for (const event of finished.events) emit(event);
    callsReported = finished.calls;
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
          const cost = outcome.cost_usd + outcome.evaluation_cost_usd;
          spent += cost;
          results.push({ hash: e.hash, testCaseId: e.testCaseId, score: outcome.score, cost });
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
        // The budget stops new calls at once, not at the end of the batch.
        () => options.signal?.aborted === true || spent >= budget,
      );
    } catch (error) {
      if (!options.signal?.aborted) throw error;
    }
    state = tell(state, results);
    cancelled = options.signal?.aborted === true;
    if (!cancelled && state.status === "running" && (spent >= budget || nothingWorks(evaluations))) {
      state = finish(state, spent >= budget ? "max_cost_usd" : "all_failed");
      report();
    }
  }
  if (cancelled) {
    state = finish(state, "cancelled");
    report();
  }

  const result = assembleReport({
    runId: options.runId,
    apiName: config.api.name,
    seed: options.seed,
    startedAt,
    state,
    evaluations,
    warnings: run.warnings,
    cancelled,
  });
  emit({
    type: "run_finished",
    success: result.error === null,
    best_score: result.best?.score ?? null,
    target_calls: result.target_calls,
    stop_reason: result.stop_reason,
  });
  return result;
}
