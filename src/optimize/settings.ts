import type { Algorithm, OptimizationConfig } from "../config/schema.js";
import type { ParamConfig } from "../search/space.js";

/** Everything an optimizer needs to know about a run, as plain JSON (it lives inside the study state). */
export interface StudySettings {
  algorithm: Algorithm;
  populationSize: number;
  generations: number;
  mutationRate: number;
  crossoverRate: number;
  eliteSize: number;
  /** null: every candidate is scored on every test case. */
  racing: { initialTestCases: number | null; eliminationThreshold: number } | null;
  /**
   * How many candidates the sampler proposes at a time within a generation (tpe: parallel_workers, as many as
   * run at once, so each proposal learns from every evaluation finished); null: the whole generation at once.
   */
  proposalBatch: number | null;
  /** Spend the calls racing saves on more candidates per generation, up to the run's call budget (tpe). */
  reinvestSavings: boolean;
  /** Report the best by a noise-aware estimate rather than the highest measured score (noise-aware-best.ts; tpe). */
  noiseAwareBest: boolean;
  earlyStopping: { enabled: boolean; patience: number; minImprovement: number; targetScore: number | null };
  maxTargetCalls: number | null;
  /** Stop once the cost told with the results reaches this (USD). */
  maxCostUsd: number | null;
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
    racing:
      algorithm === "mab_evolution" || algorithm === "tpe"
        ? { initialTestCases: mab.initial_test_cases ?? null, eliminationThreshold: mab.elimination_threshold }
        : null,
    proposalBatch: algorithm === "tpe" ? execution.parallel_workers : null,
    reinvestSavings: algorithm === "tpe",
    noiseAwareBest: algorithm === "tpe",
    earlyStopping: {
      enabled: execution.early_stopping.enabled,
      patience: execution.early_stopping.patience,
      minImprovement: execution.early_stopping.min_improvement,
      targetScore: execution.early_stopping.target_score ?? null,
    },
    maxTargetCalls: execution.max_target_calls ?? null,
    maxCostUsd: execution.max_cost_usd ?? null,
    initialConfigs,
  };
}
