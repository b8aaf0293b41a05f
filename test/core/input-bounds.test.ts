/**
 * Issue 12, part 4: every input is bounded and read in linear time. Documents built to expand, nest or repeat
 * without end are refused with a message naming what was exceeded; configs past the bounds that keep a proposal
 * short are refused by path; runtime fields are size-limited and runtime configs refuse misspelt keys by name.
 */
import { describe, expect, it } from "vitest";
import { parseConfigText } from "../../src/config/parse.js";
import { validateConfig } from "../../src/config/validate.js";
import { configureRuntime, MemoryRuntimeStorage, runtimeArms, runtimeGetDecision, runtimeSelect, runtimeUpdate } from "../../src/index.js";
import { copyJson, jsonDepth, utf8Length } from "../../src/json.js";
import { proposeTpe } from "../../src/optimize/samplers/tpe.js";
import { studySettings } from "../../src/optimize/settings.js";
import { Study } from "../../src/optimize/study.js";
import { PromoteRequestSchema } from "../../src/run/schema.js";
import { RuntimeConfigSchema, SelectRequestSchema, SystemNameSchema, UpdateRequestSchema } from "../../src/runtime/schema.js";
import { Rng } from "../../src/search/rng.js";
import { type SearchSpace, sampleConfig } from "../../src/search/space.js";
import { mockConfig } from "../helpers/configs.js";

const MiB = 1024 * 1024;
const nested = (depth: number) => "[".repeat(depth) + "]".repeat(depth);

/** The issue's attack: one anchored list of 20,000 words (~200 KB of text) aliased 990 times (~200 MB expanded). */
function billionLaughs(aliases = 990): string {
  const words = Array.from({ length: 20_000 }, () => "xxxxxxxxx").join(",");
  return `a: &a [${words}]\nb: [${Array.from({ length: aliases }, () => "*a").join(",")}]\n`;
}

const manyKeys = (n: number) => Array.from({ length: n }, (_, i) => `k${i}: ${i}`).join("\n");

function messageOf(text: string, maxBytes = MiB): string | undefined {
  return parseConfigText(text, "yaml", "c.yaml", { maxBytes }).errors[0]?.message;
}

describe("sizes in UTF-8", () => {
  it("count each text as TextEncoder encodes it, surrogate pairs and lone surrogates included", () => {
    const encoded = (text: string) => new TextEncoder().encode(text).byteLength;
    for (const text of [
      "",
      "ascii",
      "café",
      "日本語",
      "emoji 😀👍🏽",
      "\ud800",
      "a\udc00b",
      "\ud800\ud800\udc00",
      "\u0080\u07ff\u0800\uffff",
    ]) {
      expect(utf8Length(text), JSON.stringify(text)).toBe(encoded(text));
    }
  });
});

describe("copies of stored records", () => {
  it("are deep, equal to structuredClone's, and keep a user's `__proto__` key as data", () => {
    const context = JSON.parse('{"__proto__": {"admin": true}, "list": [1, {"a": null}], "s": "x"}');
    const copy = copyJson(context);
    expect(copy).toStrictEqual(structuredClone(context));
    expect(Object.getPrototypeOf(copy)).toBe(Object.prototype);
    expect(Object.hasOwn(copy, "__proto__")).toBe(true);
    expect((copy as { admin?: boolean }).admin).toBeUndefined();
    copy.list[1].a = 1;
    expect(context.list[1].a).toBeNull();
  });
});

