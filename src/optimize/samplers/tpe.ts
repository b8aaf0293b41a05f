/**
 * Tree-structured Parzen Estimator (Bergstra et al. 2011), multivariate as in Optuna's `multivariate=True`.
 * Scored configs split into the best few ("below", density l) and the rest ("above", density g), each a
 * mixture of one kernel per config plus a broad prior; a new config is the one of `candidates` draws from l
 * with the highest l(x) / g(x). Numbers live on [0, 1] along their (log) scale, with truncated Gaussian
 * kernels and snapping to their grid; categorical choices get Optuna's smoothed categorical kernel.
 *
 * A batch (a generation, or the in-flight evaluations of a distributed run) is proposed one config at a time
 * with a constant liar: each config chosen joins "above" as if it had scored worst, which pushes the next ones
 * elsewhere, and no config already tried or chosen is proposed again.
 *
 * `algorithm: tpe` is a hybrid: after 10 random configs, part of each batch comes from the model (global
 * search) and part from local steps around the best configs (refinement the model's kernels are too wide for),
 * the local share growing from half to nine tenths as the run's budget is spent. With several test cases the
 * study races the candidates as for mab_evolution.
 */
import type { JsonValue } from "../../json.js";
import { hashConfig } from "../../search/hash.js";
import type { Rng } from "../../search/rng.js";
import { decodeParameter, encodeParameter, type ParamConfig, type Parameter, type SearchSpace } from "../../search/space.js";
import { normalCdf } from "../stats.js";
import { makeNovel } from "./novelty.js";
import { randomSampler } from "./random.js";
import { type ProposalSteps, type ProposeContext, runSteps, type Sampler, scoredConfigs } from "./sampler.js";

interface TpeOptions {
  /** Scored configs before the model is used, random until then (Optuna's n_startup_trials). */
  startup: number;
  /** Draws from l(x) per proposal. */
  candidates: number;
  /** How many of n scored configs are "below": gamma(n). */
  gamma: (n: number) => number;
  /** Weight of the broad prior kernel in each mixture. */
  priorWeight: number;
}

/** Scored configs before the TPE model is used (Optuna's n_startup_trials). */
export const TPE_STARTUP = 10;

const TPE_DEFAULTS: TpeOptions = {
  startup: TPE_STARTUP,
  candidates: 24,
  gamma: (n) => Math.min(Math.ceil(0.1 * n), 25),
  priorWeight: 1,
};

/** One scored config in model coordinates: numbers on [0, 1], choices by index. */
interface Point {
  numeric: number[];
  choice: number[];
}

interface Dims {
  numeric: { name: string; param: Parameter }[];
  choice: { name: string; values: JsonValue[]; indexOf: (value: JsonValue) => number }[];
}

/**
 * A categorical value's position, found in one lookup: encoding the observations must not cost a scan of 1,000
 * choices per parameter per config. Primitives are their own keys; lists and objects are compared by their text.
 */
function indexer(values: readonly JsonValue[]): (value: JsonValue) => number {
  const primitives = new Map<JsonValue, number>();
  const composites = new Map<string, number>();
  for (let i = values.length - 1; i >= 0; i--) {
    const v = values[i] as JsonValue;
    if (v !== null && typeof v === "object") composites.set(JSON.stringify(v), i);
    else primitives.set(v, i);
  }
  return (value) => (value !== null && typeof value === "object" ? composites.get(JSON.stringify(value)) : primitives.get(value)) ?? 0;
}

function dimsOf(space: SearchSpace): Dims {
  const dims: Dims = { numeric: [], choice: [] };
  for (const [name, param] of Object.entries(space)) {
    // Ordered numeric choices are numbers on their index scale; only unordered ones are categories.
    if (param.type === "categorical") dims.choice.push({ name, values: param.values, indexOf: indexer(param.values) });
    else dims.numeric.push({ name, param });
  }
  return dims;
}

