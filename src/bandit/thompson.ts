/**
 * Thompson selection with the seed's SelectionStrategyConfig:
 *   - a Beta sample per arm, plus `exploration_bonus` (capped at 1) for arms pulled fewer than
 *     `exploration_min_pulls` times;
 *   - the stability rule: when the best-mean arm among those pulled at least `stability_min_pulls` times has a 95%
 *     interval narrower than `stability_confidence_threshold`, a challenger must beat its mean by at least
 *     `stability_improvement_threshold` to be chosen instead;
 *   - ties go to the first arm, in storage order.
 * Extensions: a traffic floor (each arm is chosen with probability at least `traffic_floor`, by choosing uniformly
 * with probability floor × arms), and the probability that the policy picks the arm it picked, recorded with the
 * decision for offline evaluation.
 */
import { z } from "zod";
import { strictObject } from "../config/unknown-keys.js";
import { betaInterval, betaSample, type Uniform } from "./beta.js";
import { probabilityOfHighestValue } from "./beta-cdf.js";

/** The seed's SelectionStrategyConfig: a system's `selection_strategy` (its settings: src/bandit/selection.ts). */
export const SelectionStrategySchema = strictObject({
  exploration_bonus: z.number().min(0).max(1).default(0),
  exploration_min_pulls: z.int().min(0).default(5),
  stability_confidence_threshold: z.number().min(0).max(1).default(0.2),
  stability_improvement_threshold: z.number().min(0).max(1).default(0.1),
  stability_min_pulls: z.int().min(0).default(10),
  use_stability: z.boolean().default(true),
});
type SelectionStrategy = z.output<typeof SelectionStrategySchema>;

export interface SelectableArm {
  arm_id: string;
  alpha: number;
  beta: number;
  total_pulls: number;
  mean_estimate: number | null;
  /** Stored interval, used by the stability rule when present. */
  confidence_interval?: { lower: number; upper: number } | null;
}

/** What the sampler is told; a system's settings become these in one place (selectionOptions, selection.ts). */
export interface SelectionOptions {
  /** null: plain Thompson sampling (the seed's default when no strategy is configured). */
  strategy: SelectionStrategy | null;
  trafficFloor: number;
  /**
   * Top-two Thompson sampling (Russo 2016): the probability of playing the leader (the sample's argmax); otherwise
   * a challenger, the argmax of fresh samples that is not the leader. null or absent: plain Thompson sampling.
   */
  topTwo?: number | null;
  /** Sample each arm at least as widely as the leader's reward variance makes it (see leaderVarianceFloor). */
  leaderVarianceFloor?: boolean;
  random?: Uniform;
  /** Reuse exact probabilities while the posteriors stay the same. */
  memo?: ProbabilityMemo;
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
  const kept = stableIncumbent(arms, strategy);
  if (kept === null || strategy === null) return bySample;
  const gain = ((arms[bySample] as SelectableArm).mean_estimate ?? 0) - ((arms[kept] as SelectableArm).mean_estimate ?? 0);
  return gain < strategy.stability_improvement_threshold ? kept : bySample;
}

/**
 * Selection probabilities only change when the posteriors do: between two updates, every select of a user reuses
 * them. Remembers the exact probabilities of the last few posterior states seen (a user's requests alternate
 * between a few contexts, each with its own priors under the contextual policy).
 */
export class ProbabilityMemo {
  private readonly states = new Map<string, Map<number, number>>();

  get(arms: readonly SelectableArm[], index: number, compute: () => number): number {
    const state = arms.map((a) => `${a.alpha},${a.beta},${a.total_pulls}`).join(";");
    let values = this.states.get(state);
    if (!values) {
      if (this.states.size >= MEMO_STATES) this.states.delete(this.states.keys().next().value as string);
      values = new Map();
      this.states.set(state, values);
    }
    let value = values.get(index);
    if (value === undefined) {
      value = compute();
      values.set(index, value);
    }
    return value;
  }
}

const MEMO_STATES = 8;