describe("YAML documents are bounded while they are read", () => {
  it("refuses nesting the parser would recurse on, before parsing: a megabyte of flow openings or compact dashes", () => {
    expect(messageOf("{a: ".repeat(262_000), MiB)).toBe("c.yaml nests lists and mappings more than 64 levels deep (line 1)");
    expect(messageOf("[".repeat(1_000_000), 2 * MiB)).toBe("c.yaml nests lists and mappings more than 64 levels deep (line 1)");
    expect(messageOf("- ".repeat(100_000), MiB)).toBe("c.yaml nests lists and mappings more than 64 levels deep (line 1)");
    expect(messageOf(`${"- ".repeat(64)}1`, MiB)).toBeUndefined();
  });

  it("refuses a YAML document of more tokens than it parses in bounded time, and says to send JSON", () => {
    const list = `[${Array(500_000).fill("1").join(",")}]`;
    expect(messageOf(list, 2 * MiB)).toBe("c.yaml is too large for YAML (more than 200000 tokens): send it as JSON");
    expect(parseConfigText(list, "json", "c.json", { maxBytes: 2 * MiB }).errors).toEqual([]);
  });

  it("sizes text as the JSON it becomes (escapes and UTF-8 included), so aliases of escaped text are bounded too", () => {
    // 10,000 control characters: 10 KB of YAML, 60 KB as JSON, repeated 99 times by aliases: about 6 MB.
    const text = `s: &s "${"\\x01".repeat(10_000)}"\npad: [${Array(99).fill("*s").join(", ")}]\n`;
    expect(messageOf(text, MiB)).toMatch(/^c\.yaml expands to more than 1 MiB/);
    expect(messageOf(`s: "${"é".repeat(600_000)}"`, MiB)).toMatch(/1 MiB/);
  });

  it("refuses values JSON cannot carry: binary, timestamps, sets, ordered maps", () => {
    expect(messageOf("b: !!binary aGVsbG8=", MiB)).toMatch(/not text, a number, true, false or null \(tag:yaml.org,2002:binary\)/);
    expect(messageOf("t: !!timestamp 2001-12-14t21:59:43.10-05:00", MiB)).toMatch(/not text, a number/);
    expect(messageOf("s: !!set {a, b}", MiB)).toMatch(/not a list or a mapping \(tag:yaml.org,2002:set\)/);
    expect(messageOf("o: !!omap [a: 1, b: 2]", MiB)).toMatch(/not a list or a mapping \(tag:yaml.org,2002:omap\)/);
    expect(messageOf("s: !!str 12\nn: !!int 3\nm: !!map {a: 1}", MiB)).toBeUndefined();
  });

  it("refuses an anchored list aliased 990 times before building its value", () => {
    const text = billionLaughs();
    expect(text.length).toBeLessThan(MiB / 4);
    const parsed = parseConfigText(text, "yaml", "the request body", { maxBytes: MiB });
    expect(parsed.value).toBeUndefined();
    expect(parsed.errors).toHaveLength(1);
    expect(parsed.errors[0]?.message).toMatch(/^the request body expands to more than 1 MiB \(line 2\) through its aliases/);
    // The SDK's generous default refuses it too: 200 MB is no config.
    expect(parseConfigText(text, "yaml", "big.yaml").errors[0]?.message).toMatch(/^big\.yaml expands to more than 16 MiB/);
  });

  it("refuses nested aliases that double at every level", () => {
    const levels = ['l0: &l0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol","lol"]'];
    for (let i = 1; i < 10; i++) levels.push(`l${i}: &l${i} [${Array.from({ length: 10 }, () => `*l${i - 1}`).join(",")}]`);
    expect(messageOf(levels.join("\n"))).toMatch(/expands to more than 1 MiB .*through its aliases/);
  });

  it("counts aliases and anchors, and refuses past 100 of either", () => {
    expect(messageOf(`a: &a 1\nb: [${Array.from({ length: 101 }, () => "*a").join(",")}]`)).toMatch(
      /^c\.yaml has more than 100 aliases \(\*name\) \(line 2\)/,
    );
    expect(parseConfigText(`a: &a 1\nb: [${Array.from({ length: 100 }, () => "*a").join(",")}]`, "yaml", "c.yaml").errors).toEqual([]);
    const anchors = Array.from({ length: 101 }, (_, i) => `k${i}: &a${i} ${i}`).join("\n");
    expect(messageOf(anchors)).toMatch(/^c\.yaml has more than 100 anchors \(&name\) \(line 101\)/);
  });

  it("refuses an alias inside the value it repeats, and an alias before its anchor", () => {
    expect(messageOf("a: &a [1, *a]\n")).toBe("c.yaml: the alias *a is inside the value it repeats (line 1)");
    expect(messageOf("a: *zz\n")).toBe("c.yaml uses the alias *zz before any anchor &zz (line 1)");
  });

  it("reads 20,000 distinct keys, and finds a repeated one among them by name and line", () => {
    const parsed = parseConfigText(manyKeys(20_000), "yaml", "keys.yaml");
    expect(parsed.errors).toEqual([]);
    expect(Object.keys(parsed.value as object)).toHaveLength(20_000);
    const repeated = parseConfigText(`${manyKeys(20_000)}\nk5: again`, "yaml", "keys.yaml");
    expect(repeated.errors).toEqual([{ path: "k5", message: "keys.yaml has the key k5 twice (lines 6 and 20001)" }]);
  });

  it("names a repeated key by its path in the config", () => {
    const text =
      "search_space:\n  parameters:\n    temperature: {type: float, min: 0, max: 1}\n    temperature: {type: int, min: 0, max: 9}\n";
    expect(parseConfigText(text, "yaml", "run.yaml").errors).toEqual([
      {
        path: "search_space.parameters.temperature",
        message: "run.yaml has the key search_space.parameters.temperature twice (lines 3 and 4)",
      },
    ]);
    // 1 and '1' are the same key once read.
    expect(messageOf("1: a\n'1': b\n")).toBe("c.yaml has the key 1 twice (lines 1 and 2)");
  });

  it("keeps merge keys working, from one mapping or several", () => {
    const one = parseConfigText("base: &b {type: float, min: 0}\nparam: {<<: *b, max: 1}\n", "yaml", "m.yaml");
    expect(one.value).toEqual({ base: { type: "float", min: 0 }, param: { type: "float", min: 0, max: 1 } });
    const several = parseConfigText("a: &a {x: 1}\nb: &b {y: 2, x: 5}\nc: {<<: [*a, *b], z: 3}\n", "yaml", "m.yaml");
    expect((several.value as Record<string, unknown>).c).toEqual({ x: 1, y: 2, z: 3 });
  });

  it("refuses lists and mappings nested more than 64 levels deep, also through an alias", () => {
    expect(parseConfigText(nested(64), "yaml", "d.yaml").errors).toEqual([]);
    expect(messageOf(nested(65))).toBe("c.yaml nests lists and mappings more than 64 levels deep (line 1)");
    // Deeper than the parser's own stack: still a refusal, not a crash.
    expect(messageOf(nested(5_000))).toMatch(/nests lists and mappings more than 64 levels deep/);
    expect(messageOf(`${"- ".repeat(2_000)}x`)).toMatch(/nests lists and mappings more than 64 levels deep/);
    expect(messageOf(`a: &a ${nested(40)}\nb: ${"[".repeat(30)}*a${"]".repeat(30)}\n`)).toBe(
      "c.yaml nests lists and mappings more than 64 levels deep (line 2) through the alias *a",
    );
  });

  it("refuses text larger than the limit, and keys that are lists or mappings", () => {
    expect(messageOf(`a: "${"x".repeat(2_000)}"`, 1024)).toBe("c.yaml is larger than 1 KiB, the most a config may be");
    // Plain words gain their quotes as JSON: 1,207 characters of text are a value of 1,216.
    expect(messageOf(`a: ${"x".repeat(600)}\nb: ${"y".repeat(600)}`, 1210)).toBe(
      "c.yaml expands to more than 1210 bytes (line 1), the most a config may be",
    );
    expect(messageOf("? [a, b]\n: 1\n")).toMatch(/a key must be text or a number/);
  });
});

