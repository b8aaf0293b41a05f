import { type JsonValue, utf8Length } from "../json.js";
import { canonicalJson } from "./hash.js";
import type { Rng } from "./rng.js";

/**
 * A parameter after normalization. Config files speak the seed's vocabulary (categorical, discrete, continuous,
 * float, int, `choices`); the optimizers only ever see these four shapes.
 */
export type Parameter =
  /** `text`: a text parameter (its values strings), whose values the society's proposer may add to during a run. */
  | { type: "categorical"; values: JsonValue[]; text?: true }
  /** Ordered numeric choices, e.g. max_tokens: [256, 512, 1024]. */
  | { type: "discrete"; values: number[] }
  | { type: "int"; min: number; max: number; step: number; log: boolean }
  /** step null: any real number in [min, max]. */
  | { type: "float"; min: number; max: number; step: number | null; log: boolean };

export type SearchSpace = Record<string, Parameter>;
export type ParamConfig = Record<string, JsonValue>;

/** Mutation moves a numeric value by a Gaussian of this fraction of the range (the seed's 10%). */
const MUTATION_SIGMA = 0.1;

function decimalsOf(x: number): number {
  if (Number.isInteger(x)) return 0;
  const text = x.toString();
  const exp = text.match(/e-(\d+)$/);
  if (exp) return Number(exp[1]);
  return text.split(".")[1]?.length ?? 0;
}

function roundTo(x: number, decimals: number): number {
  return Number(x.toFixed(Math.min(decimals, 12)));
}

/** The number of points of a stepped range and its k-th point; `max` is always the last point. */
function gridShape(min: number, max: number, step: number): { count: number; point: (k: number) => number } {
  const decimals = Math.max(decimalsOf(min), decimalsOf(step));
  const aligned = Math.floor((max - min) / step + 1e-9) + 1;
  const lastAligned = roundTo(min + (aligned - 1) * step, decimals);
  const count = max - lastAligned > step * 1e-6 ? aligned + 1 : aligned;
  return { count, point: (k) => (k >= aligned ? max : roundTo(min + k * step, decimals)) };
}

/** The numeric grid of a stepped range, both ends included (the reference's truncation dropped `max`). */
export function gridOf(min: number, max: number, step: number): number[] {
  const { count, point } = gridShape(min, max, step);
  return Array.from({ length: count }, (_, k) => point(k));
}

function nearest(points: readonly number[], x: number): number {
  let best = points[0] as number;
  for (const p of points) if (Math.abs(p - x) < Math.abs(best - x)) best = p;
  return best;
}

/** Snap a raw number into a numeric parameter's domain: clip, then round to its grid. */
export function snap(param: Extract<Parameter, { type: "int" | "float" }>, x: number): number {
  const clipped = Math.min(param.max, Math.max(param.min, x));
  const step = param.step;
  if (step === null) return clipped;
  const k = Math.round((clipped - param.min) / step);
  const decimals = Math.max(decimalsOf(param.min), decimalsOf(step));
  const candidates = [k - 1, k, k + 1].map((i) => roundTo(param.min + i * step, decimals)).filter((v) => v >= param.min && v <= param.max);
  candidates.push(param.max);
  return nearest(candidates, clipped);
}

/**
 * A value proposed from outside the samplers (the society's proposer) as the parameter takes it: a number in
 * range, snapped to its grid; one of the values of a choice; any string for a text parameter (a new value). Null
 * when it cannot be one.
 */
export function conformValue(param: Parameter, value: JsonValue | undefined, maxTextBytes: number): JsonValue | null {
  if (value === undefined) return null;
  switch (param.type) {
    case "categorical":
      if (param.text) return typeof value === "string" && value.trim() !== "" && utf8Length(value) <= maxTextBytes ? value : null;
      return param.values.find((v) => sameValue(v, value)) ?? null;
    case "discrete":
      return param.values.find((v) => v === value) ?? null;
    case "int":
    case "float":
      if (typeof value !== "number" || !Number.isFinite(value) || value < param.min || value > param.max) return null;
      return snap(param, value);
  }
}

/** Every value a parameter can take, or null when it is continuous. */
export function enumerate(param: Parameter): JsonValue[] | null {
  switch (param.type) {
    case "categorical":
    case "discrete":
      return param.values;
    case "int":
      return gridOf(param.min, param.max, param.step);
    case "float":
      return param.step === null ? null : gridOf(param.min, param.max, param.step);
  }
}