function encode(dims: Dims, config: ParamConfig): Point {
  return {
    numeric: dims.numeric.map(({ name, param }) => encodeParameter(param, config[name] ?? null)),
    choice: dims.choice.map(({ name, indexOf }) => indexOf(config[name] ?? null)),
  };
}

function decode(space: SearchSpace, dims: Dims, point: Point): ParamConfig {
  const config: ParamConfig = {};
  dims.numeric.forEach(({ name, param }, i) => {
    config[name] = decodeParameter(param, point.numeric[i] as number);
  });
  dims.choice.forEach(({ name, values }, i) => {
    config[name] = values[point.choice[i] as number] as JsonValue;
  });
  // Keep the space's key order, as every other sampler does.
  return Object.fromEntries(Object.keys(space).map((name) => [name, config[name] as JsonValue]));
}

const LOG_SQRT_2PI = 0.5 * Math.log(2 * Math.PI);

/**
 * A mixture over [0, 1]^numeric x choices: one kernel per point (plus the prior), with weights. A point's
 * categorical kernel gives two probabilities per dimension (its observed choice, any other), so it is kept as
 * those two numbers, not one per choice: sampling and densities cost the same with 3 choices or 1,000.
 */
class Parzen {
  private readonly mus: number[][];
  private readonly sigmas: number[];
  private readonly logSigmas: number[];
  private readonly logWeights: number[];
  private readonly cumulative: number[];
  /** Per kernel: the observed choice per categorical dim; null for the prior kernel (uniform over the choices). */
  private readonly observed: (number[] | null)[];
  /** Per categorical dim, under a point's kernel: the probability of any choice but the observed one, and its log. */
  private readonly other: number[];
  private readonly logOther: number[];
  /** Per categorical dim, under a point's kernel: the log probability of the observed choice. */
  private readonly logObserved: number[];
  /** The prior kernel's log probability of any combination of choices. */
  private readonly logUniform: number;
  /** log of each kernel's truncation mass per numeric dim. */
  private readonly logMass: number[][];

  constructor(
    points: readonly Point[],
    weights: readonly number[],
    dims: Dims,
    private readonly priorWeight: number,
  ) {
    const d = dims.numeric.length;
    const n = points.length;
    // Scott's rule in the unit cube, as Optuna's multivariate TPE: narrower kernels as evidence grows.
    const sigma = 0.2 * (n + 1) ** (-1 / (d + 4));
    this.mus = [...points.map((p) => p.numeric), new Array<number>(d).fill(0.5)];
    this.sigmas = [...points.map(() => sigma), 1];
    this.logSigmas = this.sigmas.map((s) => Math.log(s));
    const raw = [...weights, priorWeight];
    const total = raw.reduce((a, b) => a + b, 0);
    this.logWeights = raw.map((w) => Math.log(w / total));
    let running = 0;
    this.cumulative = raw.map((w) => (running += w / total));
    this.logMass = this.mus.map((mu, k) =>
      mu.map((m) => {
        const s = this.sigmas[k] as number;
        return Math.log(Math.max(1e-300, normalCdf((1 - m) / s) - normalCdf((0 - m) / s)));
      }),
    );
    this.observed = [...points.map((p) => p.choice), null];
    // Optuna's categorical kernel: the prior's weight spread over the choices, plus 1 on the observed one.
    this.other = dims.choice.map(({ values }) => priorWeight / values.length / (1 + priorWeight));
    this.logOther = this.other.map((p) => Math.log(p));
    this.logObserved = dims.choice.map(({ values }) => Math.log((1 + priorWeight / values.length) / (1 + priorWeight)));
    this.logUniform = dims.choice.reduce((sum, { values }) => sum - Math.log(values.length), 0);
  }

