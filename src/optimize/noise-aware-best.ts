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
import { encodeParameter } from "../search/space.js";

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
const LENGTH_SCALES = [0.1, 0.3];
const RHOS = [0.5, 0.9];

interface Points {
  x: Float64Array[];
  c: Int32Array[];
  y: Float64Array;
  noise: Float64Array;
}

interface Fit {
  logLikelihood: number;
  alpha: Float64Array;
  lengthScales: number[];
  rho: number;
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
  const numeric = Object.keys(space).filter((n) => space[n]?.type !== "categorical");
  const categorical = Object.keys(space).filter((n) => space[n]?.type === "categorical");
  const mean = kept.reduce((a, c) => a + c.score, 0) / kept.length;
  const points: Points = {
    x: kept.map((c) => Float64Array.from(numeric.map((n) => encodeParameter(space[n] as never, c.config[n] ?? null)))),
    c: kept.map((c) =>
      Int32Array.from(
        categorical.map((n) => {
          const param = space[n] as { values: unknown[] };
          return param.values.findIndex((v) => JSON.stringify(v) === JSON.stringify(c.config[n] ?? null));
        }),
      ),
    ),
    y: Float64Array.from(kept.map((c) => c.score - mean)),
    noise: Float64Array.from(kept.map((c) => caseVariance / Math.max(1, c.observed))),
  };
  const amplitude = points.y.reduce((a, v) => a + v * v, 0) / kept.length;
  if (!(amplitude > 0)) return { hash: measuredBest, kernel: previous };

  const reusable =
    previous !== null &&
    kept.length > HYPER_POINTS &&
    generation - previous.generation < SEARCH_EVERY &&
    previous.lengthScales.length === numeric.length;
  const reused = reusable ? fitGp(points, amplitude, previous.lengthScales, previous.rho) : null;
  const fit = reused ?? chooseAndFit(points, amplitude, numeric.length);
  if (!fit) return { hash: measuredBest, kernel: previous };
  const kernelUsed = {
    lengthScales: fit.lengthScales,
    rho: fit.rho,
    generation: reused ? (previous as KernelSettings).generation : generation,
  };

  let chosen: { index: number; posterior: number } | null = null;
  kept.forEach((c, i) => {
    if (!c.complete) return;
    let posterior = 0;
    for (let j = 0; j < kept.length; j++)
      posterior += kernel(points, i, j, amplitude, fit.lengthScales, fit.rho) * (fit.alpha[j] as number);
    if (chosen === null || posterior > chosen.posterior) chosen = { index: i, posterior };
  });
  const hash = chosen === null ? measuredBest : (kept[(chosen as { index: number }).index] as ScoredConfig).hash;
  return { hash, kernel: kernelUsed };
}

/** The kernel's settings by marginal likelihood on an even spread of the points, then the fit on all of them. */
function chooseAndFit(points: Points, amplitude: number, numericCount: number): Fit | null {
  const stride = Math.ceil(points.y.length / HYPER_POINTS);
  const spread = (_: unknown, i: number) => i % stride === 0;
  const subset: Points =
    stride === 1
      ? points
      : { x: points.x.filter(spread), c: points.c.filter(spread), y: points.y.filter(spread), noise: points.noise.filter(spread) };
  let best: Fit | null = null;
  const consider = (lengthScales: number[], rho: number) => {
    const fit = fitGp(subset, amplitude, lengthScales, rho);
    if (fit && (best === null || fit.logLikelihood > best.logLikelihood)) best = fit;
  };
  for (const l of LENGTH_SCALES)
    for (const rho of RHOS)
      consider(
        Array.from({ length: numericCount }, () => l),
        rho,
      );
  for (let d = 0; d < numericCount; d++) {
    for (const factor of [0.5, 2]) {
      const current = best as Fit | null;
      if (!current) break;
      const scales = [...current.lengthScales];
      scales[d] = (scales[d] as number) * factor;
      consider(scales, current.rho);
    }
  }
  const chosenSettings = best as Fit | null;
  if (!chosenSettings || stride === 1) return chosenSettings;
  return fitGp(points, amplitude, chosenSettings.lengthScales, chosenSettings.rho);
}

function kernel(p: Points, i: number, j: number, amplitude: number, lengthScales: readonly number[], rho: number): number {
  const xi = p.x[i] as Float64Array;
  const xj = p.x[j] as Float64Array;
  let d2 = 0;
  for (let k = 0; k < xi.length; k++) d2 += (((xi[k] as number) - (xj[k] as number)) / (lengthScales[k] as number)) ** 2;
  let factor = 1;
  const ci = p.c[i] as Int32Array;
  const cj = p.c[j] as Int32Array;
  for (let k = 0; k < ci.length; k++) if (ci[k] !== cj[k]) factor *= rho;
  return amplitude * factor * Math.exp(-d2 / 2);
}

/** K⁻¹y and the log marginal likelihood, by Cholesky; null when K is not positive definite. */
function fitGp(p: Points, amplitude: number, lengthScales: number[], rho: number): Fit | null {
  const n = p.y.length;
  const L = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j <= i; j++) L[i * n + j] = kernel(p, i, j, amplitude, lengthScales, rho);
    L[i * n + i] = (L[i * n + i] as number) + (p.noise[i] as number) + 1e-9;
  }
  // Row offsets hoisted out of the inner loop (the fit's cost is this loop); the sums keep their order.
  for (let j = 0; j < n; j++) {
    const rowJ = j * n;
    let d = L[rowJ + j] as number;
    for (let k = 0; k < j; k++) d -= (L[rowJ + k] as number) ** 2;
    if (!(d > 0)) return null;
    d = Math.sqrt(d);
    L[rowJ + j] = d;
    for (let i = j + 1; i < n; i++) {
      const rowI = i * n;
      let v = L[rowI + j] as number;
      for (let k = 0; k < j; k++) v -= (L[rowI + k] as number) * (L[rowJ + k] as number);
      L[rowI + j] = v / d;
    }
  }
  const z = new Float64Array(n);
  let logDet = 0;
  for (let i = 0; i < n; i++) {
    let v = p.y[i] as number;
    for (let k = 0; k < i; k++) v -= (L[i * n + k] as number) * (z[k] as number);
    z[i] = v / (L[i * n + i] as number);
    logDet += 2 * Math.log(L[i * n + i] as number);
  }
  const alpha = new Float64Array(n);
  for (let i = n - 1; i >= 0; i--) {
    let v = z[i] as number;
    for (let k = i + 1; k < n; k++) v -= (L[k * n + i] as number) * (alpha[k] as number);
    alpha[i] = v / (L[i * n + i] as number);
  }
  const fit = z.reduce((a, v) => a + v * v, 0);
  return { logLikelihood: -0.5 * fit - 0.5 * logDet, alpha, lengthScales, rho };
}
