import { z } from "zod";
import { betaInterval, betaMean, IntervalSchema } from "./beta.js";
import {
  type ArmLearning,
  type Drift,
  learningAt,
  NO_DRIFT,
  posteriorOf,
  recordReward,
  storedLearning,
  UNIFORM_PRIOR,
} from "./posterior.js";

/** An arm's posterior and counters, as stored. */
export interface ArmStats {
  alpha: number;
  beta: number;
  total_pulls: number;
  total_reward: number;
  metadata?: Record<string, unknown>;
}

/** The arm after an update, as the seed's answer (`computed_update`) shows it. */
export const ComputedUpdateSchema = z.object({
  alpha: z.number(),
  beta: z.number(),
  total_pulls: z.number(),
  total_reward: z.number(),
  avg_reward: z.number(),
  mean_estimate: z.number(),
  confidence_interval: IntervalSchema,
});
export type ComputedUpdate = z.output<typeof ComputedUpdateSchema>;

/** What a storage writes onto the arm: the answer, and what the arm has learned (posterior.ts) for its metadata. */
export type StoredUpdate = ComputedUpdate & { learning?: ArmLearning };

/**
 * The update after a reward: the seed's fractional Beta-Bernoulli update (alpha += r, beta += 1 - r) for binary
 * rewards, with fractional rewards counted for the Bernoulli trials they are worth and drift applied (see
 * posterior.ts). alpha and beta are the user's own posterior from the uniform prior, as of `now` + 1 updates of
 * the user (`now`: the user's updates so far, the sum of its arms' total_pulls). `placeholder`: a reward nobody
 * reported (see recordReward).
 */
export function bayesianUpdate(
  arm: ArmStats,
  reward: number,
  drift: Drift = NO_DRIFT,
  now = arm.total_pulls,
  placeholder = false,
): ComputedUpdate & { learning: ArmLearning } {
  const r = Math.min(1, Math.max(0, reward));
  const learning = recordReward(storedLearning(arm, now), r, now, drift, placeholder);
  const { alpha, beta } = posteriorOf(learningAt(learning, now + 1, drift), UNIFORM_PRIOR);
  const total_pulls = arm.total_pulls + 1;
  const total_reward = arm.total_reward + r;
  return {
    alpha,
    beta,
    total_pulls,
    total_reward,
    avg_reward: total_reward / total_pulls,
    mean_estimate: betaMean(alpha, beta),
    confidence_interval: betaInterval(alpha, beta),
    learning,
  };
}
