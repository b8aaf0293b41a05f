/**
 * CMA-ES (Hansen's tutorial, "The CMA Evolution Strategy", 2016) with IPOP restarts (Auger and Hansen 2005), for
 * the numeric parameters of a space: floats, ints, stepped and log-scaled numbers and ordered choices live on
 * [0, 1] along their scale (src/search/space.ts), a sample is snapped back to its grid, and one outside the box
 * is drawn again (clipped after a few tries). Unordered categorical parameters are chosen by the TPE model
 * beside it, as Optuna pairs CMA-ES with an independent sampler.
 *
 * A CMA generation is `lambda` samples of N(mean, sigma^2 C). The study proposes `parallel_workers` configs at a
 * time and scores them all before it asks again, so lambda is rounded up to a multiple of the batch: each
 * generation is whole batches, and every sample of a generation is scored when the next batch is proposed. A
 * sample that lands on a config already scored (an integer grid, a small space) costs nothing: it joins the
 * generation with its known score and another is drawn in its place.
 *
 * When the search stalls (the step or the spread of scores has shrunk to nothing, the covariance is degenerate,
 * or samples keep landing on known configs), the search restarts from a uniform random mean with a population
 * twice as large: IPOP, which finds the better basins of a multimodal function that one run would miss.
 *
 * All of it is plain JSON in the sampler state, so the run's coordinator saves it and resumes the same search.
 */
import type { JsonValue } from "../../json.js";
import { hashConfig } from "../../search/hash.js";
import type { Rng } from "../../search/rng.js";
import { decodeParameter, encodeParameter, type ParamConfig, type Parameter, type SearchSpace } from "../../search/space.js";
import { type Eigen, symmetricEigen } from "./eigen.js";
import { makeNovel } from "./novelty.js";
import { randomSampler } from "./random.js";
import { latestFitness, type ProposalSteps, type ProposeContext, type Sampler, scoredConfigs } from "./sampler.js";
import { proposeTpe, TPE_STARTUP } from "./tpe.js";

/** The initial step on the unit cube: a sixth of every range, as Optuna's CmaEsSampler starts. */
const SIGMA0 = 1 / 6;
/** Restart when the step along every axis is below this (on the unit cube). */
const TOL_X = 1e-9;
/** Restart when the best scores of the recent generations and the current one all lie within this. */
const TOL_FUN = 1e-12;
/** Restart when the covariance's condition number passes this. */
const MAX_CONDITION = 1e14;
/** IPOP grows the population by this factor at each restart, up to maxLambda. */
const LAMBDA_GROWTH = 2;
/** At most this many times the first population: three doublings (restarts beyond keep the last size). */
const MAX_GROWTH = 8;
/** A generation's samples are kept in the state: at most this many bytes of them. */
const MEMBER_BYTES = 256 * 1024;
/** A number in JSON, at most (sign, 17 digits, exponent, separator). */
const NUMBER_BYTES = 24;
/** Above this many numeric parameters the covariance is diagonal (sep-CMA-ES). */
const SEPARABLE_ABOVE = 40;
/** Draws of a sample that falls outside the box before it is clipped. */
const BOX_TRIES = 10;

interface Member {
  hash: string;
  /** The sample on the unit cube (clipped to the box), which the update learns from. */
  x: number[];
}

/** The search distribution and its learning paths: plain JSON. */
interface CmaState {
  kind: "cmaes";
  /** Population of the current restart; baseLambda the first restart's. */
  lambda: number;
  restarts: number;
  mean: number[];
  sigma: number;
  cov: number[][];
  pc: number[];
  ps: number[];
  /** Generations told since the last restart. */
  generation: number;
  /** The current generation's samples. */
  members: Member[];
  /** Best loss of each recent generation (for the flat-progress test). */
  history: number[];
  /** Samples of the current generation that landed on a config already scored. */
  repeats: number;
}

interface NumericDim {
  name: string;
  param: Parameter;
}

function numericDims(space: SearchSpace): NumericDim[] {
  return Object.entries(space)
    .filter(([, param]) => param.type !== "categorical")
    .map(([name, param]) => ({ name, param }));
}

function categoricalSpace(space: SearchSpace): SearchSpace {
  return Object.fromEntries(Object.entries(space).filter(([, param]) => param.type === "categorical"));
}