describe("JSON nesting", () => {
  it("is measured over the text, brackets inside strings and escapes included", () => {
    expect(jsonDepth('{"a": [1, {"b": []}]}')).toBe(4);
    expect(jsonDepth('{"a": "[[[[\\"[[[", "b": ["\\\\", []]}')).toBe(3);
    expect(jsonDepth("42")).toBe(0);
    // It stops counting once past the limit asked about.
    expect(jsonDepth(nested(100_000), 64)).toBe(65);
  });

  it("refuses a config nested 2,000 levels deep in 5 KB", () => {
    const text = `{"api": ${"[".repeat(2_000)}${"]".repeat(2_000)}}`;
    expect(text.length).toBeLessThan(5_000);
    expect(parseConfigText(text, "json", "deep.json").errors).toEqual([
      { path: "", message: "deep.json nests lists and objects more than 64 levels deep" },
    ]);
    expect(parseConfigText(nested(64), "json", "ok.json").errors).toEqual([]);
  });
});

describe("run configs are bounded", () => {
  const errorsOf = (raw: unknown) => validateConfig(raw).errors;
  const values = (n: number) => Array.from({ length: n }, (_, i) => `v${i}`);

  it("refuses more than 1,000 values in one parameter, as values or choices", () => {
    expect(errorsOf(mockConfig({ parameters: { style: { type: "categorical", values: values(1_001) } } }))).toEqual([
      { path: "search_space.parameters.style.values", message: "at most 1,000 values per parameter" },
    ]);
    expect(errorsOf(mockConfig({ parameters: { style: { type: "categorical", choices: values(1_001) } } }))[0]?.path).toBe(
      "search_space.parameters.style.choices",
    );
    expect(errorsOf(mockConfig({ parameters: { style: { type: "categorical", values: values(1_000) } } }))).toEqual([]);
  });

  it("refuses more than 100 parameters, and more than 10,000 values over all of them", () => {
    const params = (n: number, each: number) =>
      Object.fromEntries(Array.from({ length: n }, (_, i) => [`p${i}`, { type: "categorical", values: values(each) }]));
    expect(errorsOf(mockConfig({ parameters: params(101, 2) }))).toEqual([
      { path: "search_space.parameters", message: "at most 100 parameters, got 101" },
    ]);
    expect(errorsOf(mockConfig({ parameters: params(11, 1_000) }))).toEqual([
      { path: "search_space.parameters", message: "at most 10,000 values over all parameters, got 11,000" },
    ]);
    expect(errorsOf(mockConfig({ parameters: params(10, 1_000) }))).toEqual([]);
  });

  it("bounds mock latency, retry waits and every per-call timeout", () => {
    const config = mockConfig({
      api: { mock_latency_ms: 60_001, request: { timeout_seconds: 301, retry_max_delay_ms: 1e9 } },
      evaluation: {
        test_cases: { inline: [{ id: "a" }] },
        metrics: { q: { type: "llm_judge" } },
        judge: { provider: "workers-ai", model: "m", timeout_seconds: 3_600 },
        embeddings: { provider: "workers-ai", model: "e", timeout_seconds: 1e6 },
        custom_evaluator: { url: "https://grader.invalid/score", timeout_seconds: 86_400 },
      },
    });
    const errors = errorsOf(config);
    expect(errors.map((e) => e.path).sort()).toEqual([
      "api.mock_latency_ms",
      "api.request.retry_max_delay_ms",
      "api.request.timeout_seconds",
      "evaluation.custom_evaluator.timeout_seconds",
      "evaluation.embeddings.timeout_seconds",
      "evaluation.judge.timeout_seconds",
    ]);
    expect(errors.find((e) => e.path === "api.mock_latency_ms")?.message).toBe("at most 60,000 ms");
    expect(errors.find((e) => e.path === "api.request.timeout_seconds")?.message).toMatch(/^at most 300 seconds/);
  });

  it("proposes new configs with tpe over the largest space a config may have", () => {
    const space: SearchSpace = {};
    for (let i = 0; i < 100; i++) {
      space[`p${i}`] = i < 10 ? { type: "categorical", values: values(1_000) } : { type: "float", min: 0, max: 1, step: null, log: false };
    }
    const rng = Rng.fromSeed(3);
    const observations = Array.from({ length: 60 }, () => ({ config: sampleConfig(space, rng), score: rng.next() }));
    const batch = proposeTpe(space, observations, 5, Rng.fromSeed(4), () => false);
    expect(batch).toHaveLength(5);
    for (const config of batch) {
      expect(Object.keys(config)).toEqual(Object.keys(space));
      expect(values(1_000)).toContain(config.p0);
    }
  });
});

