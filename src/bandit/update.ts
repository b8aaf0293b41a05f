import { betaInterval, betaMean } from "./beta.js";

/** An arm's posterior and counters, as stored. */
export interface ArmStats {
  alpha: number;
  beta: number;
  total_pulls: number;
  total_reward: number;
}

export interface ComputedUpdate extends ArmStats {
  avg_reward: number;
  mean_estimate: number;
  confidence_interval: { lower: number; upper: number };
}

/**
 * The seed's fractional Beta-Bernoulli update, alpha += r and beta += 1 - r, with optional decay for drifting
 * behaviour: with decay γ < 1 the old evidence shrinks toward the uniform prior first,
 * alpha' = 1 + γ(alpha - 1) + r, so recent rewards weigh more (γ = 1 is the seed's update).
 */
export function bayesianUpdate(arm: ArmStats, reward: number, decay = 1): ComputedUpdate {
  const r = Math.min(1, Math.max(0, reward));
  const alpha = 1 + decay * (arm.alpha - 1) + r;
  const beta = 1 + decay * (arm.beta - 1) + (1 - r);
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
  };
}
