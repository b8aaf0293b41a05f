/**
 * From a raw config (a parsed YAML/JSON document or an object) to everything a run needs: the validated config,
 * the test cases, the metric plan, the custom evaluator and the target. Platform-neutral: reading files and
 * loading evaluator modules come in as functions (Node supplies them in node-io.ts).
 */
import { type ConfigIssue, joinPath } from "../config/issues.js";
import { type ConfigFormat, formatFromName, parseConfigText } from "../config/parse.js";
import { type Config, SOCIETY_MAX_CALLS, type TestCase } from "../config/schema.js";
import { normalizeTestCases, testCaseList } from "../config/test-cases.js";
import { usesSocietyModel, validateConfig } from "../config/validate.js";
import { type CaseScoring, PREFERENCE_ANSWER_CHARS } from "../evaluate/case.js";
import { type Evaluator, methodEvaluator } from "../evaluate/custom.js";
import { expectedAnswer, expectedReference } from "../evaluate/expected.js";
import { httpEvaluator } from "../evaluate/http-evaluator.js";
import { Corpus } from "../evaluate/lexical.js";
import { type AiBinding, createProvider, type ProviderDeps } from "../evaluate/providers.js";
import { type MetricPlan, planMetrics } from "../evaluate/registry.js";
import { buildServices } from "../evaluate/services.js";
import { isPlainObject, type JsonValue, own } from "../json.js";
import { type CaseWriter, llmCaseWriter, mockCaseWriter } from "../society/generalize.js";
import { mockProposer } from "../society/mock-proposer.js";
import { collectsPreferences } from "../society/preferences.js";
import { llmProposer, type Proposer } from "../society/proposer.js";
import { checkUrl, type EgressPolicy, guardedFetch, markedFetch } from "../target/egress.js";
import { httpTarget } from "../target/http.js";
import { type LocalFunction, localTarget } from "../target/local.js";
import { mockTarget } from "../target/mock.js";
import { DEFAULT_PRICES, priceOf } from "../target/pricing.js";
import { authHeaders, RequestError } from "../target/request.js";
import { secretForms } from "../target/secrets.js";
import type { EnvSource, Target } from "../target/types.js";

export interface PrepareOptions {
  /** Directory that relative paths in the config (test cases, evaluator module) are resolved from. */
  baseDir?: string;
  /** Read a text file (test-case files). Absent: a config naming a file is an error. */
  readText?: (path: string) => Promise<string>;
  /** Load the export `custom_evaluator.module` names (its function or class); null when the file does not exist. */
  loadEvaluator?: (module: string, fn: string, baseDir: string) => Promise<Evaluator | null>;
  /** Test cases given by the caller; they replace the config's. */
  testCases?: readonly unknown[];
  evaluator?: Evaluator;
  localFunction?: LocalFunction;
  env?: EnvSource;
  fetch?: typeof fetch;
  /** The worker's Workers AI binding, for `provider: workers-ai` judges and embeddings. */
  ai?: AiBinding;
  /** The worker's service bindings, for `api.service`. */
  serviceBindings?: Readonly<Record<string, { fetch: typeof fetch } | undefined>>;
  /** What to tell a user whose `custom_evaluator.module` is not there (default: not found next to the config). */
  missingModule?: (module: string, baseDir: string) => string;
  /**
   * On the service: what a run may reach. Every secret, binding and URL the run would use is checked before it
   * starts, and every call it makes goes through `fetch` guarded by the egress policy. Absent in process, where
   * the user runs their own code.
   */
  runPolicy?: RunPolicy;
}

export interface RunPolicy {
  /** The environment variables `token_env` (and the other `*_env` settings) may name. */
  secretNames: readonly string[];
  /** The service bindings `api.service` may name. */
  serviceBindings: readonly string[];
  egress: EgressPolicy;
  /** Sent with every call the run makes (the run header), so the service can tell a run's calls apart. */
  marker: string;
}

/** A refusal by the run policy rather than a mistake in the config: the operator can allow it. */
export interface PolicyIssue extends ConfigIssue {
  rule: string;
}

