import { describe, expect, it } from "vitest";
import {
  configureRuntime,
  MemoryRuntimeStorage,
  type RuntimeStorage,
  runtimeArms,
  runtimeEvolveArms,
  runtimeGetDecision,
  runtimeSelect,
  runtimeUpdate,
} from "../../src/index.js";
import { Rng } from "../../src/search/rng.js";

const THREE = {
  default_arms: [
    { arm_id: "low", params: { rate: 0.3 } },
    { arm_id: "mid", params: { rate: 0.5 } },
    { arm_id: "high", params: { rate: 0.7 } },
  ],
};

/** A storage whose every call waits a little (0-3 ms, seeded): an unserialized manager would interleave and lose updates. */
class SlowStorage extends MemoryRuntimeStorage {
  private readonly delay = Rng.uniform(13);
  private pause = () => new Promise((resolve) => setTimeout(resolve, this.delay() * 3));
  override async getArms(args: Parameters<RuntimeStorage["getArms"]>[0]) {
    await this.pause();
    return super.getArms(args);
  }
  override async updatePerformance(args: Parameters<RuntimeStorage["updatePerformance"]>[0]) {
    await this.pause();
    return super.updatePerformance(args);
  }
}

describe("the runtime SDK", () => {
  /** `rounds` rounds for one user with true rates 0.3 / 0.5 / 0.7, rewards drawn from `rewardSeed`: the arms chosen. */
  async function play(system: string, rewardSeed: number, rounds = 2000): Promise<string[]> {
    const rates: Record<string, number> = { low: 0.3, mid: 0.5, high: 0.7 };
    const rewards = Rng.uniform(rewardSeed);
    const chosen: string[] = [];
    for (let i = 0; i < rounds; i++) {
      const s = await runtimeSelect(system, { userId: "u" });
      chosen.push(s.arm_id);
      await runtimeUpdate(system, {
        userId: "u",
        decisionId: s.decision_id as string,
        reward: rewards() < (rates[s.arm_id] as number) ? 1 : 0,
      });
    }
    return chosen;
  }

  it("converges on the best arm in process", async () => {
    await configureRuntime("sdk_learn", { config: THREE, storage: new MemoryRuntimeStorage(), seed: 1 });
    const chosen = await play("sdk_learn", 2);
    expect(chosen.slice(1000).filter((arm) => arm === "high").length).toBeGreaterThanOrEqual(800);
  });

  it("chooses the same arms again with the same seed, and refuses a seed that is not an integer", async () => {
    await configureRuntime("sdk_seeded_a", { config: THREE, storage: new MemoryRuntimeStorage(), seed: 5 });
    await configureRuntime("sdk_seeded_b", { config: THREE, storage: new MemoryRuntimeStorage(), seed: 5 });
    const [a, b] = [await play("sdk_seeded_a", 6, 300), await play("sdk_seeded_b", 6, 300)];
    expect(new Set(a).size).toBeGreaterThan(1);
    expect(b).toEqual(a);
    await expect(configureRuntime("sdk_seeded_c", { config: THREE, storage: new MemoryRuntimeStorage(), seed: 0.5 })).rejects.toThrow(
      "configureRuntime's seed must be an integer, got 0.5",
    );
  });

  it("loses no update when many arrive at once", async () => {
    await configureRuntime("sdk_busy", { config: THREE, storage: new SlowStorage() });
    const decisions = await Promise.all(
      Array.from({ length: 60 }, (_, i) => runtimeSelect("sdk_busy", { userId: `u${i % 3}` }).then((s) => ({ ...s, user: `u${i % 3}` }))),
    );
    await Promise.all(
      decisions.map((d) => runtimeUpdate("sdk_busy", { userId: d.user, decisionId: d.decision_id as string, reward: 0.5 })),
    );
    for (const user of ["u0", "u1", "u2"]) {
      const arms = await runtimeArms("sdk_busy", { userId: user });
      expect(arms.reduce((sum, a) => sum + a.total_pulls, 0)).toBe(20);
      expect(arms.reduce((sum, a) => sum + a.total_reward, 0)).toBeCloseTo(10);
    }
  });

  it("rewards a decision once, refuses another user's, and names a bad reward", async () => {
    await configureRuntime("sdk_rules", { config: THREE, storage: new MemoryRuntimeStorage() });
    const s = await runtimeSelect("sdk_rules", { userId: "ann", context: { page: "home" } });
    const id = s.decision_id as string;
    expect(await runtimeUpdate("sdk_rules", { userId: "bob", decisionId: id, reward: 1 })).toMatchObject({
      success: false,
      code: "decision_of_another_user",
    });
    expect(await runtimeUpdate("sdk_rules", { userId: "ann", decisionId: id, reward: 1.2 })).toMatchObject({
      success: false,
      code: "invalid_score",
      error: "reward must be a number in [0, 1], got 1.2",
    });
    expect(await runtimeUpdate("sdk_rules", { userId: "ann", decisionId: "nope", reward: 1 })).toMatchObject({
      success: false,
      code: "decision_not_found",
      error: 'Decision "nope" not found or missing arm_id',
    });
    // An empty id is named as such, not as a double space.
    expect(await runtimeUpdate("sdk_rules", { userId: "ann", decisionId: "", reward: 1 })).toMatchObject({
      success: false,
      error: expect.stringContaining('Decision "" not found'),
    });
    const first = await runtimeUpdate("sdk_rules", { userId: "ann", decisionId: id, reward: 0.9 });
    expect(first).toMatchObject({ success: true, duplicate: false, reward: 0.9, computed_update: { total_pulls: 1, total_reward: 0.9 } });
    // A fractional reward moves the posterior at least as far as the seed's alpha += 0.9 would.
    expect(first.computed_update?.alpha).toBeGreaterThanOrEqual(1.9);
    expect(first.computed_update?.mean_estimate).toBeGreaterThan(0.6);
    expect(await runtimeUpdate("sdk_rules", { userId: "ann", decisionId: id, reward: 0 })).toMatchObject({
      success: true,
      duplicate: true,
      reward: 0.9,
      computed_update: null,
    });
    const decision = await runtimeGetDecision("sdk_rules", { userId: "ann", decisionId: id });
    expect(decision).toMatchObject({ arm_id: s.arm_id, reward: 0.9, context: { page: "home" }, reward_source: "update" });
    expect(await runtimeGetDecision("sdk_rules", { userId: "bob", decisionId: id })).toBeNull();
  });

  it("takes the reward by the seed's precedence: signals, reward, engagement, then 0.5", async () => {
    await configureRuntime("sdk_reward", {
      config: { ...THREE, reward_evaluator: { metrics: { clicked: { weight: 1 } } } },
      storage: new MemoryRuntimeStorage(),
    });
    const reward = async (update: object) => {
      const s = await runtimeSelect("sdk_reward", { userId: "ann" });
      return (await runtimeUpdate("sdk_reward", { userId: "ann", decisionId: s.decision_id as string, ...update })).reward;
    };
    expect(await reward({ signals: { clicked: 0.2 }, reward: 0.9 })).toBeCloseTo(0.2);
    expect(await reward({ reward: 0.9, engagementScore: 0.1 })).toBe(0.9);
    expect(await reward({ engagementScore: 0.1 })).toBe(0.1);
    expect(await reward({})).toBe(0.5);
  });

  it("answers the seed's fallback without arms, and reads arms an app stores in camelCase", async () => {
    await configureRuntime("sdk_empty", { config: {}, storage: new MemoryRuntimeStorage() });
    expect(await runtimeSelect("sdk_empty", { userId: "ann" })).toMatchObject({
      decision_id: null,
      arm_id: "default",
      metadata: { fallback: true },
    });
    const camel: RuntimeStorage = Object.assign(new MemoryRuntimeStorage(), {
      getArms: async () =>
        [{ armId: "x", armName: "X", strategyParams: { k: 1 }, alpha: 3, beta: 1, totalPulls: 2, totalReward: 2 }] as never,
    });
    await configureRuntime("sdk_camel", { config: {}, storage: camel });
    const s = await runtimeSelect("sdk_camel", { userId: "ann" });
    expect(s).toMatchObject({ arm_id: "x", params: { k: 1 } });
  });

  it("evolves new arm templates from a user's best arms", async () => {
    await configureRuntime("sdk_evolve", {
      config: {
        default_arms: [
          { arm_id: "a", params: { t: 0.2, n: 5 } },
          { arm_id: "b", params: { t: 0.6, n: 12 } },
        ],
      },
      storage: new MemoryRuntimeStorage(),
      seed: 3,
    });
    for (let i = 0; i < 20; i++) {
      const s = await runtimeSelect("sdk_evolve", { userId: "ann" });
      await runtimeUpdate("sdk_evolve", { userId: "ann", decisionId: s.decision_id as string, reward: s.arm_id === "b" ? 1 : 0 });
    }
    const templates = await runtimeEvolveArms("sdk_evolve", { userId: "ann", topN: 2, seed: 4 });
    expect(templates.length).toBe(2);
    expect(templates[0]?.params).toHaveProperty("t");
  });

  it("says how to configure an unknown system, and refuses a bad config naming the field", async () => {
    await expect(runtimeSelect("never_configured", { userId: "ann" })).rejects.toThrow(
      /Runtime storage is not configured for system 'never_configured'/,
    );
    await expect(configureRuntime("bad", { config: { traffic_floor: 2 } as never, storage: new MemoryRuntimeStorage() })).rejects.toThrow(
      /traffic_floor/,
    );
  });
});
