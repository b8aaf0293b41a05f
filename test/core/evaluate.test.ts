import { describe, expect, it } from "vitest";
import { MetricSchema, type TestCase } from "../../src/config/schema.js";
import { aggregate, scoreCase } from "../../src/evaluate/case.js";
import type { runCustomEvaluator } from "../../src/evaluate/custom.js";
import { Corpus, distinctBigramRatio, lexicalCosine, similarityRatio } from "../../src/evaluate/lexical.js";
import { planMetrics } from "../../src/evaluate/registry.js";
import type { Target, TargetResponse } from "../../src/target/types.js";

const testCase: TestCase = {
  id: "t",
  input: { prompt: "capital of Japan?" },
  expected: { answer: "Tokyo", contains: ["Tokyo", "Japan"], min_length: 10 },
  metadata: {},
  weight: 1,
};

function response(partial: Partial<TargetResponse> = {}): TargetResponse {
  return {
    ok: true,
    status: 200,
    body: null,
    text: "Tokyo is the capital of Japan.",
    latency_ms: 1000,
    usage: null,
    model: null,
    cost_usd: 0.002,
    error: null,
    attempts: 1,
    ...partial,
  };
}

const NO_SERVICES = { judge: null, embedder: null };
const targetOf =
  (r: TargetResponse): Target =>
  async () =>
    r;
const metrics = (spec: Record<string, object>) => Object.fromEntries(Object.entries(spec).map(([k, v]) => [k, MetricSchema.parse(v)]));

async function score(spec: Record<string, object>, r = response(), evaluator?: Parameters<typeof runCustomEvaluator>[0]) {
  const plan = planMetrics(metrics(spec), evaluator !== undefined);
  expect(plan.errors).toEqual([]);
  return scoreCase(
    targetOf(r),
    { metrics: plan.metrics, evaluator: evaluator ?? null, corpus: new Corpus([]), services: NO_SERVICES },
    { temperature: 0.5 },
    testCase,
  );
}

