/**
 * Thompson selection with the seed's SelectionStrategyConfig:
 *   - a Beta sample per arm, plus `exploration_bonus` (capped at 1) for arms pulled fewer than
 *     `exploration_min_pulls` times;
 *   - the stability rule: when the best-mean arm among those pulled at least `stability_min_pulls` times has a 95%
 *     interval narrower than `stability_confidence_threshold`, a challenger must beat its mean by at least
 *     `stability_improvement_threshold` to be chosen instead;
 *   - ties go to the first arm, in storage order.
 * Extensions: a traffic floor (each arm is chosen with probability at least `traffic_floor`, by choosing uniformly
 * with probability floor × arms), and the probability that the rule picks the arm it picked, by Monte Carlo
 * over the same rule, recorded with the decision for offline evaluation.
 */
import { betaInterval, betaSample, type Uniform } from "./beta.js";

export interface SelectableArm {
  arm_id: string;
  alpha: number;
  beta: number;
  total_pulls: number;
  mean_estimate: number | null;
  /** Stored interval, used by the stability rule when present. */
  confidence_interval?: { lower: number; upper: number } | null;
}

export interface SelectionStrategy {
  exploration_bonus: number;
  exploration_min_pulls: number;
  stability_confidence_threshold: number;
  stability_improvement_threshold: number;
  stability_min_pulls: number;
  use_stability: boolean;
}

export interface SelectionOptions {
  /** null: plain Thompson sampling (the seed's default when no strategy is configured). */
  strategy: SelectionStrategy | null;
  trafficFloor: number;
  random?: Uniform;
  /** Monte Carlo draws for the selection probability. */
  probabilityDraws?: number;
}

export interface SelectionResult {
  index: number;
  samples: number[];
  /** Probability that this rule chooses this arm, given the current posteriors. */
  probability: number;
  /** The arm was chosen by the traffic floor's uniform draw. */
  explored: boolean;
}

function draw(arms: readonly SelectableArm[], strategy: SelectionStrategy | null, random: Uniform): number[] {
  return arms.map((arm) => {
    let s = betaSample(arm.alpha, arm.beta, random);
    if (strategy && strategy.exploration_bonus > 0 && arm.total_pulls < strategy.exploration_min_pulls) {
      s = Math.min(1, s + strategy.exploration_bonus);
    }
    return s;
  });
}

function argmax(values: readonly number[]): number {
  let best = 0;
  for (let i = 1; i < values.length; i++) if ((values[i] as number) > (values[best] as number)) best = i;
  return best;
}

function intervalWidth(arm: SelectableArm): number {
  if (arm.confidence_interval) return arm.confidence_interval.upper - arm.confidence_interval.lower;
  if (arm.mean_estimate === null || arm.alpha <= 0 || arm.beta <= 0) return 1;
  const { lower, upper } = betaInterval(arm.alpha, arm.beta);
  return upper - lower;
}

/** The seed's choice among samples, stability rule included. */
function choose(arms: readonly SelectableArm[], samples: readonly number[], strategy: SelectionStrategy | null): number {
  const bySample = argmax(samples);
  if (!strategy?.use_stability) return bySample;
  let stable = -1;
  arms.forEach((arm, i) => {
    if (arm.total_pulls < strategy.stability_min_pulls) return;
    if (stable === -1 || (arm.mean_estimate ?? 0) > (arms[stable]?.mean_estimate ?? 0)) stable = i;
  });
  if (stable === -1) return bySample;
  const incumbent = arms[stable] as SelectableArm;
  if (intervalWidth(incumbent) >= strategy.stability_confidence_threshold) return bySample;
  const challenger = arms[bySample] as SelectableArm;
  const gain = (challenger.mean_estimate ?? 0) - (incumbent.mean_estimate ?? 0);
  return gain < strategy.stability_improvement_threshold ? stable : bySample;
}

export function selectArm(arms: readonly SelectableArm[], options: SelectionOptions): SelectionResult {
  if (arms.length === 0) throw new Error("selectArm needs at least one arm");
  const random = options.random ?? Math.random;
  const explore = Math.min(1, Math.max(0, options.trafficFloor) * arms.length);
  const samples = draw(arms, options.strategy, random);
  const explored = explore > 0 && random() < explore;
  const index = explored ? Math.floor(random() * arms.length) : choose(arms, samples, options.strategy);
  const draws = options.probabilityDraws ?? 128;
  let wins = 0;
  for (let i = 0; i < draws; i++) if (choose(arms, draw(arms, options.strategy, random), options.strategy) === index) wins++;
  const ruleProbability = wins / draws;
  return { index, samples, probability: explore / arms.length + (1 - explore) * ruleProbability, explored };
}

/** P(arm has the highest true mean), by Monte Carlo over the posteriors. */
export function probabilityBest(
  arms: readonly Pick<SelectableArm, "alpha" | "beta">[],
  draws = 4000,
  random: Uniform = Math.random,
): number[] {
  const wins = new Array<number>(arms.length).fill(0);
  if (arms.length === 0) return wins;
  for (let i = 0; i < draws; i++) {
    const best = argmax(arms.map((a) => betaSample(a.alpha, a.beta, random)));
    wins[best] = (wins[best] as number) + 1;
  }
  return wins.map((w) => w / draws);
}
