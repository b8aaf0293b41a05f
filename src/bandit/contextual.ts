/**
 * Contextual choices: a Bayesian linear model of each arm's reward on a request's declared context features,
 * trained from sufficient statistics, and the prior it gives a user's arm for this request's context.
 *
 * Encoding. A system declares its features (`context_features`). A request's context becomes a sparse vector of
 * tokens: the intercept "" (always 1); `name=value` for a categorical value (one-hot; a value outside the
 * declared list, or beyond the `max_values` most frequent of an undeclared list, counts as `name#other`); `name`
 * for a numeric value, scaled to [0, 1] by its declared min and max (else a signed log10, over [-1, 1]). A missing
 * feature is all zeros (the arm's average). Numeric features also carry a display token `name#bK` (their bucket)
 * that the model does not read: the system page's observed reward per bucket comes from it.
 *
 * Sufficient statistics. Per (agent type, arm), for every pair of a decision's tokens a <= b: Σ x_a x_b, and on
 * the diagonal Σ x_a y and Σ x_a y² (y the reward). They are additive, so the service's log keeps them per day as
 * rewards land (migration 0011's trigger) and an in-process storage adds them up as it goes; the same cells give
 * XᵀX, Xᵀy and yᵀy of any window, and, on the diagonal of a one-hot token, the count and reward sum of that value.
 *
 * Model. Per arm, ridge-regularized Bayesian linear regression: w ~ N(w0, σ²/λ I), y = xᵀw + ε, ε ~ N(0, σ²);
 * posterior N(μ, σ² B⁻¹) with B = λI + XᵀX, μ = B⁻¹(Xᵀy + λ w0), w0 the arm's mean reward on the intercept, σ²
 * from the residuals (with two pseudo-rewards of variance 1/4). For a context x the arm's reward prediction is
 * Normal(xᵀμ, xᵀΣx), exactly the distribution of xᵀw for weights drawn from the posterior.
 *
 * Prior. That prediction is the user's prior for the arm (src/runtime/manager.ts): a Beta with its mean and the
 * variance of the prediction plus the between-user variance τ² pooling estimates (or implies by a fixed
 * prior_strength), so the pooling strength weighs it, and a model that knows little weighs little. One Beta draw
 * per arm then samples the model's weights and the user's own evidence together, and the selection probability
 * stays exact (src/bandit/beta-cdf.ts) where drawing weights first would need Monte Carlo.
 */
import { z } from "zod";
import { strictObject } from "../config/unknown-keys.js";
import { type JsonValue, own, TimestampSchema } from "../json.js";
import { backSolve, choleskyInPlace, forwardSolve, inverseFromCholesky, logDetFromCholesky } from "../linear-algebra.js";
import { normalCdf } from "../optimize/stats.js";
import { ofAgentType, parseByAgentAndArm, recordOf, setRecord } from "./arm-records.js";
import type { BetaParams } from "./posterior.js";

/** Feature names: no `=` or `#`, which separate a token's feature from its value. */
const FEATURE_NAME = /^[A-Za-z0-9_.:-]{1,64}$/;
/** The longest categorical value that keeps its own token; a longer one is `other`. */
const MAX_VALUE_LENGTH = 64;
/** A categorical value as the context holds it (a string, number or boolean), compared as text. */
export const CategoricalValueSchema = z
  .union([z.string(), z.number(), z.boolean()])
  .transform(String)
  .pipe(z.string().min(1).max(MAX_VALUE_LENGTH));

/** The most dimensions the features may encode to, the intercept not counted. */
const MAX_ENCODED_FEATURES = 32;
/** Values of a categorical feature without a declared list that get their own dimension, by default. */
const DEFAULT_MAX_VALUES = 10;

