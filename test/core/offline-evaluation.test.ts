/**
 * Off-policy evaluation on simulated logs of a Bernoulli bandit whose arm means are known, so every policy's true
 * value is known exactly: the 95% intervals must cover it in at least 90 of 100 simulations.
 */
import { describe, expect, it } from "vitest";
import { evaluatePolicy, type LoggedDecision, type OfflinePolicyInput, parseOfflinePolicy } from "../../src/bandit/offline.js";
import { selectionSettingsOf } from "../../src/bandit/selection.js";
import {
  ProbabilityMemo,
  type SelectableArm,
  type SelectionOptions,
  SelectionStrategySchema,
  selectArm,
  selectionProbability,
} from "../../src/bandit/thompson.js";
import { RuntimeManager } from "../../src/runtime/manager.js";
import { MemoryRuntimeStorage } from "../../src/runtime/memory-storage.js";
import { type RuntimeConfigInput, RuntimeConfigSchema } from "../../src/runtime/schema.js";
import { Rng } from "../../src/search/rng.js";

const MEANS: Record<string, number> = { low: 0.35, mid: 0.5, high: 0.6 };
const ARM_IDS = Object.keys(MEANS);
const DECISIONS = 2000;
/** The app reports rewards after acting: this many selects see the same posteriors before their rewards land. */
const REWARD_BATCH = 10;
const SIMULATIONS = 100;

interface SimulatedLog {
  decisions: LoggedDecision[];
  /** (1/n) Σ_i Σ_a pi(a | s_i) mu_a for the logging policy pi: its true value on these very states. */
  loggingValue: number;
}

/** The runtime's loop on one user: select with the runtime's rule, reward ~ Bernoulli(mean), Beta update. */
function simulate(seed: number, options: Omit<SelectionOptions, "random" | "memo">, decisions = DECISIONS): SimulatedLog {
  const random = Rng.uniform(seed);
  const memo = new ProbabilityMemo();
  // As the runtime's select passes them: the posterior it samples from, and its mean.
  const arms: SelectableArm[] = ARM_IDS.map((arm_id) => ({ arm_id, alpha: 1, beta: 1, total_pulls: 0, mean_estimate: 0.5 }));
  const log: LoggedDecision[] = [];
  let expected = 0;
  while (log.length < decisions) {
    const expectedNow = arms.reduce(
      (sum, arm, i) => sum + selectionProbability(arms, { ...options, memo }, i) * (MEANS[arm.arm_id] as number),
      0,
    );
    const batch: LoggedDecision[] = [];
    for (let k = 0; k < REWARD_BATCH && log.length + batch.length < decisions; k++) {
      const selection = selectArm(arms, { ...options, random, memo });
      const arm = arms[selection.index] as SelectableArm;
      batch.push({
        arm_id: arm.arm_id,
        reward: random() < (MEANS[arm.arm_id] as number) ? 1 : 0,
        selection_probability: selection.probability,
        arms_snapshot: arms.map(({ arm_id, alpha, beta }) => ({ arm_id, alpha, beta })),
      });
      expected += expectedNow;
    }
    for (const decision of batch) {
      // The runtime's update: alpha += r, beta += 1 - r.
      const arm = arms.find((a) => a.arm_id === decision.arm_id) as SelectableArm;
      const reward = decision.reward as number;
      arm.alpha += reward;
      arm.beta += 1 - reward;
      arm.total_pulls += 1;
      arm.mean_estimate = arm.alpha / (arm.alpha + arm.beta);
    }
    log.push(...batch);
  }
  return { decisions: log, loggingValue: expected / log.length };
}

const covers = (interval: { lower: number; upper: number } | null | undefined, value: number) =>
  interval !== null && interval !== undefined && interval.lower <= value && value <= interval.upper;

