/**
 * The optimization config: the seed's YAML/JSON format (see shared/seed/SDK_USAGE.md), one zod definition that is
 * at once the TypeScript type, the validator and (later) the API description. Parsing normalizes the seed's
 * aliases (float/int, choices, genetic) so the rest of the code sees one shape.
 */
import { z } from "zod";
import { JsonSchema, type JsonValue, utf8Length } from "../json.js";
import type { Parameter } from "../search/space.js";

const Json = JsonSchema;

/** token_env and friends name a variable; a pasted secret (with dashes, spaces, dots) is refused here. */
const EnvVarName = z
  .string()
  .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, "must be the name of an environment variable (like OPENAI_API_KEY), not its value");

/**
 * Bounds of a search space, from the time a tpe proposal takes (src/optimize/samplers/tpe.ts): with 100
 * parameters and 10,000 choices in all, one candidate takes about 5 ms after 200 scored configs, and the study
 * state every round copies stays small. A space past them is refused, not truncated.
 */
const MAX_PARAMETERS = 100;
export const MAX_VALUES_PER_PARAMETER = 1_000;
/** The society's model calls over a run when its config says nothing (also without an llm: the mock's). */
export const SOCIETY_MAX_CALLS = 10;
const MAX_VALUES_PER_SPACE = 10_000;
/** Per call to the team's API, a judge, embeddings or an evaluator: 5 minutes. */
const MAX_TIMEOUT_SECONDS = 300;
const TimeoutSeconds = z
  .number()
  .positive()
  .max(MAX_TIMEOUT_SECONDS, `at most ${MAX_TIMEOUT_SECONDS} seconds (a call that takes longer holds its evaluation that long)`);
/** A retry's wait, and mock_mode's per-call latency: at most a minute. */
const MAX_WAIT_MS = 60_000;
const WaitMs = z
  .number()
  .nonnegative()
  .max(MAX_WAIT_MS, `at most ${MAX_WAIT_MS.toLocaleString("en-US")} ms`);

const Values = z
  .array(Json)
  .max(MAX_VALUES_PER_PARAMETER, `at most ${MAX_VALUES_PER_PARAMETER.toLocaleString("en-US")} values per parameter`);

/** A text value (a prompt, an instruction): long enough for a system prompt with examples, short enough to log. */
export const MAX_TEXT_VALUE_BYTES = 8 * 1024;

const ParameterInput = z.object({
  /** `text`: strings (a system prompt, an instruction) given as seed values, to which the society may add. */
  type: z.enum(["categorical", "discrete", "continuous", "float", "int", "text"]),
  values: Values.optional(),
  /** The SDK's spelling of `values` for categorical parameters. */
  choices: Values.optional(),
  min: z.number().optional(),
  max: z.number().optional(),
  step: z.number().positive().optional(),
  /** Sample and mutate on a logarithmic scale (positive ranges only). */
  log: z.boolean().default(false),
  description: z.string().optional(),
});
type ParameterInput = z.output<typeof ParameterInput>;

