/**
 * runOptimization: the seed's entry point. It returns the seed's response dict, never throws for a bad config
 * or a failing target, and adds what users of an optimizer need next: target_calls, failed_calls, history,
 * warnings, the seed and why it stopped.
 */
import { existsSync, statSync } from "node:fs";
import { type ConfigIssue, describeIssues } from "../config/issues.js";
import { formatFromName, parseConfigText } from "../config/parse.js";
import type { ConfigInput } from "../config/schema.js";
import type { Evaluator } from "../evaluate/custom.js";
import type { GenerationSummary, StopReason } from "../optimize/study.js";
import { hashConfig } from "../search/hash.js";
import type { ParamConfig } from "../search/space.js";
import type { LocalFunction } from "../target/local.js";
import type { EnvSource } from "../target/types.js";
import { executeRun, type FailureSummary, type RunEvent, type RunReport } from "./execute.js";
import { nodePrepareOptions, readText } from "./node-io.js";
import { type Prepared, type PreparedRun, prepareRun } from "./prepare.js";

export interface RunOptimizationOptions {
  /** The config as an object (the seed's dict). */
  configDict?: Record<string, unknown>;
  /** A YAML or JSON config file; its relative paths resolve next to it. */
  yamlPath?: string;
  /** The config as a typed object. */
  config?: ConfigInput;
  /** Replace the config's test cases. */
  testCases?: readonly unknown[];
  /** Scores the metrics that are not built in (see src/evaluate/custom.ts for the two conventions). */
  evaluator?: Evaluator;
  /** Optimize this function instead of an HTTP API; `api` then needs only a name. */
  localFunction?: LocalFunction;
  onEvent?: (event: RunEvent) => void;
  signal?: AbortSignal;
  /** Overrides optimization.seed. Without either, a random seed is drawn and reported. */
  seed?: number;
  /** Where secrets are read from at call time (default: process.env). */
  env?: EnvSource;
  fetch?: typeof fetch;
  /** Where a configDict's relative paths resolve (default: the working directory). */
  baseDir?: string;
}

export interface OptimizationSuccess {
  success: true;
  best_config: ParamConfig;
  best_score: number;
  /** The best config's mean score per metric, over the test cases each applied to. */
  best_metrics: Record<string, number>;
  configs_generated: number;
  configs_saved: number;
  optimization_run_id: string;
  generations_run: number;
  timestamp: string;
  target_calls: number;
  failed_calls: number;
  /** Retries over all target calls (attempts beyond the first). */
  retries: number;
  /** Which test cases failed, how often and why. */
  failures: FailureSummary[];
  /** What the calls to the team's API cost (USD). */
  cost_usd: number;
  /** What scoring cost: judge and embedding calls (USD). */
  evaluation_cost_usd: number;
  history: GenerationSummary[];
  warnings: string[];
  algorithm: string;
  seed: number;
  stop_reason: StopReason;
  /** Never set on success; declared so `result.error` reads without narrowing. */
  error?: undefined;
}

export interface OptimizationFailure {
  success: false;
  error: string;
  configs_generated: 0;
  configs_saved: 0;
  /** Each problem with its path, when the config was at fault. */
  errors?: ConfigIssue[];
  warnings?: string[];
  optimization_run_id?: string;
  target_calls?: number;
  failed_calls?: number;
  failures?: FailureSummary[];
  history?: GenerationSummary[];
  best_config?: ParamConfig | null;
  best_score?: number | null;
}

export type OptimizationResult = OptimizationSuccess | OptimizationFailure;

function fail(error: string, extra: Partial<OptimizationFailure> = {}): OptimizationFailure {
  return { success: false, error, configs_generated: 0, configs_saved: 0, ...extra };
}

export function newRunId(apiName: string, now = new Date()): string {
  const hex = Array.from(crypto.getRandomValues(new Uint8Array(4)), (b) => b.toString(16).padStart(2, "0")).join("");
  return `${apiName}_${Math.floor(now.getTime() / 1000)}_${hex}`;
}

export function randomSeed(): number {
  return crypto.getRandomValues(new Uint32Array(1))[0] as number;
}

const warningText = (issues: readonly ConfigIssue[]) => issues.map((w) => (w.path ? `${w.path}: ${w.message}` : w.message));

