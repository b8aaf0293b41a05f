/**
 * The agent society's reasoning proposer (RLP), in process: text parameters, what the study does with proposed
 * candidates, the mock proposer finding a prompt no seed value holds, and a model double that shows the brief and
 * the proposals on the wire (bounded, no secret, malformed replies and failures survived, the budget kept).
 */
import { spawnSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, it } from "vitest";
import { parse, stringify } from "yaml";
import { validateConfig } from "../../src/config/validate.js";
import { runOptimization } from "../../src/node/index.js";
import { studySettings } from "../../src/optimize/settings.js";
import { Study, SUGGESTED_TEXT_BUDGET_BYTES } from "../../src/optimize/study.js";
import { controlStateBound } from "../../src/run/bounds.js";
import type { OptimizationSuccess } from "../../src/run/schema.js";
import { BRIEF_MAX_BYTES } from "../../src/society/brief.js";
import { checkGeneralization } from "../../src/society/generalize.js";
import { PreferencePairSchema, preferencePairs } from "../../src/society/preferences.js";
import { parseCandidates } from "../../src/society/proposer.js";
import { chatCompletion, json, startServer } from "../helpers/server.js";
import { tempDir } from "../helpers/temp.js";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const society = () => parse(readFileSync(join(ROOT, "examples/society.yaml"), "utf8")) as Record<string, Record<string, unknown>>;
const SEED_PROMPTS = (society().search_space as { parameters: { system_prompt: { values: string[] } } }).parameters.system_prompt.values;

function success(result: Awaited<ReturnType<typeof runOptimization>>): OptimizationSuccess {
  if (!result.success) throw new Error(result.error);
  return result;
}

describe("text parameters", () => {
  const config = (values: unknown[]) => ({
    api: { name: "t", mock_mode: true },
    search_space: { parameters: { prompt: { type: "text", values } } },
    evaluation: { test_cases: { inline: [{ id: "a", input: { q: "hi" } }] }, metrics: { quality: { type: "llm_judge", weight: 1 } } },
  });

  it("take strings as seed values, and refuse anything else by path", () => {
    expect(validateConfig(config(["Be brief.", "Think step by step."])).config?.search_space.parameters.prompt).toEqual({
      type: "categorical",
      values: ["Be brief.", "Think step by step."],
      text: true,
    });
    expect(validateConfig(config([])).errors).toEqual([
      { path: "search_space.parameters.prompt.values", message: "a text parameter needs at least one seed value" },
    ]);
    expect(validateConfig(config(["ok", 3])).errors).toEqual([
      { path: "search_space.parameters.prompt.values[1]", message: "a text value is a string" },
    ]);
    expect(validateConfig(config(["x".repeat(9000)])).errors[0]?.message).toBe("a text value is at most 8 KiB");
    // Given as `choices` (the SDK's spelling), a bad value is named there, and the space's checks do not trip on it.
    const choices = config([]);
    choices.search_space.parameters.prompt = { type: "text", choices: ["ok", 3] } as never;
    expect(validateConfig(choices).errors).toEqual([
      { path: "search_space.parameters.prompt.choices[1]", message: "a text value is a string" },
    ]);
  });
});