/** The default population of CMA-ES, rounded up to whole batches of `batch`. */
function cmaLambda(n: number, batch: number, atLeast = 0): number {
  const base = Math.max(atLeast, 4 + Math.floor(3 * Math.log(n)));
  const step = Math.max(1, batch);
  return Math.ceil(base / step) * step;
}

/** The largest population IPOP may grow to: MAX_GROWTH times the first, and the samples within MEMBER_BYTES. */
export function maxLambda(n: number, batch: number): number {
  const first = cmaLambda(n, batch);
  const step = Math.max(1, batch);
  const fits = Math.floor(MEMBER_BYTES / (n * NUMBER_BYTES + 30) / step) * step;
  return Math.max(first, Math.min(MAX_GROWTH * first, fits));
}

/**
 * The most bytes a CMA state over `n` numeric parameters takes in JSON: the covariance, the paths and mean, a
 * generation's samples at the largest population, and the recent generations' best losses.
 */
export function cmaStateBytes(n: number, batch: number): number {
  const lambda = maxLambda(n, batch);
  const history = 10 + Math.ceil((30 * n) / cmaLambda(n, batch));
  // A generation can overshoot lambda by a batch less one (every sample of a batch joins it).
  // A separable covariance is zeros but for its diagonal ("0," each).
  const covariance = n > SEPARABLE_ABOVE ? n * n * 2 + n * NUMBER_BYTES : n * n * NUMBER_BYTES;
  return covariance + 3 * n * NUMBER_BYTES + (lambda + batch) * (n * NUMBER_BYTES + 30) + history * NUMBER_BYTES + 512;
}

const identity = (n: number) => Array.from({ length: n }, (_, i) => Array.from({ length: n }, (_, j) => (i === j ? 1 : 0)));

function freshCma(n: number, lambda: number, mean: number[], sigma = SIGMA0, restarts = 0): CmaState {
  return {
    kind: "cmaes",
    lambda,
    restarts,
    mean,
    sigma,
    cov: identity(n),
    pc: new Array<number>(n).fill(0),
    ps: new Array<number>(n).fill(0),
    generation: 0,
    members: [],
    history: [],
    repeats: 0,
  };
}

/**
 * A distribution fitted to the best of configs already scored (a warm start, as WS-CMA-ES takes its initial
 * Gaussian from earlier trials): the mean of the best quarter, a diagonal covariance from their spread, and a
 * step that covers it.
 */
function warmCma(space: SearchSpace, scored: readonly { config: ParamConfig; score: number }[], lambda: number): CmaState {
  const dims = numericDims(space);
  const n = dims.length;
  const ranked = [...scored].sort((a, b) => b.score - a.score);
  const top = ranked.slice(0, Math.max(2, Math.min(lambda, Math.ceil(0.25 * ranked.length)))).map((o) => encodeNumeric(dims, o.config));
  const best = top[0] ?? new Array<number>(n).fill(0.5);
  const spread = dims.map((_, i) => {
    const xs = top.map((x) => x[i] as number);
    const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
    return Math.max(0.01, Math.sqrt(xs.reduce((a, x) => a + (x - mean) ** 2, 0) / xs.length));
  });
  const sigma = Math.min(SIGMA0, Math.max(0.02, spread.reduce((a, b) => a + b, 0) / Math.max(1, n)));
  const state = freshCma(n, lambda, [...best], sigma);
  state.cov = state.cov.map((row, i) => row.map((v, j) => (i === j ? ((spread[i] as number) / sigma) ** 2 : v)));
  return state;
}

function encodeNumeric(dims: readonly NumericDim[], config: ParamConfig): number[] {
  return dims.map(({ name, param }) => encodeParameter(param, config[name] ?? null));
}

function isCmaState(state: JsonValue): state is JsonValue & CmaState {
  return state !== null && typeof state === "object" && !Array.isArray(state) && state.kind === "cmaes";
}

/** The CMA-ES learning rates for dimension n and the given rank weights (Hansen's defaults). */
function rates(n: number, weights: readonly number[]) {
  const muEff = 1 / weights.reduce((a, w) => a + w * w, 0);
  const cc = (4 + muEff / n) / (n + 4 + (2 * muEff) / n);
  const cs = (muEff + 2) / (n + muEff + 5);
  const c1 = 2 / ((n + 1.3) ** 2 + muEff);
  const cmu = Math.min(1 - c1, (2 * (muEff - 2 + 1 / muEff)) / ((n + 2) ** 2 + muEff));
  const damps = 1 + 2 * Math.max(0, Math.sqrt((muEff - 1) / (n + 1)) - 1) + cs;
  const chiN = Math.sqrt(n) * (1 - 1 / (4 * n) + 1 / (21 * n * n));
  return { muEff, cc, cs, c1, cmu, damps, chiN };
}

