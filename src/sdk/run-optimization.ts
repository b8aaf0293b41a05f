/**
 * runOptimization: the seed's entry point. It returns the seed's response dict, never throws for a bad config
 * or a failing target, and adds what users of an optimizer need next: target_calls, failed_calls, history,
 * warnings, the seed and why it stopped.
 */
import { type ConfigIssue, describeIssues } from "../config/issues.js";
import type { ConfigInput } from "../config/schema.js";
import type { Evaluator } from "../evaluate/custom.js";
import { executeRun } from "../run/execute.js";
import { type Prepared, type PreparedRun, type PrepareOptions, prepareRun } from "../run/prepare.js";
import type { RunEvent } from "../run/schema.js";
import type { LocalFunction } from "../target/local.js";
import type { EnvSource } from "../target/types.js";
import { type KeyFallback, processEnv } from "./client.js";
import { runOnServer, type ServerOptions } from "./remote.js";
import { fail, newRunId, type OptimizationResult, randomSeed, toSeedResponse, warningText } from "./response.js";

export type { OptimizationFailure, OptimizationResult, OptimizationSuccess } from "./response.js";
export { newRunId, toSeedResponse } from "./response.js";

export interface RunOptimizationOptions {
  /** The config as an object (the seed's dict). A YAML or JSON file (`yamlPath`) needs convergence/node. */
  configDict?: Record<string, unknown>;
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
  /** Where secrets are read from at call time (default: process.env where there is one). */
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

/**
 * What the host adds: reading the config's files and the service's key when none is given (convergence/node
 * supplies the file system and .dev.vars; a Worker nothing).
 */
export type ConfigIo = Pick<PrepareOptions, "baseDir" | "readText" | "loadEvaluator" | "env"> & { keyFallback?: KeyFallback };

/** The raw config the options name, and how to read the files it names. */
export type LoadedConfig = { raw: unknown; io: ConfigIo } | { argumentError: string } | { errors: ConfigIssue[] };

/** Finds the options' config: the neutral one takes objects only, convergence/node also reads `yamlPath`. */
export type ConfigLoader = (options: RunOptimizationOptions) => Promise<LoadedConfig>;

/** The config given as an object, with `io` for the files it names; the seed's messages for a wrong call. */
export function givenConfig(options: RunOptimizationOptions & { yamlPath?: unknown }, io: ConfigIo): LoadedConfig {
  const given = [options.configDict, options.yamlPath, options.config].filter((v) => v !== undefined).length;
  if (given === 0) return { argumentError: "Must provide either config_dict or yaml_path" };
  if (given > 1) return { argumentError: "Provide only one of config_dict or yaml_path, not both" };
  if (options.yamlPath !== undefined) {
    return { argumentError: 'yamlPath reads a file: import runOptimization from "convergence/node", or pass configDict' };
  }
  return {
    raw: options.configDict ?? options.config,
    io: { ...io, baseDir: options.baseDir ?? io.baseDir ?? ".", env: io.env ?? processEnv() },
  };
}

const neutralLoader: ConfigLoader = async (options) => givenConfig(options, {});

function argumentError(options: RunOptimizationOptions): string | null {
  if (options.testCases !== undefined && !Array.isArray(options.testCases)) return "testCases must be a list of test cases";
  if (options.seed !== undefined && !Number.isSafeInteger(options.seed)) return `seed must be an integer, got ${String(options.seed)}`;
  return null;
}

/** Load and prepare the config named by the options; the errors carry the seed's messages. */
export async function prepareFromOptions(
  options: RunOptimizationOptions,
  load: ConfigLoader = neutralLoader,
): Promise<Prepared | { ok: false; argumentError: string }> {
  const wrong = argumentError(options);
  if (wrong) return { ok: false, argumentError: wrong };
  const loaded = await load(options);
  if ("argumentError" in loaded) return { ok: false, argumentError: loaded.argumentError };
  if ("errors" in loaded) return { ok: false, errors: loaded.errors, warnings: [] };
  return prepareRun(loaded.raw, {
    ...loaded.io,
    ...(options.env ? { env: options.env } : {}),
    ...(options.testCases ? { testCases: options.testCases } : {}),
    ...(options.evaluator ? { evaluator: options.evaluator } : {}),
    ...(options.localFunction ? { localFunction: options.localFunction } : {}),
    ...(options.fetch ? { fetch: options.fetch } : {}),
  });
}

async function runOptimizationOnServer(
  options: RunOptimizationOptions,
  server: ServerOptions,
  load: ConfigLoader,
): Promise<OptimizationResult> {
  if (options.evaluator || options.localFunction) {
    return fail(
      "evaluator and localFunction run in this process: on a server, use a bundled evaluator module or custom_evaluator.url, and api.endpoint",
    );
  }
  const loaded = await load(options);
  if ("argumentError" in loaded) return fail(loaded.argumentError);
  if ("errors" in loaded) return fail(`Config validation failed: ${describeIssues(loaded.errors)}`, { errors: loaded.errors });
  return runOnServer(loaded.raw, {
    server,
    baseDir: loaded.io.baseDir ?? ".",
    ...(loaded.io.readText ? { readText: loaded.io.readText } : {}),
    ...(loaded.io.keyFallback ? { keyFallback: loaded.io.keyFallback } : {}),
    ...(options.testCases ? { testCases: options.testCases } : {}),
    ...(options.seed !== undefined ? { seed: options.seed } : {}),
    ...(options.onEvent ? { onEvent: options.onEvent } : {}),
    ...(options.signal ? { signal: options.signal } : {}),
  });
}

export function seedFor(run: PreparedRun, override?: number): number {
  return override ?? run.config.optimization.seed ?? randomSeed();
}

/** Runs in this process, or on a service with `server`; `load` is how convergence/node adds config files. */
export async function runOptimization(options: RunOptimizationOptions, load: ConfigLoader = neutralLoader): Promise<OptimizationResult> {
  try {
    if (options.server) return await runOptimizationOnServer(options, options.server, load);
    const prepared = await prepareFromOptions(options, load);
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
