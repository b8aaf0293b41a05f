/**
 * Offline (off-policy) evaluation: what reward would a candidate policy have earned, estimated from decisions
 * another policy (the runtime's) made and logged, without running it. Each logged decision carries the
 * probability mu_i with which the logging policy chose its arm and the arms' posteriors at that moment, so a
 * candidate policy pi can say how likely it was to choose the same arm there; the decision's reward is weighed by
 * w_i = pi(a_i | s_i) / mu_i.
 *   IPS   = (1/n) Σ w_i r_i                 unbiased when every mu_i is the true logging probability
 *   SNIPS = Σ w_i r_i / Σ w_i               slightly biased, much lower variance when weights are large
 * Both with a 95% normal interval. The weights of an adaptively collected log (each mu_i depends on the rewards
 * before it) still make w_i r_i − V a martingale difference, so the sample-variance interval stays valid.
 * Deterministic: the policies' probabilities are computed exactly (beta-cdf.ts), never sampled.
 */
import { z } from "zod";
import { type ConfigIssue, describeIssues, fromZodIssues } from "../config/issues.js";
import { TimestampSchema } from "../json.js";
import { AgentTypeSchema, type ArmSnapshot, type RuntimeDecision } from "../runtime/schema.js";
import { IntervalSchema } from "./beta.js";
import { checkSelectionSettings, SELECTION_SETTINGS, selectionOptions } from "./selection.js";
import { ProbabilityMemo, type SelectableArm, selectionProbability } from "./thompson.js";

/** z for a two-sided 95% normal interval. */
const Z95 = 1.959963984540054;
const CONFIDENCE = 0.95;

/** The candidate policy: its type, its validator, and its API description. */
export const OfflinePolicySchema = z.discriminatedUnion(
  "type",
  [
    z.strictObject({
      /** Fixed shares, whatever the posteriors: `{a: 1}` always plays arm a (where the decision offered it). */
      type: z.literal("static"),
      /** Relative weight per arm_id, normalized over each decision's arms; arms not listed get 0. */
      weights: z
        .record(z.string().min(1), z.number().min(0))
        .refine((weights) => Object.values(weights).some((w) => w > 0), "at least one arm needs a weight above 0"),
    }),
    z.strictObject({
      /** The arm with the highest posterior mean alpha / (alpha + beta) at the decision (ties: the first). */
      type: z.literal("greedy"),
    }),
    z
      .strictObject({
        /**
         * The runtime's own selection rule, with these settings (the fields of a system's runtime config;
         * selectionSettingsOf(config) picks them).
         */
        type: z.literal("thompson"),
        ...SELECTION_SETTINGS,
      })
      // A policy the runtime cannot run is not worth estimating.
      .superRefine(checkSelectionSettings),
  ],
  { error: (issue) => (issue.code === "invalid_union" ? "expected 'static', 'greedy' or 'thompson'" : undefined) },
);
export type OfflinePolicyInput = z.input<typeof OfflinePolicySchema>;
export type OfflinePolicy = z.output<typeof OfflinePolicySchema>;

/**
 * What the estimators read of an arm a decision logged: its posterior when the decision was made, and its pulls
 * then when logged (otherwise rebuilt from alpha and beta, see `selectable`).
 */
export type SnapshotArm = Pick<ArmSnapshot, "arm_id" | "alpha" | "beta" | "total_pulls">;

/**
 * What the estimators read of a logged decision: the arm, its reward, the logging policy's probability of choosing
 * it then, and the arms' snapshot (null when it was logged without one).
 */
export type LoggedDecision = Pick<RuntimeDecision, "arm_id" | "reward" | "selection_probability"> & {
  arms_snapshot: readonly SnapshotArm[] | null;
};

/** Why a logged decision was left out of the estimates. */
const SkipReasonSchema = z.enum([
  "no_reward",
  /** Logged without its selection probability. */
  "no_probability",
  /** A logged probability of 0 (or below) cannot weigh anything. */
  "zero_probability",
  /** Logged before the arms' posteriors were recorded with each decision. */
  "no_snapshot",
  "arm_not_in_snapshot",
  /** A static policy whose weighted arms were all absent from the decision: it has no choice to compare. */
  "policy_has_no_arm",
]);
export type SkipReason = z.output<typeof SkipReasonSchema>;

const EstimateSchema = z.object({
  value: z.number(),
  /** null (and no interval) with fewer than 2 decisions. */
  standard_error: z.number().nullable(),
  interval: IntervalSchema.nullable(),
});
export type Estimate = z.output<typeof EstimateSchema>;