describe("offline evaluation of the logging policy itself", () => {
  it(`covers its true value in at least 90 of ${SIMULATIONS} simulations, with IPS and with SNIPS`, () => {
    let ipsCovered = 0;
    let snipsCovered = 0;
    for (let seed = 1; seed <= SIMULATIONS; seed++) {
      // The runtime's default rule (the leader's variance floor included), which the default `thompson` policy names.
      const { decisions, loggingValue } = simulate(seed, { strategy: null, trafficFloor: 0, leaderVarianceFloor: true });
      const estimate = evaluatePolicy(decisions, { type: "thompson" });
      expect(estimate.n).toBe(DECISIONS);
      // The policy's own probabilities, recomputed from the snapshots, are the logged ones: every weight is 1.
      expect(estimate.max_weight).toBeCloseTo(1, 9);
      expect(estimate.effective_sample_size).toBeCloseTo(DECISIONS, 6);
      if (covers(estimate.ips?.interval, loggingValue)) ipsCovered++;
      if (covers(estimate.snips?.interval, loggingValue)) snipsCovered++;
    }
    console.log(`logging policy: IPS covered ${ipsCovered}/${SIMULATIONS}, SNIPS covered ${snipsCovered}/${SIMULATIONS}`);
    expect(ipsCovered).toBeGreaterThanOrEqual(90);
    expect(snipsCovered).toBeGreaterThanOrEqual(90);
  });

  it("reproduces the runtime's rule from the snapshot with a selection strategy and top-two: every weight is 1", () => {
    const selection_strategy = SelectionStrategySchema.parse({ exploration_bonus: 0.2, exploration_min_pulls: 8, use_stability: false });
    const topTwo = simulate(7, { strategy: selection_strategy, trafficFloor: 0.05, topTwo: 0.6, leaderVarianceFloor: true }, 400);
    const estimate = evaluatePolicy(topTwo.decisions, {
      type: "thompson",
      selection_policy: "top_two",
      top_two_beta: 0.6,
      traffic_floor: 0.05,
      selection_strategy,
    });
    expect(estimate.max_weight).toBeCloseTo(1, 9);
    expect(estimate.effective_sample_size).toBeCloseTo(400, 6);
    // The stability rule keeps an arm once its pulls and interval say so: the pulls come from alpha + beta.
    const stable = SelectionStrategySchema.parse({ stability_min_pulls: 20, stability_confidence_threshold: 0.3 });
    const kept = simulate(8, { strategy: stable, trafficFloor: 0 }, 400);
    const keptEstimate = evaluatePolicy(kept.decisions, { type: "thompson", selection_strategy: stable, leader_variance_floor: false });
    expect(keptEstimate.max_weight).toBeCloseTo(1, 9);
    expect(keptEstimate.n).toBe(400);
    // The rule mattered on this log: plain Thompson sampling would have chosen differently.
    expect(evaluatePolicy(kept.decisions, { type: "thompson", leader_variance_floor: false }).effective_sample_size).toBeLessThan(399);
  });
});

describe("offline evaluation of the decisions a runtime logged", () => {
  /** A system's decisions for one user, made and rewarded by the runtime itself, as getDecision returns them. */
  async function runtimeLog(settings: RuntimeConfigInput, seed: number, count: number): Promise<LoggedDecision[]> {
    const config = RuntimeConfigSchema.parse({ ...settings, default_arms: ARM_IDS.map((arm_id) => ({ arm_id })) });
    const manager = new RuntimeManager("offline", config, new MemoryRuntimeStorage(), { random: Rng.uniform(seed) });
    const environment = Rng.uniform(seed + 1);
    const log: LoggedDecision[] = [];
    for (let i = 0; i < count; i++) {
      const selection = await manager.select({ user_id: "u" });
      const decisionId = selection.decision_id as string;
      await manager.update({ user_id: "u", decision_id: decisionId, reward: environment() < (MEANS[selection.arm_id] as number) ? 1 : 0 });
      log.push((await manager.getDecision({ userId: "u", decisionId })) as LoggedDecision);
    }
    return log;
  }

  const systems: Record<string, RuntimeConfigInput> = {
    defaults: {},
    "top-two, a traffic floor, an exploration bonus, no variance floor": {
      selection_policy: "top_two",
      top_two_beta: 0.7,
      traffic_floor: 0.05,
      leader_variance_floor: false,
      selection_strategy: { exploration_bonus: 0.2, exploration_min_pulls: 8, use_stability: false },
    },
    "the stability rule": { selection_strategy: { stability_min_pulls: 15, stability_confidence_threshold: 0.3 } },
  };

  it("weighs every decision 1 with the system's own settings, and changes with each setting as the runtime does", async () => {
    const logs = await Promise.all(Object.values(systems).map((settings, i) => runtimeLog(settings, 40 + i, 300)));
    const policies = Object.values(systems).map((settings) => ({
      type: "thompson" as const,
      ...selectionSettingsOf(RuntimeConfigSchema.parse({ ...settings, default_arms: ARM_IDS.map((arm_id) => ({ arm_id })) })),
    }));
    logs.forEach((log, i) => {
      policies.forEach((policy, j) => {
        const estimate = evaluatePolicy(log, policy);
        expect(estimate.n).toBe(300);
        if (i === j) {
          // The probabilities recomputed from the snapshots are the ones the runtime logged.
          expect(estimate.max_weight, `${Object.keys(systems)[i]}`).toBeCloseTo(1, 9);
          expect(estimate.effective_sample_size).toBeCloseTo(300, 6);
          expect(estimate.ips?.value).toBeCloseTo(estimate.logging_policy?.value as number, 9);
        } else {
          // Another system's settings are another policy: the weights say so.
          expect(estimate.effective_sample_size, `${Object.keys(systems)[j]} on ${Object.keys(systems)[i]}`).toBeLessThan(299);
        }
      });
    });
  });
});

