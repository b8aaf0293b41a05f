/**
 * Offline (off-policy) evaluation: what reward would a candidate policy have earned, estimated from decisions
 * another policy (the runtime's) made and logged, without running it. Each logged decision carries the
 * probability mu_i with which the logging policy chose its arm, the arms' posteriors at that moment and the
 * request's context, so a candidate policy pi can say how likely it was to choose each arm there; the decision's
 * reward is weighed by w_i = pi(a_i | x_i) / mu_i.
 *   IPS   = (1/n) Σ w_i r_i                 unbiased when every mu_i is the true logging probability
 *   SNIPS = Σ w_i r_i / Σ w_i               slightly biased, much lower variance when weights are large
 *   DR    = (1/n) Σ [Σ_a pi(a | x_i) q(x_i, a) + w_i (r_i − q(x_i, a_i))]
 *                                           doubly robust: q is an outcome model (each arm's reward predicted
 *                                           from the context, see OutcomeModel); unbiased when the mu_i are right,
 *                                           whatever q is, and the better q predicts, the smaller its variance
 * Each with a 95% normal interval. The weights of an adaptively collected log (each mu_i depends on the rewards
 * before it) still make each term minus V a martingale difference, so the sample-variance interval stays valid.
 * Deterministic: the policies' probabilities are computed exactly (beta-cdf.ts, contextual.ts), never sampled.
 */
import { z } from "zod";
import { type ConfigIssue, describeIssues, fromZodIssues } from "../config/issues.js";
import { isPlainObject, type JsonValue, own, TimestampSchema } from "../json.js";
import { AgentTypeSchema, type ArmSnapshot, type RuntimeDecision } from "../runtime/schema.js";
import { IntervalSchema } from "./beta.js";
import {
  CategoricalValueSchema,
  type ContextFeatures,
  ContextFeaturesSchema,
  type ContextModel,
  ContextStatsAccumulator,
  categoryOf,
  encodeContext,
  type FeatureEntry,
  fitContextModel,
  modelInput,
  predictArm,
  probabilitiesHighestNormal,
} from "./contextual.js";
import { checkSelectionSettings, SELECTION_SETTINGS, selectionOptions } from "./selection.js";
import { ProbabilityMemo, type SelectableArm, selectionProbability } from "./thompson.js";

/** z for a two-sided 95% normal interval. */
const Z95 = 1.959963984540054;
const CONFIDENCE = 0.95;

/** The most rules a `rule` policy holds, and context keys one rule compares: a request's policy stays small. */
const MAX_RULES = 100;
const MAX_RULE_CONDITIONS = 16;
/** An arm as a policy names it: the runtime's bound on an arm id. */
const PolicyArmSchema = z.string().min(1).max(200);