const OfflineEvaluationSchema = z.object({
  /** The policy evaluated, with its defaults filled in. */
  policy: OfflinePolicySchema,
  confidence: z.number(),
  /** Decisions read. */
  decisions: z.int(),
  /** Decisions the estimates use. */
  n: z.int(),
  skipped: z.record(SkipReasonSchema, z.int()),
  /** Inverse-propensity estimate of the policy's mean reward; null when no decision could be used. */
  ips: EstimateSchema.nullable(),
  /** Self-normalized IPS; null also when the policy never chooses a logged arm (all weights 0). */
  snips: EstimateSchema.nullable(),
  /** The logging policy's own mean reward over the same decisions, for comparison. */
  logging_policy: EstimateSchema.nullable(),
  /** (Σ w)² / Σ w²: how many decisions the estimates effectively rest on. */
  effective_sample_size: z.number(),
  max_weight: z.number(),
  /** When the numbers deserve less trust than their intervals suggest. */
  warnings: z.array(z.string()),
});
export type OfflineEvaluation = z.output<typeof OfflineEvaluationSchema>;

/** POST /v1/systems/{system}/evaluate. */
export const EvaluateRequestSchema = z.object({
  policy: OfflinePolicySchema,
  /** The newest this many rewarded decisions of the system. */
  limit: z.int().min(1).max(20_000).default(5_000),
  /** Only this agent type's decisions (default: every agent type's). */
  agent_type: AgentTypeSchema.optional(),
});
export type EvaluateRequest = z.input<typeof EvaluateRequestSchema>;

export const PolicyEvaluationSchema = OfflineEvaluationSchema.extend({
  system: z.string(),
  agent_type: z.string().nullable(),
  /** created_at of the oldest and newest decision read; null when none was. */
  window: z.object({ oldest: TimestampSchema, newest: TimestampSchema }).nullable(),
});
export type PolicyEvaluation = z.output<typeof PolicyEvaluationSchema>;

/** pi(arm | snapshot) for every arm index of the snapshot; null where the policy has no choice to make. */
type PolicyProbability = (arms: readonly SnapshotArm[], index: number) => number | null;

function staticProbability(weights: Record<string, number>): PolicyProbability {
  // Arm ids are the users' (`constructor` is one): own properties only.
  const weightOf = (armId: string) => (Object.hasOwn(weights, armId) ? (weights[armId] as number) : 0);
  return (arms, index) => {
    const total = arms.reduce((sum, a) => sum + weightOf(a.arm_id), 0);
    if (total <= 0) return null;
    return weightOf((arms[index] as SnapshotArm).arm_id) / total;
  };
}

function greedyProbability(arms: readonly SnapshotArm[], index: number): number {
  let best = 0;
  const mean = (a: SnapshotArm) => a.alpha / (a.alpha + a.beta);
  for (let i = 1; i < arms.length; i++) if (mean(arms[i] as SnapshotArm) > mean(arms[best] as SnapshotArm)) best = i;
  return index === best ? 1 : 0;
}

/**
 * The exploration bonus (total_pulls < exploration_min_pulls) and the stability rule (stability_min_pulls) need each
 * arm's pull count: logged with the snapshot since it was added; for older decisions rebuilt as alpha + beta − 2,
 * exact only for binary rewards without drift or pooling. Without a selection_strategy the count plays no part.
 */
function selectable(arm: SnapshotArm): SelectableArm {
  const pulls = arm.total_pulls ?? Math.max(0, Math.round(arm.alpha + arm.beta - 2));
  return {
    arm_id: arm.arm_id,
    alpha: arm.alpha,
    beta: arm.beta,
    total_pulls: pulls,
    // As the runtime's select sees an arm: the mean of the posterior it samples from.
    mean_estimate: arm.alpha / (arm.alpha + arm.beta),
    // The runtime selects with no stored interval either: the stability rule computes it from alpha and beta.
    confidence_interval: null,
  };
}

function thompsonProbability(policy: Extract<OfflinePolicy, { type: "thompson" }>): PolicyProbability {
  const options = selectionOptions(policy, { memo: new ProbabilityMemo() });
  // Many logged decisions share a snapshot (a user's selects between two rewards, every user's first select):
  // each exact probability is computed once per request.
  const known = new Map<string, number>();
  return (arms, index) => {
    const key = `${index}|${arms.map((a) => `${a.arm_id},${a.alpha},${a.beta},${a.total_pulls ?? ""}`).join(";")}`;
    let p = known.get(key);
    if (p === undefined) {
      p = selectionProbability(arms.map(selectable), options, index);
      known.set(key, p);
    }
    return p;
  };
}

function probabilityOf(policy: OfflinePolicy): PolicyProbability {
  switch (policy.type) {
    case "static":
      return staticProbability(policy.weights);
    case "greedy":
      return greedyProbability;
    case "thompson":
      return thompsonProbability(policy);
  }
}

/** The mean of `values`, with a normal interval from their sample variance. */
function meanEstimate(values: readonly number[]): Estimate {
  const n = values.length;
  const value = values.reduce((a, b) => a + b, 0) / n;
  if (n < 2) return { value, standard_error: null, interval: null };
  const variance = values.reduce((sum, x) => sum + (x - value) ** 2, 0) / (n - 1);
  return withInterval(value, Math.sqrt(variance / n));
}

