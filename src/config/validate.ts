import { isPlainObject, type JsonValue, own } from "../json.js";
import { templatePlaceholders } from "../target/request.js";
import { type ConfigIssue, fromZodIssues } from "./issues.js";
import { type Config, ConfigSchema } from "./schema.js";
import { unknownKeys } from "./unknown-keys.js";

export interface ValidationContext {
  /** An in-process function replaces the HTTP target: no endpoint or auth is needed. */
  localFunction?: boolean;
  /** The caller supplies the test cases (the SDK's testCases option). */
  testCasesProvided?: boolean;
}

export interface ValidationResult {
  config: Config | null;
  errors: ConfigIssue[];
  warnings: ConfigIssue[];
}

const PLACEHOLDER_HOSTS = [/(^|\.)example\.(com|org|net)$/i, /your-resource/i, /your-model/i, /your-api/i];

function isPlaceholder(url: string): boolean {
  try {
    const host = new URL(url).hostname;
    return PLACEHOLDER_HOSTS.some((re) => re.test(host)) || /your-(resource|model)/i.test(url);
  } catch {
    return false;
  }
}

/** Paths of `__proto__` keys: JavaScript objects cannot hold them as plain entries. */
function reservedKeys(value: unknown, path = ""): string[] {
  if (Array.isArray(value)) return value.flatMap((item, i) => reservedKeys(item, `${path}[${i}]`));
  if (!isPlainObject(value)) return [];
  return Object.keys(value).flatMap((key) => {
    const here = path ? `${path}.${key}` : key;
    return key === "__proto__" ? [here] : reservedKeys(value[key], here);
  });
}

function enabled(section: unknown): boolean {
  return section !== undefined && section !== null && !(isPlainObject(section) && section.enabled === false);
}

/** Parse and check a config, collecting every problem (not just the first) with the path it sits at. */
export function validateConfig(raw: unknown, context: ValidationContext = {}): ValidationResult {
  if (!isPlainObject(raw)) {
    const got = raw === null || raw === undefined ? "nothing" : Array.isArray(raw) ? "a list" : `a ${typeof raw}`;
    return {
      config: null,
      errors: [{ path: "", message: `a config must be a mapping with api, search_space and evaluation sections, got ${got}` }],
      warnings: [],
    };
  }
  const reserved = reservedKeys(raw);
  if (reserved.length > 0) {
    return { config: null, errors: reserved.map((path) => ({ path, message: "__proto__ cannot be used as a name" })), warnings: [] };
  }
  const warnings: ConfigIssue[] = unknownKeys(ConfigSchema, raw).map((path) => ({
    path,
    message: "is not a known setting and is ignored (misspelt?)",
  }));
  const parsed = ConfigSchema.safeParse(raw);
  if (!parsed.success) return { config: null, errors: fromZodIssues(parsed.error.issues), warnings };
  const config = parsed.data;
  const errors: ConfigIssue[] = [];
  checkApi(config, context, errors, warnings);
  checkEvaluation(config, raw, context, errors, warnings);
  checkOptimization(config, raw, errors, warnings);
  checkSociety(config, errors);
  reportUnimplemented(config, warnings);
  return { config: errors.length === 0 ? config : null, errors, warnings };
}

