/**
 * Pooled priors: a user's arm starts from what the arm does for everyone, as much as users agree.
 *
 * For each arm, the population's rewards are summarized per user (counts, sums, sums of squares; sufficient
 * statistics a SQL GROUP BY or an in-memory pass produces). A one-way random-effects estimate (method of
 * moments, unbalanced) splits their spread into within-user noise and the variance τ² of users' own means
 * around the population mean m. A user's mean is then a draw from a Beta with mean m and variance τ², that is
 * Beta(m s, (1 − m) s) with s = m(1 − m) / τ² − 1: the effective sample size the population is worth to one
 * user. Users who agree (τ small) make s large and a new user starts from the population's answer; users who
 * disagree (τ large) make s small and each user learns mostly alone. Added to the uniform prior, so no pooling
 * (s = 0) is textbook Thompson sampling.
 */
import { z } from "zod";
import { isPlainObject, TimestampSchema } from "../json.js";
import { parseByAgentAndArm, recordOf, setRecord } from "./arm-records.js";
import type { ArmLearning, BetaParams } from "./posterior.js";

/** Per arm, across users: the sufficient statistics of the random-effects estimate. */
const ArmPopulationSchema = z.object({
  /** Users with at least one reward of this arm. */
  users: z.number().nonnegative(),
  /** Rewards, their sum and the sum of their squares. */
  n: z.number().nonnegative(),
  sum: z.number().nonnegative(),
  sum_sq: z.number().nonnegative(),
  /** Σ over users of (user's sum)² / (user's count): the between-user part of the sum of squares. */
  user_sum_sq: z.number().nonnegative(),
  /** Σ over users of (user's count)². */
  user_n_sq: z.number().nonnegative(),
});
export type ArmPopulation = z.output<typeof ArmPopulationSchema>;

/** The population of a system: per agent type, per arm. */
const PopulationSchema = z.object({
  computed_at: TimestampSchema,
  agent_types: z.record(z.string(), z.record(z.string(), ArmPopulationSchema)),
});
export type Population = z.output<typeof PopulationSchema>;

export function armPopulationOf(population: Population | null, agentType: string, armId: string): ArmPopulation | undefined {
  return recordOf(population?.agent_types, agentType, armId);
}

export function setArmPopulation(agentTypes: Population["agent_types"], agentType: string, armId: string, stats: ArmPopulation): void {
  setRecord(agentTypes, agentType, armId, stats);
}

/** Population statistics from stored JSON, or null when they are not in that form. */
export function parsePopulation(raw: unknown): Population | null {
  if (!isPlainObject(raw) || typeof raw.computed_at !== "string") return null;
  const agentTypes = parseByAgentAndArm(raw.agent_types, (stats) => {
    const parsed = ArmPopulationSchema.safeParse(stats);
    return parsed.success ? parsed.data : null;
  });
  return agentTypes && { computed_at: raw.computed_at, agent_types: agentTypes };
}

/** What pooling asks for, from the runtime config: a fixed effective sample size, or "auto" (estimated). */
export type PriorStrength = number | "auto";

/** Users an arm needs before its population estimate is used. */
const MIN_USERS = 5;
/** The population never counts for more than this many trials (nor for more rewards than it has). */
export const MAX_PRIOR_STRENGTH = 1000;

/** Add one user's rewards of an arm to its population statistics. */
export function addUser(population: ArmPopulation | undefined, user: Pick<ArmLearning, "n" | "sum" | "sum_sq">): ArmPopulation {
  const p = population ?? { users: 0, n: 0, sum: 0, sum_sq: 0, user_sum_sq: 0, user_n_sq: 0 };
  if (!(user.n > 0)) return p;
  return {
    users: p.users + 1,
    n: p.n + user.n,
    sum: p.sum + user.sum,
    sum_sq: p.sum_sq + user.sum_sq,
    user_sum_sq: p.user_sum_sq + (user.sum * user.sum) / user.n,
    user_n_sq: p.user_n_sq + user.n * user.n,
  };
}

/**
 * The population without one user's rewards (leave one out: a user's own evidence must not count twice). The
 * user may be missing from the population (rewards not in the log yet): nothing goes below zero.
 */
export function removeUser(population: ArmPopulation, user: Pick<ArmLearning, "n" | "sum" | "sum_sq">): ArmPopulation {
  if (!(user.n > 0) || population.users < 1) return population;
  const p = population;
  // The user has more rewards than the population knows (it was aggregated before them): nothing else is left.
  if (user.n >= p.n) return { users: p.users - 1, n: 0, sum: 0, sum_sq: 0, user_sum_sq: 0, user_n_sq: 0 };
  return {
    users: p.users - 1,
    n: p.n - user.n,
    sum: Math.max(0, p.sum - user.sum),
    sum_sq: Math.max(0, p.sum_sq - user.sum_sq),
    user_sum_sq: Math.max(0, p.user_sum_sq - (user.sum * user.sum) / user.n),
    user_n_sq: Math.max(0, p.user_n_sq - user.n * user.n),
  };
}

/**
 * The effective sample size the population is worth to one user: m(1 − m)/τ² − 1 from the random-effects
 * estimate of τ², within [0, min(MAX_PRIOR_STRENGTH, n)]; null when too few users have tried the arm.
 */
export function estimatedStrength(p: ArmPopulation): number | null {
  if (p.users < MIN_USERS || !(p.n > p.users)) return null;
  const mean = p.sum / p.n;
  const betweenSq = Math.max(0, p.user_sum_sq - p.n * mean * mean);
  const withinSq = Math.max(0, p.sum_sq - p.user_sum_sq);
  const betweenMean = betweenSq / (p.users - 1);
  const withinMean = withinSq / (p.n - p.users);
  // The average user's count, corrected for unequal counts (n₀ of the unbalanced one-way ANOVA).
  const n0 = (p.n - p.user_n_sq / p.n) / (p.users - 1);
  const tau2 = n0 > 0 ? Math.max(0, (betweenMean - withinMean) / n0) : 0;
  const cap = Math.min(MAX_PRIOR_STRENGTH, p.n);
  if (tau2 === 0) return cap;
  return Math.min(cap, Math.max(0, (mean * (1 - mean)) / tau2 - 1));
}

/** The prior a user's arm starts from: uniform plus the population's mean at the strength asked or estimated. */
export function pooledPrior(p: ArmPopulation | undefined, strength: PriorStrength): BetaParams {
  if (!p || !(p.n > 0)) return { alpha: 1, beta: 1 };
  const s = strength === "auto" ? estimatedStrength(p) : p.users >= MIN_USERS ? Math.min(strength, p.n) : null;
  if (s === null || !(s > 0)) return { alpha: 1, beta: 1 };
  const mean = p.sum / p.n;
  return { alpha: 1 + mean * s, beta: 1 + (1 - mean) * s };
}
