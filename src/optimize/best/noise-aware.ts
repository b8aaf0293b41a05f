import type { JsonValue } from "../../json.js";
import { type KernelSettings, noiseAwareBest } from "../noise-aware-best.js";
import { caseVariance, effectiveObservations } from "../racing.js";
import type { Trial } from "../samplers/sampler.js";
import type { BestSelector } from "./selector.js";

/**
 * The best by noise-aware-best.ts over every config scored so far, reported with its measured full score. Its
 * state is the kernel's settings, reused by the next generations' fits (noise-aware-best.ts, SEARCH_EVERY).
 */
export const noiseAwareBestSelector: BestSelector = {
  name: "noise_aware",
  choose(context) {
    const latest = new Map<string, Trial>();
    const firstGeneration = new Map<string, number>();
    for (const t of context.trials) {
      latest.set(t.hash, t);
      if (!firstGeneration.has(t.hash)) firstGeneration.set(t.hash, t.generation);
    }
    const scored = [...latest.values()].map((t) => ({
      hash: t.hash,
      config: context.config(t.hash),
      score: t.fitness,
      observed: effectiveObservations(context.scores(t.hash), context.testCases),
      complete: t.complete,
    }));
    const previous = context.state as KernelSettings | null;
    const { hash, kernel } = noiseAwareBest(context.space, scored, caseVariance(context.residuals), previous, context.generation);
    const state = kernel as JsonValue;
    const score = hash === null ? null : context.fullScore(hash);
    if (hash === null || score === null) return { best: null, state };
    return { best: { hash, score, generation: firstGeneration.get(hash) ?? context.generation }, state };
  },
};
