import { describe, expect, it } from "vitest";
import { canonicalJson, fnv1a64, hashConfig } from "../../src/search/hash.js";
import { Rng } from "../../src/search/rng.js";
import {
  crossoverConfigs,
  decodeParameter,
  encodeParameter,
  gridOf,
  mutateConfig,
  mutateParameter,
  type Parameter,
  sampleParameter,
  snap,
  spaceSize,
} from "../../src/search/space.js";

describe("Rng", () => {
  it("gives the same sequence for the same seed, and resumes from its saved state", () => {
    const a = Rng.fromSeed(42);
    const b = Rng.fromSeed(42);
    const first = Array.from({ length: 5 }, () => a.next());
    expect(Array.from({ length: 5 }, () => b.next())).toEqual(first);
    const saved = JSON.parse(JSON.stringify(a.state));
    const expected = Array.from({ length: 5 }, () => a.next());
    const resumed = new Rng(saved);
    expect(Array.from({ length: 5 }, () => resumed.next())).toEqual(expected);
    expect(Rng.fromSeed(43).next()).not.toBe(first[0]);
  });

  it("draws uniforms in [0, 1) with mean 1/2 and normals with mean 0 and sd 1", () => {
    const rng = Rng.fromSeed(7);
    const u = Array.from({ length: 20000 }, () => rng.next());
    expect(Math.min(...u)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...u)).toBeLessThan(1);
    expect(u.reduce((a, b) => a + b) / u.length).toBeCloseTo(0.5, 1);
    const z = Array.from({ length: 20000 }, () => rng.normal());
    const mean = z.reduce((a, b) => a + b) / z.length;
    const sd = Math.sqrt(z.reduce((a, b) => a + (b - mean) ** 2, 0) / z.length);
    expect(mean).toBeCloseTo(0, 1);
    expect(sd).toBeCloseTo(1, 1);
  });
});

describe("hashing", () => {
  it("is FNV-1a 64", () => {
    expect(fnv1a64("")).toBe("cbf29ce484222325");
    expect(fnv1a64("a")).toBe("af63dc4c8601ec8c");
    expect(fnv1a64("foobar")).toBe("85944171f73967e8");
  });

  it("ignores key order and distinguishes values", () => {
    expect(canonicalJson({ b: 1, a: [1, { d: 2, c: 3 }] })).toBe('{"a":[1,{"c":3,"d":2}],"b":1}');
    expect(hashConfig({ temperature: 0.7, model: "x" })).toBe(hashConfig({ model: "x", temperature: 0.7 }));
    expect(hashConfig({ temperature: 0.7 })).not.toBe(hashConfig({ temperature: 0.8 }));
    expect(hashConfig({ stop: null })).not.toBe(hashConfig({ stop: ["\n"] }));
  });
});

describe("grids", () => {
  it("include both ends, unlike the reference's truncation", () => {
    // int((1.5 - 0.1) / 0.1) = 13 in floating point, which dropped 1.5.
    const grid = gridOf(0.1, 1.5, 0.1);
    expect(grid[0]).toBe(0.1);
    expect(grid.at(-1)).toBe(1.5);
    expect(grid).toHaveLength(15);
    expect(grid).toContain(0.7);
    expect(gridOf(100, 2000, 300).at(-1)).toBe(2000);
    expect(gridOf(0, 2, 0.1)).toHaveLength(21);
  });

  it("snaps to the grid anchored at min", () => {
    const p: Parameter = { type: "float", min: 0.15, max: 1, step: 0.1, log: false };
    expect(snap(p, 0.27)).toBe(0.25);
    expect(snap(p, 5)).toBe(1);
    expect(snap(p, -1)).toBe(0.15);
  });

  it("every grid point can be sampled, ends included", () => {
    const p: Parameter = { type: "float", min: 0, max: 1, step: 0.25, log: false };
    const rng = Rng.fromSeed(1);
    const seen = new Set(Array.from({ length: 400 }, () => sampleParameter(p, rng)));
    expect([...seen].sort()).toEqual([0, 0.25, 0.5, 0.75, 1]);
  });

  it("counts the space", () => {
    expect(spaceSize({ a: { type: "int", min: 1, max: 10, step: 1, log: false }, b: { type: "categorical", values: [1, 2] } })).toBe(20);
    expect(spaceSize({ a: { type: "float", min: 0, max: 1, step: null, log: false } })).toBe(Number.POSITIVE_INFINITY);
  });
});