export const isPolicyIssue = (issue: ConfigIssue): issue is PolicyIssue => typeof (issue as PolicyIssue).rule === "string";

/** The society of a run: RLP's proposer and its budget of calls, SAO's case writer; null when the society is off. */
export interface SocietyPlan {
  /** RLP (null when off). */
  proposer: Proposer | null;
  maxCalls: number;
  /** SAO (null when off): writes variations of test cases for the generalization check. */
  writer: CaseWriter | null;
}

export interface PreparedRun {
  config: Config;
  testCases: TestCase[];
  scoring: CaseScoring;
  target: Target;
  warnings: ConfigIssue[];
  society: SocietyPlan | null;
}

export type Prepared = { ok: true; run: PreparedRun } | { ok: false; errors: ConfigIssue[]; warnings: ConfigIssue[] };

export function resolvePath(baseDir: string, path: string): string {
  if (path.startsWith("/") || /^[A-Za-z]:[\\/]/.test(path)) return path;
  const base = baseDir.replace(/[\\/]+$/, "");
  return base === "" ? path : `${base}/${path}`;
}

/** The test cases of a file (a list, {test_cases: [...]}, or one test case), not yet checked. */
export async function readTestCaseFile(
  path: string,
  readText: PrepareOptions["readText"],
): Promise<{ list: unknown[]; errors: [] } | { list: null; errors: ConfigIssue[] }> {
  const where = "evaluation.test_cases.path";
  if (!readText) return { list: null, errors: [{ path: where, message: "test-case files cannot be read here: inline the test cases" }] };
  let text: string;
  try {
    text = await readText(path);
  } catch {
    return { list: null, errors: [{ path: where, message: `test case file not found: ${path}` }] };
  }
  const format: ConfigFormat = formatFromName(path) ?? "yaml";
  const parsed = parseConfigText(text, format, path);
  if (parsed.errors.length > 0) return { list: null, errors: parsed.errors.map((e) => ({ path: where, message: e.message })) };
  const list = testCaseList(parsed.value);
  if (!list) {
    return {
      list: null,
      errors: [{ path: where, message: `${path} holds neither a list of test cases, {test_cases: [...]}, nor one test case` }],
    };
  }
  return { list, errors: [] };
}

async function loadTestCases(config: Config, options: PrepareOptions): Promise<{ testCases: TestCase[]; errors: ConfigIssue[] }> {
  if (options.testCases) return normalizeTestCases(options.testCases, "testCases");
  const source = config.evaluation.test_cases;
  if (source?.path) {
    const read = await readTestCaseFile(resolvePath(options.baseDir ?? ".", source.path), options.readText);
    if (!read.list) return { testCases: [], errors: read.errors };
    return normalizeTestCases(read.list, source.path);
  }
  return normalizeTestCases(source?.inline ?? [], "evaluation.test_cases.inline");
}