describe("metrics", () => {
  it("scores latency and cost against their thresholds, with the documented defaults", async () => {
    const result = await score({
      latency_ms: { weight: 1, threshold: 2000 },
      latency: { type: "latency_penalty", weight: 1 },
      cost_usd: { weight: 1, budget_per_call: 0.004 },
      cost: { type: "cost_normalized", weight: 1 },
      cost_per_call: { weight: 1, budget_per_call: 0.05 },
    });
    expect(result.metrics.latency_ms).toBeCloseTo(0.5);
    expect(result.metrics.latency).toBeCloseTo(0.8);
    expect(result.metrics.cost_usd).toBeCloseTo(0.5);
    expect(result.metrics.cost).toBeCloseTo(0.8);
    expect(result.metrics.cost_per_call).toBeCloseTo(0.96);
    const slow = await score({ latency_ms: { weight: 1, threshold: 2000 } }, response({ latency_ms: 2500 }));
    expect(slow.metrics.latency_ms).toBe(0);
  });

  it("scores accuracy by exact match or similarity with the expected answer", async () => {
    const exact = await score({ accuracy: { weight: 1, function: "exact_match" } }, response({ text: " tokyo. " }));
    expect(exact.score).toBe(1);
    const wrong = await score({ accuracy: { weight: 1, function: "exact_match" } });
    expect(wrong.score).toBe(0);
    const similar = await score({ accuracy: { weight: 1, function: "similarity" } }, response({ text: "Tokio" }));
    expect(similar.score).toBeCloseTo(0.8);
  });

  it("judges by expected's rules without a provider, and reads the mock's quality in mock mode", async () => {
    const judged = await score({ quality: { type: "llm_judge", weight: 1 } });
    expect(judged.score).toBe(1);
    const half = await score({ quality: { type: "llm_judge", weight: 1 } }, response({ text: "It is Tokyo" }));
    // contains 1/2, answer present, min_length met: (0.5 + 1 + 1) / 3
    expect(half.score).toBeCloseTo(2.5 / 3);
    const mock = await score({ quality: { type: "llm_judge", weight: 1 } }, response({ body: { mock: { quality: 0.37 } } }));
    expect(mock.score).toBeCloseTo(0.37);
  });

  it("measures diversity of list answers and of text", async () => {
    const same = await score(
      { d: { type: "diversity_score", weight: 1 } },
      response({ body: { results: ["cats and dogs", "cats and dogs", "cats and dogs"] } }),
    );
    expect(same.score).toBeCloseTo(0);
    const varied = await score(
      { d: { type: "diversity_score", weight: 1 } },
      response({ body: { results: ["cats purr", "rockets launch", "rivers flow"] } }),
    );
    expect(varied.score).toBeCloseTo(1);
    expect(distinctBigramRatio("a b a b a b")).toBeCloseTo(2 / 5);
  });

  it("computes lexical cosine and difflib's ratio", () => {
    expect(lexicalCosine("the cat sat", "the cat sat")).toBeCloseTo(1);
    expect(lexicalCosine("the cat sat", "quantum physics")).toBe(0);
    // Python: difflib.SequenceMatcher(None, "abcd", "bcde").ratio() == 0.75
    expect(similarityRatio("abcd", "bcde")).toBe(0.75);
    expect(similarityRatio("kitten", "sitting")).toBeCloseTo((2 * 4) / 13);
  });

  it("leaves out metrics that do not apply, and averages the rest by weight", async () => {
    const result = await score(
      { sim: { type: "cosine_similarity", weight: 3 }, quality: { type: "llm_judge", weight: 1 } },
      response({ text: "Tokyo" }),
    );
    // expected has an answer, so cosine applies; with no reference at all it would be null.
    expect(result.metrics.sim).toBeGreaterThan(0);
    const noReference = await scoreCase(
      targetOf(response()),
      {
        metrics: planMetrics(metrics({ sim: { type: "cosine_similarity", weight: 3 }, lat: { type: "latency_penalty", weight: 1 } }), false)
          .metrics,
        evaluator: null,
        corpus: new Corpus([]),
        services: NO_SERVICES,
      },
      {},
      { ...testCase, expected: {} },
    );
    expect(noReference.metrics.sim).toBeNull();
    expect(noReference.score).toBeCloseTo(0.8);
    const plan = planMetrics(
      metrics({ a: { type: "latency_penalty", weight: 3 }, b: { type: "cost_normalized", weight: 1 } }),
      false,
    ).metrics;
    expect(aggregate(plan, { a: 1, b: 0 })).toBeCloseTo(0.75);
  });

  it("scores a failed call 0 on every metric, for that case only", async () => {
    const result = await score({ quality: { type: "llm_judge", weight: 1 } }, response({ ok: false, error: "HTTP 500: boom" }));
    expect(result).toMatchObject({ score: 0, success: false, error: "HTTP 500: boom", metrics: { quality: 0 } });
  });
});

