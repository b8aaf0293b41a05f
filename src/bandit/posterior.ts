/**
 * What an arm has learned from one user's rewards, and the Beta posterior the policy samples from.
 *
 * Evidence is kept as the (discounted) count of rewards, their sum and the sum of their squares, so that:
 *   - drift can be followed: with `decay` γ < 1 every update of the user discounts every arm's evidence by γ
 *     (an arm that is no longer pulled regains its uncertainty and gets tried again), and with a `window` only
 *     the user's last W updates count;
 *   - fractional rewards count for what they are worth: a reward in [0, 1] with mean m and variance v carries
 *     the information of m(1 − m) / v Bernoulli trials. Counting each as one trial (the textbook update, and the
 *     seed's) makes the posterior far too wide for rewards like 0.6 ± 0.15 and wastes pulls on bad arms. Binary
 *     rewards have v = m(1 − m) exactly, so for them this is the textbook update.
 */

export interface ArmLearning {
  /** Rewards counted (discounted), their sum and the sum of their squares. */
  n: number;
  sum: number;
  sum_sq: number;
  /** The user's number of updates when this was last brought up to date. */
  step: number;
  /**
   * With a window: the evidence inside it, as [step of the update, count, sum, sum of squares] (one reward per
   * entry, or a block of evidence stored before the window was set, counted as of its step).
   */
  recent?: [number, number, number, number][];
}

export interface Drift {
  /** Discount of all evidence per update of the user (1: none). */
  decay: number;
  /** Only the user's last `window` updates count (null: all). */
  window: number | null;
}

export interface BetaParams {
  alpha: number;
  beta: number;
}

export const NO_DRIFT: Drift = { decay: 1, window: null };
export const UNIFORM_PRIOR: BetaParams = { alpha: 1, beta: 1 };
const NO_LEARNING: ArmLearning = { n: 0, sum: 0, sum_sq: 0, step: 0 };

/** Pseudo-rewards of Bernoulli variance the variance estimate starts from, so a few rewards cannot decide it. */
const VARIANCE_PSEUDO_COUNT = 2;
/** A reward never counts for more than this many Bernoulli trials (rewards that barely vary). */
const MAX_TRIALS_PER_REWARD = 100;

/** The learning as of the user's update number `now`: discounted by its age, outside the window dropped. */
export function learningAt(learning: ArmLearning, now: number, drift: Drift): ArmLearning {
  if (drift.window !== null) {
    const recent = withRecent(learning).filter(([step]) => step > now - (drift.window as number));
    const out: ArmLearning = { n: 0, sum: 0, sum_sq: 0, step: now, recent };
    for (const [step, n, sum, sumSq] of recent) {
      const w = drift.decay === 1 ? 1 : drift.decay ** (now - step);
      out.n += w * n;
      out.sum += w * sum;
      out.sum_sq += w * sumSq;
    }
    return out;
  }
  const w = drift.decay === 1 ? 1 : drift.decay ** Math.max(0, now - learning.step);
  return { n: learning.n * w, sum: learning.sum * w, sum_sq: learning.sum_sq * w, step: Math.max(now, learning.step) };
}

/**
 * The learning after a reward, given by the user's update number `now` + 1. A `placeholder` (the 0.5 an update
 * without a score gets, or a default reward after a timeout) counts as one trial whatever its variance: it says
 * nothing about how steady the arm's rewards are.
 */
export function recordReward(learning: ArmLearning, reward: number, now: number, drift: Drift, placeholder = false): ArmLearning {
  const r = Math.min(1, Math.max(0, reward));
  // r(1 − r) is what makes a reward count as more than one trial (trialsPerReward): a placeholder adds none.
  const square = placeholder ? r : r * r;
  const step = now + 1;
  if (drift.window !== null) {
    const window = drift.window;
    const kept = withRecent(learning).filter(([s]) => s > step - window);
    return learningAt({ ...NO_LEARNING, recent: [...kept, [step, 1, r, square]] }, step, drift);
  }
  const current = learningAt(learning, step, drift);
  return { n: current.n + 1, sum: current.sum + r, sum_sq: current.sum_sq + square, step };
}

/** Its window entries; evidence kept without them (before a window was set) becomes one block as of its step. */
function withRecent(learning: ArmLearning): [number, number, number, number][] {
  if (learning.recent) return learning.recent;
  return learning.n > 0 ? [[learning.step, learning.n, learning.sum, learning.sum_sq]] : [];
}

/** How many Bernoulli trials one of these rewards is worth: m(1 − m) / v, 1 for binary rewards. */
function trialsPerReward(learning: Pick<ArmLearning, "n" | "sum" | "sum_sq">): number {
  if (!(learning.n > 0)) return 1;
  const mean = (learning.sum + 1) / (learning.n + 2);
  const bernoulli = mean * (1 - mean);
  // E[r(1 − r)] is 0 for binary rewards and the gap between a reward's variance and m(1 − m) otherwise.
  const gap = Math.max(0, learning.sum - learning.sum_sq) / (learning.n + VARIANCE_PSEUDO_COUNT);
  const variance = Math.max(bernoulli - gap, bernoulli / MAX_TRIALS_PER_REWARD);
  return bernoulli / variance;
}

/** The Beta posterior: the prior plus the evidence, each reward counted as trialsPerReward Bernoulli trials. */
export function posteriorOf(learning: Pick<ArmLearning, "n" | "sum" | "sum_sq">, prior: BetaParams): BetaParams {
  const k = trialsPerReward(learning);
  return { alpha: prior.alpha + k * learning.sum, beta: prior.beta + k * Math.max(0, learning.n - learning.sum) };
}

/**
 * An arm's learning as stored (its metadata's `learning`), or, for arms stored before it existed or by an app's
 * storage that keeps only alpha and beta, the binary evidence those imply.
 */
export function storedLearning(arm: { alpha: number; beta: number; metadata?: Record<string, unknown> }, now: number): ArmLearning {
  const stored = arm.metadata?.learning as Partial<ArmLearning> | undefined;
  if (
    stored &&
    typeof stored.n === "number" &&
    typeof stored.sum === "number" &&
    typeof stored.sum_sq === "number" &&
    typeof stored.step === "number"
  ) {
    // Entries were [step, reward] before blocks of evidence could be kept: read those as one reward each.
    const recent = Array.isArray(stored.recent)
      ? (stored.recent as unknown[])
          .filter((e): e is number[] => Array.isArray(e) && (e.length === 2 || e.length === 4))
          .map((e): [number, number, number, number] =>
            e.length === 2 ? [e[0] as number, 1, e[1] as number, (e[1] as number) ** 2] : (e as [number, number, number, number]),
          )
      : undefined;
    return { n: stored.n, sum: stored.sum, sum_sq: stored.sum_sq, step: stored.step, ...(recent ? { recent } : {}) };
  }
  const sum = Math.max(0, arm.alpha - 1);
  const n = sum + Math.max(0, arm.beta - 1);
  return { n, sum, sum_sq: sum, step: now };
}
