import { describe, expect, it } from "vitest";
import { betaInterval, betaSample, gammaSample } from "../../src/bandit/beta.js";
import { probabilityOfHighestSample, probabilityOfHighestValue } from "../../src/bandit/beta-cdf.js";
import { evolveArms, inferSearchSpace } from "../../src/bandit/evolve.js";
import { RewardEvaluatorSchema, rewardFromSignals } from "../../src/bandit/reward.js";
import {
  leaderVarianceFloor,
  ProbabilityMemo,
  probabilityBest,
  type SelectableArm,
  type SelectionOptions,
  SelectionStrategySchema,
  selectArm,
  selectionProbability,
} from "../../src/bandit/thompson.js";
import { bayesianUpdate } from "../../src/bandit/update.js";
import { Rng } from "../../src/search/rng.js";

const uniform = Rng.uniform;

function moments(xs: number[]) {
  const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
  const variance = xs.reduce((a, x) => a + (x - mean) ** 2, 0) / (xs.length - 1);
  return { mean, variance };
}

/** Kolmogorov-Smirnov distance between samples and a CDF. */
function ks(samples: number[], cdf: (x: number) => number): number {
  const sorted = [...samples].sort((a, b) => a - b);
  let d = 0;
  sorted.forEach((x, i) => {
    const f = cdf(x);
    d = Math.max(d, Math.abs(f - i / sorted.length), Math.abs(f - (i + 1) / sorted.length));
  });
  return d;
}

describe("Beta sampling (Marsaglia-Tsang)", () => {
  it.each([
    [2, 5],
    [0.5, 0.5],
    [30, 10],
    [1, 1],
    [0.2, 3],
  ])("Beta(%d, %d) has the right mean and variance", (a, b) => {
    const random = uniform(a * 100 + b);
    const xs = Array.from({ length: 20000 }, () => betaSample(a, b, random));
    const { mean, variance } = moments(xs);
    const expectedMean = a / (a + b);
    const expectedVar = (a * b) / ((a + b) ** 2 * (a + b + 1));
    // 20,000 draws: the standard error of the mean is sqrt(var / n).
    expect(Math.abs(mean - expectedMean)).toBeLessThan(5 * Math.sqrt(expectedVar / 20000));
    expect(variance / expectedVar).toBeGreaterThan(0.93);
    expect(variance / expectedVar).toBeLessThan(1.07);
    for (const x of xs) expect(x >= 0 && x <= 1).toBe(true);
  });

  it("passes a Kolmogorov-Smirnov test against the exact CDFs it can be checked with", () => {
    // Beta(1, 1) is uniform; Beta(2, 1) has CDF x^2; Beta(1, 3) has CDF 1 - (1 - x)^3.
    const random = uniform(11);
    const n = 10000;
    const critical = 1.63 / Math.sqrt(n); // 1% level
    expect(
      ks(
        Array.from({ length: n }, () => betaSample(1, 1, random)),
        (x) => x,
      ),
    ).toBeLessThan(critical);
    expect(
      ks(
        Array.from({ length: n }, () => betaSample(2, 1, random)),
        (x) => x * x,
      ),
    ).toBeLessThan(critical);
    expect(
      ks(
        Array.from({ length: n }, () => betaSample(1, 3, random)),
        (x) => 1 - (1 - x) ** 3,
      ),
    ).toBeLessThan(critical);
  });

  it("draws Gamma(k) with mean and variance k, for shapes below and above 1", () => {
    for (const k of [0.3, 1, 4.5]) {
      const random = uniform(k * 10);
      const { mean, variance } = moments(Array.from({ length: 20000 }, () => gammaSample(k, random)));
      expect(mean).toBeCloseTo(k, 1);
      expect(variance / k).toBeGreaterThan(0.9);
      expect(variance / k).toBeLessThan(1.1);
    }
    expect(() => gammaSample(0)).toThrow(/positive/);
  });
});