describe("rule metrics and the reference's built-in evaluators", () => {
  const scoreOf = async (spec: object, text: string, expected: object) => {
    const plan = planMetrics(metrics({ m: spec }), false);
    expect(plan.errors).toEqual([]);
    const r = await scoreCase(
      targetOf(response({ text })),
      { metrics: plan.metrics, evaluator: null, corpus: new Corpus([]), services: NO_SERVICES },
      {},
      { ...testCase, expected: expected as never },
    );
    return r.error ? r.error : r.metrics.m;
  };

  it("contains: all or any, case-insensitive", async () => {
    expect(await scoreOf({ type: "contains" }, "tokyo is big", { contains: ["Tokyo", "Japan"] })).toBe(0.5);
    expect(await scoreOf({ type: "contains", mode: "any" }, "tokyo is big", { contains: ["Tokyo", "Japan"] })).toBe(1);
    expect(await scoreOf({ type: "contains" }, "anything", {})).toBeNull();
  });

  it("regex, json_valid and json_schema", async () => {
    expect(await scoreOf({ type: "regex", pattern: "^\\d{3}$" }, "240", {})).toBe(1);
    expect(await scoreOf({ type: "regex" }, "about 240 km", { regex: "\\b240\\b" })).toBe(1);
    expect(await scoreOf({ type: "regex", pattern: "(" }, "x", {})).toMatch(/invalid regex "\(" for test case t/);
    expect(await scoreOf({ type: "json_valid" }, '```json\n{"a": 1}\n```', {})).toBe(1);
    expect(await scoreOf({ type: "json_valid" }, "{a: 1}", {})).toBe(0);
    const schema = { type: "object", required: ["name", "age"], properties: { name: { type: "string" }, age: { type: "integer" } } };
    expect(await scoreOf({ type: "json_schema" }, '{"name": "Ann", "age": 30}', { json_schema: schema })).toBe(1);
    // Parses, is an object, has name: 3 checks pass; age is missing and name is not a string: 3 of 5.
    expect(await scoreOf({ type: "json_schema", schema }, '{"name": 7}', {})).toBeCloseTo(3 / 5);
  });

  it("length in characters or words, exact_match and similarity as types", async () => {
    expect(await scoreOf({ type: "length" }, "x".repeat(50), { min_length: 100 })).toBe(0.5);
    expect(await scoreOf({ type: "length", unit: "words" }, "one two three four", { max_words: 2 })).toBe(0.5);
    expect(await scoreOf({ type: "exact_match" }, "Tokyo.", { answer: "tokyo" })).toBe(1);
    expect(await scoreOf({ type: "similarity" }, "Tokio", { answer: "Tokyo" })).toBeCloseTo(0.8);
  });

  it("text_quality, json_structure, json_validity and code_quality by name", async () => {
    const prose = "Tokyo is the capital of Japan. It has 14 million people in the city proper.\n\nIt hosted the 2020 Olympics in 2021.";
    expect(await scoreOf({ type: "text_quality" }, prose, { contains: ["Tokyo"] })).toBeGreaterThan(0.7);
    expect(await scoreOf({ type: "text_quality" }, "ok", {})).toBe(0);
    expect(
      await scoreOf({ type: "json_structure" }, '{"id": 1, "name": "x"}', { required_fields: ["id", "name"], field_types: { id: "int" } }),
    ).toBe(1);
    expect(await scoreOf({ type: "json_validity" }, "[1, 2]", {})).toBe(1);
    const good =
      "```ts\n// sum a list\nexport function sum(xs: number[]): number {\n  let total = 0;\n  for (const x of xs) total += x;\n  return total;\n}\n```";
    const broken = "function sum(xs) { for (const x of xs { return x; }";
    const goodScore = (await scoreOf({ type: "code_quality" }, good, { contains: ["function", "return"], min_lines: 3 })) as number;
    expect(goodScore).toBeGreaterThan(0.9);
    expect((await scoreOf({ type: "code_quality" }, broken, { contains: ["function", "return"] })) as number).toBeLessThan(goodScore - 0.2);
  });

  it("turns a lower_is_better custom value into a score, with and without a threshold", async () => {
    const { customScore } = await import("../../src/evaluate/case.js");
    expect(customScore(0.2, { weight: 1, type: "lower_is_better" })).toBeCloseTo(0.8);
    expect(customScore(1.5, { weight: 1, type: "lower_is_better", threshold: 3 })).toBeCloseTo(0.5);
    expect(customScore(4, { weight: 1, type: "higher_is_better", threshold: 8 })).toBeCloseTo(0.5);
    expect(customScore(7, { weight: 1 })).toBe(1);
  });
});

