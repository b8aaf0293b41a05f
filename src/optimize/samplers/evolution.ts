import type { JsonValue } from "../../json.js";
import { hashConfig } from "../../search/hash.js";
import { crossoverConfigs, mutateConfig, type ParamConfig } from "../../search/space.js";
import { makeNovel } from "./novelty.js";
import { randomSampler } from "./random.js";
import type { ProposalSteps, ProposeContext, Sampler, Trial } from "./sampler.js";

/**
 * The seed's genetic algorithm: elitism, tournament selection of size max(2, N/4), uniform crossover with
 * probability crossover_rate, otherwise per-parameter mutation with probability mutation_rate (Gaussian steps
 * of 10% of the range for numbers). Elites keep their cached scores, so they cost no new calls.
 */
export const evolutionSampler: Sampler = {
  name: "evolution",
  *propose(context: ProposeContext, state: JsonValue): ProposalSteps {
    const parents = context.trials.filter((t) => t.generation === context.generation - 1);
    if (context.generation === 0 || parents.length === 0) return yield* randomSampler.propose(context, state);

    const { settings, space, rng } = context;
    // Stable sort: among equal scores the earlier member wins, as in the seed.
    const ranked = [...parents].sort((a, b) => b.fitness - a.fitness);
    const tournamentSize = Math.max(2, Math.floor(settings.populationSize / 4));
    const tournament = (): Trial => {
      const entrants = rng.sample(ranked, tournamentSize);
      return entrants.reduce((best, t) => (t.fitness > best.fitness ? t : best));
    };

    const next: ParamConfig[] = [];
    const taken = new Set<string>();
    for (const elite of uniqueByHash(ranked).slice(0, settings.eliteSize)) {
      next.push(context.configOf(elite.hash));
      taken.add(elite.hash);
    }
    while (next.length < context.size) {
      let child: ParamConfig;
      if (ranked.length > 1 && rng.next() < settings.crossoverRate) {
        child = crossoverConfigs(space, context.configOf(tournament().hash), context.configOf(tournament().hash), rng);
      } else {
        child = mutateConfig(space, context.configOf(tournament().hash), settings.mutationRate, rng);
      }
      child = makeNovel(child, space, taken, context);
      taken.add(hashConfig(child));
      next.push(child);
      yield;
    }
    return { configs: next, state };
  },
};

function uniqueByHash(trials: readonly Trial[]): Trial[] {
  const seen = new Set<string>();
  return trials.filter((t) => {
    if (seen.has(t.hash)) return false;
    seen.add(t.hash);
    return true;
  });
}
