/**
 * Offline evaluation of context-aware policies (`rule`, `contextual`) and the doubly robust estimate, on logs the
 * runtime itself made: a context-free RuntimeManager over MemoryRuntimeStorage, each select sending the request's
 * context, each decision read back with getDecision (its probability, snapshot, context and agent type). The
 * environment's means per (page, arm) are known, so every policy's true value is known exactly.
 */
import { describe, expect, it } from "vitest";
import {
  ContextFeaturesSchema,
  ContextStatsAccumulator,
  encodeContext,
  fitContextModel,
  modelInput,
  predictArm,
  probabilitiesHighestNormal,
} from "../../src/bandit/contextual.js";
import {
  type Estimate,
  evaluatePolicy,
  InvalidPolicyError,
  type LoggedDecision,
  type OfflinePolicyInput,
  parseOfflinePolicy,
} from "../../src/bandit/offline.js";
import { RuntimeManager } from "../../src/runtime/manager.js";
import { MemoryRuntimeStorage } from "../../src/runtime/memory-storage.js";
import { RuntimeConfigSchema } from "../../src/runtime/schema.js";
import { Rng } from "../../src/search/rng.js";

const ARMS = ["bold", "careful", "plain"] as const;
type Arm = (typeof ARMS)[number];
const PAGES = ["search", "chat", "home"] as const;
type Page = (typeof PAGES)[number];
/** How often each page is requested. */
const PAGE_SHARE: Record<Page, number> = { search: 0.4, chat: 0.35, home: 0.25 };
/** Bernoulli mean of each arm on each page: bold is best on search, careful on chat, plain (narrowly) on home. */
const MEANS: Record<Page, Record<Arm, number>> = {
  search: { bold: 0.65, careful: 0.45, plain: 0.5 },
  chat: { bold: 0.4, careful: 0.65, plain: 0.5 },
  home: { bold: 0.5, careful: 0.5, plain: 0.55 },
};
const FEATURES = ContextFeaturesSchema.parse({ page: { type: "categorical", values: [...PAGES] } });
const SIMULATIONS = 100;
const DECISIONS = 1_200;
const USERS = 20;

/**
 * The log of one simulation: the default runtime with a 10% traffic floor (every arm keeps at least 10% of the
 * traffic, so every arm is logged on every page) and no context_features, so it chooses whatever the page. Users
 * and pages arrive at random; each request carries its page and the device (which the rewards ignore).
 */
async function runtimeLog(seed: number): Promise<LoggedDecision[]> {
  const config = RuntimeConfigSchema.parse({ traffic_floor: 0.1, default_arms: ARMS.map((arm_id) => ({ arm_id })) });
  const manager = new RuntimeManager("offline-context", config, new MemoryRuntimeStorage(), { random: Rng.uniform(seed) });
  const draws = Rng.uniform(seed + 1_000_003);
  const log: LoggedDecision[] = [];
  for (let i = 0; i < DECISIONS; i++) {
    const userId = `user_${Math.floor(draws() * USERS)}`;
    const page = pageOf(draws());
    const selection = await manager.select({ user_id: userId, context: { page, device: draws() < 0.5 ? "mobile" : "desktop" } });
    const decisionId = selection.decision_id as string;
    const reward = draws() < (MEANS[page][selection.arm_id as Arm] as number) ? 1 : 0;
    await manager.update({ user_id: userId, decision_id: decisionId, reward });
    log.push((await manager.getDecision({ userId, decisionId })) as LoggedDecision);
  }
  return log;
}

function pageOf(u: number): Page {
  let left = u;
  for (const page of PAGES) {
    left -= PAGE_SHARE[page];
    if (left < 0) return page;
  }
  return "home";
}

/**
 * The contextual policy's true value on the page distribution, Σ_page P(page) Σ_arm π̂(arm | page) μ(page, arm),
 * π̂ being the policy as fitted on this log: its model rebuilt here from contextual.ts's parts, as the policy's
 * definition says (every rewarded decision's cells, Thompson sampling over the arms' Normal predictions).
 */
function contextualValue(log: readonly LoggedDecision[]): number {
  const stats = new ContextStatsAccumulator();
  for (const d of log) stats.add(d.agent_type as string, d.arm_id, encodeContext(FEATURES, d.context ?? undefined), d.reward as number);
  const model = fitContextModel(FEATURES, stats.stats());
  let value = 0;
  for (const page of PAGES) {
    const x = modelInput(model, FEATURES, encodeContext(FEATURES, { page }));
    const scores = ARMS.map((arm) => predictArm(model, "default", arm, x) as { mean: number; variance: number });
    const pi = probabilitiesHighestNormal(scores);
    value += PAGE_SHARE[page] * ARMS.reduce((s, arm, a) => s + (pi[a] as number) * MEANS[page][arm], 0);
  }
  return value;
}