describe("a run's proposals", () => {
  it("pause after every candidate when asked to, and propose exactly what ask proposes", async () => {
    for (const algorithm of ["evolution", "tpe"]) {
      const config = validateConfig(mockConfig({ optimization: { algorithm, evolution: { population_size: 8, generations: 4 } } })).config;
      if (!config) throw new Error("the test config is invalid");
      const create = () =>
        Study.create({
          settings: studySettings(config.optimization),
          space: config.search_space.parameters,
          testCases: [{ id: "a", weight: 1 }],
          seed: 5,
        });
      const plain = create();
      const pausing = create();
      for (let round = 0; round < 12 && !plain.done; round++) {
        let pauses = 0;
        const steps = pausing.askSteps();
        let step = steps.next();
        for (; !step.done; step = steps.next()) pauses += 1;
        const fast = plain.ask();
        expect(step.value).toEqual(fast);
        expect(pausing.control).toEqual(plain.control);
        // One pause per candidate proposed (elites and configs proposed before cost none).
        expect(pauses).toBeLessThanOrEqual(new Set(fast.map((e) => e.hash)).size);
        // tpe proposes parallel_workers (5) at a time, evolution the whole population.
        if (round === 0) expect(pauses).toBe(algorithm === "tpe" ? 5 : 8);
        const results = fast.map((e, i) => ({ hash: e.hash, testCaseId: e.testCaseId, score: ((i * 7) % 10) / 10 }));
        plain.tell(results);
        pausing.tell(results);
      }
    }
  });
});