describe("offline evaluation of another policy", () => {
  it(`covers an always-one-arm policy's and the greedy policy's true values in at least 90 of ${SIMULATIONS} simulations`, () => {
    const covered = { staticIps: 0, staticSnips: 0, greedyIps: 0, greedySnips: 0 };
    for (let seed = 1001; seed < 1001 + SIMULATIONS; seed++) {
      // A traffic floor: every arm keeps at least 10% of the traffic, so every policy's choices get logged.
      const { decisions } = simulate(seed, { strategy: null, trafficFloor: 0.1 });
      const always = evaluatePolicy(decisions, { type: "static", weights: { low: 1 } });
      if (covers(always.ips?.interval, MEANS.low as number)) covered.staticIps++;
      if (covers(always.snips?.interval, MEANS.low as number)) covered.staticSnips++;
      // Greedy plays the arm of highest posterior mean: its true value is the mean of that arm, decision by decision.
      const greedyValue =
        decisions.reduce((sum, d) => {
          const snapshot = d.arms_snapshot ?? [];
          const best = snapshot.reduce((b, a) => (a.alpha / (a.alpha + a.beta) > b.alpha / (b.alpha + b.beta) ? a : b));
          return sum + (MEANS[best.arm_id] as number);
        }, 0) / decisions.length;
      const greedy = evaluatePolicy(decisions, { type: "greedy" });
      if (covers(greedy.ips?.interval, greedyValue)) covered.greedyIps++;
      if (covers(greedy.snips?.interval, greedyValue)) covered.greedySnips++;
      // The logged probabilities respect the floor, so no weight exceeds 1 / 0.1.
      expect(always.max_weight).toBeLessThanOrEqual(10 + 1e-9);
    }
    console.log(`static {low: 1} and greedy, covered of ${SIMULATIONS}: ${JSON.stringify(covered)}`);
    for (const count of Object.values(covered)) expect(count).toBeGreaterThanOrEqual(90);
  });

  it("says which decisions it could not use, and why", () => {
    const snapshot = [
      { arm_id: "a", alpha: 3, beta: 1 },
      { arm_id: "b", alpha: 1, beta: 3 },
    ];
    const decisions: LoggedDecision[] = [
      { arm_id: "a", reward: 1, selection_probability: 0.8, arms_snapshot: snapshot },
      { arm_id: "b", reward: 0, selection_probability: 0.2, arms_snapshot: snapshot },
      { arm_id: "a", reward: null, selection_probability: 0.8, arms_snapshot: snapshot },
      { arm_id: "a", reward: 1, selection_probability: null, arms_snapshot: snapshot },
      { arm_id: "a", reward: 1, selection_probability: 0, arms_snapshot: snapshot },
      { arm_id: "gone", reward: 1, selection_probability: 0.5, arms_snapshot: snapshot },
      { arm_id: "a", reward: 1, selection_probability: 0.5, arms_snapshot: null },
      { arm_id: "c", reward: 1, selection_probability: 0.5, arms_snapshot: [{ arm_id: "c", alpha: 1, beta: 1 }] },
    ];
    const result = evaluatePolicy(decisions, { type: "static", weights: { a: 1, b: 1 } });
    expect(result).toMatchObject({
      decisions: 8,
      n: 2,
      skipped: {
        no_reward: 1,
        no_probability: 1,
        zero_probability: 1,
        arm_not_in_snapshot: 1,
        no_snapshot: 1,
        policy_has_no_arm: 1,
      },
    });
    // Uniform over a and b: w = 0.5 / 0.8 and 0.5 / 0.2.
    expect(result.ips?.value).toBeCloseTo((0.625 * 1 + 2.5 * 0) / 2, 12);
    expect(result.snips?.value).toBeCloseTo(0.625 / 3.125, 12);
    expect(result.logging_policy?.value).toBeCloseTo(0.5, 12);
    expect(result.max_weight).toBeCloseTo(2.5, 12);
    expect(result.effective_sample_size).toBeCloseTo(3.125 ** 2 / (0.625 ** 2 + 2.5 ** 2), 12);
    expect(result.warnings.join(" ")).toMatch(/effective 1\.5 of 2 decisions/);
  });

  it("has nothing to say without usable decisions, and says so", () => {
    const empty = evaluatePolicy([], { type: "greedy" });
    expect(empty).toMatchObject({ n: 0, ips: null, snips: null, logging_policy: null, warnings: ["no logged decisions to evaluate"] });
    const snapshot = [
      { arm_id: "a", alpha: 1, beta: 1 },
      { arm_id: "b", alpha: 1, beta: 1 },
    ];
    const never = evaluatePolicy(
      [
        { arm_id: "a", reward: 1, selection_probability: 0.5, arms_snapshot: snapshot },
        { arm_id: "a", reward: 0, selection_probability: 0.5, arms_snapshot: snapshot },
      ],
      { type: "static", weights: { b: 1 } },
    );
    expect(never.ips?.value).toBe(0);
    expect(never.snips).toBeNull();
    expect(never.warnings.join(" ")).toMatch(/never chooses the arm a logged decision chose/);
  });
});

