/**
 * Optimization runs on a Convergence service: submit the config, follow the run by polling, and report the same
 * progress events and the same seed response object as a run in process. The worker reads no files, so test
 * cases named by a file are inlined here first.
 */
import type { ConfigIssue } from "../config/issues.js";
import { isPlainObject } from "../json.js";
import { type PrepareOptions, readTestCaseFile, resolvePath } from "../run/prepare.js";
import { generationEvents } from "../run/report.js";
import type { ConfigCheck, RunEvent, RunView } from "../run/schema.js";
import { sleep } from "../target/sleep.js";
import { ConvergenceApiError, clientFactory, type KeyFallback } from "./client.js";
import { fail, type OptimizationResult } from "./response.js";

export interface ServerOptions {
  /** The service's URL (default CONVERGENCE_URL, else the local service). */
  url?: string;
  /** Default CONVERGENCE_API_KEY (from convergence/node, for the local service, the key of .dev.vars). */
  apiKey?: string;
  fetch?: typeof fetch;
  /** How often the run is polled (default 500 ms). */
  pollMs?: number;
}

export interface RemoteRunOptions {
  server: ServerOptions;
  baseDir?: string;
  readText?: PrepareOptions["readText"];
  /** Replace the config's test cases. */
  testCases?: readonly unknown[];
  seed?: number;
  onEvent?: (event: RunEvent) => void;
  /** Aborting cancels the run on the service. */
  signal?: AbortSignal;
  /** Where the key comes from when neither `server.apiKey` nor CONVERGENCE_API_KEY gives one. */
  keyFallback?: KeyFallback;
  /** What to add when the service refuses a request sent without a key. */
  missingKeyHint?: (baseUrl: string) => string;
}

/** The config as the service takes it: test cases from a file (or the caller) inlined. */
async function configForServer(
  raw: unknown,
  options: Pick<RemoteRunOptions, "baseDir" | "readText" | "testCases">,
): Promise<{ config: unknown; errors: ConfigIssue[] }> {
  if (!isPlainObject(raw) || !isPlainObject(raw.evaluation)) return { config: raw, errors: [] };
  const source = isPlainObject(raw.evaluation.test_cases) ? raw.evaluation.test_cases : {};
  let inline: unknown[] | null = options.testCases ? [...options.testCases] : null;
  if (!inline && typeof source.path === "string") {
    const read = await readTestCaseFile(resolvePath(options.baseDir ?? ".", source.path), options.readText);
    if (!read.list) return { config: raw, errors: read.errors };
    inline = read.list;
  }
  if (!inline) return { config: raw, errors: [] };
  const { path: _path, ...rest } = source;
  return { config: { ...raw, evaluation: { ...raw.evaluation, test_cases: { ...rest, inline } } }, errors: [] };
}

function serverClient(options: Pick<RemoteRunOptions, "server" | "keyFallback" | "missingKeyHint">) {
  return clientFactory(
    options.keyFallback,
    options.missingKeyHint,
  )({
    ...(options.server.url ? { baseUrl: options.server.url } : {}),
    ...(options.server.apiKey ? { apiKey: options.server.apiKey } : {}),
    ...(options.server.fetch ? { fetch: options.server.fetch } : {}),
  });
}

/** What the service would find starting this config (test cases from a file inlined first, as a run sends them). */
export async function validateOnServer(
  raw: unknown,
  options: Pick<RemoteRunOptions, "server" | "baseDir" | "readText" | "keyFallback" | "missingKeyHint">,
): Promise<ConfigCheck> {
  const prepared = await configForServer(raw, options);
  if (prepared.errors.length > 0) return { valid: false, errors: prepared.errors, warnings: [] };
  const client = serverClient(options);
  return client.validateRun(prepared.config as Record<string, unknown>);
}

const UNREACHABLE_POLLS = 20;

export async function runOnServer(raw: unknown, options: RemoteRunOptions): Promise<OptimizationResult> {
  const emit = (event: RunEvent) => {
    try {
      options.onEvent?.(event);
    } catch {
      // A broken progress callback must not break the run.
    }
  };
  const prepared = await configForServer(raw, options);
  if (prepared.errors.length > 0) {
    return fail(`Config validation failed: ${prepared.errors.map((e) => `${e.path}: ${e.message}`).join("; ")}`, {
      errors: prepared.errors,
    });
  }
  const client = serverClient(options);
  let view: RunView;
  try {
    view = await client.startRun(prepared.config as Record<string, unknown>, options.seed === undefined ? {} : { seed: options.seed });
  } catch (error) {
    if (!(error instanceof ConvergenceApiError)) throw error;
    if (error.code === "invalid_config") return fail(`Config validation failed: ${error.message}`, { errors: error.details });
    return fail(error.message);
  }
  const runId = view.run_id;
  emit({
    type: "run_started",
    run_id: runId,
    algorithm: view.algorithm,
    generations: view.progress.generations,
    population_size: view.progress.population_size,
    test_cases: view.progress.test_cases,
    max_calls: view.progress.max_calls,
  });
  let generation = -1;
  let finished = 0;
  let calls = -1;
  let cumulative = 0;
  let cancelling = false;
  let misses = 0;
  const pollMs = options.server.pollMs ?? 500;
  for (;;) {
    if (view.progress.generation - 1 > generation && view.status === "running") {
      generation = view.progress.generation - 1;
      emit({ type: "generation_started", generation });
    }
    if (view.progress.target_calls !== calls) {
      calls = view.progress.target_calls;
      emit({ type: "progress", target_calls: calls });
    }
    const done = generationEvents(view.history, finished, cumulative);
    for (const event of done.events) emit(event);
    cumulative = done.calls;
    finished = view.history.length;
    if (view.status !== "running" && view.status !== "queued") break;
    if (options.signal?.aborted && !cancelling) {
      cancelling = true;
      try {
        view = await client.cancelRun(runId);
        continue;
      } catch {
        // Polled again below; the next poll retries nothing, the run may finish on its own.
      }
    }
    await sleep(pollMs);
    try {
      view = await client.getRun(runId);
      misses = 0;
    } catch (error) {
      if (!(error instanceof ConvergenceApiError)) throw error;
      misses += 1;
      if (misses >= UNREACHABLE_POLLS) {
        return fail(
          `lost touch with run ${runId} on ${client.baseUrl}: ${error.message} (it may still be running: convergence runs show ${runId})`,
          {
            optimization_run_id: runId,
          },
        );
      }
    }
  }
  const result = view.result ?? fail(`run ${runId} ended ${view.status} without a result`, { optimization_run_id: runId });
  emit({
    type: "run_finished",
    success: result.success,
    best_score: result.best_score ?? null,
    target_calls: result.target_calls ?? view.progress.target_calls,
    stop_reason: result.stop_reason ?? view.status,
  });
  return result;
}