/** Things worth knowing before spending calls, that don't make the config wrong. */
function advisories(config: Config, testCases: readonly TestCase[], plan: MetricPlan): ConfigIssue[] {
  const out: ConfigIssue[] = [];
  // A metric that compares with an expected answer scores nothing for a test case that has none.
  const needsExpected: Record<string, { find: (expected: JsonValue) => string | null; fields: string }> = {
    cosine_similarity: { find: expectedReference, fields: "expected.reference/output/text/answer" },
    exact_match: { find: expectedAnswer, fields: "expected (a value) or expected.answer/output/reference/text" },
    similarity: { find: expectedAnswer, fields: "expected (a value) or expected.answer/output/reference/text" },
  };
  for (const planned of plan.metrics) {
    if (planned.kind !== "builtin" || !Object.hasOwn(needsExpected, planned.metric.id)) continue;
    const { find, fields } = needsExpected[planned.metric.id] as { find: (expected: JsonValue) => string | null; fields: string };
    const missing = testCases.filter((t) => find(t.expected) === null).length;
    if (missing === 0) continue;
    out.push({
      path: joinPath("evaluation.metrics", planned.name),
      message:
        missing === testCases.length
          ? `${planned.metric.id} compares answers with ${fields}, and no test case has one: this metric can never score, so it adds 0 to every config`
          : `${missing} of ${testCases.length} test cases have no ${fields}: ${planned.metric.id} does not count for them`,
    });
  }
  for (const [name, metric] of Object.entries(config.evaluation.metrics)) {
    const path = joinPath("evaluation.metrics", name);
    const ownJudge = (metric as Record<string, unknown>).judge !== undefined;
    if (metric.type === "llm_judge" && !config.api.mock_mode && !config.evaluation.judge && !ownJudge) {
      out.push({
        path: `${path}.type`,
        message: "llm_judge uses the deterministic heuristic judge (expected's rules) until a judge endpoint is configured",
      });
    }
  }
  const costMetric = Object.entries(config.evaluation.metrics).some(
    ([name, m]) => m.type === "cost_normalized" || name === "cost_usd" || name === "cost_per_call",
  );
  const budget = config.optimization.execution.max_cost_usd !== undefined;
  const model = config.search_space.parameters.model;
  if ((costMetric || budget) && model && (model.type === "categorical" || model.type === "discrete") && !config.api.mock_mode) {
    const prices = { ...DEFAULT_PRICES, ...(config.evaluation.pricing ?? {}) };
    const unpriced = model.values.filter(
      (v) => typeof v === "string" && own(config.api.models, v) === undefined && priceOf(v, prices) === null,
    );
    if (unpriced.length > 0) {
      const counts = budget ? "count as free (also against max_cost_usd)" : "count as free";
      out.push({
        path: "search_space.parameters.model",
        message: `no price known for ${unpriced.join(", ")}: their calls ${counts} unless the response names a priced model (add them under evaluation.pricing)`,
      });
    }
  }
  return out;
}

/** Keys the judge, embeddings and HTTP evaluator read: a missing one fails before any call is spent, not per case. */
function missingServiceKeys(config: Config, env: EnvSource): ConfigIssue[] {
  const settings: [string, unknown][] = [
    ["evaluation.judge", config.evaluation.judge],
    ["evaluation.embeddings", config.evaluation.embeddings],
    ["evaluation.custom_evaluator", config.evaluation.custom_evaluator?.enabled ? config.evaluation.custom_evaluator : undefined],
    ["society.llm", usesSocietyModel(config) ? config.society?.llm : undefined],
  ];
  for (const [name, metric] of Object.entries(config.evaluation.metrics)) {
    settings.push([`${joinPath("evaluation.metrics", name)}.judge`, (metric as Record<string, unknown>).judge]);
  }
  const out: ConfigIssue[] = [];
  for (const [path, setting] of settings) {
    if (!isPlainObject(setting) || typeof setting.token_env !== "string" || setting.token_env === "") continue;
    if (setting.provider === "workers-ai") continue;
    if (!env[setting.token_env]) out.push({ path: `${path}.token_env`, message: `environment variable ${setting.token_env} is not set` });
  }
  return out;
}

/** The `*_env` settings the run reads a secret from when it calls, by path. */
function secretUses(config: Config, local: boolean): [string, string][] {
  const uses: [string, unknown][] = [];
  const mock = config.api.mock_mode;
  if (!mock && !local) {
    const auth = config.api.auth;
    if (auth.type === "basic") {
      if (auth.username === undefined) uses.push(["api.auth.username_env", auth.username_env]);
      uses.push(["api.auth.password_env", auth.password_env]);
    } else if (auth.type === "bearer" || auth.type === "api_key" || auth.type === "query") {
      uses.push(["api.auth.token_env", auth.token_env]);
    }
  }
  const provider = (setting: unknown, path: string) => {
    if (isPlainObject(setting) && setting.provider !== "workers-ai") uses.push([`${path}.token_env`, setting.token_env]);
  };
  if (!mock) {
    provider(config.evaluation.judge, "evaluation.judge");
    provider(config.evaluation.embeddings, "evaluation.embeddings");
    if (usesSocietyModel(config)) provider(config.society?.llm, "society.llm");
    for (const [name, metric] of Object.entries(config.evaluation.metrics)) {
      const judge = (metric as Record<string, unknown>).judge;
      if (isPlainObject(judge) && judge.token_env !== undefined) {
        provider(
          { provider: judge.provider ?? config.evaluation.judge?.provider, token_env: judge.token_env },
          `${joinPath("evaluation.metrics", name)}.judge`,
        );
      }
    }
  }
  const evaluator = config.evaluation.custom_evaluator;
  if (evaluator?.enabled && evaluator.url) uses.push(["evaluation.custom_evaluator.token_env", evaluator.token_env]);
  return uses.filter((u): u is [string, string] => typeof u[1] === "string" && u[1] !== "");
}