describe("log scale", () => {
  it("samples positive values spread over orders of magnitude", () => {
    const p: Parameter = { type: "float", min: 1e-5, max: 1e-1, step: null, log: true };
    const rng = Rng.fromSeed(3);
    const values = Array.from({ length: 2000 }, () => sampleParameter(p, rng) as number);
    expect(Math.min(...values)).toBeGreaterThanOrEqual(1e-5);
    expect(Math.max(...values)).toBeLessThanOrEqual(1e-1);
    // Log-uniform: about a quarter of draws per decade.
    const belowMilli = values.filter((v) => v < 1e-3).length / values.length;
    expect(belowMilli).toBeGreaterThan(0.4);
    expect(belowMilli).toBeLessThan(0.6);
  });

  it("keeps integers integral", () => {
    const p: Parameter = { type: "int", min: 16, max: 4096, step: 1, log: true };
    const rng = Rng.fromSeed(4);
    for (let i = 0; i < 200; i++) {
      const v = sampleParameter(p, rng) as number;
      expect(Number.isInteger(v)).toBe(true);
      expect(v).toBeGreaterThanOrEqual(16);
      expect(v).toBeLessThanOrEqual(4096);
    }
  });
});

describe("mutation and crossover", () => {
  const space: Record<string, Parameter> = {
    model: { type: "categorical", values: ["a", "b", "c"] },
    temperature: { type: "float", min: 0, max: 2, step: 0.1, log: false },
    max_tokens: { type: "discrete", values: [256, 512, 1024] },
  };

  it("moves a number by a Gaussian step of about 10% of the range and stays in range", () => {
    const rng = Rng.fromSeed(5);
    const p = space.temperature as Parameter;
    const steps = Array.from({ length: 2000 }, () => (mutateParameter(p, 1, rng) as number) - 1);
    for (const s of steps) expect(Math.abs(s)).toBeLessThanOrEqual(1);
    const sd = Math.sqrt(steps.reduce((a, s) => a + s * s, 0) / steps.length);
    expect(sd).toBeGreaterThan(0.15);
    expect(sd).toBeLessThan(0.3);
  });

  it("picks another value for choices", () => {
    const rng = Rng.fromSeed(6);
    for (let i = 0; i < 50; i++) expect(mutateParameter(space.model as Parameter, "a", rng)).not.toBe("a");
  });

  it("mutates nothing at rate 0 and takes each parameter from a parent in crossover", () => {
    const rng = Rng.fromSeed(8);
    const a = { model: "a", temperature: 0.1, max_tokens: 256 };
    const b = { model: "c", temperature: 1.9, max_tokens: 1024 };
    expect(mutateConfig(space, a, 0, rng)).toEqual(a);
    const children = Array.from({ length: 100 }, () => crossoverConfigs(space, a, b, rng));
    for (const child of children)
      for (const key of Object.keys(a)) expect([a, b].map((p) => p[key as keyof typeof a])).toContain(child[key]);
    expect(new Set(children.map((c) => JSON.stringify(c))).size).toBeGreaterThan(4);
  });

  it("encodes and decodes along the scale", () => {
    const p = space.temperature as Parameter;
    expect(encodeParameter(p, 1)).toBeCloseTo(0.5);
    expect(decodeParameter(p, 0.5)).toBe(1);
    expect(decodeParameter(space.max_tokens as Parameter, 1)).toBe(1024);
  });
});