const CategoricalFeatureSchema = strictObject({
  type: z.literal("categorical"),
  /** The values that get their own dimension; any other is `other`. Absent: the most frequent `max_values`. */
  values: z
    .array(CategoricalValueSchema)
    .min(1)
    .max(MAX_ENCODED_FEATURES - 1)
    .refine((values) => new Set(values).size === values.length, "values must be unique")
    .optional(),
  max_values: z
    .int()
    .min(1)
    .max(MAX_ENCODED_FEATURES - 1)
    .default(DEFAULT_MAX_VALUES),
});
const NumericFeatureSchema = strictObject({
  type: z.literal("numeric"),
  /** Values are clamped to [min, max] and scaled to [0, 1]; without both, a signed log10 scale. */
  min: z.number().optional(),
  max: z.number().optional(),
}).superRefine((feature, ctx) => {
  if ((feature.min === undefined) !== (feature.max === undefined)) {
    ctx.addIssue({ code: "custom", path: [feature.min === undefined ? "min" : "max"], message: "min and max go together" });
  } else if (feature.min !== undefined && !((feature.max as number) > feature.min)) {
    ctx.addIssue({ code: "custom", path: ["max"], message: "max must be greater than min" });
  }
});
const ContextFeatureSchema = z.discriminatedUnion("type", [CategoricalFeatureSchema, NumericFeatureSchema], {
  error: (issue) => (issue.code === "invalid_union" ? "expected type 'categorical' or 'numeric'" : undefined),
});
type ContextFeature = z.output<typeof ContextFeatureSchema>;

/** Dimensions a feature takes in the model: one per value it keeps plus `other`, or one for a number. */
function dimensionsOf(feature: ContextFeature): number {
  if (feature.type === "numeric") return 1;
  return (feature.values?.length ?? feature.max_values) + 1;
}

/** A system's `context_features`: the type, the validator and the API description. */
export const ContextFeaturesSchema = z
  .record(z.string(), ContextFeatureSchema)
  .default({})
  .superRefine((features, ctx) => {
    // Checked here rather than by the record's key schema, whose refusal does not say which rule a name broke.
    for (const name of Object.keys(features)) {
      if (!FEATURE_NAME.test(name)) {
        ctx.addIssue({ code: "custom", path: [name], message: "a context feature name is 1 to 64 letters, digits, '_', '.', ':' or '-'" });
      }
    }
    const dimensions = Object.values(features).reduce((n, f) => n + dimensionsOf(f), 0);
    if (dimensions > MAX_ENCODED_FEATURES) {
      const parts = Object.entries(features).map(([name, f]) => `${name} ${dimensionsOf(f)}`);
      ctx.addIssue({
        code: "custom",
        message: `the features encode to ${dimensions} dimensions (${parts.join(", ")}; a categorical feature takes one per value plus 'other'), at most ${MAX_ENCODED_FEATURES}: declare fewer values or lower max_values`,
      });
    }
  });
export type ContextFeatures = z.output<typeof ContextFeaturesSchema>;

const INTERCEPT = "";
const OTHER = "#other";

/** One encoded entry: [token, value], or [token, value, 0] for a display token the model does not read. */
export type FeatureEntry = [string, number] | [string, number, 0];

/** Numeric buckets: quarters of [min, max], or decades by sign. */
function bucketOf(feature: Extract<ContextFeature, { type: "numeric" }>, value: number): number {
  if (feature.min !== undefined && feature.max !== undefined) {
    return Math.min(3, Math.max(0, Math.floor((4 * (value - feature.min)) / (feature.max - feature.min))));
  }
  if (value < 0) return 0;
  // [0, 1) is 1, [1, 10) is 2, ... [10^5, ∞) is 7.
  return value < 1 ? 1 : Math.min(7, 2 + Math.floor(Math.log10(value)));
}

/** The bucket's label for the system page: `[lo, hi)`. */
function bucketLabel(feature: Extract<ContextFeature, { type: "numeric" }>, bucket: number): string {
  if (feature.min !== undefined && feature.max !== undefined) {
    const width = (feature.max - feature.min) / 4;
    const at = (k: number) => Number((feature.min as number) + k * width).toPrecision(3);
    return bucket === 3 ? `[${at(3)}, ${at(4)}]` : `[${at(bucket)}, ${at(bucket + 1)})`;
  }
  if (bucket === 0) return "< 0";
  if (bucket === 1) return "[0, 1)";
  const lo = 10 ** (bucket - 2);
  return bucket === 7 ? `>= ${lo}` : `[${lo}, ${lo * 10})`;
}

function scaled(feature: Extract<ContextFeature, { type: "numeric" }>, value: number): number {
  if (feature.min !== undefined && feature.max !== undefined) {
    return (Math.min(feature.max, Math.max(feature.min, value)) - feature.min) / (feature.max - feature.min);
  }
  return Math.max(-1, Math.min(1, (Math.sign(value) * Math.log10(1 + Math.abs(value))) / 6));
}

