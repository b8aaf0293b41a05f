/**
 * What a run reports, in process and on the service alike: its records, its events, and the report assembled
 * from the study, the ledger and the evaluations when it ends.
 */
import type { ConfigIssue } from "../config/issues.js";
import type { GenerationSummary } from "../optimize/schema.js";
import type { Study } from "../optimize/study.js";
import type { Ledger } from "./ledger.js";
import type { PreparedRun } from "./prepare.js";
import type { EvaluationRecord, FailureSummary, Generalization, RunEvent, RunReport, SocietyReport } from "./schema.js";

function failureSummary(evaluations: readonly EvaluationRecord[]): FailureSummary[] {
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

/** Upper bound on target calls, for progress bars. */
export function maxCalls(run: PreparedRun): number {
  const { evolution, execution } = run.config.optimization;
  const bound = evolution.population_size * evolution.generations * run.testCases.length;
  return Math.min(bound, execution.max_target_calls ?? bound);
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
  study: Study;
  ledger: Ledger;
  evaluations: EvaluationRecord[];
  warnings: ConfigIssue[];
  /** The society's calls, when it proposed. */
  society?: SocietyCalls;
  generalization?: Generalization;
}): RunReport {
  const { study, evaluations } = args;
  const stopReason = study.control.stopReason ?? "generations";
  const best = study.best();
  const byCandidate = new Map<string, EvaluationRecord[]>();
  for (const e of evaluations) {
    const list = byCandidate.get(e.candidate);
    if (list) list.push(e);
    else byCandidate.set(e.candidate, [e]);
  }
  const failed = evaluations.filter((e) => !e.success);
  let error: string | null = null;
  if (stopReason === "cancelled") error = "Optimization was cancelled";
  else if (stopReason === "state_limit") {
    error = "the run's state outgrew what the service can keep for one run: lower population_size or the number of test cases";
  } else if (evaluations.length > 0 && failed.length === evaluations.length) {
    const what = failed.every((e) => e.failure === "target") ? "call to the target" : "evaluation";
    error = `every ${what} failed (${failed.length} calls); first error: ${failed[0]?.error ?? "unknown"}`;
  } else if (!best && stopReason === "max_cost_usd") {
    error = "the max_cost_usd budget was spent before any config was scored on every test case";
  } else if (!best) error = "no config was scored on every test case (is max_target_calls too low?)";
  return {
    run_id: args.runId,
    api_name: args.apiName,
    algorithm: study.settings.algorithm,
    seed: args.seed,
    started_at: args.startedAt.toISOString(),
    finished_at: (args.finishedAt ?? new Date()).toISOString(),
    stop_reason: stopReason,
    best: best ? { config: best.config, score: best.score } : null,
    generations_run: study.facts.history().length,
    configs_generated: study.facts.trials().length,
    target_calls: args.ledger.calls,
    failed_calls: failed.length,
    retries: evaluations.reduce((sum, e) => sum + Math.max(0, e.attempts - 1), 0),
    failures: failureSummary(evaluations),
    cost_usd: evaluations.reduce((sum, e) => sum + e.cost_usd, 0),
    evaluation_cost_usd: evaluations.reduce((sum, e) => sum + e.evaluation_cost_usd, 0),
    history: [...study.facts.history()],
    candidates: study.candidates().map((c) => ({ ...c, metrics: metricMeans(byCandidate.get(c.candidate) ?? []) })),
    evaluations: [...evaluations].sort(
      (a, b) => a.generation - b.generation || a.candidate.localeCompare(b.candidate) || a.test_case_id.localeCompare(b.test_case_id),
    ),
    warnings: args.warnings,
    error,
    ...(args.society ? { society: societyReport(study, args.society, best?.hash ?? null) } : {}),
    ...(args.generalization ? { generalization: args.generalization } : {}),
  };
}

/** The host's count of the society's calls (the study counts the candidates). */
export interface SocietyCalls {
  calls: number;
  failed: number;
  malformed: number;
  cost_usd: number;
}

function societyReport(study: Study, calls: SocietyCalls, bestHash: string | null): SocietyReport {
  const counts = study.control.suggestions ?? { proposed: 0, valid: 0, invalid: 0, duplicates: 0, tried: [] };
  const scored = new Map(study.candidates().map((c) => [c.candidate, c]));
  const better = counts.tried.filter((t) => {
    const c = scored.get(t.hash);
    return c?.complete === true && (t.incumbent === null || c.score > t.incumbent);
  }).length;
  return {
    proposer_calls: calls.calls,
    failed_calls: calls.failed,
    malformed_replies: calls.malformed,
    proposed: counts.proposed,
    valid: counts.valid,
    invalid: counts.invalid,
    duplicates: counts.duplicates,
    tried: counts.tried.length,
    better,
    best_proposed: bestHash !== null && counts.tried.some((t) => t.hash === bestHash),
    cost_usd: calls.cost_usd,
  };
}
