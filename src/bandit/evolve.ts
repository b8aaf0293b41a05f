/**
 * Arm evolution (the seed's `evolve_arms`): take the best arms by posterior mean, infer a search space from the
 * parameters of all the arms (not just the first, as the reference did), and breed new arm templates from the top
 * ones by uniform crossover and mutation. The caller decides whether to add them (they are not persisted here).
 */
import type { JsonValue } from "../json.js";
import type { ArmTemplate } from "../runtime/schema.js";
import { canonicalJson, hashConfig } from "../search/hash.js";
import { Rng } from "../search/rng.js";
import { crossoverConfigs, mutateConfig, type ParamConfig, type Parameter, type SearchSpace } from "../search/space.js";

export interface EvolvableArm {
  arm_id: string;
  params: ParamConfig;
  mean_estimate: number | null;
}

function numericRange(values: number[]): Parameter {
  const min = Math.min(...values);
  const max = Math.max(...values);
  const integral = values.every(Number.isInteger);
  // Leave room around what was tried: 20% of the span, or of the value when all arms agree.
  const pad = max > min ? 0.2 * (max - min) : Math.max(Math.abs(max) * 0.2, integral ? 1 : 0.1);
  const low = min >= 0 ? Math.max(0, min - pad) : min - pad;
  const high = max + pad;
  return integral
    ? { type: "int", min: Math.floor(low), max: Math.ceil(high), step: 1, log: false }
    : { type: "float", min: low, max: high, step: null, log: false };
}

export function inferSearchSpace(arms: readonly { params: ParamConfig }[]): SearchSpace {
  const values = new Map<string, JsonValue[]>();
  for (const arm of arms) {
    for (const [key, value] of Object.entries(arm.params)) {
      const list = values.get(key) ?? [];
      list.push(value);
      values.set(key, list);
    }
  }
  const space: SearchSpace = {};
  for (const [key, list] of values) {
    if (list.every((v) => typeof v === "number" && Number.isFinite(v))) space[key] = numericRange(list as number[]);
    else {
      const distinct = new Map(list.map((v) => [canonicalJson(v), v]));
      space[key] = { type: "categorical", values: [...distinct.values()] };
    }
  }
  return space;
}

export interface EvolveOptions {
  topN?: number;
  /** How many templates to make (default topN). */
  count?: number;
  searchSpace?: SearchSpace;
  mutationRate?: number;
  seed?: number;
}

export function evolveArms(arms: readonly EvolvableArm[], options: EvolveOptions = {}): ArmTemplate[] {
  if (arms.length === 0) return [];
  const topN = Math.max(1, options.topN ?? 3);
  const top = [...arms].sort((a, b) => (b.mean_estimate ?? 0) - (a.mean_estimate ?? 0)).slice(0, topN);
  const space = options.searchSpace ?? inferSearchSpace(arms);
  const rng = Rng.fromSeed(options.seed ?? Math.floor(Math.random() * 2 ** 31));
  const known = new Set(arms.map((a) => hashConfig(a.params)));
  const out: ArmTemplate[] = [];
  const count = options.count ?? topN;
  for (let attempt = 0; out.length < count && attempt < count * 20; attempt++) {
    const a = rng.pick(top);
    const b = rng.pick(top);
    const child = mutateConfig(space, crossoverConfigs(space, a.params, b.params, rng), options.mutationRate ?? 0.3, rng);
    const hash = hashConfig(child);
    if (known.has(hash)) continue;
    known.add(hash);
    const parents = a.arm_id === b.arm_id ? a.arm_id : `${a.arm_id} and ${b.arm_id}`;
    out.push({
      arm_id: `evolved_${hash.slice(0, 8)}`,
      name: `Evolved from ${parents}`,
      params: child,
      description: `crossover and mutation of ${parents}`,
    });
  }
  return out;
}