describe("Study.suggest", () => {
  const validated = validateConfig({
    api: { name: "t", mock_mode: true },
    search_space: {
      parameters: {
        prompt: { type: "text", values: ["Be brief."] },
        model: { type: "categorical", values: ["small", "large"] },
        temperature: { type: "float", min: 0, max: 1, step: 0.1 },
      },
    },
    evaluation: { test_cases: { inline: [{ id: "a", input: {} }] }, metrics: { q: { type: "llm_judge" } } },
    optimization: { algorithm: "random", evolution: { population_size: 4, generations: 3 } },
  }).config;
  const space = validated?.search_space.parameters;

  it("keeps what fits the space (a new text becomes a value), fills what is left out, drops the rest and counts it", () => {
    if (!space || !validated) throw new Error("the space did not validate");
    const settings = studySettings(validated.optimization);
    const study = Study.create({ settings, space, testCases: [{ id: "a", weight: 1 }], seed: 1 });
    const base = { prompt: "Be brief.", model: "small", temperature: 0.5 };
    const counts = study.suggest(
      [
        { prompt: "Be brief. Cite the source.", temperature: 0.31 },
        { prompt: "Be brief. Cite the source.", temperature: 0.3 },
        { model: "huge" },
        { temperature: 7 },
        { unknown: 1 },
        "not a config",
        { prompt: "" },
      ],
      base,
    );
    expect(counts).toMatchObject({ proposed: 7, valid: 1, invalid: 5, duplicates: 1 });
    expect(study.control.space.prompt).toEqual({ type: "categorical", values: ["Be brief.", "Be brief. Cite the source."], text: true });
    expect(study.control.suggested).toEqual([{ prompt: "Be brief. Cite the source.", model: "small", temperature: 0.3 }]);
    // The next generation proposes it first.
    const first = study.ask();
    expect(first.map((e) => e.config)).toContainEqual({ prompt: "Be brief. Cite the source.", model: "small", temperature: 0.3 });
    expect(study.control.suggestions?.tried).toHaveLength(1);
  });

  it("adds at most SUGGESTED_TEXT_BUDGET_BYTES of new text to the space, so the control state stays within the start guard's bound", () => {
    if (!space || !validated) throw new Error("the space did not validate");
    const study = Study.create({ settings: studySettings(validated.optimization), space, testCases: [{ id: "a", weight: 1 }], seed: 1 });
    const base = { prompt: "Be brief.", model: "small", temperature: 0.5 };
    // 8 KiB texts, each new: the budget takes 64 of them and no more.
    const texts = Array.from({ length: 80 }, (_, i) => ({ prompt: `${i}`.padEnd(8192, "x") }));
    const counts = study.suggest(texts, base);
    expect(counts).toMatchObject({
      proposed: 80,
      valid: SUGGESTED_TEXT_BUDGET_BYTES / 8192,
      invalid: 80 - SUGGESTED_TEXT_BUDGET_BYTES / 8192,
    });
    expect(counts.text_bytes).toBe(SUGGESTED_TEXT_BUDGET_BYTES);
    // A config with no new text still fits.
    expect(study.suggest([{ prompt: "Be brief.", temperature: 0.9 }], base)).toMatchObject({ valid: 65 });
    // The start guard counts it: the same run with the society's proposer is bounded higher by the budget and more.
    const withSociety = {
      ...validated,
      society: { enabled: true, learning: { rlp_enabled: true, sao_enabled: false, preference_margin: 0.1 } },
    };
    const testCases = [{ id: "a", input: {} }] as never;
    expect(
      controlStateBound({ config: withSociety as never, testCases }) - controlStateBound({ config: validated, testCases }),
    ).toBeGreaterThan(SUGGESTED_TEXT_BUDGET_BYTES);
  });

  it("reads a model's reply: a candidates object, a bare list or a fenced block; null when there is none", () => {
    expect(parseCandidates('{"candidates": [{"a": 1}]}')).toEqual([{ a: 1 }]);
    expect(parseCandidates('Here:\n```json\n[{"params": {"a": 2}, "why": "x"}]\n```')).toEqual([{ a: 2 }]);
    expect(parseCandidates("I cannot help with that.")).toBeNull();
    expect(parseCandidates('{"candidates": "none"}')).toBeNull();
    expect(parseCandidates("{broken")).toBeNull();
  });
});

describe("RLP in mock mode (examples/society.yaml)", () => {
  it("finds a prompt that is none of the seed values, scoring above the same run without RLP", async () => {
    // The same budget for both: every generation runs (no early stop).
    const fullLength = (rlp: boolean) => {
      const config = society();
      (config.society as { learning: { rlp_enabled: boolean } }).learning.rlp_enabled = rlp;
      (config.optimization as { execution: Record<string, unknown> }).execution.early_stopping = { enabled: false };
      return config;
    };
    const withRlp = success(await runOptimization({ configDict: fullLength(true) }));
    const without = success(await runOptimization({ configDict: fullLength(false) }));

    expect(SEED_PROMPTS).not.toContain(withRlp.best_config.system_prompt);
    expect(withRlp.best_score).toBeGreaterThan(without.best_score);
    // The same budget: the same generations of the same population.
    expect(withRlp.generations_run).toBe(without.generations_run);
    expect(withRlp.society).toMatchObject({ failed_calls: 0, malformed_replies: 0, invalid: 0, best_proposed: true });
    expect(withRlp.society?.proposer_calls).toBeLessThanOrEqual(8);
    expect(withRlp.society?.better).toBeGreaterThan(0);
    expect(without.society).toBeUndefined();
    // The same seed, the same run.
    expect(success(await runOptimization({ configDict: fullLength(true) })).best_config).toEqual(withRlp.best_config);
  });
});

