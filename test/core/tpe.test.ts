import { describe, expect, it } from "vitest";
import { branin, llmMixed } from "../../bench/functions.js";
import { minimize } from "../../bench/optimize-function.js";
import { runOptimization } from "../../src/index.js";
import { proposeTpe } from "../../src/optimize/samplers/tpe.js";
import { median } from "../../src/optimize/stats.js";
import { hashConfig } from "../../src/search/hash.js";
import { Rng } from "../../src/search/rng.js";
import { sampleConfig } from "../../src/search/space.js";
import { mockConfig } from "../helpers/configs.js";
import { MIXED_SPACE } from "../helpers/spaces.js";

const SPACE = MIXED_SPACE;

describe("the TPE sampler", () => {
  it("proposes a batch of distinct new configs inside every parameter's domain", () => {
    const rng = Rng.fromSeed(3);
    const observations = Array.from({ length: 40 }, () => {
      const config = sampleConfig(SPACE, rng);
      return { config, score: -Math.abs((config.temperature as number) - 0.7) };
    });
    const tried = new Set(observations.map((o) => hashConfig(o.config)));
    const batch = proposeTpe(SPACE, observations, 20, Rng.fromSeed(4), (c) => tried.has(hashConfig(c)));
    expect(batch).toHaveLength(20);
    expect(new Set(batch.map(hashConfig)).size).toBe(20);
    for (const config of batch) {
      expect(tried.has(hashConfig(config))).toBe(false);
      expect(Object.keys(config)).toEqual(Object.keys(SPACE));
      expect(SPACE.model?.type === "categorical" && SPACE.model.values).toContainEqual(config.model);
      expect([128, 256, 512, 1024]).toContain(config.max_tokens);
      expect([1, 3, 5, 7, 9]).toContain(config.k);
      expect(Math.round((config.temperature as number) * 20) / 20).toBeCloseTo(config.temperature as number, 10);
      expect(config.learning_rate as number).toBeGreaterThanOrEqual(1e-5);
      expect(config.learning_rate as number).toBeLessThanOrEqual(1e-1);
    }
    // The model follows the evidence: the batch's temperatures gather near 0.7.
    const temperatures = batch.map((c) => c.temperature as number);
    expect(Math.abs(median(temperatures) - 0.7)).toBeLessThan(0.25);
  });

  it("finds Branin's minimum and llm_mixed's optimum with fewer evaluations than evolution (batches of 5, 5 seeds)", () => {
    for (const f of [branin, llmMixed]) {
      const best = (algorithm: "tpe" | "evolution") =>
        median(
          [1, 2, 3, 4, 5].map(
            (seed) => minimize(f.space, (c) => f.value(c), { algorithm, budget: 120, seed, populationSize: 5 }).at(-1) as number,
          ),
        );
      expect(best("tpe")).toBeLessThan(best("evolution"));
    }
    const branin120 = median(
      [1, 2, 3, 4, 5].map(
        (seed) => minimize(branin.space, branin.value, { algorithm: "tpe", budget: 120, seed, populationSize: 5 }).at(-1) as number,
      ),
    );
    expect(branin120).toBeLessThan(branin.minimum + 0.01);
  });

  it("runs a whole optimization, with racing over several test cases, and says it ran tpe", async () => {
    const run = async (algorithm: string) => {
      const result = await runOptimization({
        configDict: mockConfig({
          optimization: {
            algorithm,
            seed: 5,
            evolution: { population_size: 8, generations: 6 },
            execution: { early_stopping: { enabled: false } },
          },
          testCases: Array.from({ length: 6 }, (_, i) => ({ id: `c${i}`, input: { prompt: `question ${i}` } })),
        }),
      });
      if (!result.success) throw new Error(result.error);
      return result;
    };
    const result = await run("tpe");
    expect(result.algorithm).toBe("tpe");
    expect(result.generations_run).toBe(6);
    // Racing ends most candidates early; the calls it saves buy more candidates within the same budget.
    const random = await run("random");
    const candidates = (r: typeof result) => r.history.reduce((n, h) => n + h.candidates, 0);
    expect(result.target_calls).toBeLessThanOrEqual(8 * 6 * 6);
    expect(random.target_calls).toBe(8 * 6 * 6);
    expect(candidates(random)).toBe(8 * 6);
    expect(candidates(result)).toBeGreaterThan(1.5 * candidates(random));
    expect(result.best_score).toBeGreaterThanOrEqual(random.best_score);
  });
});