const RULE: OfflinePolicyInput = {
  type: "rule",
  rules: [
    { when: { page: "search" }, arm: "bold" },
    { when: { page: "chat" }, arm: "careful" },
  ],
  otherwise: "plain",
};
const RULE_VALUE = PAGE_SHARE.search * MEANS.search.bold + PAGE_SHARE.chat * MEANS.chat.careful + PAGE_SHARE.home * MEANS.home.plain;

const covers = (estimate: Estimate | null, value: number) =>
  !!estimate?.interval && estimate.interval.lower <= value && value <= estimate.interval.upper;
const width = (estimate: Estimate | null) => (estimate?.interval ? estimate.interval.upper - estimate.interval.lower : Number.NaN);
const mean = (values: readonly number[]) => values.reduce((a, b) => a + b, 0) / values.length;

describe("offline evaluation of context-aware policies on a context-free runtime's log", () => {
  it(`covers the contextual policy's and a rule's true values with DR in at least 90 of ${SIMULATIONS} simulations`, async () => {
    const covered = { contextualDr: 0, contextualIps: 0, contextualSnips: 0, ruleDr: 0, ruleIps: 0, ruleSnips: 0, ruleDrNoFeatures: 0 };
    const widths = { contextualDr: [] as number[], contextualIps: [] as number[], ruleDr: [] as number[], ruleIps: [] as number[] };
    const values: number[] = [];
    for (let seed = 1; seed <= SIMULATIONS; seed++) {
      const log = await runtimeLog(seed);
      const truth = contextualValue(log);
      values.push(truth);
      // The system declared no features: the policy names its own.
      const contextual = evaluatePolicy(log, {
        type: "contextual",
        context_features: { page: { type: "categorical", values: [...PAGES] } },
      });
      expect(contextual.n).toBe(DECISIONS);
      if (covers(contextual.dr, truth)) covered.contextualDr++;
      if (covers(contextual.ips, truth)) covered.contextualIps++;
      if (covers(contextual.snips, truth)) covered.contextualSnips++;
      widths.contextualDr.push(width(contextual.dr));
      widths.contextualIps.push(width(contextual.ips));
      // A rule, its outcome model on the features passed as the system's.
      const rule = evaluatePolicy(log, RULE, { context_features: FEATURES });
      if (covers(rule.dr, RULE_VALUE)) covered.ruleDr++;
      if (covers(rule.ips, RULE_VALUE)) covered.ruleIps++;
      if (covers(rule.snips, RULE_VALUE)) covered.ruleSnips++;
      widths.ruleDr.push(width(rule.dr));
      widths.ruleIps.push(width(rule.ips));
      // Without features the outcome model is each arm's mean: still unbiased, only wider.
      if (covers(evaluatePolicy(log, RULE).dr, RULE_VALUE)) covered.ruleDrNoFeatures++;
    }
    const widthText = Object.entries(widths)
      .map(([name, w]) => `${name} ${mean(w).toFixed(4)}`)
      .join(", ");
    console.log(
      `contextual (true values ${Math.min(...values).toFixed(3)} to ${Math.max(...values).toFixed(3)}) and rule (${RULE_VALUE.toFixed(3)}), covered of ${SIMULATIONS}: ${JSON.stringify(covered)}; mean 95% interval widths: ${widthText}`,
    );
    expect(covered.contextualDr).toBeGreaterThanOrEqual(90);
    expect(covered.ruleDr).toBeGreaterThanOrEqual(90);
    expect(covered.ruleDrNoFeatures).toBeGreaterThanOrEqual(90);
    // The outcome model explains what the context does to the rewards: DR's interval is narrower than IPS's.
    expect(mean(widths.contextualDr)).toBeLessThan(mean(widths.contextualIps));
    expect(mean(widths.ruleDr)).toBeLessThan(mean(widths.ruleIps));
  });
});

