import type { JsonValue } from "../../json.js";
import { cmaesSampler } from "./cmaes.js";
import type { ProposalSteps, ProposeContext, Sampler } from "./sampler.js";
import { tpeSampler } from "./tpe.js";

interface AutoState {
  tpe: JsonValue;
  cmaes: JsonValue;
}

const SWITCH = 50;

export const autoSampler: Sampler = {
  name: "auto",
  *propose(context: ProposeContext, state: JsonValue): ProposalSteps {
    const prior = (state ?? { tpe: null, cmaes: null }) as unknown as AutoState;
    const numeric = Object.values(context.space).filter((p) => p.type !== "categorical").length;
    const categorical = Object.keys(context.space).length - numeric;
    const scored = new Set(context.trials.map((t) => t.hash)).size;
    const useCma = numeric >= 2 && categorical <= numeric / 2 && scored >= SWITCH;
    if (useCma) {
      const out = yield* cmaesSampler.propose(context, prior.cmaes);
      return { configs: out.configs, state: { tpe: prior.tpe, cmaes: out.state } };
    }
    const out = yield* tpeSampler.propose(context, prior.tpe);
    return { configs: out.configs, state: { tpe: out.state, cmaes: prior.cmaes } };
  },
};