function checkParameter(p: ParameterInput, ctx: z.RefinementCtx): void {
  const issue = (path: string, message: string) => ctx.addIssue({ code: "custom", path: [path], message });
  const values = p.values ?? p.choices;
  if (p.type === "categorical") {
    if (!values || values.length === 0) issue("values", "a categorical parameter needs at least one value");
    return;
  }
  if (p.type === "text") {
    if (!values || values.length === 0) issue("values", "a text parameter needs at least one seed value");
    const key = p.values ? "values" : "choices";
    for (const [i, v] of (values ?? []).entries()) {
      if (typeof v !== "string") ctx.addIssue({ code: "custom", path: [key, i], message: "a text value is a string" });
      else if (utf8Length(v) > MAX_TEXT_VALUE_BYTES)
        ctx.addIssue({ code: "custom", path: [key, i], message: `a text value is at most ${MAX_TEXT_VALUE_BYTES / 1024} KiB` });
    }
    return;
  }
  if (p.type === "discrete" && values !== undefined) {
    if (values.length === 0) issue("values", "a discrete parameter needs at least one value");
    return;
  }
  if (p.min === undefined) issue("min", `is required for a ${p.type} parameter without values`);
  if (p.max === undefined) issue("max", `is required for a ${p.type} parameter without values`);
  if (p.min === undefined || p.max === undefined) return;
  if (p.min > p.max) issue("max", `must be at least min (min is ${p.min}, max is ${p.max})`);
  if (!Number.isFinite(p.max - p.min)) issue("max", "the range from min to max is too large to represent");
  const integer = p.type === "int" || p.type === "discrete";
  if (integer && !Number.isSafeInteger(p.min))
    issue("min", `must be an integer (at most 2^53) for ${p.type === "int" ? "an" : "a"} ${p.type} parameter`);
  if (integer && !Number.isSafeInteger(p.max))
    issue("max", `must be an integer (at most 2^53) for ${p.type === "int" ? "an" : "a"} ${p.type} parameter`);
  if (integer && p.step !== undefined && !Number.isInteger(p.step)) {
    issue("step", `must be an integer for ${p.type === "int" ? "an" : "a"} ${p.type} parameter`);
  }
  if (p.step !== undefined && p.max > p.min && p.step > p.max - p.min) {
    issue("step", `is larger than the range (${p.max - p.min})`);
  }
  if (p.log && p.min <= 0) issue("log", "a logarithmic scale needs min > 0");
}

function normalizeParameter(p: ParameterInput): Parameter {
  const values = p.values ?? p.choices ?? [];
  if (p.type === "categorical") return { type: "categorical", values };
  if (p.type === "text") return { type: "categorical", values, text: true };
  if (p.type === "discrete" && p.values !== undefined) {
    return values.every((v) => typeof v === "number") ? { type: "discrete", values: values as number[] } : { type: "categorical", values };
  }
  const min = p.min as number;
  const max = p.max as number;
  if (p.type === "discrete" || p.type === "int") return { type: "int", min, max, step: p.step ?? 1, log: p.log };
  return { type: "float", min, max, step: p.step ?? null, log: p.log };
}

const ParameterSchema = ParameterInput.superRefine(checkParameter).transform(normalizeParameter);

export const TestCaseSchema = z.looseObject({
  id: z.union([z.string().min(1), z.number()]).optional(),
  /** Some suites (the seed's Azure cases) name cases instead of giving ids. */
  name: z.string().optional(),
  description: z.string().optional(),
  input: z.record(z.string(), Json).default({}),
  expected: Json.default({}),
  metadata: z.looseObject({ weight: z.number().nonnegative().optional() }).default({}),
});

/** A test case as the engine uses it: a stable id and a weight in the mean over test cases. */
export interface TestCase {
  id: string;
  description?: string;
  input: Record<string, JsonValue>;
  expected: JsonValue;
  metadata: Record<string, unknown>;
  weight: number;
}

export const MetricSchema = z.looseObject({
  weight: z.number().nonnegative().default(1),
  /** A built-in metric type (llm_judge, latency_penalty, ...) or a direction (higher_is_better, lower_is_better). */
  type: z.string().optional(),
  /** For `accuracy`: exact_match, similarity or custom. `custom` sends any metric to the custom evaluator. */
  function: z.string().optional(),
  threshold: z.number().positive().optional(),
  budget_per_call: z.number().positive().optional(),
});
export type MetricConfig = z.output<typeof MetricSchema>;

const AuthSchema = z.object({
  /** query: the key goes in the URL's query string, as `query_param`. */
  type: z.enum(["none", "bearer", "api_key", "basic", "query", "oauth"]).default("none"),
  token_env: EnvVarName.optional(),
  header_name: z.string().min(1).optional(),
  query_param: z.string().min(1).default("key"),
  /** Older spelling of header_name. */
  api_key_header: z.string().min(1).optional(),
  username: z.string().optional(),
  username_env: EnvVarName.optional(),
  password_env: EnvVarName.optional(),
});

const HttpUrl = z.url({ protocol: /^https?$/, error: "must be an http(s) URL" });

