/**
 * What a system's arms have earned across all its users: one Beta posterior per arm from the decision log's
 * totals, with its mean, 95% interval and the probability that it is the best arm.
 */
import { betaInterval, betaMean } from "../bandit/beta.js";
import { probabilityOfHighestSample } from "../bandit/beta-cdf.js";
import { probabilityBest } from "../bandit/thompson.js";
import type { ArmSummary, ArmTemplate } from "./schema.js";

/** The decision log's totals for one arm. */
export interface ArmTally {
  pulls: number;
  rewarded: number;
  reward_sum: number;
}

/**
 * Exact integration costs about the square of the number of arms; past this many, P(best) is estimated from
 * draws instead (its error then about ±0.5 percentage points).
 */
const EXACT_ARMS = 12;
const DRAWS = 10_000;

export function summarizeArms(arms: readonly ArmTemplate[], tallies: ReadonlyMap<string, ArmTally>): ArmSummary[] {
  const posteriors = arms.map((arm) => {
    const tally = tallies.get(arm.arm_id) ?? { pulls: 0, rewarded: 0, reward_sum: 0 };
    return { arm, tally, alpha: 1 + tally.reward_sum, beta: 1 + tally.rewarded - tally.reward_sum };
  });
  const estimated = posteriors.length > EXACT_ARMS ? probabilityBest(posteriors, DRAWS) : null;
  return posteriors.map(({ arm, tally, alpha, beta }, index) => ({
    arm_id: arm.arm_id,
    name: arm.name ?? null,
    params: arm.params,
    source: arm.source ?? null,
    pulls: tally.pulls,
    rewarded: tally.rewarded,
    reward_sum: tally.reward_sum,
    alpha,
    beta,
    mean: betaMean(alpha, beta),
    confidence_interval: betaInterval(alpha, beta),
    probability_best: estimated?.[index] ?? (posteriors.length === 1 ? 1 : probabilityOfHighestSample(posteriors, index)),
  }));
}