describe("SAO's preference pairs", () => {
  it("are written by --output as JSONL a DPO trainer reads: every line parses, chosen above rejected by the margin", () => {
    const dir = tempDir("sao");
    const config = society();
    (config.society as { learning: Record<string, unknown> }).learning.sao_enabled = true;
    writeFileSync(join(dir, "society.yaml"), stringify(config));
    const run = spawnSync(
      process.execPath,
      [join(ROOT, "bin/convergence.js"), "optimize", join(dir, "society.yaml"), "--output", join(dir, "out"), "--quiet"],
      {
        encoding: "utf8",
        timeout: 120_000,
      },
    );
    expect(run.stderr).toBe("");
    expect(run.status).toBe(0);
    expect(run.stdout).toContain(`wrote ${join(dir, "out", "preferences.jsonl")}`);
    const lines = readFileSync(join(dir, "out", "preferences.jsonl"), "utf8")
      .trimEnd()
      .split("\n");
    expect(lines.length).toBeGreaterThan(0);
    for (const line of lines) {
      const pair = PreferencePairSchema.parse(JSON.parse(line));
      expect(pair.chosen_score - pair.rejected_score).toBeGreaterThanOrEqual(0.1);
      expect(pair.chosen).not.toBe(pair.rejected);
      expect(pair.prompt).toMatch(/^user: /);
    }
  });

  it("scores the winner on variations of its weakest test cases, kept apart, and says how it holds up", async () => {
    const config = society();
    (config.society as { learning: Record<string, unknown> }).learning.sao_enabled = true;
    const result = success(await runOptimization({ configDict: config }));
    const check = result.generalization;
    expect(check?.original_score).toBe(result.best_score);
    expect(check?.generated_cases).toBe(6);
    expect(check?.dropped).toBe(0);
    expect(check?.generated_score).toBeGreaterThan(0);
    const originals = (config.evaluation as { test_cases: { inline: { input: unknown }[] } }).test_cases.inline.map((t) =>
      JSON.stringify(t.input),
    );
    for (const generated of check?.cases ?? []) {
      expect(originals).not.toContain(JSON.stringify(generated.input));
      expect(generated.id).toMatch(/^generated_\d+_from_\w+$/);
    }
    // The generated cases are checked apart: the run's own history and best score are those of its test cases.
    expect(result.history.reduce((n, g) => n + g.calls, 0) + 6).toBe(result.target_calls);
  });

  it("does not check a run stopped by its budget of calls: the check would call the target past it", async () => {
    const config = society();
    (config.society as { learning: Record<string, unknown> }).learning.sao_enabled = true;
    // Three test cases, eight candidates a generation: the budget runs out in the third generation.
    (config.optimization as { execution: Record<string, unknown> }).execution.max_target_calls = 60;
    const result = success(await runOptimization({ configDict: config }));
    expect(result.stop_reason).toBe("max_target_calls");
    expect(result.generalization).toBeUndefined();
    expect(result.target_calls).toBe(result.history.reduce((n, g) => n + g.calls, 0));
  });

  it("drops variations of another shape, copies of a case and variations of no case", async () => {
    const cases = [
      { id: "a", input: { messages: [{ role: "user", content: "Q?" }] }, expected: { contains: ["x"] }, metadata: {}, weight: 1 },
    ];
    const writer = {
      write: async () => ({
        cost_usd: 0,
        variations: [
          { from: "a", input: { messages: [{ role: "user", content: "Q, again?" }] }, expected: { contains: ["y"] } },
          { from: "a", input: { messages: [{ role: "user", content: "Q?" }] } },
          { from: "a", input: { prompt: "Q?" } },
          { from: "a", input: { messages: [{ role: "user", content: "Q, once more?" }] }, expected: "x" },
          { from: "zzz", input: { messages: [{ role: "user", content: "other" }] } },
          "nonsense",
        ],
      }),
    };
    const args = {
      best: { config: {}, score: 0.5, hash: "h" },
      testCases: cases as never,
      evaluations: [],
      // A target that answers the same whatever it is asked: the check is about which cases are asked.
      target: (async () => ({
        ok: true,
        status: 200,
        body: { choices: [{ message: { content: "y" } }] },
        text: "y",
        latency_ms: 1,
        cost_usd: 0,
        usage: null,
        attempts: 1,
        error: null,
      })) as never,
      scoring: { metrics: [], evaluator: null, corpus: null, services: { judge: null, embedder: null } } as never,
      ledger: { calls: 0, resent: 0, results: 0, successes: 0, spent: 0 },
    };
    const checked = await checkGeneralization({ ...args, writer });
    expect(checked).toMatchObject({ generated_cases: 1, dropped: 5 });
    expect(checked.cases[0]?.input).toEqual({ messages: [{ role: "user", content: "Q, again?" }] });

    // A model that writes far more than asked costs no more calls: two variations of each case, the rest dropped.
    const flood = {
      write: async () => ({
        cost_usd: 0,
        variations: Array.from({ length: 500 }, (_, i) => ({ from: "a", input: { messages: [{ role: "user", content: `Q ${i}?` }] } })),
      }),
    };
    const ledger = { calls: 0, resent: 0, results: 0, successes: 0, spent: 0 };
    const bounded = await checkGeneralization({ ...args, writer: flood, ledger });
    expect(bounded).toMatchObject({ generated_cases: 2, dropped: 498 });
    expect(ledger.calls).toBe(2);
  });

  it("pairs each test case's best answers with its worst, by the margin, one answer per text", () => {
    const record = (candidate: string, score: number, text: string) => ({
      generation: 0,
      candidate,
      params: { p: candidate },
      test_case_id: "a",
      score,
      metrics: {},
      success: true,
      error: null,
      failure: null,
      latency_ms: 1,
      cost_usd: 0,
      evaluation_cost_usd: 0,
      input_tokens: null,
      output_tokens: null,
      attempts: 1,
      response_excerpt: text,
    });
    const cases = [{ id: "a", input: { prompt: "Q?" }, expected: {}, metadata: {}, weight: 1 }];
    const pairs = preferencePairs(
      [
        record("h1", 0.9, "best"),
        record("h2", 0.85, "good"),
        record("h3", 0.8, "best"),
        record("h4", 0.5, "poor"),
        record("h5", 0.2, "bad"),
      ],
      cases as never,
      0.3,
    );
    expect(pairs.map((p) => [p.chosen, p.rejected])).toEqual([
      ["best", "bad"],
      ["good", "poor"],
    ]);
    expect(pairs[0]).toMatchObject({ prompt: "Q?", chosen_score: 0.9, rejected_score: 0.2, chosen_params: { p: "h1" } });
    expect(preferencePairs([record("h1", 0.6, "x"), record("h2", 0.55, "y")], cases as never, 0.1)).toEqual([]);
  });
});

