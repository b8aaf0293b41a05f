import type { Algorithm, OptimizationConfig } from "../config/schema.js";
import type { ParamConfig } from "../search/space.js";

/** Everything an optimizer needs to know about a run, as plain JSON (it lives inside the study's control state). */
export interface StudySettings {
  algorithm: Algorithm;
  populationSize: number;
  generations: number;
  mutationRate: number;
  crossoverRate: number;
  eliteSize: number;
  /** The racing pruner's settings (read only by algorithms that race). */
  racing: { initialTestCases: number | null; eliminationThreshold: number };
  /** Candidates evaluated at once: samplers whose preset proposes per "workers" propose this many at a time. */
  parallelWorkers: number;
  earlyStopping: { enabled: boolean; patience: number; minImprovement: number; targetScore: number | null };
  maxTargetCalls: number | null;
  /** Warm start: tried first, in the first generation. */
  initialConfigs: ParamConfig[];
}

export function studySettings(optimization: OptimizationConfig, initialConfigs: ParamConfig[] = []): StudySettings {
  const { evolution, execution, mab, algorithm } = optimization;
  return {
    algorithm,
    populationSize: evolution.population_size,
    generations: evolution.generations,
    mutationRate: evolution.mutation_rate,
    crossoverRate: evolution.crossover_rate,
    eliteSize: Math.min(evolution.elite_size, Math.max(0, evolution.population_size - 1)),
    racing: { initialTestCases: mab.initial_test_cases ?? null, eliminationThreshold: mab.elimination_threshold },
    parallelWorkers: execution.parallel_workers,
    earlyStopping: {
      enabled: execution.early_stopping.enabled,
      patience: execution.early_stopping.patience,
      minImprovement: execution.early_stopping.min_improvement,
      targetScore: execution.early_stopping.target_score ?? null,
    },
    maxTargetCalls: execution.max_target_calls ?? null,
    initialConfigs,
  };
}
