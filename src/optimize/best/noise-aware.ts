import type { JsonValue } from "../../json.js";
import { type KernelSettings, noiseAwareBest } from "../noise-aware-best.js";
import { scoreOf } from "../racing.js";
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
    const scored = [...latest.values()].map((t) => {
      const scores = context.scores(t.hash);
      const weights = context.testCases.filter((c) => scoreOf(scores, c.id) !== undefined).map((c) => c.weight);
      const sum = weights.reduce((a, w) => a + w, 0);
      const squares = weights.reduce((a, w) => a + w * w, 0);
      return {
        hash: t.hash,
        config: context.config(t.hash),
        score: t.fitness,
        observed: squares > 0 ? (sum * sum) / squares : 0,
        complete: t.complete,
      };
    });
    const { sumSq, dof } = context.residuals;
    // Paired differences carry the noise of two configs: half their variance is one config's.
    const previous = context.state as KernelSettings | null;
    const { hash, kernel } = noiseAwareBest(context.space, scored, dof >= 2 ? sumSq / dof / 2 : 0, previous, context.generation);
    const state = kernel as JsonValue;
    const score = hash === null ? null : context.fullScore(hash);
    if (hash === null || score === null) return { best: null, state };
    return { best: { hash, score, generation: firstGeneration.get(hash) ?? context.generation }, state };
  },
};