/** Load and prepare the config named by the options; the errors carry the seed's messages. */
export async function prepareFromOptions(options: RunOptimizationOptions): Promise<Prepared | { ok: false; argumentError: string }> {
  const given = [options.configDict, options.yamlPath, options.config].filter((v) => v !== undefined).length;
  if (given === 0) return { ok: false, argumentError: "Must provide either config_dict or yaml_path" };
  if (given > 1) return { ok: false, argumentError: "Provide only one of config_dict or yaml_path, not both" };
  const shared = {
    ...(options.testCases ? { testCases: options.testCases } : {}),
    ...(options.evaluator ? { evaluator: options.evaluator } : {}),
    ...(options.localFunction ? { localFunction: options.localFunction } : {}),
    ...(options.fetch ? { fetch: options.fetch } : {}),
  };
  if (options.testCases !== undefined && !Array.isArray(options.testCases)) {
    return { ok: false, argumentError: "testCases must be a list of test cases" };
  }
  if (options.seed !== undefined && !Number.isSafeInteger(options.seed)) {
    return { ok: false, argumentError: `seed must be an integer, got ${String(options.seed)}` };
  }
  if (options.yamlPath !== undefined) {
    if (!existsSync(options.yamlPath)) return { ok: false, argumentError: `Config file not found: ${options.yamlPath}` };
    if (statSync(options.yamlPath).isDirectory())
      return { ok: false, argumentError: `Config path is a directory, not a file: ${options.yamlPath}` };
    const io = nodePrepareOptions(options.yamlPath);
    const parsed = parseConfigText(await readText(options.yamlPath), formatFromName(options.yamlPath) ?? "yaml", options.yamlPath);
    if (parsed.errors.length > 0) return { ok: false, errors: parsed.errors, warnings: [] };
    return prepareRun(parsed.value, { ...io, ...shared, env: options.env ?? io.env });
  }
  const io = nodePrepareOptions(null);
  return prepareRun(options.configDict ?? options.config, {
    ...io,
    ...shared,
    baseDir: options.baseDir ?? io.baseDir,
    env: options.env ?? io.env,
  });
}

export function seedFor(run: PreparedRun, override?: number): number {
  return override ?? run.config.optimization.seed ?? randomSeed();
}

export function toSeedResponse(report: RunReport): OptimizationResult {
  if (report.error !== null || !report.best) {
    return fail(report.error ?? "no result", {
      warnings: warningText(report.warnings),
      optimization_run_id: report.run_id,
      target_calls: report.target_calls,
      failed_calls: report.failed_calls,
      failures: report.failures,
      history: report.history,
      best_config: report.best?.config ?? null,
      best_score: report.best?.score ?? null,
    });
  }
  return {
    success: true,
    best_config: report.best.config,
    best_score: report.best.score,
    best_metrics:
      report.candidates.find((c) => c.complete && hashConfig(c.params) === hashConfig(report.best?.config ?? {}))?.metrics ?? {},
    configs_generated: report.configs_generated,
    configs_saved: report.candidates.length,
    optimization_run_id: report.run_id,
    generations_run: report.generations_run,
    timestamp: report.finished_at,
    target_calls: report.target_calls,
    failed_calls: report.failed_calls,
    retries: report.retries,
    failures: report.failures,
    cost_usd: report.cost_usd,
    evaluation_cost_usd: report.evaluation_cost_usd,
    history: report.history,
    warnings: warningText(report.warnings),
    algorithm: report.algorithm,
    seed: report.seed,
    stop_reason: report.stop_reason,
  };
}

export async function runOptimization(options: RunOptimizationOptions): Promise<OptimizationResult> {
  try {
    const prepared = await prepareFromOptions(options);
    if (!prepared.ok) {
      if ("argumentError" in prepared) return fail(prepared.argumentError);
      return fail(`Config validation failed: ${describeIssues(prepared.errors)}`, {
        errors: prepared.errors,
        warnings: warningText(prepared.warnings),
      });
    }
    const run = prepared.run;
    const report = await executeRun(run, {
      runId: newRunId(run.config.api.name),
      seed: seedFor(run, options.seed),
      ...(options.onEvent ? { onEvent: options.onEvent } : {}),
      ...(options.signal ? { signal: options.signal } : {}),
    });
    return toSeedResponse(report);
  } catch (error) {
    // Only a bug lands here; the caller still gets the seed's error shape, not an exception.
    return fail(`Optimization failed unexpectedly: ${error instanceof Error ? error.message : String(error)}`);
  }
}
