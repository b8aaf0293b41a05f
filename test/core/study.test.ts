import { describe, expect, it } from "vitest";
import { OptimizationSchema } from "../../src/config/schema.js";
import { pairedEstimate, probabilityOfBeating } from "../../src/optimize/racing.js";
import { studySettings } from "../../src/optimize/settings.js";
import { Study } from "../../src/optimize/study.js";
import { unitHash } from "../../src/search/hash.js";
import type { ParamConfig, SearchSpace } from "../../src/search/space.js";

const space: SearchSpace = {
  x: { type: "float", min: 0, max: 1, step: 0.01, log: false },
  y: { type: "int", min: 0, max: 20, step: 1, log: false },
  kind: { type: "categorical", values: ["a", "b", "c"] },
};

/** A smooth objective with its maximum 1 at x = 0.3, y = 12, kind = b; test cases shift it a little. */
function objective(config: ParamConfig, testCaseId: string, noise = 0): number {
  const x = config.x as number;
  const y = config.y as number;
  const base = Math.exp(-(((x - 0.3) / 0.3) ** 2)) * Math.exp(-(((y - 12) / 8) ** 2)) * (config.kind === "b" ? 1 : 0.8);
  const offset = noise * (unitHash(`${JSON.stringify(config)}|${testCaseId}`) - 0.5);
  return base - (0.05 * Number(testCaseId.slice(1))) / 10 + offset;
}

function study(optimization: object, testCases = 1, seed = 1): Study {
  return Study.create({
    settings: studySettings(OptimizationSchema.parse(optimization)),
    space,
    testCases: Array.from({ length: testCases }, (_, i) => ({ id: `t${i}`, weight: 1 })),
    seed,
  });
}

/**
 * Run to the end, checking on the way that no (config, test case) pair is ever asked twice. `roundTrip`: the
 * control state goes through JSON between every step, as the RunCoordinator keeps it.
 */
function drive(start: Study, score = objective, roundTrip = false): { state: Study; asked: string[] } {
  const asked: string[] = [];
  let s = start;
  for (;;) {
    const evaluations = s.ask();
    if (evaluations.length === 0) break;
    for (const e of evaluations) asked.push(`${e.hash}|${e.testCaseId}`);
    s.tell(evaluations.map((e) => ({ hash: e.hash, testCaseId: e.testCaseId, score: score(e.config, e.testCaseId) })));
    if (roundTrip) s = new Study(JSON.parse(JSON.stringify(s.control)), s.facts);
  }
  return { state: s, asked };
}

