/**
 * The named algorithms of a run config, each a row of three strategies as Optuna composes them: a sampler that
 * proposes configs, a pruner that stops hopeless candidates early, and a best-selector that says which config
 * the run reports. The study reads its row and never asks which algorithm it runs.
 */
import type { Algorithm } from "../config/schema.js";
import { measuredBest } from "./best/measured.js";
import { noiseAwareBestSelector } from "./best/noise-aware.js";
import type { BestSelector } from "./best/selector.js";
import { noPruner } from "./pruners/none.js";
import type { Pruner } from "./pruners/pruner.js";
import { racingPruner } from "./pruners/racing.js";
import { autoSampler } from "./samplers/auto.js";
import { cmaesSampler } from "./samplers/cmaes.js";
import { evolutionSampler } from "./samplers/evolution.js";
import { gpSampler } from "./samplers/gp.js";
import { randomSampler } from "./samplers/random.js";
import type { Sampler } from "./samplers/sampler.js";
import { tpeSampler } from "./samplers/tpe.js";

export interface AlgorithmPreset {
  sampler: Sampler;
  pruner: Pruner;
  best: BestSelector;
  /**
   * "workers": the sampler proposes parallel_workers candidates at a time, so each proposal learns from every
   * evaluation finished; "generation": the whole generation at once.
   */
  proposal: "workers" | "generation";
  /** Spend the calls the pruner saves on more candidates per generation, up to the run's call budget. */
  reinvestSavings: boolean;
}

export const ALGORITHMS: Readonly<Record<Algorithm, AlgorithmPreset>> = {
  evolution: { sampler: evolutionSampler, pruner: noPruner, best: measuredBest, proposal: "generation", reinvestSavings: false },
  mab_evolution: { sampler: evolutionSampler, pruner: racingPruner, best: measuredBest, proposal: "generation", reinvestSavings: false },
  random: { sampler: randomSampler, pruner: noPruner, best: measuredBest, proposal: "generation", reinvestSavings: false },
  auto: { sampler: autoSampler, pruner: racingPruner, best: noiseAwareBestSelector, proposal: "workers", reinvestSavings: true },
  cmaes: { sampler: cmaesSampler, pruner: racingPruner, best: noiseAwareBestSelector, proposal: "workers", reinvestSavings: true },
  gp: { sampler: gpSampler, pruner: racingPruner, best: noiseAwareBestSelector, proposal: "workers", reinvestSavings: true },
  tpe: { sampler: tpeSampler, pruner: racingPruner, best: noiseAwareBestSelector, proposal: "workers", reinvestSavings: true },
};
