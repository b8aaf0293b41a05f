import { readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parseConfigText } from "../../src/config/parse.js";
import { validateConfig } from "../../src/config/validate.js";
import { nodePrepareOptions } from "../../src/node/io.js";
import { prepareRun } from "../../src/run/prepare.js";
import { mockConfig, SEED_BASIC_USAGE, SEED_MINIMAL } from "../helpers/configs.js";
import { tempDir } from "../helpers/temp.js";

const FIXTURES = join(import.meta.dirname, "../fixtures");
const SEED_EXAMPLES = join(FIXTURES, "seed-examples");

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? files(path) : [path];
  });
}

/** A seed config as it would run once its keys are set and its Python evaluator ported (the ported one stands in). */
async function prepareFile(path: string) {
  const { readFileSync } = await import("node:fs");
  const parsed = parseConfigText(readFileSync(path, "utf8"), path.endsWith(".json") ? "json" : "yaml", path);
  expect(parsed.errors).toEqual([]);
  const env = { AZURE_API_KEY: "k", GROQ_API_KEY: "k", OPENAI_API_KEY: "k", GEMINI_API_KEY: "k" };
  return prepareRun(parsed.value, { ...nodePrepareOptions(path), env, evaluator: () => 1 });
}

function errorsOf(raw: unknown, context = {}) {
  return validateConfig(raw, context).errors;
}

describe("the seed's configs", () => {
  it.each(files(SEED_EXAMPLES).filter((f) => f.endsWith(".yaml")))("loads %s, with warnings for what is not implemented", async (path) => {
    const prepared = await prepareFile(path);
    expect(prepared.ok).toBe(true);
    if (!prepared.ok) return;
    const warnings = prepared.run.warnings.map((w) => w.path);
    expect(warnings).toContain("legacy");
    expect(prepared.run.testCases.length).toBeGreaterThan(0);
  });

  it.each(files(SEED_EXAMPLES).filter((f) => f.endsWith(".yaml")))(
    "refuses %s as it is, naming the missing module and keys",
    async (path) => {
      const { readFileSync } = await import("node:fs");
      const parsed = parseConfigText(readFileSync(path, "utf8"), "yaml", path);
      const prepared = await prepareRun(parsed.value, { ...nodePrepareOptions(path), env: {} });
      expect(prepared.ok).toBe(false);
      if (prepared.ok) return;
      const module = prepared.errors.find((e) => e.path === "evaluation.custom_evaluator.module");
      expect(module?.message).toMatch(/cannot find module '\w+' next to the config/);
      expect(prepared.errors.some((e) => /_API_KEY/.test(e.message))).toBe(true);
    },
  );

  it("keeps test case ids, and names cases without ids from `name`", async () => {
    const groq = await prepareFile(join(SEED_EXAMPLES, "ai/groq/groq_optimization.yaml"));
    expect(groq.ok && groq.run.testCases.map((t) => t.id)).toEqual(["creative_story", "factual_qa", "math_reasoning"]);
    expect(groq.ok && groq.run.testCases[2]?.weight).toBe(1.5);
    const azure = await prepareFile(join(SEED_EXAMPLES, "ai/azure/azure_multi_model_optimization.yaml"));
    expect(azure.ok && azure.run.testCases.map((t) => t.id)).toEqual(["simple_question", "reasoning_task", "creative_writing"]);
  });

  it("accepts the seed document's Basic Usage and Minimal configs", () => {
    const basic = validateConfig(SEED_BASIC_USAGE);
    expect(basic.errors).toEqual([]);
    expect(basic.config?.search_space.parameters.temperature).toEqual({ type: "float", min: 0.1, max: 1.5, step: null, log: false });
    expect(basic.config?.search_space.parameters.max_tokens).toEqual({ type: "int", min: 100, max: 2000, step: 1, log: false });
    expect(validateConfig(SEED_MINIMAL).errors).toEqual([]);
  });

  it("does not demand token_env for auth none, nor reject example hosts in mock mode", () => {
    const result = validateConfig({
      ...SEED_MINIMAL,
      api: { name: "x", endpoint: "https://api.example.com", mock_mode: true, auth: { type: "none" } },
    });
    expect(result.errors).toEqual([]);
    expect(result.warnings).toEqual([]);
  });
});