/** The URLs the run calls, by path: the target's (unless a service binding or the mock answers), providers', the HTTP evaluator's. */
function urlUses(config: Config, local: boolean): [string, string][] {
  const uses: [string, string | undefined][] = [];
  const mock = config.api.mock_mode;
  if (!mock && !local && !config.api.service) {
    uses.push(["api.endpoint", config.api.endpoint]);
    for (const [model, entry] of Object.entries(config.api.models ?? {}))
      uses.push([`${joinPath("api.models", model)}.endpoint`, entry.endpoint]);
  }
  const provider = (setting: unknown, path: string) => {
    if (isPlainObject(setting) && setting.provider !== "workers-ai" && typeof setting.endpoint === "string") {
      uses.push([`${path}.endpoint`, setting.endpoint]);
    }
  };
  if (!mock) {
    provider(config.evaluation.judge, "evaluation.judge");
    provider(config.evaluation.embeddings, "evaluation.embeddings");
    if (usesSocietyModel(config)) provider(config.society?.llm, "society.llm");
    for (const [name, metric] of Object.entries(config.evaluation.metrics)) {
      provider((metric as Record<string, unknown>).judge, `${joinPath("evaluation.metrics", name)}.judge`);
    }
  }
  const evaluator = config.evaluation.custom_evaluator;
  if (evaluator?.enabled && evaluator.url) uses.push(["evaluation.custom_evaluator.url", evaluator.url]);
  return uses.filter((u): u is [string, string] => typeof u[1] === "string");
}

/** What the run policy refuses, before any call: secrets, the service binding, every URL. */
function policyIssues(config: Config, local: boolean, policy: RunPolicy): PolicyIssue[] {
  const out: PolicyIssue[] = [];
  for (const [path, name] of secretUses(config, local)) {
    if (/^(CONVERGENCE_|RUN_)/.test(name)) {
      out.push({
        path,
        rule: "secret_not_allowed",
        message: `${name} is Convergence's own setting and never available to runs: keep the team's key under another name and list that name in the RUN_SECRET_NAMES var`,
      });
    } else if (!policy.secretNames.includes(name)) {
      out.push({
        path,
        rule: "secret_not_allowed",
        message: `${name} is not allowed for runs on this service: add it to the RUN_SECRET_NAMES var (comma-separated) to allow it`,
      });
    }
  }
  const service = config.api.service;
  if (service && !config.api.mock_mode && !local && !policy.serviceBindings.includes(service)) {
    out.push({
      path: "api.service",
      rule: "service_binding_not_allowed",
      message: `${service} is not allowed for runs on this service: add it to the RUN_SERVICE_BINDINGS var (comma-separated) to allow it`,
    });
  }
  for (const [path, url] of urlUses(config, local)) {
    const verdict = checkUrl(url, policy.egress);
    if (!verdict.ok) out.push({ path, rule: verdict.rule, message: verdict.message });
  }
  return out;
}

function corpusOf(testCases: readonly TestCase[]): Corpus {
  const docs: string[] = [];
  for (const t of testCases) {
    docs.push(JSON.stringify(t.input));
    const reference = expectedReference(t.expected as JsonValue);
    if (reference) docs.push(reference);
  }
  return new Corpus(docs);
}

