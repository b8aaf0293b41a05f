import { describe, expect, it } from "vitest";
import {
  type ArmPopulation,
  addUser,
  armPopulationOf,
  estimatedStrength,
  parsePopulation,
  pooledPrior,
  removeUser,
} from "../../src/bandit/pooling.js";
import { recordReward, storedLearning } from "../../src/bandit/posterior.js";
import { bayesianUpdate } from "../../src/bandit/update.js";
import { RuntimeManager } from "../../src/runtime/manager.js";
import { MemoryRuntimeStorage } from "../../src/runtime/memory-storage.js";
import { DecisionSchema, type RuntimeConfigInput, RuntimeConfigSchema, type RuntimeDecision } from "../../src/runtime/schema.js";
import type { RuntimeStorage } from "../../src/runtime/storage.js";
import { configureRuntime, runtimeGetDecision, runtimeSelect, runtimeUpdate } from "../../src/sdk/runtime.js";
import { Rng } from "../../src/search/rng.js";

const seeded = Rng.uniform;

function manager(config: RuntimeConfigInput, seed: number) {
  return new RuntimeManager("learning", RuntimeConfigSchema.parse(config), new MemoryRuntimeStorage(), { random: seeded(seed) });
}

/** One select and its Bernoulli reward; returns the arm chosen and the probability logged for it. */
async function round(m: RuntimeManager, userId: string, means: Record<string, number>, random: () => number) {
  const s = await m.select({ user_id: userId });
  await m.update({ user_id: userId, decision_id: s.decision_id as string, reward: random() < (means[s.arm_id] as number) ? 1 : 0 });
  return s;
}

const TWO = { default_arms: [{ arm_id: "a" }, { arm_id: "b" }] };

describe("drift", () => {
  /** Share of selects 150 to 250 after the best arm changed from a to b (at round 1,000) that chose b. */
  async function shareAfterChange(config: RuntimeConfigInput, seed: number): Promise<number> {
    const m = manager({ ...TWO, ...config }, seed);
    const rewards = seeded(seed + 1);
    let b = 0;
    for (let t = 0; t < 1250; t++) {
      const means = t < 1000 ? { a: 0.8, b: 0.3 } : { a: 0.3, b: 0.8 };
      const s = await round(m, "u", means, rewards);
      if (t >= 1150 && s.arm_id === "b") b++;
    }
    return b / 100;
  }

  it("recovers after the best arm changes with reward_decay or reward_window, and not without", async () => {
    const seeds = [1, 2, 3, 4];
    const mean = async (config: RuntimeConfigInput) => {
      const shares = await Promise.all(seeds.map((seed) => shareAfterChange(config, seed)));
      return shares.reduce((a, b) => a + b, 0) / shares.length;
    };
    const decayed = await mean({ reward_decay: 0.98 });
    const windowed = await mean({ reward_window: 100 });
    const stuck = await mean({});
    expect(decayed).toBeGreaterThan(0.85);
    expect(windowed).toBeGreaterThan(0.85);
    // Without drift, a thousand rewards of a's past keep it in play long after it got worse.
    expect(stuck).toBeLessThan(decayed - 0.2);
  });

  it("lets an arm left aside regain its uncertainty: the user's updates discount every arm", async () => {
    const m = manager({ ...TWO, reward_decay: 0.9 }, 9);
    const first = await m.select({ user_id: "u" });
    await m.update({ user_id: "u", decision_id: first.decision_id as string, reward: 1 });
    const before = (await m.arms({ userId: "u" })).find((a) => a.arm_id === first.arm_id);
    const other = first.arm_id === "a" ? "b" : "a";
    // Updates of the other arm only: the first arm's evidence shrinks toward the prior.
    for (let i = 0; i < 30; i++) {
      let s = await m.select({ user_id: "u" });
      while (s.arm_id !== other) {
        await m.update({ user_id: "u", decision_id: s.decision_id as string, reward: 0 });
        s = await m.select({ user_id: "u" });
      }
      await m.update({ user_id: "u", decision_id: s.decision_id as string, reward: 0 });
    }
    const after = (await m.arms({ userId: "u" })).find((a) => a.arm_id === first.arm_id);
    expect((before?.alpha as number) - 1).toBeGreaterThan(0.5);
    expect((after?.alpha as number) - 1).toBeLessThan(0.5 * ((before?.alpha as number) - 1));
  });
});

