/**
 * The in-process host of a run: it runs each round's evaluations concurrently (at most parallel_workers at a
 * time) and hands what came back to the driver, which owns every rule. A Durable Object hosts the same driver
 * from queue reports instead (workers/objects/run-coordinator.ts).
 */
import type { TestCase } from "../config/schema.js";
import { scoreCase } from "../evaluate/case.js";
import { studySettings } from "../optimize/settings.js";
import { type Evaluation, type EvaluationResult, Study } from "../optimize/study.js";
import { checkGeneralization } from "../society/generalize.js";
import { askProposer, newSocietyState } from "../society/rlp-step.js";
import { RunDriver } from "./driver.js";
import { countCall, type Ledger, newLedger } from "./ledger.js";
import type { PreparedRun } from "./prepare.js";
import { maxCalls } from "./report.js";
import type { EvaluationRecord, RunEvent, RunReport } from "./schema.js";

export interface ExecuteOptions {
  runId: string;
  seed: number;
  onEvent?: (event: RunEvent) => void;
  signal?: AbortSignal;
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
  const study = Study.create({
    settings: studySettings(config.optimization),
    space: config.search_space.parameters,
    testCases,
    seed: options.seed,
  });
  const driver = new RunDriver(study, { maxCostUsd: config.optimization.execution.max_cost_usd ?? null }, emit);
  const ledger = newLedger();
  const byId = new Map(testCases.map((t) => [t.id, t]));
  const evaluations: EvaluationRecord[] = [];
  const aborted = () => options.signal?.aborted === true;
  driver.started({ runId: options.runId, testCases: testCases.length, maxCalls: maxCalls(run) });

  const society = societyHost(run, study, evaluations, ledger, options.signal);
  let round = driver.advanceNow(ledger, []);
  society?.generationStarted();
  while (!driver.done) {
    const results: EvaluationResult[] = [];
    try {
      await pool(
        round,
        config.optimization.execution.parallel_workers,
        async (e: Evaluation) => {
          countCall(ledger, false);
          const outcome = await scoreCase(target, scoring, e.config, byId.get(e.testCaseId) as TestCase, options.signal);
          results.push({ hash: e.hash, testCaseId: e.testCaseId, score: outcome.score });
          evaluations.push({ generation: e.generation, candidate: e.hash, params: e.config, ...outcome });
          driver.record(ledger, e, outcome);
        },
        // The budget stops new calls at once, not at the end of the round.
        () => aborted() || !driver.maySend(ledger),
      );
    } catch (error) {
      if (!aborted()) throw error;
    }
    // What the proposer wrote for the next generation is in before that generation is asked for: the same
    // seed gives the same run.
    await society?.settled();
    round = driver.advanceNow(ledger, results, { cancelled: aborted() });
    society?.generationStarted();
  }

  // SAO: the winner on variations of its weakest test cases, when the run ended on its own terms.
  const best = study.best();
  const writer = run.society?.writer;
  const generalization =
    writer && best && !aborted() && driver.mayWorkAfterwards(ledger)
      ? await checkGeneralization({
          writer,
          best,
          testCases,
          evaluations,
          target,
          scoring,
          ledger,
          signal: options.signal,
        }).catch(() => undefined)
      : undefined;

  return driver.report({
    runId: options.runId,
    apiName: config.api.name,
    seed: options.seed,
    startedAt,
    ledger,
    evaluations,
    warnings: run.warnings,
    ...(society ? { society: society.calls } : {}),
    ...(generalization ? { generalization } : {}),
  });
}

/** RLP in process: asked at each generation's start (see askProposer), its reply awaited before the next step. */
function societyHost(
  run: PreparedRun,
  study: Study,
  evaluations: readonly EvaluationRecord[],
  ledger: Ledger,
  signal: AbortSignal | undefined,
) {
  const plan = run.society;
  if (!plan) return null;
  const state = newSocietyState();
  let pending: Promise<void> = Promise.resolve();
  return {
    calls: state.calls,
    generationStarted(): void {
      const answersOf = (candidate: string) => evaluations.filter((e) => e.candidate === candidate);
      pending = askProposer(plan, state, { study, config: run.config, answersOf, ledger, signal }) ?? pending;
    },
    settled: () => pending,
  };
}
