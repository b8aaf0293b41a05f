/**
 * Which config to report as best when scores are noisy. The highest measured mean over the test cases is biased
 * upwards (among hundreds of candidates the luckiest wins: the winner's curse), so with noisy test cases it is
 * often not the best config. Each fully scored config's score is instead shrunk towards what its neighbours
 * scored (a kernel average over configs with the same categorical choices, raced-out ones included at the
 * weight of the test cases they saw), by how noisy one config's measurement is compared with how well the
 * neighbours predict it:
 *
 *   posterior = (measured × v + neighbours × s²) / (v + s²)
 *
 * s² is one config's measurement variance (the pooled variance of paired differences between configs on the
 * same test cases, halved, over the effective number of test cases); v is how far the neighbours' average is
 * from the truth, estimated by leave-one-out prediction error minus s². The kernel width is chosen by that same
 * leave-one-out error. Noise-free scores (s² = 0) keep the measured best.
 */
import type { ParamConfig, SearchSpace } from "../search/space.js";
import { encodeParameter } from "../search/space.js";

export interface ScoredConfig {
  hash: string;
  config: ParamConfig;
  /** The full score when complete; the race's estimate of it otherwise. */
  score: number;
  /** Test cases scored (the estimate's weight). */
  observed: number;
  complete: boolean;
}

/** Kernel widths tried, on the unit scale every numeric parameter is encoded to. */
const WIDTHS = [0.02, 0.04, 0.08, 0.16, 0.32];

interface Point {
  x: number[];
  group: string;
  y: number;
  n: number;
}

/**
 * The hash of the complete config with the highest posterior score, or null when nothing is complete.
 * `caseVariance`: variance of one test case's score around the config's mean that is specific to the config
 * (test-case difficulty shared by all configs excluded); `effectiveCases`: (Σw)² / Σw² over all test cases.
 */
export function noiseAwareBest(
  space: SearchSpace,
  scored: readonly ScoredConfig[],
  caseVariance: number,
  effectiveCases: number,
): string | null {
  const complete = scored.filter((c) => c.complete);
  if (complete.length === 0) return null;
  const measuredBest = complete.reduce((a, b) => (b.score > a.score ? b : a)).hash;
  const s2 = caseVariance / Math.max(1, effectiveCases);
  if (!(s2 > 0) || complete.length < 3) return measuredBest;

  const names = Object.keys(space);
  const numeric = names.filter((n) => space[n]?.type !== "categorical");
  const categorical = names.filter((n) => space[n]?.type === "categorical");
  const points: Point[] = scored.map((c) => ({
    x: numeric.map((n) => encodeParameter(space[n] as never, c.config[n] ?? null)),
    group: JSON.stringify(categorical.map((n) => c.config[n] ?? null)),
    y: c.score,
    n: c.observed,
  }));
  const completeIndexes = scored.flatMap((c, i) => (c.complete ? [i] : []));

  /** The neighbours' weighted average score around point i, leaving i out. */
  const neighbours = (i: number, width: number): number | null => {
    const p = points[i] as Point;
    let sw = 0;
    let swy = 0;
    for (let j = 0; j < points.length; j++) {
      const q = points[j] as Point;
      if (j === i || q.group !== p.group) continue;
      let d2 = 0;
      for (let k = 0; k < p.x.length; k++) d2 += ((p.x[k] as number) - (q.x[k] as number)) ** 2;
      const w = Math.exp(-d2 / (2 * width * width)) * q.n;
      sw += w;
      swy += w * q.y;
    }
    return sw > 1e-9 ? swy / sw : null;
  };

  let chosen: { width: number; error: number } | null = null;
  for (const width of WIDTHS) {
    let sum = 0;
    let count = 0;
    for (const i of completeIndexes) {
      const m = neighbours(i, width);
      if (m === null) continue;
      sum += (m - (points[i] as Point).y) ** 2;
      count++;
    }
    if (count > 0 && (chosen === null || sum / count < chosen.error)) chosen = { width, error: sum / count };
  }
  if (chosen === null) return measuredBest;
  const v = Math.max(1e-6, chosen.error - s2);

  let best: { index: number; posterior: number } | null = null;
  for (const i of completeIndexes) {
    const y = (points[i] as Point).y;
    const m = neighbours(i, chosen.width);
    const posterior = m === null ? y : (y * v + m * s2) / (v + s2);
    if (best === null || posterior > best.posterior) best = { index: i, posterior };
  }
  return best === null ? measuredBest : (scored[best.index] as ScoredConfig).hash;
}