describe("pooled priors", () => {
  const THREE = { default_arms: [{ arm_id: "low" }, { arm_id: "mid" }, { arm_id: "high" }] };
  const MEANS = { low: 0.2, mid: 0.45, high: 0.7 };

  /** 80 users of 10 rounds each, then the first select of new users: how often they get the best arm. */
  async function newUsersBestShare(config: RuntimeConfigInput, means: (user: number) => Record<string, number>): Promise<number> {
    const m = manager({ ...THREE, ...config }, 4);
    const rewards = seeded(5);
    for (let user = 0; user < 80; user++) for (let t = 0; t < 10; t++) await round(m, `user${user}`, means(user), rewards);
    let best = 0;
    for (let user = 100; user < 300; user++) {
      const s = await m.select({ user_id: `user${user}` });
      const truth = means(user);
      if (truth[s.arm_id] === Math.max(...Object.values(truth))) best++;
    }
    return best / 200;
  }

  it("starts a new user from what works for everyone, in process with MemoryRuntimeStorage", async () => {
    const pooled = await newUsersBestShare({}, () => MEANS);
    const alone = await newUsersBestShare({ pooling: { enabled: false } }, () => MEANS);
    expect(pooled).toBeGreaterThan(0.8);
    expect(alone).toBeLessThan(0.5);
  });

  it("learns how much to trust the population: users who disagree get a weak prior", () => {
    const agreeing = Array.from({ length: 50 }, (_, u) => ({ n: 20, sum: 10 + (u % 3) - 1, sum_sq: 10 + (u % 3) - 1 }));
    const disagreeing = Array.from({ length: 50 }, (_, u) => ({ n: 20, sum: u % 2 === 0 ? 3 : 17, sum_sq: u % 2 === 0 ? 3 : 17 }));
    const populationOf = (users: typeof agreeing) =>
      users.reduce<ArmPopulation | undefined>((p, user) => addUser(p, user), undefined) as ArmPopulation;
    const strength = (users: typeof agreeing) => estimatedStrength(populationOf(users));
    expect(strength(agreeing)).toBeGreaterThan(100);
    expect(strength(disagreeing)).toBeLessThan(5);
    // Too few users: no pooled prior at all.
    expect(pooledPrior(populationOf(agreeing.slice(0, 3)), "auto")).toEqual({ alpha: 1, beta: 1 });
    // A fixed strength is used as given, never beyond the rewards the population has, and not before 5 users.
    const five = populationOf(Array.from({ length: 5 }, (_, u) => ({ n: 1, sum: u % 2, sum_sq: u % 2 })));
    expect(pooledPrior(five, 100)).toEqual({ alpha: 3, beta: 4 });
    expect(pooledPrior(populationOf(agreeing.slice(0, 4)), 10)).toEqual({ alpha: 1, beta: 1 });
    // A user's own rewards are left out of the population their prior comes from.
    const withOwn = addUser(five, { n: 20, sum: 20, sum_sq: 20 });
    expect(removeUser(withOwn, { n: 20, sum: 20, sum_sq: 20 })).toEqual(five);
    // A user with more rewards than the population knew (aggregated before them) leaves nothing: no prior.
    expect(pooledPrior(removeUser(five, { n: 9, sum: 9, sum_sq: 9 }), 20)).toEqual({ alpha: 1, beta: 1 });
  });
});

describe("evidence", () => {
  it("keeps what an arm learned before a window was set, until it falls out of the window", () => {
    const before = { alpha: 41, beta: 21, total_pulls: 60, total_reward: 40 };
    const drift = { decay: 1, window: 100 };
    const u = bayesianUpdate(before, 1, drift, 60);
    expect(u.alpha).toBeCloseTo(42);
    expect(u.beta).toBeCloseTo(21);
    // 100 updates later the old block is outside the window; the last reward is still in it.
    let learning = storedLearning({ ...u, metadata: { learning: u.learning } }, 61);
    for (let step = 61; step < 160; step++) learning = recordReward(learning, 0, step, drift);
    expect(learning.n).toBe(100);
    expect(learning.sum).toBe(1);
  });

  it("reads window entries stored as [step, reward] as one reward each", () => {
    const stored = {
      alpha: 41,
      beta: 1,
      metadata: { learning: { n: 40, sum: 40, sum_sq: 40, step: 40, recent: Array.from({ length: 40 }, (_, i) => [i + 1, 1]) } },
    };
    const learning = storedLearning(stored, 40);
    expect(learning.recent).toHaveLength(40);
    expect(recordReward(learning, 1, 40, { decay: 1, window: 50 })).toMatchObject({ n: 41, sum: 41 });
  });

  it("counts a placeholder reward (an update that reports nothing, a default reward) as one trial", async () => {
    const m = manager({ default_arms: [{ arm_id: "only" }] }, 3);
    for (let i = 0; i < 20; i++) {
      const s = await m.select({ user_id: "quiet" });
      await m.update({ user_id: "quiet", decision_id: s.decision_id as string });
    }
    const [arm] = await m.arms({ userId: "quiet" });
    // Twenty 0.5s reported by nobody: the seed's Beta(11, 11), not a certainty.
    expect(arm?.alpha).toBeCloseTo(11);
    expect(arm?.beta).toBeCloseTo(11);
  });
});