export const ApiSchema = z.object({
  name: z.string().min(1, "must not be empty"),
  description: z.string().optional(),
  endpoint: HttpUrl.optional(),
  /**
   * In the worker: call this service binding (another Worker of the same account) instead of the public internet.
   * The endpoint's path and query are kept; its host only names the request.
   */
  service: z
    .string()
    .regex(/^[A-Z][A-Z0-9_]*$/, "must be the name of a service binding, like TEAM_API")
    .optional(),
  /** A registry of endpoints chosen by the `model` parameter (the seed's Azure example). */
  models: z.record(z.string(), z.object({ endpoint: HttpUrl, description: z.string().optional() })).optional(),
  auth: AuthSchema.prefault({}),
  request: z
    .object({
      method: z
        .string()
        .transform((m) => m.toUpperCase())
        .pipe(z.enum(["GET", "POST", "PUT", "PATCH", "DELETE"]))
        .default("POST"),
      headers: z.record(z.string(), z.string()).default({}),
      /**
       * The request body instead of `{...input, ...params}`: any JSON whose strings may hold {{params.x}} and
       * {{input.x}} (dotted paths). A string that is exactly one placeholder takes the value with its type.
       */
      body_template: Json.optional(),
      timeout_seconds: TimeoutSeconds.default(30),
      /** First retry waits about this long (exponential backoff with jitter after that). */
      retry_base_delay_ms: WaitMs.default(500),
      retry_max_delay_ms: WaitMs.default(20_000),
    })
    .prefault({}),
  response: z
    .object({
      /** A path such as `choices[0].message.content` to the answer text. */
      result_field: z.string().min(1).optional(),
      /** A path that must hold a truthy value for the call to count as a success. */
      success_field: z.string().min(1).optional(),
      /** A path that, when it holds a value, makes the call a failure with that message. */
      error_field: z.string().min(1).optional(),
    })
    .prefault({}),
  adapter_enabled: z.boolean().optional(),
  /** Replace the team's API with the built-in deterministic mock (no network). See src/target/mock.ts. */
  mock_mode: z.boolean().default(false),
  /** Mock mode: really wait this long per call (the reported latency comes from the mock's model). */
  mock_latency_ms: WaitMs.default(0),
  /** Mock mode: standard deviation of the per-test-case deviation from the quality surface. */
  mock_noise: z.number().nonnegative().default(0),
});
export type ApiConfig = z.output<typeof ApiSchema>;

const SearchSpaceSchema = z.object({
  parameters: z
    .record(z.string(), ParameterSchema)
    .refine((params) => Object.keys(params).length > 0, "must define at least one parameter")
    .superRefine((params, ctx) => {
      const count = Object.keys(params).length;
      if (count > MAX_PARAMETERS) {
        ctx.addIssue({ code: "custom", message: `at most ${MAX_PARAMETERS} parameters, got ${count}` });
      }
      // A parameter that failed its own checks reaches here untransformed (its values may be under `choices`).
      const values = Object.values(params).reduce(
        (n, p) => n + ((p.type === "categorical" || p.type === "discrete") && Array.isArray(p.values) ? p.values.length : 0),
        0,
      );
      if (values > MAX_VALUES_PER_SPACE) {
        ctx.addIssue({
          code: "custom",
          message: `at most ${MAX_VALUES_PER_SPACE.toLocaleString("en-US")} values over all parameters, got ${values.toLocaleString("en-US")}`,
        });
      }
    }),
  templates: z.unknown().optional(),
});

/** A model service: an OpenAI-compatible HTTP endpoint, or the worker's Workers AI binding. */
const ProviderSchema = z.object({
  provider: z.enum(["openai", "workers-ai"]).default("openai"),
  /** The full URL: .../v1/chat/completions for a judge, .../v1/embeddings for embeddings. */
  endpoint: HttpUrl.optional(),
  model: z.string().min(1),
  token_env: EnvVarName.optional(),
  timeout_seconds: TimeoutSeconds.default(60),
  max_retries: z.int().min(0).max(20).default(3),
});
export type ProviderConfig = z.output<typeof ProviderSchema>;