export async function prepareRun(raw: unknown, options: PrepareOptions = {}): Promise<Prepared> {
  const local = options.localFunction !== undefined;
  const validation = validateConfig(raw, { localFunction: local, testCasesProvided: options.testCases !== undefined });
  const warnings = [...validation.warnings];
  const config = validation.config;
  if (!config) return { ok: false, errors: validation.errors, warnings };
  const errors: ConfigIssue[] = [];

  const { testCases, errors: caseErrors } = await loadTestCases(config, options);
  errors.push(...caseErrors);

  const spec = config.evaluation.custom_evaluator;
  const exportName = spec?.function ?? spec?.class;
  const declared = spec?.enabled === true && ((spec.module !== undefined && exportName !== undefined) || spec.url !== undefined);
  const plan = planMetrics(config.evaluation.metrics, options.evaluator !== undefined || declared);
  errors.push(...plan.errors);

  const policy = options.runPolicy;
  const refused = policy ? policyIssues(config, local, policy) : [];
  errors.push(...refused);
  // A refused name would also read as "not set": say it once, as the refusal.
  const told = (path: string) => refused.some((r) => r.path === path || r.path.startsWith(`${path}.`));
  const fetchFn = policy
    ? guardedFetch(policy.egress, { marker: policy.marker, ...(options.fetch ? { fetch: options.fetch } : {}) })
    : options.fetch;

  const env = options.env ?? {};
  const secrets = secretForms(config, env);
  let evaluator: Evaluator | null = options.evaluator ?? null;
  if (!evaluator && declared && spec?.url) {
    evaluator = httpEvaluator(
      { url: spec.url, token_env: spec.token_env, timeout_seconds: spec.timeout_seconds },
      { env, ...(fetchFn ? { fetch: fetchFn } : {}) },
    );
  } else if (!evaluator && declared && spec?.module && exportName) {
    const needed = plan.customMetrics;
    const loaded = await loadModule(options, spec.module, exportName, spec.class !== undefined);
    const path = "evaluation.custom_evaluator.module";
    if (typeof loaded === "function") evaluator = loaded;
    else if (loaded.broken) errors.push({ path, message: loaded.message });
    else if (needed.length > 0) errors.push({ path, message: `${loaded.message}; metrics ${needed.join(", ")} need it` });
    else {
      warnings.push({ path, message: `${loaded.message} (no metric needs it)` });
    }
  }

  const prices = { ...DEFAULT_PRICES, ...(config.evaluation.pricing ?? {}) };
  // Mock mode stays offline: its judge is the mock's own quality, and no provider is called.
  const built = config.api.mock_mode
    ? { services: { judge: null, embedder: null }, judges: {}, errors: [] }
    : buildServices(config.evaluation, {
        env,
        prices,
        secrets,
        ...(fetchFn ? { fetch: fetchFn } : {}),
        ...(options.ai ? { ai: options.ai } : {}),
      });
  errors.push(...built.errors);
  const society = societyPlan(config, {
    env,
    prices,
    secrets,
    ...(fetchFn ? { fetch: fetchFn } : {}),
    ...(options.ai ? { ai: options.ai } : {}),
  });
  if (!config.api.mock_mode) {
    for (const missing of missingServiceKeys(config, env)) if (!told(missing.path)) errors.push(missing);
  }
  if (config.api.mock_mode && (config.evaluation.judge || config.evaluation.embeddings)) {
    warnings.push({
      path: "evaluation",
      message: "judge and embeddings are not called in mock mode: the mock's own quality scores llm_judge",
    });
  }

  let targetFetch = fetchFn;
  if (config.api.service && !config.api.mock_mode && !local && !told("api.service")) {
    const binding = options.serviceBindings?.[config.api.service];
    if (binding && typeof binding.fetch === "function") {
      const call = ((url, init) => binding.fetch(url, init)) as typeof fetch;
      // A binding has no host to check, but what it reaches can still tell a run's calls apart.
      targetFetch = policy ? markedFetch(call, policy.marker) : call;
    } else {
      errors.push({
        path: "api.service",
        message: options.serviceBindings
          ? `this worker has no service binding named ${config.api.service} (add it under [[services]] in wrangler.toml)`
          : `service bindings exist only inside the worker: run this config on the service (--server), or use api.endpoint`,
      });
    }
  }
  if (!config.api.mock_mode && !local && !told("api.auth")) {
    try {
      authHeaders(config.api, options.env ?? {});
    } catch (error) {
      if (!(error instanceof RequestError)) throw error;
      errors.push({ path: "api.auth", message: error.message });
    }
  }
  if (errors.length > 0) return { ok: false, errors, warnings };
  warnings.push(...advisories(config, testCases, plan));

  const space = config.search_space.parameters;
  let target: Target;
  if (options.localFunction) target = localTarget(options.localFunction, { timeoutSeconds: config.api.request.timeout_seconds, prices });
  else if (config.api.mock_mode) target = mockTarget({ api: config.api, space, prices });
  else {
    target = httpTarget({
      api: config.api,
      env,
      maxRetries: config.optimization.execution.max_retries,
      prices,
      secrets,
      ...(targetFetch ? { fetch: targetFetch } : {}),
    });
  }
  const scoring: CaseScoring = {
    metrics: plan.metrics,
    evaluator,
    corpus: corpusOf(testCases),
    services: built.services,
    judges: built.judges,
    secrets,
    ...(collectsPreferences(config) ? { answerChars: PREFERENCE_ANSWER_CHARS } : {}),
    ...(declared && spec?.module && exportName ? { evaluatorLabel: `${spec.module}.${exportName}` } : {}),
    // The mock answers in its own shape: the real API's response paths don't apply to it.
    ...(config.api.response.result_field && !config.api.mock_mode ? { resultField: config.api.response.result_field } : {}),
  };
  return { ok: true, run: { config, testCases, scoring, target, warnings, society } };
}