describe("the Bayesian update", () => {
  it("adds r to alpha and 1 - r to beta for binary rewards (the seed's update), with the mean, average and 95% interval", () => {
    let arm = { alpha: 1, beta: 1, total_pulls: 0, total_reward: 0, metadata: {} as Record<string, unknown> };
    for (const r of [1, 0, 1, 1]) {
      const u = bayesianUpdate(arm, r);
      arm = { ...u, metadata: { learning: u.learning } };
    }
    expect(arm).toMatchObject({ alpha: 4, beta: 2, total_pulls: 4, total_reward: 3 });
    const u = bayesianUpdate({ alpha: 1, beta: 1, total_pulls: 0, total_reward: 0 }, 1);
    expect(u.mean_estimate).toBeCloseTo(2 / 3);
    const sd = Math.sqrt((2 * 1) / (3 * 3 * 4));
    expect(u.confidence_interval.lower).toBeCloseTo(2 / 3 - 1.96 * sd);
    expect(betaInterval(1000, 1)).toMatchObject({ upper: 1 });
  });

  it("counts fractional rewards that barely vary as several trials each, so the posterior narrows faster", () => {
    let arm = { alpha: 1, beta: 1, total_pulls: 0, total_reward: 0, metadata: {} as Record<string, unknown> };
    const rewards = Array.from({ length: 40 }, (_, i) => 0.6 + (i % 2 === 0 ? 0.05 : -0.05));
    for (const r of rewards) {
      const u = bayesianUpdate(arm, r);
      arm = { ...u, metadata: { learning: u.learning } };
    }
    // The seed's update would give alpha + beta = 42; these rewards (0.6 ± 0.05) are worth far more.
    expect(arm.alpha + arm.beta).toBeGreaterThan(42 * 10);
    expect(arm.alpha / (arm.alpha + arm.beta)).toBeCloseTo(0.6, 2);
    expect(arm.total_pulls).toBe(40);
  });

  it("discounts old evidence toward the prior when asked", () => {
    const arm = { alpha: 51, beta: 11, total_pulls: 60, total_reward: 50 };
    const u = bayesianUpdate(arm, 0, { decay: 0.9, window: null });
    expect(u.alpha).toBeCloseTo(1 + 0.9 * 50);
    expect(u.beta).toBeCloseTo(1 + 0.9 * 10 + 1);
    expect(u.total_pulls).toBe(61);
  });
});

describe("Thompson selection", () => {
  const arm = (arm_id: string, alpha: number, beta: number, total_pulls = 0): SelectableArm => ({
    arm_id,
    alpha,
    beta,
    total_pulls,
    mean_estimate: total_pulls ? alpha / (alpha + beta) : null,
  });

  it("picks arms in proportion to their probability of being best, and says so", () => {
    const arms = [arm("a", 30, 70, 98), arm("b", 60, 40, 98), arm("c", 2, 2, 2)];
    const random = uniform(3);
    const picks = new Map<string, number>();
    let reported = 0;
    for (let i = 0; i < 3000; i++) {
      const r = selectArm(arms, { strategy: null, trafficFloor: 0, random });
      const id = (arms[r.index] as SelectableArm).arm_id;
      picks.set(id, (picks.get(id) ?? 0) + 1);
      if ((arms[r.index] as SelectableArm).arm_id === "b") reported = r.probability;
    }
    const pBest = probabilityBest(arms, 20000, uniform(4));
    expect((picks.get("b") ?? 0) / 3000).toBeCloseTo(pBest[1] as number, 1);
    expect(reported).toBeCloseTo(pBest[1] as number, 1);
    expect(pBest.reduce((a, b) => a + b, 0)).toBeCloseTo(1);
  });

  it("adds the exploration bonus to arms with few pulls", () => {
    const strategy = SelectionStrategySchema.parse({ exploration_bonus: 1, exploration_min_pulls: 5, use_stability: false });
    const arms = [arm("old", 90, 10, 100), arm("new", 1, 1, 0)];
    const r = selectArm(arms, { strategy, trafficFloor: 0, random: uniform(5) });
    // The bonus caps the new arm's sample at 1: it always wins.
    expect(r.index).toBe(1);
    expect(r.samples[1]).toBe(1);
  });

  it("keeps a stable, well-known best arm against a challenger that is not better by the threshold", () => {
    const strategy = SelectionStrategySchema.parse({
      stability_confidence_threshold: 0.2,
      stability_improvement_threshold: 0.1,
      stability_min_pulls: 10,
    });
    const arms = [arm("stable", 700, 300, 1000), arm("challenger", 2, 1, 1)];
    const random = uniform(6);
    for (let i = 0; i < 200; i++) expect(selectArm(arms, { strategy, trafficFloor: 0, random }).index).toBe(0);
  });

  it("gives every arm at least the traffic floor", () => {
    const arms = [arm("a", 500, 10, 510), arm("b", 10, 500, 510), arm("c", 10, 500, 510)];
    const random = uniform(7);
    const counts = [0, 0, 0];
    let low = 1;
    for (let i = 0; i < 6000; i++) {
      const r = selectArm(arms, { strategy: null, trafficFloor: 0.1, random });
      counts[r.index] = (counts[r.index] as number) + 1;
      if (r.index !== 0) low = Math.min(low, r.probability);
    }
    expect((counts[1] as number) / 6000).toBeGreaterThan(0.085);
    expect((counts[2] as number) / 6000).toBeGreaterThan(0.085);
    expect(low).toBeGreaterThanOrEqual(0.1);
  });
});