describe("parameters", () => {
  const withParams = (parameters: object) => validateConfig(mockConfig({ parameters }));

  it("normalizes the seed's aliases", () => {
    const config = withParams({
      a: { type: "categorical", choices: [["crystal"], ["crystal", "note"]] },
      b: { type: "discrete", values: [256, 512] },
      c: { type: "discrete", min: 1, max: 9, step: 2 },
      d: { type: "continuous", min: 0, max: 2, step: 0.1 },
      e: { type: "float", min: 1e-4, max: 1e-1, log: true },
      f: { type: "discrete", values: ["low", "high"] },
    }).config;
    expect(config?.search_space.parameters).toEqual({
      a: { type: "categorical", values: [["crystal"], ["crystal", "note"]] },
      b: { type: "discrete", values: [256, 512] },
      c: { type: "int", min: 1, max: 9, step: 2, log: false },
      d: { type: "float", min: 0, max: 2, step: 0.1, log: false },
      e: { type: "float", min: 1e-4, max: 1e-1, step: null, log: true },
      f: { type: "categorical", values: ["low", "high"] },
    });
  });

  it("reports min > max, an empty categorical, a bad log range and a bad step, each at its path, all at once", () => {
    const errors = withParams({
      temperature: { type: "float", min: 2, max: 1 },
      model: { type: "categorical", values: [] },
      lr: { type: "float", min: 0, max: 1, log: true },
      n: { type: "int", min: 1, max: 5, step: 0.5 },
      k: { type: "wobbly" },
    }).errors;
    expect(errors).toEqual(
      expect.arrayContaining([
        { path: "search_space.parameters.temperature.max", message: "must be at least min (min is 2, max is 1)" },
        { path: "search_space.parameters.model.values", message: "a categorical parameter needs at least one value" },
        { path: "search_space.parameters.lr.log", message: "a logarithmic scale needs min > 0" },
        { path: "search_space.parameters.n.step", message: "must be an integer for an int parameter" },
      ]),
    );
    expect(errors.find((e) => e.path === "search_space.parameters.k.type")?.message).toMatch(/categorical/);
  });

  it("requires at least one parameter", () => {
    expect(withParams({}).errors).toEqual([{ path: "search_space.parameters", message: "must define at least one parameter" }]);
  });
});

