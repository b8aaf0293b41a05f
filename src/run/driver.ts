/**
 * The run driver: every rule of a run in one place, for the in-process executor and the RunCoordinator alike.
 * The hosts only move tasks (a pool of promises; a task ledger and a queue) and count what they send and what
 * comes back in a Ledger; the driver decides whether another call may go out, tells the study a finished round,
 * ends the run when a rule says so (call budget and early stopping in the study; cost, nothing working and
 * cancellation here), asks for the next round, emits the progress events and assembles the report.
 */
import type { ConfigIssue } from "../config/issues.js";
import type { CaseResult } from "../evaluate/case.js";
import { runSteps } from "../optimize/samplers/sampler.js";
import type { Evaluation, EvaluationResult, Study } from "../optimize/study.js";
import { countOutcome, type Ledger } from "./ledger.js";
import { assembleReport, generationEvents, type SocietyCalls } from "./report.js";
import type { EvaluationRecord, Generalization, RunEvent, RunReport } from "./schema.js";

export interface RunRules {
  /** Stop once what the run spent reaches this (USD); null: no cost budget. */
  maxCostUsd: number | null;
}

export class RunDriver {
  private finishedReported = 0;
  private startedReported = -1;
  private callsReported = 0;

  constructor(
    readonly study: Study,
    private readonly rules: RunRules,
    private readonly emit: (event: RunEvent) => void = () => {},
  ) {}

  get done(): boolean {
    return this.study.done;
  }

  private overBudget(ledger: Ledger): boolean {
    return this.rules.maxCostUsd !== null && ledger.spent >= this.rules.maxCostUsd;
  }

  /** Whether one more call may be sent now: the run goes on and its cost budget is not spent. */
  maySend(ledger: Ledger): boolean {
    return !this.study.done && !this.overBudget(ledger);
  }

  /**
   * Whether work after the run (SAO's generalization check) may call the target: only a run that ended on its own
   * terms, not on a budget of calls or cost, a failing target, a cancel or a storage limit.
   */
  mayWorkAfterwards(ledger: Ledger): boolean {
    const reason = this.study.control.stopReason;
    return (reason === "generations" || reason === "no_improvement" || reason === "target_score") && !this.overBudget(ledger);
  }

  started(run: { runId: string; testCases: number; maxCalls: number }): void {
    const { settings } = this.study;
    this.emit({
      type: "run_started",
      run_id: run.runId,
      algorithm: settings.algorithm,
      generations: settings.generations,
      population_size: settings.populationSize,
      test_cases: run.testCases,
      max_calls: run.maxCalls,
    });
    this.progress();
  }

  /** An evaluation's outcome, counted in the ledger and reported as an event. */
  record(ledger: Ledger, evaluation: Evaluation, outcome: CaseResult): void {
    countOutcome(ledger, outcome);
    this.emit({
      type: "evaluation",
      generation: evaluation.generation,
      candidate: evaluation.hash,
      test_case_id: evaluation.testCaseId,
      score: outcome.score,
      success: outcome.success,
      error: outcome.error,
      target_calls: ledger.calls,
    });
  }

  /**
   * A round is over: every evaluation sent was reported, and what was not sent never will be (the budget is
   * spent, or the run was cancelled). Tells the study, applies the run rules, and returns the next round's
   * evaluations, empty once the run is done. Pauses after each candidate proposed (see Study.askSteps).
   */
  *advance(
    ledger: Ledger,
    results: readonly EvaluationResult[],
    options: { cancelled?: boolean } = {},
  ): Generator<void, Evaluation[], void> {
    const study = this.study;
    if (results.length > 0) study.tell(results);
    study.countCallsSentAgain(ledger.resent);
    if (!study.done) {
      if (options.cancelled) study.finish("cancelled", ledger.calls);
      else if (this.overBudget(ledger)) study.finish("max_cost_usd", ledger.calls);
      else if (ledger.results > 0 && ledger.successes === 0) study.finish("all_failed", ledger.calls);
      else if (study.pendingCount > 0) throw new Error(`a round was told with ${study.pendingCount} evaluations missing`);
    }
    const next = yield* study.askSteps();
    this.progress();
    return next;
  }

  /** advance, run to the end at once. */
  advanceNow(ledger: Ledger, results: readonly EvaluationResult[], options: { cancelled?: boolean } = {}): Evaluation[] {
    return runSteps(this.advance(ledger, results, options));
  }

  /** The study cannot go on (its state outgrew its storage): ends it with that reason. */
  abandon(reason: "state_limit", ledger: Ledger): void {
    if (!this.study.done) this.study.finish(reason, ledger.calls);
    this.progress();
  }

  private progress(): void {
    const history = this.study.facts.history();
    const finished = generationEvents(history, this.finishedReported, this.callsReported);
    for (const event of finished.events) this.emit(event);
    this.callsReported = finished.calls;
    this.finishedReported = history.length;
    const current = this.study.control.current;
    if (current && current.index > this.startedReported) {
      this.startedReported = current.index;
      this.emit({ type: "generation_started", generation: current.index });
    }
  }

  report(args: {
    runId: string;
    apiName: string;
    seed: number;
    startedAt: Date;
    finishedAt?: Date;
    ledger: Ledger;
    evaluations: EvaluationRecord[];
    warnings: ConfigIssue[];
    society?: SocietyCalls;
    generalization?: Generalization;
  }): RunReport {
    const report = assembleReport({ ...args, study: this.study });
    this.emit({
      type: "run_finished",
      success: report.error === null,
      best_score: report.best?.score ?? null,
      target_calls: report.target_calls,
      stop_reason: report.stop_reason,
    });
    return report;
  }
}
