/**
 * The cmaes sampler (CMA-ES with IPOP restarts, categorical parameters by TPE) and the auto portfolio, driven
 * through the Study as a run drives them. auto is tested on its contract only (valid configs, determinism, a
 * JSON state that resumes the same run), not on which sampler it picks when.
 */
import { describe, expect, it } from "vitest";
import { minimize } from "../../bench/optimize-function.js";
import { type Algorithm, OptimizationSchema } from "../../src/config/schema.js";
import { MemoryStudyFacts } from "../../src/optimize/facts.js";
import { cmaStateBytes, maxLambda } from "../../src/optimize/samplers/cmaes.js";
import type { Trial } from "../../src/optimize/samplers/sampler.js";
import type { GenerationSummary } from "../../src/optimize/schema.js";
import { studySettings } from "../../src/optimize/settings.js";
import { median } from "../../src/optimize/stats.js";
import { Study } from "../../src/optimize/study.js";
import { hashConfig } from "../../src/search/hash.js";
import { Rng } from "../../src/search/rng.js";
import type { ParamConfig, SearchSpace } from "../../src/search/space.js";
import { MIXED_SPACE } from "../helpers/spaces.js";

const SPACE = MIXED_SPACE;

/** A smooth loss over SPACE with its minimum at large, 512, k = 5, temperature 0.7, learning rate 1e-3. */
function mixedLoss(c: ParamConfig, testCaseId = "f"): number {
  const model = typeof c.model === "object" ? 0 : c.model === "medium" ? 0.3 : 0.6;
  return (
    model +
    Math.abs(Math.log2((c.max_tokens as number) / 512)) * 0.2 +
    (((c.k as number) - 5) / 4) ** 2 +
    ((c.temperature as number) - 0.7) ** 2 +
    (Math.log10(c.learning_rate as number) + 3) ** 2 / 4 +
    0.01 * testCaseId.length
  );
}

function expectInDomain(config: ParamConfig): void {
  expect(Object.keys(config).sort()).toEqual(Object.keys(SPACE).sort());
  expect(["small", "medium", { name: "large", tier: 2 }]).toContainEqual(config.model);
  expect([128, 256, 512, 1024]).toContain(config.max_tokens);
  expect([1, 3, 5, 7, 9]).toContain(config.k);
  const temperature = config.temperature as number;
  expect(temperature).toBeGreaterThanOrEqual(0);
  expect(temperature).toBeLessThanOrEqual(1.5);
  expect(Math.round(temperature * 20) / 20).toBeCloseTo(temperature, 10);
  expect(config.learning_rate as number).toBeGreaterThanOrEqual(1e-5);
  expect(config.learning_rate as number).toBeLessThanOrEqual(1e-1);
}

/**
 * MemoryStudyFacts that also keeps every write in a plain JSON log: the log, copied through JSON, rebuilds the
 * same facts elsewhere (as the RunCoordinator's SQLite rows do). `proposed` counts every config the sampler
 * proposed, repeats included (the study records each proposal with addConfig).
 */
type FactWrite =
  | { op: "config"; hash: string; config: ParamConfig }
  | { op: "score"; hash: string; testCaseId: string; score: number }
  | { op: "trial"; trial: Trial }
  | { op: "generation"; summary: GenerationSummary };

class RecordingFacts extends MemoryStudyFacts {
  readonly log: FactWrite[] = [];
  readonly proposed: string[] = [];

  static replay(log: readonly FactWrite[]): RecordingFacts {
    const facts = new RecordingFacts();
    for (const w of log) {
      if (w.op === "config") facts.addConfig(w.hash, w.config);
      else if (w.op === "score") facts.setScore(w.hash, w.testCaseId, w.score);
      else if (w.op === "trial") facts.addTrial(w.trial);
      else facts.addGeneration(w.summary);
    }
    facts.proposed.length = 0;
    return facts;
  }

  override addConfig(hash: string, config: ParamConfig): void {
    this.proposed.push(hash);
    this.log.push({ op: "config", hash, config });
    super.addConfig(hash, config);
  }

  override setScore(hash: string, testCaseId: string, score: number): void {
    this.log.push({ op: "score", hash, testCaseId, score });
    super.setScore(hash, testCaseId, score);
  }

  override addTrial(trial: Trial): void {
    this.log.push({ op: "trial", trial: { ...trial } });
    super.addTrial(trial);
  }