describe("the study", () => {
  it("never asks for a (config, test case) pair twice, elites included", () => {
    const { state, asked } = drive(
      study(
        {
          algorithm: "evolution",
          evolution: { population_size: 8, generations: 8, elite_size: 2 },
          execution: { early_stopping: { enabled: false } },
        },
        3,
      ),
    );
    expect(new Set(asked).size).toBe(asked.length);
    expect(state.facts.history()).toHaveLength(8);
    // Elites are carried over at no cost: later generations ask for fewer than population x test cases.
    expect(
      state.facts
        .history()
        .slice(1)
        .every((h) => h.calls <= (8 - 2) * 3),
    ).toBe(true);
    expect(state.control.calls).toBe(asked.length);
  });

  it("gives the same run for the same seed, and survives a JSON round trip between every step", () => {
    const options = { algorithm: "mab_evolution", evolution: { population_size: 8, generations: 6 } };
    const a = drive(study(options, 6, 11));
    const b = drive(study(options, 6, 11), objective, true);
    expect(b.asked).toEqual(a.asked);
    expect(b.state.best()).toEqual(a.state.best());
    const c = drive(study(options, 6, 12));
    expect(c.asked).not.toEqual(a.asked);
  });

  it("improves on the first generation and gets near the optimum", () => {
    const { state } = drive(
      study({
        algorithm: "evolution",
        evolution: { population_size: 12, generations: 15 },
        execution: { early_stopping: { enabled: false } },
      }),
    );
    const first = state.facts.history()[0]?.best as number;
    const best = state.best();
    expect(best?.score).toBeGreaterThan(first);
    expect(best?.score).toBeGreaterThan(0.9);
  });

  it("waits for pending evaluations and ignores unknown or repeated reports", () => {
    const state = study({ evolution: { population_size: 2, generations: 1 } }, 2);
    const first = state.ask();
    expect(first.length).toBeGreaterThan(0);
    expect(state.ask()).toEqual([]);
    const e = first[0] as (typeof first)[number];
    state.tell([{ hash: e.hash, testCaseId: e.testCaseId, score: 0.5 }]);
    state.tell([
      { hash: e.hash, testCaseId: e.testCaseId, score: 0.9 },
      { hash: "nope", testCaseId: "t0", score: 1 },
    ]);
    expect(state.facts.scores(e.hash)?.[e.testCaseId]).toBe(0.5);
    expect(state.facts.scores("nope")).toBeUndefined();
    expect(state.pendingCount).toBe(first.length - 1);
  });

  it("tries every warm-start config first, whichever algorithm runs and however many batches it takes", () => {
    const warm: ParamConfig[] = Array.from({ length: 15 }, (_, i) => ({ x: i / 20, y: i, kind: ["a", "b", "c"][i % 3] as string }));
    for (const algorithm of ["evolution", "random", "tpe", "cmaes", "gp", "auto"]) {
      const s = Study.create({
        settings: studySettings(
          OptimizationSchema.parse({
            algorithm,
            evolution: { population_size: 20, generations: 2 },
            execution: { parallel_workers: 5, early_stopping: { enabled: false } },
          }),
          warm,
        ),
        space,
        testCases: [{ id: "t0", weight: 1 }],
        seed: 3,
      });
      const asked: ParamConfig[] = [];
      for (let round = 0; round < 50 && !s.done; round++) {
        const evaluations = s.ask();
        asked.push(...evaluations.map((e) => e.config));
        s.tell(evaluations.map((e) => ({ hash: e.hash, testCaseId: e.testCaseId, score: objective(e.config, e.testCaseId) })));
      }
      // Three batches of five are the 15 warm configs, in their order; the first generation's rest is the sampler's.
      expect(asked.slice(0, 15), algorithm).toEqual(warm);
      expect(asked.length, algorithm).toBeGreaterThan(15);
    }
  });

  it("stops at max_target_calls", () => {
    const { state, asked } = drive(
      study(
        {
          algorithm: "evolution",
          evolution: { population_size: 10, generations: 50 },
          execution: { max_target_calls: 37, early_stopping: { enabled: false } },
        },
        2,
      ),
    );
    expect(asked).toHaveLength(37);
    expect(state.control.stopReason).toBe("max_target_calls");
    expect(state.best()).not.toBeNull();
  });

  it("stops after `patience` generations without a relative improvement", () => {
    const flat = () => 0.5;
    const { state } = drive(
      study({
        algorithm: "random",
        evolution: { population_size: 3, generations: 20 },
        execution: { early_stopping: { patience: 3, min_improvement: 0.01 } },
      }),
      flat,
    );
    expect(state.control.stopReason).toBe("no_improvement");
    expect(state.facts.history()).toHaveLength(4);
  });

  it("counts an improvement only when it is at least min_improvement relative", () => {
    // +0.5% per generation: below a 1% relative threshold, so it counts as no improvement.
    let generation = 0;
    const creeping = (config: ParamConfig) => 0.5 * 1.005 ** (config.__g as number);
    const state = study({
      algorithm: "random",
      evolution: { population_size: 1, generations: 10 },
      execution: { early_stopping: { patience: 2, min_improvement: 0.01 } },
    });
    for (;;) {
      const evaluations = state.ask();
      if (evaluations.length === 0) break;
      generation = state.control.generation;
      state.tell(evaluations.map((e) => ({ hash: e.hash, testCaseId: e.testCaseId, score: creeping({ ...e.config, __g: generation }) })));
    }
    expect(state.control.stopReason).toBe("no_improvement");
    expect(state.facts.history()).toHaveLength(3);
  });

  it("handles test case ids that name Object.prototype members", () => {
    let state = Study.create({
      settings: studySettings(OptimizationSchema.parse({ algorithm: "evolution", evolution: { population_size: 3, generations: 2 } })),
      space,
      testCases: ["constructor", "__proto__", "toString"].map((id) => ({ id, weight: 1 })),
      seed: 1,
    });
    const asked: string[] = [];
    for (;;) {
      const evaluations = state.ask();
      if (evaluations.length === 0) break;
      asked.push(...evaluations.map((e) => e.testCaseId));
      state = new Study(JSON.parse(JSON.stringify(state.control)), state.facts);
      state.tell(evaluations.map((e) => ({ hash: e.hash, testCaseId: e.testCaseId, score: 0.5 })));
    }
    expect(new Set(asked)).toEqual(new Set(["constructor", "__proto__", "toString"]));
    expect(state.best()?.score).toBe(0.5);
  });

  it("counts an unchanged best as no improvement even with min_improvement 0", () => {
    const { state } = drive(
      study({
        algorithm: "random",
        evolution: { population_size: 2, generations: 20 },
        execution: { early_stopping: { patience: 3, min_improvement: 0 } },
      }),
      () => 0.4,
    );
    expect(state.control.stopReason).toBe("no_improvement");
    expect(state.facts.history()).toHaveLength(4);
  });

  it("stops at target_score", () => {
    const { state } = drive(
      study({ evolution: { population_size: 6, generations: 30 }, execution: { early_stopping: { enabled: false, target_score: 0.6 } } }),
    );
    expect(state.control.stopReason).toBe("target_score");
    expect(state.best()?.score).toBeGreaterThanOrEqual(0.6);
  });
});