const RuleSchema = z.strictObject({
  /**
   * Context keys and the value each must hold, all of them. Compared as text, as a categorical feature's values
   * are: `{tier: 2}` matches a context's 2 and "2"; a missing key, or an object, list or null there, never matches.
   */
  when: z
    .record(z.string().min(1).max(200), CategoricalValueSchema)
    .refine((when) => Object.keys(when).length > 0, "a rule compares at least one context key (otherwise names the default arm)")
    .refine((when) => Object.keys(when).length <= MAX_RULE_CONDITIONS, `a rule compares at most ${MAX_RULE_CONDITIONS} context keys`),
  /** The arm played where the rule matches. */
  arm: PolicyArmSchema,
});

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
    z.strictObject({
      /**
       * A fixed rule on the request's context: the first rule whose `when` all match plays its arm; where none
       * does, `otherwise`. A decision whose arm for its context is not among its arms, or that no rule matches
       * without an `otherwise`, is skipped.
       */
      type: z.literal("rule"),
      rules: z.array(RuleSchema).min(1).max(MAX_RULES),
      otherwise: PolicyArmSchema.optional(),
    }),
    z.strictObject({
      /**
       * What the log says works where: a context model (src/bandit/contextual.ts) fitted from the evaluated
       * decisions themselves, choosing by Thompson sampling over its predictions. At each decision, each of its
       * arms the model has rewards for is played with the probability that its Normal prediction for the
       * decision's context is the highest. Unlike the runtime's selection_policy contextual, no user's own
       * evidence enters: this is the population's model alone.
       */
      type: z.literal("contextual"),
      /** The features the model reads; absent or empty: the system's context_features. */
      context_features: ContextFeaturesSchema.optional(),
    }),
  ],
  {
    error: (issue) => (issue.code === "invalid_union" ? "expected 'static', 'greedy', 'thompson', 'rule' or 'contextual'" : undefined),
  },
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
 * it then, the arms' snapshot (null when it was logged without one), the request's context (null or absent when it
 * sent none) and its agent type (absent: the decisions are all one agent type's; the context model is per agent
 * type and arm, as the runtime's is).
 */
export type LoggedDecision = Pick<RuntimeDecision, "arm_id" | "reward" | "selection_probability"> & {
  arms_snapshot: readonly SnapshotArm[] | null;
  context?: Record<string, JsonValue> | null;
  agent_type?: string;
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
  /**
   * None of the policy's arms was among the decision's: a static policy's weighted arms, the arm a rule chose, the
   * arms a contextual policy's model has rewards for. It has no choice to compare there.
   */
  "policy_has_no_arm",
  /** A rule policy without `otherwise`, where no rule matched the decision's context. */
  "no_matching_rule",
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
  /** The policy evaluated, with its defaults filled in (a contextual policy: the features its model read). */
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
  /**
   * Doubly robust: the outcome model's prediction of what the policy earns at each decision, corrected by the
   * weighted error of its prediction for the arm that was played. Unbiased when the logged probabilities are right,
   * usually with a narrower interval than IPS; null when no decision could be used.
   */
  dr: EstimateSchema.nullable(),
  /** What DR's outcome model reads, in words. */
  outcome_model: z.string(),
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

/** What evaluatePolicy knows of the system besides its log. */
const EvaluationOptionsSchema = z.object({
  /**
   * The system's context_features (its runtime config's; the service passes them): what DR's outcome model reads,
   * and a contextual policy's model unless the policy names its own. Absent: none.
   */
  context_features: ContextFeaturesSchema.optional(),
});

/**
 * A policy that cannot be evaluated: each problem, with its field's path in the policy. A TypeError, as a caller's
 * mistake; the service answers it with 400.
 */
export class InvalidPolicyError extends TypeError {
  constructor(readonly issues: ConfigIssue[]) {
    super(`invalid policy: ${describeIssues(issues)}`);
  }
}

/** What a policy reads of a usable decision. */
interface Situation {
  arms: readonly SnapshotArm[];
  /** The index of the arm the decision played. */
  played: number;
  context: Record<string, JsonValue> | null;
  agentType: string;
  /** The context encoded with the evaluation's features (contextual.ts). */
  entries: readonly FeatureEntry[];
}

/**
 * pi(a | decision) for every arm of the decision's snapshot, in its order; or why the policy has no choice to make
 * there. DR needs every arm's probability, IPS and SNIPS only the played one's.
 */
type PolicyDistribution = (situation: Situation) => readonly number[] | SkipReason;

function staticDistribution(weights: Record<string, number>): PolicyDistribution {
  // Arm ids are the users' (`constructor` is one): own properties only.
  const weightOf = (armId: string) => (Object.hasOwn(weights, armId) ? (weights[armId] as number) : 0);
  return ({ arms }) => {
    const total = arms.reduce((sum, a) => sum + weightOf(a.arm_id), 0);
    if (total <= 0) return "policy_has_no_arm";
    return arms.map((a) => weightOf(a.arm_id) / total);
  };
}

const oneHot = (length: number, index: number) => Array.from({ length }, (_, i) => (i === index ? 1 : 0));

function greedyDistribution({ arms }: Situation): number[] {
  let best = 0;
  const mean = (a: SnapshotArm) => a.alpha / (a.alpha + a.beta);
  for (let i = 1; i < arms.length; i++) if (mean(arms[i] as SnapshotArm) > mean(arms[best] as SnapshotArm)) best = i;
  return oneHot(arms.length, best);
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

function thompsonDistribution(policy: Extract<OfflinePolicy, { type: "thompson" }>): PolicyDistribution {
  const options = selectionOptions(policy, { memo: new ProbabilityMemo() });
  // Many logged decisions share a snapshot (a user's selects between two rewards, every user's first select):
  // each snapshot's exact probabilities are computed once per evaluation.
  const known = new Map<string, number[]>();
  return ({ arms, played }) => {
    const key = `${played}|${arms.map((a) => `${a.arm_id},${a.alpha},${a.beta},${a.total_pulls ?? ""}`).join(";")}`;
    let p = known.get(key);
    if (p === undefined) {
      const candidates = arms.map(selectable);
      // Each exact probability is a quadrature, the cost of an evaluation: one arm other than the played one (whose
      // probability is the weight, exact) gets the rest of 1, which the others' quadratures leave to about 1e-6.
      const rest = played === arms.length - 1 ? arms.length - 2 : arms.length - 1;
      p = candidates.map((_, i) => (i === rest ? 0 : selectionProbability(candidates, options, i)));
      if (rest >= 0) p[rest] = Math.max(0, 1 - p.reduce((a, b) => a + b, 0));
      known.set(key, p);
    }
    return p;
  };
}

function ruleDistribution(policy: Extract<OfflinePolicy, { type: "rule" }>): PolicyDistribution {
  const matches = (when: Record<string, string>, context: Record<string, JsonValue> | null) =>
    context !== null && Object.entries(when).every(([key, value]) => categoryOf(own(context, key)) === value);
  return ({ arms, context }) => {
    const arm = policy.rules.find((rule) => matches(rule.when, context))?.arm ?? policy.otherwise;
    if (arm === undefined) return "no_matching_rule";
    const index = arms.findIndex((a) => a.arm_id === arm);
    return index < 0 ? "policy_has_no_arm" : oneHot(arms.length, index);
  };
}

function contextualDistribution(features: ContextFeatures, model: ContextModel): PolicyDistribution {
  // The probabilities depend only on the agent type, the arms offered and the encoded context: a log's decisions
  // share a few contexts, and each costs a quadrature per arm.
  const known = new Map<string, number[]>();
  return ({ arms, agentType, entries }) => {
    const x = modelInput(model, features, entries);
    const key = JSON.stringify([agentType, arms.map((a) => a.arm_id), x]);
    let p = known.get(key);
    if (p === undefined) {
      const predictions = arms.map((a) => predictArm(model, agentType, a.arm_id, x));
      const modelled = predictions.flatMap((prediction, i) => (prediction ? [{ i, prediction }] : []));
      const scores = modelled.map((m) => m.prediction);
      const raw = probabilitiesHighestNormal(scores);
      p = arms.map(() => 0);
      for (const [k, { i }] of modelled.entries()) p[i] = raw[k] as number;
      known.set(key, p);
    }
    return p.some((pi) => pi > 0) ? p : "policy_has_no_arm";
  };
}

function distributionOf(policy: OfflinePolicy, features: ContextFeatures, model: () => ContextModel): PolicyDistribution {
  switch (policy.type) {
    case "static":
      return staticDistribution(policy.weights);
    case "greedy":
      return greedyDistribution;
    case "thompson":
      return thompsonDistribution(policy);
    case "rule":
      return ruleDistribution(policy);
    case "contextual":
      return contextualDistribution(features, model());
  }
}

/** The agent type of a decision logged without one: the log is one agent type's. */
const ONE_AGENT_TYPE = "";
/** Decisions fall in two halves, alternately in the order given (see OutcomeModel). */
const HALVES = 2;

/**
 * DR's outcome model q(x, a): the context model of contextual.ts over the evaluation's features (each arm's
 * Bayesian linear model per agent type; with no features, the intercept alone, which is the arm's mean reward),
 * cross-fitted in two halves. A decision of one half is predicted by the model fitted on the other half's rewards
 * only. Fitted on the rewards it then corrects, q would follow each reward's own noise: r_i − q(x_i, a_i) would
 * shrink toward 0, DR would lean toward the model's own (biased) predictions, and the interval from the terms'
 * spread would be too narrow. Fitted on the other half, q is independent of the reward it corrects, so the
 * correction has mean zero given q whatever q's errors, as DR's unbiasedness needs. The statistics are additive
 * cells: all decisions' cells are the halves' sums, and a half's complement is the other half's (with two halves,
 * no subtraction is needed). The same cells, all of them, are a contextual policy's model.
 */
class OutcomeModel {
  private readonly halves = Array.from({ length: HALVES }, () => new ContextStatsAccumulator());
  private readonly all = new ContextStatsAccumulator();
  private readonly rewards = Array.from({ length: HALVES }, () => ({
    n: 0,
    sum: 0,
    min: Number.POSITIVE_INFINITY,
    max: Number.NEGATIVE_INFINITY,
  }));
  private fitted: ContextModel[] | null = null;

  constructor(private readonly features: ContextFeatures) {}

  add(half: number, agentType: string, armId: string, entries: readonly FeatureEntry[], reward: number): void {
    (this.halves[half] as ContextStatsAccumulator).add(agentType, armId, entries, reward);
    this.all.add(agentType, armId, entries, reward);
    const seen = this.rewards[half] as { n: number; sum: number; min: number; max: number };
    seen.n += 1;
    seen.sum += reward;
    seen.min = Math.min(seen.min, reward);
    seen.max = Math.max(seen.max, reward);
  }

  /** The model of every decision's rewards: a contextual policy's. */
  whole(): ContextModel {
    return fitContextModel(this.features, this.all.stats());
  }

  /** q(x, ·) for a decision of `half`: each arm's prediction from the other half's rewards, within the rewards seen there. */
  predictor(half: number, agentType: string, entries: readonly FeatureEntry[]): (armId: string) => number {
    this.fitted ??= this.halves.map((stats) => fitContextModel(this.features, stats.stats()));
    const other = (half + 1) % HALVES;
    const model = this.fitted[other] as ContextModel;
    const seen = this.rewards[other] as { n: number; sum: number; min: number; max: number };
    // An arm the other half never rewarded is predicted by that half's mean reward, and with no reward at all by the
    // middle of the reward range: DR stays unbiased whatever q says, only its variance pays.
    if (seen.n === 0) return () => 0.5;
    const x = modelInput(model, this.features, entries);
    return (armId) => {
      const prediction = predictArm(model, agentType, armId, x);
      return prediction === null ? seen.sum / seen.n : Math.min(seen.max, Math.max(seen.min, prediction.mean));
    };
  }

  describe(): string {
    const names = Object.keys(this.features);
    const what = names.length === 0 ? "each arm's mean reward (no context features)" : `each arm's reward, linear in ${names.join(", ")}`;
    return `${what}, per agent type; each half of the decisions predicted from the other half's rewards`;
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

/** The features the evaluation reads: a contextual policy's own, else the system's; a contextual policy needs some. */
export function featuresFor(policy: OfflinePolicy, options: z.input<typeof EvaluationOptionsSchema>): ContextFeatures {
  const parsed = EvaluationOptionsSchema.safeParse(options);
  if (!parsed.success) throw new TypeError(`invalid options: ${describeIssues(fromZodIssues(parsed.error.issues))}`);
  const system = parsed.data.context_features ?? {};
  if (policy.type !== "contextual") return system;
  const own = policy.context_features ?? {};
  const features = Object.keys(own).length > 0 ? own : system;
  if (Object.keys(features).length === 0) {
    throw new InvalidPolicyError([
      {
        path: "context_features",
        message:
          "the contextual policy needs context features to fit its model: give the policy context_features, or declare them in the system's runtime config (context_features)",
      },
    ]);
  }
  return features;
}

const contextOf = (decision: LoggedDecision): Record<string, JsonValue> | null =>
  isPlainObject(decision.context) ? (decision.context as Record<string, JsonValue>) : null;
const hasReward = (decision: LoggedDecision): decision is LoggedDecision & { reward: number } =>
  decision.reward !== null && Number.isFinite(decision.reward);

/**
 * Estimate `policy`'s mean reward from logged decisions. Decisions that cannot be used are counted by reason in
 * `skipped`. `options.context_features` are the system's (what DR's outcome model and a contextual policy read).
 * Throws an InvalidPolicyError on an invalid policy (or a contextual one without features), its message naming each
 * bad field.
 */
export function evaluatePolicy(
  decisions: readonly LoggedDecision[],
  policyInput: OfflinePolicyInput,
  options: z.input<typeof EvaluationOptionsSchema> = {},
): OfflineEvaluation {
  const { policy, issues } = parseOfflinePolicy(policyInput);
  if (!policy) throw new InvalidPolicyError(issues);
  const features = featuresFor(policy, options);
  const outcome = new OutcomeModel(features);
  // Every rewarded decision trains the models, usable or not: a model needs no logged probability.
  const entries = decisions.map((d) => encodeContext(features, contextOf(d) ?? undefined));
  const halfOf = new Int8Array(decisions.length).fill(-1);
  let rewarded = 0;
  decisions.forEach((decision, i) => {
    if (!hasReward(decision)) return;
    const half = rewarded++ % HALVES;
    halfOf[i] = half;
    outcome.add(half, decision.agent_type ?? ONE_AGENT_TYPE, decision.arm_id, entries[i] as FeatureEntry[], decision.reward);
  });
  const distribution = distributionOf(policy, features, () => outcome.whole());
  const skipped = NO_SKIPS();
  const weights: number[] = [];
  const rewards: number[] = [];
  const doublyRobust: number[] = [];
  decisions.forEach((decision, i) => {
    const mu = decision.selection_probability;
    const snapshot = decision.arms_snapshot;
    const index = snapshot ? snapshot.findIndex((a) => a.arm_id === decision.arm_id) : -1;
    let reason: SkipReason | null = null;
    if (!hasReward(decision)) reason = "no_reward";
    else if (mu === null || !Number.isFinite(mu)) reason = "no_probability";
    else if (mu <= 0) reason = "zero_probability";
    else if (!snapshot || snapshot.length === 0) reason = "no_snapshot";
    else if (index < 0) reason = "arm_not_in_snapshot";
    const agentType = decision.agent_type ?? ONE_AGENT_TYPE;
    const situation = {
      arms: snapshot ?? [],
      played: index,
      context: contextOf(decision),
      agentType,
      entries: entries[i] as FeatureEntry[],
    };
    const pi = reason ?? distribution(situation);
    if (typeof pi === "string") {
      skipped[pi] += 1;
      return;
    }
    const reward = decision.reward as number;
    const weight = (pi[index] as number) / (mu as number);
    const predict = outcome.predictor(halfOf[i] as number, agentType, situation.entries);
    const q = situation.arms.map((arm, a) => ((pi[a] as number) > 0 || a === index ? predict(arm.arm_id) : 0));
    const direct = pi.reduce((sum, p, a) => sum + p * (q[a] as number), 0);
    weights.push(weight);
    rewards.push(reward);
    doublyRobust.push(direct + weight * (reward - (q[index] as number)));
  });
  const evaluated = policy.type === "contextual" ? { ...policy, context_features: features } : policy;
  return summarize(evaluated, decisions.length, skipped, { weights, rewards, doublyRobust }, outcome.describe());
}

function summarize(
  policy: OfflinePolicy,
  read: number,
  skipped: Record<SkipReason, number>,
  terms: { weights: readonly number[]; rewards: readonly number[]; doublyRobust: readonly number[] },
  outcomeModel: string,
): OfflineEvaluation {
  const { weights, rewards } = terms;
  const n = weights.length;
  const warnings: string[] = [];
  const result = (fields: Pick<OfflineEvaluation, "ips" | "snips" | "dr" | "logging_policy" | "effective_sample_size" | "max_weight">) => ({
    policy,
    confidence: CONFIDENCE,
    decisions: read,
    n,
    skipped,
    ...fields,
    outcome_model: outcomeModel,
    warnings,
  });
  if (n === 0) {
    warnings.push(read === 0 ? "no logged decisions to evaluate" : "none of the logged decisions could be used: see skipped for why");
    return result({ ips: null, snips: null, dr: null, logging_policy: null, effective_sample_size: 0, max_weight: 0 });
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
    dr: meanEstimate(terms.doublyRobust),
    logging_policy: meanEstimate(rewards),
    effective_sample_size: effective,
    max_weight: weights.reduce((a, b) => Math.max(a, b), 0),
  });
}