  override addGeneration(summary: GenerationSummary): void {
    this.log.push({ op: "generation", summary });
    super.addGeneration(summary);
  }
}

interface Options {
  populationSize: number;
  generations: number;
  parallelWorkers?: number;
  testCases?: number;
  initialConfigs?: ParamConfig[];
}

function makeStudy(algorithm: Algorithm, space: SearchSpace, options: Options, seed: number): Study {
  const optimization = OptimizationSchema.parse({
    algorithm,
    evolution: { population_size: options.populationSize, generations: options.generations },
    execution: { parallel_workers: options.parallelWorkers ?? 5, early_stopping: { enabled: false } },
  });
  return Study.create(
    {
      settings: studySettings(optimization, options.initialConfigs ?? []),
      space,
      testCases: Array.from({ length: options.testCases ?? 1 }, (_, i) => ({ id: `case${i}`, weight: 1 })),
      seed,
    },
    new RecordingFacts(),
  );
}

interface Asked {
  hash: string;
  config: ParamConfig;
  testCaseId: string;
  generation: number;
  score: number;
}

/** Ask and tell (scores are -loss) until the study is done or `steps` ask/tell rounds have run. */
function drive(study: Study, loss: (c: ParamConfig, testCaseId: string) => number, steps = Number.POSITIVE_INFINITY): Asked[] {
  const asked: Asked[] = [];
  for (let step = 0; step < steps; step++) {
    const evaluations = study.ask();
    if (evaluations.length === 0) break;
    const scored = evaluations.map((e) => ({ ...e, score: -loss(e.config, e.testCaseId) }));
    asked.push(...scored);
    study.tell(scored.map((e) => ({ hash: e.hash, testCaseId: e.testCaseId, score: e.score })));
  }
  return asked;
}

const trace = (asked: readonly Asked[]) => asked.map((a) => `${a.hash}|${a.testCaseId}|${a.score}`);

/** The CMA state of a cmaes study (the fields the tests read). */
interface CmaView {
  kind: string;
  lambda: number;
  restarts: number;
  generation: number;
  members: unknown[];
}
const cmaState = (study: Study) => study.control.sampler as unknown as CmaView;

// A 10-D box with the optimum off-centre, and a rotation of it (a fixed random orthogonal basis).
const N = 10;
const BOX: SearchSpace = Object.fromEntries(
  Array.from({ length: N }, (_, i) => [`x${i}`, { type: "float", min: -5, max: 5, step: null, log: false }]),
);
const SHIFT = Array.from({ length: N }, (_, i) => 1.7 * Math.sin(i + 1));
const offset = (c: ParamConfig) => SHIFT.map((s, i) => (c[`x${i}`] as number) - s);
const sphere = (c: ParamConfig) => offset(c).reduce((a, d) => a + d * d, 0);
const ROTATION: number[][] = (() => {
  const rng = Rng.fromSeed(99);
  const basis: number[][] = [];
  for (let k = 0; k < N; k++) {
    let v = Array.from({ length: N }, () => rng.normal());
    for (const q of basis) {
      const dot = v.reduce((a, x, i) => a + x * (q[i] as number), 0);
      v = v.map((x, i) => x - dot * (q[i] as number));
    }
    const norm = Math.sqrt(v.reduce((a, x) => a + x * x, 0));
    basis.push(v.map((x) => x / norm));
  }
  return basis;
})();
/** Axis scales from 1 to 100 along the rotated axes: condition number 100. */
const ellipsoid = (c: ParamConfig) => {
  const d = offset(c);
  return ROTATION.reduce((sum, q, k) => sum + 100 ** (k / (N - 1)) * q.reduce((a, x, i) => a + x * (d[i] as number), 0) ** 2, 0);
};

const SEEDS = [1, 2, 3, 4, 5];
const medianBest = (algorithm: Algorithm, loss: (c: ParamConfig) => number, budget: number) =>
  median(SEEDS.map((seed) => minimize(BOX, loss, { algorithm, budget, seed, populationSize: 10 }).at(-1) as number));