describe("selection probabilities", () => {
  const arm = (arm_id: string, alpha: number, beta: number, total_pulls: number): SelectableArm => ({
    arm_id,
    alpha,
    beta,
    total_pulls,
    mean_estimate: total_pulls ? alpha / (alpha + beta) : null,
  });

  /** The rule's choice frequencies by simulation, to check the exact figures against. */
  function simulate(
    arms: SelectableArm[],
    strategy: ReturnType<typeof SelectionStrategySchema.parse> | null,
    draws: number,
    seed: number,
  ): number[] {
    const random = uniform(seed);
    const counts = arms.map(() => 0);
    for (let i = 0; i < draws; i++) {
      const r = selectArm(arms, { strategy, trafficFloor: 0, random });
      counts[r.index] = (counts[r.index] as number) + 1;
    }
    return counts.map((c) => c / draws);
  }

  /** What the policy chose over `draws` selects, and the probability it reported for each arm it chose. */
  function observe(arms: SelectableArm[], options: Omit<SelectionOptions, "random">, draws: number, seed: number) {
    const random = uniform(seed);
    const counts = arms.map(() => 0);
    const reported = arms.map(() => Number.NaN);
    for (let i = 0; i < draws; i++) {
      const r = selectArm(arms, { ...options, random });
      counts[r.index] = (counts[r.index] as number) + 1;
      reported[r.index] = r.probability;
    }
    return { frequencies: counts.map((c) => c / draws), reported };
  }

  const exactAll = (arms: SelectableArm[], strategy: ReturnType<typeof SelectionStrategySchema.parse> | null) => {
    // selectArm reports the probability of the arm it picked: collect one report per arm.
    const reported = arms.map(() => Number.NaN);
    const random = uniform(99);
    for (let i = 0; i < 4000 && reported.some(Number.isNaN); i++) {
      const r = selectArm(arms, { strategy, trafficFloor: 0, random });
      reported[r.index] = r.probability;
    }
    return reported;
  };

  it("are exact with the exploration bonus, including its point mass at 1, and never 0 for a chosen arm", () => {
    const strategy = SelectionStrategySchema.parse({ exploration_bonus: 0.3, exploration_min_pulls: 5, use_stability: false });
    const arms = [arm("a", 25, 75, 98), arm("b", 1, 1, 0), arm("c", 2, 3, 3)];
    const contenders = arms.map((a) => ({ alpha: a.alpha, beta: a.beta, boosted: a.total_pulls < 5 }));
    const exact = arms.map((_, i) => probabilityOfHighestValue(contenders, i, 0.3));
    const simulated = simulate(arms, strategy, 60000, 5);
    exact.forEach((p, i) => {
      expect(p).toBeGreaterThan(0);
      expect(Math.abs(p - (simulated[i] as number))).toBeLessThan(0.01);
    });
    expect(exact.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 6);
    // What selectArm records for the arm it picks is that exact figure.
    const reported = exactAll(arms, strategy);
    reported.forEach((p, i) => {
      if (!Number.isNaN(p)) expect(p).toBeCloseTo(exact[i] as number, 9);
    });
  });

  it("are exact under the stability rule", () => {
    const strategy = SelectionStrategySchema.parse({
      stability_confidence_threshold: 0.2,
      stability_improvement_threshold: 0.05,
      stability_min_pulls: 10,
    });
    const arms = [arm("kept", 300, 200, 500), arm("strong", 7, 3, 8), arm("weak", 5, 5, 8)];
    const simulated = simulate(arms, strategy, 60000, 6);
    const exact = exactAll(arms, strategy);
    exact.forEach((p, i) => {
      if (Number.isNaN(p)) expect(simulated[i]).toBe(0);
      else expect(Math.abs(p - (simulated[i] as number))).toBeLessThan(0.01);
    });
  });

  it("are exact for top-two sampling, which plays the leader with probability beta and a challenger otherwise", () => {
    const arms = [arm("a", 30, 20, 48), arm("b", 12, 10, 20), arm("c", 5, 10, 13)];
    const draws = 60000;
    const { frequencies, reported } = observe(
      arms,
      { strategy: null, trafficFloor: 0, topTwo: 0.5, memo: new ProbabilityMemo() },
      draws,
      21,
    );
    const plain = simulate(arms, null, draws, 22);
    reported.forEach((p, i) => {
      expect(Math.abs(p - (frequencies[i] as number))).toBeLessThan(0.01);
    });
    expect(reported.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 6);
    // The leader is played less than under plain Thompson sampling, the runner-up more.
    expect(frequencies[0] as number).toBeLessThan((plain[0] as number) - 0.1);
    expect(frequencies[1] as number).toBeGreaterThan((plain[1] as number) + 0.05);
  });

  it("stay exact for top-two sampling when the leader is almost surely best", () => {
    const arms = [arm("a", 3000, 2000, 4998), arm("b", 250, 250, 498), arm("c", 240, 260, 498)];
    const { frequencies, reported } = observe(
      arms,
      { strategy: null, trafficFloor: 0, topTwo: 0.5, memo: new ProbabilityMemo() },
      20000,
      8,
    );
    reported.forEach((p, i) => {
      expect(Math.abs(p - (frequencies[i] as number))).toBeLessThan(0.012);
    });
  });

  it("give an arm that started with an unlucky streak a real chance again with the leader's variance floor", () => {
    // bench:bandit's locked run: the best arm (truly 0.3) at 5 of 56 after a streak, the leader at 0.254.
    const arms = [arm("unlucky", 6, 51, 56), arm("leader", 2430, 7128, 9556), arm("third", 77, 313, 388)];
    const plain = selectionProbability(arms, { strategy: null, trafficFloor: 0 }, 0);
    const floored = selectionProbability(arms, { strategy: null, trafficFloor: 0, leaderVarianceFloor: true }, 0);
    // About 1 select in 560 without the floor, 1 in 57 with it: the streak is questioned ten times as often.
    expect(plain).toBeLessThan(0.002);
    expect(floored).toBeGreaterThan(8 * plain);
    // Arms at least as variable as the leader are sampled as they are; the leader itself too.
    const close = [arm("x", 60, 40, 98), arm("y", 45, 55, 98)];
    expect(leaderVarianceFloor(close)).toEqual(close);
    const widened = leaderVarianceFloor(arms);
    expect(widened[1]).toEqual(arms[1]);
    expect((widened[0] as SelectableArm).alpha / ((widened[0] as SelectableArm).alpha + (widened[0] as SelectableArm).beta)).toBeCloseTo(
      6 / 57,
      12,
    );
  });

  it("stay accurate for a Beta with a shape below 1, whose chances lie at its edge", () => {
    // Beta(0.0216, 4.31) beats Beta(3, 1) about 3 times in 10,000 draws, nearly all from samples close to 1.
    const contenders = [
      { alpha: 3, beta: 1, boosted: false },
      { alpha: 0.0216, beta: 4.31, boosted: false },
    ];
    const exact = contenders.map((_, i) => probabilityOfHighestValue(contenders, i));
    expect(exact.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 6);
    const random = uniform(17);
    let wins = 0;
    const draws = 400_000;
    for (let i = 0; i < draws; i++) {
      const values = contenders.map((c) => betaSample(c.alpha, c.beta, random));
      if (values.indexOf(Math.max(...values)) === 1) wins++;
    }
    expect(wins).toBeGreaterThan(60);
    expect(Math.abs((exact[1] as number) - wins / draws)).toBeLessThan(0.25 * (wins / draws));
  });

  it("stay accurate beside a very concentrated arm", () => {
    const arms = [arm("new", 1, 1, 0), arm("sure", 70000, 30000, 100000)];
    const p0 = probabilityOfHighestSample(arms, 0);
    const p1 = probabilityOfHighestSample(arms, 1);
    // P(Uniform > 0.7) = 0.3.
    expect(p0).toBeCloseTo(0.3, 3);
    expect(p0 + p1).toBeCloseTo(1, 3);
  });
});