  sample(rng: Rng, dims: Dims): Point {
    const u = rng.next();
    let k = this.cumulative.findIndex((c) => u < c);
    if (k < 0) k = this.cumulative.length - 1;
    const mu = this.mus[k] as number[];
    const s = this.sigmas[k] as number;
    const numeric = mu.map((m) => {
      for (let i = 0; i < 20; i++) {
        const x = m + s * rng.normal();
        if (x >= 0 && x <= 1) return x;
      }
      return Math.min(1, Math.max(0, m + s * rng.normal()));
    });
    const observed = this.observed[k] ?? null;
    const choice = dims.choice.map(({ values }, j) => {
      const last = values.length - 1;
      const r = rng.next();
      if (observed === null) return Math.min(last, Math.floor(r * values.length));
      // Inverting the kernel's cumulative distribution: `other` per choice, plus 1 / (1 + w) on the observed one.
      const o = observed[j] as number;
      const other = this.other[j] as number;
      if (other > 0 && r < o * other) return Math.min(o - 1, Math.floor(r / other));
      const hit = 1 / (1 + this.priorWeight);
      if (other === 0 || r < (o + 1) * other + hit) return o;
      return Math.min(last, Math.max(o + 1, Math.floor((r - hit) / other)));
    });
    return { numeric, choice };
  }

  logDensity(point: Point): number {
    const terms = this.mus.map((mu, k) => {
      const s = this.sigmas[k] as number;
      const mass = this.logMass[k] as number[];
      let sum = (this.logWeights[k] as number) - mu.length * (LOG_SQRT_2PI + (this.logSigmas[k] as number));
      for (let i = 0; i < mu.length; i++) {
        const z = ((point.numeric[i] as number) - (mu[i] as number)) / s;
        sum -= 0.5 * z * z + (mass[i] as number);
      }
      const observed = this.observed[k] ?? null;
      if (observed === null) return sum + this.logUniform;
      for (let j = 0; j < point.choice.length; j++) {
        sum += point.choice[j] === observed[j] ? (this.logObserved[j] as number) : (this.logOther[j] as number);
      }
      return sum;
    });
    const max = Math.max(...terms);
    return max + Math.log(terms.reduce((acc, t) => acc + Math.exp(t - max), 0));
  }
}

interface Scored {
  point: Point;
  score: number;
  order: number;
}

/** Optuna's weights: the most recent 25 count fully, older ones ramp down (the model follows the search). */
function weightsFor(scored: readonly Scored[]): number[] {
  const n = scored.length;
  if (n < 25) return scored.map(() => 1);
  const byAge = [...scored].sort((a, b) => a.order - b.order).map((s) => s.order);
  const rank = new Map(byAge.map((order, i) => [order, i]));
  return scored.map((s) => {
    const i = rank.get(s.order) as number;
    return i >= n - 25 ? 1 : 1 / n + ((1 - 1 / n) * i) / (n - 25);
  });
}

/** Propose `size` new configs from the scored ones (highest score best). */
export function proposeTpe(
  space: SearchSpace,
  observations: readonly { config: ParamConfig; score: number }[],
  size: number,
  rng: Rng,
  isTaken: (config: ParamConfig) => boolean,
  options: TpeOptions = TPE_DEFAULTS,
): ParamConfig[] {
  return runSteps(tpeSteps(space, observations, size, rng, isTaken, options));
}