/** The categorical text of a context value, or null when it cannot be one (objects, arrays, null). */
export function categoryOf(value: JsonValue | undefined): string | null {
  if (typeof value === "string") return value.length > 0 ? value : null;
  if (typeof value === "number" || typeof value === "boolean") return String(value);
  return null;
}

/**
 * A request's context as the model's tokens, sorted (the intercept first). Undeclared keys are ignored; a value
 * of the wrong kind counts as missing. Undeclared categorical values keep their own token (up to 64 characters;
 * longer is `other`): which of them get a dimension is the fit's choice, by frequency.
 */
export function encodeContext(features: ContextFeatures, context: Record<string, JsonValue> | undefined): FeatureEntry[] {
  const entries: FeatureEntry[] = [[INTERCEPT, 1]];
  for (const [name, feature] of Object.entries(features)) {
    const raw = own(context, name);
    if (feature.type === "numeric") {
      if (typeof raw !== "number" || !Number.isFinite(raw)) continue;
      entries.push([name, scaled(feature, raw)], [`${name}#b${bucketOf(feature, raw)}`, 1, 0]);
      continue;
    }
    const value = categoryOf(raw);
    if (value === null) continue;
    const known = feature.values ? feature.values.includes(value) : value.length <= MAX_VALUE_LENGTH;
    entries.push([known ? `${name}=${value}` : `${name}${OTHER}`, 1]);
  }
  return entries.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
}

/** One cell of the statistics: tokens a <= b, Σ x_a x_b, and for a = b Σ x_a y and Σ x_a y² (0 elsewhere). */
export type ContextCell = [a: string, b: string, xx: number, xy: number, yy: number];

const ContextCellSchema = z.tuple([z.string(), z.string(), z.number(), z.number(), z.number()]);
/** Per agent type, per arm, its cells (read and written as own properties: the ids are the users'). */
const ContextStatsSchema = z.object({ agent_types: z.record(z.string(), z.record(z.string(), z.array(ContextCellSchema))) });
export type ContextStats = z.output<typeof ContextStatsSchema>;

/** A decision's cells, as the log's trigger makes them (display tokens pair only with themselves). */
export function cellsOf(entries: readonly FeatureEntry[], reward: number): ContextCell[] {
  const cells: ContextCell[] = [];
  for (let i = 0; i < entries.length; i++) {
    const [a, xa] = entries[i] as FeatureEntry;
    const displayA = (entries[i] as FeatureEntry).length === 3;
    for (let j = i; j < entries.length; j++) {
      const [b, xb] = entries[j] as FeatureEntry;
      const displayB = (entries[j] as FeatureEntry).length === 3;
      if (i !== j && (displayA || displayB)) continue;
      cells.push(i === j ? [a, b, xa * xb, xa * reward, xa * reward * reward] : [a, b, xa * xb, 0, 0]);
    }
  }
  return cells;
}

/** Running sums of cells per (agent type, arm): an in-process storage's statistics. */
export class ContextStatsAccumulator {
  private readonly sums = new Map<string, Map<string, Map<string, ContextCell>>>();

  add(agentType: string, armId: string, entries: readonly FeatureEntry[], reward: number): void {
    const arms = this.sums.get(agentType) ?? new Map<string, Map<string, ContextCell>>();
    this.sums.set(agentType, arms);
    const cells = arms.get(armId) ?? new Map<string, ContextCell>();
    arms.set(armId, cells);
    for (const [a, b, xx, xy, yy] of cellsOf(entries, reward)) {
      const key = `${a}\u0000${b}`;
      const cell = cells.get(key);
      if (cell) {
        cell[2] += xx;
        cell[3] += xy;
        cell[4] += yy;
      } else cells.set(key, [a, b, xx, xy, yy]);
    }
  }

  stats(): ContextStats {
    const stats: ContextStats = { agent_types: {} };
    for (const [agentType, arms] of this.sums) {
      for (const [armId, cells] of arms) {
        setRecord(
          stats.agent_types,
          agentType,
          armId,
          [...cells.values()].map((c) => [...c] as ContextCell),
        );
      }
    }
    return stats;
  }
}

/** One arm's posterior: rewards seen, μ, and the lower triangle of Σ = σ² B⁻¹ by rows. */
const ArmModelSchema = z.object({ n: z.number(), mean: z.array(z.number()), covariance: z.array(z.number()) });
type ArmModel = z.output<typeof ArmModelSchema>;