/** The evaluator a module exports: a function, or (`asClass`) a class whose instance's `evaluate` method scores. */
async function loadModule(
  options: PrepareOptions,
  module: string,
  name: string,
  asClass: boolean,
): Promise<Evaluator | { message: string; broken: boolean }> {
  if (!options.loadEvaluator) return { message: `custom evaluator modules cannot be loaded here (${module})`, broken: false };
  const dir = options.baseDir ?? ".";
  try {
    const loaded = await options.loadEvaluator(module, name, dir);
    if (!loaded) {
      const message = options.missingModule
        ? options.missingModule(module, dir)
        : `cannot find module '${module}' next to the config (looked for ${module}.ts, .mts, .js and .mjs in ${dir})`;
      return { message, broken: false };
    }
    if (!asClass) return loaded;
    const instance = new (loaded as unknown as new () => { evaluate?: unknown })();
    if (typeof instance.evaluate !== "function")
      return { message: `cannot load ${module}.${name}: its instances have no evaluate method`, broken: true };
    return methodEvaluator(instance, instance.evaluate as Evaluator);
  } catch (error) {
    return { message: `cannot load ${module}.${name}: ${error instanceof Error ? error.message : String(error)}`, broken: true };
  }
}

/** The society's model: the mock's in mock mode (offline, like the judge), else the model of society.llm. */
function societyPlan(config: Config, deps: ProviderDeps): SocietyPlan | null {
  const society = config.society;
  if (!society || !usesSocietyModel(config)) return null;
  const { rlp_enabled: rlp, sao_enabled: sao } = society.learning;
  const maxCalls = society.llm?.max_calls ?? SOCIETY_MAX_CALLS;
  if (config.api.mock_mode || !society.llm) {
    return { proposer: rlp ? mockProposer : null, maxCalls, writer: sao ? mockCaseWriter : null };
  }
  const { temperature, max_tokens, max_calls: _calls, ...settings } = society.llm;
  const provider = createProvider(settings, deps, "society.llm");
  const secrets = deps.secrets ?? [];
  const sampling = { temperature, max_tokens };
  return {
    proposer: rlp ? llmProposer(provider, secrets, sampling) : null,
    maxCalls,
    writer: sao ? llmCaseWriter(provider, secrets, sampling) : null,
  };
}