describe("the reward evaluator", () => {
  it("weights the configured signals, normalizing each, counting a missing one as 0, as the seed does", () => {
    const config = RewardEvaluatorSchema.parse({ metrics: { clicked: { weight: 0.6 }, dwell: { weight: 0.4, normalize: false } } });
    expect(rewardFromSignals(config, { clicked: 1, dwell: 0.5, unrelated: 9 })).toBeCloseTo(0.8);
    expect(rewardFromSignals(config, { clicked: 5 })).toBeCloseTo(0.6);
    expect(rewardFromSignals(config, { other: 1 })).toBe(0);
    expect(rewardFromSignals(RewardEvaluatorSchema.parse({ metrics: { a: { weight: 0 } } }), { a: 1 })).toBe(0);
  });
});

describe("arm evolution", () => {
  const arms = [
    { arm_id: "a", params: { threshold: 0.3, limit: 5, mode: "fast" }, mean_estimate: 0.8 },
    { arm_id: "b", params: { threshold: 0.4, limit: 10, mode: "deep" }, mean_estimate: 0.6 },
    { arm_id: "c", params: { threshold: 0.2, limit: 8, mode: "fast" }, mean_estimate: 0.2 },
  ];

  it("infers the space from every arm, not just the first", () => {
    const space = inferSearchSpace(arms);
    expect(space.mode).toEqual({ type: "categorical", values: ["fast", "deep"] });
    expect(space.limit).toMatchObject({ type: "int" });
    expect(space.threshold).toMatchObject({ type: "float" });
    expect((space.threshold as { min: number }).min).toBeLessThan(0.2);
    expect((space.threshold as { max: number }).max).toBeGreaterThan(0.4);
  });

  it("breeds new templates from the top arms", () => {
    const templates = evolveArms(arms, { topN: 2, count: 4, seed: 1 });
    expect(templates).toHaveLength(4);
    for (const t of templates) {
      expect(t.arm_id).toMatch(/^evolved_[0-9a-f]{8}$/);
      expect(Object.keys(t.params).sort()).toEqual(["limit", "mode", "threshold"]);
      expect(arms.some((a) => JSON.stringify(a.params) === JSON.stringify(t.params))).toBe(false);
    }
    expect(evolveArms([], {})).toEqual([]);
  });
});