/** The fitted model a system snapshot carries to every select. */
const ContextModelSchema = z.object({
  computed_at: TimestampSchema,
  /** The token of each dimension; dimension 0 is the intercept "". */
  dimensions: z.array(z.string()),
  agent_types: z.record(z.string(), z.record(z.string(), ArmModelSchema)),
});
export type ContextModel = z.output<typeof ContextModelSchema>;

/** Pseudo-rewards of variance 1/4 in the noise estimate. */
const NOISE_PSEUDO_COUNT = 2;
/** The model never holds more numbers than this (about 1.2 MB of JSON): past it the least rewarded arms are left out. */
const MAX_MODEL_NUMBERS = 100_000;

/** Dimension of each token of the model: declared values, the most frequent undeclared ones, `other`, numbers. */
function dimensionsFor(features: ContextFeatures, counts: ReadonlyMap<string, number>): string[] {
  const dimensions = [INTERCEPT];
  for (const [name, feature] of Object.entries(features)) {
    if (feature.type === "numeric") {
      dimensions.push(name);
      continue;
    }
    let values = feature.values;
    if (!values) {
      const prefix = `${name}=`;
      values = [...counts.entries()]
        .filter(([token]) => token.startsWith(prefix))
        .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))
        .slice(0, feature.max_values)
        .map(([token]) => token.slice(prefix.length));
    }
    for (const value of values) dimensions.push(`${name}=${value}`);
    dimensions.push(`${name}${OTHER}`);
  }
  return dimensions;
}