describe("population statistics as stored", () => {
  it("keep agent types and arms named like Object.prototype's members, and refuse other shapes", () => {
    const stats = { users: 9, n: 90, sum: 45, sum_sq: 45, user_sum_sq: 23, user_n_sq: 900 };
    const stored = JSON.parse(JSON.stringify({ computed_at: "t", agent_types: { ["__proto__"]: { constructor: stats } } }));
    const population = parsePopulation(stored);
    expect(armPopulationOf(population, "__proto__", "constructor")).toEqual(stats);
    expect(armPopulationOf(population, "default", "constructor")).toBeUndefined();
    expect(parsePopulation({ computed_at: "t", agent_types: { default: { a: { users: -1 } } } })).toBeNull();
    expect(parsePopulation("nonsense")).toBeNull();
  });
});

describe("what a decision logs", () => {
  it("records the posterior the policy sampled and each arm's pulls, without the arm's stored learning", async () => {
    const m = manager({ ...TWO, reward_window: 50 }, 12);
    const rewards = seeded(13);
    for (let t = 0; t < 30; t++) await round(m, "u", { a: 0.7, b: 0.2 }, rewards);
    const s = await m.select({ user_id: "u" });
    const arms = await m.arms({ userId: "u" });
    for (const state of s.arms_state) {
      const arm = arms.find((a) => a.arm_id === state.arm_id);
      expect(state).toMatchObject({ alpha: arm?.alpha, beta: arm?.beta, total_pulls: arm?.total_pulls });
      expect(state.metadata).not.toHaveProperty("learning");
    }
    expect(s.arms_state.reduce((n, a) => n + (a.total_pulls ?? 0), 0)).toBe(30);
  });
});

describe("a decision's times", () => {
  const ISO_8601 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

  it("are ISO 8601 from the SDK's runtime, as from the HTTP API, and the decision passes its own schema", async () => {
    await configureRuntime("times_in_process", { config: TWO, storage: new MemoryRuntimeStorage() });
    const selected = await runtimeSelect("times_in_process", { userId: "ann" });
    const decisionId = selected.decision_id as string;
    const open = await runtimeGetDecision("times_in_process", { userId: "ann", decisionId });
    expect(open?.created_at).toMatch(ISO_8601);
    expect(open?.rewarded_at).toBeNull();
    await runtimeUpdate("times_in_process", { userId: "ann", decisionId, reward: 1 });
    const rewarded = await runtimeGetDecision("times_in_process", { userId: "ann", decisionId });
    expect(rewarded?.rewarded_at).toMatch(ISO_8601);
    expect(DecisionSchema.safeParse(rewarded).success).toBe(true);
  });

  it("are ISO 8601 from an app's storage that keeps epoch milliseconds, as the seed's did", async () => {
    const memory = new MemoryRuntimeStorage();
    const epochs: RuntimeStorage = {
      getArms: (args) => memory.getArms(args),
      initializeArms: (args) => memory.initializeArms(args),
      createDecision: (args) => memory.createDecision(args),
      updatePerformance: (args) => memory.updatePerformance(args),
      async getDecision(args) {
        const decision = await memory.getDecision(args);
        return decision && ({ ...decision, created_at: 1_700_000_000_000, rewarded_at: null } as unknown as RuntimeDecision);
      },
    };
    const m = new RuntimeManager("epochs", RuntimeConfigSchema.parse(TWO), epochs, { random: seeded(3) });
    const selected = await m.select({ user_id: "u" });
    const decision = await m.getDecision({ userId: "u", decisionId: selected.decision_id as string });
    expect(decision?.created_at).toBe("2023-11-14T22:13:20.000Z");
  });
});

describe("runtime config for learning", () => {
  it("names what is wrong with drift, pooling and top-two settings", () => {
    const problems = (config: object) =>
      RuntimeConfigSchema.safeParse(config).error?.issues.map((i) => `${i.path.join(".")}: ${i.message}`) ?? [];
    expect(problems({ reward_window: 0 }).join()).toMatch(/reward_window/);
    expect(problems({ pooling: { prior_strength: "lots" } }).join()).toMatch(/pooling\.prior_strength/);
    expect(problems({ selection_policy: "top_two", selection_strategy: {} }).join()).toMatch(/use_stability/);
    expect(problems({ selection_policy: "top_two", top_two_beta: 1 }).join()).toMatch(/top_two_beta/);
    expect(problems({ selection_policy: "top_two", selection_strategy: { use_stability: false } })).toEqual([]);
  });
});
