/**
 * runOptimization: the seed's entry point. It returns the seed's response dict, never throws for a bad config
 * or a failing target, and adds what users of an optimizer need next: target_calls, failed_calls, history,
 * warnings, the seed and why it stopped.
 */
import { existsSync, statSync } from "node:fs";
import { describeIssues } from "../config/issues.js";
import { formatFromName, parseConfigText } from "../config/parse.js";
import type { ConfigInput } from "../config/schema.js";
import type { Evaluator } from "../evaluate/custom.js";
import { executeRun } from "../run/execute.js";
import { type Prepared, type PreparedRun, prepareRun } from "../run/prepare.js";
import type { RunEvent } from "../run/report.js";
import type { LocalFunction } from "../target/local.js";
import type { EnvSource } from "../target/types.js";
import { nodePrepareOptions, readText } from "./node-io.js";
import { runOnServer, type ServerOptions } from "./remote.js";
import { fail, newRunId, type OptimizationResult, randomSeed, toSeedResponse, warningText } from "./response.js";

export type { OptimizationFailure, OptimizationResult, OptimizationSuccess } from "./response.js";
export { newRunId, toSeedResponse } from "./response.js";

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
  /**
   * Run on a Convergence service instead of in this process: the service calls the target, so its secrets are
   * the worker's. Progress events and the result are the same.
   */
  server?: ServerOptions;
}

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

async function runOptimizationOnServer(options: RunOptimizationOptions, server: ServerOptions): Promise<OptimizationResult> {
  if (options.evaluator || options.localFunction) {
    return fail(
      "evaluator and localFunction run in this process: on a server, use a bundled evaluator module or custom_evaluator.url, and api.endpoint",
    );
  }
  const given = [options.configDict, options.yamlPath, options.config].filter((v) => v !== undefined).length;
  if (given !== 1)
    return fail(given === 0 ? "Must provide either config_dict or yaml_path" : "Provide only one of config_dict or yaml_path, not both");
  let raw: unknown = options.configDict ?? options.config;
  let baseDir = options.baseDir ?? ".";
  if (options.yamlPath !== undefined) {
    if (!existsSync(options.yamlPath) || statSync(options.yamlPath).isDirectory())
      return fail(`Config file not found: ${options.yamlPath}`);
    const parsed = parseConfigText(await readText(options.yamlPath), formatFromName(options.yamlPath) ?? "yaml", options.yamlPath);
    if (parsed.errors.length > 0) return fail(`Config validation failed: ${describeIssues(parsed.errors)}`, { errors: parsed.errors });
    raw = parsed.value;
    baseDir = nodePrepareOptions(options.yamlPath).baseDir ?? ".";
  }
  return runOnServer(raw, {
    server,
    baseDir,
    readText,
    ...(options.testCases ? { testCases: options.testCases } : {}),
    ...(options.seed !== undefined ? { seed: options.seed } : {}),
    ...(options.onEvent ? { onEvent: options.onEvent } : {}),
    ...(options.signal ? { signal: options.signal } : {}),
  });
}

export function seedFor(run: PreparedRun, override?: number): number {
  return override ?? run.config.optimization.seed ?? randomSeed();
}

export async function runOptimization(options: RunOptimizationOptions): Promise<OptimizationResult> {
  try {
    if (options.server) return await runOptimizationOnServer(options, options.server);
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