describe("bad configs", () => {
  it("names every missing section", () => {
    expect(errorsOf({ api: { name: "x" } })).toEqual([
      { path: "search_space", message: "is required" },
      { path: "evaluation", message: "is required" },
    ]);
    expect(errorsOf("just text")[0]?.message).toMatch(/must be a mapping/);
    expect(errorsOf(null)[0]?.message).toMatch(/got nothing/);
  });

  it("names wrong types with their path", () => {
    const config = mockConfig();
    const errors = errorsOf({
      ...config,
      optimization: { evolution: { population_size: "ten", generations: 2.5 } },
      evaluation: { ...config.evaluation, metrics: { quality: { weight: "heavy" } } },
    });
    expect(errors.map((e) => e.path)).toEqual(
      expect.arrayContaining([
        "optimization.evolution.population_size",
        "optimization.evolution.generations",
        "evaluation.metrics.quality.weight",
      ]),
    );
    expect(errors.find((e) => e.path === "optimization.evolution.population_size")?.message).toMatch(/expected number/);
  });

  it("needs an endpoint for a real API, and credentials by variable name only", () => {
    expect(errorsOf({ ...mockConfig(), api: { name: "real" } })).toEqual([
      { path: "api.endpoint", message: "is required (or api.models, or api.mock_mode: true)" },
    ]);
    expect(
      errorsOf({ ...mockConfig(), api: { name: "real", endpoint: "https://api.acme.dev/v1", auth: { type: "bearer" } } })[0]?.path,
    ).toBe("api.auth.token_env");
    const pasted = errorsOf({
      ...mockConfig(),
      api: { name: "real", endpoint: "https://api.acme.dev/v1", auth: { type: "bearer", token_env: "sk-live-123" } },
    });
    expect(pasted).toEqual([
      { path: "api.auth.token_env", message: "must be the name of an environment variable (like OPENAI_API_KEY), not its value" },
    ]);
    expect(errorsOf({ ...mockConfig(), api: { name: "real", endpoint: "ftp://x" } })).toEqual([
      { path: "api.endpoint", message: "must be an http(s) URL" },
    ]);
  });

  it("needs test cases and a metric with weight", () => {
    const config = mockConfig();
    expect(errorsOf({ ...config, evaluation: { metrics: config.evaluation.metrics } })[0]?.path).toBe("evaluation.test_cases");
    expect(errorsOf({ ...config, evaluation: { ...config.evaluation, metrics: {} } })).toEqual([
      { path: "evaluation.metrics", message: "must define at least one metric" },
    ]);
    expect(
      errorsOf({ ...config, evaluation: { ...config.evaluation, metrics: { q: { type: "llm_judge", weight: 0 } } } })[0]?.message,
    ).toMatch(/weight above 0/);
  });

  it("refuses an unknown metric type or name without an evaluator", async () => {
    const config = mockConfig();
    const typed = await prepareRun({ ...config, evaluation: { ...config.evaluation, metrics: { q: { type: "llm_judj", weight: 1 } } } });
    expect(typed.ok).toBe(false);
    expect(!typed.ok && typed.errors[0]?.path).toBe("evaluation.metrics.q.type");
    expect(!typed.ok && typed.errors[0]?.message).toMatch(/unknown metric type 'llm_judj' and no custom evaluator/);
    const named = await prepareRun({
      ...config,
      evaluation: { ...config.evaluation, metrics: { helpfulness: { weight: 1, type: "higher_is_better" } } },
    });
    expect(!named.ok && named.errors[0]).toMatchObject({ path: "evaluation.metrics.helpfulness" });
    // With an evaluator, the same metric is the evaluator's.
    const withEvaluator = await prepareRun(
      { ...config, evaluation: { ...config.evaluation, metrics: { helpfulness: { weight: 1 } } } },
      { evaluator: () => 1 },
    );
    expect(withEvaluator.ok).toBe(true);
  });

  it("reports a missing test-case file by path", async () => {
    const config = mockConfig();
    const prepared = await prepareRun(
      { ...config, evaluation: { ...config.evaluation, test_cases: { path: "missing_cases.json" } } },
      { ...nodePrepareOptions(join(FIXTURES, "x.yaml")) },
    );
    expect(prepared.ok).toBe(false);
    expect(!prepared.ok && prepared.errors[0]?.path).toBe("evaluation.test_cases.path");
    expect(!prepared.ok && prepared.errors[0]?.message).toMatch(/test case file not found: .*missing_cases\.json/);
  });

  it("reports malformed YAML and JSON with the line", () => {
    const yaml = parseConfigText("api:\n  name: x\n  endpoint: [unclosed\n", "yaml", "bad.yaml");
    expect(yaml.errors[0]?.message).toMatch(/^bad\.yaml is not valid YAML at line \d+/);
    const json = parseConfigText('{"api": ', "json", "bad.json");
    expect(json.errors[0]?.message).toMatch(/^bad\.json is not valid JSON/);
  });

  it("refuses duplicate test case ids and invalid test cases at their index", async () => {
    const dup = await prepareRun(
      mockConfig({
        testCases: [
          { id: "a", input: {} },
          { id: "a", input: {} },
        ],
      }),
    );
    expect(!dup.ok && dup.errors[0]).toEqual({
      path: "evaluation.test_cases.inline[1].id",
      message: "duplicate test case id 'a' (also at [0])",
    });
    const bad = validateConfig(mockConfig({ testCases: [{ id: "a", input: "not an object" }] }));
    expect(bad.errors[0]?.path).toBe("evaluation.test_cases.inline[0].input");
  });

  it("refuses an elite as large as the population when set explicitly", () => {
    const errors = errorsOf(mockConfig({ optimization: { evolution: { population_size: 3, elite_size: 3 } } }));
    expect(errors[0]?.path).toBe("optimization.evolution.elite_size");
    expect(errorsOf(mockConfig({ optimization: { evolution: { population_size: 1 } } }))).toEqual([]);
  });

  it("refuses numbers no run could use", () => {
    const errors = errorsOf(
      mockConfig({
        parameters: { big: { type: "int", min: 0, max: 1e20 }, wide: { type: "float", min: -1e308, max: 1e308 } },
        optimization: { evolution: { population_size: 100_000_000 } },
      }),
    );
    expect(errors.map((e) => e.path)).toEqual(
      expect.arrayContaining([
        "search_space.parameters.big.max",
        "search_space.parameters.wide.max",
        "optimization.evolution.population_size",
      ]),
    );
  });

  it("refuses __proto__ as a name", () => {
    const raw = JSON.parse(
      '{"api":{"name":"x","mock_mode":true},"search_space":{"parameters":{"__proto__":{"type":"float","min":0,"max":1}}},"evaluation":{"test_cases":{"inline":[{"id":"a"}]},"metrics":{"q":{"type":"llm_judge"}}}}',
    );
    expect(errorsOf(raw)).toEqual([{ path: "search_space.parameters.__proto__", message: "__proto__ cannot be used as a name" }]);
  });

  it("reads YAML merge keys and refuses alias bombs", () => {
    const merged = parseConfigText("base: &b { type: float, min: 0, max: 1 }\nparam: { <<: *b, step: 0.5 }\n", "yaml", "m.yaml");
    expect(merged.value).toEqual({ base: { type: "float", min: 0, max: 1 }, param: { type: "float", min: 0, max: 1, step: 0.5 } });
    const bomb = [
      "a: &a [1,1,1,1,1,1,1,1,1]",
      "b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]",
      "c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]",
      "d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]",
      "e: [*d,*d,*d,*d,*d,*d,*d,*d,*d]",
    ].join("\n");
    // 36 aliases standing for 59,049 values: refused once their expansion passes the size the caller allows.
    expect(parseConfigText(bomb, "yaml", "bomb.yaml", { maxBytes: 64 * 1024 }).errors[0]?.message).toMatch(
      /^bomb\.yaml expands to more than 64 KiB \(line \d+\) through its aliases/,
    );
  });

  it("checks judge, embeddings, evaluator and template settings", () => {
    const config = mockConfig();
    const errors = errorsOf({
      ...config,
      api: {
        name: "x",
        endpoint: "https://api.acme.dev/v1",
        request: { method: "GET", body_template: { q: "{{input.q}}" } },
        auth: { type: "query" },
      },
      evaluation: {
        ...config.evaluation,
        judge: { model: "gpt-4o-mini" },
        embeddings: { provider: "workers-ai", model: "@cf/baai/bge-base-en-v1.5" },
        custom_evaluator: { module: "m", function: "f", class: "C" },
      },
    });
    expect(errors.map((e) => e.path).sort()).toEqual([
      "api.auth.token_env",
      "api.request.body_template",
      "evaluation.custom_evaluator.class",
      "evaluation.judge.endpoint",
    ]);
  });

  it("refuses a body template that is a single value or names a parameter the search space lacks", () => {
    const api = (body_template: unknown) => ({ name: "x", endpoint: "https://api.acme.dev/v1", request: { body_template } });
    expect(errorsOf(mockConfig({ api: api("{{params.model}}") }))).toEqual([
      { path: "api.request.body_template", message: expect.stringMatching(/must be a JSON object or list/) },
    ]);
    expect(errorsOf(mockConfig({ api: api({ model: "{{params.model}}", t: "{{params.temprature}}" }) }))).toEqual([
      {
        path: "api.request.body_template",
        message: "{{params.temprature}} names no parameter of search_space.parameters (model, temperature, max_tokens)",
      },
    ]);
    expect(errorsOf(mockConfig({ api: api({ model: "{{params.model}}", q: "{{input.anything}}" }) }))).toEqual([]);
  });

  it("refuses an unknown algorithm and accepts genetic as evolution", () => {
    expect(errorsOf(mockConfig({ optimization: { algorithm: "annealing" } }))[0]?.path).toBe("optimization.algorithm");
    expect(validateConfig(mockConfig({ optimization: { algorithm: "genetic" } })).config?.optimization.algorithm).toBe("evolution");
  });
});

