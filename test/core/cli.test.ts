import { spawnSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { parse, stringify } from "yaml";
import { scoreCase } from "../../src/evaluate/case.js";
import type { JsonValue } from "../../src/json.js";
import { prepareFromOptions } from "../../src/node/run-optimization.js";
import { enumerate, type ParamConfig } from "../../src/search/space.js";
import { errorLines } from "../helpers/cli.js";
import { mockConfig } from "../helpers/configs.js";
import { startServer } from "../helpers/server.js";
import { tempDir } from "../helpers/temp.js";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const SEED_EXAMPLES = join(ROOT, "test/fixtures/seed-examples");

function cli(args: string[], options: { npx?: boolean; env?: Record<string, string> } = {}) {
  const [command, prefix] = options.npx ? ["npx", ["--no-install", "convergence"]] : [process.execPath, ["bin/convergence.js"]];
  const result = spawnSync(command, [...prefix, ...args], {
    cwd: ROOT,
    encoding: "utf8",
    env: { ...process.env, ...options.env },
    timeout: 60_000,
  });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

function tempConfig(config: unknown, name = "config.yaml", extraFiles: Record<string, string> = {}): string {
  const dir = tempDir("cli");
  writeFileSync(join(dir, name), typeof config === "string" ? config : stringify(config));
  for (const [file, content] of Object.entries(extraFiles)) writeFileSync(join(dir, file), content);
  return join(dir, name);
}

/** The best score any config of the (fully discrete) space can reach, by scoring every one of them. */
async function bruteForceOptimum(yamlPath: string): Promise<number> {
  // The same config without the quickstart's simulated wait: 4,092 configs x 3 cases are scored here.
  const raw = parse(readFileSync(yamlPath, "utf8"));
  raw.api.mock_latency_ms = 0;
  const prepared = await prepareFromOptions({ configDict: raw });
  if (!prepared.ok) throw new Error("bad config");
  const { config, testCases, target, scoring } = prepared.run;
  const space = config.search_space.parameters;
  const names = Object.keys(space);
  const grids = names.map((n) => enumerate(space[n] as never) as JsonValue[]);
  const totalWeight = testCases.reduce((a, t) => a + t.weight, 0);
  let best = Number.NEGATIVE_INFINITY;
  const visit = async (i: number, params: ParamConfig): Promise<void> => {
    if (i === names.length) {
      let sum = 0;
      for (const t of testCases) sum += (await scoreCase(target, scoring, params, t)).score * t.weight;
      best = Math.max(best, sum / totalWeight);
      return;
    }
    for (const value of grids[i] as JsonValue[]) await visit(i + 1, { ...params, [names[i] as string]: value });
  };
  await visit(0, {});
  return best;
}

describe("convergence optimize", () => {
  it("runs the quickstart through npx with progress, ending within 0.02 of the mock's optimum", async () => {
    const run = cli(["optimize", "examples/quickstart.yaml", "--json"], { npx: true });
    expect(run.code).toBe(0);
    expect(run.stderr).toMatch(/generation 1\/12: best \d\.\d{4}/);
    expect(run.stderr).toMatch(/Done in .*target calls/);
    const result = JSON.parse(run.stdout);
    expect(result.success).toBe(true);
    const optimum = await bruteForceOptimum(join(ROOT, "examples/quickstart.yaml"));
    expect(result.best_score).toBeGreaterThanOrEqual(optimum - 0.02);
    expect(result.best_score).toBeLessThanOrEqual(optimum + 1e-9);
  });

  it("prints the best config and score, and writes the output files", () => {
    const out = tempDir("out");
    const run = cli(["optimize", "examples/quickstart.yaml", "--output", out, "--quiet"]);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/^Best score: 0\.\d{4}\nBest config:\n\{/);
    expect(run.stderr).toBe("");
    expect(readdirSync(out).sort()).toEqual(["best_config.json", "detailed_results.json", "experiments.csv", "report.md"]);
    const best = JSON.parse(readFileSync(join(out, "best_config.json"), "utf8"));
    expect(Object.keys(best.config).sort()).toEqual(["max_tokens", "model", "temperature", "top_p"]);
    const details = JSON.parse(readFileSync(join(out, "detailed_results.json"), "utf8"));
    expect(details.evaluations.length).toBeGreaterThan(0);
    expect(details.evaluations[0]).toMatchObject({ test_case_id: expect.any(String), score: expect.any(Number), success: true });
    const csv = readFileSync(join(out, "experiments.csv"), "utf8").split("\n");
    expect(csv[0]).toBe(
      "generation,candidate,score,complete,dropped,model,temperature,top_p,max_tokens,metric:quality,metric:latency,metric:cost",
    );
    const report = readFileSync(join(out, "report.md"), "utf8");
    expect(report).toMatch(/# Optimization report: quickstart/);
    // Generations counted from 1, as everywhere else: the table's first row is generation 1.
    expect(report).toMatch(/\n\| 1 +\|/);
    expect(report).not.toMatch(/\n\| 0 +\|/);
  });

  it("gives the same result for the same --seed", () => {
    const a = JSON.parse(cli(["optimize", "examples/noisy_mock.yaml", "--json", "--quiet", "--seed", "5"]).stdout);
    const b = JSON.parse(cli(["optimize", "examples/noisy_mock.yaml", "--json", "--quiet", "--seed", "5"]).stdout);
    expect(b.best_config).toEqual(a.best_config);
    expect(b.history).toEqual(a.history);
    expect(a.seed).toBe(5);
  });

  it.each(["examples/groq/groq_optimization.yaml", "examples/openai/openai_optimization.yaml"])(
    "runs the mock-mode seed example %s with its TypeScript evaluator",
    (path) => {
      const run = cli(["optimize", path, "--json"]);
      expect(run.stderr).not.toMatch(/warning/);
      expect(run.code).toBe(0);
      const result = JSON.parse(run.stdout);
      expect(result.success).toBe(true);
      expect(result.failed_calls).toBe(0);
      expect(result.best_score).toBeGreaterThan(0.3);
    },
  );

  it("refuses an --output that is not a folder before calling anything", () => {
    const file = tempConfig("not a folder", "file.txt");
    const run = cli(["optimize", "examples/quickstart.yaml", "--output", file]);
    expect(run.code).toBe(2);
    expect(run.stderr).toBe(`convergence: --output ${file}: exists and is not a folder\n`);
  });

  it("exits 1 with a clear message when the target cannot be reached", async () => {
    const server = await startServer(() => {});
    await server.close();
    const path = tempConfig(
      mockConfig({
        api: { name: "down", mock_mode: false, endpoint: `${server.url}/v1` },
        optimization: { evolution: { population_size: 2, generations: 1 }, execution: { max_retries: 0 } },
      }),
    );
    const run = cli(["optimize", path, "--quiet"]);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/^Optimization failed: every call to the target failed \(\d+ calls\); first error: .*ECONNREFUSED/m);
    expect(run.stderr).not.toMatch(/\n\s+at /);
  });
});

describe("convergence validate", () => {
  const seedFiles = (dir: string): string[] =>
    readdirSync(dir).flatMap((name) => (statSync(join(dir, name)).isDirectory() ? seedFiles(join(dir, name)) : [join(dir, name)]));
  /** The seed's example files ending in `ext`, relative to SEED_EXAMPLES. */
  const seedExamples = (ext: string) =>
    seedFiles(SEED_EXAMPLES)
      .filter((f) => f.endsWith(ext))
      .map((f) => f.slice(SEED_EXAMPLES.length + 1));

  it.each(seedExamples(".yaml"))("agrees with optimize on the seed example %s: refused, with the same problems", (file) => {
    const validated = cli(["validate", join(SEED_EXAMPLES, file)]);
    const optimized = cli(["optimize", join(SEED_EXAMPLES, file), "--quiet"]);
    expect(validated.code).toBe(2);
    expect(optimized.code).toBe(2);
    // Its Python evaluator is not ported, and its key is not set in this shell.
    expect(validated.stdout).toMatch(/error: +evaluation\.custom_evaluator\.module: cannot find module '\w+' next to the config/);
    expect(validated.stdout).toMatch(/error: +api\.auth: environment variable \w+_API_KEY is not set/);
    expect(errorLines(validated.stdout)).toEqual(errorLines(optimized.stderr));
  });

  it.each(seedExamples(".json"))("reads the seed test-case file %s as test cases, and says where they go", (file) => {
    const run = cli(["validate", join(SEED_EXAMPLES, file)]);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/: valid test-case file \(\d+ test cases?; a config names it in evaluation\.test_cases\.path\)/);
  });

  it.each(["quickstart.yaml", "groq/groq_optimization.yaml", "openai/openai_optimization.yaml", "noisy_mock.yaml"])(
    "agrees with optimize on examples/%s: both accept it",
    (file) => {
      const validated = cli(["validate", join("examples", file)]);
      expect(validated).toMatchObject({ code: 0, stdout: expect.stringMatching(/: valid config \(/) });
      expect(cli(["optimize", join("examples", file), "--quiet", "--seed", "1"]).code).toBe(0);
    },
  );

  it("refuses an evaluator module that is there but broken", () => {
    const config = {
      ...mockConfig(),
      evaluation: {
        ...mockConfig().evaluation,
        custom_evaluator: { module: "judge", function: "score" },
        metrics: { q: { weight: 1, function: "custom" } },
      },
    };
    const path = tempConfig(config, "config.yaml", {
      "judge.ts": "export function score(result, expected, params, metric) { return 1 +; }\n",
    });
    const run = cli(["validate", path]);
    expect(run.code).toBe(2);
    expect(run.stdout).toMatch(/error: +evaluation\.custom_evaluator\.module: cannot load judge\.score: /);
  });

  it("prints every problem of a bad config, with its path", () => {
    const path = tempConfig({
      api: { name: "x", mock_mode: true },
      search_space: { parameters: { t: { type: "float", min: 2, max: 1 }, m: { type: "categorical", values: [] } } },
      evaluation: { metrics: {} },
    });
    const run = cli(["validate", path]);
    expect(run.code).toBe(2);
    expect(run.stdout).toContain("search_space.parameters.t.max: must be at least min (min is 2, max is 1)");
    expect(run.stdout).toContain("search_space.parameters.m.values: a categorical parameter needs at least one value");
    expect(run.stdout).toContain("evaluation.metrics: must define at least one metric");
  });
});

describe("bad input", () => {
  const base = mockConfig();
  const cases: [string, unknown, RegExp][] = [
    ["missing sections", { api: { name: "x" } }, /search_space: is required[\s\S]*evaluation: is required/],
    [
      "wrong types",
      { ...base, optimization: { evolution: { population_size: "many" } } },
      /optimization\.evolution\.population_size: Invalid input: expected number, received string/,
    ],
    [
      "min > max",
      { ...base, search_space: { parameters: { t: { type: "float", min: 1, max: 0 } } } },
      /search_space\.parameters\.t\.max: must be at least min/,
    ],
    [
      "an empty categorical",
      { ...base, search_space: { parameters: { m: { type: "categorical", values: [] } } } },
      /search_space\.parameters\.m\.values: a categorical parameter needs at least one value/,
    ],
    [
      "a missing test-case file",
      { ...base, evaluation: { ...base.evaluation, test_cases: { path: "nowhere.json" } } },
      /evaluation\.test_cases\.path: test case file not found: .*nowhere\.json/,
    ],
    [
      "an unknown metric type without an evaluator",
      { ...base, evaluation: { ...base.evaluation, metrics: { q: { type: "vibes", weight: 1 } } } },
      /evaluation\.metrics\.q\.type: unknown metric type 'vibes' and no custom evaluator is configured/,
    ],
    ["malformed YAML", "api:\n  name: [oops\n", /is not valid YAML at line \d+, column \d+/],
  ];

  it.each(cases)("%s: exit 2, a message naming the problem, no stack trace", (_label, config, message) => {
    const path = tempConfig(config);
    for (const command of ["optimize", "validate"]) {
      const run = cli([command, path]);
      expect(run.code).toBe(2);
      expect(run.stdout + run.stderr).toMatch(message);
      expect(run.stdout + run.stderr).not.toMatch(/\n\s+at |Error:/);
    }
  });

  it("rejects bad usage with exit 2", () => {
    expect(cli([]).code).toBe(2);
    expect(cli(["frobnicate", "x.yaml"]).stderr).toMatch(/unknown command 'frobnicate'/);
    expect(cli(["optimize"]).stderr).toMatch(/optimize needs a CONFIG file/);
    expect(cli(["optimize", "examples/quickstart.yaml", "--seed", "abc"]).stderr).toMatch(/--seed must be an integer, got 'abc'/);
    expect(cli(["optimize", "examples/quickstart.yaml", "--bogus"]).code).toBe(2);
    const missing = cli(["optimize", "nope.yaml"]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/Config file not found: nope\.yaml/);
    expect(cli(["--help"]).stdout).toMatch(/^convergence \d+\.\d+\.\d+/);
    expect(existsSync(join(ROOT, "dist/src/index.js"))).toBe(true);
  });

  it("rejects bad usage of the service commands with exit 2, before calling anything", () => {
    const output = cli(["optimize", "examples/quickstart.yaml", "--server", "http://127.0.0.1:9", "--output", "out"]);
    expect(output).toMatchObject({ code: 2 });
    expect(output.stderr).toMatch(/--output writes a run's files in-process/);
    expect(cli(["runs"]).code).toBe(2);
    expect(cli(["runs", "--help"]).stdout).toMatch(/convergence runs list/);
    expect(cli(["runs", "launch"]).stderr).toMatch(/unknown runs action 'launch'/);
    expect(cli(["runs", "show"]).stderr).toMatch(/runs show needs a RUN_ID/);
    expect(cli(["runs", "promote", "r1"]).stderr).toMatch(/runs promote needs --system S/);
    const limit = cli(["runs", "list", "--limit", "-3"]);
    expect(limit.code).toBe(2);
    const unreachable = cli(["runs", "list", "--server", "http://127.0.0.1:9"]);
    expect(unreachable.code).toBe(1);
    expect(unreachable.stderr).toMatch(
      /^convergence: cannot reach Convergence at http:\/\/127\.0\.0\.1:9: .*\(is the service running\? `npm start`\)/,
    );
  });
});
