/**
 * Racing over test cases (see ../racing.ts for the estimates): every new candidate is first scored on a small
 * batch; after each round, a candidate whose probability of beating the incumbent falls below the elimination
 * threshold stops, and the others see twice as many test cases, until they have them all. Without an incumbent
 * yet, the candidate with the best partial mean is scored on everything first and becomes it.
 */
import {
  type CaseScores,
  defaultInitialBatch,
  type PairedEstimate,
  pairedEstimate,
  pooledVariance,
  probabilityOfBeating,
  scoreOf,
} from "../racing.js";
import { weightedMean } from "../stats.js";
import type { Pruner, PrunerContext } from "./pruner.js";

export const racingPruner: Pruner = {
  name: "racing",
  firstBatch: (testCases, settings) => settings.racing.initialTestCases ?? defaultInitialBatch(testCases),
  step(context) {
    const { alive, testCases } = context;
    if (alive.length === 0) return false;
    const incumbent = context.incumbent;
    if (!incumbent) {
      const leader = alive.reduce((best, h) => (partialMean(context, h) > partialMean(context, best) ? h : best));
      context.entry(leader).target = testCases.length;
      return true;
    }
    const incumbentScores = context.scores(incumbent.hash) ?? {};
    const estimates = new Map<string, PairedEstimate>();
    let { sumSq, dof } = context.residuals;
    for (const h of alive) {
      const e = pairedEstimate(context.scores(h) ?? {}, incumbentScores, testCases);
      if (!e) continue;
      estimates.set(h, e);
      sumSq += e.sumSq;
      dof += e.dof;
    }
    const variance = pooledVariance(sumSq, dof, priorVariance(context, incumbentScores));
    let more = false;
    for (const h of alive) {
      const entry = context.entry(h);
      const e = estimates.get(h);
      if (e && probabilityOfBeating(e, variance) < context.settings.racing.eliminationThreshold) {
        entry.dropped = true;
        continue;
      }
      const next = Math.min(testCases.length, Math.max(entry.target + 1, entry.target * 2));
      if (next > entry.target) {
        entry.target = next;
        more = true;
      }
    }
    return more;
  },
};

function partialMean(context: PrunerContext, hash: string): number {
  const scores = context.scores(hash);
  const seen = context.testCases.filter((t) => scoreOf(scores, t.id) !== undefined);
  return weightedMean(
    seen.map((t) => scoreOf(scores, t.id) as number),
    seen.map((t) => t.weight),
  );
}

/** The incumbent's spread over test cases: the variance a pooled estimate starts from. */
function priorVariance(context: PrunerContext, scores: Readonly<CaseScores>): number {
  const values = context.testCases.map((t) => scoreOf(scores, t.id)).filter((v): v is number => v !== undefined);
  if (values.length < 2) return 0.01;
  const mean = values.reduce((a, b) => a + b, 0) / values.length;
  const variance = values.reduce((a, v) => a + (v - mean) ** 2, 0) / (values.length - 1);
  return variance > 0 ? variance : 0.01;
}