describe.each(["cmaes", "auto"] as const)("the %s sampler, through the study", (algorithm) => {
  const options = { populationSize: 10, generations: 20, parallelWorkers: 5 };

  it("proposes only configs inside every parameter's domain, never the same one twice, and the same run for the same seed", () => {
    const study = makeStudy(algorithm, SPACE, options, 7);
    const asked = drive(study, mixedLoss);
    expect(asked.length).toBe(200);
    for (const a of asked) expectInDomain(a.config);
    // The space has thousands of configs: every proposal is new (the study would not re-ask a repeat, so count
    // the proposals themselves).
    const proposed = (study.facts as RecordingFacts).proposed;
    expect(proposed.length).toBe(200);
    expect(new Set(proposed).size).toBe(proposed.length);
    expect(new Set(asked.map((a) => hashConfig(a.config))).size).toBe(200);

    const again = drive(makeStudy(algorithm, SPACE, options, 7), mixedLoss);
    expect(trace(again)).toEqual(trace(asked));
    const other = drive(makeStudy(algorithm, SPACE, options, 8), mixedLoss);
    expect(trace(other)).not.toEqual(trace(asked));
    // And it learns: the best of the run is well below the best of its first generation.
    const first = Math.min(...asked.slice(0, 10).map((a) => -a.score));
    const best = Math.min(...asked.map((a) => -a.score));
    expect(best).toBeLessThan(first);
  });

  it("keeps its state as plain JSON: a study rebuilt from JSON copies mid-run asks and reports what the live one does", () => {
    const loss = (c: ParamConfig, testCaseId: string) => mixedLoss(c, testCaseId);
    // Three test cases: the race scores some candidates on only part of them, so the sampler also learns from
    // estimates.
    const raced = { populationSize: 10, generations: 16, parallelWorkers: 4, testCases: 3 };
    const live = makeStudy(algorithm, SPACE, raced, 21);
    const before = drive(live, loss, 40);
    expect(live.done).toBe(false);
    expect(live.control.generation).toBeGreaterThanOrEqual(4);
    const control = JSON.parse(JSON.stringify(live.control));
    const log = JSON.parse(JSON.stringify((live.facts as RecordingFacts).log));
    const resumed = new Study(control, RecordingFacts.replay(log));

    const rest = drive(live, loss);
    const resumedRest = drive(resumed, loss);
    expect(rest.length).toBeGreaterThan(before.length);
    expect(trace(resumedRest)).toEqual(trace(rest));
    expect(resumed.best()).toEqual(live.best());
    expect(resumed.control.sampler).toEqual(live.control.sampler);
  });
});