describe("RLP against a model double on loopback", () => {
  let close: (() => Promise<void>) | null = null;
  afterEach(async () => {
    await close?.();
    close = null;
  });

  it("reads a reply no further than the candidates it asked for", async () => {
    const server = await startServer((_request, response) =>
      json(
        response,
        200,
        chatCompletion(JSON.stringify({ candidates: Array.from({ length: 300 }, (_, i) => ({ prompt: `Say it ${i} ways.` })) })),
      ),
    );
    close = server.close;
    const result = success(
      await runOptimization({
        configDict: {
          api: { name: "flood" },
          search_space: { parameters: { prompt: { type: "text", values: ["Say it."] }, k: { type: "float", min: 0, max: 1 } } },
          evaluation: { test_cases: { inline: [{ id: "a", input: { q: "x" } }] }, metrics: { score: { type: "custom", weight: 1 } } },
          optimization: {
            algorithm: "random",
            seed: 3,
            evolution: { population_size: 4, generations: 6 },
            execution: { early_stopping: { enabled: false } },
          },
          society: {
            enabled: true,
            learning: { rlp_enabled: true },
            llm: { endpoint: `${server.url}/v1/chat/completions`, model: "m", max_calls: 1 },
          },
        },
        localFunction: (params) => ({ text: String(params.prompt) }),
        evaluator: (prediction: { result: unknown }) => ({ score: String((prediction.result as { text: string }).text).length / 100 }),
      }),
    );
    // One call asked for a generation's worth (4): 300 candidates in the reply, 4 read.
    expect(result.society).toMatchObject({ proposer_calls: 1, proposed: 4 });
  });

  const SECRET = "sk-society-secret-0123456789";

  it("sends a bounded brief without the secret, survives malformed and failed replies, and keeps to max_calls", async () => {
    // Call 1: prose; call 2: a 500 (retried once, then a good reply); later calls: valid candidates, one out of range.
    const server = await startServer((request, response, index) => {
      if (index === 0) return json(response, 200, chatCompletion("I would try a friendlier prompt."));
      if (index === 1) return json(response, 500, { error: { message: "overloaded" } });
      const body = JSON.parse(request.body) as { messages: { content: string }[] };
      const prompt = `Answer carefully. Variant ${index}. ${body.messages.length}`;
      return json(
        response,
        200,
        chatCompletion(
          JSON.stringify({
            candidates: [
              { prompt, k: 3 },
              { prompt: `${prompt}!`, k: 99 },
            ],
          }),
        ),
      );
    });
    close = server.close;
    const result = success(
      await runOptimization({
        configDict: {
          api: { name: "double" },
          search_space: {
            parameters: {
              prompt: { type: "text", values: ["Answer.", "Answer briefly."] },
              k: { type: "int", min: 1, max: 10 },
            },
          },
          evaluation: {
            test_cases: {
              inline: [
                { id: "a", input: { q: "x" } },
                { id: "b", input: { q: "y" } },
              ],
            },
            metrics: { score: { type: "custom", weight: 1 } },
          },
          optimization: { algorithm: "random", seed: 3, evolution: { population_size: 4, generations: 6 } },
          society: {
            enabled: true,
            learning: { rlp_enabled: true },
            llm: {
              endpoint: `${server.url}/v1/chat/completions`,
              model: "double",
              api_key_env: "SOCIETY_KEY",
              max_calls: 3,
              max_retries: 1,
            },
          },
        },
        env: { SOCIETY_KEY: SECRET },
        // The answer carries the secret: the brief's excerpts must not.
        localFunction: (params) => ({ text: `${String(params.prompt)} (key ${SECRET})`, k: params.k }),
        evaluator: (prediction: { result: unknown }) => ({ score: String((prediction.result as { text: string }).text).length / 100 }),
      }),
    );
    // max_calls 3 of 6 generations' starts: 3 calls, the second one sent twice (its 500 retried once).
    expect(server.requests).toHaveLength(4);
    for (const request of server.requests) {
      expect(request.headers.authorization).toBe(`Bearer ${SECRET}`);
      expect(request.body).not.toContain(SECRET);
      const body = JSON.parse(request.body) as {
        model: string;
        temperature: number;
        max_tokens: number;
        messages: { role: string; content: string }[];
      };
      expect(body.model).toBe("double");
      // society.llm's sampling reaches the model (its defaults here): max_tokens bounds the reply.
      expect(body).toMatchObject({ temperature: 0.7, max_tokens: 1000 });
      const brief = body.messages.at(-1)?.content ?? "";
      expect(new TextEncoder().encode(brief).length).toBeLessThanOrEqual(BRIEF_MAX_BYTES + 200);
      expect(brief).toContain('"best"');
    }
    expect(result.society).toMatchObject({ proposer_calls: 3, malformed_replies: 1, failed_calls: 0 });
    // k: 99 is out of range: dropped and counted, the run goes on.
    expect(result.society?.invalid).toBeGreaterThan(0);
    expect(result.society?.valid).toBeGreaterThan(0);
  });
});
