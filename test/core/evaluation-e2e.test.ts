/**
 * Whole optimizations against the local provider double (test/helpers/provider.ts): a real LLM judge, real
 * embeddings and real target calls over HTTP, with failures injected.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { type OptimizationResult, runOptimization } from "../../src/node/index.js";
import { type ProviderDouble, startProvider } from "../helpers/provider.js";
import { json, startServer } from "../helpers/server.js";
import { tempDir } from "../helpers/temp.js";

const CASES = [
  {
    id: "capital",
    input: { messages: [{ role: "user", content: "Name the capital city of Japan and one famous landmark there" }] },
    expected: { reference: "capital city of Japan landmark", contains: ["Japan"] },
  },
  {
    id: "story",
    input: { messages: [{ role: "user", content: "Write one sentence about a robot learning to paint with colors" }] },
    expected: { reference: "robot learning to paint colors" },
  },
  {
    id: "math",
    input: { messages: [{ role: "user", content: "Explain how far a car at 80 km per hour travels in 3 hours" }] },
    expected: { reference: "car travels 240 km in 3 hours" },
    metadata: { weight: 2 },
  },
];

function config(provider: ProviderDouble, overrides: { execution?: object; api?: object; evaluation?: object } = {}) {
  return {
    api: {
      name: "double",
      endpoint: `${provider.url}/v1/chat/completions`,
      auth: { type: "bearer", token_env: "TARGET_KEY" },
      // The double's "slow" failures never answer: the timeout is what ends them, with room for a loaded machine's
      // ordinary replies (a reply counted as timed out would break the exact counts of retries below).
      request: { timeout_seconds: 1, retry_base_delay_ms: 5, retry_max_delay_ms: 20 },
      ...overrides.api,
    },
    search_space: {
      parameters: {
        model: { type: "categorical", values: ["gpt-4o-mini", "gpt-4.1-nano"] },
        temperature: { type: "float", min: 0, max: 1, step: 0.1 },
      },
    },
    evaluation: {
      test_cases: { inline: CASES },
      judge: { endpoint: `${provider.url}/v1/chat/completions`, model: "gpt-4o-mini", token_env: "JUDGE_KEY" },
      embeddings: { endpoint: `${provider.url}/v1/embeddings`, model: "text-embedding-3-small", token_env: "JUDGE_KEY" },
      metrics: {
        quality: { type: "llm_judge", weight: 0.6 },
        relevance: { type: "cosine_similarity", weight: 0.3 },
        cost: { type: "cost_normalized", weight: 0.1, budget_per_call: 0.01 },
      },
      ...overrides.evaluation,
    },
    optimization: {
      algorithm: "evolution",
      seed: 3,
      evolution: { population_size: 8, generations: 5 },
      execution: { parallel_workers: 4, max_retries: 3, early_stopping: { enabled: false }, ...overrides.execution },
    },
  };
}

const env = { TARGET_KEY: "target-key-1", JUDGE_KEY: "judge-key-1" };
let provider: ProviderDouble | null = null;
afterEach(async () => {
  await provider?.close();
  provider = null;
});

function chatReply(content: string) {
  return { choices: [{ message: { role: "assistant", content } }], usage: { prompt_tokens: 5, completion_tokens: 5 } };
}

function ok(result: OptimizationResult) {
  if (!result.success) throw new Error(result.error);
  return result;
}

describe("an optimization against real model services", () => {
  it("scores with the judge, embeddings and cost, judging each distinct answer once", async () => {
    provider = await startProvider();
    const result = ok(await runOptimization({ configDict: config(provider), env }));
    // The double's answers repeat more of the task the closer temperature is to 0.3, which its judge rewards.
    expect(Math.abs((result.best_config.temperature as number) - 0.3)).toBeLessThanOrEqual(0.1);
    expect(result.best_score).toBeGreaterThan(0.7);
    // Every judge request the server saw was a new (answer, rubric): repeated answers came from the cache.
    expect(new Set(provider.judgePrompts).size).toBe(provider.judgePrompts.length);
    expect(provider.counts.judge).toBeLessThan(result.target_calls);
    expect(provider.counts.judge).toBeGreaterThan(0);
    // Judging cost is counted apart from the target's.
    expect(result.evaluation_cost_usd).toBeGreaterThan(0);
    expect(result.cost_usd).toBeGreaterThan(0);
    // Each reference was embedded once; later calls only embed new answers.
    const embedded = provider.requests.filter((r) => r.path === "/v1/embeddings").flatMap((r) => JSON.parse(r.body).input as string[]);
    expect(new Set(embedded).size).toBe(embedded.length);
    for (const r of provider.requests) {
      expect(r.headers.authorization).toBe(
        r.path === "/v1/embeddings" || JSON.parse(r.body).messages?.[0]?.role === "system" ? "Bearer judge-key-1" : "Bearer target-key-1",
      );
    }
  });

  it("completes with 20% of target calls failing, counts the retries, and says which test cases failed and why", async () => {
    provider = await startProvider({ failEvery: 5 });
    const retried = ok(await runOptimization({ configDict: config(provider), env }));
    expect(provider.counts.failures.status500).toBeGreaterThan(0);
    expect(provider.counts.failures.status429).toBeGreaterThan(0);
    expect(provider.counts.failures.slow).toBeGreaterThan(0);
    expect(retried.retries).toBe(provider.counts.failures.status500 + provider.counts.failures.status429 + provider.counts.failures.slow);

    await provider.close();
    provider = await startProvider({ failEvery: 5 });
    const unretried = ok(await runOptimization({ configDict: config(provider, { execution: { max_retries: 0 } }), env }));
    expect(unretried.retries).toBe(0);
    expect(unretried.failed_calls / unretried.target_calls).toBeGreaterThan(0.15);
    expect(unretried.failed_calls / unretried.target_calls).toBeLessThan(0.25);
    expect(unretried.failures.reduce((sum, f) => sum + f.failures, 0)).toBe(unretried.failed_calls);
    const reasons = unretried.failures.flatMap((f) => f.reasons.map((r) => r.message)).join("\n");
    expect(reasons).toMatch(/HTTP 500/);
    expect(reasons).toMatch(/HTTP 429/);
    expect(reasons).toMatch(/timed out after 1 s/);
    for (const f of unretried.failures) {
      expect(CASES.map((c) => c.id)).toContain(f.test_case_id);
      expect(f.reasons.reduce((sum, r) => sum + r.count, 0)).toBe(f.failures);
      expect(f.reasons.every((r) => r.kind === "target")).toBe(true);
    }
  });

  it("stops cleanly at max_cost_usd", async () => {
    provider = await startProvider();
    const full = ok(await runOptimization({ configDict: config(provider), env }));
    const fullCost = full.cost_usd + full.evaluation_cost_usd;
    const budget = fullCost / 3;
    const result = ok(await runOptimization({ configDict: config(provider, { execution: { max_cost_usd: budget } }), env }));
    expect(result.stop_reason).toBe("max_cost_usd");
    const spent = result.cost_usd + result.evaluation_cost_usd;
    expect(spent).toBeGreaterThanOrEqual(budget);
    // The budget stops new calls at once: the overshoot is at most what the calls already in flight cost.
    const perCall = fullCost / full.target_calls;
    expect(spent).toBeLessThan(budget + 4 * perCall * 3);
    expect(result.target_calls).toBeLessThan(full.target_calls);
  });

  it("holds max_cost_usd with mab_evolution's racing too", async () => {
    provider = await startProvider();
    const racing = (execution: object) =>
      config(provider as ProviderDouble, { execution }) as ReturnType<typeof config> & { optimization: Record<string, unknown> };
    const fullConfig = racing({});
    fullConfig.optimization.algorithm = "mab_evolution";
    const full = ok(await runOptimization({ configDict: fullConfig, env }));
    // Racing scores every config of a generation on the first cases before any on all of them: the budget must
    // outlast the first generation for a config to be complete.
    const budget = (full.cost_usd + full.evaluation_cost_usd) * 0.6;
    const capped = racing({ max_cost_usd: budget });
    capped.optimization.algorithm = "mab_evolution";
    const result = ok(await runOptimization({ configDict: capped, env }));
    expect(result.stop_reason).toBe("max_cost_usd");
    const perCall = (full.cost_usd + full.evaluation_cost_usd) / full.target_calls;
    expect(result.cost_usd + result.evaluation_cost_usd).toBeLessThan(budget + 4 * perCall * 3);
    expect(result.target_calls).toBeLessThan(full.target_calls);
  });

  it("fails a case, not the run, when the judge fails, and says so", async () => {
    provider = await startProvider();
    const broken = config(provider, { evaluation: { judge: { endpoint: `${provider.url}/v1/nowhere`, model: "x", max_retries: 0 } } });
    const server = await startServer((_req, res) => json(res, 404, { error: "no such route" }));
    (broken.evaluation as { judge: { endpoint: string } }).judge.endpoint = server.url;
    try {
      const result = await runOptimization({ configDict: broken, env });
      expect(result.success).toBe(false);
      expect(result.error).toMatch(/^every evaluation failed \(\d+ calls\); first error: evaluation\.judge: HTTP 404/);
    } finally {
      await server.close();
    }
  });
});

describe("custom evaluators", () => {
  const base = (provider: ProviderDouble, evaluator: object, metrics: object = { fit: { weight: 1, function: "custom" } }) => {
    const c = config(provider) as Record<string, Record<string, unknown>>;
    return {
      ...c,
      evaluation: { test_cases: { inline: CASES }, custom_evaluator: evaluator, metrics },
      optimization: { seed: 1, evolution: { population_size: 4, generations: 2 } },
    };
  };

  it.each([
    [
      "SDK style, TypeScript",
      "fit.ts",
      "export function score(prediction: { text: string }, expected: unknown, context: { metrics: string[] }) { return { fit: prediction.text.length > 5 ? 0.75 : 0 }; }\n",
    ],
    [
      "core style, JavaScript",
      "fit.mjs",
      "export async function score(result, expected, params, metric) { return metric === 'fit' && result.choices ? 0.75 : 0; }\n",
    ],
    [
      "a class",
      "fit.js",
      "export class Scorer { constructor() { this.value = 0.75; } evaluate(prediction, expected, context) { return this.value; } }\n",
    ],
    [
      "a class, core style",
      "fit.js",
      "export class Scorer { constructor() { this.value = 0.75; } evaluate(result, expected, params, metric) { return metric === 'fit' && result.choices ? this.value : 0; } }\n",
    ],
  ])("loads a module evaluator: %s", async (_label, file, source) => {
    provider = await startProvider();
    const dir = tempDir("evaluator");
    writeFileSync(join(dir, file), source);
    writeFileSync(join(dir, "package.json"), JSON.stringify({ type: "module" }));
    const module = file.replace(/\.(ts|mjs|js)$/, "");
    const evaluator = file === "fit.js" ? { module, class: "Scorer" } : { module, function: "score" };
    writeFileSync(join(dir, "config.json"), JSON.stringify(base(provider, evaluator)));
    const result = ok(await runOptimization({ yamlPath: join(dir, "config.json"), env }));
    expect(result.best_score).toBeCloseTo(0.75);
  });

  it("scores through an HTTP evaluator", async () => {
    provider = await startProvider();
    const seen: unknown[] = [];
    const server = await startServer((req, res) => {
      seen.push(JSON.parse(req.body));
      json(res, 200, { scores: { fit: 0.5, tone: 1 } });
    });
    try {
      const result = ok(
        await runOptimization({
          configDict: base(provider, { url: server.url }, { fit: { weight: 1 }, tone: { weight: 1, type: "higher_is_better" } }),
          env,
        }),
      );
      expect(result.best_score).toBeCloseTo(0.75);
      expect(seen[0]).toMatchObject({
        metric: "fit",
        metrics: ["fit", "tone"],
        response: { text: expect.any(String) },
        params: { model: expect.any(String) },
      });
    } finally {
      await server.close();
    }
  });

  it("names the module and the function of a broken evaluator", async () => {
    provider = await startProvider();
    const dir = tempDir("evaluator");
    writeFileSync(join(dir, "boom.mjs"), "throw new Error('cannot start: missing model file');\n");
    writeFileSync(join(dir, "empty.mjs"), "export const answer = 42;\n");
    writeFileSync(join(dir, "a.json"), JSON.stringify(base(provider, { module: "boom", function: "score" })));
    writeFileSync(join(dir, "b.json"), JSON.stringify(base(provider, { module: "empty", function: "score" })));
    const boom = await runOptimization({ yamlPath: join(dir, "a.json"), env });
    expect(boom.error).toMatch(/evaluation\.custom_evaluator\.module: cannot load boom\.score: cannot start: missing model file/);
    const empty = await runOptimization({ yamlPath: join(dir, "b.json"), env });
    expect(empty.error).toMatch(/cannot load empty\.score: .*empty\.mjs exports no function 'score'/);
  });
});

describe("secrets", () => {
  it.each([
    ["a query-string key", { type: "query", token_env: "TARGET_MARK", query_param: "key" }],
    ["basic auth", { type: "basic", username: "team", password_env: "TARGET_MARK" }],
    ["a bearer key", { type: "bearer", token_env: "TARGET_MARK" }],
  ])("keeps the target's key (%s) and the judge's own key out of every result", async (_label, auth) => {
    const targetKey = "tk Q+ry/9=MARK";
    const judgeKey = "jk-JUDGE/MARK+2";
    const { base64 } = await import("../../src/target/secrets.js");
    const forms = [targetKey, encodeURIComponent(targetKey), "tk+Q%2Bry%2F9%3DMARK", base64(`team:${targetKey}`), judgeKey];
    let n = 0;
    // Both servers quote back everything they were sent: the URL, the authorization header, the body.
    const target = await startServer((req, res) => {
      n += 1;
      const echo = `${req.url} ${req.headers.authorization ?? ""}`;
      if (n % 3 === 0) return json(res, 401, { error: `invalid credentials ${echo}` });
      json(res, 200, { choices: [{ message: { content: `echo ${echo}` } }], usage: { prompt_tokens: 5, completion_tokens: 5 } });
    });
    const judge = await startServer((req, res) =>
      n % 2 === 0
        ? json(res, 500, { error: `judge refused ${req.headers.authorization}` })
        : json(res, 200, chatReply(`{"score": 7, "reason": "auth was ${req.headers.authorization}"}`)),
    );
    try {
      const result = await runOptimization({
        configDict: {
          api: { name: "echo", endpoint: target.url, auth, request: { retry_base_delay_ms: 1, retry_max_delay_ms: 2 } },
          search_space: { parameters: { t: { type: "float", min: 0, max: 1, step: 0.5 } } },
          evaluation: {
            test_cases: { inline: CASES },
            judge: { endpoint: judge.url, model: "m", token_env: "JUDGE_MARK", max_retries: 0 },
            metrics: { q: { type: "llm_judge", weight: 1 } },
          },
          optimization: { seed: 1, evolution: { population_size: 3, generations: 2 }, execution: { max_retries: 1 } },
        },
        env: { TARGET_MARK: targetKey, JUDGE_MARK: judgeKey },
      });
      const text = JSON.stringify(result);
      for (const form of forms) expect(text).not.toContain(form);
      expect(text).toContain("[redacted]");
      expect(result.target_calls).toBeGreaterThan(0);
    } finally {
      await target.close();
      await judge.close();
    }
  });

  it("never lets a key appear in a result, an output file, a log line or an error", async () => {
    const marker = "sk-MARKER-7d1e9c";
    // A target that quotes the key it was sent in every error, and sometimes in its answers.
    let n = 0;
    const target = await startServer((req, res) => {
      n += 1;
      if (n % 3 === 0) return json(res, 401, { error: `invalid key ${req.headers.authorization}` });
      json(res, 200, {
        choices: [{ message: { content: `echo ${req.headers.authorization}` } }],
        usage: { prompt_tokens: 5, completion_tokens: 5 },
      });
    });
    const judge = await startServer((req, res) => json(res, 500, { error: `judge refused ${req.headers.authorization}` }));
    try {
      const dir = tempDir("secrets");
      const cfg = {
        api: {
          name: "leaky",
          endpoint: target.url,
          auth: { type: "bearer", token_env: "LEAK_KEY" },
          request: { retry_base_delay_ms: 1, retry_max_delay_ms: 2 },
        },
        search_space: { parameters: { t: { type: "float", min: 0, max: 1, step: 0.5 } } },
        evaluation: {
          test_cases: { inline: CASES },
          judge: { endpoint: judge.url, model: "m", token_env: "LEAK_KEY", max_retries: 0 },
          metrics: { q: { type: "llm_judge", weight: 1, judge: { endpoint: judge.url } }, c: { type: "contains", weight: 1 } },
        },
        optimization: { seed: 1, evolution: { population_size: 3, generations: 2 }, execution: { max_retries: 1 } },
      };
      writeFileSync(join(dir, "leaky.json"), JSON.stringify(cfg));
      const result = await runOptimization({ yamlPath: join(dir, "leaky.json"), env: { LEAK_KEY: marker } });
      expect(JSON.stringify(result)).not.toContain(marker);
      expect(JSON.stringify(result)).toContain("[redacted]");
      const { execFile } = await import("node:child_process");
      const { readdirSync, readFileSync } = await import("node:fs");
      const out = join(dir, "out");
      // Asynchronously: the servers answering the CLI live in this process.
      const cli = await new Promise<{ stdout: string; stderr: string }>((resolve) => {
        execFile(
          process.execPath,
          ["bin/convergence.js", "optimize", join(dir, "leaky.json"), "--output", out],
          { cwd: join(import.meta.dirname, "../.."), encoding: "utf8", env: { ...process.env, LEAK_KEY: marker }, timeout: 60_000 },
          (_error, stdout, stderr) => resolve({ stdout, stderr }),
        );
      });
      expect(cli.stdout + cli.stderr).not.toContain(marker);
      expect(cli.stdout + cli.stderr).toMatch(/failed/);
      for (const file of readdirSync(out)) expect(readFileSync(join(out, file), "utf8")).not.toContain(marker);
    } finally {
      await target.close();
      await judge.close();
    }
  });
});