export const JudgeSchema = ProviderSchema.extend({
  /** What to grade beyond what `expected` states (appended to the default rubric). */
  rubric: z.string().optional(),
  /** Ask for a JSON object (response_format); turn off for providers that refuse it. */
  json_mode: z.boolean().default(true),
});
export type JudgeConfig = z.output<typeof JudgeSchema>;

const EvaluationSchema = z.object({
  test_cases: z
    .object({
      /** A JSON or YAML file, relative to the config file: a list, {test_cases: [...]}, or one test case. */
      path: z.string().min(1).optional(),
      inline: z.array(TestCaseSchema).optional(),
      augmentation: z.unknown().optional(),
    })
    .optional(),
  metrics: z.record(z.string(), MetricSchema).refine((metrics) => Object.keys(metrics).length > 0, "must define at least one metric"),
  custom_evaluator: z
    .object({
      enabled: z.boolean().default(true),
      /** A .ts, .mts, .js or .mjs file next to the config (the extension may be left out). */
      module: z.string().min(1).optional(),
      function: z.string().min(1).optional(),
      /** A class in `module`: instantiated once, its `evaluate` method is the evaluator. */
      class: z.string().min(1).optional(),
      /** An HTTP evaluator: POST {response, expected, params, metric} answers {score} or {scores}. */
      url: HttpUrl.optional(),
      token_env: EnvVarName.optional(),
      timeout_seconds: TimeoutSeconds.default(30),
    })
    .optional(),
  /** The LLM judge of `llm_judge` metrics (a metric may override any of it under its own `judge`). */
  judge: JudgeSchema.optional(),
  /** The embeddings of `cosine_similarity` metrics; without them the cosine is lexical (TF-IDF). */
  embeddings: ProviderSchema.optional(),
  /** Prices (USD per 1K tokens) added to, or replacing, the built-in table: {model: {input, output}}. */
  pricing: z.record(z.string(), z.object({ input: z.number().nonnegative(), output: z.number().nonnegative() })).optional(),
});

const ALGORITHMS = ["mab_evolution", "evolution", "random", "tpe", "cmaes", "gp", "auto"] as const;
export type Algorithm = (typeof ALGORITHMS)[number];

const EarlyStoppingSchema = z.object({
  enabled: z.boolean().default(true),
  /** Generations in a row without a relative improvement of min_improvement before the run stops. */
  patience: z.int().min(1).default(3),
  /** Relative: 0.01 means the best score must grow by 1% to count as an improvement. */
  min_improvement: z.number().nonnegative().default(0.01),
  /** Stop as soon as the best score reaches this. */
  target_score: z.number().optional(),
});

export const OptimizationSchema = z.object({
  algorithm: z
    .string()
    .transform((a) => (a === "genetic" ? "evolution" : a))
    .pipe(z.enum(ALGORITHMS))
    .default("auto"),
  /** Same seed, same run. */
  seed: z.int().optional(),
  mab: z
    .looseObject({
      strategy: z.string().optional(),
      exploration_rate: z.number().optional(),
      confidence_level: z.number().optional(),
      /** Test cases every candidate is scored on before the race decides who continues. */
      initial_test_cases: z.int().min(1).optional(),
      /** A candidate stops when its probability of beating the incumbent falls below this. */
      elimination_threshold: z.number().gt(0).lt(0.5).default(0.05),
    })
    .prefault({}),
  evolution: z
    .object({
      population_size: z.int().min(1).max(10_000).default(20),
      generations: z.int().min(1).max(10_000).default(10),
      mutation_rate: z.number().min(0).max(1).default(0.2),
      crossover_rate: z.number().min(0).max(1).default(0.7),
      elite_size: z.int().min(0).default(2),
    })
    .prefault({}),
  execution: z
    .object({
      experiments_per_generation: z.int().optional(),
      parallel_workers: z.int().min(1).max(1_000).default(5),
      max_retries: z.int().min(0).max(20).default(3),
      /** Stop once this many calls to the target have been made. */
      max_target_calls: z.int().min(1).optional(),
      /** Stop cleanly once the run's cost (target and judge calls) reaches this many USD. */
      max_cost_usd: z.number().positive().optional(),
      early_stopping: EarlyStoppingSchema.prefault({}),
    })
    .prefault({}),
});
export type OptimizationConfig = z.output<typeof OptimizationSchema>;