export function selectArm(arms: readonly SelectableArm[], options: SelectionOptions): SelectionResult {
  const sampled = sampledArms(arms, options);
  const choice = chooseAmong(sampled, options);
  return { ...choice, probability: probabilityAmong(sampled, options, choice.index) };
}

/** The Betas the policy samples: the arms', widened by the leader's variance floor when it is on. */
function sampledArms(arms: readonly SelectableArm[], options: SelectionOptions): readonly SelectableArm[] {
  if (arms.length === 0) throw new Error("selectArm needs at least one arm");
  return options.leaderVarianceFloor ? leaderVarianceFloor(arms) : arms;
}

function chooseAmong(arms: readonly SelectableArm[], options: SelectionOptions): Omit<SelectionResult, "probability"> {
  const random = options.random ?? Math.random;
  const explore = Math.min(1, Math.max(0, options.trafficFloor) * arms.length);
  const samples = draw(arms, options.strategy, random);
  const explored = explore > 0 && random() < explore;
  let index = explored ? Math.floor(random() * arms.length) : choose(arms, samples, options.strategy);
  if (!explored && isTopTwo(options, arms) && random() >= (options.topTwo as number)) {
    index = challenger(arms, options, random, index);
  }
  return { index, samples, explored };
}

const isTopTwo = (options: SelectionOptions, arms: readonly SelectableArm[]) =>
  typeof options.topTwo === "number" && options.topTwo < 1 && arms.length > 1;

/**
 * Each arm's Beta, widened (same mean) so that its variance is at least what the leader's reward variance gives
 * for its evidence: m_L(1 − m_L) / (α + β + 1) instead of m(1 − m) / (α + β + 1). Whether an arm could be as good
 * as the leader is a question about rewards at the leader's level: an arm whose mean is truly m_L produced its
 * rewards with variance m_L(1 − m_L), and KL(m̂, m_L) ≈ (m̂ − m_L)² / (2 m_L (1 − m_L)) weighs the evidence
 * against it by that variance. Its own, smaller m(1 − m) makes an arm that started with an unlucky streak look
 * certain to be bad, and textbook Thompson sampling then leaves the best arm aside for thousands of steps
 * (0.2% of runs on bench:bandit's K = 3 instance). Arms whose own variance is larger are left as they are.
 */
export function leaderVarianceFloor(arms: readonly SelectableArm[]): SelectableArm[] {
  const mean = (a: SelectableArm) => a.alpha / (a.alpha + a.beta);
  let leader = 0;
  for (let i = 1; i < arms.length; i++) if (mean(arms[i] as SelectableArm) > mean(arms[leader] as SelectableArm)) leader = i;
  const m = mean(arms[leader] as SelectableArm);
  const leaderVariance = m * (1 - m);
  return arms.map((arm, i) => {
    const own = mean(arm);
    const variance = own * (1 - own);
    if (i === leader || !(variance < leaderVariance)) return arm;
    const concentration = arm.alpha + arm.beta;
    // Never narrower than given, and alpha, beta >= 1: as wide as a Beta gets without piling up at 0 or 1.
    const widened = Math.min(concentration, Math.max(1 / Math.min(own, 1 - own), ((concentration + 1) * variance) / leaderVariance - 1));
    return { ...arm, alpha: own * widened, beta: (1 - own) * widened };
  });
}

/**
 * The argmax of fresh samples that is not the leader: a draw from the argmax distribution conditioned on not
 * being the leader, P(i) = p_i / (1 − p_leader). Redrawing until it differs does that cheaply; when 100 draws
 * all return the leader (it is almost surely best), the same distribution is sampled from the exact p_i, and
 * uniformly among the others when they are all 0.
 */
function challenger(arms: readonly SelectableArm[], options: SelectionOptions, random: Uniform, leader: number): number {
  for (let attempt = 0; attempt < 100; attempt++) {
    const candidate = argmax(draw(arms, options.strategy, random));
    if (candidate !== leader) return candidate;
  }
  const weights = challengerWeights(
    arms.map((_, i) => ruleProbability(arms, options, i)),
    leader,
  );
  let u = random();
  for (let i = 0; i < weights.length; i++) {
    u -= weights[i] as number;
    if (u < 0) return i;
  }
  return leader === arms.length - 1 ? arms.length - 2 : arms.length - 1;
}