/** Map a numeric value to [0, 1] along its (log) scale. */
function toUnit(param: Extract<Parameter, { type: "int" | "float" }>, x: number): number {
  if (param.max === param.min) return 0.5;
  if (param.log) return (Math.log(x) - Math.log(param.min)) / (Math.log(param.max) - Math.log(param.min));
  return (x - param.min) / (param.max - param.min);
}

function fromUnit(param: Extract<Parameter, { type: "int" | "float" }>, u: number): number {
  const v = Math.min(1, Math.max(0, u));
  if (param.log) return Math.exp(Math.log(param.min) + v * (Math.log(param.max) - Math.log(param.min)));
  return param.min + v * (param.max - param.min);
}

export function sampleParameter(param: Parameter, rng: Rng): JsonValue {
  switch (param.type) {
    case "categorical":
    case "discrete":
      return rng.pick(param.values);
    case "int":
    case "float": {
      // Uniform over the grid (every point, both ends, equally likely) unless the scale is logarithmic.
      if (param.step !== null && !param.log) {
        const grid = gridShape(param.min, param.max, param.step);
        return grid.point(rng.int(grid.count));
      }
      return snap(param, fromUnit(param, rng.next()));
    }
  }
}

export function sampleConfig(space: SearchSpace, rng: Rng): ParamConfig {
  const config: ParamConfig = {};
  for (const [name, param] of Object.entries(space)) config[name] = sampleParameter(param, rng);
  return config;
}

function sameValue(a: JsonValue, b: JsonValue): boolean {
  return canonicalJson(a) === canonicalJson(b);
}

/** The seed's mutation: another value for choices, a Gaussian step of 10% of the range for numbers. */
export function mutateParameter(param: Parameter, current: JsonValue, rng: Rng): JsonValue {
  switch (param.type) {
    case "categorical":
    case "discrete": {
      const others = param.values.filter((v) => !sameValue(v, current));
      return others.length > 0 ? rng.pick(others) : current;
    }
    case "int":
    case "float": {
      const x = typeof current === "number" ? current : fromUnit(param, 0.5);
      let moved = x;
      // A step smaller than the grid would snap back to the same value: retry a few times.
      for (let attempt = 0; attempt < 5 && moved === x; attempt++) {
        moved = snap(param, fromUnit(param, toUnit(param, x) + MUTATION_SIGMA * rng.normal()));
      }
      return moved;
    }
  }
}

export function mutateConfig(space: SearchSpace, config: ParamConfig, rate: number, rng: Rng): ParamConfig {
  const child: ParamConfig = { ...config };
  for (const [name, param] of Object.entries(space)) {
    const current = child[name] ?? sampleParameter(param, rng);
    child[name] = rng.next() < rate ? mutateParameter(param, current, rng) : current;
  }
  return child;
}

/** Uniform crossover: each parameter from either parent with probability 1/2. */
export function crossoverConfigs(space: SearchSpace, a: ParamConfig, b: ParamConfig, rng: Rng): ParamConfig {
  const child: ParamConfig = {};
  for (const name of Object.keys(space)) {
    const fromA = rng.next() < 0.5;
    const value = fromA ? a[name] : b[name];
    child[name] = value === undefined ? (a[name] ?? b[name] ?? null) : value;
  }
  return child;
}

/** A point of [0, 1] per dimension (choices by index): for model-based samplers and benchmarks. */
export function encodeParameter(param: Parameter, value: JsonValue): number {
  switch (param.type) {
    case "categorical":
    case "discrete": {
      const index = param.values.findIndex((v) => sameValue(v, value));
      return param.values.length <= 1 ? 0.5 : Math.max(0, index) / (param.values.length - 1);
    }
    case "int":
    case "float":
      return toUnit(param, typeof value === "number" ? value : param.min);
  }
}

export function decodeParameter(param: Parameter, u: number): JsonValue {
  switch (param.type) {
    case "categorical":
    case "discrete": {
      const index = Math.min(param.values.length - 1, Math.max(0, Math.round(u * (param.values.length - 1))));
      return param.values[index] as JsonValue;
    }
    case "int":
    case "float":
      return snap(param, fromUnit(param, u));
  }
}

/** How many distinct configs the space holds (Infinity with a continuous parameter). */
export function spaceSize(space: SearchSpace): number {
  let size = 1;
  for (const param of Object.values(space)) {
    if (param.type === "categorical" || param.type === "discrete") size *= param.values.length;
    else if (param.step === null) return Number.POSITIVE_INFINITY;
    else size *= gridShape(param.min, param.max, param.step).count;
  }
  return size;
}
