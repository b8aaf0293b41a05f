/**
 * Racing over test cases (what mab_evolution adds to evolution). Every new candidate of a generation is first
 * scored on a small batch of test cases, the same ones for all, in a per-generation random order. After each
 * round, each candidate's full-set score is estimated from its paired differences with the incumbent (the best
 * fully scored config) on the test cases both have; the differences' variance is pooled across candidates.
 * A candidate whose probability of beating the incumbent falls below the elimination threshold stops there;
 * the others see twice as many test cases in the next round, until they have them all. When no incumbent exists
 * yet, the candidate with the best partial mean is scored on everything first and becomes it.
 */
import { setOwn } from "../json.js";
import { normalCdf } from "./stats.js";

export interface TestCaseWeight {
  id: string;
  weight: number;
}

export type CaseScores = Record<string, number>;

/**
 * Test case ids are the user's (`constructor` and `__proto__` included), so per-case scores are read and written
 * as own properties only: a plain `scores[id]` would find Object.prototype's members.
 */
export function scoreOf(scores: CaseScores | undefined, id: string): number | undefined {
  return scores !== undefined && Object.hasOwn(scores, id) ? scores[id] : undefined;
}

export function setScore(scores: CaseScores, id: string, value: number): void {
  setOwn(scores, id, value);
}

export interface PairedEstimate {
  /** Weighted mean of candidate − incumbent over the shared test cases. */
  meanDiff: number;
  /** Sum of squared residuals around meanDiff, and its degrees of freedom (for the pooled variance). */
  sumSq: number;
  dof: number;
  /** Effective number of observations, (Σw)² / Σw². */
  nEff: number;
  /** Share of the total test-case weight already observed. */
  observedWeight: number;
}

export function pairedEstimate(candidate: CaseScores, incumbent: CaseScores, cases: readonly TestCaseWeight[]): PairedEstimate | null {
  let sw = 0;
  let sw2 = 0;
  let swd = 0;
  let total = 0;
  const diffs: { d: number; w: number }[] = [];
  for (const { id, weight } of cases) {
    total += weight;
    const c = scoreOf(candidate, id);
    const i = scoreOf(incumbent, id);
    if (c === undefined || i === undefined || weight <= 0) continue;
    diffs.push({ d: c - i, w: weight });
    sw += weight;
    sw2 += weight * weight;
    swd += weight * (c - i);
  }
  if (diffs.length === 0 || sw === 0) return null;
  const meanDiff = swd / sw;
  const sumSq = diffs.reduce((acc, { d }) => acc + (d - meanDiff) ** 2, 0);
  return { meanDiff, sumSq, dof: diffs.length - 1, nEff: (sw * sw) / sw2, observedWeight: total > 0 ? sw / total : 1 };
}

/**
 * P(candidate's full-set score > incumbent's), with a normal posterior on the mean difference. The finite
 * population correction makes it exact (0 or 1) once every test case is scored.
 */
export function probabilityOfBeating(estimate: PairedEstimate, pooledVariance: number): number {
  const remaining = Math.max(0, 1 - estimate.observedWeight);
  const se = Math.sqrt((pooledVariance / estimate.nEff) * remaining);
  if (se === 0 || !Number.isFinite(se)) return estimate.meanDiff > 0 ? 1 : 0;
  return normalCdf(estimate.meanDiff / se);
}

/** Pool residual variance with a weak prior (one pseudo-observation) so two data points don't decide alone. */
export function pooledVariance(sumSq: number, dof: number, priorVariance: number): number {
  const priorDof = 1;
  return (sumSq + priorDof * priorVariance) / (dof + priorDof);
}

export function defaultInitialBatch(testCaseCount: number): number {
  return Math.min(testCaseCount, Math.max(2, Math.ceil(testCaseCount / 5)));
}

/** The effective number of test cases a config was scored on, (Σw)² / Σw² over those scored (0 when none). */
export function effectiveObservations(scores: CaseScores | undefined, cases: readonly TestCaseWeight[]): number {
  const weights = cases.filter((c) => scoreOf(scores, c.id) !== undefined).map((c) => c.weight);
  const sum = weights.reduce((a, w) => a + w, 0);
  const squares = weights.reduce((a, w) => a + w * w, 0);
  return squares > 0 ? (sum * sum) / squares : 0;
}

/**
 * The variance of one test case's score that is specific to the config, from the races' pooled paired
 * differences (a difference carries two configs' noise: half its variance is one config's); 0 until measured.
 */
export function caseVariance(residuals: { sumSq: number; dof: number }): number {
  return residuals.dof >= 2 ? residuals.sumSq / residuals.dof / 2 : 0;
}
