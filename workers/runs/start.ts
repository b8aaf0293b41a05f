/** Starting a run in the worker: validate with the SDK's validator, record it in D1, hand it to its coordinator. */
import type { ConfigIssue } from "../../src/config/issues.js";
import { controlStateBound, STUDY_CONTROL_LIMIT_BYTES } from "../../src/run/bounds.js";
import type { Prepared } from "../../src/run/prepare.js";
import { maxCalls } from "../../src/run/report.js";
import type { RunView } from "../../src/run/schema.js";
import { newRunId, randomSeed } from "../../src/sdk/response.js";
import type { ParamConfig } from "../../src/search/space.js";
import { insertRun, markFailed } from "../db/runs";
import type { Env } from "../env";
import type { RunCoordinator, RunSpec } from "../objects/run-coordinator";
import { prepareInWorker } from "./prepare";

/** The RPC surface of RunCoordinator, named plainly (the generated stub types of recursive JSON are too deep). */
export type RunRpc = Pick<RunCoordinator, "start" | "claim" | "report" | "cancel" | "view" | "config" | "candidates" | "preferences">;

export const runOf = (env: Env, runId: string): RunRpc => env.RUNS.getByName(runId) as unknown as RunRpc;

/**
 * Each evaluation of a run is a row in its coordinator and in D1: a run is bounded so that one config cannot fill
 * the database. (The study's own state is bounded by controlStateBound, whatever the run's length.)
 */
export const MAX_RUN_CALLS = 100_000;

export interface StartOptions {
  /** A run id of the caller's: starting the same id twice starts one run (scheduled runs are named by period). */
  runId?: string;
  seed?: number;
  trigger?: RunSpec["trigger"];
  system?: string | null;
  initialConfigs?: ParamConfig[];
  promote?: RunSpec["promote"];
  /** The host the run is started through (the request's): its calls may not reach it (see src/target/egress.ts). */
  ownHosts?: string[];
}

/**
 * Every problem a run config has on this service (its validity, this deployment's run policy, the call bound), or
 * the prepared run: what starting it would check, for a config kept to start later (a system's reoptimize).
 */
export async function checkRunConfig(
  env: Env,
  raw: unknown,
  ownHosts: readonly string[],
): Promise<{ ok: true; run: Extract<Prepared, { ok: true }>["run"] } | { ok: false; errors: ConfigIssue[]; warnings: ConfigIssue[] }> {
  const prepared = await prepareInWorker(env, raw, { ownHosts });
  if (!prepared.ok) return prepared;
  const errors: ConfigIssue[] = [];
  const calls = maxCalls(prepared.run);
  if (calls > MAX_RUN_CALLS) {
    errors.push({
      path: "optimization.evolution",
      message: `a run on the service makes at most ${MAX_RUN_CALLS.toLocaleString("en-US")} target calls (each is a row in D1); population_size x generations x test cases is ${calls.toLocaleString("en-US")}: lower one, or set execution.max_target_calls`,
    });
  }
  const bound = controlStateBound(prepared.run);
  if (bound > STUDY_CONTROL_LIMIT_BYTES) {
    errors.push({
      path: "optimization.evolution.population_size",
      message: `a generation of this run could need ${Math.ceil(bound / 1024).toLocaleString("en-US")} KiB of optimizer state (its candidates, their races and pending evaluations over ${prepared.run.testCases.length} test cases), more than the ${STUDY_CONTROL_LIMIT_BYTES / 1024} KiB a run on the service keeps: lower population_size or the number of test cases`,
    });
  }
  if (errors.length > 0) return { ok: false, errors, warnings: prepared.run.warnings };
  return { ok: true, run: prepared.run };
}

/** Refuses a bad config with every problem (nothing recorded, nothing enqueued); else starts the run. */
export async function startRun(
  env: Env,
  raw: unknown,
  options: StartOptions = {},
): Promise<{ ok: true; view: RunView | null; started: boolean } | { ok: false; errors: ConfigIssue[]; warnings: ConfigIssue[] }> {
  const ownHosts = options.ownHosts ?? [];
  const prepared = await checkRunConfig(env, raw, ownHosts);
  if (!prepared.ok) return prepared;
  const { config } = prepared.run;
  const seed = options.seed ?? config.optimization.seed ?? randomSeed();
  // The run id names a Durable Object and travels in URLs: keep it to safe characters.
  const runId = options.runId ?? newRunId(config.api.name.replace(/[^A-Za-z0-9_.-]+/g, "-").slice(0, 60));
  const space = Object.keys(config.search_space.parameters);
  const initial = (options.initialConfigs ?? [])
    .filter((c) => space.every((name) => Object.hasOwn(c, name)))
    .map((c) => Object.fromEntries(space.map((name) => [name, c[name] ?? null])) as ParamConfig);
  const inserted = await insertRun(env.DB, {
    run_id: runId,
    api_name: config.api.name,
    algorithm: config.optimization.algorithm,
    seed,
    trigger: options.trigger ?? "api",
    system: options.system ?? null,
  });
  if (!inserted) return { ok: true, view: await runOf(env, runId).view(), started: false };
  try {
    const view = await runOf(env, runId).start({
      run_id: runId,
      config: raw,
      seed,
      trigger: options.trigger ?? "api",
      system: options.system ?? null,
      initial_configs: initial,
      promote: options.promote ?? null,
      own_hosts: ownHosts,
      created_at: new Date().toISOString(),
    });
    return { ok: true, view, started: true };
  } catch (error) {
    // Not left "queued" forever: the run is recorded as failed, and the caller hears why.
    await markFailed(env.DB, runId, `the run could not start: ${error instanceof Error ? error.message : String(error)}`);
    throw error;
  }
}
