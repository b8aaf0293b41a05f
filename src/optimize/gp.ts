/**
 * A Gaussian process over configs, shared by the noise-aware best (which config to report) and the GP sampler
 * (which configs to try). The kernel is a squared exponential over the numeric parameters (on the unit scale every
 * parameter is encoded to) times a factor `rho` per categorical parameter that differs. Its length scales and
 * `rho` are chosen by marginal likelihood: a small grid, then one pass of per-parameter refinement (automatic
 * relevance).
 */
import { backSolve, choleskyInPlace, forwardSolve, logDetFromCholesky } from "../linear-algebra.js";
import type { ParamConfig, SearchSpace } from "../search/space.js";
import { encodeParameter } from "../search/space.js";

export interface GpPoints {
  /** Numeric parameters on [0, 1]. */
  x: Float64Array[];
  /** Categorical parameters by index. */
  c: Int32Array[];
  /** Scores, centred. */
  y: Float64Array;
  /** Each point's noise variance. */
  noise: Float64Array;
}

export interface GpFit {
  logLikelihood: number;
  /** K⁻¹y */
  alpha: Float64Array;
  /** The Cholesky factor of K (row-major, lower). */
  chol: Float64Array;
  lengthScales: number[];
  rho: number;
  /** Noise variance added to every point's own. */
  nugget: number;
}

/** The length scales tried first (every parameter alike), and the categorical factors. */
const LENGTH_SCALES = [0.1, 0.3];
const RHOS = [0.5, 0.9];
/** Numeric parameters up to which each gets its own length scale. */
const MAX_RELEVANCE_DIMS = 32;

/** Configs in the kernel's coordinates. */
export function encodePoints(space: SearchSpace, configs: readonly ParamConfig[]): { x: Float64Array[]; c: Int32Array[] } {
  const names = Object.keys(space);
  const numeric = names.filter((n) => space[n]?.type !== "categorical");
  const categorical = names.filter((n) => space[n]?.type === "categorical");
  const indexOf = categorical.map((n) => {
    const values = (space[n] as { values: unknown[] }).values.map((v) => JSON.stringify(v));
    return (value: unknown) => values.indexOf(JSON.stringify(value ?? null));
  });
  return {
    x: configs.map((config) => Float64Array.from(numeric.map((n) => encodeParameter(space[n] as never, config[n] ?? null)))),
    c: configs.map((config) => Int32Array.from(categorical.map((n, k) => (indexOf[k] as (v: unknown) => number)(config[n])))),
  };
}

export function kernelBetween(
  xi: Float64Array,
  ci: Int32Array,
  xj: Float64Array,
  cj: Int32Array,
  amplitude: number,
  lengthScales: readonly number[],
  rho: number,
): number {
  let d2 = 0;
  for (let k = 0; k < xi.length; k++) d2 += (((xi[k] as number) - (xj[k] as number)) / (lengthScales[k] as number)) ** 2;
  let factor = 1;
  for (let k = 0; k < ci.length; k++) if (ci[k] !== cj[k]) factor *= rho;
  return amplitude * factor * Math.exp(-d2 / 2);
}

/**
 * The kernel's settings by marginal likelihood on an even spread of at most `hyperPoints` points (choosing takes
 * some twenty fits, and a fit of half the points costs an eighth), then the fit on all of them.
 */
export function chooseAndFit(
  points: GpPoints,
  amplitude: number,
  numericCount: number,
  hyperPoints: number,
  lengthScaleGrid: readonly number[] = LENGTH_SCALES,
  nugget = 0,
): GpFit | null {
  const stride = Math.ceil(points.y.length / hyperPoints);
  const spread = (_: unknown, i: number) => i % stride === 0;
  const subset: GpPoints =
    stride === 1
      ? points
      : { x: points.x.filter(spread), c: points.c.filter(spread), y: points.y.filter(spread), noise: points.noise.filter(spread) };
  let best: GpFit | null = null;
  const consider = (lengthScales: number[], rho: number) => {
    const fit = fitGp(subset, amplitude, lengthScales, rho, nugget);
    if (fit && (best === null || fit.logLikelihood > best.logLikelihood)) best = fit;
  };
  const hasCategorical = (points.c[0]?.length ?? 0) > 0;
  for (const l of lengthScaleGrid)
    for (const rho of hasCategorical ? RHOS : [RHOS[0] as number])
      consider(
        Array.from({ length: numericCount }, () => l),
        rho,
      );
  // Automatic relevance costs two fits per parameter: past MAX_RELEVANCE_DIMS parameters the length scale stays
  // shared (a proposal over 100 parameters would otherwise fit the GP some 200 times).
  for (let d = 0; d < (numericCount <= MAX_RELEVANCE_DIMS ? numericCount : 0); d++) {
    for (const factor of [0.5, 2]) {
      const current = best as GpFit | null;
      if (!current) break;
      const scales = [...current.lengthScales];
      scales[d] = (scales[d] as number) * factor;
      consider(scales, current.rho);
    }
  }
  const chosenSettings = best as GpFit | null;
  if (!chosenSettings || stride === 1) return chosenSettings;
  return fitGp(points, amplitude, chosenSettings.lengthScales, chosenSettings.rho, chosenSettings.nugget);
}

/** K⁻¹y and the log marginal likelihood, by Cholesky; null when K is not positive definite. */
export function fitGp(p: GpPoints, amplitude: number, lengthScales: number[], rho: number, nugget = 0): GpFit | null {
  const n = p.y.length;
  const L = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j <= i; j++)
      L[i * n + j] = kernelBetween(
        p.x[i] as Float64Array,
        p.c[i] as Int32Array,
        p.x[j] as Float64Array,
        p.c[j] as Int32Array,
        amplitude,
        lengthScales,
        rho,
      );
    L[i * n + i] = (L[i * n + i] as number) + (p.noise[i] as number) + nugget + 1e-9;
  }
  if (!choleskyInPlace(L, n)) return null;
  const z = forwardSolve(L, n, p.y);
  const logDet = logDetFromCholesky(L, n);
  const alpha = backSolve(L, n, z);
  const fit = z.reduce((a, v) => a + v * v, 0);
  return { logLikelihood: -0.5 * fit - 0.5 * logDet, alpha, chol: L, lengthScales, rho, nugget };
}

/** The kernel between a point and every point of the fit. */
export function kernelVector(p: GpPoints, fit: GpFit, amplitude: number, x: Float64Array, c: Int32Array): Float64Array {
  const k = new Float64Array(p.y.length);
  for (let j = 0; j < k.length; j++)
    k[j] = kernelBetween(x, c, p.x[j] as Float64Array, p.c[j] as Int32Array, amplitude, fit.lengthScales, fit.rho);
  return k;
}

/** The posterior mean at a point (centred as the scores were). */
export function posteriorMean(p: GpPoints, fit: GpFit, amplitude: number, x: Float64Array, c: Int32Array): number {
  let mean = 0;
  for (let j = 0; j < p.y.length; j++)
    mean +=
      kernelBetween(x, c, p.x[j] as Float64Array, p.c[j] as Int32Array, amplitude, fit.lengthScales, fit.rho) * (fit.alpha[j] as number);
  return mean;
}
