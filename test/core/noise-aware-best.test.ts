import { describe, expect, it } from "vitest";
import { noiseAwareBest, type ScoredConfig } from "../../src/optimize/noise-aware-best.js";
import { Rng } from "../../src/search/rng.js";
import type { SearchSpace } from "../../src/search/space.js";

const space: SearchSpace = {
  temperature: { type: "float", min: 0, max: 1, step: null, log: false },
  model: { type: "categorical", values: ["a", "b"] },
};

/** A smooth truth, highest at temperature 0.7 with model "a"; 10 noisy test cases per config. */
function scoredConfigs(noise: number, seed: number): { scored: ScoredConfig[]; truth: (c: ScoredConfig) => number } {
  const rng = Rng.fromSeed(seed);
  const truthOf = (t: number, model: string) => 0.8 - 0.5 * (t - 0.7) ** 2 - (model === "a" ? 0 : 0.03);
  const scored: ScoredConfig[] = [];
  for (let i = 0; i < 120; i++) {
    const temperature = Math.round(rng.next() * 1000) / 1000;
    const model = i % 2 === 0 ? "a" : "b";
    const cases = Array.from({ length: 10 }, () => truthOf(temperature, model) + noise * rng.normal());
    scored.push({
      hash: `h${i}`,
      config: { temperature, model },
      score: cases.reduce((a, b) => a + b, 0) / cases.length,
      observed: 10,
      complete: true,
    });
  }
  return { scored, truth: (c) => truthOf(c.config.temperature as number, c.config.model as string) };
}

describe("the noise-aware best", () => {
  it("reports a config whose true score is closer to the optimum than the measured best's, over 30 noisy runs", () => {
    let closer = 0;
    let regretMeasured = 0;
    let regretAware = 0;
    for (let seed = 1; seed <= 30; seed++) {
      const { scored, truth } = scoredConfigs(0.1, seed);
      const measured = scored.reduce((a, b) => (b.score > a.score ? b : a));
      const chosen = noiseAwareBest(space, scored, 0.01).hash;
      const aware = scored.find((c) => c.hash === chosen) as ScoredConfig;
      regretMeasured += 0.8 - truth(measured);
      regretAware += 0.8 - truth(aware);
      if (truth(aware) >= truth(measured)) closer++;
    }
    expect(regretAware).toBeLessThan(0.25 * regretMeasured);
    expect(closer).toBeGreaterThanOrEqual(20);
  });

  it("keeps the measured best when scores are exact or nothing says how noisy they are", () => {
    const { scored } = scoredConfigs(0, 3);
    const measured = scored.reduce((a, b) => (b.score > a.score ? b : a));
    expect(noiseAwareBest(space, scored, 0).hash).toBe(measured.hash);
    expect(noiseAwareBest(space, [], 0.01).hash).toBeNull();
    const incomplete = scored.map((c) => ({ ...c, complete: c.hash !== measured.hash }));
    expect(noiseAwareBest(space, incomplete, 0).hash).not.toBe(measured.hash);
  });
});
