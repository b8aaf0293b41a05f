import type { JsonValue } from "../../json.js";
import type { Rng } from "../../search/rng.js";
import type { ParamConfig, SearchSpace } from "../../search/space.js";
import type { StudySettings } from "../settings.js";

/** One candidate of one generation, with what the study knows of its score so far. */
export interface Trial {
  generation: number;
  hash: string;
  /** The full weighted score when complete; otherwise the race's estimate of it. */
  fitness: number;
  complete: boolean;
  /** The race stopped scoring it: it had no real chance of beating the incumbent. */
  dropped: boolean;
}

export interface ProposeContext {
  space: SearchSpace;
  settings: StudySettings;
  /** Index of the generation to propose. */
  generation: number;
  size: number;
  /** Share of the run's call budget spent so far, 0 to 1. */
  progress: number;
  trials: readonly Trial[];
  configOf(hash: string): ParamConfig;
  /**
   * The variance of a trial's fitness as a measurement of the config's quality: the test cases' noise over how
   * many it was scored on; 0 while no noise has been measured (one test case, or exact scores).
   */
  fitnessNoise(hash: string): number;
  /** The config was already proposed in an earlier generation (its scores are cached). */
  isKnown(config: ParamConfig): boolean;
  rng: Rng;
}

interface Proposal {
  configs: ParamConfig[];
  state: JsonValue;
}

/**
 * A proposal made one candidate at a time: the generator pauses after each, so a caller that shares its thread
 * (the run's Durable Object) can let other requests in between. Run it to the end with proposeAll.
 */
export type ProposalSteps = Generator<void, Proposal, void>;

/**
 * A proposal strategy (Optuna's "sampler"): it decides which configs a generation tries, and nothing else.
 * Which test cases each of them is scored on, early stopping and caching belong to the study.
 */
export interface Sampler {
  readonly name: string;
  /** `state` is the sampler's own JSON state, null at the start of a run. */
  propose(context: ProposeContext, state: JsonValue): ProposalSteps;
  /**
   * The most bytes its state can take in JSON for this space, when it can outgrow a few kilobytes (the run's
   * control state is bounded before the run starts: src/run/bounds.ts).
   */
  stateBytes?(space: SearchSpace, settings: StudySettings): number;
}

/** The latest fitness of each config scored: a config scored in several generations counts once, as it stands now. */
export function latestFitness(trials: readonly Trial[]): Map<string, number> {
  return new Map(trials.map((t) => [t.hash, t.fitness]));
}

/** Each config scored, once, with its latest fitness (in the order first scored). */
export function scoredConfigs(context: ProposeContext): { hash: string; config: ParamConfig; score: number }[] {
  return [...latestFitness(context.trials)].map(([hash, score]) => ({ hash, config: context.configOf(hash), score }));
}

/** Run steps to the end at once, and return what they return. */
export function runSteps<T>(steps: Generator<void, T, void>): T {
  for (;;) {
    const step = steps.next();
    if (step.done) return step.value;
  }
}