describe("a system's arms across users", () => {
  it("gives each arm its Beta posterior and P(best), exactly for a few arms and by draws for many", async () => {
    const { summarizeArms } = await import("../../src/runtime/summary.js");
    const arm = (i: number) => ({ arm_id: `a${i}`, params: { i } });
    const few = summarizeArms([arm(0), arm(1), arm(2)], new Map([["a1", { pulls: 12, rewarded: 10, reward_sum: 8 }]]));
    expect(few[1]).toMatchObject({ pulls: 12, alpha: 9, beta: 3, mean: 0.75 });
    expect(few[0]).toMatchObject({ pulls: 0, alpha: 1, beta: 1, mean: 0.5 });
    expect(few.reduce((sum, a) => sum + a.probability_best, 0)).toBeCloseTo(1, 3);
    expect(few[1]?.probability_best).toBeGreaterThan(few[0]?.probability_best as number);

    const arms = Array.from({ length: 100 }, (_, i) => arm(i));
    const tallies = new Map(arms.map((a, i) => [a.arm_id, { pulls: 1000, rewarded: 1000, reward_sum: i === 42 ? 700 : 500 }]));
    const many = summarizeArms(arms, tallies);
    expect(many.reduce((sum, a) => sum + a.probability_best, 0)).toBeCloseTo(1, 6);
    expect(many[42]?.probability_best).toBeGreaterThan(0.99);
  });
});