describe("custom evaluators", () => {
  it("calls an SDK-style evaluator once per case and picks each metric from its dict", async () => {
    let calls = 0;
    const evaluator = async (prediction: { text: string }, _expected: unknown, context: { params: object; metrics: string[] }) => {
      calls++;
      expect(context.params).toEqual({ temperature: 0.5 });
      expect(context.metrics).toEqual(["relevance", "tone", "other"]);
      return { relevance: prediction.text.includes("Tokyo") ? 1 : 0, score: 0.25, tone: 7 };
    };
    const result = await score(
      { relevance: { weight: 1, type: "higher_is_better" }, tone: { weight: 1 }, other: { weight: 2 } },
      response(),
      evaluator as never,
    );
    expect(calls).toBe(1);
    // relevance from its key, tone clamped to 1, other falls back to `score`.
    expect(result.metrics).toEqual({ relevance: 1, tone: 1, other: 0.25 });
    expect(result.score).toBeCloseTo((1 + 1 + 0.5) / 4);
  });

  it("calls a core-style evaluator once per metric with the body, params and metric name", async () => {
    const seen: string[] = [];
    const evaluator = (result: unknown, _expected: unknown, params: Record<string, unknown>, metric: string) => {
      seen.push(metric);
      expect(result).toEqual({ raw: true });
      return metric === "a" ? 0.2 : (params.temperature as number);
    };
    const result = await score(
      { a: { weight: 1, function: "custom" }, b: { weight: 1, function: "custom" } },
      response({ body: { raw: true } }),
      evaluator,
    );
    expect(seen).toEqual(["a", "b"]);
    expect(result.metrics).toEqual({ a: 0.2, b: 0.5 });
  });

  it("tells the convention by parameter names, as the reference does", async () => {
    // Three parameters, named like the core style: the reference's groq evaluator ignores `metric` this way.
    const core = await score(
      { a: { weight: 1, function: "custom" } },
      response({ body: { value: 0.3 } }),
      ((result: { value: number }, _expected: unknown, _params: unknown) => result.value) as never,
    );
    expect(core.score).toBeCloseTo(0.3);
    const sdk = await score({ a: { weight: 1, function: "custom" } }, response(), ((
      prediction: { text: string },
      _expected: unknown,
      _context: unknown,
      _extra: unknown,
    ) => (prediction.text.startsWith("Tokyo") ? 1 : 0)) as never);
    expect(sdk.score).toBe(1);
  });

  it("turns an evaluator that throws or returns junk into a failed case with a clear error", async () => {
    const throwing = await score({ a: { weight: 1, function: "custom" } }, response(), () => {
      throw new Error("model offline");
    });
    expect(throwing).toMatchObject({ score: 0, success: false, error: "custom evaluator failed: model offline" });
    const junk = await score({ a: { weight: 1, function: "custom" } }, response(), () => "great" as never);
    expect(junk.error).toBe(`custom evaluator returned "great" for metric 'a', expected a number`);
  });

  it("sends the seed's accuracy to the evaluator when there is one, else uses exact_match", () => {
    expect(planMetrics(metrics({ accuracy: { weight: 1 } }), true).metrics[0]?.kind).toBe("custom");
    const plan = planMetrics(metrics({ accuracy: { weight: 1 } }), false).metrics[0];
    expect(plan?.kind === "builtin" && plan.metric.id).toBe("exact_match");
    expect(planMetrics(metrics({ accuracy: { weight: 1, function: "fuzzy" } }), false).errors[0]?.path).toBe(
      "evaluation.metrics.accuracy.function",
    );
  });
});