function withInterval(value: number, standardError: number): Estimate {
  return { value, standard_error: standardError, interval: { lower: value - Z95 * standardError, upper: value + Z95 * standardError } };
}

const NO_SKIPS = (): Record<SkipReason, number> =>
  Object.fromEntries(SkipReasonSchema.options.map((r) => [r, 0])) as Record<SkipReason, number>;

/** A policy as a user wrote it (a file, a request body): the policy, or every problem with its field's path. */
export function parseOfflinePolicy(value: unknown): { policy: OfflinePolicy; issues: [] } | { policy: null; issues: ConfigIssue[] } {
  const parsed = OfflinePolicySchema.safeParse(value);
  return parsed.success ? { policy: parsed.data, issues: [] } : { policy: null, issues: fromZodIssues(parsed.error.issues) };
}

/**
 * Estimate `policy`'s mean reward from logged decisions. Decisions that cannot be used are counted by reason in
 * `skipped`. Throws on an invalid policy, with the message naming each bad field.
 */
export function evaluatePolicy(decisions: readonly LoggedDecision[], policyInput: OfflinePolicyInput): OfflineEvaluation {
  const { policy, issues } = parseOfflinePolicy(policyInput);
  if (!policy) throw new TypeError(`invalid policy: ${describeIssues(issues)}`);
  const probability = probabilityOf(policy);
  const skipped = NO_SKIPS();
  const weights: number[] = [];
  const rewards: number[] = [];
  for (const decision of decisions) {
    const mu = decision.selection_probability;
    const snapshot = decision.arms_snapshot;
    let reason: SkipReason | null = null;
    let pi: number | null = null;
    if (decision.reward === null || !Number.isFinite(decision.reward)) reason = "no_reward";
    else if (mu === null || !Number.isFinite(mu)) reason = "no_probability";
    else if (mu <= 0) reason = "zero_probability";
    else if (!snapshot || snapshot.length === 0) reason = "no_snapshot";
    else {
      const index = snapshot.findIndex((a) => a.arm_id === decision.arm_id);
      if (index < 0) reason = "arm_not_in_snapshot";
      else {
        pi = probability(snapshot, index);
        if (pi === null) reason = "policy_has_no_arm";
      }
    }
    if (reason !== null) {
      skipped[reason] += 1;
      continue;
    }
    weights.push((pi as number) / (mu as number));
    rewards.push(decision.reward as number);
  }
  return summarize(policy, decisions.length, skipped, weights, rewards);
}

function summarize(
  policy: OfflinePolicy,
  read: number,
  skipped: Record<SkipReason, number>,
  weights: readonly number[],
  rewards: readonly number[],
): OfflineEvaluation {
  const n = weights.length;
  const warnings: string[] = [];
  const result = (fields: Pick<OfflineEvaluation, "ips" | "snips" | "logging_policy" | "effective_sample_size" | "max_weight">) => ({
    policy,
    confidence: CONFIDENCE,
    decisions: read,
    n,
    skipped,
    ...fields,
    warnings,
  });
  if (n === 0) {
    warnings.push(read === 0 ? "no logged decisions to evaluate" : "none of the logged decisions could be used: see skipped for why");
    return result({ ips: null, snips: null, logging_policy: null, effective_sample_size: 0, max_weight: 0 });
  }
  const weighted = weights.map((w, i) => w * (rewards[i] as number));
  const sumW = weights.reduce((a, b) => a + b, 0);
  const sumW2 = weights.reduce((a, w) => a + w * w, 0);
  const ips = meanEstimate(weighted);
  let snips: Estimate | null = null;
  if (sumW > 0) {
    const value = weighted.reduce((a, b) => a + b, 0) / sumW;
    // Delta method for a ratio of means: Var ≈ Σ w_i² (r_i − V)² / (Σ w_i)².
    const spread = weights.reduce((a, w, i) => a + w * w * ((rewards[i] as number) - value) ** 2, 0);
    snips = n < 2 ? { value, standard_error: null, interval: null } : withInterval(value, Math.sqrt(spread) / sumW);
  } else {
    warnings.push("the policy never chooses the arm a logged decision chose (every weight is 0): SNIPS is undefined, and IPS says 0");
  }
  const effective = sumW2 > 0 ? (sumW * sumW) / sumW2 : 0;
  if (n < 2) warnings.push("one usable decision: no interval");
  else if (sumW > 0 && (effective < 30 || effective < 0.1 * n)) {
    // Normal intervals need enough decisions behind them; a few dominant weights leave few, however many were read.
    const why = effective < 0.1 * n ? " (a few large weights dominate)" : "";
    warnings.push(`the estimates rest on an effective ${effective.toFixed(1)} of ${n} decisions${why}: the intervals may be too narrow`);
  }
  return result({
    ips,
    snips,
    logging_policy: meanEstimate(rewards),
    effective_sample_size: effective,
    max_weight: weights.reduce((a, b) => Math.max(a, b), 0),
  });
}
