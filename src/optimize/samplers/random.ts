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
    if (context.generation === 0) {
      // Warm-start configs not yet proposed (a generation proposed a batch at a time asks here more than once).
      for (const config of pendingInitialConfigs(context).slice(0, context.size)) {
        configs.push(config);
        taken.add(hashConfig(config));
      }
    }
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

/** The warm-start configs not proposed yet, in their order. */
export function pendingInitialConfigs(context: ProposeContext): ParamConfig[] {
  return context.settings.initialConfigs.filter((config) => !context.isKnown(config));
}