describe("providers and bundled evaluators", () => {
  it("judges and embeds through a Workers AI binding", async () => {
    const { createProvider } = await import("../../src/evaluate/providers.js");
    const { createJudge } = await import("../../src/evaluate/judge.js");
    const { createEmbedder } = await import("../../src/evaluate/embeddings.js");
    const calls: { model: string; input: Record<string, unknown> }[] = [];
    const ai = {
      run: async (model: string, input: Record<string, unknown>) => {
        calls.push({ model, input });
        if ("text" in input) return { data: (input.text as string[]).map((t) => [t.length, 1]) };
        return { response: 'Sure: {"score": 8, "reason": "good"}' };
      },
    };
    const config = { provider: "workers-ai" as const, model: "@cf/meta/llama-3.1-8b-instruct", timeout_seconds: 30, max_retries: 0 };
    const judge = createJudge({ ...config, json_mode: true }, createProvider(config, { env: {}, ai }, "evaluation.judge"));
    const verdict = await judge(testCase, "Tokyo is the capital of Japan.");
    expect(verdict).toMatchObject({ score: 0.8, reason: "good", cached: false });
    expect((await judge(testCase, "Tokyo is the capital of Japan.")).cached).toBe(true);
    const embed = createEmbedder(
      "@cf/baai/bge-base-en-v1.5",
      createProvider({ ...config, model: "@cf/baai/bge-base-en-v1.5" }, { env: {}, ai }, "evaluation.embeddings"),
    );
    expect((await embed(["ab", "abcd"])).vectors).toEqual([
      [2, 1],
      [4, 1],
    ]);
    expect(calls.map((c) => c.model)).toEqual(["@cf/meta/llama-3.1-8b-instruct", "@cf/baai/bge-base-en-v1.5"]);
    expect(() => createProvider(config, { env: {} }, "evaluation.judge")).toThrow(/needs the worker's AI binding/);
  });

  it("retries a failing Workers AI call with backoff, then names the model and the attempts", async () => {
    const { createProvider } = await import("../../src/evaluate/providers.js");
    let calls = 0;
    const flaky = {
      run: async () => {
        calls += 1;
        if (calls <= 2) throw new Error("3040: capacity temporarily exceeded");
        return { response: '{"score": 6, "reason": "ok"}' };
      },
    };
    const delays: number[] = [];
    const deps = { env: {}, ai: flaky, sleep: async (ms: number) => void delays.push(ms), random: () => 0.5 };
    const config = { provider: "workers-ai" as const, model: "@cf/meta/llama-3.1-8b-instruct", timeout_seconds: 30, max_retries: 3 };
    const reply = await createProvider(config, deps, "evaluation.judge").chat([{ role: "user", content: "grade" }]);
    expect(reply.text).toContain('"score": 6');
    expect(calls).toBe(3);
    expect(delays).toHaveLength(2);
    expect(delays[1]).toBeGreaterThan(delays[0] as number);

    const down = { run: async () => Promise.reject(new Error("5007: no such model, key sk-SECRET-99 rejected")) };
    const provider = createProvider({ ...config, max_retries: 1 }, { ...deps, ai: down, secrets: ["sk-SECRET-99"] }, "evaluation.judge");
    const failure = provider.chat([{ role: "user", content: "grade" }]);
    await expect(failure).rejects.toThrow(/^evaluation\.judge: Workers AI @cf\/meta\/llama-3\.1-8b-instruct failed after 2 attempts: 5007/);
    await expect(failure).rejects.toThrow(/\[redacted\] rejected$/);
    const wrongShape = { run: async () => ({ data: [[1, 2]] }) };
    const embeddings = createProvider(config, { ...deps, ai: wrongShape }, "evaluation.embeddings");
    await expect(embeddings.embed(["a", "b"])).rejects.toThrow(/evaluation\.embeddings/);
  });

  it("fails the callers, never the process, when an embedding call fails", async () => {
    const { createEmbedder } = await import("../../src/evaluate/embeddings.js");
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => unhandled.push(reason);
    process.on("unhandledRejection", onUnhandled);
    try {
      let calls = 0;
      const provider = {
        chat: async () => Promise.reject(new Error("unused")),
        embed: async (texts: string[]) => {
          calls += 1;
          if (calls === 1) throw new Error("HTTP 503");
          return { vectors: texts.map((t) => [t.length, 1]), cost_usd: 0 };
        },
      };
      const embed = createEmbedder("m", provider);
      await expect(embed(["one", "three"])).rejects.toThrow("HTTP 503");
      await new Promise((resolve) => setTimeout(resolve, 20));
      expect(unhandled).toEqual([]);
      // The failure is not cached: the same texts are embedded again on the next call.
      expect((await embed(["one", "three"])).vectors).toEqual([
        [3, 1],
        [5, 1],
      ]);
    } finally {
      process.off("unhandledRejection", onUnhandled);
    }
  });

  it("caps a runaway answer in the judge's prompt", async () => {
    const { judgePrompt } = await import("../../src/evaluate/judge.js");
    const prompt = judgePrompt(testCase, "x".repeat(50_000))[1]?.content ?? "";
    expect(prompt.length).toBeLessThan(9_000);
    expect(prompt).toContain("[... 42000 more characters not shown]");
  });

  it("parses judges' replies robustly", async () => {
    const { parseVerdict } = await import("../../src/evaluate/judge.js");
    expect(parseVerdict('{"score": 7, "reason": "ok"}')).toEqual({ score: 7, reason: "ok" });
    expect(parseVerdict('```json\n{"score": "9", "reason": "fine"}\n```')).toEqual({ score: 9, reason: "fine" });
    expect(parseVerdict("I would give it 6/10 overall.")?.score).toBe(6);
    expect(parseVerdict("Score: 12")?.score).toBe(10);
    // A fraction from a judge told "0 to 10" means the same grade on a 0-1 scale.
    expect(parseVerdict('{"score": 0.85, "reason": "good"}')?.score).toBeCloseTo(8.5);
    expect(parseVerdict('{"score": 1, "reason": "poor"}')?.score).toBe(1);
    expect(parseVerdict("no idea")).toBeNull();
  });

  it("finds bundled evaluators by module and function name", async () => {
    const { registryLoader } = await import("../../src/evaluate/evaluator-registry.js");
    const { EVALUATORS } = await import("../../workers/evaluators/index.js");
    const load = registryLoader(EVALUATORS);
    const fn = await load("text_checks", "score_completeness");
    expect(typeof fn).toBe("function");
    expect(await load("nothing_here", "x")).toBeNull();
    await expect(load("text_checks", "missing")).rejects.toThrow(/the bundled module 'text_checks' has no 'missing'/);
  });
});