describe("runtime inputs are bounded", () => {
  const issuesOf = (result: { success: boolean; error?: { issues: { path: PropertyKey[]; message: string }[] } }) =>
    result.error?.issues.map((i) => `${i.path.join(".")}: ${i.message}`) ?? [];

  it("refuses a misspelt key anywhere in a runtime config, naming it", () => {
    expect(issuesOf(RuntimeConfigSchema.safeParse({ default_arms: [{ arm_id: "a", parms: { k: 1 } }] }))).toEqual([
      "default_arms.0: unknown key 'parms' (did you mean params?)",
    ]);
    expect(issuesOf(RuntimeConfigSchema.safeParse({ trafic_floor: 0.1 }))).toEqual([
      ": unknown key 'trafic_floor' (did you mean traffic_floor?)",
    ]);
    expect(issuesOf(RuntimeConfigSchema.safeParse({ selection_strategy: { exploration_bonus: 0.1, use_stabilty: false } }))).toEqual([
      "selection_strategy: unknown key 'use_stabilty' (did you mean use_stability?)",
    ]);
    expect(issuesOf(RuntimeConfigSchema.safeParse({ pooling: { enable: false } }))).toEqual([
      "pooling: unknown key 'enable' (did you mean enabled?)",
    ]);
    expect(issuesOf(RuntimeConfigSchema.safeParse({ reoptimize: { every: "1d", config: {}, promote: { topk: 2 } } }))).toEqual([
      "reoptimize.promote: unknown key 'topk' (did you mean top_k?)",
    ]);
    expect(issuesOf(RuntimeConfigSchema.safeParse({ reward_evaluator: { metrics: { clicks: { weight: 1, normalise: true } } } }))).toEqual([
      "reward_evaluator.metrics.clicks: unknown key 'normalise' (did you mean normalize?)",
    ]);
    expect(issuesOf(RuntimeConfigSchema.safeParse({ reward_evaluator: { metric: { clicks: { weight: 1 } } } }))).toContain(
      "reward_evaluator: unknown key 'metric' (did you mean metrics?)",
    );
    expect(issuesOf(RuntimeConfigSchema.safeParse({ colour: "blue" }))[0]).toMatch(
      /^: unknown key 'colour'; known keys: system, agent_type, /,
    );
  });

  it("keeps reoptimize.config open (an optimization config, checked as one) and system informational", () => {
    const parsed = RuntimeConfigSchema.safeParse({ system: "s", reoptimize: { every: "6h", config: { api: { name: "x" }, anything: 1 } } });
    expect(parsed.success).toBe(true);
  });

  it("refuses arm ids with control or format characters, lone surrogates or only spaces, and keeps other characters", () => {
    const arms = (...ids: string[]) => RuntimeConfigSchema.safeParse({ default_arms: ids.map((arm_id) => ({ arm_id })) });
    const unprintable = "an arm id may not hold control or format characters, line breaks or lone surrogates";
    expect(issuesOf(arms("a\u0000b", "line\nbreak", "   ", "\u0085", "\ud800", "rtl\u202eevil"))).toEqual([
      `default_arms.0.arm_id: ${unprintable}`,
      `default_arms.1.arm_id: ${unprintable}`,
      "default_arms.2.arm_id: an arm id may not be only spaces",
      `default_arms.3.arm_id: ${unprintable}`,
      `default_arms.4.arm_id: ${unprintable}`,
      `default_arms.5.arm_id: ${unprintable}`,
    ]);
    expect(arms("café ☕", "gpt-4o/0.7", "a b", "emoji 😀").success).toBe(true);
    // A user id that no storage keeps as sent could never read its own decision.
    expect(issuesOf(SelectRequestSchema.safeParse({ user_id: "\udc00" }))).toEqual([
      "user_id: a user id must be well-formed Unicode (no lone surrogates)",
    ]);
    expect(SelectRequestSchema.safeParse({ user_id: "user 😀" }).success).toBe(true);
  });

  it("limits an arm's params, name and description, a select's context and an update's metadata to 8 KiB each", () => {
    const big = "x".repeat(8 * 1024);
    const arm = (fields: object) => RuntimeConfigSchema.safeParse({ default_arms: [{ arm_id: "a", ...fields }] });
    expect(issuesOf(arm({ params: { prompt: big } }))).toEqual(["default_arms.0.params: an arm's params is limited to 8 KiB (as JSON)"]);
    expect(issuesOf(arm({ name: `${big}!` }))).toEqual(["default_arms.0.name: an arm's name is limited to 8 KiB (as JSON)"]);
    expect(issuesOf(arm({ description: "é".repeat(4 * 1024 + 1) }))).toEqual([
      "default_arms.0.description: an arm's description is limited to 8 KiB (as JSON)",
    ]);
    expect(arm({ name: big, description: big, params: { prompt: "x".repeat(8 * 1024 - 20) } }).success).toBe(true);
    expect(issuesOf(SelectRequestSchema.safeParse({ user_id: "u", context: { page: big } }))).toEqual([
      "context: context is limited to 8 KiB (as JSON)",
    ]);
    expect(issuesOf(UpdateRequestSchema.safeParse({ user_id: "u", decision_id: "d", reward: 1, metadata: { note: big } }))).toEqual([
      "metadata: metadata is limited to 8 KiB (as JSON)",
    ]);
  });

  it("refuses '.' and '..' as system names, in promotion too", () => {
    for (const name of [".", ".."]) {
      expect(issuesOf(SystemNameSchema.safeParse(name))).toEqual([": '.' and '..' cannot name a system"]);
      expect(PromoteRequestSchema.safeParse({ system: name }).success).toBe(false);
    }
    expect(SystemNameSchema.safeParse("a..b").success).toBe(true);
  });

  it("refuses a misspelt key in configureRuntime", async () => {
    await expect(
      configureRuntime("bounds_typo", {
        config: { default_arms: [{ arm_id: "a" }], cache_ttl: 5 } as never,
        storage: new MemoryRuntimeStorage(),
      }),
    ).rejects.toThrow("Invalid runtime config for 'bounds_typo': unknown key 'cache_ttl' (did you mean cache_ttl_seconds?)");
  });

  it("refuses signals sent to a system without a reward_evaluator, and records nothing", async () => {
    await configureRuntime("bounds_signals", {
      config: { default_arms: [{ arm_id: "a" }, { arm_id: "b" }] },
      storage: new MemoryRuntimeStorage(),
    });
    const selection = await runtimeSelect("bounds_signals", { userId: "u" });
    const decisionId = selection.decision_id as string;
    const result = await runtimeUpdate("bounds_signals", { userId: "u", decisionId, signals: { clicks: 3 } });
    expect(result).toMatchObject({
      success: false,
      code: "no_reward_evaluator",
      error: "this system has no reward_evaluator: send reward, or configure reward_evaluator",
    });
    expect((await runtimeGetDecision("bounds_signals", { userId: "u", decisionId }))?.reward).toBeNull();
    expect((await runtimeArms("bounds_signals", { userId: "u" })).map((a) => a.total_pulls)).toEqual([0, 0]);
    // The same update with a reward goes through.
    expect((await runtimeUpdate("bounds_signals", { userId: "u", decisionId, reward: 1 })).success).toBe(true);
  });
});