describe("policies", () => {
  const refused: [string, unknown, RegExp][] = [
    ["no type", { weights: { a: 1 } }, /^type: expected 'static', 'greedy', 'thompson', 'rule' or 'contextual'$/],
    ["an unknown type", { type: "epsilon" }, /^type: expected 'static', 'greedy', 'thompson', 'rule' or 'contextual'$/],
    ["static without weights", { type: "static" }, /^weights: is required$/],
    ["all-zero weights", { type: "static", weights: { a: 0, b: 0 } }, /^weights: at least one arm needs a weight above 0$/],
    ["a negative weight", { type: "static", weights: { a: 1, b: -1 } }, /^weights\.b: Too small: expected number to be >=0$/],
    ["a floor above 1", { type: "thompson", traffic_floor: 1.5 }, /^traffic_floor: Too big/],
    ["an unknown selection policy", { type: "thompson", selection_policy: "ucb" }, /^selection_policy: Invalid option/],
    ["top_two_beta of 1", { type: "thompson", selection_policy: "top_two", top_two_beta: 1 }, /^top_two_beta: Too big/],
    [
      "top-two with the stability rule",
      { type: "thompson", selection_policy: "top_two", selection_strategy: {} },
      /^selection_strategy\.use_stability: the stability rule keeps one arm/,
    ],
    ["a misspelled field", { type: "thompson", trafic_floor: 0.1 }, /Unrecognized key: "trafic_floor"/],
    ["not an object", "thompson", /expected object/],
  ];

  it.each(refused)("refuses %s, naming the field", (_label, policy, message) => {
    const { issues } = parseOfflinePolicy(policy);
    expect(issues.map((i) => (i.path ? `${i.path}: ${i.message}` : i.message)).join("\n")).toMatch(message);
    expect(() => evaluatePolicy([], policy as OfflinePolicyInput)).toThrow(/^invalid policy: /);
  });

  it("fills in the runtime's defaults", () => {
    expect(parseOfflinePolicy({ type: "thompson" }).policy).toEqual({
      type: "thompson",
      selection_policy: "thompson",
      top_two_beta: 0.5,
      leader_variance_floor: true,
      traffic_floor: 0,
      selection_strategy: null,
    });
  });
});