/** P(challenger = i | leader), from the argmax probabilities p: p_i / (1 − p_leader), or uniform when undefined. */
function challengerWeights(p: readonly number[], leader: number): number[] {
  const rest = p.reduce((sum, pi, i) => (i === leader ? sum : sum + pi), 0);
  return p.map((pi, i) => (i === leader ? 0 : rest > 1e-12 ? pi / rest : 1 / (p.length - 1)));
}

/**
 * P(the policy picks arm `index`) given the current posteriors: the traffic floor's uniform share plus the
 * rule's. With top-two, P(i) = β p_i + (1 − β) Σ_{j≠i} p_j P(challenger = i | leader j), p being the argmax
 * probabilities (see challenger).
 * What select records with each decision, and what offline evaluation weighs a logged decision by.
 */
export function selectionProbability(arms: readonly SelectableArm[], options: SelectionOptions, index: number): number {
  return probabilityAmong(sampledArms(arms, options), options, index);
}

function probabilityAmong(arms: readonly SelectableArm[], options: SelectionOptions, index: number): number {
  const explore = Math.min(1, Math.max(0, options.trafficFloor) * arms.length);
  let rule: number;
  if (isTopTwo(options, arms)) {
    const leader = options.topTwo as number;
    const p = arms.map((_, i) => ruleProbability(arms, options, i));
    let challenged = 0;
    p.forEach((pj, j) => {
      if (j !== index) challenged += pj * (challengerWeights(p, j)[index] as number);
    });
    rule = leader * (p[index] as number) + (1 - leader) * challenged;
  } else {
    rule = ruleProbability(arms, options, index);
  }
  return explore / arms.length + (1 - explore) * rule;
}

/** The arm the stability rule would keep, when it is in play now; else null. */
function stableIncumbent(arms: readonly SelectableArm[], strategy: SelectionStrategy | null): number | null {
  if (!strategy?.use_stability) return null;
  let stable = -1;
  arms.forEach((arm, i) => {
    if (arm.total_pulls < strategy.stability_min_pulls) return;
    if (stable === -1 || (arm.mean_estimate ?? 0) > (arms[stable]?.mean_estimate ?? 0)) stable = i;
  });
  if (stable === -1) return null;
  return intervalWidth(arms[stable] as SelectableArm) < strategy.stability_confidence_threshold ? stable : null;
}

/**
 * P(the rule picks arm `index`), exactly, by numerical integration over the Beta posteriors (beta-cdf.ts), the
 * exploration bonus included. Under the stability rule the kept arm wins unless the highest value belongs to a
 * challenger whose mean beats it by the threshold: such a challenger is picked with its argmax probability, and
 * the kept arm with the rest.
 */
function ruleProbability(arms: readonly SelectableArm[], options: SelectionOptions, index: number): number {
  const strategy = options.strategy;
  const bonus = strategy && strategy.exploration_bonus > 0 ? strategy.exploration_bonus : 0;
  const contenders = arms.map((a) => ({
    alpha: a.alpha,
    beta: a.beta,
    boosted: bonus > 0 && a.total_pulls < (strategy?.exploration_min_pulls ?? 0),
  }));
  const argmaxProbability = (i: number) => {
    const exact = () => probabilityOfHighestValue(contenders, i, bonus);
    return options.memo ? options.memo.get(arms, i, exact) : exact();
  };
  const kept = stableIncumbent(arms, strategy);
  if (kept === null) return argmaxProbability(index);
  const keptMean = arms[kept]?.mean_estimate ?? 0;
  const threshold = strategy?.stability_improvement_threshold ?? 0;
  const challengers = arms.map((_, i) => i).filter((i) => i !== kept && (arms[i]?.mean_estimate ?? 0) - keptMean >= threshold);
  if (challengers.includes(index)) return argmaxProbability(index);
  if (index !== kept) return 0;
  return Math.max(0, 1 - challengers.reduce((sum, i) => sum + argmaxProbability(i), 0));
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