/** Positive recombination weights for `count` ranked samples: log-decreasing over the better half, summing to 1. */
function rankWeights(count: number): number[] {
  const mu = Math.max(1, Math.floor(count / 2));
  const raw = Array.from({ length: mu }, (_, i) => Math.log((count + 1) / 2) - Math.log(i + 1));
  const total = raw.reduce((a, b) => a + b, 0);
  return raw.map((w) => w / total);
}

/**
 * Learn from a finished generation (losses: lower is better). Returns whether the search has stalled, and the
 * new covariance's eigendecomposition (the sampling needs it; computed once).
 */
function tellCma(state: CmaState, generation: readonly { x: number[]; loss: number }[], eigen: Eigen): { stalled: boolean; eigen: Eigen } {
  const n = state.mean.length;
  const ranked = [...generation].sort((a, b) => a.loss - b.loss);
  const weights = rankWeights(ranked.length);
  const { muEff, cc, cs, damps, chiN, ...full } = rates(n, weights);
  // sep-CMA-ES (Ros and Hansen 2008) past SEPARABLE_ABOVE parameters: a diagonal covariance, learned faster,
  // where a full one would take thousands of evaluations to learn and its decomposition most of each proposal.
  const separable = n > SEPARABLE_ABOVE;
  const c1 = separable ? Math.min(1, (full.c1 * (n + 2)) / 3) : full.c1;
  const cmu = separable ? Math.min(1 - c1, (full.cmu * (n + 2)) / 3) : full.cmu;
  const old = state.mean;
  const sigma = state.sigma;
  const ys = ranked.slice(0, weights.length).map((s) => s.x.map((x, i) => (x - (old[i] as number)) / sigma));
  const yw = old.map((_, i) => ys.reduce((a, y, k) => a + (weights[k] as number) * (y[i] as number), 0));
  state.mean = old.map((m, i) => Math.min(1, Math.max(0, m + sigma * (yw[i] as number))));

  // C^(-1/2) yw = B D^-1 B^T yw
  const { values, vectors } = eigen;
  const projected = values.map(
    (_, k) => yw.reduce((a, y, i) => a + (vectors[i]?.[k] as number) * y, 0) / Math.sqrt(Math.max(values[k] as number, 1e-300)),
  );
  const whitened = yw.map((_, i) => projected.reduce((a, p, k) => a + (vectors[i]?.[k] as number) * p, 0));
  const psScale = Math.sqrt(cs * (2 - cs) * muEff);
  state.ps = state.ps.map((p, i) => (1 - cs) * p + psScale * (whitened[i] as number));
  const psNorm = Math.sqrt(state.ps.reduce((a, p) => a + p * p, 0));
  const hsig = psNorm / Math.sqrt(1 - (1 - cs) ** (2 * (state.generation + 1))) / chiN < 1.4 + 2 / (n + 1) ? 1 : 0;
  const pcScale = hsig * Math.sqrt(cc * (2 - cc) * muEff);
  state.pc = state.pc.map((p, i) => (1 - cc) * p + pcScale * (yw[i] as number));
  const keep = 1 - c1 - cmu + (1 - hsig) * c1 * cc * (2 - cc);
  state.cov = state.cov.map((row, i) =>
    row.map((c, j) => {
      if (separable && i !== j) return 0;
      let rankMu = 0;
      for (let k = 0; k < ys.length; k++)
        rankMu += (weights[k] as number) * ((ys[k] as number[])[i] as number) * ((ys[k] as number[])[j] as number);
      return keep * c + c1 * (state.pc[i] as number) * (state.pc[j] as number) + cmu * rankMu;
    }),
  );
  const losses = ranked.map((s) => s.loss);
  const flat = (losses[losses.length - 1] as number) - (losses[0] as number) <= TOL_FUN * Math.max(1, Math.abs(losses[0] as number));
  // A flat generation says nothing about direction: widen the step, as Hansen's reference code does.
  state.sigma = sigma * Math.exp((cs / damps) * (psNorm / chiN - 1) + (flat ? 0.2 + cs / damps : 0));
  state.sigma = Math.min(1, state.sigma);
  state.generation += 1;
  state.history = [...state.history, losses[0] as number].slice(-(10 + Math.ceil((30 * n) / state.lambda)));
  state.members = [];
  state.repeats = 0;

  const fresh = eigenOf(state.cov);
  const diagonal = state.cov.map((row, i) => row[i] as number);
  const maxAxis = state.sigma * Math.sqrt(Math.max(...diagonal, ...state.pc.map((p) => p * p)));
  const windowFull = state.history.length >= 10 + Math.ceil((30 * n) / state.lambda);
  const flatHistory =
    windowFull && flat && Math.max(...state.history) - Math.min(...state.history) <= TOL_FUN * Math.max(1, Math.abs(losses[0] as number));
  const lowest = Math.min(...fresh.values);
  const degenerate = lowest <= 0 || Math.max(...fresh.values) / lowest > MAX_CONDITION;
  return { stalled: maxAxis < TOL_X || flatHistory || degenerate, eigen: fresh };
}

