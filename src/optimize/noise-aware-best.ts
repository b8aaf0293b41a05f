/**
 * Which config to report as best when scores are noisy. The highest measured mean over the test cases is biased
 * upwards (among hundreds of candidates the luckiest wins: the winner's curse), so with noisy test cases it is
 * often not the best config. Instead, a Gaussian process is fitted to every config scored so far (raced-out ones
 * included, each with the noise of the test cases it saw), and the complete config with the highest posterior
 * mean is reported: a config's score counts with its neighbours', by how noisy one measurement is against how
 * smooth the scores are.
 *
 * The kernel is a squared exponential over the numeric parameters (on the unit scale every parameter is encoded
 * to) times a factor `rho` per categorical parameter that differs. Its length scales and `rho` are chosen by
 * marginal likelihood: a small grid, then one pass of per-parameter refinement (automatic relevance). The noise
 * of one test case's score is measured, not fitted: the pooled variance of paired differences between configs
 * on the same test cases (halved: a difference carries two configs' noise). Noise-free scores keep the highest
 * measured.
 */
import type { ParamConfig, SearchSpace } from "../search/space.js";
import { chooseAndFit, encodePoints, fitGp, type GpPoints, posteriorMean } from "./gp.js";

export interface ScoredConfig {
  hash: string;
  config: ParamConfig;
  /** The full score when complete; the race's estimate of it otherwise. */
  score: number;
  /** Effective number of test cases scored (the estimate's weight). */
  observed: number;
  complete: boolean;
}

/**
 * Above this many configs the fit keeps the best complete ones and the most-observed others: the fit is cubic, and
 * it runs once per generation, so a long run must not make each generation costlier than a short one.
 */
const MAX_POINTS = 300;
/**
 * The kernel's settings are chosen on at most this many of the kept configs (an even spread of them), then the
 * posterior is fitted once on all: choosing takes some twenty fits, and a fit of half the points costs an eighth.
 * Measured (npm run bench:optimizer): the noisy llm_mixed's regret is the same as choosing on all 300, and a
 * 20,000-call run costs per call about what a 2,000-call run does.
 */
const HYPER_POINTS = 150;
/**
 * Beyond HYPER_POINTS configs, the kernel's settings chosen in one generation serve the next three: they move
 * little once there are that many points, and the choice is most of the fit's cost. Below, they are chosen afresh
 * every generation (cheap there).
 */
const SEARCH_EVERY = 4;

/** The kernel's settings, as the marginal likelihood chose them. */
export interface KernelSettings {
  lengthScales: number[];
  rho: number;
  /** The generation they were chosen in. */
  generation: number;
}

export interface NoiseAwareChoice {
  /** The chosen config's hash; null when nothing is complete. */
  hash: string | null;
  /** The settings the fit used (reuse them in the next generation); null when nothing was fitted. */
  kernel: KernelSettings | null;
}
/**
 * The complete config with the highest posterior mean. `caseVariance`: the variance of one test case's score that
 * is specific to the config (test-case difficulty, which all configs share, excluded). `previous`: the settings
 * the last generation's fit chose, reused while they are recent (SEARCH_EVERY).
 */
export function noiseAwareBest(
  space: SearchSpace,
  scored: readonly ScoredConfig[],
  caseVariance: number,
  previous: KernelSettings | null = null,
  generation = 0,
): NoiseAwareChoice {
  const complete = scored.filter((c) => c.complete);
  if (complete.length === 0) return { hash: null, kernel: previous };
  const measuredBest = complete.reduce((a, b) => (b.score > a.score ? b : a)).hash;
  if (!(caseVariance > 0) || complete.length < 3) return { hash: measuredBest, kernel: previous };

  // The best-scored complete configs first (the best is among them), then the most-observed others.
  const kept =
    scored.length <= MAX_POINTS
      ? scored
      : [
          ...[...complete].sort((a, b) => b.score - a.score),
          ...scored.filter((c) => !c.complete).sort((a, b) => b.observed - a.observed),
        ].slice(0, MAX_POINTS);
  const mean = kept.reduce((a, c) => a + c.score, 0) / kept.length;
  const points: GpPoints = {
    ...encodePoints(
      space,
      kept.map((c) => c.config),
    ),
    y: Float64Array.from(kept.map((c) => c.score - mean)),
    noise: Float64Array.from(kept.map((c) => caseVariance / Math.max(1, c.observed))),
  };
  const numeric = points.x[0]?.length ?? 0;
  const amplitude = points.y.reduce((a, v) => a + v * v, 0) / kept.length;
  if (!(amplitude > 0)) return { hash: measuredBest, kernel: previous };

  const reusable =
    previous !== null &&
    kept.length > HYPER_POINTS &&
    generation - previous.generation < SEARCH_EVERY &&
    previous.lengthScales.length === numeric;
  const reused = reusable ? fitGp(points, amplitude, previous.lengthScales, previous.rho) : null;
  const fit = reused ?? chooseAndFit(points, amplitude, numeric, HYPER_POINTS);
  if (!fit) return { hash: measuredBest, kernel: previous };
  const kernelUsed = {
    lengthScales: fit.lengthScales,
    rho: fit.rho,
    generation: reused ? (previous as KernelSettings).generation : generation,
  };

  let chosen: { index: number; posterior: number } | null = null;
  kept.forEach((c, i) => {
    if (!c.complete) return;
    const posterior = posteriorMean(points, fit, amplitude, points.x[i] as Float64Array, points.c[i] as Int32Array);
    if (chosen === null || posterior > chosen.posterior) chosen = { index: i, posterior };
  });
  const hash = chosen === null ? measuredBest : (kept[(chosen as { index: number }).index] as ScoredConfig).hash;
  return { hash, kernel: kernelUsed };
}