describe("the cmaes sampler", () => {
  it("resumes mid CMA generation from JSON to the same run", () => {
    // Batches of 2 and lambda 10: most batches end inside a CMA generation, with samples kept in the state.
    const options = { populationSize: 10, generations: 20, parallelWorkers: 2 };
    const live = makeStudy("cmaes", BOX, options, 5);
    drive(live, sphere, 37);
    const state = cmaState(live);
    expect(state.kind).toBe("cmaes");
    expect(state.generation).toBeGreaterThan(0);
    expect(state.members.length).toBeGreaterThan(0);
    const resumed = new Study(
      JSON.parse(JSON.stringify(live.control)),
      RecordingFacts.replay(JSON.parse(JSON.stringify((live.facts as RecordingFacts).log))),
    );
    expect(trace(drive(resumed, sphere))).toEqual(trace(drive(live, sphere)));
  });

  it("converges on a shifted 10-D sphere: the median best of 5 seeds at 600 evaluations is under 1e-3 of random search's", () => {
    // Measured: cmaes 1.5e-3, random 17.4 (a ratio under 1e-4).
    const cmaes = medianBest("cmaes", sphere, 600);
    const random = medianBest("random", sphere, 600);
    expect(cmaes).toBeLessThan(1e-3 * random);
    expect(cmaes).toBeLessThan(0.02);
  });

  it("learns a rotated ill-conditioned 10-D ellipsoid: its median best of 5 seeds at 400 evaluations is under half tpe's", () => {
    // Measured (condition number 100): cmaes 4.0 (worst seed 5.4), tpe 26 (best seed 7.6), random far above both.
    const cmaes = medianBest("cmaes", ellipsoid, 400);
    const tpe = medianBest("tpe", ellipsoid, 400);
    expect(cmaes).toBeLessThan(0.5 * tpe);
  });

  it("restarts with a larger population when it collapses onto a small integer grid, and keeps proposing new configs", () => {
    const grid: SearchSpace = Object.fromEntries(
      ["a", "b", "c"].map((name) => [name, { type: "int", min: 0, max: 6, step: 1, log: false }]),
    );
    const loss = (c: ParamConfig) => ((c.a as number) - 2) ** 2 + ((c.b as number) - 4) ** 2 + ((c.c as number) - 3) ** 2;
    // 343 configs; measured: the first restart after about 35 evaluations, a second by 80 or 110.
    const study = makeStudy("cmaes", grid, { populationSize: 10, generations: 15, parallelWorkers: 4 }, 1);
    const start = drive(study, loss, 1);
    const initialLambda = cmaState(study).lambda;
    const asked = [...start, ...drive(study, loss)];
    const state = cmaState(study);
    expect(state.restarts).toBeGreaterThan(0);
    expect(state.lambda).toBeGreaterThan(initialLambda);
    // No stall: every generation asked for new configs, and the run spent nearly all of its 150 evaluations.
    expect(study.facts.history()).toHaveLength(15);
    for (const h of study.facts.history()) expect(h.calls).toBeGreaterThanOrEqual(5);
    expect(asked.length).toBeGreaterThanOrEqual(140);
    expect(new Set(asked.map((a) => a.hash)).size).toBe(asked.length);
    expect(Math.min(...asked.map((a) => -a.score))).toBe(0);
  });

  it("keeps its state within the bound the run's start guard counts on, however often IPOP restarts", () => {
    // 4^12 configs of a plateau-rich loss: the distribution collapses onto the grid again and again.
    const grid: SearchSpace = Object.fromEntries(
      Array.from({ length: 12 }, (_, i) => [`p${i}`, { type: "int", min: 0, max: 3, step: 1, log: false }]),
    );
    const loss = (c: ParamConfig) => Object.values(c).reduce((a: number, v) => a + Math.abs((v as number) - 2), 0);
    const study = makeStudy("cmaes", grid, { populationSize: 20, generations: 40, parallelWorkers: 5 }, 3);
    const bound = cmaStateBytes(12, 5);
    let largest = 0;
    let lambda = 0;
    for (let round = 0; round < 400 && !study.done; round++) {
      const asked = study.ask();
      largest = Math.max(largest, JSON.stringify(study.control.sampler).length);
      lambda = Math.max(lambda, cmaState(study).lambda);
      study.tell(asked.map((e) => ({ hash: e.hash, testCaseId: e.testCaseId, score: -loss(e.config) })));
    }
    expect(cmaState(study).restarts).toBeGreaterThan(1);
    expect(lambda).toBeLessThanOrEqual(maxLambda(12, 5));
    expect(largest).toBeGreaterThan(0);
    expect(largest).toBeLessThanOrEqual(bound);
  });

  it("keeps a diagonal covariance past 40 numeric parameters (sep-CMA-ES) and still descends a 50-D shifted sphere", () => {
    const space: SearchSpace = Object.fromEntries(
      Array.from({ length: 50 }, (_, i) => [`x${i}`, { type: "float", min: -5, max: 5, step: null, log: false }]),
    );
    const loss = (c: ParamConfig) => Object.values(c).reduce((a: number, x) => a + ((x as number) - 1.3) ** 2, 0);
    const study = makeStudy("cmaes", space, { populationSize: 20, generations: 25, parallelWorkers: 5 }, 1);
    const asked = drive(study, loss);
    const cov = (study.control.sampler as unknown as { cov: number[][] }).cov;
    expect(cov.every((row, i) => row.every((v, j) => i === j || v === 0))).toBe(true);
    // Measured over seeds 1-3 at 500 evaluations: random search's best 275-302, cmaes 11-17.
    expect(Math.min(...asked.map((a) => -a.score))).toBeLessThan(60);
  });

  it("proposes the warm-start configs first, in generation 0", () => {
    const rng = Rng.fromSeed(2);
    const warm: ParamConfig[] = [
      { model: "medium", max_tokens: 256, k: 3, temperature: 0.35, learning_rate: 0.002 },
      { model: { name: "large", tier: 2 }, max_tokens: 1024, k: 9, temperature: 1.1, learning_rate: 3e-5 },
      { model: "small", max_tokens: 128, k: 1, temperature: 0, learning_rate: 0.05 + 0.01 * rng.next() },
    ];
    const study = makeStudy("cmaes", SPACE, { populationSize: 10, generations: 3, initialConfigs: warm }, 4);
    const asked = drive(study, mixedLoss);
    expect(asked.slice(0, 3).map((a) => a.config)).toEqual(warm);
    expect(asked.slice(0, 3).every((a) => a.generation === 0)).toBe(true);
    // The rest of the run is the sampler's own, inside the domain.
    expect(asked.length).toBe(30);
    for (const a of asked.slice(3)) expectInDomain(a.config);
  });
});