describe("warnings", () => {
  it("flags misspelt settings instead of dropping them silently", () => {
    const config = mockConfig({ optimization: { evolution: { populaton_size: 4 } } });
    const result = validateConfig({ ...config, search_space: { parameters: { t: { type: "float", min: 0, max: 1, stpe: 0.1 } } } });
    expect(result.errors).toEqual([]);
    expect(result.warnings.map((w) => w.path)).toEqual(
      expect.arrayContaining(["optimization.evolution.populaton_size", "search_space.parameters.t.stpe"]),
    );
  });

  it("flags keys named like Object.prototype's members as unknown instead of failing on them", () => {
    const result = validateConfig({ ...mockConfig(), constructor: [null], optimization: { toString: 1, seed: 1 } });
    expect(result.errors).toEqual([]);
    expect(result.warnings.map((w) => w.path)).toEqual(expect.arrayContaining(["constructor", "optimization.toString"]));
  });
});

describe("test case files", () => {
  it.each([
    ["a list", [{ id: "x", input: { q: 1 } }]],
    ["{test_cases: [...]}", { test_cases: [{ id: "x", input: { q: 1 } }] }],
    ["one object", { id: "x", input: { q: 1 } }],
  ])("reads %s, relative to the config file", async (_label, content) => {
    const { writeFileSync } = await import("node:fs");
    const dir = tempDir("cases");
    writeFileSync(join(dir, "cases.json"), JSON.stringify(content));
    const config = mockConfig();
    const prepared = await prepareRun(
      { ...config, evaluation: { ...config.evaluation, test_cases: { path: "cases.json" } } },
      nodePrepareOptions(join(dir, "config.yaml")),
    );
    expect(prepared.ok && prepared.run.testCases).toEqual([{ id: "x", input: { q: 1 }, expected: {}, metadata: {}, weight: 1 }]);
  });
});