describe("racing", () => {
  it("estimates a candidate from paired differences and is certain once every case is in", () => {
    const cases = ["a", "b", "c", "d"].map((id) => ({ id, weight: 1 }));
    const incumbent = { a: 0.9, b: 0.5, c: 0.7, d: 0.6 };
    const partial = pairedEstimate({ a: 0.8, b: 0.4 }, incumbent, cases);
    expect(partial?.meanDiff).toBeCloseTo(-0.1);
    expect(partial?.observedWeight).toBe(0.5);
    const p = probabilityOfBeating(partial as NonNullable<typeof partial>, 0.01);
    expect(p).toBeGreaterThan(0);
    expect(p).toBeLessThan(0.05);
    const full = pairedEstimate({ a: 0.8, b: 0.4, c: 0.9, d: 0.7 }, incumbent, cases);
    expect(probabilityOfBeating(full as NonNullable<typeof full>, 0.01)).toBe(1);
  });

  it("stops hopeless candidates early and still scores the winner on every test case", () => {
    const options = { evolution: { population_size: 10, generations: 8 }, execution: { early_stopping: { enabled: false } } };
    const racing = drive(study({ algorithm: "mab_evolution", ...options }, 10, 3), (c, t) => objective(c, t, 0.1));
    const full = drive(study({ algorithm: "evolution", ...options }, 10, 3), (c, t) => objective(c, t, 0.1));
    expect(racing.state.facts.history().some((h) => h.dropped > 0)).toBe(true);
    expect(racing.asked.length).toBeLessThan(0.6 * full.asked.length);
    const best = racing.state.best();
    expect(Object.keys(racing.state.facts.scores(best?.hash as string) ?? {})).toHaveLength(10);
    expect(best?.score).toBeGreaterThan(0.85);
  });
});
