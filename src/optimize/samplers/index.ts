import type { Algorithm } from "../../config/schema.js";
import { evolutionSampler } from "./evolution.js";
import { randomSampler } from "./random.js";
import type { Sampler } from "./sampler.js";
import { tpeSampler } from "./tpe.js";

/** mab_evolution proposes like evolution; it differs in how the study allocates test cases (racing). */
export const SAMPLERS: Record<Algorithm, Sampler> = {
  mab_evolution: evolutionSampler,
  evolution: evolutionSampler,
  random: randomSampler,
  tpe: tpeSampler,
};

export type { ProposeContext, Sampler, Trial } from "./sampler.js";