function checkApi(config: Config, context: ValidationContext, errors: ConfigIssue[], warnings: ConfigIssue[]): void {
  const api = config.api;
  if (api.request.body_template !== undefined && (api.request.method === "GET" || api.request.method === "DELETE")) {
    errors.push({
      path: "api.request.body_template",
      message: `needs a method with a body (POST, PUT or PATCH), not ${api.request.method}`,
    });
  }
  const template = api.request.body_template;
  if (template !== undefined && (template === null || typeof template !== "object")) {
    errors.push({ path: "api.request.body_template", message: "must be a JSON object or list (the request body), not a single value" });
  } else if (template !== undefined) {
    const names = Object.keys(config.search_space.parameters);
    for (const [source, path] of templatePlaceholders(template as JsonValue)) {
      if (source !== "params") continue;
      const known = names.some((n) => path === n || path.startsWith(`${n}.`) || path.startsWith(`${n}[`));
      if (!known) {
        errors.push({
          path: "api.request.body_template",
          message: `{{params.${path}}} names no parameter of search_space.parameters (${names.join(", ")})`,
        });
      }
    }
  }
  const offline = api.mock_mode || context.localFunction === true;
  if (!offline && !api.endpoint && !api.models) {
    errors.push({ path: "api.endpoint", message: "is required (or api.models, or api.mock_mode: true)" });
  }
  if (api.models) {
    const model = config.search_space.parameters.model;
    if (!model && !api.endpoint && !offline) {
      errors.push({ path: "search_space.parameters.model", message: "is required to choose an endpoint from api.models" });
    }
    if (model && (model.type === "categorical" || model.type === "discrete")) {
      model.values.forEach((value, i) => {
        if (typeof value !== "string" || own(api.models, value) === undefined) {
          errors.push({
            path: `search_space.parameters.model.values[${i}]`,
            message: `'${String(value)}' is not a model of api.models (${Object.keys(api.models ?? {}).join(", ")})`,
          });
        }
      });
    }
  }
  if (!api.mock_mode) {
    const urls: [string, string][] = Object.entries(api.models ?? {}).map(([name, m]) => [`api.models.${name}.endpoint`, m.endpoint]);
    if (api.endpoint) urls.unshift(["api.endpoint", api.endpoint]);
    for (const [path, url] of urls) {
      if (isPlaceholder(url)) {
        warnings.push({
          path,
          message: `${url} looks like a placeholder: calls to it will fail (set api.mock_mode: true to try the config offline)`,
        });
      }
    }
  }
  const auth = api.auth;
  if (offline) return;
  if ((auth.type === "bearer" || auth.type === "api_key") && !auth.token_env) {
    errors.push({
      path: "api.auth.token_env",
      message: `is required for auth.type ${auth.type}: the name of the environment variable that holds the key`,
    });
  }
  if (auth.type === "basic" && !auth.password_env) {
    errors.push({ path: "api.auth.password_env", message: "is required for auth.type basic" });
  }
  if (auth.type === "basic" && !auth.username && !auth.username_env) {
    errors.push({ path: "api.auth.username", message: "is required for auth.type basic (or username_env)" });
  }
  if (auth.type === "query" && !auth.token_env) {
    errors.push({
      path: "api.auth.token_env",
      message: "is required for auth.type query: the name of the environment variable that holds the key",
    });
  }
  if (auth.type === "oauth") {
    errors.push({
      path: "api.auth.type",
      message: "oauth is not supported: use bearer with token_env naming a variable that holds the access token",
    });
  }
  if (auth.type === "none" && auth.token_env) {
    warnings.push({ path: "api.auth.token_env", message: "is ignored because auth.type is none" });
  }
}

function checkProvider(
  path: string,
  provider: { provider: string; endpoint?: string | undefined } | undefined,
  errors: ConfigIssue[],
): void {
  if (provider && provider.provider === "openai" && !provider.endpoint) {
    errors.push({ path: `${path}.endpoint`, message: "is required for provider openai (the full URL of the OpenAI-compatible endpoint)" });
  }
}

function checkEvaluation(
  config: Config,
  raw: Record<string, unknown>,
  context: ValidationContext,
  errors: ConfigIssue[],
  warnings: ConfigIssue[],
): void {
  const evaluation = config.evaluation;
  const cases = evaluation.test_cases;
  if (!context.testCasesProvided && !cases?.path && !cases?.inline) {
    errors.push({ path: "evaluation.test_cases", message: "is required: inline: [...] or path: a JSON or YAML file" });
  }
  if (cases?.path && cases.inline) {
    warnings.push({ path: "evaluation.test_cases.inline", message: "is ignored because evaluation.test_cases.path is also set" });
  }
  const weights = Object.values(evaluation.metrics).map((m) => m.weight);
  if (weights.length > 0 && weights.every((w) => w === 0)) {
    errors.push({ path: "evaluation.metrics", message: "every metric has weight 0: at least one needs a weight above 0" });
  }
  const custom = evaluation.custom_evaluator;
  if (custom?.enabled) {
    const path = "evaluation.custom_evaluator";
    if (custom.module && !custom.function && !custom.class)
      errors.push({ path: `${path}.function`, message: "is required with module (or class)" });
    if (custom.function && custom.class) errors.push({ path: `${path}.class`, message: "give either function or class, not both" });
    if ((custom.function || custom.class) && !custom.module)
      errors.push({ path: `${path}.module`, message: "is required with function or class" });
    if (custom.url && custom.module) errors.push({ path: `${path}.url`, message: "give either url or module, not both" });
  }
  checkProvider("evaluation.judge", evaluation.judge, errors);
  checkProvider("evaluation.embeddings", evaluation.embeddings, errors);
  const rawEvaluation = raw.evaluation as Record<string, unknown>;
  if (enabled((rawEvaluation.test_cases as Record<string, unknown> | undefined)?.augmentation)) {
    warnings.push({ path: "evaluation.test_cases.augmentation", message: "test-case augmentation is not implemented and is ignored" });
  }
}

