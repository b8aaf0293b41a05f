import type { JsonValue } from "../../json.js";
import { hashConfig } from "../../search/hash.js";
import { type ParamConfig, sampleConfig } from "../../search/space.js";
import type { ProposalSteps, ProposeContext, Sampler } from "./sampler.js";

/** Independent uniform draws (log-uniform on log scales), avoiding configs already tried when it can. */
export const randomSampler: Sampler = {
  name: "random",
  *propose(context: ProposeContext, state: JsonValue): ProposalSteps {
    const configs: ParamConfig[] = [];
    const taken = new Set<string>();
    while (configs.length < context.size) {
      let config = sampleConfig(context.space, context.rng);
      for (let i = 0; i < 10 && (taken.has(hashConfig(config)) || context.isKnown(config)); i++) {
        config = sampleConfig(context.space, context.rng);
      }
      taken.add(hashConfig(config));
      configs.push(config);
      yield;
    }
    return { configs, state };
  },
};