/** proposeTpe, pausing after each config (each costs a few milliseconds in a large space). */
function* tpeSteps(
  space: SearchSpace,
  observations: readonly { config: ParamConfig; score: number }[],
  size: number,
  rng: Rng,
  isTaken: (config: ParamConfig) => boolean,
  options: TpeOptions,
): Generator<void, ParamConfig[], void> {
  const dims = dimsOf(space);
  const lies: Scored[] = [];
  const out: ParamConfig[] = [];
  const taken = new Set<string>();
  // The split and l(x) depend on the scored configs only; each slot's lie changes g(x) alone.
  const ranked = observations.map((o, order) => ({ o, order })).sort((a, b) => b.o.score - a.o.score);
  const nBelow = Math.max(1, Math.min(options.gamma(ranked.length), ranked.length - 1));
  const toScored = (r: (typeof ranked)[number]): Scored => ({ point: encode(dims, r.o.config), score: r.o.score, order: r.order });
  const below = ranked.slice(0, nBelow).map(toScored);
  // Past MODEL_ABOVE, the oldest of "above" leave g(x), so a proposal late in a long run costs what one
  // earlier does (Optuna's weights already give the oldest the least).
  const rest = ranked.slice(nBelow);
  const cutoff = rest.length > MODEL_ABOVE ? (rest.map((r) => r.order).sort((x, y) => y - x)[MODEL_ABOVE - 1] as number) : -1;
  const aboveScored = rest.filter((r) => r.order >= cutoff).map(toScored);
  const l = new Parzen(
    below.map((s) => s.point),
    weightsFor(below),
    dims,
    options.priorWeight,
  );
  const aboveWeights = weightsFor(aboveScored);
  for (let slot = 0; slot < size; slot++) {
    const above = [...aboveScored, ...lies];
    const g = new Parzen(
      above.map((s) => s.point),
      [...aboveWeights, ...lies.map(() => 1)],
      dims,
      options.priorWeight,
    );
    const draws = Array.from({ length: options.candidates }, () => {
      const point = l.sample(rng, dims);
      return { point, gain: l.logDensity(point) - g.logDensity(point) };
    }).sort((a, b) => b.gain - a.gain);
    let chosen: ParamConfig | null = null;
    for (const draw of draws) {
      const config = decode(space, dims, draw.point);
      if (!taken.has(hashConfig(config)) && !isTaken(config)) {
        chosen = config;
        break;
      }
    }
    // Every draw was a config already tried (a small or well-explored space): a random new one instead.
    chosen ??= decode(space, dims, draws[0]?.point ?? l.sample(rng, dims));
    taken.add(hashConfig(chosen));
    out.push(chosen);
    lies.push({ point: encode(dims, chosen), score: Number.NEGATIVE_INFINITY, order: observations.length + lies.length });
    yield;
  }
  return out;
}

/**
 * Local refinement around the best configs: Gaussian steps of `sigma` (unit scale) on every numeric dim, and a
 * categorical change with probability 1/(dims). Converges where the model's kernels are too wide to.
 */
function proposeLocal(
  space: SearchSpace,
  observations: readonly { config: ParamConfig; score: number }[],
  size: number,
  sigma: number,
  rng: Rng,
  isTaken: (config: ParamConfig) => boolean,
): ParamConfig[] {
  const dims = dimsOf(space);
  const ranked = [...observations].sort((a, b) => b.score - a.score);
  const parents = ranked.slice(0, Math.max(1, Math.min(3, ranked.length)));
  const out: ParamConfig[] = [];
  const taken = new Set<string>();
  const pChoice = 1 / Math.max(1, dims.numeric.length + dims.choice.length);
  // Per-dimension scale from the spread of the elite (cross-entropy style): wide where good configs disagree,
  // narrow where they agree, never below a quarter of the adaptive step.
  const elite = ranked
    .slice(0, Math.min(MAX_ELITE, Math.max(4, Math.ceil(0.15 * ranked.length))))
    .map((o) => encode(dims, o.config).numeric);
  const spread = dims.numeric.map((_, i) => {
    const xs = elite.map((e) => e[i] as number);
    const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
    return Math.sqrt(xs.reduce((a, x) => a + (x - mean) ** 2, 0) / xs.length);
  });
  const scaleOf = (i: number) => Math.min(0.3, Math.max(0.002, ELITE_SPREAD * (spread[i] as number), sigma * 0.25));
  for (let slot = 0; slot < size; slot++) {
    // Half of the steps from the best, the rest from the runners-up.
    const parent = slot % 2 === 0 ? (parents[0] as { config: ParamConfig }) : rng.pick(parents);
    const base = encode(dims, parent.config);
    let config: ParamConfig | null = null;
    // A step that lands on a config already tried is retried wider.
    for (let attempt = 0; attempt < 8 && config === null; attempt++) {
      const widen = 1.5 ** attempt;
      const point: Point = {
        numeric: base.numeric.map((u, i) => Math.min(1, Math.max(0, u + widen * scaleOf(i) * rng.normal()))),
        choice: base.choice.map((c, j) => (rng.next() < pChoice ? rng.int((dims.choice[j] as { values: JsonValue[] }).values.length) : c)),
      };
      const candidate = decode(space, dims, point);
      if (!taken.has(hashConfig(candidate)) && !isTaken(candidate)) config = candidate;
    }
    if (config === null) continue;
    taken.add(hashConfig(config));
    out.push(config);
  }
  return out;
}