describe("the doubly robust estimate", () => {
  it("predicts each half of the decisions from the other half's rewards (cross-fitting)", () => {
    const snapshot = [
      { arm_id: "a", alpha: 1, beta: 1 },
      { arm_id: "b", alpha: 1, beta: 1 },
    ];
    const played = (arm_id: string, reward: number): LoggedDecision => ({
      arm_id,
      reward,
      selection_probability: 0.5,
      arms_snapshot: snapshot,
    });
    // Halves alternate: the first (a 1, a 0, a 1) and the second (b 0, b 1, a 1).
    const log = [played("a", 1), played("b", 0), played("a", 0), played("b", 1), played("a", 1), played("a", 1)];
    const always = evaluatePolicy(log, { type: "static", weights: { a: 1 } });
    // q(a) is 1 for the first half (the second half's one reward of a) and 2/3 for the second. Terms: q(a) + 2 (r − q(a))
    // where a was played, q(a) where b was: 1, 2/3, −1, 2/3, 1, 4/3.
    expect(always.dr?.value).toBeCloseTo(11 / 18, 3);
    // Fitted on every reward (q(a) = 3/4 throughout), the terms would average 3/4: the model would grade its own rewards.
    expect(always.dr?.value).not.toBeCloseTo(3 / 4, 2);
    expect(always.ips?.value).toBeCloseTo(1, 12);
    expect(always.outcome_model).toMatch(/^each arm's mean reward \(no context features\)/);
  });

  it("agrees with the logged mean reward when the policy is the logging policy itself", () => {
    const snapshot = [
      { arm_id: "a", alpha: 1, beta: 1 },
      { arm_id: "b", alpha: 1, beta: 1 },
    ];
    // Uniform logging evaluated as uniform: every weight is 1, and each term r_i + Σ_a pi(a) q(a) − q(a_i) differs
    // from the reward only by how far q's arms differ, which averages out over arms played half of the time each.
    const random = Rng.uniform(9);
    const log: LoggedDecision[] = Array.from({ length: 400 }, () => {
      const arm_id = random() < 0.5 ? "a" : "b";
      return { arm_id, reward: random() < (arm_id === "a" ? 0.7 : 0.4) ? 1 : 0, selection_probability: 0.5, arms_snapshot: snapshot };
    });
    const uniform = evaluatePolicy(log, { type: "static", weights: { a: 1, b: 1 } });
    expect(uniform.dr?.value).toBeCloseTo(uniform.logging_policy?.value as number, 1);
    // The true value, (0.7 + 0.4) / 2.
    expect(covers(uniform.dr, 0.55)).toBe(true);
  });
});

describe("rule policies", () => {
  const snapshot = [
    { arm_id: "a", alpha: 1, beta: 1 },
    { arm_id: "b", alpha: 1, beta: 1 },
  ];
  const at = (context: LoggedDecision["context"], arm_id = "a", arms = snapshot): LoggedDecision => ({
    arm_id,
    reward: 1,
    selection_probability: 0.5,
    arms_snapshot: arms,
    context,
  });
  const policy: OfflinePolicyInput = {
    type: "rule",
    rules: [
      { when: { page: "search", tier: 2 }, arm: "a" },
      { when: { page: "search" }, arm: "b" },
    ],
  };

  it("plays the first matching rule's arm, comparing values as text, and skips where it has no arm", () => {
    const result = evaluatePolicy(
      [
        at({ page: "search", tier: "2" }), // the first rule: a, as played (weight 2)
        at({ page: "search", tier: 2 }), // 2 and "2" are the same value: a again
        at({ page: "search", tier: 3 }), // the second rule: b, not a (weight 0)
        at({ page: "search", tier: 2 }, "b"), // a, not b (weight 0)
        at({ page: "chat" }), // no rule, no otherwise
        at(null),
        at({ page: { nested: "search" } }), // an object is no categorical value
        at({ page: "search" }, "a", [{ arm_id: "a", alpha: 1, beta: 1 }]), // its arm b is not offered
      ],
      policy,
    );
    expect(result).toMatchObject({ decisions: 8, n: 4, skipped: { no_matching_rule: 3, policy_has_no_arm: 1 } });
    expect(result.ips?.value).toBeCloseTo((2 + 2) / 4, 12);
    expect(result.max_weight).toBe(2);
    // With an otherwise, the unmatched decisions count: b for chat, no context and the nested page.
    const withDefault = evaluatePolicy([at({ page: "chat" }, "b"), at(null)], { ...policy, otherwise: "b" });
    expect(withDefault).toMatchObject({ n: 2, skipped: { no_matching_rule: 0 } });
    expect(withDefault.ips?.value).toBeCloseTo(1, 12);
  });

  const refused: [string, unknown, RegExp][] = [
    [
      "a when that is not an object",
      { type: "rule", rules: [{ when: "search", arm: "a" }] },
      /^rules\[0\]\.when: Invalid input: expected record/,
    ],
    ["a rule without an arm", { type: "rule", rules: [{ when: { page: "search" } }] }, /^rules\[0\]\.arm: is required$/],
    ["an unknown field in a rule", { type: "rule", rules: [{ if: { page: "search" }, arm: "a" }] }, /Unrecognized key: "if"/],
    ["an empty when", { type: "rule", rules: [{ when: {}, arm: "a" }] }, /^rules\[0\]\.when: a rule compares at least one context key/],
    ["a when value that is an object", { type: "rule", rules: [{ when: { page: { is: "a" } }, arm: "a" }] }, /^rules\[0\]\.when\.page: /],
    ["no rules", { type: "rule", rules: [], otherwise: "a" }, /^rules: Too small/],
    [
      "too many rules",
      { type: "rule", rules: Array.from({ length: 101 }, (_, i) => ({ when: { page: `p${i}` }, arm: "a" })) },
      /^rules: Too big: expected array to have <=100 items$/,
    ],
    ["an empty otherwise", { type: "rule", rules: [{ when: { page: "search" }, arm: "a" }], otherwise: "" }, /^otherwise: Too small/],
    [
      "a contextual policy's unknown feature type",
      { type: "contextual", context_features: { page: { type: "ordinal" } } },
      /^context_features\.page\.type: expected type 'categorical' or 'numeric'$/,
    ],
  ];

  it.each(refused)("refuses %s, naming the field", (_label, input, message) => {
    const { issues } = parseOfflinePolicy(input);
    expect(issues.map((i) => (i.path ? `${i.path}: ${i.message}` : i.message)).join("\n")).toMatch(message);
    expect(() => evaluatePolicy([], input as OfflinePolicyInput)).toThrow(/^invalid policy: /);
  });
});

describe("contextual policies", () => {
  const snapshot = [
    { arm_id: "a", alpha: 1, beta: 1 },
    { arm_id: "b", alpha: 1, beta: 1 },
  ];
  const log: LoggedDecision[] = Array.from({ length: 40 }, (_, i) => ({
    arm_id: i % 2 === 0 ? "a" : "b",
    reward: i % 4 < 2 === (i % 2 === 0) ? 1 : 0,
    selection_probability: 0.5,
    arms_snapshot: snapshot,
    context: { page: i % 4 < 2 ? "search" : "chat" },
  }));

  it("needs context features, from the policy or the system, and says which are missing", () => {
    const call = () => evaluatePolicy(log, { type: "contextual" });
    expect(call).toThrow(InvalidPolicyError);
    expect(call).toThrow(/^invalid policy: context_features: the contextual policy needs context features/);
    try {
      call();
    } catch (error) {
      expect((error as InvalidPolicyError).issues).toEqual([
        { path: "context_features", message: expect.stringMatching(/runtime config/) },
      ]);
    }
  });

  it("reads the system's features unless the policy names its own, and says which it read", () => {
    const page = { page: { type: "categorical" } } as const;
    const fromSystem = evaluatePolicy(log, { type: "contextual" }, { context_features: page });
    expect(fromSystem.policy).toEqual({ type: "contextual", context_features: { page: { type: "categorical", max_values: 10 } } });
    expect(fromSystem.outcome_model).toMatch(/linear in page/);
    // a wins on search and b on chat, 10 of 10 each: the model plays the winner nearly always.
    expect(fromSystem.n).toBe(40);
    expect(fromSystem.ips?.value).toBeGreaterThan(0.95);
    expect(fromSystem.dr?.value).toBeGreaterThan(0.9);
    const own = evaluatePolicy(
      log,
      { type: "contextual", context_features: { device: { type: "categorical" } } },
      { context_features: page },
    );
    expect(own.policy).toMatchObject({ context_features: { device: { type: "categorical" } } });
    // No device in the contexts: each arm's mean, 1/2 everywhere, so each arm half of the time.
    expect(own.ips?.value).toBeCloseTo(0.5, 2);
    expect(() => evaluatePolicy(log, { type: "greedy" }, { context_features: { page: { type: "ordinal" } } } as never)).toThrow(
      /^invalid options: context_features\.page\.type/,
    );
  });
});