/** The feature a token belongs to (its name), or null for the intercept. */
function featureOfToken(token: string): string | null {
  if (token === INTERCEPT) return null;
  const cut = token.search(/[=#]/);
  return cut < 0 ? token : token.slice(0, cut);
}

/**
 * Where a token lands in the model: its dimension, `other` for a categorical value without one, or -1 (display
 * tokens, features no longer declared).
 */
function indexer(features: ContextFeatures, dimensions: readonly string[]): (token: string) => number {
  const index = new Map(dimensions.map((t, i) => [t, i]));
  return (token) => {
    const at = index.get(token);
    if (at !== undefined) return at;
    const name = featureOfToken(token);
    if (name === null || !Object.hasOwn(features, name) || features[name]?.type !== "categorical" || !token.startsWith(`${name}=`))
      return -1;
    return index.get(`${name}${OTHER}`) ?? -1;
  };
}

/** The count of decisions with each one-hot token (its diagonal Σ x²), over every arm and agent type. */
function tokenCounts(stats: ContextStats): Map<string, number> {
  const counts = new Map<string, number>();
  for (const arms of Object.values(stats.agent_types)) {
    for (const cells of Object.values(arms)) {
      for (const [a, b, xx] of cells) if (a === b && a.includes("=")) counts.set(a, (counts.get(a) ?? 0) + xx);
    }
  }
  return counts;
}

/** The intercept's prior precision: next to nothing, so an arm's mean is the data's. */
const INTERCEPT_PRECISION = 1e-4;
/**
 * Prior precisions of the context effects tried, each the inverse of the effects' prior variance: from effects as
 * large as the rewards' range down to none. The one under which the rewards are most likely (the evidence) wins.
 */
const EFFECT_PRECISIONS = [1, 10, 100, 1e3, 1e4, 1e5, 1e6];
/**
 * Prior log-odds that the context makes no difference (the largest precision): a feature's effect must earn its
 * place by strong evidence (a log Bayes factor of 3, Kass and Raftery 1995). Without it, a model fitted on few
 * rewards often lets noise pass for an effect, and bench:bandit's environment where context is irrelevant paid
 * 12% more regret than the context-free policy; with it, 17% less, and no less gained where context matters.
 */
const NO_EFFECT_LOG_ODDS = 3;

/**
 * One arm's posterior from its cells, mapped onto the model's dimensions; null without a reward. The noise σ² is
 * estimated from the residuals of a nearly unregularized fit; the effects' prior precision α is chosen by the
 * evidence p(y | α) (empirical Bayes, Bishop 2006 §3.5), with prior odds for "no effect": where the context makes no difference, α is large and the
 * model's prediction is the arm's mean, as sure as the arm's rewards make it; where it does, the effects are free.
 */
function fitArm(cells: readonly ContextCell[], d: number, indexOf: (token: string) => number): ArmModel | null {
  const xtx = new Float64Array(d * d);
  const xty = new Float64Array(d);
  let yy = 0;
  for (const [a, b, xx, xy, y2] of cells) {
    const i = indexOf(a);
    const j = indexOf(b);
    if (a === INTERCEPT && b === INTERCEPT) yy = y2;
    if (i < 0 || j < 0) continue;
    xtx[i * d + j] = (xtx[i * d + j] as number) + xx;
    if (i !== j) xtx[j * d + i] = (xtx[j * d + i] as number) + xx;
    if (a === b) xty[i] = (xty[i] as number) + xy;
  }
  const n = xtx[0] as number;
  if (!(n > 0)) return null;
  /** The posterior of weights under precisions (intercept, effects) and noise precision β. */
  const posterior = (effects: number, beta: number) => {
    const A = new Float64Array(d * d);
    for (let k = 0; k < d * d; k++) A[k] = beta * (xtx[k] as number);
    for (let i = 0; i < d; i++) A[i * d + i] = (A[i * d + i] as number) + (i === 0 ? INTERCEPT_PRECISION : effects);
    if (!choleskyInPlace(A, d)) return null;
    const L = A;
    const mean = backSolve(
      L,
      d,
      forwardSolve(
        L,
        d,
        Array.from(xty, (v) => beta * v),
      ),
    );
    // yᵀy − 2 μᵀXᵀy + μᵀXᵀXμ, from the sums.
    let rss = yy;
    for (let i = 0; i < d; i++) {
      const mi = mean[i] as number;
      rss -= 2 * mi * (xty[i] as number);
      for (let j = 0; j < d; j++) rss += mi * (xtx[i * d + j] as number) * (mean[j] as number);
    }
    return { L, mean, rss: Math.max(0, rss) };
  };
  // Rewards so ill-conditioned that a factor fails in floating point: the arm is left out (its prior is the population's).
  const loose = posterior(1e-6, 1);
  if (!loose) return null;
  const noise = (loose.rss + NOISE_PSEUDO_COUNT * 0.25) / (n + NOISE_PSEUDO_COUNT);
  const beta = 1 / noise;
  let best: { L: Float64Array; mean: Float64Array; evidence: number } | null = null;
  for (const effects of EFFECT_PRECISIONS) {
    const fit = posterior(effects, beta);
    if (!fit) continue;
    let penalty = 0;
    for (let i = 0; i < d; i++) penalty += (i === 0 ? INTERCEPT_PRECISION : effects) * (fit.mean[i] as number) ** 2;
    const logDet = logDetFromCholesky(fit.L, d);
    const noEffect = effects === EFFECT_PRECISIONS[EFFECT_PRECISIONS.length - 1];
    const evidence =
      0.5 * (d - 1) * Math.log(effects) - 0.5 * beta * fit.rss - 0.5 * penalty - 0.5 * logDet + (noEffect ? NO_EFFECT_LOG_ODDS : 0);
    if (!best || evidence > best.evidence) best = { L: fit.L, mean: fit.mean, evidence };
  }
  if (!best) return null;
  const inverse = inverseFromCholesky(best.L, d);
  const covariance: number[] = [];
  for (let i = 0; i < d; i++) for (let j = 0; j <= i; j++) covariance.push(inverse[i * d + j] as number);
  return { n, mean: Array.from(best.mean), covariance };
}

/**
 * Fit every (agent type, arm) of the statistics for these features. Arms with the most rewards first, within the
 * model's size bound.
 */
export function fitContextModel(features: ContextFeatures, stats: ContextStats, now = new Date()): ContextModel {
  const dimensions = dimensionsFor(features, tokenCounts(stats));
  const d = dimensions.length;
  const indexOf = indexer(features, dimensions);
  const fitted: { agentType: string; armId: string; arm: ArmModel }[] = [];
  for (const [agentType, arms] of Object.entries(stats.agent_types)) {
    for (const [armId, cells] of Object.entries(arms)) {
      const arm = fitArm(cells, d, indexOf);
      if (arm) fitted.push({ agentType, armId, arm });
    }
  }
  fitted.sort((a, b) => b.arm.n - a.arm.n);
  const perArm = d + (d * (d + 1)) / 2;
  const model: ContextModel = { computed_at: now.toISOString(), dimensions, agent_types: {} };
  for (const { agentType, armId, arm } of fitted.slice(0, Math.floor(MAX_MODEL_NUMBERS / perArm))) {
    setRecord(model.agent_types, agentType, armId, arm);
  }
  return model;
}

/** A context as the model's dimensions: [dimension, value] pairs (tokens without a dimension dropped). */
export type EncodedContext = [number, number][];

/** Each model's token lookup, made once: select reads it at every request. */
const indexers = new WeakMap<ContextModel, { features: ContextFeatures; indexOf: (token: string) => number }>();

export function modelInput(model: ContextModel, features: ContextFeatures, entries: readonly FeatureEntry[]): EncodedContext {
  let cached = indexers.get(model);
  if (!cached || cached.features !== features) {
    cached = { features, indexOf: indexer(features, model.dimensions) };
    indexers.set(model, cached);
  }
  const indexOf = cached.indexOf;
  const out: EncodedContext = [];
  for (const entry of entries) {
    if (entry.length === 3) continue;
    const i = indexOf(entry[0]);
    if (i >= 0) out.push([i, entry[1]]);
  }
  return out;
}

/** The arm's predicted reward for the context: Normal(xᵀμ, xᵀΣx); null when the model has no such arm. */
export function predictArm(
  model: ContextModel,
  agentType: string,
  armId: string,
  x: EncodedContext,
): { mean: number; variance: number; n: number } | null {
  const arm = recordOf(model.agent_types, agentType, armId);
  if (!arm) return null;
  let mean = 0;
  let variance = 0;
  const cov = (i: number, j: number) => (i >= j ? arm.covariance[(i * (i + 1)) / 2 + j] : arm.covariance[(j * (j + 1)) / 2 + i]) ?? 0;
  for (const [i, xi] of x) {
    mean += xi * (arm.mean[i] ?? 0);
    for (const [j, xj] of x) variance += xi * xj * cov(i, j);
  }
  return { mean, variance: Math.max(variance, 1e-9), n: arm.n };
}

/** The most a prior's strength reaches, as for pooled priors. */
const MAX_STRENGTH = 1000;

/**
 * The user's prior for an arm in this context: a Beta with the prediction's mean and variance plus τ² (how far a
 * user's own mean strays from the population's), capped at the arm's rewards and MAX_STRENGTH.
 */
export function contextualPrior(prediction: { mean: number; variance: number; n: number }, tau2: number): BetaParams {
  const m = Math.min(0.999, Math.max(0.001, prediction.mean));
  // The smaller of what users' agreement and the model's certainty allow, as a pooled prior's strength is capped
  // by the rewards it rests on.
  const spread = Math.max(tau2, prediction.variance);
  const strength = Math.min(MAX_STRENGTH, prediction.n, Math.max(0, (m * (1 - m)) / spread - 1));
  return { alpha: 1 + m * strength, beta: 1 + (1 - m) * strength };
}

/** The model for one agent type only: all a user's object ever reads of it. */
export function modelOfAgentType(model: ContextModel, agentType: string): ContextModel {
  return { ...model, agent_types: ofAgentType(model.agent_types, agentType) };
}

/** A model from stored JSON, or null when not in that form. */
export function parseContextModel(raw: unknown): ContextModel | null {
  const head = ContextModelSchema.pick({ computed_at: true, dimensions: true }).safeParse(raw);
  if (!head.success) return null;
  const agentTypes = parseByAgentAndArm((raw as { agent_types?: unknown }).agent_types, (arm) => {
    const parsed = ArmModelSchema.safeParse(arm);
    return parsed.success ? parsed.data : null;
  });
  return agentTypes ? { ...head.data, agent_types: agentTypes } : null;
}

/**
 * P(each arm has the highest score) for independent Normal scores. Arms that cannot win (their mean + 7 sd below some
 * arm's mean − 7 sd) get 0 without a quadrature, which is most of them once the model is sure; each other arm's is
 * Simpson's rule over ±7 sd of its own density (96 intervals: the integrand is smooth), so a decision costs a few
 * thousand normal CDFs at most, and the probabilities are normalized to sum to 1.
 */
export function probabilitiesHighestNormal(scores: readonly { mean: number; variance: number }[]): number[] {
  const SPAN = 7;
  const INTERVALS = 96;
  const sd = scores.map((s) => Math.sqrt(Math.max(s.variance, 1e-18)));
  const floor = Math.max(...scores.map((s, i) => s.mean - SPAN * (sd[i] as number)));
  const contenders = scores.flatMap((s, i) => (s.mean + SPAN * (sd[i] as number) >= floor ? [i] : []));
  const p = scores.map(() => 0);
  if (contenders.length === 1) {
    p[contenders[0] as number] = 1;
    return p;
  }
  for (const i of contenders) {
    const own = scores[i] as { mean: number; variance: number };
    const ownSd = sd[i] as number;
    const step = (2 * SPAN * ownSd) / INTERVALS;
    let total = 0;
    for (let k = 0; k <= INTERVALS; k++) {
      const z = -SPAN + (k * 2 * SPAN) / INTERVALS;
      const s = own.mean + z * ownSd;
      let value = Math.exp(-0.5 * z * z) / (ownSd * Math.sqrt(2 * Math.PI));
      for (const j of contenders) if (j !== i) value *= normalCdf((s - (scores[j] as { mean: number }).mean) / (sd[j] as number));
      total += (k === 0 || k === INTERVALS ? 1 : k % 2 === 1 ? 4 : 2) * value;
    }
    p[i] = (total * step) / 3;
  }
  const sum = p.reduce((a, b) => a + b, 0);
  return sum > 0 ? p.map((x) => x / sum) : p.map((_, i) => (contenders.includes(i) ? 1 / contenders.length : 0));
}

/** One arm at one feature value: rewarded decisions, their mean reward, and the model's prediction. */
const ValueArmSchema = z.object({
  arm_id: z.string(),
  /** Rewarded decisions of this arm with this value, in the window. */
  rewarded: z.number(),
  /** Their mean reward; null without any. */
  observed: z.number().nullable(),
  /** The model's predicted reward for this value, the other features at their average; null without a model of the arm. */
  predicted: z.number().nullable(),
});

const FeatureViewSchema = z.object({
  name: z.string(),
  type: z.enum(["categorical", "numeric"]),
  /** Set when the window's decisions never varied in this feature: it cannot change any choice. */
  never_varies: z.string().nullable(),
  /** Each categorical value (its declared or most frequent ones, then other), or each numeric bucket. */
  values: z.array(z.object({ value: z.string(), rewarded: z.number(), arms: z.array(ValueArmSchema) })),
});

/** A system's context on its page: per feature value, each arm's predicted and observed reward. */
export const ContextViewSchema = z.object({
  agent_type: z.string(),
  /** When the model the predictions come from was fitted; null before the first fit. */
  model_computed_at: TimestampSchema.nullable(),
  /** Rewarded decisions in the window the observations come from. */
  rewarded: z.number(),
  features: z.array(FeatureViewSchema),
});
export type ContextView = z.output<typeof ContextViewSchema>;

/** The representative value of a numeric bucket, where the prediction is made. */
function bucketCenter(feature: Extract<ContextFeature, { type: "numeric" }>, bucket: number): number {
  if (feature.min !== undefined && feature.max !== undefined) return feature.min + ((bucket + 0.5) * (feature.max - feature.min)) / 4;
  if (bucket === 0) return -1;
  if (bucket === 1) return 0.5;
  return 10 ** (bucket - 1.5);
}

/**
 * The view of the system page: observations from the cells (a one-hot or bucket token's diagonal holds its count
 * and reward sum), predictions from the model at each value with the other features at their average.
 */
export function contextView(
  features: ContextFeatures,
  stats: ContextStats,
  model: ContextModel | null,
  agentType: string,
  armIds: readonly string[],
): ContextView {
  const arms = own(stats.agent_types, agentType) ?? {};
  /** Σ over arms of each token's diagonal: [count, reward sum], and the intercept cross terms Σ x. */
  const diagonal = new Map<string, Map<string, [number, number]>>();
  const sums = new Map<string, number>();
  let rewarded = 0;
  for (const [armId, cells] of Object.entries(arms)) {
    const own = new Map<string, [number, number]>();
    diagonal.set(armId, own);
    for (const [a, b, xx, xy] of cells) {
      if (a === b) own.set(a, [xx, xy]);
      if (a === INTERCEPT) sums.set(b, (sums.get(b) ?? 0) + xx);
    }
    rewarded += own.get(INTERCEPT)?.[0] ?? 0;
  }
  const averageInput = (): Map<string, number> => {
    const input = new Map<string, number>();
    if (rewarded > 0) for (const [token, sum] of sums) if (token !== INTERCEPT) input.set(token, sum / rewarded);
    input.set(INTERCEPT, 1);
    return input;
  };
  const predict = (armId: string, input: Map<string, number>): number | null => {
    if (!model) return null;
    const entries: FeatureEntry[] = [...input.entries()].map(([token, value]) => [token, value]);
    const prediction = predictArm(model, agentType, armId, modelInput(model, features, entries));
    return prediction ? Math.min(1, Math.max(0, prediction.mean)) : null;
  };
  const observed = (tokens: readonly string[]) =>
    armIds.map((armId) => {
      let n = 0;
      let sum = 0;
      for (const token of tokens) {
        const [count, rewardSum] = diagonal.get(armId)?.get(token) ?? [0, 0];
        n += count;
        sum += rewardSum;
      }
      return { arm_id: armId, rewarded: n, observed: n > 0 ? sum / n : null };
    });
  const seen = new Set<string>();
  for (const own of diagonal.values()) for (const token of own.keys()) seen.add(token);
  const view: ContextView = { agent_type: agentType, model_computed_at: model?.computed_at ?? null, rewarded, features: [] };
  for (const [name, feature] of Object.entries(features)) {
    const rows: ContextView["features"][number]["values"] = [];
    // Everything this feature's values set in the model's input, so each row replaces exactly them.
    const ownTokens = (token: string) => featureOfToken(token) === name;
    const withValue = (set: Record<string, number>) => {
      const input = averageInput();
      for (const token of [...input.keys()]) if (ownTokens(token)) input.delete(token);
      for (const [token, value] of Object.entries(set)) input.set(token, value);
      return input;
    };
    if (feature.type === "numeric") {
      const buckets = [...seen].filter((t) => t.startsWith(`${name}#b`)).map((t) => Number(t.slice(name.length + 2)));
      for (const bucket of buckets.sort((a, b) => a - b)) {
        const input = withValue({ [name]: scaled(feature, bucketCenter(feature, bucket)) });
        const observations = observed([`${name}#b${bucket}`]);
        rows.push({
          value: bucketLabel(feature, bucket),
          rewarded: observations.reduce((n, o) => n + o.rewarded, 0),
          arms: observations.map((o) => ({ ...o, predicted: predict(o.arm_id, input) })),
        });
      }
    } else {
      const kept = model
        ? model.dimensions.filter((t) => t.startsWith(`${name}=`))
        : (feature.values?.map((v) => `${name}=${v}`) ?? [...seen].filter((t) => t.startsWith(`${name}=`)).slice(0, feature.max_values));
      const others = [...seen].filter((t) => ownTokens(t) && !kept.includes(t));
      const groups: [string, string[], string][] = [
        ...kept.map((token): [string, string[], string] => [token.slice(name.length + 1), [token], token]),
        ["other", others, `${name}${OTHER}`],
      ];
      for (const [label, tokens, modelToken] of groups) {
        const input = withValue({ [modelToken]: 1 });
        const observations = observed(tokens);
        const count = observations.reduce((n, o) => n + o.rewarded, 0);
        if (label === "other" && count === 0) continue;
        rows.push({ value: label, rewarded: count, arms: observations.map((o) => ({ ...o, predicted: predict(o.arm_id, input) })) });
      }
    }
    const occurring = rows.filter((r) => r.rewarded > 0);
    const present = occurring.reduce((n, r) => n + r.rewarded, 0);
    // One value throughout: for a number, no spread around its mean (its square's sum is the diagonal's count).
    let single: string | null = occurring.length === 1 ? (occurring[0] as (typeof rows)[number]).value : null;
    if (feature.type === "numeric" && present > 0) {
      let squares = 0;
      for (const own of diagonal.values()) squares += own.get(name)?.[0] ?? 0;
      const mean = (sums.get(name) ?? 0) / present;
      single = squares / present - mean * mean < 1e-12 ? `${Number(mean.toPrecision(4))} (scaled)` : null;
    }
    let neverVaries: string | null = null;
    if (rewarded > 0 && present === 0) neverVaries = `no rewarded decision in the window had ${name}`;
    else if (rewarded > 0 && single !== null && present >= rewarded - 1e-9) {
      neverVaries = `every rewarded decision in the window had ${name} = ${single}: it cannot change any choice`;
    }
    view.features.push({ name, type: feature.type, never_varies: neverVaries, values: rows });
  }
  return view;
}