/**
 * The eigendecomposition of a covariance, remembered for the last few covariances seen: a generation is
 * proposed in several batches, each from the same saved covariance, and with many parameters a decomposition
 * costs more than the rest of the proposal. A hit is checked number by number, so the result is exactly what
 * computing it again would give.
 */
const eigenCache: { cov: number[][]; eigen: Eigen }[] = [];
const EIGEN_CACHE_SIZE = 8;

function eigenOf(cov: number[][]): Eigen {
  const hit = eigenCache.find(
    (entry) => entry.cov.length === cov.length && entry.cov.every((row, i) => row.every((v, j) => v === cov[i]?.[j])),
  );
  if (hit) return hit.eigen;
  const eigen = symmetricEigen(cov);
  eigenCache.unshift({ cov: cov.map((row) => [...row]), eigen });
  eigenCache.length = Math.min(eigenCache.length, EIGEN_CACHE_SIZE);
  return eigen;
}

/** A point of N(mean, sigma^2 C), drawn again while it falls outside the unit cube (then clipped). */
function samplePoint(state: CmaState, eigen: Eigen, rng: Rng): number[] {
  const n = state.mean.length;
  const scales = eigen.values.map((v) => Math.sqrt(Math.max(v, 0)));
  let x: number[] = state.mean;
  for (let attempt = 0; attempt < BOX_TRIES; attempt++) {
    const z = scales.map((s) => s * rng.normal());
    x = state.mean.map((m, i) => m + state.sigma * z.reduce((a, zk, k) => a + (eigen.vectors[i]?.[k] as number) * zk, 0));
    if (x.every((v) => v >= 0 && v <= 1)) return x;
  }
  return x.slice(0, n).map((v) => Math.min(1, Math.max(0, v)));
}

/** Restart IPOP-style: a uniform random mean, the initial step, a population LAMBDA_GROWTH times larger. */
function restartCma(state: CmaState, batch: number, rng: Rng, grow = true): CmaState {
  const n = state.mean.length;
  const lambda = grow ? Math.min(maxLambda(n, batch), cmaLambda(n, batch, state.lambda * LAMBDA_GROWTH)) : state.lambda;
  return freshCma(
    n,
    lambda,
    state.mean.map(() => rng.next()),
    SIGMA0,
    state.restarts + 1,
  );
}

/**
 * Propose `context.size` configs from a CMA state, telling it every finished generation first. `fitness`: the
 * latest fitness of each config scored; `initial` says how to start when there is no state.
 */