/**
 * The seed's society names its model the way LiteLLM routes it ("gemini/gemini-2.0-flash-exp", "gpt-4"), with no
 * endpoint: these providers answer the OpenAI chat-completions format at a known URL, so such a name finds it.
 */
const OPENAI_COMPATIBLE: Record<string, string> = {
  openai: "https://api.openai.com/v1/chat/completions",
  gemini: "https://generativelanguage.googleapis.com/v1beta/openai/chat/completions",
  groq: "https://api.groq.com/openai/v1/chat/completions",
  mistral: "https://api.mistral.ai/v1/chat/completions",
  deepseek: "https://api.deepseek.com/chat/completions",
};

function gatewayRoute(model: string): { endpoint: string; model: string } | Record<string, never> {
  const slash = model.indexOf("/");
  if (slash === -1) return /^(gpt-|o\d)/.test(model) ? { endpoint: OPENAI_COMPATIBLE.openai as string, model } : {};
  const endpoint = OPENAI_COMPATIBLE[model.slice(0, slash)];
  return endpoint ? { endpoint, model: model.slice(slash + 1) } : {};
}

/**
 * The seed's agent society. What is built: RLP, an LLM that reads the run so far and proposes whole candidates
 * (new text for text parameters above all). The reference's agent simulation and collaboration settings are
 * accepted and reported as not built.
 */
const SocietySchema = z.looseObject({
  enabled: z.boolean().default(false),
  learning: z
    .looseObject({
      /** Reasoning: the LLM proposes candidates from a brief of the run so far. */
      rlp_enabled: z.boolean().default(false),
      /** Self-improvement: preference pairs (input, better answer, worse answer) from the run's own answers. */
      sao_enabled: z.boolean().default(false),
      /** A pair's chosen answer scores at least this much above its rejected one. */
      preference_margin: z.number().positive().max(1).default(0.1),
    })
    .prefault({}),
  llm: ProviderSchema.extend({
    // The seed names an OpenAI-compatible gateway "litellm".
    provider: z
      .enum(["openai", "workers-ai", "litellm"])
      .default("openai")
      .transform((p) => (p === "litellm" ? ("openai" as const) : p)),
    /** The seed's spelling of token_env. */
    api_key_env: EnvVarName.optional(),
    temperature: z.number().min(0).max(2).default(0.7),
    max_tokens: z.int().min(64).max(8192).default(1000),
    /** The proposer's calls over the run (each one proposes up to a generation's worth of candidates). */
    max_calls: z.int().min(1).max(200).default(SOCIETY_MAX_CALLS),
  })
    .transform(({ api_key_env, ...llm }) => ({
      ...llm,
      ...(llm.provider === "openai" && !llm.endpoint ? gatewayRoute(llm.model) : {}),
      token_env: llm.token_env ?? api_key_env,
    }))
    .optional(),
});

const OutputSchema = z.looseObject({
  save_path: z.string().optional(),
  formats: z.array(z.enum(["json", "markdown", "csv"])).optional(),
});

export const ConfigSchema = z.object({
  api: ApiSchema,
  search_space: SearchSpaceSchema,
  evaluation: EvaluationSchema,
  optimization: OptimizationSchema.prefault({}),
  output: OutputSchema.optional(),
  society: SocietySchema.optional(),
  // Sections of the seed format this project does not implement: accepted, and reported as warnings.
  legacy: z.unknown().optional(),
  agent: z.unknown().optional(),
});

/** What a config file holds (before defaults and aliases). */
export type ConfigInput = z.input<typeof ConfigSchema>;
/** A parsed config: defaults applied, aliases normalized. */
export type Config = z.output<typeof ConfigSchema>;
