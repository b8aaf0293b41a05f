import { describe, expect, it } from "vitest";
import {
  type ContextStats,
  ContextStatsAccumulator,
  cellsOf,
  contextualPrior,
  contextView,
  encodeContext,
  fitContextModel,
  modelInput,
  parseContextModel,
  predictArm,
  probabilitiesHighestNormal,
} from "../../src/bandit/contextual.js";
import { addUser, armPopulationOf, type Population, setArmPopulation } from "../../src/bandit/pooling.js";
import { storedLearning } from "../../src/bandit/posterior.js";
import { RuntimeManager } from "../../src/runtime/manager.js";
import { MemoryRuntimeStorage } from "../../src/runtime/memory-storage.js";
import { type RuntimeConfigInput, RuntimeConfigSchema } from "../../src/runtime/schema.js";
import { Rng } from "../../src/search/rng.js";

const FEATURES = RuntimeConfigSchema.parse({
  context_features: {
    page: { type: "categorical", values: ["search", "chat"] },
    plan: { type: "categorical", max_values: 2 },
    length: { type: "numeric", min: 0, max: 100 },
    score: { type: "numeric" },
  },
}).context_features;

const problems = (config: unknown) => {
  const parsed = RuntimeConfigSchema.safeParse(config);
  return parsed.success ? [] : parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`);
};

describe("context features", () => {
  it("encode a request's context: declared values, other, undeclared values kept by name, numbers scaled, the rest ignored", () => {
    const entries = encodeContext(FEATURES, { page: "search", plan: "pro", length: 150, score: -99, note: "not a feature" });
    expect(entries).toEqual([
      ["", 1],
      ["length", 1],
      ["length#b3", 1, 0],
      ["page=search", 1],
      ["plan=pro", 1],
      ["score", -Math.log10(100) / 6],
      ["score#b0", 1, 0],
    ]);
    // A value outside the list is other; a number or boolean is text; a wrong kind or a missing feature is absent.
    expect(encodeContext(FEATURES, { page: "home", plan: true, length: "long", score: null })).toEqual([
      ["", 1],
      ["page#other", 1],
      ["plan=true", 1],
    ]);
    expect(encodeContext(FEATURES, { plan: "x".repeat(65) })).toEqual([
      ["", 1],
      ["plan#other", 1],
    ]);
    expect(encodeContext(FEATURES, undefined)).toEqual([["", 1]]);
  });

  it("are refused when they cannot be used, each problem named", () => {
    expect(problems({ selection_policy: "contextual" })).toEqual([
      "context_features: selection_policy contextual needs at least one context feature",
    ]);
    expect(problems({ selection_policy: "contextual", context_features: { a: { type: "numeric" } }, pooling: { enabled: false } })).toEqual(
      [
        "pooling.enabled: selection_policy contextual pools across users (the context model is each user's prior): pooling must stay enabled",
      ],
    );
    expect(problems({ context_features: { a: { type: "categorical", max_values: 31 }, b: { type: "numeric" } } })[0]).toBe(
      "context_features: the features encode to 33 dimensions (a 32, b 1; a categorical feature takes one per value plus 'other'), at most 32: declare fewer values or lower max_values",
    );
    expect(problems({ context_features: { n: { type: "numeric", min: 5 } } })).toEqual(["context_features.n.max: min and max go together"]);
    expect(problems({ context_features: { n: { type: "numeric", min: 5, max: 5 } } })).toEqual([
      "context_features.n.max: max must be greater than min",
    ]);
    expect(problems({ context_features: { c: { type: "categorical", values: ["a", "a"] } } })).toEqual([
      "context_features.c.values: values must be unique",
    ]);
    expect(problems({ context_features: { c: { type: "text" } } })).toEqual([
      "context_features.c.type: expected type 'categorical' or 'numeric'",
    ]);
    expect(problems({ context_features: { "a=b": { type: "numeric" } } })[0]).toContain("a context feature name is 1 to 64 letters");
    expect(problems({ context_features: { c: { type: "categorical", value: ["a"] } } })[0]).toContain("value");
  });
});

/** Cells of `n` rewarded decisions per page, arm rewards at the given means (deterministic fractions). */
function statsOf(means: Record<string, Record<string, number>>, n: number): ContextStats {
  const accumulator = new ContextStatsAccumulator();
  for (const [page, arms] of Object.entries(means)) {
    for (const [arm, mean] of Object.entries(arms)) {
      for (let i = 0; i < n; i++) {
        const reward = (i * 0.6180339887) % 1 < mean ? 1 : 0;
        accumulator.add("default", arm, encodeContext(FEATURES, { page, plan: i % 3 === 0 ? "free" : "pro" }), reward);
      }
    }
  }
  return accumulator.stats();
}

describe("the context model", () => {
  it("learns each arm's reward per value, and is as sure as the arm's mean where the context makes no difference", () => {
    const model = fitContextModel(
      FEATURES,
      statsOf(
        {
          search: { bold: 0.8, careful: 0.5 },
          chat: { bold: 0.3, careful: 0.5 },
        },
        400,
      ),
    );
    expect(model.dimensions).toEqual([
      "",
      "page=search",
      "page=chat",
      "page#other",
      "plan=pro",
      "plan=free",
      "plan#other",
      "length",
      "score",
    ]);
    const predict = (arm: string, page: string) =>
      predictArm(model, "default", arm, modelInput(model, FEATURES, encodeContext(FEATURES, { page, plan: "pro" }))) as {
        mean: number;
        variance: number;
        n: number;
      };
    expect(predict("bold", "search").mean).toBeCloseTo(0.8, 1);
    expect(predict("bold", "chat").mean).toBeCloseTo(0.3, 1);
    expect(predict("careful", "search").mean).toBeCloseTo(0.5, 1);
    expect(predict("careful", "chat").mean).toBeCloseTo(0.5, 1);
    // careful does the same on both pages: its prediction is nearly as sure as its mean over 800 rewards.
    expect(predict("careful", "search").variance).toBeLessThan(2 * (0.25 / 800));
    expect(predict("bold", "search").n).toBe(800);
    expect(predictArm(model, "default", "unknown", [[0, 1]])).toBeNull();
  });

  it("keeps an undeclared feature's most frequent values, the rest as other", () => {
    const accumulator = new ContextStatsAccumulator();
    const counts: Record<string, number> = { pro: 30, free: 20, team: 5, trial: 1 };
    for (const [plan, n] of Object.entries(counts))
      for (let i = 0; i < n; i++) accumulator.add("default", "a", encodeContext(FEATURES, { plan }), i % 2);
    const model = fitContextModel(FEATURES, accumulator.stats());
    expect(model.dimensions.filter((d) => d.startsWith("plan"))).toEqual(["plan=pro", "plan=free", "plan#other"]);
    // team is other now: its input lands on other's dimension.
    const other = model.dimensions.indexOf("plan#other");
    expect(modelInput(model, FEATURES, encodeContext(FEATURES, { plan: "team" }))).toEqual([
      [0, 1],
      [other, 1],
    ]);
  });

  it("leaves out the least rewarded arms past its size bound, and reads back a __proto__ agent type", () => {
    const values = Array.from({ length: 31 }, (_, i) => `v${i}`);
    const wide = RuntimeConfigSchema.parse({ context_features: { c: { type: "categorical", values } } }).context_features;
    const stats: ContextStats = { agent_types: {} };
    const accumulator = new ContextStatsAccumulator();
    for (let arm = 0; arm < 200; arm++)
      for (let i = 0; i <= arm; i++) accumulator.add("__proto__", `arm_${arm}`, encodeContext(wide, { c: "v1" }), 1);
    Object.assign(stats, accumulator.stats());
    const model = parseContextModel(JSON.parse(JSON.stringify(fitContextModel(wide, stats)))) as NonNullable<
      ReturnType<typeof parseContextModel>
    >;
    const kept = Object.keys(Object.getOwnPropertyDescriptor(model.agent_types, "__proto__")?.value ?? {});
    // 33 dimensions: 33 + 561 numbers an arm, 168 arms within 100,000.
    expect(kept).toHaveLength(168);
    expect(kept).toContain("arm_199");
    expect(kept).not.toContain("arm_0");
  });

  it("gives a prior as strong as the smaller of users' agreement and the model's certainty", () => {
    const sure = contextualPrior({ mean: 0.8, variance: 1e-6, n: 5000 }, 0.16 / 101);
    // Beta(1 + m s, 1 + (1 - m) s): the uniform prior plus the prediction's mean at strength s.
    expect(sure.alpha).toBeCloseTo(81, 1);
    expect(sure.beta).toBeCloseTo(21, 1);
    const unsure = contextualPrior({ mean: 0.8, variance: 0.16 / 11, n: 5000 }, 0.16 / 101);
    expect(unsure.alpha + unsure.beta - 2).toBeCloseTo(10, 0);
    const few = contextualPrior({ mean: 0.8, variance: 1e-6, n: 3 }, 0);
    expect(few.alpha + few.beta - 2).toBeCloseTo(3, 5);
  });

  it("shows per value each arm's observed and predicted reward, and names a feature that never varied", () => {
    const stats = statsOf({ search: { bold: 0.8, careful: 0.5 }, chat: { bold: 0.3, careful: 0.5 } }, 100);
    const model = fitContextModel(FEATURES, stats);
    const view = contextView(FEATURES, stats, model, "default", ["bold", "careful"]);
    expect(view.rewarded).toBe(400);
    const page = view.features.find((f) => f.name === "page");
    expect(page?.values.map((v) => [v.value, v.rewarded])).toEqual([
      ["search", 200],
      ["chat", 200],
    ]);
    const search = page?.values[0]?.arms.find((a) => a.arm_id === "bold");
    expect(search?.rewarded).toBe(100);
    expect(search?.observed).toBeCloseTo(0.8, 1);
    expect(search?.predicted).toBeCloseTo(0.8, 1);
    expect(page?.never_varies).toBeNull();
    expect(view.features.find((f) => f.name === "plan")?.never_varies).toBeNull();
    expect(view.features.find((f) => f.name === "length")?.never_varies).toBe("no rewarded decision in the window had length");
    // One number throughout.
    const constant = new ContextStatsAccumulator();
    for (let i = 0; i < 10; i++) constant.add("default", "bold", encodeContext(FEATURES, { length: 50, page: "chat" }), i % 2);
    const flat = contextView(FEATURES, constant.stats(), null, "default", ["bold"]);
    expect(flat.features.find((f) => f.name === "length")?.never_varies).toBe(
      "every rewarded decision in the window had length = 0.5 (scaled): it cannot change any choice",
    );
    expect(flat.features.find((f) => f.name === "page")?.never_varies).toBe(
      "every rewarded decision in the window had page = chat: it cannot change any choice",
    );
    expect(flat.features.find((f) => f.name === "page")?.values[0]?.arms[0]?.predicted).toBeNull();
  });

  it("makes a display token's cells only with itself", () => {
    const cells = cellsOf(encodeContext(FEATURES, { length: 10, page: "chat" }), 1);
    expect(cells.filter(([a, b]) => a !== b && (a.includes("#b") || b.includes("#b")))).toEqual([]);
    expect(cells.find(([a, b]) => a === "length#b0" && b === "length#b0")).toEqual(["length#b0", "length#b0", 1, 1, 1]);
    expect(cells).toHaveLength(7);
  });
});

describe("the contextual policy in process", () => {
  const config = {
    default_arms: [{ arm_id: "bold" }, { arm_id: "careful" }],
    context_features: { page: { type: "categorical", values: ["search", "chat"] } },
    selection_policy: "contextual",
  } as const satisfies RuntimeConfigInput;
  const rates: Record<string, Record<string, number>> = { search: { bold: 0.8, careful: 0.3 }, chat: { bold: 0.25, careful: 0.75 } };

  it("learns from the decisions it makes, and new users' selections follow their context, each logged with its probability", async () => {
    const storage = new MemoryRuntimeStorage();
    const manager = new RuntimeManager("ctx", RuntimeConfigSchema.parse(config), storage, { random: Rng.uniform(3) });
    const rewards = Rng.uniform(4);
    for (let t = 0; t < 1500; t++) {
      const user = `early_${t % 150}`;
      const page = t % 2 === 0 ? "search" : "chat";
      const s = await manager.select({ user_id: user, context: { page } });
      await manager.update({
        user_id: user,
        decision_id: s.decision_id as string,
        reward: rewards() < (rates[page]?.[s.arm_id] as number) ? 1 : 0,
      });
    }
    const got: Record<string, number> = {};
    for (let u = 0; u < 40; u++) {
      for (const page of ["search", "chat"]) {
        const s = await manager.select({ user_id: `new_${page}_${u}`, context: { page } });
        got[`${page}:${s.arm_id}`] = (got[`${page}:${s.arm_id}`] ?? 0) + 1;
        const logged = await storage.getDecision({ userId: `new_${page}_${u}`, decisionId: s.decision_id as string });
        expect(logged?.selection_probability).toBe(s.selection_probability);
        expect(logged?.context).toEqual({ page });
      }
    }
    expect(got["search:bold"]).toBeGreaterThanOrEqual(36);
    expect(got["chat:careful"]).toBeGreaterThanOrEqual(36);
    // The storage's cells add up to the rewarded decisions.
    const cells = (await storage.contextStats()).agent_types.default ?? {};
    const rewarded = Object.values(cells).reduce((n, arm) => n + (arm.find(([a, b]) => a === "" && b === "")?.[2] ?? 0), 0);
    expect(rewarded).toBe(1500);
  });

  it("keeps the population statistics up to date at each update, equal to adding every user up", async () => {
    const storage = new MemoryRuntimeStorage();
    const manager = new RuntimeManager("pop", RuntimeConfigSchema.parse({ default_arms: [{ arm_id: "a" }, { arm_id: "b" }] }), storage, {
      random: Rng.uniform(9),
    });
    const rewards = Rng.uniform(10);
    for (let t = 0; t < 300; t++) {
      const user = `u${t % 17}`;
      const s = await manager.select({ user_id: user });
      await manager.update({ user_id: user, decision_id: s.decision_id as string, reward: rewards() < 0.5 ? rewards() : 1 });
    }
    const kept = await storage.populationStats();
    const expected: Population = { computed_at: kept.computed_at, agent_types: {} };
    for (let u = 0; u < 17; u++) {
      for (const arm of await storage.getArms({ userId: `u${u}`, agentType: "default" })) {
        setArmPopulation(
          expected.agent_types,
          "default",
          arm.arm_id,
          addUser(armPopulationOf(expected, "default", arm.arm_id), storedLearning(arm, 0)),
        );
      }
    }
    for (const arm of ["a", "b"]) {
      const got = armPopulationOf(kept, "default", arm);
      const want = armPopulationOf(expected, "default", arm);
      for (const field of ["users", "n", "sum", "sum_sq", "user_sum_sq", "user_n_sq"] as const)
        expect(got?.[field]).toBeCloseTo(want?.[field] ?? -1, 8);
    }
  });
});

describe("the probability that each arm's Normal score is highest", () => {
  it("matches a Monte Carlo estimate, sums to 1, and gives 0 to an arm that cannot win", () => {
    const scores = [
      { mean: 0.5, variance: 0.01 },
      { mean: 0.55, variance: 0.04 },
      { mean: 0.45, variance: 0.0025 },
      { mean: -2, variance: 0.01 },
    ];
    const p = probabilitiesHighestNormal(scores);
    const rng = Rng.fromSeed(21);
    const wins = [0, 0, 0, 0];
    const draws = 200_000;
    for (let t = 0; t < draws; t++) {
      const drawn = scores.map((s) => s.mean + Math.sqrt(s.variance) * rng.normal());
      const best = drawn.indexOf(Math.max(...drawn));
      wins[best] = (wins[best] as number) + 1;
    }
    // Within 4 standard errors of the Monte Carlo share (at most 0.0045).
    for (const [i, w] of wins.entries()) expect(Math.abs((p[i] as number) - w / draws)).toBeLessThan(0.0045);
    expect(p.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 12);
    expect(p[3]).toBe(0);
    expect(
      probabilitiesHighestNormal([
        { mean: 0.9, variance: 1e-6 },
        { mean: 0.1, variance: 1e-6 },
      ]),
    ).toEqual([1, 0]);
  });
});