function* cmaSteps(
  context: ProposeContext,
  fitness: ReadonlyMap<string, number>,
  prior: CmaState | null,
  initial: () => CmaState,
): Generator<void, { configs: ParamConfig[]; state: CmaState }, void> {
  const { space, rng } = context;
  const dims = numericDims(space);
  const batch = Math.max(1, context.settings.parallelWorkers);
  // A copy: a proposal the host abandons half-way must leave the saved state as it was.
  let state = prior ? (structuredClone(prior) as CmaState) : initial();
  let eigen = eigenOf(state.cov);

  const tellIfComplete = () => {
    const scored = state.members.filter((m) => fitness.has(m.hash));
    if (scored.length < state.lambda) return;
    const told = tellCma(
      state,
      scored.map((m) => ({ x: m.x, loss: -(fitness.get(m.hash) as number) })),
      eigen,
    );
    eigen = told.eigen;
    if (told.stalled) {
      state = restartCma(state, batch, rng);
      eigen = symmetricEigen(state.cov);
    }
  };

  // Samples never scored (the run's budget ended first) drop out of their generation.
  state.members = state.members.filter((m) => fitness.has(m.hash));
  // An eigendecomposition costs milliseconds with many parameters: pause around it, as after each candidate.
  yield;
  tellIfComplete();
  yield;

  const categorical = categoricalSpace(space);
  const choices = chooseCategorical(context, categorical, fitness);
  const configs: ParamConfig[] = [];
  const taken = new Set<string>();
  let budget = 40 * context.size + 4 * state.lambda;
  while (configs.length < context.size) {
    const x = samplePoint(state, eigen, rng);
    const config = decodeConfig(space, dims, x, choices[configs.length] ?? {});
    const hash = hashConfig(config);
    const known = fitness.has(hash);
    if (budget-- <= 0) {
      // A grid the distribution has collapsed onto: restart, and fill the slot with a new config.
      state = restartCma(state, batch, rng, state.generation > 0);
      eigen = symmetricEigen(state.cov);
      budget = 40 * context.size + 4 * state.lambda;
      const novel = makeNovel(config, space, taken, context, 20);
      taken.add(hashConfig(novel));
      configs.push(novel);
      yield;
      continue;
    }
    if (taken.has(hash) || (context.isKnown(config) && !known)) continue;
    state.members.push({ hash, x });
    if (known) {
      // Already scored: it informs this generation for free, and another sample takes the slot.
      state.repeats += 1;
      if (state.repeats > 2 * state.lambda) {
        // The distribution sits on configs already scored. A restart that learned nothing since the last one keeps
        // its population: doubling it again would only make the next generation longer to fill.
        state = restartCma(state, batch, rng, state.generation > 0);
        eigen = symmetricEigen(state.cov);
      } else tellIfComplete();
      continue;
    }
    taken.add(hash);
    configs.push(config);
    yield;
  }
  return { configs, state };
}

/** Categorical values for `context.size` slots from the TPE model over the categorical parameters alone. */
function chooseCategorical(context: ProposeContext, categorical: SearchSpace, fitness: ReadonlyMap<string, number>): ParamConfig[] {
  const names = Object.keys(categorical);
  if (names.length === 0) return [];
  const observations = [...fitness].map(([hash, score]) => {
    const config = context.configOf(hash);
    return { config: Object.fromEntries(names.map((name) => [name, config[name] ?? null])), score };
  });
  // A few more than the slots: draws that collide with a scored config are drawn again.
  if (observations.length < TPE_STARTUP) {
    return Array.from({ length: context.size }, () =>
      Object.fromEntries(names.map((name) => [name, context.rng.pick((categorical[name] as { values: JsonValue[] }).values)])),
    );
  }
  return proposeTpe(categorical, observations, context.size, context.rng, () => false);
}

function decodeConfig(space: SearchSpace, dims: readonly NumericDim[], x: readonly number[], choice: ParamConfig): ParamConfig {
  const numeric = new Map(dims.map(({ name, param }, i) => [name, decodeParameter(param, x[i] as number)]));
  return Object.fromEntries(Object.keys(space).map((name) => [name, (numeric.has(name) ? numeric.get(name) : choice[name]) ?? null]));
}

export const cmaesSampler: Sampler = {
  name: "cmaes",
  stateBytes: (space, settings) => cmaStateBytes(numericDims(space).length, Math.max(1, settings.parallelWorkers)),
  *propose(context: ProposeContext, state: JsonValue): ProposalSteps {
    const dims = numericDims(context.space);
    if (dims.length === 0) return yield* randomSampler.propose(context, state);
    const batch = Math.max(1, context.settings.parallelWorkers);
    const lambda = cmaLambda(dims.length, batch);
    const fitness = latestFitness(context.trials);
    // A first CMA state is fitted to the configs scored so far (warm start), or centred when there are none.
    const initial = (): CmaState => {
      const scored = scoredConfigs(context);
      if (scored.length > 0) return warmCma(context.space, scored, lambda);
      return freshCma(dims.length, lambda, new Array<number>(dims.length).fill(0.5));
    };
    const result = yield* cmaSteps(context, fitness, isCmaState(state) ? state : null, initial);
    return { configs: result.configs, state: result.state as unknown as JsonValue };
  },
};