/**
 * Observations of "above" in g(x) at most, the most recent. 250 was tried and cost the noisy llm_mixed (some 300
 * of them) 0.19 -> 0.27 regret; 400 leaves every bench problem as it was and keeps a 20,000-call run's cost per
 * call within 1.3x of a 2,000-call run's (npm run bench:optimizer).
 */
const MODEL_ABOVE = 400;
/** The elite whose spread sets the local step: the best 15%, at most this many. */
const MAX_ELITE = 64;
/** Local steps scale with this fraction of the elite's spread per dimension. */
const ELITE_SPREAD = 0.5;
/** Share of a batch given to local steps: from LOCAL_MIN at the start of the model phase to LOCAL_MAX at the end. */
const LOCAL_MIN = 0.5;
const LOCAL_MAX = 0.9;
/** The local step after a generation without improvement. */
const SHRINK = 0.6;

export const tpeSampler: Sampler = {
  name: "tpe",
  *propose(context: ProposeContext, state: JsonValue): ProposalSteps {
    const observations = scoredConfigs(context);
    if (observations.length < TPE_DEFAULTS.startup) return yield* randomSampler.propose(context, state);
    const { progress } = context;
    const prior = (state ?? {}) as { sigma?: number; best?: number };
    const best = observations.reduce((max, o) => Math.max(max, o.score), Number.NEGATIVE_INFINITY);
    // The step grows after a proposal batch whose evaluations improved the best, and shrinks after one that did
    // not: per batch, not per generation, so a generation proposed parallel_workers at a time adapts as often as
    // it learns, and the search does not depend on how the budget is cut into generations. Adapting once per
    // generation instead was measured worse at the default shape (20 x 5, npm run bench:optimizer): Hartmann6
    // regret at 200 evaluations 0.098 against 0.063, llm_mixed at 50 0.634 against 0.386.
    const improved = best > (prior.best ?? Number.NEGATIVE_INFINITY);
    const sigma = prior.sigma === undefined ? 0.1 : improved ? Math.min(0.3, prior.sigma * 1.3) : Math.max(0.002, prior.sigma * SHRINK);
    const localCount = Math.round(context.size * Math.min(LOCAL_MAX, LOCAL_MIN + (LOCAL_MAX - LOCAL_MIN) * progress));
    const local = proposeLocal(context.space, observations, localCount, sigma, context.rng, (c) => context.isKnown(c));
    const localHashes = new Set(local.map(hashConfig));
    const isTaken = (c: ParamConfig) => context.isKnown(c) || localHashes.has(hashConfig(c));
    const model = yield* tpeSteps(context.space, observations, context.size - local.length, context.rng, isTaken, TPE_DEFAULTS);
    const chosen = [...local, ...model];
    state = { sigma, best };
    const taken = new Set<string>();
    const configs = chosen.map((config) => {
      const novel = makeNovel(config, context.space, taken, context);
      taken.add(hashConfig(novel));
      return novel;
    });
    return { configs, state };
  },
};