function checkOptimization(config: Config, raw: Record<string, unknown>, errors: ConfigIssue[], warnings: ConfigIssue[]): void {
  const evolution = config.optimization.evolution;
  const rawEvolution = (raw.optimization as Record<string, Record<string, unknown>> | undefined)?.evolution;
  // A default elite_size larger than a small population is quietly capped; an explicit one is a mistake.
  if (rawEvolution?.elite_size !== undefined && evolution.population_size > 1 && evolution.elite_size >= evolution.population_size) {
    errors.push({
      path: "optimization.evolution.elite_size",
      message: `must be smaller than population_size (${evolution.population_size}), or no new candidate is ever tried`,
    });
  }
  const execution = config.optimization.execution;
  if (execution.experiments_per_generation !== undefined) {
    warnings.push({
      path: "optimization.execution.experiments_per_generation",
      message: "is ignored: population_size and the racing decide how many evaluations a generation makes",
    });
  }
  const strategy = config.optimization.mab.strategy;
  if (strategy && strategy !== "thompson_sampling") {
    warnings.push({ path: "optimization.mab.strategy", message: `'${strategy}' is not available; thompson_sampling is used` });
  }
}

/** The society's settings that are built (see SocietySchema); RLP needs an LLM unless the mock plays it. */
const SOCIETY_BUILT = new Set(["enabled", "learning", "llm"]);

/** The society calls its model: RLP proposes candidates, SAO writes test cases. */
export function usesSocietyModel(config: Config): boolean {
  const society = config.society;
  return society?.enabled === true && (society.learning.rlp_enabled || society.learning.sao_enabled);
}

function checkSociety(config: Config, errors: ConfigIssue[]): void {
  const society = config.society;
  if (!society || !usesSocietyModel(config)) return;
  if (!society.llm && !config.api.mock_mode) {
    errors.push({
      path: "society.llm",
      message:
        "is required for learning.rlp_enabled and sao_enabled: the OpenAI-compatible model that proposes candidates and writes test cases (provider, endpoint, model, api_key_env)",
    });
  }
  checkProvider("society.llm", society.llm, errors);
}

function reportSociety(config: Config, warnings: ConfigIssue[]): void {
  const society = config.society;
  if (!society?.enabled) return;
  for (const key of Object.keys(society).filter((k) => !SOCIETY_BUILT.has(k))) {
    warnings.push({
      path: `society.${key}`,
      message: "the reference's agent simulation and collaboration settings are not built and are ignored",
    });
  }
  if (society.learning.sao_enabled) {
    warnings.push({
      path: "society.learning.sao_enabled",
      message:
        "SAO keeps whole answers for preference pairs and scores the best config on generated test cases at the end (a few more target calls)",
    });
  }
  if (!society.learning.rlp_enabled) {
    warnings.push({ path: "society.learning.rlp_enabled", message: "is off: the society proposes nothing (set it to true for RLP)" });
  }
  if (society.learning.rlp_enabled && config.api.mock_mode) {
    warnings.push({
      path: "society.llm",
      message: "is not called in mock mode: the mock proposer edits text parameters from the run's brief",
    });
  }
}

function reportUnimplemented(config: Config, warnings: ConfigIssue[]): void {
  reportSociety(config, warnings);
  if (enabled(config.legacy)) {
    warnings.push({ path: "legacy", message: "legacy tracking is not implemented and is ignored (the CLI's --output writes the results)" });
  }
  if (config.agent !== undefined) warnings.push({ path: "agent", message: "agent runners are not implemented and are ignored" });
  if (config.search_space.templates !== undefined) {
    warnings.push({ path: "search_space.templates", message: "templates are not implemented and are ignored" });
  }
  if (config.api.adapter_enabled) warnings.push({ path: "api.adapter_enabled", message: "adapters are not implemented and are ignored" });
  const output = config.output as Record<string, unknown> | undefined;
  if (output?.visualizations !== undefined)
    warnings.push({ path: "output.visualizations", message: "visualizations are not implemented and are ignored" });
  if (enabled(output?.export_best_config)) {
    warnings.push({ path: "output.export_best_config", message: "is ignored: --output writes best_config.json" });
  }
}
