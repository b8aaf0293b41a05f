/** Drive a study against a plain function, as the benchmarks and tests do. */
import type { Algorithm } from "../src/config/schema.js";
import { OptimizationSchema } from "../src/config/schema.js";
import { studySettings } from "../src/optimize/settings.js";
import { type Evaluation, Study } from "../src/optimize/study.js";
import type { ParamConfig, SearchSpace } from "../src/search/space.js";

/** Ask and tell until the study is done, scoring each evaluation with `score`. */
function drive(study: Study, score: (e: Evaluation) => number): Study {
  for (;;) {
    const evaluations = study.ask();
    if (evaluations.length === 0) return study;
    study.tell(evaluations.map((e) => ({ hash: e.hash, testCaseId: e.testCaseId, score: score(e) })));
  }
}

/** The best loss after each evaluation (index i: after i + 1 evaluations). */
export type Trace = number[];

/**
 * A study of one test case that ends after `budget` evaluations, `populationSize` (default 10) per generation and
 * `parallelWorkers` in flight (the schema's default when absent).
 */
export function budgetStudy(
  space: SearchSpace,
  options: { algorithm: Algorithm; budget: number; seed: number; populationSize?: number; parallelWorkers?: number },
): Study {
  const populationSize = options.populationSize ?? 10;
  const optimization = OptimizationSchema.parse({
    algorithm: options.algorithm,
    // More generations than the budget needs: max_target_calls ends the run (elites cost no calls).
    evolution: { population_size: populationSize, generations: Math.ceil(options.budget / populationSize) + 50 },
    execution: { max_target_calls: options.budget, parallel_workers: options.parallelWorkers, early_stopping: { enabled: false } },
  });
  return Study.create({ settings: studySettings(optimization), space, testCases: [{ id: "f", weight: 1 }], seed: options.seed });
}

/** Minimizes `loss` with at most `budget` evaluations, `populationSize` per generation; the best-so-far trace. */
export function minimize(
  space: SearchSpace,
  loss: (c: ParamConfig) => number,
  options: { algorithm: Algorithm; budget: number; seed: number; populationSize?: number; parallelWorkers?: number },
): Trace {
  const trace: Trace = [];
  let best = Number.POSITIVE_INFINITY;
  drive(budgetStudy(space, options), (e) => {
    const value = loss(e.config);
    best = Math.min(best, value);
    trace.push(best);
    return -value;
  });
  return trace;
}

/**
 * Maximizes the mean of `score(config) + noise` over `testCases` test cases (noise drawn once per config and
 * test case), racing as the algorithm does; returns the noise-free score of the config the run reports best,
 * and the target calls made.
 */
export function maximizeNoisy(
  space: SearchSpace,
  score: (c: ParamConfig) => number,
  noise: (c: ParamConfig, testCaseId: string) => number,
  options: { algorithm: Algorithm; populationSize: number; generations: number; testCases: number; seed: number },
): { truth: number; calls: number } {
  const optimization = OptimizationSchema.parse({
    algorithm: options.algorithm,
    evolution: { population_size: options.populationSize, generations: options.generations },
    execution: { early_stopping: { enabled: false } },
  });
  const testCases = Array.from({ length: options.testCases }, (_, i) => ({ id: `case_${i}`, weight: 1 }));
  let calls = 0;
  const state = drive(Study.create({ settings: studySettings(optimization), space, testCases, seed: options.seed }), (e) => {
    calls += 1;
    return score(e.config) + noise(e.config, e.testCaseId);
  });
  const best = state.best();
  return { truth: best ? score(best.config) : 0, calls };
}
