/** Drive a study against a plain function (one "test case"), as the benchmarks and tests do. */
import type { Algorithm } from "../src/config/schema.js";
import { OptimizationSchema } from "../src/config/schema.js";
import { studySettings } from "../src/optimize/settings.js";
import { ask, createStudy, tell } from "../src/optimize/study.js";
import type { ParamConfig, SearchSpace } from "../src/search/space.js";

/** Minimizes `loss` with at most `budget` evaluations; returns the best loss seen. */
export function minimize(
  space: SearchSpace,
  loss: (c: ParamConfig) => number,
  options: { algorithm: Algorithm; budget: number; seed: number; populationSize?: number },
): number {
  const populationSize = options.populationSize ?? 10;
  const optimization = OptimizationSchema.parse({
    algorithm: options.algorithm,
    evolution: { population_size: populationSize, generations: Math.ceil(options.budget / populationSize) + 50 },
    execution: { max_target_calls: options.budget, early_stopping: { enabled: false } },
  });
  let state = createStudy({ settings: studySettings(optimization), space, testCases: [{ id: "f", weight: 1 }], seed: options.seed });
  let best = Number.POSITIVE_INFINITY;
  for (;;) {
    const asked = ask(state);
    state = asked.state;
    if (asked.evaluations.length === 0) break;
    const results = asked.evaluations.map((e) => {
      const value = loss(e.config);
      best = Math.min(best, value);
      return { hash: e.hash, testCaseId: e.testCaseId, score: -value };
    });
    state = tell(state, results);
  }
  return best;
}
